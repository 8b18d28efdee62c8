"""BLUPs of the true effects and of the random effects for univariate models.

Reference: metafor 3.8-1's ``blup()`` and ``ranef()`` (tests/reference/blup.R, printed numbers
in blup.json and blup.Rout), on dat.bcg with tight control; 1e-6 relative.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metareview as mr
from metareview.models import blup, ranef

HERE = Path(__file__).parent
REF = json.loads((HERE / "reference" / "blup.json").read_text())["cases"]


def _fit(case: dict):
    raw = pd.read_csv(HERE / "data" / "dat.bcg.csv")
    es = mr.effect_sizes(raw, "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    mods = case["mods"]
    mods = [mods] if isinstance(mods, str) else mods  # R's JSON writes one name bare
    return mr.meta_analysis(es, method=case["method"], test=case["test"], mods=mods or None)


@pytest.mark.parametrize("name", list(REF))
def test_blup_and_ranef_match_metafor(name):
    case = REF[name]
    fit = _fit(case)
    assert fit.tau2 == pytest.approx(case["tau2"], rel=1e-6, abs=1e-12)
    for got, ref in ((blup(fit), case["blup"]), (ranef(fit), case["ranef"])):
        for attr, key in (("pred", "pred"), ("se", "se"), ("pi_low", "pi_lb"),
                          ("pi_high", "pi_ub")):
            np.testing.assert_allclose(getattr(got, attr), ref[key], rtol=1e-6, atol=1e-12)


def test_blup_lies_between_the_estimate_and_the_fitted_value():
    fit = _fit(REF["REML/z"])
    b = blup(fit).pred
    lo = np.minimum(fit.yi, fit.estimate)
    hi = np.maximum(fit.yi, fit.estimate)
    assert np.all((b >= lo - 1e-12) & (b <= hi + 1e-12))
