"""Spreadsheets of records: CSV, TSV and XLSX, with a column mapping.

The first non-blank row is the header. Which column fills which :class:`~.model.Record` field
is given by ``mapping`` (Record field → column name, case-insensitive); fields it leaves out
are matched automatically against common headers (:data:`AUTO_COLUMNS`: ``Title``,
``Abstract``, ``Authors``, ``Year``, ``Source title`` and ``Page start``/``Page end``
(Scopus), Web of Science's two-letter columns (``TI``, ``AU``, ``SO``, ``PY``, ``BP``/``EP``,
``DI``, ``PM``, ``UT`` …), ``DOI``, ``PMID``, ``Author Keywords`` …, our own export's column
names, and ASReview's ``label_included`` / ``included`` for the label). Columns that fill no
field are kept in ``Record.extra`` under their header.

Cells: authors split with :func:`.fields.split_authors` (``;``, ``Smith J, Doe A``, or
BibTeX's ``Smith, John and Doe, Jane`` when every part is a personal name);
keywords split on ``;``; a label cell reads ``1``/``0``/``-1`` (ASReview), ``include`` /
``exclude``, ``yes``/``no``, ``true``/``false``, ``relevant``/``irrelevant``; blank, ``-1``,
``maybe`` and ``not seen`` mean no label. Rows are numbered as a spreadsheet shows them (the
header of a CSV is row 1), and a bad cell gives ``list.csv row 7, column Year: not a year
('20x1')`` (strict) or a warning with the raw text kept in ``extra`` (lenient).

CSV is read as UTF-8 (BOM allowed; Windows-1252 with a warning otherwise) with ``,`` or, when
the header has more of them, ``;`` as the delimiter (Excel in many locales); TSV with tabs;
XLSX (first worksheet) with openpyxl. Old ``.xls`` workbooks are not read. The database the
file came from is the value of a ``Source``/``Database`` column when every row gives the same
one (Scopus writes ``Scopus``), or Web of Science when every ``UT`` starts ``WOS:``.

Damaged files are refused with one line naming the file and where: a CSV quote that is never
closed (it would swallow every later row into one cell) names the line where it opened, in
lenient mode too, since no row after it can be trusted; a workbook that is not a zip, or whose
parts do not decompress or parse, is "not an XLSX workbook, or a damaged one" with the reason.
Bounds: :data:`MAX_COLUMNS` cells a row, :data:`MAX_ROWS` rows, and :data:`MAX_XLSX_UNPACKED`
bytes of decompressed workbook parts (a zip bomb is refused before it is opened).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from metareview.errors import InputError
from metareview.records.fields import (
    Parsed,
    Problems,
    clean_doi,
    clean_pmid,
    decode_text,
    normalise_space,
    parse_year,
    split_authors,
    unique,
)
from metareview.records.model import Record

#: Record fields a column can fill.
FIELDS = ("title", "abstract", "authors", "year", "journal", "volume", "issue", "pages", "doi",
          "pmid", "keywords", "url", "type", "source_key", "label")

#: Headers matched automatically (lower-case, letters and digits only), in order of preference.
AUTO_COLUMNS: dict[str, tuple[str, ...]] = {
    "title": ("title", "articletitle", "documenttitle", "primarytitle", "ti"),
    "abstract": ("abstract", "abstractnote", "ab"),
    "authors": ("authors", "author", "au", "authorlist"),
    "year": ("year", "publicationyear", "pubyear", "yearpublished", "publishedyear", "py"),
    "journal": ("journal", "sourcetitle", "publicationtitle", "journaltitle", "journalname",
                "secondarytitle", "so", "jo"),
    "volume": ("volume", "vol", "vl"),
    "issue": ("issue", "number", "is"),
    "pages": ("pages", "pagerange", "pagination", "page", "pg"),
    "doi": ("doi", "di"),
    "pmid": ("pmid", "pubmedid", "pubmed", "pm"),
    "keywords": ("keywords", "authorkeywords", "manualtags", "kw", "de"),
    "url": ("url", "link", "ur"),
    "type": ("type", "documenttype", "itemtype", "publicationtype", "ty", "dt"),
    # Web of Science: UT is the accession number (its ID column is Keywords Plus)
    "source_key": ("sourcekey", "ut", "id", "recordid", "key"),
    "label": ("label", "labelincluded", "included", "finalincluded", "decision"),
}
#: Most cells a row may have (Web of Science writes ~70 columns, Scopus ~50).
MAX_COLUMNS = 2000
#: Most rows a sheet may have (Excel's own limit; also bounds a CSV).
MAX_ROWS = 1_048_576
#: Most bytes the parts of an XLSX workbook may decompress to.
MAX_XLSX_UNPACKED = 1 << 30

_SOURCE_COLUMNS = ("source", "database", "db", "sourcedatabase")

_INCLUDE = {"1", "include", "included", "yes", "y", "true", "relevant", "i"}
_EXCLUDE = {"0", "exclude", "excluded", "no", "n", "false", "irrelevant", "e"}
_NO_LABEL = {"", "-1", "nan", "none", "null", "na", "maybe", "m", "not seen", "notseen",
             "not_seen", "unlabeled", "unlabelled", "unknown", "?"}


def _norm(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def _cell(v: Any) -> str:
    """A cell as text: integral floats without ``.0``, dates as ISO, ``None`` as ``''``."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, _dt.datetime):
        return v.date().isoformat() if v.time() == _dt.time() else v.isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    return str(v).strip()


