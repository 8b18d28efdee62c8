"""PubMed's MEDLINE format (``.nbib``, "PubMed" export format, ``rettype=medline``).

Each line is a tag padded to four characters, ``- `` and the value (``PMID- 123``,
``TI  - …``, ``FAU - Smith, John``); a line starting with six spaces continues the value
above (joined with a space); records are separated by blank lines. The structure is checked
here line by line, so every error names its line. Values are read here too rather than by
:mod:`Bio.Medline`, which re-concatenates a growing string for every continuation line of
``MH``/``AD`` (quadratic time on a long wrapped value).

Fields: pmid ``PMID``; title ``TI`` (``BTI`` for books); abstract ``AB``; authors ``FAU``
(``AU`` when there is no full name) then ``CN`` corporate authors; year from ``DP``
(``2020 Mar 15``, ``1998 Dec-1999 Jan`` → 1998); journal ``JT`` (``TA`` when absent); volume
``VI``; issue ``IP``; pages ``PG`` as given (``123-9``; see :func:`.fields.expand_pages`);
DOI from ``AID``/``LID`` values marked ``[doi]``; keywords ``MH`` then ``OT``; type ``JOUR``
(``CHAP``/``BOOK`` for book records); source key the PMID. Every other tag is kept in
``extra`` (repeated values joined by line breaks).
"""

from __future__ import annotations

import re

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

_TAG = re.compile(r"^[A-Z][A-Z0-9]{1,3} *$")


def _tag_of(line: str) -> str | None:
    """The tag of a MEDLINE tag line (``'PMID- 1'`` → ``'PMID'``), else None."""
    if len(line) >= 5 and line[4] == "-" and (len(line) == 5 or line[5] == " "):
        head = line[:4]
        if _TAG.match(head):
            return head.rstrip()
    return None


def parse_medline(text: str, *, filename: str, lenient: bool = False) -> Parsed:
    """Parse MEDLINE-format text (already decoded) into records.

    Parameters
    ----------
    text : str
        The whole file, ``\\n`` line ends.
    filename : str
        Used in messages.
    lenient : bool
        Skip lines that are neither tag, continuation nor blank (with a warning) and split a
        record at a second ``PMID-`` instead of raising.

    Raises
    ------
    InputError
        Naming the line: a line that is not MEDLINE format, a ``PMID-`` inside a record
        (missing blank line), a record without ``PMID-``, a ``DP`` without a year; or a file
        without records.
    """
    problems = Problems(filename, lenient)
    chunks: list[tuple[int, list[tuple[int, str]]]] = []
    cur: list[tuple[int, str]] | None = None
    start = 0
    has_pmid = False
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            if cur is not None:
                chunks.append((start, cur))
                cur = None
            continue
        if line.startswith("      "):
            if cur is None:
                problems.problem(i, f"continuation line outside a record ({line.strip()[:40]!r})")
                continue
            cur.append((i, line + "\n"))
            continue
        tag = _tag_of(line)
        if tag is None:
            problems.problem(i, f"not a MEDLINE line ({line[:40]!r}); expected 'TAG - value', "
                             "six-space continuation or a blank line")
            continue
        if cur is not None and tag == "PMID" and has_pmid:
            problems.problem(i, f"'PMID-' inside the record started at line {start} (missing "
                             "blank line between records?)")
            chunks.append((start, cur))
            cur = None
        if cur is None:
            cur, start, has_pmid = [], i, False
        has_pmid = has_pmid or tag == "PMID"
        cur.append((i, line + "\n"))
    if cur is not None:
        chunks.append((start, cur))
    if not chunks:
        problems.error(None, "no MEDLINE records (no line starts with 'PMID- ')")
    records = [_build(start, lines, problems) for start, lines in chunks]
    return Parsed(tuple(records), tuple(problems.warnings), "PubMed")


def _join(values: list[str] | None) -> str:
    if not values:
        return ""
    return "\n".join(v.strip() for v in values if v.strip())


def _fields(lines: list[tuple[int, str]]) -> dict[str, list[str]]:
    """Every tag's values in file order, continuation lines joined to their value with spaces."""
    out: dict[str, list[str]] = {}
    values: list[str] = []  # the current tag's values
    parts: list[str] = []  # the value being read: its tag line, then continuation lines
    for _, t in lines:
        if t.startswith("      "):
            parts.append(t.strip())
            continue
        if parts:
            values.append(" ".join(parts))
        tag = _tag_of(t)
        values = out.setdefault(tag, [])
        parts = [t[6:].strip()]
    if parts:
        values.append(" ".join(parts))
    return out


def _doi_marked(value: str) -> str:
    """The word before the first ``[doi]`` mark (``10.1/x [doi]`` → ``10.1/x``), else ``''``.

    String methods, not a regex: ``(\\S+)\\s*\\[doi\\]`` searched a long run of non-space
    characters in quadratic time.
    """
    at = value.find("[doi]")
    while at >= 0:
        words = value[:at].rsplit(None, 1)
        if words:
            return words[-1]
        at = value.find("[doi]", at + 5)
    return ""


def _build(start: int, lines: list[tuple[int, str]], problems: Problems) -> Record:
    rec = _fields(lines)

    def line_of(tag: str) -> int:
        return next((i for i, t in lines if _tag_of(t) == tag), start)

    pmid_raw = _join(rec.pop("PMID", None))
    pmid = clean_pmid(pmid_raw)
    if not pmid_raw:
        problems.problem(start, "record without 'PMID-'")
    elif not pmid:
        problems.problem(line_of("PMID"), f"PMID: not a PubMed identifier ({shown(pmid_raw)})")
        rec["PMID"] = [pmid_raw]
    title = normalise_space(_join(rec.pop("TI", None)))
    rtype = "JOUR"
    if "BTI" in rec:
        rtype = "CHAP" if title else "BOOK"
        if not title:
            title = normalise_space(" ".join(rec.pop("BTI")))
    abstract = normalise_space(_join(rec.pop("AB", None)))
    if "FAU" in rec:
        authors = list(rec.pop("FAU"))
    else:
        authors = list(rec.pop("AU", []))
    authors += rec.pop("CN", [])
    dp = _join(rec.get("DP"))
    year = parse_year(dp) if dp else None
    if dp and year is None:
        problems.problem(line_of("DP"), f"DP: not a year ({shown(dp)})")
    if "JT" in rec:
        journal = _join(rec.pop("JT"))
    else:
        journal = _join(rec.pop("TA", None))
    doi = ""
    for v in [*rec.get("AID", []), *rec.get("LID", [])]:
        if doi := clean_doi(_doi_marked(v)):
            break
    keywords = unique(normalise_space(k) for k in [*rec.pop("MH", []), *rec.pop("OT", [])])
    volume, issue, pages = (_join(rec.pop(t, None)) for t in ("VI", "IP", "PG"))
    extra = {k: v for k, v in ((k, _join(v)) for k, v in rec.items()) if v}
    return Record(
        title=title, abstract=abstract, authors=unique(normalise_space(a) for a in authors),
        year=year, journal=journal, volume=volume, issue=issue, pages=pages, doi=doi,
        pmid=pmid, keywords=keywords, type=rtype, source_key=pmid, line=start, extra=extra,
    )
