"""Matching keys for de-duplication: the same citation as two databases spell it.

Every function here is pure and only builds *keys for comparison*; nothing alters what the
reviewer imported (a :class:`~metareview.records.model.Record` is never changed). The keys
undo the ways bibliographic databases differ for one article:

* titles: case, punctuation, hyphens and quotes, diacritics, HTML tags and entities, Greek
  letters (``α`` and ``alpha``), PubMed's translation markers (``[Article in German]``, a title
  wholly in square brackets), a trailing period, British and American spelling;
* authors: ``"Müller, Hans"``, ``"Muller H"``, ``"Mueller, H."`` all give the key ``muller``;
* journals: ``"J Pain Res"`` and ``"Journal of Pain Research"`` are compatible (ISO 4 / NLM
  abbreviations keep each word's start; ``Natl`` for ``National`` keeps its letters in order);
* pages: ``"123-9"`` and ``"123–129"`` are both pages 123 to 129;
* DOIs: ``https://doi.org/10.1000/X%2FY`` becomes ``10.1000/x/y`` (the importers' own
  :func:`~metareview.records.fields.clean_doi`).

:func:`match_keys` computes all of them for a sequence of records at once, as parallel
lists and integer codes, so that :mod:`metareview.records.dedupe` can compare candidate pairs
with array operations.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from metareview.records.fields import clean_doi, split_authors
from metareview.records.model import Record

# ---------------------------------------------------------------------------------------------
# Characters
_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta",
    "η": "eta", "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "µ": "mu",
    "ν": "nu", "ξ": "xi", "ο": "omicron", "π": "pi", "ρ": "rho", "σ": "sigma", "ς": "sigma",
    "τ": "tau", "υ": "upsilon", "φ": "phi", "ϕ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega",
}
# Letters NFKD does not decompose into a base letter plus a combining mark.
_SPECIAL = {
    "ø": "o", "ł": "l", "đ": "d", "ð": "d", "ı": "i", "ħ": "h", "ŧ": "t",
    "æ": "ae", "œ": "oe", "ß": "ss", "þ": "th", "ĳ": "ij",
}
_CHAR_MAP = str.maketrans({**{k: f" {v} " for k, v in _GREEK.items()}, **_SPECIAL})
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Casefold, spell Greek letters out, and strip diacritics.

    ``"Müller β-Blockers"`` → ``"muller  beta -blockers"``. Letters NFKD leaves alone
    (``ø``, ``ł``, ``æ``, ``ß`` …) are mapped by hand. Non-Latin scripts other than Greek are
    kept (a Chinese title keeps its characters).
    """
    s = text.casefold().translate(_CHAR_MAP)
    if not s.isascii():
        s = _COMBINING.sub("", unicodedata.normalize("NFKD", s))
    return s


def _alnum_words(s: str) -> str:
    """Runs of ASCII letters and digits, single-spaced. Other scripts count as letters."""
    if s.isascii():
        return _NON_ALNUM.sub(" ", s).strip()
    return " ".join(re.findall(r"[^\W_]+", s))


# ---------------------------------------------------------------------------------------------
# Titles
_TAG = re.compile(r"<[^<>]{1,200}>")
# PubMed and other databases append these to titles; they say nothing about the article.
_BRACKET_NOTE = re.compile(
    r"\[(?:[^\]]*\b(?:article in|in process|published erratum|see comment|comment in|"
    r"erratum in|retraction in|english abstract|author'?s transl|abstract available|"
    r"translated|in \w+ language)\b[^\]]*)\]",
    re.IGNORECASE,
)
_PAREN_NOTE = re.compile(r"\((?:author'?s transl|english abstract|abstract)\)", re.IGNORECASE)
# An article flagged as retracted or withdrawn in one database is still the same article
# (Elsevier/Web of Science prefix the title); the *notice* of retraction is a different record.
_FLAG_PREFIX = re.compile(r"^\s*(?:retracted|withdrawn)\s*(?:article)?\s*[:.\-]\s*", re.I)

# British → American, applied to both sides so either spelling gives one key. One pass of one
# pattern (alternatives tried left to right at each position); the match picks the replacement.
_SPELLING = re.compile(
    r"(?<=[a-z])isation"
    r"|(?<=[a-z]{2})is(?=e[sd]?\b|ing\b)"
    r"|(?<=[a-z])ys(?=e[sd]?\b|ing\b)"
    r"|(?<=gr)amme(?=s?\b)"
    r"|(?<=[a-z]{2})our(?=s\b|ed\b|ing\b|al\b|\b)"
    r"|(?<=[a-z])[ao]e(?=[a-z])"
    r"|\b[ao]e(?=[a-z]{3})"
    r"|(?<=[a-z])ll(?=ing\b|ed\b|er\b)"
    r"|(?<=[a-z]{3})tre(?=s?\b)"
    r"|(?<=[a-z]{2})ogue(?=s?\b)"
)
_SPELLING_TO = {"isation": "ization", "is": "iz", "ys": "yz", "amme": "am", "our": "or",
                "ae": "e", "oe": "e", "ll": "l", "tre": "ter", "ogue": "og"}


