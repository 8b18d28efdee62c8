"""RIS: reading exports of PubMed, Ovid, Embase, Scopus, Web of Science, Zotero, EndNote.

The grammar is RIS's own (RefMan specification) as rispy reads it: a tag line is two
characters (upper-case letter, then upper-case letter or digit), two spaces, ``-``, a space and
the value; a record runs from ``TY  -`` to ``ER  -``; a line without a tag continues the value
of the tag before it (the specification allows long values to wrap). This module does its own
line scanning rather than calling :func:`rispy.loads` because the reader needs what rispy does
not give: the line of every record and value, an error for stray text instead of silently
skipping it, and continuation lines kept as line breaks (rispy joins them with spaces, which
would break the RIS round trip of a multi-line abstract).

**Strict mode** (the default) raises :class:`~metareview.errors.InputError` naming the line for
text outside a record, a tag before the first ``TY  -``, a blank line inside a record, a
``TY  -`` before the previous record's ``ER  -``, a record the file ends inside, or a value a
field cannot hold (``PY  - 20x1``, ``DO  - n/a``). **Lenient mode** (for Ovid and Embase
exports) skips stray lines, closes a record at the next ``TY  -`` or at the end of the file,
keeps unreadable values in ``Record.extra``, and records one warning per problem, naming the
line.

Tags become :class:`~.model.Record` fields as follows (the first non-empty tag in each list
wins; the others stay in ``extra``): type ``TY``; title ``TI``, ``T1``; authors ``AU`` and
``A1`` merged in file order without repeats; year ``PY``, ``Y1``, ``DA`` (``Y1  - 2020//`` is
2020); journal ``T2``, ``JF``, ``JO``, ``JA``, ``J2``; volume ``VL``; issue ``IS``; pages
``SP`` + ``EP``; abstract ``AB``, ``N2``; DOI ``DO``; PMID ``AN  - PMID:…`` (or, in a record
whose ``DB`` is MEDLINE/PubMed, a numeric ``AN``/``ID``); keywords every ``KW``; url ``UR``;
source key ``ID``. ``N1`` notes carrying a screening label (``metareview: include`` as
:mod:`.export` writes it, or ASReview's ``ASReview_relevant``/``ASReview_irrelevant``/
``ASReview_not_seen``) set ``Record.label`` and are removed from the notes. Everything else
(``A2``, ``DB``, ``M1``, ``M3``, ``U2``, ``SN`` …) is kept in ``extra`` by tag, repeated values
joined with line breaks.
"""

from __future__ import annotations

import re
from collections import Counter

from metareview.records.fields import (
    Parsed,
    Problems,
    clean_doi,
    clean_pmid,
    join_pages,
    parse_year,
    shown,
    split_pages,
    unique,
)
from metareview.records.model import Record

#: Tags :func:`parse_ris` reads into Record fields (all others go to ``extra``).
TITLE_TAGS = ("TI", "T1")
YEAR_TAGS = ("PY", "Y1", "DA")
JOURNAL_TAGS = ("T2", "JF", "JO", "JA", "J2")
ABSTRACT_TAGS = ("AB", "N2")
AUTHOR_TAGS = ("AU", "A1")

#: Our own screening note, as :mod:`.export` writes it in ``N1``.
NOTE_PREFIX = "metareview"
_OUR_NOTE = re.compile(r"^metareview:\s*(include|exclude|maybe)\b\s*(.*)$", re.I | re.S)
_OUR_FIELD_NOTE = re.compile(r"^metareview ([a-z_]+):\s?(.*)$", re.S)
# ASReview LAB stores labels as words inside N1 notes (asreview/io/ris_reader.py).
_ASREVIEW = re.compile(r"\bASReview_(relevant|irrelevant|not_seen)\b")
_ASREVIEW_LABEL = {"relevant": "include", "irrelevant": "exclude", "not_seen": None}
# Two alternatives rather than r"\s*[:\s]\s*": three overlapping runs of spaces backtrack in
# quadratic time on a long run of them.
_PMID_NOTE = re.compile(r"^PMID(?:\s*:\s*|\s+)(\d{1,8})$", re.I)


def _is_tag_line(line: str) -> bool:
    # Inline character tests: this runs once per line of files with millions of lines.
    return (
        len(line) >= 5
        and line[2:5] == "  -"
        and "A" <= line[0] <= "Z"
        and ("A" <= line[1] <= "Z" or "0" <= line[1] <= "9")
    )


