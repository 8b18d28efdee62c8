"""BibTeX (``.bib``) as Zotero, JabRef, Mendeley and journals export it, LaTeX decoded.

A small parser of BibTeX's own grammar: ``@type{key, field = value, …}`` (or parentheses);
values in ``{nested {braces}}``, ``"quotes"``, bare numbers or ``@string`` macro names (the
month macros ``jan`` … ``dec`` are predefined), joined with ``#``; ``@string``, ``@preamble``
and ``@comment`` entries; text outside entries is a comment, as in BibTeX. Values are then
decoded from LaTeX (:func:`latex_to_text`): accents in every spelling (``{\\"o}``, ``\\"{o}``,
``\\'e``, ``{\\c c}``, ``\\'{\\i}``), special letters (``\\ss``, ``\\o``, ``\\aa``, ``\\l`` …),
escaped characters (``\\&``, ``\\%``, ``\\_``), dashes (``--`` en, ``---`` em), ``~``, quotes,
a few symbols and Greek letters, and case-protecting braces removed.

Fields: title; abstract (paragraphs kept as lines); authors from ``author`` split on ``and``
outside braces, each written ``Last, First`` (BibTeX's ``First von Last``, ``von Last, First``
and ``von Last, Jr, First`` forms; a braced ``{Corporate Name}`` stays whole); year ``year``
(else ``date``); journal ``journal``/``journaltitle`` (else ``booktitle``); volume; issue
``number``/``issue``; pages with ``--`` as ``-``; DOI; PMID ``pmid``; keywords ``keywords``
split on ``,`` or ``;``; url; type from the entry type (``article`` → ``JOUR``,
``inproceedings`` → ``CPAPER`` …); source key the citation key. Other fields stay in ``extra``
by their (lower-case) names, with ``entrytype``.

Errors name the line: ``refs.bib line 17: unbalanced braces in entry 'smith2020'`` (found at
end of file, or when a line starting ``@type{`` is reached inside a value), a missing ``=`` or
``,``, an undefined macro (a macro name is a letter or ``_``, then letters, digits and
``_.:+/-``, in any script). Lenient mode skips the broken entry with a warning and goes on at
the next line starting with ``@``.

Limits keep a hostile file from exhausting time or memory: braces nest at most
:data:`MAX_DEPTH` deep, a value built from macros or ``#`` is at most :data:`MAX_VALUE`
characters, and the macros of one file expand to at most :data:`MAX_EXPANDED` characters in
all (``@string{a2 = a1 # a1}`` doubles at each step, so 40 such lines would ask for
terabytes).
"""

from __future__ import annotations

import bisect
import re
import unicodedata

from metareview.records.fields import (
    Parsed,
    Problems,
    clean_doi,
    clean_pmid,
    normalise_space,
    parse_year,
    shown,
    unique,
)
from metareview.records.model import Record

MONTHS = {
    m[:3].lower(): m
    for m in ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")
}

#: BibTeX entry type → RIS type code (Record.type).
ENTRY_TYPES = {
    "article": "JOUR", "book": "BOOK", "booklet": "BOOK", "inbook": "CHAP",
    "incollection": "CHAP", "inproceedings": "CPAPER", "conference": "CPAPER",
    "proceedings": "CONF", "phdthesis": "THES", "mastersthesis": "THES", "thesis": "THES",
    "techreport": "RPRT", "report": "RPRT", "misc": "GEN", "unpublished": "UNPB",
    "online": "ELEC", "electronic": "ELEC", "www": "ELEC", "patent": "PAT", "dataset": "DATA",
    "software": "COMP", "manual": "GEN",
}

#: Deepest brace nesting read (BibTeX itself has none; the LaTeX decoder recurses per level).
MAX_DEPTH = 100
#: Longest value built from macros or ``#`` concatenation, in characters.
MAX_VALUE = 100_000
#: Most characters all macro references of one file may expand to.
MAX_EXPANDED = 10_000_000

