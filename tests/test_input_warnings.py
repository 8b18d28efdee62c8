"""Inputs that fit but deserve a word: repeated study labels, and analyses left empty because
every 2x2 table is double-zero (no events, or only events, in both arms)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from metareview import InputError, effect_sizes, meta_analysis
from metareview.effects.escalc import DoubleZeroWarning, DuplicateLabelWarning

DATA = Path(__file__).parent / "data"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metareview.cli", *args], capture_output=True,
                          text=True, timeout=120)


# -- repeated study labels ---------------------------------------------------------------------
def _gen(labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"study": labels, "yi": [0.5, 0.5, 0.1, 0.3, 0.2][: len(labels)],
                         "vi": [0.1, 0.1, 0.2, 0.05, 0.1][: len(labels)]})


def test_repeated_labels_are_named_with_their_rows():
    es = effect_sizes(_gen(["A", "A", "B", "C", "B"]), "GEN", source="d.csv")
    with pytest.warns(DuplicateLabelWarning) as caught:
        fit = meta_analysis(es, method="FE")
    msg = ("repeated study labels (a row entered twice? tell distinct studies apart, e.g. 2004a, "
           "2004b): A (rows 2, 3); B (rows 4, 6)")
    assert [str(w.message) for w in caught] == [msg]
    assert fit.warnings == (msg,)
    # The fit itself is unchanged: all five rows pooled (FE: sum(yi/vi) / sum(1/vi)).
    assert fit.k == 5
    assert fit.estimate == pytest.approx((5 + 5 + 0.5 + 6 + 2) / (10 + 10 + 5 + 20 + 10))


def test_unique_labels_give_no_warning():
    es = effect_sizes(_gen(["A", "B", "C"]), "GEN")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = meta_analysis(es, method="FE")
    assert fit.warnings == ()


def test_repeated_labels_on_the_command_line(tmp_path):
    path = tmp_path / "d.csv"
    _gen(["A", "A", "B", "C", "B"]).to_csv(path, index=False)
    out = run("analyze", str(path), "--measure", "GEN", "--method", "DL")
    assert out.returncode == 0, out.stderr
    assert ("Note: repeated study labels (a row entered twice? tell distinct studies apart, e.g. "
            "2004a, 2004b): A (rows 2, 3); B (rows 4, 6)") in out.stdout.splitlines()
    assert out.stderr == ""


# -- every table double-zero -------------------------------------------------------------------
ZERO = pd.DataFrame({"study": ["A", "B"], "ai": [0, 0], "n1i": [10, 20], "ci": [0, 0],
                     "n2i": [12, 20]})
EMPTY = ("d.csv: no studies to analyse: all 2 studies had zero events in both arms (or only "
         "events in both) and were dropped as double-zero (drop00=True, metafor's rule for RR "
         "and OR), so no {m} can be estimated; use measure RD, which such studies inform, or "
         "drop00=False to keep them with 0.5 added to each cell")


@pytest.mark.parametrize("measure", ["RR", "OR"])
def test_dropped_in_effect_sizes_says_why_and_what_to_do(measure):
    with pytest.warns(DoubleZeroWarning):
        es = effect_sizes(ZERO, measure, drop00=True, source="d.csv")
    assert es.k == 0 and es.dropped == ("A", "B")
    for method in ("REML", "FE", "MH"):
        with pytest.raises(InputError) as err:
            meta_analysis(es, method=method)
        assert str(err.value) == EMPTY.format(m=measure)


@pytest.mark.parametrize("measure", ["RR", "OR"])
def test_dropped_in_meta_analysis_says_why(measure):
    with pytest.warns(DoubleZeroWarning):
        es = effect_sizes(ZERO, measure, source="d.csv")
    with pytest.warns(DoubleZeroWarning, match="dropped 2 double-zero"), \
            pytest.raises(InputError) as err:
        meta_analysis(es, drop00=True)
    assert str(err.value) == EMPTY.format(m=measure)


@pytest.mark.parametrize(("measure", "method", "what"), [
    ("RR", "MH", "the Mantel-Haenszel risk ratio"),
    ("OR", "MH", "the Mantel-Haenszel odds ratio"),
    ("OR", "PETO", "Peto's odds ratio"),
])
def test_mh_and_peto_on_the_command_line(tmp_path, measure, method, what):
    path = tmp_path / "d.csv"
    ZERO.to_csv(path, index=False)
    out = run("analyze", str(path), "--measure", measure, "--method", method)
    assert out.returncode == 2
    assert out.stderr.splitlines()[-1] == (
        f"metareview: error: {path}: {what} is undefined: all 2 studies have zero events in both "
        "arms (double-zero), which carry no information on a ratio; use measure RD, which such "
        "studies inform")


def test_the_risk_difference_is_defined_for_them(tmp_path):
    """The advice holds: MH's RD of two double-zero tables is 0 (metafor: SE 0, z and p NA)."""
    path = tmp_path / "d.csv"
    ZERO.to_csv(path, index=False)
    out = run("analyze", str(path), "--measure", "RD", "--method", "MH", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert (res["k"], res["estimate"], res["se"]) == (2, 0.0, 0.0)
    assert res["p"] is None


def test_a_table_with_events_is_not_reworded():
    df = ZERO.assign(ai=[0, 3])  # B has events in one arm, so not every table is double-zero
    with pytest.warns(DoubleZeroWarning, match="kept 1 double-zero study"):
        es = effect_sizes(df, "RR", source="d.csv")
    with pytest.raises(InputError) as err:
        meta_analysis(es, method="MH")
    assert str(err.value) == ("d.csv: the Mantel-Haenszel risk ratio is undefined (no events in "
                              "one arm across all studies)")
