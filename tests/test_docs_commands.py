"""Every ```sh block of every documentation page runs, so the commands the site shows work.

The convention (docs/, all pages): the ```sh blocks of one page run in order, from the
repository root, with the test's Python environment (``.venv/bin``) first on PATH, each under
``bash -e -o pipefail`` with a 180 s timeout; a non-zero exit fails the page. Pages write their
outputs under ``out/docs/<page>/`` (``<page>`` is the file name without ``.md``), which is
deleted before and after the page runs. Commands that need a server, a browser or the network
belong in ```text or ```console blocks, which are not run; ```sh blocks hold plain commands,
never a ``$ `` prompt.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TIMEOUT = 180  # seconds per block

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")


def sh_blocks(text: str) -> list[tuple[int, str]]:
    """The ```sh blocks of a Markdown page, with the line each starts on.

    Parameters
    ----------
    text : str
        The page's Markdown.

    Returns
    -------
    list of (int, str)
        1-based line number of the opening fence and the block's text, dedented by the fence's
        indentation (blocks inside list items are indented).
    """
    blocks: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m["fence"], m["info"].strip().split()
        lang = info[0].lstrip(".{").rstrip("}") if info else ""
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            close = _FENCE.match(lines[j])
            if close and close["fence"].startswith(fence[0] * len(fence)) and not close["info"]:
                break
            body.append(lines[j])
            j += 1
        if lang == "sh":
            blocks.append((i + 1, textwrap.dedent("\n".join(body))))
        i = j + 1
    return blocks


def fenced(text: str, lang: str) -> list[str]:
    """The bodies of the fenced blocks tagged ``lang``, in page order (see :func:`sh_blocks`)."""
    pattern = re.compile(rf"^```{lang}[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
    return [m.group(1) for m in pattern.finditer(text)]


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if sh_blocks(p.read_text(encoding="utf-8")))


def _out_dirs(page: Path) -> list[Path]:
    rel = page.relative_to(DOCS).with_suffix("")
    return [ROOT / "out" / "docs" / rel.name, ROOT / "out" / "docs" / rel]


def test_the_convention_finds_blocks() -> None:
    text = "a\n```sh\necho 1\n```\n\n  ```sh\n  echo 2\n  ```\n```text\nno\n```\n"
    assert sh_blocks(text) == [(2, "echo 1"), (6, "echo 2")]
    assert _pages(), "no documentation page has a ```sh block"


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_page_commands_run(page: Path) -> None:
    blocks = sh_blocks(page.read_text(encoding="utf-8"))
    for line, block in blocks:
        prompts = [s for s in block.splitlines() if s.startswith("$ ")]
        assert not prompts, f"{page.name}:{line}: a ```sh block holds commands, not '$ ' prompts"
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    env.pop("METAREVIEW_DATABASE_URL", None)  # a page's project uses its own SQLite database
    for d in _out_dirs(page):
        shutil.rmtree(d, ignore_errors=True)
    try:
        for line, block in blocks:
            try:
                res = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=ROOT,
                                     env=env, capture_output=True, text=True, timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{page.name}:{line}: block took more than {TIMEOUT} s:\n{block}")
            if res.returncode != 0:
                pytest.fail(f"{page.name}:{line}: exit {res.returncode}\n{block}\n"
                            f"--- stdout\n{res.stdout[-3000:]}\n--- stderr\n{res.stderr[-3000:]}")
    finally:
        for d in _out_dirs(page):
            shutil.rmtree(d, ignore_errors=True)


def test_home_page_example_prints_what_the_page_shows() -> None:
    # the home page's Python example is followed by its output in a ```text block
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    code, shown = fenced(text, "python")[0], fenced(text, "text")[0]
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr
    assert res.stdout == shown


def test_site_link_check_finds_dead_links(tmp_path) -> None:
    spec = importlib.util.spec_from_file_location("check_site_links",
                                                  ROOT / "tools" / "check_site_links.py")
    links = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(links)
    (tmp_path / "guides").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="guides/a.html#top">a</a> <a href="guides/b.html">b</a> <a href="#x">x</a>'
        ' <a href="https://example.org/">out</a> <img src="/img/p.png">')
    (tmp_path / "guides" / "a.html").write_text('<h1 id="intro">A</h1><a href="../index.html">')
    assert links.dead_links(tmp_path) == [
        "index.html: guides/a.html#top (no such anchor)", "index.html: guides/b.html",
        "index.html: /img/p.png"]
    assert links.main([str(tmp_path / "nowhere")]) == 1