def parse_ris(text: str, *, filename: str, lenient: bool = False) -> Parsed:
    """Parse RIS text (already decoded, ``\\n`` line ends) into records.

    Parameters
    ----------
    text : str
        The whole file.
    filename : str
        Used in messages (``search.ris line 42: …``).
    lenient : bool
        Recover from stray lines with warnings instead of raising.

    Returns
    -------
    Parsed
        Records in file order, warnings, and the database named by the ``DB`` tags (the value
        most records give first), Scopus URLs or ``WOS:`` accession numbers, else ``None``.

    Raises
    ------
    InputError
        In strict mode for any structural problem or unreadable value, naming the line; in
        either mode when the file holds no record.
    """
    problems = Problems(filename, lenient)
    raw = _scan(text, problems)
    if not raw:
        problems.error(None, "no RIS records (no line starts with 'TY  - ')")
    records = [_build(start, fields, problems) for start, fields in raw]
    return Parsed(tuple(records), tuple(problems.warnings), _infer_source(records))


def _scan(text: str, problems: Problems) -> list[tuple[int, list[tuple[str, str, int]]]]:
    """Split the text into records of ``(tag, value, line)`` fields, checking structure."""
    out: list[tuple[int, list[tuple[str, str, int]]]] = []
    cur: list[tuple[str, str, int]] | None = None
    start = 0
    blank_at = 0  # first blank line inside the open record since its last content line
    stray: list[int] = []  # lines of the current run of stray text (lenient mode)
    stray_why = [""]

    def stray_line(i: int, why: str) -> None:
        # strict: raise at the first stray line; lenient: one warning per run of them
        if not problems.lenient:
            problems.problem(i, why)
        if not stray:
            stray_why[0] = why
        stray.append(i)

    def flush_stray() -> None:
        if stray:
            n = len(stray)
            more = f"; skipped it and the next {n - 1} (to line {stray[-1]})" if n > 1 else (
                "; skipped")
            problems.warn(stray[0], stray_why[0] + more)
            stray.clear()

    # Continuation lines of the last field are collected here and joined once when the field
    # ends: re-concatenating the growing value for each line took quadratic time.
    more: list[str] = []

    def end_field() -> None:
        tag, value, at = cur[-1]
        cur[-1] = (tag, "\n".join([value, *more] if value else more), at)
        more.clear()

    lines = text.split("\n")
    for i, line in enumerate(lines, 1):
        # _is_tag_line inlined: this loop runs once per line of files with millions of lines
        if (len(line) >= 5 and line[2:5] == "  -" and "A" <= line[0] <= "Z"
                and ("A" <= line[1] <= "Z" or "0" <= line[1] <= "9")):
            tag = line[:2]
            value = line[5:].strip()
            if more:
                end_field()
            if cur is None:
                if tag == "TY":
                    flush_stray()
                    cur, start, blank_at = [(tag, value, i)], i, 0
                    continue
                stray_line(i, "'ER  -' outside a record" if tag == "ER"
                           else f"tag '{tag}' outside a record (missing 'TY  -'?)")
                continue
            if tag == "TY":
                problems.problem(i, f"'TY  -' before the record started at line {start} was "
                                 "closed (missing 'ER  -')")
                out.append((start, cur))
                cur, start, blank_at = [(tag, value, i)], i, 0
                continue
            if blank_at:
                problems.problem(blank_at, f"blank line inside the record started at line "
                                 f"{start}")
                blank_at = 0
            if tag == "ER":
                out.append((start, cur))
                cur = None
            else:
                cur.append((tag, value, i))
            continue
        s = line.strip()
        if not s:
            if cur is not None and not blank_at:
                blank_at = i
            continue
        if cur is None:
            where = "before the first record" if not out else "outside a record"
            stray_line(i, f"text {where} ({line[:40]!r}); a record starts with 'TY  - '")
            continue
        if blank_at:
            problems.problem(blank_at, f"blank line inside the record started at line {start}")
            blank_at = 0
        more.append(s)
    flush_stray()
    if more:
        end_field()
    if cur is not None:
        problems.problem(start, "the file ends inside this record (missing 'ER  -')")
        out.append((start, cur))
    return out


