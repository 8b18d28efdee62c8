"""Issue 18: what a reviewer enters is never lost or misread.

The screening commands tried as a new user would: piped keys through the real command line
(a subprocess), resolving conflicts, exporting the state of every record, the PRISMA diagram
with conflicts pending, and ``progress`` when nothing is left.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
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


# -- 1: piped keys through the real command line ---------------------------------------------


def _screen(root: Path, keys: str, *args: str) -> subprocess.CompletedProcess:
    """``printf KEYS | metareview screen --reviewer zed ARGS`` in a real process (a pipe,
    not a terminal: the keys come line by line)."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "100", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "metareview", "screen", "--reviewer", "zed", "--query",
         "random", *args], input=keys, capture_output=True, text=True, cwd=root, env=env,
        timeout=120)


def _zed(root: Path) -> list[tuple[int, str, str | None]]:
    return [(r, v, why) for r, kind, who, v, why in _history(root)
            if who == "zed" and kind == "vote"]


def test_piped_keys_store_the_exclusion_at_title_abstract(tmp_path):
    # the session: i e m u s q. The exclusion used to wait for a reason that the
    # next four keys were taken for, and was lost when input ended.
    root = _review(tmp_path / "r", 6)
    res = _screen(root, "i\ne\nm\nu\ns\nq\n")
    assert res.returncode == 0, res.stderr
    assert _zed(root) == [(1, "include", None), (2, "exclude", None), (3, "maybe", None)]
    assert [k for _, k, *_ in _history(root)] == ["vote", "vote", "vote", "undo"]
    with Project.open(root) as r:
        assert r.own_labels(TA, "zed") == {1: "include", 2: "exclude"}
    assert "Reason" not in res.stdout  # nothing is asked at title/abstract
    assert ("3 decisions stored at title/abstract by zed (1 include, 1 exclude, 1 maybe); "
            "1 undone; 1 skipped; 4 left in the queue; stopped: quit") in res.stdout


def test_piped_keys_with_reasons_asked_at_title_abstract(tmp_path):
    # a project that asks for reasons: offered after the vote is stored; an answer that is
    # a key goes on as the next key
    root = tmp_path / "r"
    _cli("init", root, "--ta-reasons")
    with Project.open(root) as r:
        assert r.settings()["ta_reasons"] is True
        r.add_import(ImportBatch(tuple(Record(title=f"T {i}") for i in range(5)), "PubMed",
                                 kind="database", format="ris", filename="x.ris", sha256="a"))
    res = _screen(root, "e\n3\ni\ne\nm\ne\n")
    assert res.returncode == 0, res.stderr
    assert _zed(root) == [(1, "exclude", None), (1, "exclude", "wrong comparator"),
                          (2, "include", None), (3, "exclude", None), (4, "maybe", None),
                          (5, "exclude", None)]  # input ended at the last offer: still stored
    assert "Record 1 excluded (saved). Reason, if you wish:" in res.stdout


def test_piped_keys_at_full_text_never_drop_an_exclusion_silently(tmp_path):
    # citation-search records go straight to full text
    root = tmp_path / "r"
    _cli("init", root, "--single")
    with Project.open(root) as r:
        r.add_import(ImportBatch(tuple(Record(title=f"T {i}") for i in range(4)), "Hand",
                                 kind="citation", format="ris", filename="x.ris", sha256="a"))
    # e then m: the exclusion is not stored (no reason) and m is read as the next key;
    # e then 5: stored with its reason; e then end of input: not stored, and said so
    res = _screen(root, "e\nm\ne\nx\n5\ne\n", "--stage", "ft")
    assert res.returncode == 0, res.stderr
    assert _zed(root) == [(1, "maybe", None), (2, "exclude", "wrong study design")]
    out = res.stdout
    assert "Exclusion of record 1 not stored: 'm' is a key, taken as your next key." in out
    assert "'x': expected a number from 1 to 9, or Enter to cancel the exclusion" in out
    assert "Exclusion of record 3 not stored: input ended before its reason." in out
    assert ("2 decisions stored at full text by zed (0 include, 1 exclude, 1 maybe); "
            "2 exclusions not stored (no reason given); 2 left in the queue; "
            "stopped: end of input") in out
    got = json.loads(_screen(root, "e\n\n", "--stage", "ft", "--json").stdout)
    assert (got["decided"], got["cancelled"], got["stopped"]) == (0, 1, "end of input")


# -- 2: the export shows where every record stands -------------------------------------------


