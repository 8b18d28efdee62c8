"""Damaged spreadsheets, oversized files and control characters (issue 12, hardening).

Every malformed input must give one :class:`InputError` line naming the file and where; every
record stored must be free of NUL, control characters and ANSI escape sequences, the same on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metareview.errors import InputError
from metareview.records import readers, tabular
from metareview.records.model import Record
from metareview.records.readers import clean_records, one_line, read_records, read_records_bytes
from metareview.store.project import Project


def xlsx(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def error(data: bytes, filename: str, **kw) -> str:
    with pytest.raises(InputError) as e:
        read_records_bytes(data, filename=filename, source="x", **kw)
    text = str(e.value)
    assert "\n" not in text and "\x1b" not in text
    return text


# ------------------------------------------------------------------------------------ XLSX


def test_flipped_byte_in_sheet_xml_is_one_line_error():
    data = xlsx([["Title", "Year"], ["Ketamine for CRPS", 2019], ["Ketamine in dogs", 2018]])
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    reasons = set()
    for k in range(0, info.compress_size, 4):
        damaged = bytearray(data)
        damaged[start + k] ^= 0x55
        try:
            batch = read_records_bytes(bytes(damaged), filename="w.xlsx", source="x")
        except InputError as e:
            message = str(e)
        else:  # a flip in the stream's unused padding bits changes nothing
            assert [r.title for r in batch.records] == ["Ketamine for CRPS", "Ketamine in dogs"]
            continue
        assert "\n" not in message
        assert message.startswith("w.xlsx: not an XLSX workbook, or a damaged one (")
        reasons.add(message.split("(", 1)[1].split(":", 1)[0])
    # the deflate stream breaks (zlib.error) or its checksum does (BadZipFile)
    assert reasons <= {"zlib.error", "BadZipFile"} and "zlib.error" in reasons


def _edit_sheet(data: bytes, edit) -> bytes:
    """The workbook ``data`` with its first sheet's XML passed through ``edit``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = edit(body)
            out.writestr(info, body)
    return buf.getvalue()


def test_sheet_xml_that_does_not_parse():
    data = _edit_sheet(xlsx([["Title"], ["A"]]),
                       lambda body: body.replace(b"</sheetData>", b"<row r="))
    message = error(data, "w.xlsx")
    assert message.startswith("w.xlsx: not an XLSX workbook, or a damaged one (ParseError: ")


def test_workbook_that_unpacks_too_big(monkeypatch):
    data = xlsx([["Title"], ["A"]])
    monkeypatch.setattr(tabular, "MAX_XLSX_UNPACKED", 1000)
    unpacked = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
    assert error(data, "w.xlsx") == (f"w.xlsx: the workbook unpacks to {unpacked:,} bytes, over "
                                     "the limit of 1,000; save it as CSV")


def test_damaged_dimension_does_not_pad_rows():
    # a <dimension> claiming 16384 columns used to pad every row to that width
    wide = b'<dimension ref="A1:XFD9" />'
    # openpyxl writes the element with or without a space before "/>", by version
    data = _edit_sheet(xlsx([["Title"], ["A"]]),
                       lambda body: re.sub(rb'<dimension ref="A1:A2"\s*/>', wide, body))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert wide in z.read("xl/worksheets/sheet1.xml")
    (r,) = read_records_bytes(data, filename="w.xlsx", source="x").records
    assert (r.title, r.line, r.extra) == ("A", 2, {})


# ------------------------------------------------------------------------------------- CSV


def test_header_with_newline_stays_one_line():
    data = b'"Ti\ntle X",Year\nA,2020\n'
    assert error(data, "t.csv") == (r"t.csv row 1: no column for title, abstract, DOI or PMID "
                                    r"(columns: 'Ti\ntle X', Year); give a mapping")


def test_bad_cell_under_a_header_with_control_characters():
    data = b'Title,"Ye\x1bar"\nA,20x1\n'
    assert error(data, "t.csv", mapping={"year": "Ye\x1bar"}) == (
        "t.csv row 2, column 'Ye\\x1bar': not a year ('20x1')")


def test_mapping_to_a_missing_column_quotes_it():
    assert error(b"Title\nA\n", "t.csv", mapping={"doi": "D\nOI"}) == (
        "t.csv: mapping 'doi=D\\nOI': no column 'D\\nOI' (columns: Title)")


@pytest.mark.parametrize("lenient", [False, True])
def test_unterminated_quote_names_the_line_it_opened(lenient):
    data = b'Title,Year\nA,2019\nB,"2020\nC,2021\nD,2022\n'
    assert error(data, "q.csv", lenient=lenient) == (
        "q.csv line 3: a quote opens a cell here and is never closed (every later line would "
        "be part of that cell)")
    # after a multi-line quoted cell, the line counted is the one of the open quote
    data = b'Title,Abstract\nA,"two\nlines"\n"B\n'
    assert error(data, "q.csv").startswith("q.csv line 4: a quote opens a cell here")


