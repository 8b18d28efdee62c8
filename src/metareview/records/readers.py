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
"""

from __future__ import annotations

import datetime as _dt
import gc
import hashlib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from metareview.errors import InputError
from metareview.records.fields import Parsed, Problems, decode_text
from metareview.records.model import ImportBatch

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
) -> ImportBatch:
    """Parse the bytes of one file; see :func:`read_records` for the parameters."""
    if kind not in KINDS:
        raise InputError(f"{filename}: kind {kind!r} is not one of {', '.join(KINDS)}")
    when = _date(searched_on)
    if format is None:
        fmt = detect_format(filename, data)
    else:
        fmt = _ALIASES.get(format.strip().lower(), "")
        if not fmt:
            raise InputError(f"{filename}: unknown format {format!r} (formats: "
                             f"{', '.join(FORMATS)})")
    if mapping and fmt not in ("csv", "tsv", "xlsx"):
        raise InputError(f"{filename}: a column mapping applies to csv, tsv and xlsx files, "
                         f"not {fmt}")
    if not data.strip():
        raise InputError(f"{filename}: the file is empty")
    with _gc_paused():
        parsed = _parse(data, fmt, filename, mapping, lenient)
    warnings = list(parsed.warnings)
    name = source.strip() if source and source.strip() else parsed.source
    if not name:
        name = "unknown"
        warnings.append(f"{filename}: the source database was not given and the file does not "
                        "name it; recorded as 'unknown'")
    return ImportBatch(
        records=parsed.records,
        source=name,
        kind=kind,
        format=fmt,
        filename=filename,
        sha256=hashlib.sha256(data).hexdigest(),
        searched_on=when,
        warnings=tuple(warnings),
    )


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
           lenient: bool) -> Parsed:
    if fmt in ("csv", "tsv", "xlsx"):
        from metareview.records.tabular import parse_table

        return parse_table(data, fmt=fmt, filename=filename, mapping=mapping, lenient=lenient)
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
    return read_records_bytes(
        p.read_bytes(), filename=p.name, format=format, source=source, kind=kind,
        searched_on=searched_on, mapping=mapping, lenient=lenient,
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
) -> ImportBatch:
    """:func:`read_records` for text in memory (encoded as UTF-8 for the checksum)."""
    return read_records_bytes(
        text.encode("utf-8"), filename=filename, format=format, source=source, kind=kind,
        searched_on=searched_on, mapping=mapping, lenient=lenient,
    )