def test_csv_export_shows_the_state_of_every_record(tmp_path):
    root = _review(tmp_path / "r", 6)
    with Project.open(root) as r:
        r.add_import(ImportBatch((Record(title="Hand-searched trial"),), "Hand",
                                 kind="citation", format="ris", filename="h.ris", sha256="h"))
        for rid, ann, bob in ((1, "include", "maybe"),    # included, awaiting full text
                              (2, "include", "exclude"),  # conflict
                              (3, "exclude", "exclude"),  # excluded
                              (5, "include", "include")):  # included, then excluded at ft
            r.decide(rid, TA, "ann", ann)
            r.decide(rid, TA, "bob", bob)
        r.decide(4, TA, "ann", "exclude")                  # bob has not voted yet
        r.decide(5, FT, "ann", "exclude", "wrong population")
        r.decide(5, FT, "bob", "exclude", "wrong population")
        r.decide(7, FT, "ann", "include")                  # citation record: full text only
        r.decide(7, FT, "bob", "exclude", "wrong setting")
    _cli("export", tmp_path / "screened.csv", "-r", root)
    with (tmp_path / "screened.csv").open(newline="") as fh:
        rows = {int(row["record_id"]): row for row in csv.DictReader(fh)}
    cols = ("decision", "label", "stage", "conflict", "reason", "title_abstract_state",
            "title_abstract_vote_ann", "title_abstract_vote_bob")
    got = {rid: tuple(row[c] for c in cols) for rid, row in rows.items()}
    assert got == {
        1: ("include", "include", "title_abstract", "no", "", "agreed", "include", "maybe"),
        2: ("conflict", "", "title_abstract", "yes", "", "conflict", "include", "exclude"),
        3: ("exclude", "exclude", "title_abstract", "no", "", "agreed", "exclude", "exclude"),
        4: ("pending", "", "title_abstract", "no", "", "pending", "exclude", ""),
        5: ("exclude", "exclude", "full_text", "no", "wrong population", "agreed", "include",
            "include"),
        6: ("pending", "", "title_abstract", "no", "", "pending", "", ""),
        7: ("conflict", "", "full_text", "yes", "", "", "", ""),
    }
    assert (rows[7]["full_text_vote_ann"], rows[7]["full_text_vote_bob"],
            rows[7]["full_text_reason_bob"]) == ("include", "exclude", "wrong setting")
    assert rows[1]["full_text_state"] == "pending" and rows[5]["full_text_state"] == "agreed"
    assert rows[5]["full_text_reason_ann"] == "wrong population"
    # the includes can be filtered from the file
    assert sorted(r for r, row in rows.items() if row["label"] == "include") == [1]
    # RIS: the same decisions as notes; the include awaiting full text imports as include
    from metareview.records.readers import read_records

    _cli("export", tmp_path / "screened.ris", "-r", root)
    back = read_records(tmp_path / "screened.ris")
    assert [rec.label for rec in back.records] == ["include", None, "exclude", None,
                                                   "exclude", None, None]


# -- 5: PRISMA shows the records awaiting classification --------------------------------------


def test_prisma_shows_pending_conflicts_in_the_screening_box(tmp_path):
    root = _with_conflicts(tmp_path / "r")  # 3 conflicts, 1 included
    with Project.open(root) as r:
        r.decide(4, FT, "ann", "include")
        r.decide(4, FT, "bob", "include")
    svg = tmp_path / "p.svg"
    got = json.loads(_cli("prisma", "-r", root, "--out", svg, "--json"))
    assert (got["records_screened"], got["records_excluded"], got["records_awaiting"],
            got["dbr_sought_reports"]) == (4, 0, 3, 1)
    assert got["problems"] == [] and got["pending"]["pending_records"] == 3
    text = _cli("prisma", "-r", root)
    assert "Records screened 4, excluded 0, awaiting classification 3" in text
    assert "note:" not in text  # the conflicts used to show only as arithmetic notes
    body = svg.read_text()
    assert "Records awaiting classification" in body and "(n = 3)" in body
    # resolved: the line goes, and the counts add up without it
    _cli("conflicts", "-r", root, "--by", "carol", "--resolve", "1=e", "--resolve", "2=e",
         "--resolve", "3=e")
    got = json.loads(_cli("prisma", "-r", root, "--out", svg, "--json"))
    assert (got["records_excluded"], got["records_awaiting"], got["problems"]) == (3, 0, [])
    assert "awaiting" not in svg.read_text()
