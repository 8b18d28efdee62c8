"""Double-zero studies follow metafor's defaults: kept by ``escalc``/``rma.uni`` (drop00=FALSE,
1/2 added to every cell), left out of Q by ``rma.mh``/``rma.peto`` (drop00=TRUE).

reference: metafor 3.8-1, tests/reference/drop00.R -> drop00.json (R 4.2.2; rma() with
control = list(threshold = 1e-13, tol = 1e-13, maxiter = 10000)). Datasets: metadat's
dat.nielweise2007 (one double-zero study, Yucel 2004) and tests/data/drop00_toy.csv (one study
without events and one with only events in both arms, and a single-zero study).
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metareview import effect_sizes, meta_analysis
from metareview.effects.escalc import DoubleZeroWarning

ROOT = Path(__file__).resolve().parent
REL = 1e-6


@cache
def _reference() -> dict:
    return json.loads((ROOT / "reference" / "drop00.json").read_text())


@cache
def _data(name: str) -> pd.DataFrame:
    info = _reference()["datasets"][name]
    df = pd.read_csv(ROOT.parent / info["csv"])
    df["study"] = info["labels"]
    return df


def _cases(kind: str) -> list[dict]:
    return [c for c in _reference()["cases"] if c["kind"] == kind]


def _es(case: dict, drop00: bool | None = None):
    """Effect sizes as metafor's escalc with the case's drop00 (default: metafor's, False)."""
    kw = {} if drop00 is None else {"drop00": drop00}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoubleZeroWarning)
        return effect_sizes(_data(case["dataset"]), case["measure"], study="study", **kw)


def close(ours, theirs, what: str, abs_: float = 1e-12) -> None:
    np.testing.assert_allclose(ours, theirs, rtol=REL, atol=abs_, err_msg=what)


def test_the_reference_records_metafors_defaults():
    meta = _reference()["meta"]
    assert meta["metafor_version"].startswith("3.8")
    assert meta["defaults"] == {"escalc": False, "rma_uni": False, "rma_mh": True,
                                "rma_peto": True, "add": 0.5, "to": "only0"}


ESCALC = _cases("escalc")


@pytest.mark.parametrize("case", ESCALC, ids=[c["id"] for c in ESCALC])
def test_escalc(case):
    es = _es(case, None if case["drop00"] == "default" else case["drop00"] == "true")
    yi = np.array([np.nan if x is None else x for x in case["yi"]])
    vi = np.array([np.nan if x is None else x for x in case["vi"]])
    keep = ~np.isnan(yi)
    assert es.k == keep.sum()
    close(es.yi, yi[keep], "yi")
    close(es.vi, vi[keep], "vi")


RMA = _cases("rma")


@pytest.mark.parametrize("via", ["escalc", "meta_analysis"])
@pytest.mark.parametrize("case", RMA, ids=[c["id"] for c in RMA])
def test_rma_uni(case, via):
    """rma(measure=, ai=, n1i=, ci=, n2i=, method=, drop00=): drop00 given to effect_sizes or
    to meta_analysis gives the same fit."""
    drop = None if case["drop00"] == "default" else case["drop00"] == "true"
    if via == "escalc":
        es, kw = _es(case, drop), {}
    else:
        es, kw = _es(case), ({} if drop is None else {"drop00": drop})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoubleZeroWarning)
        fit = meta_analysis(es, method=case["method"], **kw)
    assert fit.k == case["k"]
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("stat", "zval"),
                         ("p", "pval"), ("ci_low", "ci_lb"), ("ci_high", "ci_ub"),
                         ("tau2", "tau2"), ("i2", "I2"), ("h2", "H2"), ("q", "QE"),
                         ("q_p", "QEp")):
        close(getattr(fit, ours), case[theirs], theirs, abs_=1e-9)
    if case["method"] != "FE":
        close(fit.se_tau2, case["se_tau2"], "se_tau2", abs_=1e-9)
    assert fit.q_df == case["QEdf"]
    close(fit.weights, case["weights"], "weights", abs_=1e-9)


MH = _cases("mh")


@pytest.mark.parametrize("case", MH, ids=[c["id"] for c in MH])
def test_mantel_haenszel_and_peto(case):
    """rma.mh / rma.peto on all tables: drop00 (default TRUE) only changes Q, I^2, H^2."""
    drop = None if case["drop00"] == "default" else case["drop00"] == "true"
    es = _es(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoubleZeroWarning)
        fit = meta_analysis(es, method=case["method"], **({} if drop is None else
                                                          {"drop00": drop}))
    assert fit.k == case["k"]
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("stat", "zval"),
                         ("p", "pval"), ("ci_low", "ci_lb"), ("ci_high", "ci_ub"),
                         ("q", "QE"), ("q_p", "QEp"), ("i2", "I2"), ("h2", "H2")):
        close(getattr(fit, ours), case[theirs], theirs, abs_=1e-9)
    assert fit.q_df == case["QEdf"]
    close(fit.weights, case["weights"], "weights", abs_=1e-9)


def test_the_warnings_name_the_studies_and_say_what_was_done():
    df = _data("toy")
    with pytest.warns(DoubleZeroWarning, match=r"kept 2 double-zero studies .*Adams 2001; "
                                                r"Baker 2003"):
        es = effect_sizes(df, "RR", study="study")
    assert es.k == 6 and es.dropped == ()
    with pytest.warns(DoubleZeroWarning, match=r"dropped 2 double-zero .*Adams 2001; Baker 2003"):
        assert effect_sizes(df, "RR", study="study", drop00=True).dropped == ("Adams 2001",
                                                                              "Baker 2003")
    with pytest.warns(DoubleZeroWarning, match=r"dropped 2 double-zero"):
        assert meta_analysis(es, method="REML", drop00=True).k == 4
    with pytest.warns(DoubleZeroWarning, match=r"kept in the MH estimate but left out of Q.*"
                                               r"Adams 2001; Baker 2003"):
        fit = meta_analysis(es, method="MH")
    assert any("left out of Q" in w for w in fit.warnings)
    # No double-zero study, no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", DoubleZeroWarning)
        meta_analysis(effect_sizes(df.iloc[2:], "OR", study="study"), method="MH")


def test_old_default_differs_from_metafors():
    """What changed: before, RR/OR dropped double-zero studies by default (metafor's rma.mh
    behaviour), which is not what metafor's escalc/rma.uni do."""
    by_id = {c["id"]: c for c in RMA}
    new, old = by_id["toy/RR/REML/default"], by_id["toy/RR/REML/true"]
    assert (new["k"], old["k"]) == (6, 4)
    assert new["estimate"] == pytest.approx(-0.2539536783, rel=1e-9)
    assert old["estimate"] == pytest.approx(-0.5563001272, rel=1e-9)
