"""One entry point for every record format: detect it, parse the whole file, return a batch.

Nothing is half-imported: the file is parsed completely before :func:`read_records` returns,
and any error raises :class:`~metareview.errors.InputError` naming the file and line (or row
and column), so a caller that stores the returned :class:`~.model.ImportBatch` stores all of
the file or none of it.

Formats (``format=``): ``ris``, ``nbib`` (PubMed/MEDLINE; aliases ``medline``, ``pubmed``),
``pubmed-xml`` (alias ``xml``), ``bibtex`` (alias ``bib``), ``csv``, ``tsv``, ``xlsx``. Without
``format`` the extension decides (``.ris``, ``.nbib``, ``.xml``, ``.bib``, ``.csv``, ``.tsv``,
``.xlsx``); for ``.txt`` and other extensions the content does: a line starting ``TY  -``
(RIS), ``PMID-`` (MEDLINE), ``@type{`` (BibTeX), ``<?xml``/``<PubmedArticleSet`` (PubMed XML),
a zip header (XLSX) or a tab-separated header (TSV, as Web of Science writes).

Encoding (text formats): UTF-8, with or without BOM; UTF-16 when the file starts with its BOM
(EndNote on Windows); otherwise Windows-1252, which is Latin-1 plus the typographic characters
older Ovid and EndNote exports use, with a warning naming the line of the first byte that is
not UTF-8. The fallback applies in strict mode too: RIS's specification itself says Windows
ANSI, so such a file is not broken, only old. XML declares its own encoding; XLSX is binary.
A file with a UTF-16 BOM that is not UTF-16 (an odd number of bytes, a lone surrogate) is
refused, naming the line.

Bounds: a file over :data:`MAX_FILE_BYTES` (512 MiB) is refused before it is read, and one with
more than :data:`MAX_RECORDS` records is refused too, so that an import's memory stays bounded;
the largest real exports (100,000 records with abstracts) are about a third of that size.

Control characters: every text field of every record is cleaned after parsing, the same for
every format (:func:`clean_records`). NUL, the other C0 controls but tab and line ends, DEL, the
C1 controls and ANSI escape sequences (``ESC [ ... final byte``, and any other ``ESC``) are
removed, with one warning counting them; in one-line fields (all but the abstract and the
``extra`` values) tabs, CR, VT and FF become single spaces (the line breaks a parser keeps, as
in a RIS title written over two lines, stay, so export and import still round-trip). So no
database receives a NUL (PostgreSQL refuses them) and no terminal that prints a title obeys an
escape sequence. Messages and warnings that quote user text write its control characters as
escapes (``\\n``, ``\\x1b``), so each stays one line.
"""

from __future__ import annotations

import datetime as _dt
import gc
import hashlib
import operator
import re
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from metareview.errors import InputError
from metareview.records.fields import Parsed, Problems, decode_text
from metareview.records.model import ImportBatch, Record

#: Canonical format names.
FORMATS = ("ris", "nbib", "pubmed-xml", "bibtex", "csv", "tsv", "xlsx")
#: PRISMA 2020 identification source kinds.
KINDS = ("database", "register", "website", "organisation", "citation", "other")

_ALIASES = {
    "ris": "ris", "nbib": "nbib", "medline": "nbib", "pubmed": "nbib", "pubmed-xml": "pubmed-xml",
    "xml": "pubmed-xml", "bibtex": "bibtex", "bib": "bibtex", "csv": "csv", "tsv": "tsv",
    "tab": "tsv", "xlsx": "xlsx",
}
_EXTENSIONS = {
    ".ris": "ris", ".nbib": "nbib", ".medline": "nbib", ".xml": "pubmed-xml", ".bib": "bibtex",
    ".bibtex": "bibtex", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".xlsx": "xlsx",
}
_BIB_HEAD = re.compile(r"\s*@\s*[A-Za-z]+\s*[{(]")

#: Largest file read (bytes). Real exports of 100,000 records with abstracts are ~150-250 MB.
MAX_FILE_BYTES = 512 * 1024 * 1024
#: Most records one file may hold (PubMed exports 10,000 at a time, Scopus 20,000).
MAX_RECORDS = 500_000

# What starts a record in each text format, counted to refuse a file with far too many records
# before parsing it (the count after parsing is exact). Spreadsheets are bounded by their
# parser's row limit instead: a cell may hold line breaks, so lines are not rows.
_RECORD_MARKS = {"ris": b"TY  -", "nbib": b"PMID-", "bibtex": b"\n@",
                 "pubmed-xml": b"<PubmedArticle>"}