def test_closed_quotes_are_not_taken_for_open_ones():
    data = b'Title,Abstract\n"A ""quoted"" word","x, y"\nB "inch",plain\n"C"d,"last\ncell"'
    a, b, c = read_records_bytes(data, filename="q.csv", source="x").records
    assert (a.title, a.abstract) == ('A "quoted" word', "x, y")
    assert (b.title, c.title, c.abstract) == ('B "inch"', "Cd", "last\ncell")


def test_cell_over_the_csv_field_limit_names_the_row_it_starts():
    data = b'Title,Abstract\nA,x\nB,"' + b"a long line of an abstract\n" * 6000 + b'"\n'
    assert error(data, "big.csv") == ("big.csv line 3: a cell of more than 131,072 characters "
                                      "in the row starting here (a quote left open?)")


def test_semicolon_csv_with_open_quote():
    data = b'Title;Year\nA;2019\nB;"2020\n'
    assert error(data, "q.csv").startswith("q.csv line 3: a quote opens a cell here")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfeT\x00i\x00t\x00l\x00e\x00\n\x00A", "u.csv line 2: not valid UTF-16 text "
         "(truncated data at byte 14)"),
        (b"\xff\xfeT\x00i\x00\n\x00\x00\xd8A\x00", "u.csv line 2: not valid UTF-16 text "
         "(illegal UTF-16 surrogate at byte 8)"),
        (b"\xfe\xff\x00T\x00\n\xdc\x00", "u.csv line 2: not valid UTF-16 text "
         "(illegal encoding at byte 6)"),
    ],
)
def test_broken_utf16(data, message):
    assert error(data, "u.csv") == message


def test_broken_utf16_in_a_text_format():
    assert error(b"\xff\xfeT\x00Y\x00 ", "u.ris", format="ris") == (
        "u.ris line 1: not valid UTF-16 text (truncated data at byte 6)")


def test_row_with_too_many_cells(monkeypatch):
    monkeypatch.setattr(tabular, "MAX_COLUMNS", 3)
    assert error(b"Title,a,b\nA,1,2\nB,1,2,3,4\n", "t.csv") == (
        "t.csv row 3: 5 cells, more than the 3 a row may have")


# ------------------------------------------------------------------------------ size caps


def test_file_over_the_size_cap(monkeypatch, tmp_path):
    monkeypatch.setattr(readers, "MAX_FILE_BYTES", 1024 * 1024)
    p = tmp_path / "big.ris"
    p.write_bytes(b"TY  - JOUR\nTI  - x\nER  - \n" * 60_000)  # 1,560,000 bytes
    expected = "big.ris: 1.5 MiB, over the 1 MiB limit for one file; split the export"
    with pytest.raises(InputError) as e:
        read_records(p)
    assert str(e.value) == expected
    assert error(p.read_bytes(), "big.ris") == expected


def test_too_many_records(monkeypatch):
    monkeypatch.setattr(readers, "MAX_RECORDS", 2)
    data = b"TY  - JOUR\nTI  - x\nER  - \n" * 3
    assert error(data, "r.ris") == ("r.ris: more than 2 records, the most one file may hold; "
                                    "split the export")
    # a CSV counts rows after parsing (a cell may hold line breaks)
    data = b'Title,Abstract\nA,"x\ny\nz"\nB,"x\ny"\n'
    assert len(read_records_bytes(data, filename="r.csv", source="x").records) == 2
    assert error(data + b"C,z\n", "r.csv") == ("r.csv: 3 records, more than the 2 one file "
                                                "may hold; split the export")
    # the exact count after parsing when the quick count is not over (UTF-16 is not counted)
    data = ("TY  - JOUR\nTI  - x\nER  - \n" * 3).encode("utf-16")
    assert error(data, "r.ris") == ("r.ris: 3 records, more than the 2 one file may hold; "
                                    "split the export")
    data = ("TY  - JOUR\nTI  - x\nER  - \n" * 2).encode("utf-16")
    assert len(read_records_bytes(data, filename="r.ris", source="x").records) == 2


# --------------------------------------------------------------------- control characters