def _spelling_sub(m: re.Match[str]) -> str:
    return _SPELLING_TO[m.group()]


TITLE_STOPWORDS = frozenset(
    "a an and are as at by de der die du el en et for from in into is it la le of on or "
    "than that the their this to vs versus with within without".split()
)
# Words that make a record a *different kind* of document about the same article.
_MARKER_WORDS = {
    "erratum": "erratum", "errata": "erratum", "corrigendum": "erratum",
    "correction": "erratum", "corrections": "erratum", "retraction": "retraction",
    "retractions": "retraction", "concern": "retraction", "reply": "reply",
    "replies": "reply", "comment": "comment", "comments": "comment",
    "commentary": "comment", "protocol": "protocol", "protocols": "protocol",
    "addendum": "erratum", "withdrawal": "retraction",
}
_ROMAN = {
    "ii": 2, "iii": 3, "iv": 4, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "xi": 11, "xii": 12,
    "xiii": 13, "xiv": 14, "xv": 15, "xvi": 16, "xvii": 17, "xviii": 18, "xix": 19, "xx": 20,
}
_ROMAN_SHORT = {"i": 1, "v": 5, "x": 10}
_ROMAN_WORDS = frozenset(_ROMAN) | frozenset(_ROMAN_SHORT)
_NUMBERED = frozenset(
    "part parts phase type stage grade study trial vol volume chapter section class series "
    "issue number no wave cohort round report".split()
)
_DIGITS = re.compile(r"\d+")


def _clean_title(title: str) -> str:
    """Title with markup and database notes removed, original case kept."""
    s = title
    if "&" in s:
        s = html.unescape(html.unescape(s))
    if "<" in s:
        s = _TAG.sub("", s)
    if "[" in s:
        s = _BRACKET_NOTE.sub(" ", s)
        stripped = s.strip().rstrip(".").strip()
        # PubMed puts a translated title wholly in brackets: "[Hypertension in the elderly]."
        if stripped.startswith("[") and stripped.endswith("]") and stripped.count("[") == 1:
            s = stripped[1:-1]
    if "(" in s:
        s = _PAREN_NOTE.sub(" ", s)
    if s[:1] in "RrWw":
        s = _FLAG_PREFIX.sub("", s)
    return s


@lru_cache(maxsize=1 << 18)
def _spelling_word(word: str) -> str:
    return _SPELLING.sub(_spelling_sub, word)


def _spelling(s: str) -> str:
    """British → American spelling of single-spaced words, word by word.

    No alternative of :data:`_SPELLING` can match across a space (its look-arounds want
    ``[a-z]`` or a word boundary, which a space gives at a word's edge as the string's end
    does), so the pass per word is the pass over the title; words repeat across titles and
    the per-word cache saves most of the regex work.
    """
    return " ".join(map(_spelling_word, s.split(" ")))


def normalize_title(title: str) -> str:
    """The title as a comparison key: lower-case ASCII words, single-spaced.

    Removes HTML tags and entities, PubMed's notes (``[Article in German]``,
    ``[In Process Citation]``, brackets around a translated title), a ``RETRACTED:`` flag,
    diacritics and punctuation; spells Greek letters out and British spellings the American way
    (``paediatric`` → ``pediatric``, ``randomised`` → ``randomized``).

    Examples
    --------
    >>> normalize_title("<i>β</i>-Blockers in Pædiatric Heart Failure: a Randomised Trial.")
    'beta blockers in pediatric heart failure a randomized trial'
    >>> normalize_title("[Hypertension in the elderly]. [Article in German]")
    'hypertension in the elderly'
    """
    s = _alnum_words(fold(_clean_title(title)))
    return _spelling(s) if s else s


def title_numbers(norm_title: str) -> str:
    """The numbers a normalised title carries, in order, as one string of digits.

    Digit runs and Roman numerals (converted to digits) are concatenated without separators,
    so a database that drops the commas of ``1,3,5-triazine`` still agrees. ``Part I`` and
    ``Part II`` of
    one report, a 12-week and a 24-week trial, IL-6 and IL-10 have near-identical titles but
    different numbers; a duplicate never changes them. Single-letter numerals (``i``, ``v``,
    ``x``) count after words such as *part*, *phase*, *type* or at the end of the title, where
    they are numerals rather than words.

    >>> title_numbers("effect of il 6 in type ii diabetes part 2")
    '622'
    """
    words = norm_title.split()
    if _ROMAN_WORDS.isdisjoint(words):
        return "".join(_DIGITS.findall(norm_title))
    out = []
    for k, w in enumerate(words):
        if w in _ROMAN:
            out.append(str(_ROMAN[w]))
        elif w in _ROMAN_SHORT and (k == len(words) - 1 or (k and words[k - 1] in _NUMBERED)):
            out.append(str(_ROMAN_SHORT[w]))
        else:
            out.extend(_DIGITS.findall(w))
    return "".join(out)