def detect_format(filename: str, data: bytes) -> str:
    """The format of a file from its extension, else from its first lines.

    Raises
    ------
    InputError
        For ``.xls`` (save as ``.xlsx`` or CSV) and for content no reader recognises.
    """
    ext = Path(filename).suffix.lower()
    if ext == ".xls":
        raise InputError(f"{filename}: old Excel .xls workbooks are not read; save it as .xlsx "
                         "or CSV")
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = data[:65536].decode("utf-16", errors="replace").lstrip("\ufeff")
    else:
        head = data[:65536].decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = head.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:500]
    for line in lines:
        if line.startswith("TY  -"):
            return "ris"
        if line.startswith("PMID-"):
            return "nbib"
        if _BIB_HEAD.match(line):
            return "bibtex"
        if line.lstrip().startswith("<?xml") or "<PubmedArticleSet" in line:
            return "pubmed-xml"
    first = next((ln for ln in lines if ln.strip()), "")
    if first.count("\t") >= 2:
        return "tsv"
    raise InputError(f"{filename}: cannot tell the format (no 'TY  -', 'PMID-', '@type{{' or "
                     f"XML line); give the format, one of {', '.join(FORMATS)}")


def _date(value: _dt.date | str | None) -> _dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    try:
        return _dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"searched_on {value!r}: expected a date as YYYY-MM-DD") from None


def read_records_bytes(
    data: bytes,
    *,
    filename: str,
    format: str | None = None,
    source: str | None = None,
    kind: str = "database",
    searched_on: _dt.date | str | None = None,
    mapping: Mapping[str, str] | None = None,
    lenient: bool = False,
    fields_used: Collection[str] | None = None,
) -> ImportBatch:
    """Parse the bytes of one file; see :func:`read_records` for the parameters."""
    # Messages name the file by `label`: a name with a line break or an escape sequence in it
    # must not split or colour the one line; the batch keeps the name as given.
    label = one_line(filename)
    if kind not in KINDS:
        raise InputError(f"{label}: kind {kind!r} is not one of {', '.join(KINDS)}")
    when = _date(searched_on)
    if format is None:
        fmt = detect_format(label, data)
    else:
        fmt = _ALIASES.get(format.strip().lower(), "")
        if not fmt:
            raise InputError(f"{label}: unknown format {format!r} (formats: "
                             f"{', '.join(FORMATS)})")
    if mapping and fmt not in ("csv", "tsv", "xlsx"):
        raise InputError(f"{label}: a column mapping applies to csv, tsv and xlsx files, "
                         f"not {fmt}")
    if len(data) > MAX_FILE_BYTES:
        raise InputError(_too_big(label, len(data)))
    if not data.strip():
        raise InputError(f"{label}: the file is empty")
    mark = _RECORD_MARKS.get(fmt)
    if mark is not None and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        if data.count(mark) > MAX_RECORDS:
            raise InputError(f"{label}: more than {MAX_RECORDS:,} records, the most one "
                             "file may hold; split the export")
    try:
        with _gc_paused():
            parsed = _parse(data, fmt, label, mapping, lenient, fields_used)
    except InputError as exc:
        # user text quoted in a message (a tag, a header, a value) must not break its line
        text = str(exc)
        if _UNPRINTABLE.search(text):
            raise InputError(one_line(text), parameter=exc.parameter) from None
        raise
    if len(parsed.records) > MAX_RECORDS:
        raise InputError(f"{label}: {len(parsed.records):,} records, more than the "
                         f"{MAX_RECORDS:,} one file may hold; split the export")
    records, removed = clean_records(parsed.records)
    warnings = [one_line(w) for w in parsed.warnings]
    if removed:
        warnings.append(removed.message(label))
    parsed_source = _clean(parsed.source or "", single_line=True)[0]
    name = source.strip() if source and source.strip() else parsed_source
    if not name:
        name = "unknown"
        warnings.append(f"{label}: the source database was not given and the file does not "
                        "name it; recorded as 'unknown'")
    return ImportBatch(
        records=records,
        source=name,
        kind=kind,
        format=fmt,
        filename=filename,
        sha256=hashlib.sha256(data).hexdigest(),
        searched_on=when,
        warnings=tuple(warnings),
    )


def _too_big(filename: str, size: int) -> str:
    mib = 1024 * 1024
    return (f"{filename}: {size / mib:,.1f} MiB, over the {MAX_FILE_BYTES // mib:,} MiB limit "
            "for one file; split the export")


# -- control characters ------------------------------------------------------------------------