def show(text: str) -> str:
    """``text`` for a one-line message: as is when printable, else quoted with escapes.

    Header names and mapping values are user text; a newline or escape sequence in one must
    not split or colour the message that names it.
    """
    return text if text.isprintable() else repr(text)


def _csv_rows(data: bytes, delimiter: str | None, problems: Problems) -> Iterator[tuple[int, list]]:
    text = decode_text(data, problems)
    if delimiter is None:
        head = next((ln for ln in text.split("\n") if ln.strip()), "")
        delimiter = ";" if head.count(";") > head.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = last = 1  # lines where the next and the last record start
    try:
        for n, row in enumerate(reader, 1):
            last, start = start, reader.line_num + 1
            if n > MAX_ROWS:
                problems.error(last, f"more than {MAX_ROWS:,} rows")
            yield n, row
    except csv.Error as exc:
        if "field limit" in str(exc):  # 131,072 characters; Excel's own limit is 32,767
            problems.error(start, f"a cell of more than {csv.field_size_limit():,} characters "
                           "in the row starting here (a quote left open?)")
        problems.error(reader.line_num, f"not valid CSV ({exc})")
    # csv accepts a quote left open at the end of the file, with every later line in its cell
    opened = _open_quote(text, last, delimiter)
    if opened is not None:
        problems.error(opened, "a quote opens a cell here and is never closed (every later "
                       "line would be part of that cell)")


def _open_quote(text: str, line: int, delimiter: str) -> int | None:
    """The line of a quote left open in the record starting at ``line`` of ``text``, if any.

    Follows :mod:`csv`'s non-strict rules: a quote opens a cell only as its first character,
    ``""`` inside is a quote, and after the closing quote the cell runs on to the delimiter.
    """
    pos = 0
    for _ in range(line - 1):
        pos = text.find("\n", pos) + 1
        if pos == 0:
            return None
    boundary = re.compile(f"[{re.escape(delimiter)}\n]")
    n = len(text)
    while pos < n:
        if text[pos] == '"':
            opened = pos
            j = pos + 1
            while True:
                k = text.find('"', j)
                if k < 0:
                    return text.count("\n", 0, opened) + 1
                if text.startswith('"', k + 1):
                    j = k + 2
                    continue
                pos = k + 1
                break
        m = boundary.search(text, pos)
        if m is None:
            return None
        pos = m.end()
    return None


