"""Issue 18: what a reviewer enters is never lost or misread.

The screening commands tried as a new user would: piped keys through the real command line
(a subprocess), resolving conflicts, exporting the state of every record, the PRISMA diagram
with conflicts pending, and ``progress`` when nothing is left.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metareview.cli import app
from metareview.records.model import ImportBatch, Record
from metareview.store.project import Project

TA, FT = "title_abstract", "full_text"
SRC = Path(__file__).resolve().parent.parent / "src"
runner = CliRunner()


def _review(root: Path, n: int, *, required: int = 2) -> Path:
    """A project holding ``n`` database records (ids 1..n); returns its folder."""
    with Project.create(root, "test", reviewers_required=required) as r:
        recs = tuple(Record(title=f"Trial number {i}", abstract=f"Abstract {i}.", year=2001)
                     for i in range(1, n + 1))
        r.add_import(ImportBatch(recs, "PubMed", kind="database", format="ris",
                                 filename="x.ris", sha256="ab"))
    return root


def _cli(*args: object, code: int = 0) -> str:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == code, res.output
    return res.output


def _history(root: Path) -> list[tuple[int, str, str, str | None, str | None]]:
    with Project.open(root) as r:
        return [(h["record"], h["kind"], h["reviewer"], h["value"], h["reason"])
                for h in r.history()]


# -- 3 and 4: conflicts --resolve -----------------------------------------------------------


def _with_conflicts(root: Path) -> Path:
    """Records 1-3 in conflict at title/abstract (ann includes, bob excludes); 4 agreed."""
    _review(root, 4)
    with Project.open(root) as r:
        for rid in (1, 2, 3):
            r.decide(rid, TA, "ann", "include")
            r.decide(rid, TA, "bob", "exclude")
        r.decide(4, TA, "ann", "include")
        r.decide(4, TA, "bob", "include")
    return root


@pytest.mark.parametrize("word", ["yes", "no", "y", "n", "true", "1", "maybe", "m", ""])
def test_resolve_refuses_anything_but_a_decision(tmp_path, word):
    root = _with_conflicts(tmp_path / "r")
    before = _history(root)
    res = runner.invoke(app, ["conflicts", "-r", str(root), "--by", "carol",
                              "--resolve", "1=include", "--resolve", f"2={word}"])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("metareview: error: --resolve '2=")
    # nothing stored, not even the good item before the bad one
    assert _history(root) == before


@pytest.mark.parametrize(("word", "value"), [("include", "include"), ("I", "include"),
                                             ("e", "exclude"), ("Exclude", "exclude")])
def test_resolve_accepts_the_words_and_their_letters(tmp_path, word, value):
    root = _with_conflicts(tmp_path / "r")
    _cli("conflicts", "-r", root, "--by", "carol", "--resolve", f"2={word}")
    assert _history(root)[-1] == (2, "resolve", "carol", value, None)


def test_resolve_prints_what_was_resolved_and_how_many_remain(tmp_path):
    root = _with_conflicts(tmp_path / "r")
    out = _cli("conflicts", "-r", root, "--by", "carol", "--resolve", "1=include",
               "--resolve", "3=e")
    assert out.splitlines() == [
        "record 1 resolved at title_abstract: include by carol",
        "record 3 resolved at title_abstract: exclude by carol",
        "1 conflict remains at title_abstract (metareview conflicts lists them)"]
    assert "Trial number 2" not in out and "kappa" not in out.lower()
    got = json.loads(_cli("conflicts", "-r", root, "--by", "dan", "--resolve", "2=i",
                          "--json"))
    assert got == {"stage": TA, "by": "dan", "remaining": 0,
                   "resolved": [{"record": 2, "value": "include", "reason": None}]}
    # the full list is still what plain `conflicts` shows
    listing = json.loads(_cli("conflicts", "-r", root, "--json"))
    assert listing["conflicts"] == [] and listing["agreement"] is not None
