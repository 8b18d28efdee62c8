"""Analyses defined by a team (synthesis/custom.py): with the protocol's settings they give
the report's pooled numbers (one engine); the sensitivity analysis leaves out exactly the
studies rated at high risk of bias; bad settings are one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from metareview.errors import InputError
from metareview.studies import load_folder
from metareview.synthesis.custom import AnalysisSpec, rob_category, run_analysis
from metareview.synthesis.pooling import pool_arms

REVIEWS = Path(__file__).resolve().parents[1] / "reviews"


@pytest.mark.parametrize("name", ["bcg-tuberculosis", "ketamine-chronic-pain"])
def test_the_protocols_settings_give_the_reports_pooled_ratio(name):
    review = load_folder(REVIEWS / name)
    pooled = [p for p in pool_arms(review) if p.ratio is not None]
    assert pooled
    for p in pooled:
        fit = run_analysis(review, AnalysisSpec(p.category)).fit
        assert fit.estimate == pytest.approx(p.ratio.estimate, rel=1e-12)
        assert (fit.ci_low, fit.tau2, fit.k) == pytest.approx(
            (p.ratio.ci_low, p.ratio.tau2, p.ratio.k), rel=1e-12)


def test_bcg_matches_metafor_and_the_sensitivity_analysis_leaves_out_high_risk():
    review = load_folder(REVIEWS / "bcg-tuberculosis")
    full = run_analysis(review, AnalysisSpec("tb"))
    # reference: metafor 3.8-1, rma(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg,
    # data=dat.bcg, method="REML"): estimate -0.7145, tau² 0.3132
    assert full.fit.estimate == pytest.approx(-0.7145323, rel=1e-6)
    assert full.fit.tau2 == pytest.approx(0.3132433, rel=1e-5)
    sens = run_analysis(review, AnalysisSpec("tb", exclude_high_rob=True))
    high = {s.label for sid, s in review.studies.items() if rob_category(review, sid) == "high"}
    assert {w for w, _ in sens.left_out} == high and len(high) == 6
    assert sens.fit.k == full.fit.k - len(high)
    assert set(sens.studies) == set(full.studies) - high


def test_subgroups_split_by_an_arm_field():
    review = load_folder(REVIEWS / "ketamine-chronic-pain")
    cat = next(p.category for p in pool_arms(review) if p.ratio is not None)
    res = run_analysis(review, AnalysisSpec(cat, subgroup="population"))
    if res.subgroups is not None:
        assert sum(f.k for f in res.subgroups.groups.values()) == res.fit.k
    else:
        assert res.notes and "no subgroups to compare" in res.notes[-1]
    assert res.to_dict()["spec"]["subgroup"] == "population"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"measure": "SMD"}, "measure 'SMD': one of RR, OR, RD"),
    ({"method": "XX"}, "method 'XX'"),
    ({"test": "t"}, "test 't'"),
    ({"subgroup": "colour"}, "subgroup 'colour'"),
])
def test_bad_settings_are_one_clear_line(kwargs, message):
    with pytest.raises(InputError, match=message):
        AnalysisSpec("tb", **kwargs)


def test_an_unknown_outcome_is_refused():
    review = load_folder(REVIEWS / "bcg-tuberculosis")
    with pytest.raises(InputError, match="not an arm category of the protocol"):
        run_analysis(review, AnalysisSpec("nope"))
