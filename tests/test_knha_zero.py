"""Knapp-Hartung with no residual variation: metafor 3.8's numbers, and a warning metafor lacks.

reference: metafor 3.8-1, tests/reference/knha_zero.R -> knha_zero.json (R 4.2.2). When the
estimates are identical (or lie exactly on a meta-regression), the weighted residual sum of
squares is <= machine epsilon and metafor sets the scale factor s2w to 0: SE 0, t = Inf, p = 0
and a zero-width CI, without a warning. metareview gives the same numbers and warns.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metareview import from_arrays, meta_analysis
from metareview.models.rma import KnappHartungWarning

ROOT = Path(__file__).resolve().parent


@cache
def _reference() -> dict:
    return json.loads((ROOT / "reference" / "knha_zero.json").read_text())


def _cases() -> list[dict]:
    # test = "adhoc" (s2w truncated at 1) is recorded for the reader; metareview has no such test.
    return [c for c in _reference()["cases"] if c["test"] != "adhoc"]


def _num(x) -> float:
    return math.inf if x == "Inf" else -math.inf if x == "-Inf" else float(x)


def _fit(case: dict):
    data = pd.DataFrame({"x": case["x"]}) if case["x"] else None
    es = from_arrays(np.array(case["yi"]), np.array(case["vi"]), data=data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = meta_analysis(es, method=case["method"], test=case["test"],
                            mods=["x"] if case["x"] else None)
    return fit, [w for w in caught if issubclass(w.category, KnappHartungWarning)]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["id"])
def test_matches_metafor(case):
    fit, _ = _fit(case)
    assert fit.k == case["k"] and fit.p_coef == case["p"]
    np.testing.assert_allclose(fit.coef, case["estimate"], rtol=1e-6)
    np.testing.assert_allclose(fit.coef_se, case["se"], rtol=1e-6, atol=1e-15)
    np.testing.assert_allclose(fit.coef_stat, [_num(z) for z in case["zval"]], rtol=1e-6)
    np.testing.assert_allclose(fit.coef_p, case["pval"], rtol=1e-6, atol=1e-15)
    np.testing.assert_allclose(fit.coef_ci_low, case["ci_lb"], rtol=1e-6)
    np.testing.assert_allclose(fit.coef_ci_high, case["ci_ub"], rtol=1e-6)
    assert fit.s2w == case["s2w"]
    assert fit.tau2 == pytest.approx(case["tau2"], abs=1e-12)
    assert fit.q == pytest.approx(case["QE"], abs=1e-12)
    if case["pi_lb"] is not None:
        assert fit.pi_low == pytest.approx(case["pi_lb"], rel=1e-6)
        assert fit.pi_high == pytest.approx(case["pi_ub"], rel=1e-6)
    if case["p"] > 1 and case["QM"] is not None:
        assert fit.qm == pytest.approx(_num(case["QM"]), rel=1e-6)
        assert fit.qm_p == pytest.approx(case["QMp"], rel=1e-6)


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["id"])
def test_warns_exactly_when_the_knapp_hartung_scale_is_zero(case):
    fit, caught = _fit(case)
    if case["s2w"] == 0:
        assert len(caught) == 1
        msg = str(caught[0].message)
        assert msg in fit.warnings
        assert msg.startswith("Knapp-Hartung SE is 0: ")
        why = ("the estimates lie exactly on the fitted meta-regression" if case["x"]
               else f"the {case['k']} estimates are identical")
        assert why in msg
    else:
        assert caught == []
        assert not any("Knapp-Hartung" in w for w in fit.warnings)


def test_the_issues_file_on_the_command_line(tmp_path):
    """study,yi,vi / A,0.5,0.1 / A,0.5,0.1 with --test knha: metafor's numbers, two notes."""
    path = tmp_path / "d.csv"
    path.write_text("study,yi,vi\nA,0.5,0.1\nA,0.5,0.1\n")
    cmd = [sys.executable, "-m", "metareview.cli", "analyze", str(path), "--measure", "GEN",
           "--test", "knha"]
    out = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert (res["estimate"], res["se"], res["p"]) == (0.5, 0.0, 0.0)
    assert (res["ci_low"], res["ci_high"]) == (0.5, 0.5)
    assert res["warnings"] == [
        "repeated study labels (a row entered twice? tell distinct studies apart, e.g. 2004a, "
        "2004b): A (rows 2, 3)",
        "Knapp-Hartung SE is 0: the 2 estimates are identical, so the residual heterogeneity is "
        "0 (s2w = 0) and the confidence interval has no width and p = 0 (as metafor 3.8 "
        "reports); use test z or t for an interval from the sampling variances",
    ]
    # With --json the warnings also go to stderr, one line each.
    assert out.stderr.splitlines() == [f"metareview: warning: {w}" for w in res["warnings"]]

    text = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    assert "    0.5000    0.0000       Inf    <.0001    0.5000    0.5000 ***" in text.stdout
    notes = [line for line in text.stdout.splitlines() if line.startswith("Note: ")]
    assert notes == [f"Note: {w}" for w in res["warnings"]]
    assert text.stderr == ""  # shown once, as notes