def title_markers(norm_title: str) -> frozenset[str]:
    """Kinds of notice a title announces: ``erratum``, ``retraction``, ``reply``, ``comment``,
    ``protocol``.

    An erratum, a reply or a protocol shares most words with the article it concerns but is a
    different record; two spellings of one record always carry the same markers.
    """
    return frozenset(_MARKER_WORDS[w] for w in norm_title.split() if w in _MARKER_WORDS)


def title_tokens(norm_title: str) -> list[str]:
    """Informative words of a normalised title (stopwords and one-letter words dropped)."""
    return [w for w in norm_title.split() if len(w) > 1 and w not in TITLE_STOPWORDS]


_SERIES_TITLE = re.compile(
    r"^(?:editorials?|guest editorials?|editor s (?:comments?|notes?|choice|corner|introduction|"
    r"preface|page|letter|message)|from the editors?|letters? from the editors?(?: in chief)?|"
    r"letters? to the editors?|in this issue|this issue|book reviews?|news|comments?|"
    r"corrections?|errat(?:um|a)|corrigend(?:um|a)|reviewers|thank you to (?:our )?reviewers|"
    r"announcements?|introduction to (?:the|this) special (?:issue|section)|"
    r"president s (?:message|column|letter|page)|acknowledge?ments?|obituary|in memoriam|"
    r"replies|reply|response|highlights|about the cover|on the cover|cover|calendar|"
    r"contents|table of contents|masthead|correspondence|notes? from the field)\b"
)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def is_series_title(norm_title: str) -> bool:
    """Whether a normalised title is a heading a journal repeats issue after issue
    (``editor s comments``, ``letter from the editor``, ``in this issue``, ``book reviews``,
    ``erratum`` …), so that the title says nothing about which item it is.

    >>> is_series_title("editor s comments"), is_series_title("editorial")
    (True, True)
    >>> is_series_title("comments on the efficacy of statins")
    True
    >>> is_series_title("news media coverage of vaccine trials")
    False
    >>> is_series_title("correction of hallux valgus by osteotomy")
    False
    """
    m = _SERIES_TITLE.match(norm_title)
    if m is None:
        return False
    # "news media coverage …" and "correction of hallux valgus" are articles; "comments on
    # …", "reply to …", "correction to …" are notices.
    rest = norm_title[m.end():].split()
    return not rest or rest[0] in ("on", "to", "re", "from")


def title_is_informative(norm_title: str, tokens: Sequence[str]) -> bool:
    """Whether a title can identify an article on its own: three informative words and 20
    letters, or (scripts written without spaces) ten CJK characters."""
    if len(tokens) >= 3 and len(norm_title) >= 20:
        return True
    return not norm_title.isascii() and len(_CJK.findall(norm_title)) >= 10


# ---------------------------------------------------------------------------------------------
# Kinds of document
#: Codes of :func:`document_kind` (0: not known).
KINDS = ("", "article", "abstract", "report", "thesis", "book", "preprint")
_TYPE_KIND = {
    **dict.fromkeys(("jour", "jfull", "ejour", "mgzn", "article", "journal article",
                     "journalarticle", "review", "research article", "original article",
                     "short survey", "article in press"), 1),
    **dict.fromkeys(("abst", "conf", "cpaper", "conference abstract", "conference paper",
                     "conferencepaper", "meeting abstract", "proceedings paper",
                     "inproceedings", "proceedings", "conference review", "meeting",
                     "poster", "presentation"), 2),
    **dict.fromkeys(("rprt", "report", "techreport", "technical report", "working paper",
                     "discussion paper", "govdoc"), 3),
    **dict.fromkeys(("thes", "thesis", "dissertation", "phdthesis", "mastersthesis",
                     "dissertation thesis"), 4),
    **dict.fromkeys(("book", "chap", "ebook", "echap", "edbook", "book chapter",
                     "bookchapter", "booksection", "incollection", "inbook"), 5),
}
# Notice types: the item is a repeated heading rather than an article (scored as a series
# item, see :func:`is_series_title`).
_NOTICE_TYPES = frozenset((
    "editorial", "editorial material", "letter", "erratum", "correction", "news", "news item",
    "book review", "note", "comment", "retraction", "expression of concern",
))
_REPORT_SOURCE = re.compile(
    r"\b(?:working papers?|discussion papers?|technical reports?|tech rep|research reports?|"
    r"occasional papers?|policy research working paper|report series|staff reports?)\b"
)
_ABSTRACT_SOURCE = re.compile(
    r"\b(?:abstracts|meeting|meetings|congress|conference|conferences|symposium|workshop|"
    r"scientific sessions)\b"
)
_SUPPL = re.compile(r"suppl|abstr|\bs\d", re.IGNORECASE)
_S_PAGE = re.compile(r"\s*[Ss]\d")


