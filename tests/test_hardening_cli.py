"""Issue 12's reproducers through the command line, as a user meets them.

Each malformed file ends with exactly one line on stderr naming the file and why, exit status 2,
and nothing stored; each well-formed but hostile file is imported correctly and quickly. The
parsers' own tests check the details; these check the promise end to end. A hang fails through
the subprocess timeout, not through a timing assertion.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from metareview.store.project import Project

TIMEOUT = 60


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metareview.cli", *args], capture_output=True,
                          text=True, timeout=TIMEOUT, cwd=cwd)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    out = run("init", str(tmp_path / "rv"))
    assert out.returncode == 0, out.stderr
    return tmp_path / "rv"


def _xlsx_with_flipped_byte() -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["title", "year"])
    ws.append(["A trial of something", 2020])
    buf = io.BytesIO()
    wb.save(buf)
    data = bytearray(buf.getvalue())
    # Flip one byte inside the compressed body of the worksheet.
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
    body = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[body + info.compress_size // 2] ^= 0xFF
    return bytes(data)


def _chained_strings(n: int) -> str:
    lines = ['@string{a0 = "xy"}']
    lines += [f"@string{{a{i} = a{i - 1} # a{i - 1}}}" for i in range(1, n)]
    return "\n".join(lines) + f"\n@article{{k, title = a{n - 1}}}\n"


REFUSED = [
    # (file name, content, words the one line must contain)
    ("chain.bib", _chained_strings(40).encode(), ["chain.bib"]),
    ("accent.bib", "@article{k, title = été}\n".encode(), ["accent.bib"]),
    ("nested.bib", ("@article{k, title = " + "{" * 3000 + "x" + "}" * 3000 + "}\n").encode(),
     ["nested.bib"]),
    ("odd16.ris", b"\xff\xfe" + "TY  - JOUR\r\nTI  - t\r\nER  - \r\n".encode("utf-16-le")[:-1],
     ["odd16.ris"]),
    ("surrogate.ris", b"\xff\xfe" + "TY  - JOUR\r\nTI  - ".encode("utf-16-le") + b"\x00\xd8"
     + "t\r\nER  - \r\n".encode("utf-16-le"), ["surrogate.ris"]),
    ("corrupt.xlsx", _xlsx_with_flipped_byte(), ["corrupt.xlsx"]),
    ("enc.xml", b'<?xml version="1.0" encoding="x-nonsense"?><PubmedArticleSet/>',
     ["enc.xml"]),
    ("quote.csv", b'title,year\n"An unterminated title,2020\nSecond,2021\n', ["quote.csv"]),
    # a header cell with a line break, named in the error: escaped, the message stays one line
    ("header.csv", b'"ti\ntle",year\nA,2020\n', ["header.csv", "'ti\\ntle'"]),
]
EXTRA = {"header.csv": ["--map", "title=Foo"]}


@pytest.mark.parametrize(("name", "content", "words"), REFUSED, ids=[r[0] for r in REFUSED])
def test_malformed_file_is_one_line_exit_2_and_nothing_stored(project, name, content, words):
    path = project / name
    path.write_bytes(content)
    out = run("import", str(path), "--source", "Test", "--review", str(project),
              *EXTRA.get(name, []))
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    for w in words:
        assert w in lines[0]
    with Project.open(project) as rv:
        assert rv.records() == {}
        assert rv.imports() == []


def test_long_doi_line_in_medline_is_read_quickly(project):
    path = project / "a.nbib"
    path.write_text("PMID- 1\nTI  - t\nAID - " + "x" * 60000 + "\n")
    out = run("import", str(path), "--review", str(project), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["imported"] == 1


def test_control_characters_are_removed_with_a_warning(project):
    path = project / "ctl.nbib"
    path.write_bytes(b"PMID- 1\nTI  - a\x00b\x1b[31mred\nAB  - x\n")
    out = run("import", str(path), "--review", str(project))
    assert out.returncode == 0, out.stderr
    assert "control character" in (out.stdout + out.stderr)
    with Project.open(project) as rv:
        (stored,) = rv.records().values()
    assert stored.record.title == "abred"