# An ANSI CSI sequence (ESC [ parameters intermediates final byte), or one control character:
# C0 but tab, line feed, VT, FF and CR (line ends handled below), DEL and C1.
_CONTROL = re.compile(r"\x1b\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]|[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ONE_DIRTY = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # all but newline
_MULTI_DIRTY = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all but tab and newline
_BREAKS = re.compile(r" *[\t\x0b\x0c\r][\t\x0b\x0c\r ]*")
_LINE_ENDS = re.compile(r"\r\n?|[\x0b\x0c]")
#: Record fields that keep tabs and line breaks; every other text field is one line.
MULTILINE_FIELDS = ("abstract",)


class Removed:
    """Counts of what :func:`clean_records` removed, for its one warning."""

    def __init__(self) -> None:
        self.nul = self.escapes = self.other = self.records = 0

    def __bool__(self) -> bool:
        return self.records > 0

    def count(self, found: list[str]) -> None:
        """Count the removed pieces of one field."""
        for piece in found:
            if piece == "\x00":
                self.nul += 1
            elif piece.startswith("\x1b"):
                self.escapes += 1
            else:
                self.other += 1

    def message(self, filename: str) -> str:
        """``'f.ris: removed 3 control characters (NUL, escape sequences) from 2 records'``."""
        kinds = [k for k, n in (("NUL", self.nul), ("escape sequences", self.escapes),
                                ("other control characters", self.other)) if n]
        total = self.nul + self.escapes + self.other
        return (f"{filename}: removed {total:,} control characters ({', '.join(kinds)}) from "
                f"{self.records:,} record{'s' if self.records != 1 else ''}")


def _clean(text: str, *, single_line: bool, removed: Removed | None = None) -> tuple[str, bool]:
    """``text`` without control characters; tab, CR, VT, FF as one space when one line."""
    changed = False
    if _MULTI_DIRTY.search(text):
        found = _CONTROL.findall(text)
        if found:
            if removed is not None:
                removed.count(found)
            text = _CONTROL.sub("", text)
            changed = True
    if single_line:
        if _ONE_DIRTY.search(text):
            text = _BREAKS.sub(" ", text).strip()
            changed = True
    elif "\r" in text or "\x0b" in text or "\x0c" in text:
        text = _LINE_ENDS.sub("\n", text)
        changed = True
    return text, changed


#: The Record fields holding one string each (authors, keywords, extra are handled apart).
_TEXT_FIELDS = ("title", "abstract", "journal", "volume", "issue", "pages", "doi", "pmid", "url",
                "type", "source_key")


def clean_records(records: tuple[Record, ...]) -> tuple[tuple[Record, ...], Removed]:
    """Remove control characters and escape sequences from every text field of ``records``.

    Parameters
    ----------
    records : tuple of Record
        As a parser returned them.

    Returns
    -------
    records : tuple of Record
        The same objects where nothing needed cleaning; cleaned copies elsewhere.
    removed : Removed
        What was removed, from how many records (its ``message`` is the warning).

    Notes
    -----
    NUL, C0 controls but tab and line ends, DEL, C1 controls, ANSI CSI sequences
    (``ESC [ … final byte``) and any other ``ESC`` are removed. In one-line fields (all but
    :data:`MULTILINE_FIELDS` and ``extra`` values) a run of spaces holding a tab, CR, VT or FF
    becomes one space and the ends are stripped; in the others CR, VT and FF become ``\\n``.
    Newlines a parser kept stay in every field.
    """
    removed = Removed()
    out: list[Record] = []
    cleaned = False
    for rec in records:
        # Every character the regexes below match is unprintable, so a printable record
        # (nearly all of them) is settled by one C call on its joined text.
        if "".join((*_text_of(rec), rec.label or "", *rec.authors, *rec.keywords, *rec.extra,
                    *rec.extra.values())).isprintable():
            out.append(rec)
            continue
        one = "".join((*(getattr(rec, f) for f in _TEXT_FIELDS if f not in MULTILINE_FIELDS),
                       rec.label or "", *rec.authors, *rec.keywords, *rec.extra))
        multi = "".join((*(getattr(rec, f) for f in _TEXT_FIELDS if f in MULTILINE_FIELDS),
                         *rec.extra.values()))
        if not (_ONE_DIRTY.search(one) or _MULTI_DIRTY.search(multi)):
            out.append(rec)
            continue
        before = removed.nul + removed.escapes + removed.other
        out.append(_clean_record(rec, removed))
        cleaned = True
        if removed.nul + removed.escapes + removed.other > before:
            removed.records += 1
    return (tuple(out) if cleaned else records), removed


_text_of = operator.attrgetter(*_TEXT_FIELDS)


def _clean_record(rec: Record, removed: Removed) -> Record:
    changes: dict[str, object] = {}
    for name in _TEXT_FIELDS:
        text, changed = _clean(getattr(rec, name), single_line=name not in MULTILINE_FIELDS,
                               removed=removed)
        if changed:
            changes[name] = text
    for name in ("authors", "keywords"):
        items = getattr(rec, name)
        cleaned = [_clean(x, single_line=True, removed=removed) for x in items]
        if any(changed for _, changed in cleaned):
            changes[name] = tuple(x for x, _ in cleaned if x)
    extra: dict[str, str] = {}
    extra_changed = False
    for key, value in rec.extra.items():
        k, kc = _clean(key, single_line=True, removed=removed)
        v, vc = _clean(value, single_line=False, removed=removed)
        extra_changed |= kc or vc
        # two keys that differed only by control characters keep both values
        extra[k] = f"{extra[k]}\n{v}" if k in extra else v
    if extra_changed:
        changes["extra"] = extra
    return replace(rec, **changes) if changes else rec


def one_line(text: str) -> str:
    """``text`` with line ends and other control characters written as escapes (``\\n``,
    ``\\x1b``), so that a message quoting user text stays one plain line."""
    return _UNPRINTABLE.sub(_escape, text)


def _escape(m: re.Match[str]) -> str:
    c = m.group(0)
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c, f"\\x{ord(c):02x}")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file is parsed.

    Parsing allocates millions of small objects and no reference cycles; with the collector on,
    its repeated full passes over them took a third of the time of a 100,000-record import.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _parse(data: bytes, fmt: str, filename: str, mapping: Mapping[str, str] | None,
           lenient: bool, fields_used: Collection[str] | None = None) -> Parsed:
    if fmt in ("csv", "tsv", "xlsx"):
        from metareview.records.tabular import parse_table

        return parse_table(data, fmt=fmt, filename=filename, mapping=mapping, lenient=lenient,
                           fields_used=fields_used)
    if fmt == "pubmed-xml":
        from metareview.records.pubmed_xml import parse_pubmed_xml

        return parse_pubmed_xml(data, filename=filename, lenient=lenient)
    decoding = Problems(filename, lenient)
    text = decode_text(data, decoding)
    if fmt == "ris":
        from metareview.records.ris import parse_ris as parse
    elif fmt == "nbib":
        from metareview.records.medline import parse_medline as parse
    else:
        from metareview.records.bibtex import parse_bibtex as parse
    parsed = parse(text, filename=filename, lenient=lenient)
    if decoding.warnings:
        return Parsed(parsed.records, (*decoding.warnings, *parsed.warnings), parsed.source)
    return parsed