_HEAD = re.compile(r"@\s*([A-Za-z][\w-]*)\s*([{(])")
_NEXT_ENTRY = re.compile(r"\n[ \t]*@\s*[A-Za-z][\w-]*\s*[{(]")
_KEY = re.compile(r"[^\s,{}()=\"#]+")
# Any script: a bare "été" must read as a (probably undefined) macro name, as str.isalpha
# would have it, not fail to match.
_NAME = re.compile(r"[^\W\d][\w.:+/-]*")
# "[ \t]*" after the newline, not "\s*": that ran over every following blank line again from
# each newline, quadratic on a value of many empty lines.
_FIELD_LINE = re.compile(r"\n[ \t]*[A-Za-z][\w-]*\s*=\s*[{\"0-9]")
_SPECIAL_BRACED = re.compile(r"[{}\\\n]")
_SPECIAL_QUOTED = re.compile(r'[{}\\\n"]')


class _Skip(Exception):
    """Abandon the current entry (lenient mode): the problem is already recorded."""


class _Parser:
    def __init__(self, text: str, problems: Problems) -> None:
        self.s = text
        self.n = len(text)
        self.problems = problems
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.macros: dict[str, str] = dict(MONTHS)
        self.entry_key = ""
        self.entry_line = 0
        self.entry_pos = 0
        self.field = ""  # the field being read and where it starts, for messages
        self.field_pos = 0
        self.expanded = 0  # characters macro references have expanded to so far

    def line(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def fail(self, pos: int, message: str) -> None:
        """A structural problem: raise (strict) or warn and abandon the entry (lenient)."""
        self.problems.problem(self.line(pos), message)
        raise _Skip

    def ws(self, i: int) -> int:
        s, n = self.s, self.n
        while i < n and s[i] in " \t\r\n":
            i += 1
        return i

    # ---------------------------------------------------------------- values
    def braced(self, i: int, quoted: bool = False) -> tuple[str, int]:
        """Content of ``{…}`` (or ``"…"``) starting at ``s[i]``; returns (content, end)."""
        s = self.s
        start = i + 1
        depth = 0 if quoted else 1
        pat = _SPECIAL_QUOTED if quoted else _SPECIAL_BRACED
        j = start
        while True:
            m = pat.search(s, j)
            if m is None:
                self.unbalanced(quoted, "the file ends inside it")
            c = m.group(0)
            j = m.end()
            if c == "\\":
                j += 1  # \{ \} \" do not count
            elif c == "{":
                depth += 1
                if depth > MAX_DEPTH:
                    self.fail(j - 1, f"braces nested more than {MAX_DEPTH} deep in field "
                              f"{shown(self.field)} of entry {shown(self.entry_key)}")
            elif c == "}":
                depth -= 1
                if depth == 0 and not quoted:
                    return s[start:j - 1], j
                if depth < 0:
                    self.fail(j - 1, f"unbalanced braces in entry {shown(self.entry_key)}")
            elif c == '"' and depth == 0:
                return s[start:j - 1], j
            elif c == "\n" and _NEXT_ENTRY.match(s, j - 1):
                self.unbalanced(quoted, f"a new entry starts at line {self.line(j)} inside it")

    def unbalanced(self, quoted: bool, detail: str) -> None:
        """Fail at the line of the field whose value does not close."""
        what = "unterminated quoted value" if quoted else "unbalanced braces"
        self.fail(self.field_pos, f"{what} in field {shown(self.field)} of entry "
                  f"{shown(self.entry_key)} ({detail})")

    def value(self, i: int, field: str) -> tuple[str, int]:
        """A field value with ``#`` concatenation; returns (raw LaTeX text, end)."""
        s, n = self.s, self.n
        pieces = []
        size = 0
        built = False  # from a macro or '#': may be longer than the file text it comes from
        while True:
            i = self.ws(i)
            c = s[i] if i < n else ""
            if c == "{":
                piece, i = self.braced(i)
            elif c == '"':
                piece, i = self.braced(i, quoted=True)
            elif c.isdigit():
                j = i
                while j < n and s[j].isdigit():
                    j += 1
                piece, i = s[i:j], j
            elif (m := _NAME.match(s, i)) is not None:
                name = m.group(0)
                i = m.end()
                if name.lower() in self.macros:
                    piece = self.macros[name.lower()]
                    built = True
                    self.expanded += len(piece)
                    if self.expanded > MAX_EXPANDED:
                        self.problems.error(self.line(m.start()), f"macros expand to more than "
                                            f"{MAX_EXPANDED:,} characters in all (macro "
                                            f"{shown(name)} in field {shown(field)} of entry "
                                            f"{shown(self.entry_key)})")
                else:
                    self.problems.problem(self.line(m.start()), f"undefined macro {shown(name)} "
                                          f"in field {shown(field)} of entry "
                                          f"{shown(self.entry_key)}")
                    piece = name
            else:
                self.fail(i, f"expected a value for field {shown(field)} in entry "
                          f"{shown(self.entry_key)} ({{…}}, \"…\", a number or a macro)")
            size += len(piece)
            if built and size > MAX_VALUE:
                # checked before joining, so the oversized value is never built
                what = (f"@string {shown(field)}" if self.entry_key == "@string" else
                        f"field {shown(field)} of entry {shown(self.entry_key)}")
                self.fail(self.field_pos, f"{what} is longer than {MAX_VALUE:,} characters "
                          "once its macros are expanded")
            pieces.append(piece)
            i = self.ws(i)
            if i < n and s[i] == "#":
                i += 1
                built = True
                continue
            return "".join(pieces), i

    # ---------------------------------------------------------------- entries
    def entries(self) -> list[tuple[int, str, str, dict[str, str]]]:
        """All regular entries as (line, type, key, {field: raw value})."""
        s = self.s
        out = []
        pos = 0
        while True:
            at = s.find("@", pos)
            if at < 0:
                return out
            m = _HEAD.match(s, at)
            if m is None:
                pos = at + 1  # an '@' in comment text (an e-mail address, say)
                continue
            kind = m.group(1).lower()
            closer = "}" if m.group(2) == "{" else ")"
            self.entry_line, self.entry_pos = self.line(at), at
            self.entry_key = f"@{kind}"
            try:
                if kind == "comment":
                    self.field, self.field_pos = "comment", at
                    pos = self.braced(m.end() - 1)[1] if closer == "}" else m.end()
                elif kind == "preamble":
                    self.field, self.field_pos = "preamble", at
                    _, i = self.value(m.end(), "preamble")
                    pos = self.close(i, closer, "preamble")
                elif kind == "string":
                    pos = self.string(m.end(), closer)
                else:
                    entry, pos = self.entry(m.end(), kind, closer)
                    out.append(entry)
            except _Skip:
                nxt = _NEXT_ENTRY.search(s, at + 1)
                pos = nxt.start() + 1 if nxt else self.n

    def close(self, i: int, closer: str, what: str) -> int:
        i = self.ws(i)
        if i >= self.n or self.s[i] != closer:
            self.fail(i, f"expected '{closer}' to close {what} started at line "
                      f"{self.entry_line}")
        return i + 1

    def string(self, i: int, closer: str) -> int:
        i = self.ws(i)
        m = _NAME.match(self.s, i)
        if m is None:
            self.fail(i, "expected a macro name in @string")
        i = self.ws(m.end())
        if i >= self.n or self.s[i] != "=":
            self.fail(i, f"expected '=' after @string name {shown(m.group(0))}")
        self.field, self.field_pos = m.group(0), m.start()
        value, i = self.value(i + 1, m.group(0))
        self.macros[m.group(0).lower()] = value
        return self.close(i, closer, "@string")

    def entry(self, i: int, kind: str, closer: str) -> tuple[tuple, int]:
        s, n = self.s, self.n
        i = self.ws(i)
        m = _KEY.match(s, i)
        if m is None:
            self.fail(i, f"{shown('@' + kind)} entry at line {self.entry_line} has no citation "
                      "key")
        key = m.group(0)
        self.entry_key = key
        i = self.ws(m.end())
        fields: dict[str, str] = {}
        if i < n and s[i] == closer:
            return (self.entry_line, kind, key, fields), i + 1
        if i >= n or s[i] != ",":
            self.fail(i, f"expected ',' after the key of entry {shown(key)}")
        i += 1
        while True:
            i = self.ws(i)
            if i >= n:
                self.fail(self.entry_pos, f"entry {shown(key)} is not closed (missing '{closer}' "
                          "before the end of the file)")
            if s[i] == closer:
                return (self.entry_line, kind, key, fields), i + 1
            if s[i] == ",":
                i += 1
                continue
            m = _NAME.match(s, i)
            if m is None:
                self.fail(i, f"expected a field name in entry {shown(key)}, found "
                          f"{s[i:i + 20]!r}")
            name = m.group(0).lower()
            i = self.ws(m.end())
            if i >= n or s[i] != "=":
                self.fail(i, f"expected '=' after field {shown(name)} in entry {shown(key)}")
            self.field, self.field_pos = name, m.start()
            value, i = self.value(i + 1, name)
            if name in fields:
                self.problems.warn(self.line(m.start()), f"field {shown(name)} repeated in entry "
                                   f"{shown(key)}; the first value is kept")
            else:
                fields[name] = value
            i = self.ws(i)
            if i < n and s[i] not in (",", closer):
                if _FIELD_LINE.search(value):
                    # the value swallowed the next fields: a brace opened and never closed
                    self.unbalanced(False, f"its value runs on to line {self.line(i - 1)}")
                self.fail(i, f"expected ',' or '{closer}' after field {shown(name)} in entry "
                          f"{shown(key)} (missing comma?)")


def parse_bibtex(text: str, *, filename: str, lenient: bool = False) -> Parsed:
    """Parse BibTeX text (already decoded) into records.

    Raises
    ------
    InputError
        Naming the line, for broken structure (strict mode) or when there are no entries.
    """
    problems = Problems(filename, lenient)
    parser = _Parser(text, problems)
    entries = parser.entries()
    if not entries:
        problems.error(None, "no BibTeX entries (no '@type{key, …}')")
    seen: dict[str, int] = {}
    records = []
    for line, kind, key, fields in entries:
        if key in seen:
            problems.warn(line, f"citation key {shown(key)} repeats the entry at line "
                          f"{seen[key]}")
        seen.setdefault(key, line)
        records.append(_record(line, kind, key, fields, problems))
    return Parsed(tuple(records), tuple(problems.warnings), None)


def _record(line: int, kind: str, key: str, raw: dict[str, str], problems: Problems) -> Record:
    f = dict(raw)

    def take(*names: str) -> str:
        for nm in names:
            if f.get(nm, "").strip():
                return latex_to_text(f.pop(nm))
        return ""

    title = take("title")
    abstract_raw = f.pop("abstract", "")
    abstract = "\n".join(
        t for p in re.split(r"\n[ \t]*\n", abstract_raw) if (t := latex_to_text(p))
    )
    authors = tuple(bibtex_name(a) for a in split_names(f.pop("author", "")))
    year_raw = take("year") or take("date")
    year = parse_year(year_raw) if year_raw else None
    if year_raw and year is None:
        problems.problem(line, f"entry {shown(key)}: not a year ({shown(year_raw)})")
        f["year"] = year_raw
    journal = take("journal", "journaltitle", "booktitle")
    volume = take("volume")
    issue = take("number", "issue")
    pages = take("pages").replace("–", "-").replace("—", "-")
    doi_raw = take("doi")
    doi = clean_doi(doi_raw)
    if doi_raw and not doi:
        problems.problem(line, f"entry {shown(key)}: not a DOI ({shown(doi_raw)})")
        f["doi"] = doi_raw
    pmid_raw = take("pmid")
    pmid = clean_pmid(pmid_raw)
    if pmid_raw and not pmid:
        problems.problem(line, f"entry {shown(key)}: not a PubMed identifier "
                         f"({shown(pmid_raw)})")
        f["pmid"] = pmid_raw
    kw = take("keywords")
    keywords = unique(normalise_space(k) for k in re.split(";" if ";" in kw else ",", kw))
    url = take("url")
    extra = {k: v for k, v in ((k, latex_to_text(v)) for k, v in f.items()) if v}
    extra["entrytype"] = kind
    return Record(
        title=title, abstract=abstract, authors=unique(authors), year=year, journal=journal,
        volume=volume, issue=issue, pages=pages, doi=doi, pmid=pmid, keywords=keywords,
        url=url, type=ENTRY_TYPES.get(kind, "GEN"), source_key=key, line=line, extra=extra,
    )


# ------------------------------------------------------------------------- names


def _split_top(text: str, sep: re.Pattern[str]) -> list[str]:
    """Split ``text`` where ``sep`` matches outside braces."""
    parts, depth, last, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif depth == 0:
            m = sep.match(text, i)
            if m and m.end() > i:
                parts.append(text[last:i])
                last = i = m.end()
                continue
        i += 1
    parts.append(text[last:])
    return parts


_AND = re.compile(r"\s+and\s+")
_COMMA = re.compile(r"\s*,\s*")
_SPACE = re.compile(r"\s+")


def split_names(text: str) -> list[str]:
    """BibTeX's name list split on ``and`` outside braces (``{Barnes and Noble}`` is one)."""
    text = normalise_space(text)
    return [p.strip() for p in _split_top(text, _AND) if p.strip()] if text else []


def bibtex_name(name: str) -> str:
    """One BibTeX name as ``Last, First`` (``Last, First, Jr``), LaTeX decoded.

    ``Jürgen von der Müller`` → ``von der Müller, Jürgen``; ``Smith, J.`` stays; a fully
    braced ``{World Health Organization}`` is returned as the decoded name.
    """
    parts = [p.strip() for p in _split_top(name, _COMMA)]
    if len(parts) >= 3:
        return latex_to_text(f"{parts[0]}, {parts[2]}, {parts[1]}")
    if len(parts) == 2:
        return latex_to_text(f"{parts[0]}, {parts[1]}") if parts[1] else latex_to_text(parts[0])
    words = [w for w in _split_top(name, _SPACE) if w]
    if len(words) <= 1:
        return latex_to_text(name)
    # von part: the first lower-case word that is not the last word starts the surname
    cut = len(words) - 1
    for k, w in enumerate(words[:-1]):
        if k > 0 and _starts_lower(w):
            cut = k
            break
    first, last = " ".join(words[:cut]), " ".join(words[cut:])
    return latex_to_text(f"{last}, {first}")


def _starts_lower(word: str) -> bool:
    letters = latex_to_text(word)
    return bool(letters) and letters[0].islower()


# ------------------------------------------------------------------------- LaTeX

_ACCENTS = {
    '"': "\u0308", "'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303", "=": "\u0304",
    ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328",
    "r": "\u030a", "d": "\u0323", "b": "\u0331", "t": "\u0361",
}
_SYMBOLS = {
    "ss": "ß", "o": "ø", "O": "Ø", "aa": "å", "AA": "Å", "ae": "æ", "AE": "Æ", "oe": "œ",
    "OE": "Œ", "l": "ł", "L": "Ł", "i": "ı", "j": "ȷ", "dh": "ð", "DH": "Ð", "th": "þ",
    "TH": "Þ", "ng": "ŋ", "NG": "Ŋ", "dj": "đ", "DJ": "Đ",
    "textendash": "–", "textemdash": "—", "textquoteright": "’", "textquoteleft": "‘",
    "textquotedblleft": "“", "textquotedblright": "”", "textbackslash": "\\",
    "textasciitilde": "~", "textasciicircum": "^", "textunderscore": "_",
    "textregistered": "®", "texttrademark": "™", "textcopyright": "©", "copyright": "©",
    "textdegree": "°", "degree": "°", "S": "§", "P": "¶", "dag": "†", "ddag": "‡",
    "ldots": "…", "dots": "…", "textellipsis": "…", "pounds": "£", "euro": "€", "texteuro": "€",
    "textmu": "µ", "textpm": "±", "pm": "±", "times": "×", "div": "÷", "leq": "≤", "le": "≤",
    "geq": "≥", "ge": "≥", "neq": "≠", "ne": "≠", "approx": "≈", "sim": "∼", "infty": "∞",
    "cdot": "·", "textbullet": "•", "textless": "<", "textgreater": ">", "rightarrow": "→",
    "to": "→", "leftarrow": "←", "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ",
    "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ", "eta": "η", "theta": "θ", "iota": "ι",
    "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ",
    "sigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "φ", "chi": "χ",
    "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ",
    "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    "quad": " ", "qquad": " ", "newline": " ", "par": " ", "relax": "", "noopsort": "",
}
_ESCAPES = {
    "&": "&", "%": "%", "$": "$", "#": "#", "_": "_", "{": "{", "}": "}", "\\": " ", " ": " ",
    ",": " ", ";": " ", ":": " ", "!": "", "/": "", "-": "", "@": "",
}


def latex_to_text(text: str) -> str:
    """Decode LaTeX markup to plain Unicode text (NFC), whitespace collapsed.

    >>> latex_to_text(r'Sm{\\"o}rgrav and {\\c C}elik -- {Aspirin} \\& pain')
    'Smörgrav and Çelik – Aspirin & pain'
    """
    if "\\" not in text and "{" not in text and "-" not in text and "~" not in text and \
            "$" not in text and "`" not in text and "''" not in text:
        return normalise_space(text)
    out, _ = _decode(text, 0, False)
    return normalise_space(unicodedata.normalize("NFC", out))


def _control_word(s: str, i: int) -> tuple[str, int]:
    """The letters of a control word starting at ``s[i]`` and the index after them."""
    j = i
    while j < len(s) and s[j].isalpha():
        j += 1
    return s[i:j], j


def _decode(s: str, i: int, in_group: bool) -> tuple[str, int]:
    out: list[str] = []
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n:
            nxt = s[i + 1]
            if nxt.isalpha():
                name, j = _control_word(s, i + 1)
                k = j
                while k < n and s[k] in " \t\n":
                    k += 1  # TeX drops spaces after a control word
                if len(name) == 1 and name in _ACCENTS:
                    piece, i = _accent(s, k, _ACCENTS[name])
                    out.append(piece)
                elif name in _SYMBOLS:
                    out.append(_SYMBOLS[name])
                    i = k
                elif s.startswith("{}", k):
                    out.append(name)  # \LaTeX{}: an unknown word, kept
                    i = k + 2
                elif k < n and s[k] == "{":
                    i = k  # \emph{x}, \textit{x} …: keep the argument, drop the command
                else:
                    out.append(name)  # \LaTeX and other unknown words: keep the word
                    i = j
            elif nxt in _ACCENTS:
                piece, i = _accent(s, i + 2, _ACCENTS[nxt])
                out.append(piece)
            else:
                out.append(_ESCAPES.get(nxt, nxt))
                i += 2
        elif c == "{":
            inner, i = _decode(s, i + 1, True)
            out.append(inner)
        elif c == "}":
            if in_group:
                return "".join(out), i + 1
            i += 1
        elif c == "$":
            i += 1
        elif c == "~":
            out.append(" ")
            i += 1
        elif c == "-" and s.startswith("--", i):
            if s.startswith("---", i):
                out.append("—")
                i += 3
            else:
                out.append("–")
                i += 2
        elif c == "`" and s.startswith("``", i):
            out.append("“")
            i += 2
        elif c == "'" and s.startswith("''", i):
            out.append("”")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out), i


def _accent(s: str, i: int, mark: str) -> tuple[str, int]:
    """Apply combining ``mark`` to the next character or group at ``s[i]``."""
    n = len(s)
    while i < n and s[i] == " ":
        i += 1
    if i >= n:
        return "", i
    if s[i] == "{":
        base, i = _decode(s, i + 1, True)
    elif s[i] == "\\":
        name, j = _control_word(s, i + 1)
        base, i = (_SYMBOLS.get(name, name), j) if name else (s[i + 1:i + 2], i + 2)
    else:
        base, i = s[i], i + 1
    if not base:
        return mark.strip(), i
    first = {"ı": "i", "ȷ": "j"}.get(base[0], base[0])  # accents on dotless i/j
    return unicodedata.normalize("NFC", first + mark) + base[1:], i
