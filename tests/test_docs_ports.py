"""The outputs shown in the metafor and GRADE guides are what the commands print today.

In ``docs/guides/from-metafor.md`` and ``docs/guides/grade.md``, a ```` ```sh ```` or
```` ```python ```` block followed (after blank lines only) by a ```` ```text ```` block is run,
the blocks of a page in order, and its standard output must equal the text block. They run as
``tests/test_docs_commands.py`` runs every other page's ``sh`` blocks (from the repository root,
outputs under ``out/docs/<page>/``, deleted before and after), which skips these pages, so each
block runs once and no two tests share an output folder.

Every ```` ```text ```` block that follows an ```` ```r ```` block must appear in metafor's
committed output, ``docs/guides/metafor_ports.Rout``, so neither side of a port can go stale.

After a deliberate change of output, ``python tests/test_docs_ports.py --write`` rewrites the
text blocks of the metareview commands (never the R ones); read the diff before committing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

if __package__ in (None, ""):  # run as a script (--write): make the tests package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests._docs_blocks import ROOT, TIMEOUT, Block, clear_outputs, command_env, fenced_blocks

GUIDES = ROOT / "docs" / "guides"
ROUT = GUIDES / "metafor_ports.Rout"
#: Page name (its outputs go under out/docs/<name>/) -> the page.
PAGES = {"from-metafor": GUIDES / "from-metafor.md", "grade": GUIDES / "grade.md"}
RUNNABLE = ("sh", "python")


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


def run(block: Block) -> str:
    """Run a block from the repository root in the pages' environment; its stdout."""
    cmd = (["bash", "-e", "-o", "pipefail", "-c", block.body] if block.lang == "sh"
           else [sys.executable, "-c", block.body])
    proc = subprocess.run(cmd, cwd=ROOT, env=command_env(), capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"line {block.line}: exit {proc.returncode} from\n{block.body}\n"
                             f"{proc.stderr[-3000:]}")
    return proc.stdout


def run_page(path: Path) -> list[tuple[Block, str, Block | None]]:
    """Run a page's runnable blocks in order: each block, its stdout and the text block shown.

    The page's ``out/docs/<page>/`` is deleted before and after, as tests/test_docs_commands.py
    does for the other pages; the blocks of a page share it while they run.
    """
    clear_outputs(path)
    try:
        return [(b, run(b), t) for _, b, t in pairs(fenced_blocks(path.read_text(encoding="utf-8")))
                if b.lang in RUNNABLE]
    finally:
        clear_outputs(path)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_outputs_match(page: str) -> None:
    """Every output the page shows is what its command prints now."""
    outputs = run_page(PAGES[page])
    assert any(t is not None for _, _, t in outputs), f"{page}: no command with its output"
    wrong = []
    for b, got, t in outputs:
        if t is not None and normalise(got) != normalise(t.body):
            wrong.append(f"--- {b.body.strip().splitlines()[0]}\npage:\n{t.body}\nnow:\n{got}")
    assert not wrong, "outputs on the page differ from the commands' (see --write):\n" + \
        "\n".join(wrong)


def test_metafor_output_is_committed() -> None:
    """metafor's output on the page is in the committed Rout, block by block."""
    rout = normalise(ROUT.read_text(encoding="utf-8"))
    parsed = fenced_blocks(PAGES["from-metafor"].read_text(encoding="utf-8"))
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
        edits = []
        for _, got, t in run_page(path):
            if t is not None:
                body = "".join(t.indent + line.rstrip() + "\n"
                               for line in got.strip("\n").splitlines())
                edits.append((t.start, t.end, body))
        for start, end, body in sorted(edits, reverse=True):
            text = text[:start] + body + text[end:]
        path.write_text(text, encoding="utf-8")
        print(f"{path.relative_to(ROOT)}: {len(edits)} outputs written")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_docs_ports.py --write")
    write()
