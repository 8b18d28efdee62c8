"""Every ```sh block of every documentation page runs, so the commands the site shows work.

The convention (docs/, all pages): the ```sh blocks of one page run in order, from the
repository root, with the test's Python environment (``.venv/bin``) first on PATH, each under
``bash -e -o pipefail`` with a 180 s timeout; a non-zero exit fails the page. Pages write their
outputs under ``out/docs/<page>/`` (``<page>`` is the file name without ``.md``), which is
deleted before and after the page runs. Commands that need a server, a browser or the network
belong in ```text or ```console blocks, which are not run; ```sh blocks hold plain commands,
never a ``$ `` prompt.

The pages of ``tests/test_docs_ports.py`` (its ``PAGES``) run there, under the same convention,
with their outputs compared to the page; this file skips them, so each block runs once and no
two tests write the same ``out/docs/<page>/``. Both files read pages with ``tests/_docs_blocks``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests._docs_blocks import (
    DOCS,
    ROOT,
    TIMEOUT,
    clear_outputs,
    command_env,
    fenced_blocks,
    sh_blocks,
)
from tests.test_docs_ports import PAGES


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if sh_blocks(p.read_text(encoding="utf-8")))


def _run_here(page: Path) -> bool:
    """Whether this file runs the page's commands: test_docs_ports runs its pages' (PAGES) and
    compares their outputs, so each block runs once and no two tests share an out/ folder."""
    return page.resolve() not in {p.resolve() for p in PAGES.values()}


def test_the_convention_finds_blocks() -> None:
    text = "a\n```sh\necho 1\n```\n\n  ```sh\n  echo 2\n  ```\n```text\nno\n```\n"
    assert [(b.line, b.body) for b in sh_blocks(text)] == [(2, "echo 1\n"), (6, "echo 2\n")]
    assert _pages(), "no documentation page has a ```sh block"
    assert all(p in _pages() for p in PAGES.values()), "a PAGES page has no ```sh block"


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_page_blocks_are_commands(page: Path) -> None:
    for b in sh_blocks(page.read_text(encoding="utf-8")):
        prompts = [s for s in b.body.splitlines() if s.startswith("$ ")]
        assert not prompts, f"{page.name}:{b.line}: a ```sh block holds commands, not '$ ' prompts"


@pytest.mark.parametrize("page", [p for p in _pages() if _run_here(p)],
                         ids=lambda p: str(p.relative_to(DOCS)))
def test_page_commands_run(page: Path) -> None:
    blocks = sh_blocks(page.read_text(encoding="utf-8"))
    env = command_env()
    clear_outputs(page)
    try:
        for b in blocks:
            try:
                res = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", b.body], cwd=ROOT,
                                     env=env, capture_output=True, text=True, timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{page.name}:{b.line}: block took more than {TIMEOUT} s:\n{b.body}")
            if res.returncode != 0:
                pytest.fail(f"{page.name}:{b.line}: exit {res.returncode}\n{b.body}\n"
                            f"--- stdout\n{res.stdout[-3000:]}\n--- stderr\n{res.stderr[-3000:]}")
    finally:
        clear_outputs(page)


def test_home_page_example_prints_what_the_page_shows() -> None:
    # the home page's Python example is followed by its output in a ```text block
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    parsed = fenced_blocks(text)
    code = next(b.body for b in parsed if b.lang == "python")
    shown = next(b.body for b in parsed if b.lang == "text")
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