def test_nul_and_ansi_removed_from_ris():
    data = (b"TY  - JOUR\nTI  - a\x00b\x1b[31mred\nAU  - Smith\x1b[0m, J\nAB  - line one\tA\n"
            b"KW  - pain\x07\nN1  - note\xc2\x9b\nER  - \n\nTY  - JOUR\nTI  - clean\nER  - \n")
    b = read_records_bytes(data, filename="c.ris", source="x")
    r1, r2 = b.records
    assert (r1.title, r1.authors, r1.abstract, r1.keywords) == (
        "abred", ("Smith, J",), "line one\tA", ("pain",))
    assert r1.extra == {"N1": "note"}
    assert r2.title == "clean"
    assert b.warnings == ("c.ris: removed 5 control characters (NUL, escape sequences, other "
                          "control characters) from 1 record",)


def test_csv_cells_cleaned_and_tabs_in_titles_become_spaces():
    data = b'Title,Abstract,Notes\n"A\tB \x00\r\nC","one\r\ntwo\x1b[1;32m",x\x1bq\n'
    b = read_records_bytes(data, filename="c.csv", source="x")
    (r,) = b.records
    # decode_text made CR LF a newline; the title keeps it (as a multi-line RIS title does)
    assert (r.title, r.abstract, r.extra) == ("A B \nC", "one\ntwo", {"Notes": "xq"})
    assert b.warnings == ("c.csv: removed 3 control characters (NUL, escape sequences) from 1 "
                          "record",)


def test_clean_records_directly():
    recs = (Record(title="x\ty", abstract="p\rq\x0cr", extra={"K\x00": "v\x85"}),
            Record(title="plain"))
    out, removed = clean_records(recs)
    assert out[0] == Record(title="x y", abstract="p\nq\nr", extra={"K": "v"})
    assert out[1] is recs[1]
    assert (removed.nul, removed.escapes, removed.other, removed.records) == (1, 0, 1, 1)


_CHARS = st.sampled_from(["a", "Z", " ", "\t", "\n", "\r", "\x0b", "\x0c", "\x00", "\x1b",
                          "[", "3", "m", "\x7f", "\x85", "\x9f", "\xa0", "±", "é", "\u2028",
                          "\u200b", "漢"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(_CHARS, max_size=8), st.text(_CHARS, max_size=8),
                          st.lists(st.text(_CHARS, max_size=4), max_size=2)),
                min_size=1, max_size=4))
def test_clean_records_equals_cleaning_every_record(fields):
    # The printable shortcut skips only records that cleaning would leave as they are.
    recs = tuple(Record(title=t, abstract=a, authors=tuple(au)) for t, a, au in fields)
    out, removed = clean_records(recs)
    ref = readers.Removed()
    expect = tuple(readers._clean_record(r, ref) for r in recs)
    assert out == expect
    assert (removed.nul, removed.escapes, removed.other) == (ref.nul, ref.escapes, ref.other)


def test_one_line():
    assert one_line("a\nb\x1b[0m\tc") == r"a\nb\x1b[0m\tc"


def test_parser_messages_quoting_control_characters_stay_one_line(monkeypatch):
    def broken(*args):
        raise InputError("f.ris line 3: bad tag 'A\nB'", parameter="lenient")

    monkeypatch.setattr(readers, "_parse", broken)
    with pytest.raises(InputError) as e:
        read_records_bytes(b"TY  - JOUR\n", filename="f.ris")
    assert (str(e.value), e.value.parameter) == (r"f.ris line 3: bad tag 'A\nB'", "lenient")


def test_stored_text_is_the_same_on_sqlite_and_postgresql(tmp_path, db_url):
    # PostgreSQL refuses NUL in text (psycopg.DataError) and in JSON; nothing of it arrives
    data = (b"TY  - JOUR\nTI  - a\x00b\x1b[31mred\nAB  - x\x00y\nN1  - n\x00\x1b]0\nER  - \n"
            b"\nTY  - JOUR\nTI  - second\x00\nER  - \n")
    batch = read_records_bytes(data, filename="nul.ris", source="Embase")
    with Project.create(tmp_path / "rv", "nul", db_url=db_url) as project:
        project.add_import(batch)
        stored = [s.record for s in project.records().values()]
    assert [(r.title, r.abstract, dict(r.extra)) for r in stored] == [
        ("abred", "xy", {"N1": "n]0"}), ("second", "", {})]
    assert project.imports()[0]["filename"] == "nul.ris"


@pytest.mark.parametrize("fmt", ["ris", None])
def test_a_file_name_with_a_line_break_is_escaped_in_every_message(fmt):
    from metareview.records.readers import read_records_bytes

    with pytest.raises(InputError) as err:
        read_records_bytes(b"", filename="a\nb\x1b[31m.ris", format=fmt)
    assert str(err.value).startswith("a\\nb\\x1b[31m.ris: ")
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)
    # the batch keeps the name as given; only messages escape it
    batch = read_records_bytes(b"TY  - JOUR\nTI  - x\nER  - \n", filename="a\nb.ris",
                               source="x")
    assert batch.filename == "a\nb.ris"