def _type_key(rtype: str) -> str:
    return " ".join(re.findall(r"[a-z]+", rtype.casefold()))


def document_kind(record: Record, journal: tuple[str, ...] = ()) -> int:
    """Kind of document as a code into :data:`KINDS`: 1 journal article, 2 conference or
    meeting abstract, 3 working paper / discussion paper / report, 4 thesis, 5 book or
    chapter, 0 not known.

    In order: an explicit non-article type (RIS ``ABST``, ``CONF``, ``CPAPER``, ``RPRT``,
    ``THES``, ``BOOK``, ``CHAP``, or a database's document type such as *Conference
    Abstract*); a source named as a working-paper or report series (*NBER Working Paper
    Series*, *IZA Discussion Papers*) or as a meeting (*… Annual Meeting*, *… Congress*,
    *Abstracts of …*); a supplement (``Suppl`` in volume or issue, pages ``S12``), where
    meeting abstracts are printed; otherwise an article when the type says so or a journal is
    named. A working paper or an abstract shares title and authors with the article it became
    but is a different record.

    >>> from metareview.records.model import Record
    >>> document_kind(Record(title="x", journal="NBER Working Paper Series", type="JOUR"))
    3
    >>> document_kind(Record(title="x", journal="J Virol", issue="Suppl 2", pages="S33"))
    2
    >>> document_kind(Record(title="x", journal="Proc Natl Acad Sci U S A", type="JOUR"))
    1
    """
    t = _TYPE_KIND.get(_type_key(record.type), 0) if record.type else 0
    if t >= 2:
        return t
    words = " ".join(journal) if journal else _journal_words(record.journal)
    if words:
        if _REPORT_SOURCE.search(words):
            return 3
        if _ABSTRACT_SOURCE.search(words):
            return 2
    if (_SUPPL.search(record.volume) or _SUPPL.search(record.issue)
            or _S_PAGE.match(record.pages)):
        return 2
    return 1 if t == 1 or words else 0


def is_notice_type(rtype: str) -> bool:
    """Whether a record's type names a notice (editorial, letter, erratum, news item …)."""
    return bool(rtype) and _type_key(rtype) in _NOTICE_TYPES


# ---------------------------------------------------------------------------------------------
# Identifiers
# DOI prefixes of preprint servers. A preprint and the journal article it became have
# different DOIs by design, so a DOI conflict between them is not evidence of two reports.
PREPRINT_DOI_PREFIXES = (
    "10.1101/",  # bioRxiv, medRxiv (Cold Spring Harbor)
    "10.21203/rs.",  # Research Square
    "10.2139/ssrn.",  # SSRN
    "10.48550/arxiv.",  # arXiv
    "10.20944/preprints",  # Preprints.org
    "10.31219/osf.io/",  # OSF Preprints
    "10.31234/osf.io/",  # PsyArXiv
    "10.31235/osf.io/",  # SocArXiv
    "10.31222/osf.io/",  # MetaArXiv
    "10.26434/chemrxiv",  # ChemRxiv
    "10.22541/au.",  # Authorea
    "10.1002/essoar.",  # ESS Open Archive
    "10.1590/scielopreprints.",  # SciELO Preprints
    "10.35542/osf.io/",  # EdArXiv
)
_PREPRINT_JOURNALS = re.compile(
    r"^(?:biorxiv|medrxiv|arxiv|research ?square|ssrn|ssrn electronic journal|preprints?(?: org)?|"
    r"psyarxiv|socarxiv|metaarxiv|chemrxiv|authorea(?: preprints)?|osf preprints|"
    r"scielo preprints|edarxiv|europe pmc preprints?)\b"
)


def normalize_pmid(pmid: str) -> str:
    """PubMed identifier as digits without leading zeros (``"PMID: 0123"`` → ``"123"``)."""
    digits = "".join(ch for ch in pmid if ch.isdigit())
    return digits.lstrip("0")


def is_preprint_doi(doi: str) -> bool:
    """Whether a normalised DOI belongs to a preprint server (bioRxiv, medRxiv, SSRN, arXiv …)."""
    return doi.startswith(PREPRINT_DOI_PREFIXES)


