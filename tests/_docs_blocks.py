"""The one reader of the documentation's fenced blocks, and how their commands run.

Shared by ``tests/test_docs_commands.py`` (every ```sh block of every page runs) and
``tests/test_docs_ports.py`` (the metafor and GRADE guides' commands print what the page shows),
so both read a page the same way and run its commands in the same environment.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TIMEOUT = 180  # seconds per block

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a Markdown page."""

    lang: str  # the info string's first word, lower case ("" if none)
    body: str  # its lines, each ending in a newline, dedented by the fence's indentation
    line: int  # 1-based line of the opening fence
    indent: str  # the fence's indentation (blocks inside list items are indented)
    start: int  # offsets of the body in the page, for test_docs_ports' --write
    end: int
    gap: str  # the page's text between the previous block and this one


def fenced_blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown page, in page order.

    Parameters
    ----------
    text : str
        The page's Markdown.

    Returns
    -------
    list of Block
        Each block with its language, dedented body, position and the text before it. A block
        closes at a bare fence of its own character at least as long as its opening one; an
        unclosed block runs to the end of the page.
    """
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for s in lines:
        offsets.append(offsets[-1] + len(s))
    out: list[Block] = []
    last, i = 0, 0
    while i < len(lines):
        m = _FENCE.match(lines[i].rstrip("\r\n"))
        if not m:
            i += 1
            continue
        fence, info = m["fence"], m["info"].strip().split()
        lang = info[0].lstrip(".{").rstrip("}").lower() if info else ""
        j = i + 1
        while j < len(lines):
            close = _FENCE.match(lines[j].rstrip("\r\n"))
            if close and close["fence"].startswith(fence[0] * len(fence)) and not close["info"]:
                break
            j += 1
        body = textwrap.dedent("".join(lines[i + 1:j]))
        out.append(Block(lang, body, i + 1, m["indent"], offsets[i + 1], offsets[j],
                         text[last:offsets[i]]))
        last = offsets[min(j + 1, len(lines))]
        i = j + 1
    return out


def sh_blocks(text: str) -> list[Block]:
    """The ```sh blocks of a Markdown page (see :func:`fenced_blocks`)."""
    return [b for b in fenced_blocks(text) if b.lang == "sh"]


def out_dirs(page: Path) -> list[Path]:
    """Where a page's commands write: ``out/docs/<page>/`` (and the nested variant)."""
    rel = page.relative_to(DOCS).with_suffix("")
    return [ROOT / "out" / "docs" / rel.name, ROOT / "out" / "docs" / rel]


def clear_outputs(page: Path) -> None:
    """Delete a page's output folders (before and after its commands run)."""
    for d in out_dirs(page):
        shutil.rmtree(d, ignore_errors=True)


def command_env() -> dict[str, str]:
    """The environment a page's commands run in: the test's venv first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    env["COLUMNS"] = "80"  # help and tables do not depend on the terminal
    env.pop("METAREVIEW_DATABASE_URL", None)  # a page's project uses its own SQLite database
    return env