def _build(start: int, fields: list[tuple[str, str, int]], problems: Problems) -> Record:
    """One record from its ``(tag, value, line)`` fields."""
    by: dict[str, list[tuple[str, str, int | None]]] = {}
    authors: list[str] = []
    for f in fields:
        tag = f[0]
        if tag == "AU" or tag == "A1":
            authors.append(f[1])
        elif f[1]:
            vals = by.get(tag)
            if vals is None:
                by[tag] = [f]
            else:
                vals.append(f)

    def take(*tags: str) -> tuple[str, str, int | None]:
        for t in tags:
            vals = by.get(t)
            if vals:
                f = vals.pop(0)
                return f[1], t, f[2]
        return "", "", None

    def keep(tag: str, value: str, line: int | None) -> None:
        by.setdefault(tag, []).append((tag, value, line))

    rtype = take("TY")[0]
    title = take(*TITLE_TAGS)[0]
    abstract = take(*ABSTRACT_TAGS)[0]
    year_raw, year_tag, year_line = take(*YEAR_TAGS)
    year = parse_year(year_raw) if year_raw else None
    if year_raw and year is None:
        problems.problem(year_line, f"tag {year_tag}: not a year ({shown(year_raw)})")
        keep(year_tag, year_raw, year_line)
    journal = take(*JOURNAL_TAGS)[0]
    volume = take("VL")[0]
    issue = take("IS")[0]
    sp, ep = take("SP")[0], take("EP")[0]
    doi_raw, _, doi_line = take("DO")
    doi = clean_doi(doi_raw)
    if doi_raw and not doi:
        problems.problem(doi_line, f"tag DO: not a DOI ({shown(doi_raw)})")
        keep("DO", doi_raw, doi_line)
    pmid = _take_pmid(by)
    url = take("UR")[0]
    source_key = take("ID")[0]
    keywords = unique(f[1] for f in by.pop("KW", ()))
    label, notes_extra = _labels(by.pop("N1", []), problems)
    extra = {t: "\n".join(f[1] for f in fs) for t, fs in by.items() if fs}
    extra.update(notes_extra)
    return Record(
        title=title, abstract=abstract, authors=unique(authors), year=year, journal=journal,
        volume=volume, issue=issue, pages=join_pages(sp, ep), doi=doi, pmid=pmid,
        keywords=keywords, url=url, type=rtype, source_key=source_key, line=start,
        label=label, extra=extra,
    )


def _take_pmid(by: dict[str, list[tuple[str, str, int | None]]]) -> str:
    """``AN  - PMID:123`` (consumed), else a numeric ``AN``/``ID`` in a MEDLINE record (kept)."""
    for f in by.get("AN", ()):
        m = _PMID_NOTE.match(f[1])
        if m:
            by["AN"].remove(f)
            return m.group(1)
    dbs = " ".join(f[1] for f in by.get("DB", ())).lower()
    if ("medline" in dbs or "pubmed" in dbs) and "embase" not in dbs:
        for tag in ("AN", "ID"):
            for f in by.get(tag, ()):
                pmid = clean_pmid(f[1])
                if pmid:
                    return pmid
    return ""


def _labels(
    notes: list[tuple[str, str, int | None]], problems: Problems
) -> tuple[str | None, dict[str, str]]:
    """The screening label carried by ``N1`` notes, and what goes back to ``extra``."""
    labels: list[tuple[str | None, int]] = []
    kept: list[str] = []
    extra: dict[str, str] = {}
    for _, note, line in notes:
        m = _OUR_NOTE.match(note)
        if m:
            decision = m.group(1).lower()
            labels.append((decision if decision != "maybe" else None, line))
            if decision == "maybe":
                extra["metareview_decision"] = "maybe"
            for part in re.split(r";\s*(?=stage:|reason:)", m.group(2).lstrip("; ")):
                key, _, value = part.partition(":")
                if key.strip() in ("stage", "reason") and value.strip():
                    extra[f"metareview_{key.strip()}"] = value.strip()
            continue
        m = _OUR_FIELD_NOTE.match(note)
        if m:
            extra[f"metareview_{m.group(1)}"] = m.group(2)
            continue
        found = _ASREVIEW.findall(note)
        if found:
            labels.extend((_ASREVIEW_LABEL[w], line) for w in found)
            note = _drop_asreview(note)
            if not note:
                continue
        kept.append(note)
    if kept:
        extra["N1"] = "\n".join(kept)
    distinct = {lab for lab, _ in labels}
    if len(distinct) > 1:
        line = labels[-1][1]
        shown = ", ".join(sorted(str(lab) if lab else "not seen" for lab in distinct))
        problems.problem(line, f"N1 notes give conflicting screening labels ({shown})")
        return None, extra
    return (labels[0][0] if labels else None), extra


