"""Stopping aids on a review's own screening (library, store, screener, ``metareview progress``)
and ``metareview simulate`` over a labelled file.

Expected values come from the stopping and simulation functions themselves, whose numbers are
checked against buscarpy and asreview-insights in ``test_screening_metrics.py``; here the point
is that the store hands them the right sequence and the shells print what the library returns.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from metareview.cli import app
from metareview.cli.screener import run_screener
from metareview.errors import InputError
from metareview.records.model import ImportBatch, Record
from metareview.screening.simulate import read_labelled, simulate
from metareview.screening.stopping import (
    buscar_p_value,
    consecutive_irrelevant,
    estimate_remaining,
    stopping_aids,
    stopping_report,
)
from metareview.store.project import Project

TA = "title_abstract"
runner = CliRunner()


def _review(root: Path, n: int) -> Project:
    r = Project.create(root, "test", reviewers_required=2)
    recs = tuple(Record(title=f"Record number {i}", abstract="Text.", year=2000 + i % 20)
                 for i in range(n))
    r.add_import(ImportBatch(recs, "PubMed", kind="database", format="ris", filename="x.ris",
                             sha256="ab"))
    return r


# ---------------------------------------------------------------------------------------------
# stopping_report: the three aids side by side
def test_report_combines_the_three_aids() -> None:
    y = [1, 1, 0, 1, 1, 0, 1] + [0] * 60
    rep = stopping_report(y, 400, recall_target=0.9, alpha=0.1, run=50)
    assert rep.buscar is not None and rep.remaining is not None
    assert rep.buscar.statistic == buscar_p_value(y, 400, 0.9)
    assert rep.buscar.stop == (rep.buscar.statistic < 0.1)
    assert rep.consecutive == consecutive_irrelevant(y, 50)
    assert rep.consecutive.stop and rep.consecutive.statistic == 60
    assert rep.remaining == estimate_remaining(y, 400, confidence=0.9)
    assert (rep.n_total, rep.n_screened, rep.n_relevant) == (400, 67, 5)
    assert rep.stop == rep.buscar.stop
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["buscar"]["statistic"] == rep.buscar.statistic and d["stop"] == rep.stop
    assert "recommendation" in rep.summary()


def test_report_before_and_after_screening() -> None:
    empty = stopping_report([], 10)
    assert empty.buscar is None and empty.remaining is None and not empty.stop
    assert empty.to_dict()["buscar"] is None and "nothing screened" in empty.summary()
    # everything screened: nothing is left to miss
    assert stopping_report([0, 1, 0], 3).stop
    with pytest.raises(InputError, match="only 2 in total"):
        stopping_report([0, 1, 0], 2)


def test_a_long_irrelevant_tail_ends_in_stop() -> None:
    # BUSCAR is conservative: with 20 found it needs most of the set seen to exclude 2 missed
    y = [1] * 20 + [0] * 880
    rep = stopping_report(y, 1000)
    assert rep.stop and rep.buscar.statistic < 0.05
    assert rep.remaining.estimate <= rep.remaining.upper
    short = stopping_report([1] * 20 + [0] * 400, 1000)
    assert not short.stop and short.buscar.statistic > 0.05


# ---------------------------------------------------------------------------------------------
# The store: the sequence the rules read
def test_screening_order_is_first_vote_order_with_current_values(tmp_path) -> None:
    r = _review(tmp_path / "r", 6)
    r.decide(3, TA, "ann", "include")
    r.decide(1, TA, "ann", "exclude")
    r.decide(5, TA, "ann", "exclude")
    r.decide(2, TA, "bob", "include")          # another reviewer: not in ann's order
    r.decide(3, TA, "ann", "exclude")          # changed her mind: keeps its first place
    r.decide(6, TA, "ann", "maybe")
    assert r.undo(TA, "ann") == 6              # undone and not decided again: left out
    assert r.screening_order(TA, "ann") == [(3, "exclude"), (1, "exclude"), (5, "exclude")]
    assert r.screening_order(TA, "bob") == [(2, "include")]
    # the votes a caller already holds: only those records, with those values
    assert r.screening_order(TA, "ann", own={1: "exclude", 3: "maybe"}) == [(3, "maybe"),
                                                                            (1, "exclude")]


def test_stopping_aids_from_the_store(tmp_path) -> None:
    r = _review(tmp_path / "r", 30)
    votes = ["include", "maybe", "exclude", "include"] + ["exclude"] * 16
    for rid, v in enumerate(votes, start=1):
        r.decide(rid, TA, "ann", v)
    r.decide(25, TA, "bob", "include")         # blind: bob's votes change nothing for ann
    aids = stopping_aids(r, TA, "ann", recall_target=0.8, alpha=0.05, run=10)
    y = [int(v != "exclude") for v in votes]   # maybe counts as relevant
    assert aids == stopping_report(y, 30, recall_target=0.8, alpha=0.05, run=10)
    assert aids.n_relevant == 3 and aids.consecutive.statistic == 16


# ---------------------------------------------------------------------------------------------
# The screener shows them
def test_screener_shows_the_stopping_line(tmp_path) -> None:
    r = _review(tmp_path / "r", 40)
    con = Console(record=True, width=120)
    run_screener(r, stage="ta", reviewer="ann", keys=["i"] + ["e", ""] * 5 + ["q"],
                 console=con)
    out = con.export_text()
    p = buscar_p_value([1] + [0] * 5, 40, 0.95)
    assert f"5 irrelevant in a row · BUSCAR p = {p:.3g} for recall < 95%" in out


# ---------------------------------------------------------------------------------------------
# metareview progress
def test_progress_command(tmp_path) -> None:
    root = tmp_path / "r"
    r = _review(root, 25)
    for rid, v in enumerate(["include"] + ["exclude"] * 11, start=1):
        r.decide(rid, TA, "ann", v)
    r.close()
    res = runner.invoke(app, ["progress", "--reviewer", "ann", "-r", str(root), "--recall",
                              "90", "--run", "10", "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    want = stopping_report([1] + [0] * 11, 25, recall_target=0.9, run=10).to_dict()
    assert got == {"stage": TA, "reviewer": "ann", **want}
    text = runner.invoke(app, ["progress", "--reviewer", "ann", "-r", str(root)]).stdout
    assert "12 of 25 records screened, 1 relevant; 13 unseen" in text
    bad = runner.invoke(app, ["progress", "--reviewer", "ann", "-r", str(root), "--recall",
                              "100"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1
    assert "--recall 100" in bad.output


def test_progress_with_nothing_unseen_says_screening_is_complete(tmp_path) -> None:
    # issue 18: 0 records unseen used to print "heuristic: continue"
    root = tmp_path / "r"
    r = _review(root, 4)
    for rid, v in enumerate(["include", "exclude", "exclude", "maybe"], start=1):
        r.decide(rid, TA, "ann", v)
    r.close()
    text = runner.invoke(app, ["progress", "--reviewer", "ann", "-r", str(root)]).stdout
    assert text.splitlines() == ["4 of 4 records screened, 2 relevant; 0 unseen",
                                 "screening is complete: every record has been screened"]
    got = json.loads(runner.invoke(app, ["progress", "--reviewer", "ann", "-r", str(root),
                                         "--json"]).stdout)
    assert got["complete"] is True and got["stop"] is True
    # one record left: the rules speak again, and it is not complete
    part = stopping_report([1, 0, 0], 4)
    assert not part.complete and "heuristic" in part.summary()
    assert "complete" not in part.summary()
    assert stopping_report([], 0).summary().endswith("no records are up for screening")


# ---------------------------------------------------------------------------------------------
# metareview simulate
RELEVANT = ["aspirin stroke randomised trial", "aspirin after ischaemic stroke placebo",
            "stroke recurrence aspirin dose", "aspirin clopidogrel minor stroke",
            "early aspirin stroke prevention trial"]
IRRELEVANT = ["soil nitrogen bacteria", "galaxy redshift survey", "clay sediment minerals",
              "solar flare imaging", "earthworm soil porosity", "cosmic ray detector",
              "comet meteor radar", "fungi roots forest soil", "salinity irrigation soil",
              "globular cluster ages", "exoplanet transit photometry", "dark matter halo"]


def _labelled_csv(path: Path, blank_row: int | None = None) -> Path:
    rows = [(t, "Abstract about " + t, 1) for t in RELEVANT]
    rows += [(t, "Abstract about " + t, 0) for t in IRRELEVANT]
    order = np.random.default_rng(4).permutation(len(rows))
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["record_id", "title", "abstract", "label_included"])
        for n, i in enumerate(order):
            label = "" if blank_row is not None and n + 2 == blank_row else rows[i][2]
            w.writerow([n, rows[i][0], rows[i][1], label])
    return path


def test_simulate_command_prints_the_library_result(tmp_path) -> None:
    data = _labelled_csv(tmp_path / "toy.csv")
    texts, labels = read_labelled(data)
    assert len(texts) == 17 and labels.sum() == 5
    res = runner.invoke(app, ["simulate", str(data), "--seeds", "0,1", "--classifier", "nb",
                              "--plot", str(tmp_path / "recall.svg"), "--plot-td",
                              str(tmp_path / "td.png"), "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    lib = simulate(texts, labels, seeds=[0, 1], classifier="nb").to_dict()
    assert got["mean"] == lib["mean"] and got["n_relevant"] == 5
    assert [r["metrics"] for r in got["runs"]] == [r["metrics"] for r in lib["runs"]]
    assert (tmp_path / "recall.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "td.png").read_bytes()[:4] == b"\x89PNG"
    text = runner.invoke(app, ["simulate", str(data), "--seeds", "3"]).stdout
    assert "17 records, 5 relevant; 1 seed(s)" in text and "wss@0.95" in text
    for flag, value in (("none", False), ("2.5", 2.5)):
        res = runner.invoke(app, ["simulate", str(data), "--seeds", "3", "--balance", flag,
                                  "--query", "mixed", "--json"])
        lib = simulate(texts, labels, seeds=[3], balance=value, query="mixed").to_dict()
        assert json.loads(res.stdout)["mean"] == lib["mean"]
        assert json.loads(res.stdout)["learner"]["balance_ratio"] == (None if flag == "none"
                                                                      else 2.5)


@pytest.mark.parametrize(("args", "message"), [
    (["--label", "label_included"], "toy.csv row 5, column label_included: no label"),
    (["--plot", "x.pdf"], "x.pdf"),
    (["--seeds", "a,b"], "--seeds 'a,b'"),
    (["--classifier", "forest"], "forest"),
    (["--balance", "lots"], "--balance 'lots'"),
    (["--balance", "-2"], "balance -2.0"),
])
def test_simulate_bad_input_is_one_line_exit_2(tmp_path, args, message) -> None:
    data = _labelled_csv(tmp_path / "toy.csv", blank_row=5 if "--label" in args else None)
    res = runner.invoke(app, ["simulate", str(data), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and len(res.output.strip().splitlines()) == 1


def test_screen_command_prints_its_summary_once(tmp_path) -> None:
    root = tmp_path / "r"
    _review(root, 5).close()
    res = runner.invoke(app, ["screen", "--reviewer", "ann", "-r", str(root), "--query",
                              "random"], input="i\nq\n")
    assert res.exit_code == 0, res.output
    assert res.stdout.count("1 decision stored at title/abstract by ann") == 1
    res = runner.invoke(app, ["screen", "--reviewer", "bob", "-r", str(root), "--query",
                              "random", "--json"], input="e\n\nq\n")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["decided"] == 1


def test_conflicts_prints_the_agreement_statistics(tmp_path) -> None:
    from metareview.screening.agreement import agreement

    root = tmp_path / "r"
    r = _review(root, 4)
    for rid, (a, b) in enumerate([("include", "include"), ("exclude", "exclude"),
                                  ("include", "exclude"), ("exclude", "exclude")], start=1):
        r.decide(rid, TA, "ann", a)
        r.decide(rid, TA, "bob", b)
    r.close()
    out = runner.invoke(app, ["conflicts", "-r", str(root)]).stdout
    want = agreement({"ann": {"1": "include", "2": "exclude", "3": "include", "4": "exclude"},
                      "bob": {"1": "include", "2": "exclude", "3": "exclude", "4": "exclude"}})
    assert out.startswith("1 conflict at title_abstract\n")
    assert want.summary() in out and "Cohen's kappa" in out
    got = json.loads(runner.invoke(app, ["conflicts", "-r", str(root), "--json"]).stdout)
    assert got["agreement"]["kappa"] == pytest.approx(want.kappa) and "text" not in got
