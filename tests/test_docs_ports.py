"""The outputs shown in the metafor and GRADE guides are what the commands print today.

In ``docs/guides/from-metafor.md`` and ``docs/guides/grade.md``, a ```` ```sh ```` or
```` ```python ```` block followed (after blank lines only) by a ```` ```text ```` block is run,
the blocks of a page in order, and its standard output must equal the text block. They run in a
temporary folder that links to the repository's files but has an ``out/`` of its own, so this
test and ``tests/test_docs_commands.py`` (which runs the same ``sh`` blocks in the repository)
never delete each other's ``out/docs/<page>/``.

Every ```` ```text ```` block that follows an ```` ```r ```` block must appear in metafor's
committed output, ``docs/guides/metafor_ports.Rout``, so neither side of a port can go stale.

After a deliberate change of output, ``python tests/test_docs_ports.py --write`` rewrites the
text blocks of the metareview commands (never the R ones); read the diff before committing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ROOT / "docs" / "guides"
ROUT = GUIDES / "metafor_ports.Rout"
#: Page name (its outputs go under out/docs/<name>/) -> the page.
PAGES = {"from-metafor": GUIDES / "from-metafor.md", "grade": GUIDES / "grade.md"}
RUNNABLE = ("sh", "python")
TIMEOUT = 180  # seconds per block, as tests/test_docs_commands.py

_FENCE = re.compile(r"^```([A-Za-z]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    lang: str
    body: str
    start: int  # offsets of the body in the page, for --write
    end: int
    gap: str  # the page's text between the previous block and this one


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown page, in order."""
    out, last = [], 0
    for m in _FENCE.finditer(text):
        out.append(Block(m.group(1).lower(), m.group(2), m.start(2), m.end(2),
                         text[last:m.start()]))
        last = m.end()
    return out


def normalise(text: str) -> str:
    """Trailing spaces and surrounding blank lines removed (editors strip them)."""
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()).strip("\n")


def pairs(page: list[Block]) -> list[tuple[int, Block, Block | None]]:
    """Each runnable or R block with the text block right after it (None if there is none)."""
    out = []
    for i, b in enumerate(page):
        if b.lang in RUNNABLE or b.lang == "r":
            nxt = page[i + 1] if i + 1 < len(page) else None
            shown = nxt if nxt is not None and nxt.lang == "text" and not nxt.gap.strip() else None
            out.append((i, b, shown))
    return out


def sandbox(where: Path) -> Path:
    """``where`` as a stand-in repository root: links to every top-level entry but ``out``."""
    for entry in ROOT.iterdir():
        if entry.name != "out":
            (where / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return where


def run(block: Block, cwd: Path) -> str:
    """Run a block in ``cwd`` (a :func:`sandbox`) with the venv first on PATH; its stdout."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "80"  # help and tables do not depend on the terminal
    cmd = (["bash", "-e", "-o", "pipefail", "-c", block.body] if block.lang == "sh"
           else [sys.executable, "-c", block.body])
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode} from\n{block.body}\n{proc.stderr[-3000:]}")
    return proc.stdout


@pytest.mark.parametrize("page", sorted(PAGES))
def test_outputs_match(page: str, tmp_path: Path) -> None:
    """Every output the page shows is what its command prints now."""
    parsed = blocks(PAGES[page].read_text(encoding="utf-8"))
    shown = [(b, t) for _, b, t in pairs(parsed) if b.lang in RUNNABLE]
    assert any(t is not None for _, t in shown), f"{page}: no command with its output"
    root = sandbox(tmp_path)
    wrong = []
    for b, t in shown:
        got = run(b, root)
        if t is not None and normalise(got) != normalise(t.body):
            wrong.append(f"--- {b.body.strip().splitlines()[0]}\npage:\n{t.body}\nnow:\n{got}")
    assert not wrong, "outputs on the page differ from the commands' (see --write):\n" + \
        "\n".join(wrong)


def test_metafor_output_is_committed() -> None:
    """metafor's output on the page is in the committed Rout, block by block."""
    rout = normalise(ROUT.read_text(encoding="utf-8"))
    parsed = blocks(PAGES["from-metafor"].read_text(encoding="utf-8"))
    r_out = [t for _, b, t in pairs(parsed) if b.lang == "r"]
    assert len(r_out) == 3 and all(t is not None for t in r_out), "three ports, each with output"
    # the tight-tolerance excerpts are quoted after prose, not after R code
    quoted = [b for b in parsed if b.lang == "text" and "metafor_ports.Rout" in b.gap]
    for t in [*r_out, *quoted]:
        assert t is not None and normalise(t.body) in rout, f"not in {ROUT.name}:\n{t.body}"


def test_ports_script_and_output_agree() -> None:
    """The committed Rout is the script's output: its section headers are the script's."""
    script = (GUIDES / "metafor_ports.R").read_text(encoding="utf-8")
    heads = re.findall(r'cat\("\\n(## [^"\\]*)', script)
    rout = ROUT.read_text(encoding="utf-8")
    assert heads and [h for h in heads if h in rout] == heads
    assert rout.startswith("R 4.2.2; metafor 3.8.1")


def write() -> None:
    """Rewrite the text blocks after the metareview commands with what they print now."""
    for path in PAGES.values():
        text = path.read_text(encoding="utf-8")
        parsed = blocks(text)
        edits = []
        with tempfile.TemporaryDirectory() as tmp:
            root = sandbox(Path(tmp))
            outputs = [(run(b, root), t) for _, b, t in pairs(parsed) if b.lang in RUNNABLE]
        for got, t in outputs:
            if t is not None:
                body = "\n".join(line.rstrip() for line in got.strip("\n").splitlines())
                edits.append((t.start, t.end, body + "\n"))
        for start, end, body in sorted(edits, reverse=True):
            text = text[:start] + body + text[end:]
        path.write_text(text, encoding="utf-8")
        print(f"{path.relative_to(ROOT)}: {len(edits)} outputs written")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_docs_ports.py --write")
    write()
