"""PubMed's MEDLINE format (``.nbib``, "PubMed" export format, ``rettype=medline``).

Each line is a tag padded to four characters, ``- `` and the value (``PMID- 123``,
``TI  - …``, ``FAU - Smith, John``); a line starting with six spaces continues the value
above; records are separated by blank lines. The structure is checked here line by line (so
every error names its line) and each record's lines are then read by :mod:`Bio.Medline`.

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

from Bio import Medline

from metareview.records.fields import (
    Parsed,
    Problems,
    clean_doi,
    clean_pmid,
    normalise_space,
    parse_year,
    unique,
)
from metareview.records.model import Record

_TAG = re.compile(r"^[A-Z][A-Z0-9]{1,3} *$")
_DOI_MARK = re.compile(r"(\S+)\s*\[doi\]")


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


def _join(value: str | list[str] | None) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(v.strip() for v in value if v.strip())
    return value.strip()


def _values(lines: list[tuple[int, str]], tag: str) -> list[str]:
    """Every value of ``tag`` in a record's lines, continuation lines joined with spaces."""
    out: list[str] = []
    inside = False
    for _, t in lines:
        if t.startswith("      "):
            if inside:
                out[-1] += " " + t.strip()
            continue
        inside = _tag_of(t) == tag
        if inside:
            out.append(t[6:].strip())
    return out


def _build(start: int, lines: list[tuple[int, str]], problems: Problems) -> Record:
    rec = dict(next(Medline.parse(t for _, t in lines)))
    # Bio.Medline joins a repeated "text" tag (IS, LID …) into one string with spaces; keep
    # the values apart, as for every other repeated tag
    seen: set[str] = set()
    for _, t in lines:
        tag = _tag_of(t)
        if tag in seen and isinstance(rec.get(tag), str):
            rec[tag] = _values(lines, tag)
        seen.add(tag)

    def line_of(tag: str) -> int:
        return next((i for i, t in lines if _tag_of(t) == tag), start)

    pmid_raw = _join(rec.pop("PMID", None))
    pmid = clean_pmid(pmid_raw)
    if not pmid_raw:
        problems.problem(start, "record without 'PMID-'")
    elif not pmid:
        problems.problem(line_of("PMID"), f"PMID: not a PubMed identifier ({pmid_raw!r})")
        rec["PMID"] = pmid_raw
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
        problems.problem(line_of("DP"), f"DP: not a year ({dp!r})")
    if "JT" in rec:
        journal = _join(rec.pop("JT"))
    else:
        journal = _join(rec.pop("TA", None))
    doi = ""
    for v in [*rec.get("AID", []), _join(rec.get("LID"))]:
        m = _DOI_MARK.search(v)
        if m and (doi := clean_doi(m.group(1))):
            break
    keywords = unique(normalise_space(k) for k in [*rec.pop("MH", []), *rec.pop("OT", [])])
    volume, issue, pages = (_join(rec.pop(t, None)) for t in ("VI", "IP", "PG"))
    extra = {k: v for k, v in ((k, _join(v)) for k, v in rec.items()) if v}
    return Record(
        title=title, abstract=abstract, authors=unique(normalise_space(a) for a in authors),
        year=year, journal=journal, volume=volume, issue=issue, pages=pages, doi=doi,
        pmid=pmid, keywords=keywords, type=rtype, source_key=pmid, line=start, extra=extra,
    )
