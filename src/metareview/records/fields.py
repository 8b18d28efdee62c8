"""Field cleaners shared by every importer, and the small machinery they share.

The cleaners turn what a database exported into the canonical form :class:`~.model.Record`
documents (DOI lower-case without prefix, PMID digits only, year as an int) and never guess:
a value they cannot read gives ``''``/``None`` and the importer decides whether that is an
error (strict mode) or a warning with the raw text kept in ``Record.extra`` (lenient mode).

:class:`Problems` is that decision in one place: in strict mode the first problem raises
:class:`~metareview.errors.InputError`, in lenient mode it becomes a warning naming the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from metareview.errors import InputError
from metareview.records.model import Record

_DOI = re.compile(r"10\.\d{3,9}/\S+")
_DOI_TAIL = ".,;:]}>\"'"
_YEAR = re.compile(r"(?<!\d)([12]\d{3})(?!\d)")
_WS = re.compile(r"\s+")
# "Smith J", "Smith JA", "van der Berg J.-P.", "O'Neil A.B." -- a surname then initials.
_SURNAME_INITIALS = re.compile(r"^[^\W\d][\w'’\-. ]*\s+(?:[A-Z]\.?-?){1,4}$")


def clean_doi(text: str | None) -> str:
    """The DOI in ``text``, lower-case, without ``https://doi.org/``, ``doi:`` or ``[doi]``.

    Parameters
    ----------
    text : str or None
        A DOI as exports write it: ``10.1/x``, ``doi:10.1/X``, ``https://dx.doi.org/10.1/x``,
        ``10.1/x [doi]``, ``https://doi.org/10.1%2Fx``.

    Returns
    -------
    str
        ``''`` when ``text`` holds no DOI (a DOI starts ``10.`` + registrant digits + ``/``).
    """
    if not text:
        return ""
    s = text.strip()
    if "%2F" in s or "%2f" in s:
        from urllib.parse import unquote

        s = unquote(s)
    m = _DOI.search(s)
    if not m:
        return ""
    doi = m.group(0)
    # Trailing punctuation ends the sentence, not the DOI; a ')' stays only when it closes a
    # '(' inside the DOI (10.1016/S0140-6736(20)30183-5). The brackets are counted once and
    # the cut made at the end, so a long tail of ')' costs linear time.
    opened, closed = doi.count("("), doi.count(")")
    end = len(doi)
    while end and (doi[end - 1] in _DOI_TAIL or (doi[end - 1] == ")" and closed > opened)):
        if doi[end - 1] == ")":
            closed -= 1
        end -= 1
    return doi[:end].lower()


def clean_pmid(text: str | None) -> str:
    """The PubMed identifier in ``text`` (``'12345678'``, ``'PMID: 12345678'``,
    ``'12345678 [pmid]'``, ``'MEDLINE:12345678'``), digits only; ``''`` when there is none.

    A PMID is 1-8 digits today; a run of more digits is some other accession number (Embase's
    are 9-10 digits) and gives ``''``.
    """
    if not text:
        return ""
    s = text.strip()
    s = re.sub(r"(?i)^(pmid|pubmed|medline)\s*[:=]?\s*", "", s)
    # a suffix test, not a regex: r"\s*\[pmid\]$" is quadratic on a long run of spaces
    for mark in ("[pmid]", "[pubmed]"):
        if s[-len(mark):].lower() == mark:
            s = s[: -len(mark)].rstrip()
            break
    if s.endswith(".0") and s[:-2].isdigit():  # spreadsheets store numbers as floats
        s = s[:-2]
    return s if s.isascii() and s.isdigit() and 1 <= len(s) <= 8 else ""


def parse_year(text: object) -> int | None:
    """The first four-digit year (1000-2999) in ``text``; ``None`` when there is none.

    Reads ``2020``, ``'2020//'`` (Embase ``Y1``), ``'2020/03/15/'``, ``'2020 Mar 15'``,
    ``'1998 Dec-1999 Jan'`` (MEDLINE dates; the first year), ``'15.03.2020'`` and spreadsheet
    cells (``2020.0``, dates). ``'20x1'`` or ``'n.d.'`` give ``None``.
    """
    if text is None:
        return None
    if hasattr(text, "year") and isinstance(text.year, int):  # date / datetime cells
        return text.year
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        if float(text).is_integer() and 1000 <= text <= 2999:
            return int(text)
        return None
    m = _YEAR.search(str(text))
    return int(m.group(1)) if m else None


def join_pages(start: str, end: str) -> str:
    """``'123'`` + ``'129'`` → ``'123-129'``; a start that is already a range wins.

    RIS splits pages into ``SP``/``EP``; some exporters put the whole range in ``SP``.
    """
    start, end = start.strip(), end.strip()
    if start and end:
        return start if "-" in start else f"{start}-{end}"
    return start or end


def split_pages(pages: str) -> tuple[str, str]:
    """Inverse of :func:`join_pages` for writing RIS: ``'123-129'`` → ``('123', '129')``.

    Only a range whose two sides are non-empty, hyphen-free on the left and without spaces
    around the hyphen is split, so ``join_pages(*split_pages(p)) == p`` for every ``p``.
    """
    m = re.fullmatch(r"([^-\s](?:[^-]*[^-\s])?)-(\S(?:.*\S)?)", pages)
    return (m.group(1), m.group(2)) if m else (pages, "")


def expand_pages(pages: str) -> str:
    """Expand MEDLINE's abbreviated ranges: ``'123-9'`` → ``'123-129'``, ``'e123-9'`` →
    ``'e123-e129'``; anything else is returned unchanged.

    Importers keep pages as given; this helper is for matching (de-duplication) and display.
    """
    m = re.fullmatch(r"\s*([A-Za-z]*)(\d+)\s*[-–]\s*([A-Za-z]*)(\d+)\s*", pages)
    if not m:
        return pages
    p1, a, p2, b = m.groups()
    if p2 and p2 != p1:
        return pages
    if len(b) < len(a):
        b = a[: len(a) - len(b)] + b
    return f"{p1}{a}-{p1}{b}"


_AND = re.compile(r"\s+and\s+")
_ETAL_TAIL = re.compile(r",?\s*(?:et\.?\s*al\.?|and others)\s*$", re.IGNORECASE)
# Lower-case words that belong to personal names (particles); any other lower-case word
# ("for", "of", "the") marks an organisation.
_PARTICLES = frozenset("van von der den de del della di da dos das du la le ter ten zu y "
                       "bin ibn al el".split())
_ORG_WORDS = frozenset(
    "university college council institute institut department ministry trust foundation "
    "society association group centre center organization organisation committee agency "
    "hospital clinic collaboration consortium investigators network board office service "
    "services company corporation inc ltd llc federation union commission academy".split())
_NAME_WORD = re.compile(r"^(?:[^\W\d_][\w'’\-.]*|[^\W\d_]\.)$")


def _looks_personal(part: str) -> bool:
    """Whether one side of an ``and`` is a personal name: ``Smith, John A.`` (one or two
    commas, BibTeX's ``von Last, Jr, First``), ``Smith JA``, or 2–6 words that are
    capitalised or name particles (``John van Smith``, ``J. A. Smith``), none of them a word
    of organisations (*University*, *Council*, *Trust* …)."""
    if part == "others":
        return True
    if part.count(",") > 2 or any(ch.isdigit() for ch in part):
        return False
    words = part.replace(",", " ").split()
    if not 2 <= len(words) <= 6 or not all(_NAME_WORD.match(w) for w in words):
        return False
    if any(w.casefold().strip(".") in _ORG_WORDS for w in words):
        return False
    return all(w[0].isupper() or w in _PARTICLES for w in words) and words[-1] not in _PARTICLES


def split_authors(text: str) -> tuple[str, ...]:
    """Split an author cell into names.

    ``'Smith, J.; Doe, A.'`` (semicolons, as Scopus and most spreadsheets) splits on ``;``;
    ``'Smith J, Doe A'`` (surname-initials pairs, as PubMed and older Scopus) splits on commas;
    ``'Smith, John and Doe, Jane'`` (BibTeX's list, as Zotero and JabRef put it in a CSV column)
    splits on `` and `` when the cell has no ``;`` and *every* part looks like a personal name
    (see :func:`_looks_personal`), so ``'Centers for Disease Control and Prevention'``,
    ``'Barnes and Noble'`` and ``'Anderson, K'`` stay whole; ``'Smith, John'`` is one author.
    A trailing ``et al.`` (or BibTeX's ``and others``) is kept as an entry ``et al.``.
    Whitespace inside each name is collapsed.

    >>> split_authors("Smith, John and van der Berg, J. A. and others")
    ('Smith, John', 'van der Berg, J. A.', 'et al.')
    >>> split_authors("Smith J, Doe A, et al.")
    ('Smith J', 'Doe A', 'et al.')
    """
    s = text.strip()
    if not s:
        return ()
    if ";" in s:
        parts = s.split(";")
    elif "\n" in s:
        parts = s.split("\n")
    else:
        s = normalise_space(s)
        etal = _ETAL_TAIL.search(s)
        core = s[:etal.start()] if etal and etal.start() > 0 else s
        tail = ["et al."] if core is not s else []
        ands = _AND.split(core) if " and " in core else []
        if len(ands) >= 2 and all(_looks_personal(p.strip(" ,")) for p in ands):
            parts = [p.strip(" ,") for p in ands] + tail
        else:
            parts = core.split(",")
            # whitespace collapsed first: the pattern backtracks quadratically on long runs
            if (len(parts) >= 2 or tail) and all(_SURNAME_INITIALS.match(p.strip()) for p in parts):
                parts = parts + tail
            else:
                parts = [core, *tail]
    return tuple(n for p in parts if (n := normalise_space(p)))


def normalise_space(text: str) -> str:
    """Collapse runs of whitespace to one space and strip the ends."""
    return _WS.sub(" ", text).strip()


def shown(value: object, limit: int = 60) -> str:
    """``value`` quoted for a message: ``repr`` (so line breaks and control characters show as
    escapes and the message stays one line), cut to ``limit`` characters with ``…``."""
    text = str(value)
    return repr(text[:limit]) + "…" if len(text) > limit else repr(text)


def one_line(text: object, limit: int = 200) -> str:
    """``text`` for a message without quotes: whitespace collapsed, other non-printable
    characters escaped, cut to ``limit`` characters with ``…``."""
    s = normalise_space(str(text))
    cut = s[:limit]
    if not cut.isprintable():
        cut = "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)
    return cut + "…" if len(s) > limit else cut


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """Non-empty items in first-seen order without repeats."""
    seen: dict[str, None] = {}
    for it in items:
        if it and it not in seen:
            seen[it] = None
    return tuple(seen)


@dataclass(frozen=True)
class Parsed:
    """What one format's parser returns; :mod:`.readers` wraps it in an ImportBatch."""

    records: tuple[Record, ...]
    warnings: tuple[str, ...] = ()
    source: str | None = None  # the database, where the file says so


class Problems:
    """Collects problems found while parsing one file.

    Strict mode raises the first one as :class:`InputError`; lenient mode keeps going and
    returns them as warnings. Every message starts with ``<file> line N`` (or ``row N``).
    """

    def __init__(self, filename: str, lenient: bool) -> None:
        # a file name may hold a line break or an escape sequence too: escaped, so that every
        # message stays one line
        self.filename = filename if filename.isprintable() else repr(filename)[1:-1]
        self.lenient = lenient
        self.warnings: list[str] = []

    def at(self, line: int | None, unit: str = "line", column: str | None = None) -> str:
        """``'file line 7'``, ``'file row 7, column Year'`` or just ``'file'``."""
        head = f"{self.filename} {unit} {line}" if line is not None else self.filename
        return f"{head}, column {column}" if column else head

    def error(self, line: int | None, message: str, unit: str = "line",
              column: str | None = None) -> None:
        """Raise, whatever the mode: the file cannot be read past this."""
        raise InputError(f"{self.at(line, unit, column)}: {message}")

    def problem(self, line: int | None, message: str, unit: str = "line",
                column: str | None = None) -> None:
        """Raise in strict mode; record a warning in lenient mode."""
        text = f"{self.at(line, unit, column)}: {message}"
        if not self.lenient:
            raise InputError(text)
        self.warnings.append(text)

    def warn(self, line: int | None, message: str, unit: str = "line",
             column: str | None = None) -> None:
        """A warning in either mode (something skipped that the user should know about)."""
        self.warnings.append(f"{self.at(line, unit, column)}: {message}")


def decode_text(data: bytes, problems: Problems) -> str:
    """Decode a text export: UTF-8 (BOM stripped), UTF-16 with BOM, else Windows-1252.

    RIS's own specification says Windows ANSI and older Ovid/EndNote exports are Latin-1, so a
    file that is not valid UTF-8 is read as Windows-1252 (Latin-1 for the five bytes cp1252
    leaves undefined) with a warning, in either mode. A UTF-16 file that does not decode (an
    odd number of bytes, a lone surrogate) is a problem naming the line: an error in strict
    mode, in lenient mode a warning and U+FFFD for the bad bytes. Line ends become ``\\n``.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            head = data[:exc.start].decode("utf-16", errors="replace")
            line = head.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1
            problems.problem(line, f"not valid UTF-16 text ({exc.reason} at byte {exc.start})"
                             + ("; read with U+FFFD for the bad bytes" if problems.lenient else ""))
            text = data.decode("utf-16", errors="replace")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            problems.warn(line, "not UTF-8 text; read the file as Windows-1252 (Latin-1)")
            text = data.decode("latin-1").translate(_CP1252)
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


# Latin-1 decoding then this table is Windows-1252 with its five undefined bytes kept as
# Latin-1 control characters instead of failing.
_CP1252 = {
    i: bytes([i]).decode("cp1252")
    for i in range(0x80, 0xA0)
    if i not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
}