def is_preprint(record: Record, doi: str | None = None, journal_key: tuple[str, ...] = ()) -> bool:
    """Whether a record is a preprint: a preprint server's DOI or source, or RIS type ``UNPB``
    with a preprint server as its source."""
    d = clean_doi(record.doi) if doi is None else doi
    if d and is_preprint_doi(d):
        return True
    jk = " ".join(journal_key) if journal_key else _journal_words(record.journal)
    return bool(jk) and _PREPRINT_JOURNALS.match(jk) is not None


# ---------------------------------------------------------------------------------------------
# Authors
_INITIALS_CHARS = re.compile(r"[.\-\s]")
_ETAL = re.compile(r"^(?:et\.? ?al\.?|and others|others|\.\.\.|…)$", re.IGNORECASE)
_SURNAME_DIGRAPH = (("ue", "u"), ("oe", "o"), ("ae", "a"))


def _is_initials(token: str) -> bool:
    """``AB``, ``A.B.``, ``Ø.-J.``: one to four capital letters with dots or hyphens."""
    core = _INITIALS_CHARS.sub("", token)
    return 1 <= len(core) <= 4 and core.isalpha() and core.isupper()


def split_author(name: str) -> tuple[str, str]:
    """``(surname, given)`` from ``"Surname, Given"``, ``"Surname AB"`` or ``"Given Surname"``.

    >>> split_author("Müller, Hans-Peter")
    ('Müller', 'Hans-Peter')
    >>> split_author("van der Berg JA")
    ('van der Berg', 'JA')
    >>> split_author("J. A. Smith")
    ('Smith', 'J. A.')
    """
    name = name.strip()
    if "," in name:
        sur, _, given = name.partition(",")
        return sur.strip(), given.strip()
    parts = name.split()
    if len(parts) <= 1:
        return name, ""
    if _is_initials(parts[-1]):  # MEDLINE: "Smith AB"
        return " ".join(parts[:-1]), parts[-1]
    k = 0
    while k < len(parts) - 1 and _is_initials(parts[k]):
        k += 1
    if k:  # "J. A. Smith"
        return " ".join(parts[k:]), " ".join(parts[:k])
    return parts[-1], " ".join(parts[:-1])  # "John Smith"


@lru_cache(maxsize=200_000)
def surname_key(surname: str) -> str:
    """Surname as letters only, diacritics and German transliteration folded.

    ``Müller``, ``Muller`` and ``Mueller`` → ``muller``; ``O'Brien`` → ``obrien``;
    ``García-López`` → ``garcialopez``.
    """
    s = "".join(ch for ch in fold(surname) if ch.isalpha())
    for a, b in _SURNAME_DIGRAPH:
        s = s.replace(a, b)
    return s


def _author_entries(authors: Sequence[str]) -> list[str]:
    """Entries of an author list; a lone entry that is a whole cell an importer left unsplit
    (BibTeX's ``A and B``, ``Smith J, Doe A, et al.``) is split by the importers' own rule."""
    if len(authors) == 1:
        return list(split_authors(authors[0]))
    return list(authors)


def author_keys(authors: Sequence[str]) -> tuple[str, ...]:
    """Surname keys of an author list in order, without ``et al.`` and empty entries.

    >>> author_keys(["Smith, John and Müller, Hans and others"])
    ('smith', 'muller')
    """
    out = []
    for a in _author_entries(authors):
        if not a or _ETAL.match(a.strip()):
            continue
        k = surname_key(split_author(a)[0])
        if k:
            out.append(k)
    return tuple(out)


def surnames_agree(a: str, b: str) -> bool:
    """Same surname key, or one contains the other (``garcialopez`` / ``lopez``: databases
    differ in how much of a compound surname they keep)."""
    if a == b:
        return True
    if min(len(a), len(b)) < 4:
        return False
    return a in b or b in a


# ---------------------------------------------------------------------------------------------
# Journals
_JOURNAL_STOPWORDS = frozenset(
    "the of and for in on at to a an de des du la le les der die das den und fur y e et del "
    "di".split()
)
_JOURNAL_SUBTITLE = re.compile(r"\s:\s.*$|\s*\([^)]*\)")


def _journal_words(journal: str) -> str:
    s = _JOURNAL_SUBTITLE.sub(" ", journal)
    return _alnum_words(fold(s).replace("&", " "))


@lru_cache(maxsize=100_000)
def journal_key(journal: str) -> tuple[str, ...]:
    """Journal name as words for abbreviation-insensitive comparison.

    Drops a PubMed subtitle (``"Journal of clinical oncology : official journal of …"``),
    parenthesised qualifiers (``"Lancet (London, England)"``), diacritics, punctuation and
    stopwords (*the, of, and* …). ``"The Journal of Pain Research"`` →
    ``('journal', 'pain', 'research')``; ``"J. Pain Res."`` → ``('j', 'pain', 'res')``.
    """
    words = _journal_words(journal).split()
    out = []
    for k, w in enumerate(words):
        if w in _JOURNAL_STOPWORDS:
            # A one-letter word among one-letter words is an initial ("U S A"), not "a"/"y".
            if not (len(w) == 1 and ((k and len(words[k - 1]) == 1)
                                     or (k + 1 < len(words) and len(words[k + 1]) == 1))):
                continue
        out.append(w)
    return tuple(out)