def read_records(
    path: str | Path,
    *,
    format: str | None = None,
    source: str | None = None,
    kind: str = "database",
    searched_on: _dt.date | str | None = None,
    mapping: Mapping[str, str] | None = None,
    lenient: bool = False,
    fields_used: Collection[str] | None = None,
) -> ImportBatch:
    """Read one search-results file into an :class:`~.model.ImportBatch`.

    Parameters
    ----------
    path : str or Path
        The file.
    format : str, optional
        One of :data:`FORMATS` (or an alias); detected from the extension and content when
        omitted.
    source : str, optional
        The database or register searched (``"Embase"``); when omitted, taken from the file
        where it says (RIS ``DB``, MEDLINE and PubMed XML are ``"PubMed"``, a constant
        ``Source`` column), else ``"unknown"`` with a warning.
    kind : str
        PRISMA source kind, one of :data:`KINDS`.
    searched_on : date or str, optional
        When the search was run (``YYYY-MM-DD``).
    mapping : mapping of str to str, optional
        For spreadsheets: Record field → column name (see :mod:`.tabular`).
    lenient : bool
        Recover from stray lines and unreadable values with warnings (Ovid/Embase exports).
    fields_used : collection of str, optional
        For spreadsheets: the Record fields the caller uses; an unreadable cell of any other
        field is a warning rather than an error (see :func:`.tabular.parse_table`).

    Returns
    -------
    ImportBatch
        All records of the file, with the file's name, SHA-256 and the warnings.

    Raises
    ------
    InputError
        A missing or empty file, an unknown format or kind, a file without records, and (in
        strict mode) any structural problem, each naming the file and line or row.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: no such file")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:  # refused before it is read into memory
        raise InputError(_too_big(p.name, size))
    return read_records_bytes(
        p.read_bytes(), filename=p.name, format=format, source=source, kind=kind,
        searched_on=searched_on, mapping=mapping, lenient=lenient, fields_used=fields_used,
    )


def read_records_text(
    text: str,
    format: str,
    *,
    filename: str = "<text>",
    source: str | None = None,
    kind: str = "database",
    searched_on: _dt.date | str | None = None,
    mapping: Mapping[str, str] | None = None,
    lenient: bool = False,
    fields_used: Collection[str] | None = None,
) -> ImportBatch:
    """:func:`read_records` for text in memory (encoded as UTF-8 for the checksum)."""
    return read_records_bytes(
        text.encode("utf-8"), filename=filename, format=format, source=source, kind=kind,
        searched_on=searched_on, mapping=mapping, lenient=lenient, fields_used=fields_used,
    )