def _drop_asreview(note: str) -> str:
    """``note`` without ASReview's label words, each with the spaces around it made one.

    Slices and ``rstrip`` rather than r"[ \\t]*\\bASReview_…\\b[ \\t]*", which
    backtracked quadratically on a long run of spaces elsewhere in the note.
    """
    out: list[str] = []
    last = 0
    for m in _ASREVIEW.finditer(note):
        out.append(note[last:m.start()].rstrip(" \t"))
        out.append(" ")
        last = m.end()
        while last < len(note) and note[last] in " \t":
            last += 1
    out.append(note[last:])
    return "".join(out).strip()


def _infer_source(records: list[Record]) -> str | None:
    firsts = Counter(r.extra["DB"].split("\n", 1)[0] for r in records if r.extra.get("DB"))
    if firsts:
        return firsts.most_common(1)[0][0]
    if any("scopus.com" in r.url for r in records):
        return "Scopus"
    if any(r.extra.get("AN", "").startswith("WOS:") or r.source_key.startswith("WOS:")
           for r in records):
        return "Web of Science"
    return None


# --------------------------------------------------------------------------- writing


def _tagged(tag: str, value: str) -> list[str]:
    """Lines for one value: the tag line and continuation lines for embedded line breaks.

    Blank lines inside a value cannot be carried (a blank line ends nothing in RIS, but our
    strict reader and others reject it), so they are dropped; a continuation line that would
    read as a tag gets a leading space, which the reader strips again.
    """
    parts = [p.strip() for p in value.split("\n")]
    parts = [p for p in parts if p] or [""]
    out = [f"{tag}  - {parts[0]}"]
    for p in parts[1:]:
        out.append(f" {p}" if _is_tag_line(p) else p)
    return out


#: Tags whose ``extra`` values the writer leaves out: the ones it writes from Record fields,
#: and two-letter MEDLINE tags (kept in ``extra`` by the MEDLINE importer) that mean something
#: else in RIS (``IS`` is the ISSN there, ``DP`` the publication date, ``CN`` a corporate
#: author …).
_NOT_FROM_EXTRA = frozenset(
    {"TY", "ER", "TI", "AU", "PY", "T2", "VL", "IS", "SP", "EP", "AB", "KW", "UR", "ID"}
    | {"CI", "CN", "DP", "GN", "GR", "GS", "IP", "IR", "JT", "LR", "MH", "NM", "OT", "PG", "PL",
       "PS", "PT", "RF", "RN", "SB", "SI", "SO", "TA", "VI"}
)
_RIS_TAG = re.compile(r"^[A-Z][A-Z0-9]$")


def ris_lines(record: Record, notes: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The RIS lines of one record, from ``TY`` to ``ER``.

    Every Record field :func:`parse_ris` reads is written so that reading the lines back gives
    the same Record (except ``line``): ``TY`` (``GEN`` when the type is empty), ``TI``, ``AU``
    per author, ``PY``, ``T2``, ``VL``, ``IS``, ``SP``/``EP``, ``AB``, ``DO``,
    ``AN  - PMID:…``, ``KW`` per keyword, ``UR``, ``ID``, then ``extra`` values under their own
    tags (two-letter RIS tags only), then ``N1`` notes (``notes`` first: screening labels).
    """
    out: list[str] = []
    add = out.extend
    add(_tagged("TY", record.type or "GEN"))
    if record.title:
        add(_tagged("TI", record.title))
    for a in record.authors:
        add(_tagged("AU", a))
    if record.year is not None:
        out.append(f"PY  - {record.year}")
    for tag, value in (("T2", record.journal), ("VL", record.volume), ("IS", record.issue)):
        if value:
            add(_tagged(tag, value))
    if record.pages:
        sp, ep = split_pages(record.pages)
        add(_tagged("SP", sp))
        if ep:
            add(_tagged("EP", ep))
    if record.abstract:
        add(_tagged("AB", record.abstract))
    if record.doi:
        out.append(f"DO  - {record.doi}")
    if record.pmid:
        out.append(f"AN  - PMID:{record.pmid}")
    for k in record.keywords:
        add(_tagged("KW", k))
    if record.url:
        add(_tagged("UR", record.url))
    if record.source_key:
        add(_tagged("ID", record.source_key))
    extra = record.extra
    for tag, value in extra.items():
        if tag == "N1" or tag in _NOT_FROM_EXTRA or not _RIS_TAG.match(tag):
            continue
        for v in value.split("\n"):
            if v.strip():
                add(_tagged(tag, v))
    for n in notes:
        add(_tagged("N1", n))
    if extra.get("N1"):
        for v in extra["N1"].split("\n"):
            if v.strip():
                add(_tagged("N1", v))
    out.append("ER  - ")
    return out