def _abbreviates(short: str, full: str) -> bool:
    """Whether journal word ``short`` can abbreviate ``full`` (ISO 4 keeps the start of a word;
    a few NLM forms drop inner letters, ``natl`` for ``national``)."""
    if full.startswith(short):
        return True
    # Contractions are short ("natl", "dtsch"); a long word that happens to have its letters
    # inside another ("neurology" in "neuropsychopharmacology") is a different word.
    if short[0] != full[0] or not 3 <= len(short) <= 5:
        return False
    it = iter(full)
    return all(ch in it for ch in short)


@lru_cache(maxsize=200_000)
def journals_compatible(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether two :func:`journal_key` values can name the same journal.

    Word by word each must abbreviate the other (``j pain res`` / ``journal pain research``),
    or one is the acronym of the other (``jama`` / ``journal american medical association``,
    ``bmj`` / ``british medical journal``).

    >>> journals_compatible(journal_key("J Pain Res"), journal_key("Journal of Pain Research"))
    True
    >>> journals_compatible(journal_key("J Pain"), journal_key("Journal of Pain Research"))
    False
    """
    if a == b:
        return True
    if not a or not b:
        return False
    if len(a) == len(b):
        return all(
            _abbreviates(x, y) if len(x) <= len(y) else _abbreviates(y, x)
            for x, y in zip(a, b, strict=True)
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    if len(short) == 1 and len(short[0]) == len(long_):
        return short[0] == "".join(w[0] for w in long_)
    return False


# ---------------------------------------------------------------------------------------------
# Volume, pages, year
_PAGE_TOKEN = re.compile(r"[A-Za-z]*\d+[A-Za-z]*|[ivxlcdmIVXLCDM]+")


def normalize_volume(volume: str) -> str:
    """Volume without ``Vol.`` and leading zeros, lower-case (``"Vol. 012"`` → ``"12"``)."""
    s = re.sub(r"^\s*(?:vol(?:ume)?\.?)\s*", "", volume.strip(), flags=re.IGNORECASE)
    s = _alnum_words(s.lower()).replace(" ", "")
    return s.lstrip("0") or ("0" if s else "")


def parse_pages(pages: str) -> tuple[str, str]:
    """``(first, last)`` page of a page field, lower-case; ``last`` is expanded.

    ``"123-9"`` → ``("123", "129")``; ``"123–129"`` → ``("123", "129")``;
    ``"e0123456"`` → ``("e0123456", "")``; ``"S12-5"`` → ``("s12", "s15")``;
    ``"1021-1031; discussion 1032"`` → ``("1021", "1031")``.
    """
    toks = _PAGE_TOKEN.findall(pages.split(";")[0].split(",")[0])
    if not toks:
        return "", ""
    first = toks[0].lower().lstrip("0") or "0"
    if len(toks) < 2:
        return first, ""
    last = toks[1].lower().lstrip("0") or "0"
    m1 = re.match(r"([a-z]*)(\d+)([a-z]*)$", first)
    m2 = re.match(r"([a-z]*)(\d+)([a-z]*)$", last)
    if m1 and m2:
        p1, d1, _ = m1.groups()
        p2, d2, _ = m2.groups()
        if len(d2) < len(d1):  # "123-9": MEDLINE drops the leading digits of the last page
            d2 = d1[: len(d1) - len(d2)] + d2
        last = (p2 or p1) + d2
    return first, last


# A Cochrane review keeps its number (and title) through every update; only the year and the
# DOI's ".pubN" tell the versions apart.
_REVIEW_NUMBER = re.compile(r"cd\d{6}$")


def page_is_article_number(first_page: str) -> bool:
    """Electronic article numbers (``e0123456``, ``1234567``) rather than printed pages; some
    databases give such articles pages ``1-12`` instead, so they are not compared."""
    return first_page.startswith("e") or (first_page.isdigit() and len(first_page) >= 5)


# ---------------------------------------------------------------------------------------------
# Abstracts
_HEADINGS = frozenset(
    "background objective objectives aim aims purpose introduction context method methods "
    "design setting participants patients intervention interventions measurements result "
    "results findings conclusion conclusions interpretation discussion significance".split()
) | {"main outcome measures", "main outcome measure"}
_HEADING = re.compile(r"\b([a-z][a-z ]{1,24}?)\s*:")


def _heading_sub(m: re.Match[str]) -> str:
    return " " if m.group(1) in _HEADINGS else m.group()


def abstract_head(abstract: str, n: int = 240) -> str:
    """The start of an abstract, normalised like a title and with section headings removed
    (``BACKGROUND:`` is present in one database's copy and absent in another's)."""
    if not abstract:
        return ""
    s = fold(abstract[: n + 120])
    if ":" in s:
        s = _HEADING.sub(_heading_sub, s)
    return _alnum_words(s)[:n]


# ---------------------------------------------------------------------------------------------
# All keys for many records
@dataclass(frozen=True)
class MatchKeys:
    """Matching keys of ``n`` records, index-aligned with the input.

    String keys are lists of ``str`` ('' when absent); categorical keys are also given as
    integer codes (``-1`` when absent) so pairs can be compared with numpy.
    """

    title: list[str]
    title_tokens: list[tuple[str, ...]]
    numbers: np.ndarray  # code of title_numbers (digits in order)
    markers: np.ndarray  # code of title_markers
    informative: np.ndarray  # bool: title_is_informative
    doi: np.ndarray  # code, -1 absent
    doi_str: list[str]
    pmid: np.ndarray  # code, -1 absent
    year: np.ndarray  # int, -1 absent
    journal: np.ndarray  # code of journal_key, -1 absent
    journal_keys: list[tuple[str, ...]]
    volume: np.ndarray  # code, -1 absent
    page: np.ndarray  # code of first page, -1 absent or an article number
    page_one: np.ndarray  # bool: the first page is 1 (weak evidence when equal)
    authors: list[tuple[str, ...]]
    first_author: np.ndarray  # code, -1 absent
    abstract: list[str]
    preprint: np.ndarray  # bool
    kind: np.ndarray  # document_kind code, 0 unknown, 6 preprint
    series: np.ndarray  # bool: a repeated heading (series title, notice type, short title)
    issue: np.ndarray  # code of the issue (as normalize_volume), -1 absent
    versioned: np.ndarray  # bool: the first page is a review number (CD012345) kept by updates
    # bool: neither pages nor an issue, so an article kind (1) rests on the journal name alone:
    # an e-pub copy of an article and a meeting abstract stripped of its supplement issue and
    # S-pages look the same
    bare: np.ndarray

    @property
    def n(self) -> int:
        return len(self.title)

    # Array forms for comparing many pairs at once (numpy indexing instead of a Python loop
    # per pair); built on first use and kept with the keys.
    @cached_property
    def title_array(self) -> np.ndarray:
        """Normalised titles as an object array."""
        return _object_array(self.title)

    @cached_property
    def title_len(self) -> np.ndarray:
        """Length of each normalised title."""
        return np.fromiter(map(len, self.title), dtype=np.int64, count=self.n)

    @cached_property
    def abstract_array(self) -> np.ndarray:
        """Abstract starts as an object array."""
        return _object_array(self.abstract)

    @cached_property
    def abstract_len(self) -> np.ndarray:
        """Length of each abstract start."""
        return np.fromiter(map(len, self.abstract), dtype=np.int64, count=self.n)

    @cached_property
    def n_authors(self) -> np.ndarray:
        """Length of each author list (repeats counted, as the overlap rule counts them)."""
        return np.fromiter(map(len, self.authors), dtype=np.int64, count=self.n)

    @cached_property
    def first_author_names(self) -> list[str]:
        """First-author key of each ``first_author`` code (codes index this list)."""
        return _by_code(self.first_author, [a[0] if a else "" for a in self.authors])

    @cached_property
    def journal_names(self) -> list[tuple[str, ...]]:
        """Journal key of each ``journal`` code (codes index this list)."""
        return _by_code(self.journal, self.journal_keys)


def _by_code(codes: np.ndarray, values: Sequence[Any]) -> list[Any]:
    """The value of each code of :func:`_codes` (numbered in order of first appearance)."""
    out: list[Any] = []
    for k, c in enumerate(codes.tolist()):
        if c == len(out):
            out.append(values[k])
    return out


def _object_array(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _codes(values: Sequence[object], absent: object = "") -> np.ndarray:
    """Integer code per value (equal values, equal codes); ``absent`` → -1."""
    table: dict[object, int] = {}
    out = np.empty(len(values), dtype=np.int64)
    for k, v in enumerate(values):
        if v == absent:
            out[k] = -1
        else:
            out[k] = table.setdefault(v, len(table))
    return out


def _each(fn: Callable[[Any], Any], values: Sequence[Any]) -> list[Any]:
    """``[fn(v) for v in values]``, computing ``fn`` once per distinct value: journals,
    volumes, pages, abstracts and titles repeat across the exports of one article and the
    records of one journal. ``fn`` must be pure (the order of its calls is not kept)."""
    return list(map({v: fn(v) for v in set(values)}.__getitem__, values))


def _title_keys(title: str) -> tuple[str, tuple[str, ...], str, frozenset[str], bool, bool]:
    """Normalised title, its tokens, numbers, markers, whether it is informative and whether
    it is a series heading: everything :func:`match_keys` derives from a title alone."""
    t = normalize_title(title)
    tk = tuple(title_tokens(t))
    return (t, tk, title_numbers(t), title_markers(t), title_is_informative(t, tk),
            is_series_title(t))


def _name_key(name: str) -> str:
    """Surname key of one author entry ('' for ``et al.`` and empty entries)."""
    if not name or _ETAL.match(name.strip()):
        return ""
    return surname_key(split_author(name)[0])


def _author_keys_cached(authors: Sequence[str], names: Callable[[str], str]) -> tuple[str, ...]:
    """:func:`author_keys` with ``names`` giving each entry's key (a lone entry may be a
    whole unsplit cell, so it goes the long way)."""
    if len(authors) == 1:
        return author_keys(authors)
    return tuple(filter(None, map(names, authors)))


def _first_page(pages: str) -> str:
    p = parse_pages(pages)[0] if pages else ""
    return "" if page_is_article_number(p) else p


def match_keys(records: Sequence[Record]) -> MatchKeys:
    """Compute every matching key for ``records``.

    Keys are computed once per distinct field value (titles, abstracts, author names,
    journals, volumes, pages and document types repeat across the exports of one article and
    the records of one journal), so the time grows with the distinct values rather than the
    records.
    """
    tkeys = _each(_title_keys, [r.title for r in records])
    titles = [k[0] for k in tkeys]
    tokens = [k[1] for k in tkeys]
    informative = np.fromiter((k[4] for k in tkeys), dtype=bool, count=len(tkeys))
    dois = _each(clean_doi, [r.doi for r in records])
    jkeys = _each(lambda j: journal_key(j) if j else (), [r.journal for r in records])
    # Each distinct author entry once; then a lookup per entry with no Python call.
    name_key = {a: _name_key(a) for a in
                {a for r in records if len(r.authors) != 1 for a in r.authors}}.__getitem__
    authors = [_author_keys_cached(r.authors, name_key) for r in records]
    pages = _each(_first_page, [r.pages for r in records])
    preprint = np.array(
        _each(lambda x: is_preprint(Record(title="", journal=x[2]), x[0], x[1]) or False,
              [(d, jk, r.journal) for d, jk, r in zip(dois, jkeys, records, strict=True)]),
        dtype=bool,
    )
    vol = _each(lambda v: normalize_volume(v) if v else "", [r.volume for r in records])
    iss = _each(lambda v: normalize_volume(v) if v else "", [r.issue for r in records])
    # document_kind reads volume, issue and pages only for a supplement's marks: those marks
    # per distinct value, then the kind per distinct (type, journal, marks).
    suppl = _each(lambda v: "suppl" if _SUPPL.search(v) else "",
                  [r.volume for r in records] + [r.issue for r in records])
    spage = _each(lambda p: "S1" if _S_PAGE.match(p) else "", [r.pages for r in records])
    n = len(records)
    kinds = _each(lambda x: 6 if x[0] else document_kind(
                      Record(title="", type=x[1], volume=x[2], issue=x[3], pages=x[4],
                             journal=x[5]), x[6]),
                  [(p, r.type, suppl[k], suppl[n + k], spage[k], r.journal, jk)
                   for k, (r, jk, p) in enumerate(zip(records, jkeys, preprint.tolist(),
                                                      strict=True))])
    notice = _each(is_notice_type, [r.type for r in records])
    return MatchKeys(
        title=titles,
        title_tokens=tokens,
        numbers=_codes([k[2] for k in tkeys], absent=None),
        markers=_codes([k[3] for k in tkeys], absent=None),
        informative=informative,
        doi=_codes(dois),
        doi_str=dois,
        pmid=_codes(_each(lambda p: normalize_pmid(p) if p else "", [r.pmid for r in records])),
        year=np.array([r.year if r.year is not None else -1 for r in records], dtype=np.int64),
        journal=_codes(jkeys, absent=()),
        journal_keys=jkeys,
        volume=_codes(vol),
        page=_codes(pages),
        page_one=np.array([p == "1" for p in pages], dtype=bool),
        authors=authors,
        first_author=_codes([a[0] if a else "" for a in authors]),
        abstract=_each(abstract_head, [r.abstract for r in records]),
        preprint=preprint,
        kind=np.array(kinds, dtype=np.int64),
        issue=_codes(iss),
        versioned=np.array(_each(lambda p: _REVIEW_NUMBER.match(p) is not None, pages),
                           dtype=bool),
        bare=np.array([not (r.pages.strip() or r.issue.strip()) for r in records], dtype=bool),
        series=np.array([not k[4] or k[5] or nt for k, nt in zip(tkeys, notice, strict=True)],
                        dtype=bool),
    )