def _why(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    text = str(exc).strip().split("\n", 1)[0][:120]
    kind = type(exc).__name__
    if kind == "error":  # zlib.error, struct.error
        kind = f"{type(exc).__module__}.error"
    return show(f"{kind}: {text}" if text else kind)


def _xlsx_rows(data: bytes, problems: Problems) -> Iterator[tuple[int, list]]:
    import zipfile

    from openpyxl import load_workbook

    damaged = "not an XLSX workbook, or a damaged one"
    # openpyxl has no error type of its own: a damaged zip, deflate stream or XML part surfaces
    # as BadZipFile, zlib.error, ParseError, KeyError, ValueError, TypeError ... so any
    # exception while it reads the bytes means the workbook cannot be read.
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except Exception as exc:
        problems.error(None, f"{damaged} ({_why(exc)})")
    if unpacked > MAX_XLSX_UNPACKED:
        problems.error(None, f"the workbook unpacks to {unpacked:,} bytes, over the limit of "
                       f"{MAX_XLSX_UNPACKED:,}; save it as CSV")
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        ws = wb.worksheets[0]
        # A damaged <dimension> would pad every row to it; read each row as it is instead.
        ws.reset_dimensions()
        rows = ws.iter_rows(values_only=True)
    except Exception as exc:
        problems.error(None, f"{damaged} ({_why(exc)})")
    try:
        n = 0
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except Exception as exc:
                problems.error(None, f"{damaged} ({_why(exc)}, after row {n})")
            n += 1
            if n > MAX_ROWS:
                problems.error(n, f"more than {MAX_ROWS:,} rows", unit="row")
            yield n, list(row)
    finally:
        try:
            wb.close()
        except Exception:  # closing a damaged archive can fail too; nothing is left to read
            pass


def parse_table(
    data: bytes,
    *,
    fmt: str,
    filename: str,
    mapping: Mapping[str, str] | None = None,
    lenient: bool = False,
    fields_used: Collection[str] | None = None,
) -> Parsed:
    """Parse a CSV, TSV or XLSX file of records.

    Parameters
    ----------
    data : bytes
        The file.
    fmt : {'csv', 'tsv', 'xlsx'}
    filename : str
        Used in messages.
    mapping : mapping of str to str, optional
        Record field → column name; other fields are matched with :data:`AUTO_COLUMNS`.
    lenient : bool
        Warn about unreadable cells (raw text kept in ``extra``) instead of raising.
    fields_used : collection of str, optional
        The Record fields the caller will use (e.g. title, abstract and label for a
        simulation). An unreadable cell in a column mapped to any other field is a warning,
        not an error, even in strict mode: a malformed DOI must not stop a command that
        never looks at DOIs.

    Raises
    ------
    InputError
        An unknown field or missing column in ``mapping``; a repeated column name; a row with
        more cells than the header; an unreadable year, DOI, PMID or label (strict); a file
        without data rows; no column for title, abstract, DOI or PMID.
    """
    problems = Problems(filename, lenient)
    text_cells = None if fmt == "xlsx" else str.strip
    if fmt == "xlsx":
        rows = _xlsx_rows(data, problems)
    else:
        rows = _csv_rows(data, "\t" if fmt == "tsv" else None, problems)
    header: list[str] | None = None
    records: list[Record] = []
    cols: dict[str, int] = {}
    other: list[tuple[int, str]] = []
    source_col: int | None = None
    sources: set[str] = set()
    for n, row in rows:
        if len(row) > MAX_COLUMNS:
            problems.error(n, f"{len(row):,} cells, more than the {MAX_COLUMNS:,} a row may "
                           "have", unit="row")
        # A CSV cell is already text (the same as _cell gives it); XLSX cells are typed.
        cells = [_cell(v) for v in row] if text_cells is None else list(map(text_cells, row))
        if not any(cells):
            continue
        if header is None:
            header = cells
            cols, other, source_col = _columns(header, mapping, problems, n)
            continue
        if len(cells) > len(header):
            if any(cells[len(header):]):
                problems.error(n, f"{len(cells)} cells but the header has {len(header)}",
                               unit="row")
            cells = cells[: len(header)]
        cells += [""] * (len(header) - len(cells))
        records.append(_row(n, cells, row, header, cols, other, problems, fields_used))
        if source_col is not None:
            sources.add(cells[source_col])
    if header is None:
        problems.error(None, "the file is empty")
    if not records:
        problems.error(None, "no records (only a header row)")
    source = next(iter(sources)) if len(sources) == 1 and next(iter(sources)) else None
    if source is None and all(r.source_key.startswith("WOS:") for r in records):
        source = "Web of Science"
    return Parsed(tuple(records), tuple(problems.warnings), source)


def _names(header: list[str]) -> str:
    """The header's names for a message, at most 30 of them."""
    names = [show(h) for h in header if h]
    more = f" and {len(names) - 30} more" if len(names) > 30 else ""
    return ", ".join(names[:30]) + more


def _columns(
    header: list[str], mapping: Mapping[str, str] | None, problems: Problems, row: int
) -> tuple[dict[str, int], list[tuple[int, str]], int | None]:
    """Field → column index, the other (named) columns, and the source column if any."""
    by_lower: dict[str, int] = {}
    for k, h in enumerate(header):
        if not h:
            continue
        if h.lower() in by_lower:
            problems.error(row, f"column name {h!r} appears more than once", unit="row")
        by_lower[h.lower()] = k
    cols: dict[str, int] = {}
    for field, column in (mapping or {}).items():
        if field not in FIELDS:
            raise InputError(f"{problems.filename}: mapping {show(f'{field}={column}')}: "
                             f"unknown field {field!r} (fields: {', '.join(FIELDS)})")
        k = by_lower.get(column.strip().lower())
        if k is None:
            raise InputError(f"{problems.filename}: mapping {show(f'{field}={column}')}: no "
                             f"column {column!r} (columns: {_names(header)})")
        cols[field] = k
    by_norm: dict[str, int] = {}
    for k, h in enumerate(header):
        if h:
            by_norm.setdefault(_norm(h), k)
    used = set(cols.values())
    for field, names in AUTO_COLUMNS.items():
        if field in cols:
            continue
        for name in names:
            k = by_norm.get(name)
            if k is not None and k not in used:
                cols[field] = k
                used.add(k)
                break
    # Scopus: Page start / Page end; Web of Science: BP / EP
    for first, last in (("pagestart", "pageend"), ("bp", "ep")):
        if "pages" not in cols and "_page_start" not in cols and first in by_norm:
            cols["_page_start"] = by_norm[first]
            used.add(by_norm[first])
            if last in by_norm:
                cols["_page_end"] = by_norm[last]
                used.add(by_norm[last])
    if not {"title", "abstract", "doi", "pmid"} & set(cols):
        problems.error(row, "no column for title, abstract, DOI or PMID (columns: "
                       f"{_names(header)}); give a mapping", unit="row")
    other = [(k, h) for k, h in enumerate(header) if h and k not in used]
    source_col = next((k for k, h in other if _norm(h) in _SOURCE_COLUMNS), None)
    return cols, other, source_col


def _row(
    n: int,
    cells: list[str],
    native: list[Any],
    header: list[str],
    cols: dict[str, int],
    other: list[tuple[int, str]],
    problems: Problems,
    fields_used: Collection[str] | None = None,
) -> Record:
    def get(field: str) -> str:
        k = cols.get(field)
        return cells[k] if k is not None else ""

    extra: dict[str, str] = {}

    def bad(field: str, what: str) -> None:
        k = cols[field]
        report = (problems.warn if fields_used is not None and field not in fields_used
                  else problems.problem)
        report(n, f"{what} ({cells[k]!r})", unit="row", column=show(header[k]))
        extra[header[k]] = cells[k]

    year = None
    if get("year"):
        k = cols["year"]
        year = parse_year(native[k] if k < len(native) else cells[k])
        if year is None:
            bad("year", "not a year")
    doi = clean_doi(get("doi"))
    if get("doi") and not doi:
        bad("doi", "not a DOI")
    pmid = clean_pmid(get("pmid"))
    if get("pmid") and not pmid:
        bad("pmid", "not a PubMed identifier")
    label = None
    if "label" in cols:
        v = get("label").strip().lower()
        if v.endswith(".0"):
            v = v[:-2]
        if v in _INCLUDE:
            label = "include"
        elif v in _EXCLUDE:
            label = "exclude"
        elif v not in _NO_LABEL:
            bad("label", "not a label (expected 1/0, include/exclude or blank)")
    pages = get("pages")
    if "_page_start" in cols:
        sp = cells[cols["_page_start"]]
        ep = cells[cols["_page_end"]] if "_page_end" in cols else ""
        pages = f"{sp}-{ep}" if sp and ep else sp or ep
    for k, h in other:
        if cells[k]:
            extra[h] = cells[k]
    return Record(
        title=get("title"), abstract=get("abstract"), authors=split_authors(get("authors")),
        year=year, journal=get("journal"), volume=get("volume"), issue=get("issue"),
        pages=pages, doi=doi, pmid=pmid,
        keywords=unique(normalise_space(k) for k in get("keywords").split(";")),
        url=get("url"), type=get("type"), source_key=get("source_key"), line=n, label=label,
        extra=extra,
    )
