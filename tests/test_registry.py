"""The registry of methods (models.tau2.ESTIMATORS) and the table of measures
(effects.measures.MEASURE_TABLE): one place each, asked by every entry point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metareview import effect_sizes, meta_analysis
from metareview.batch import fit_frame
from metareview.effects.measures import (
    MEASURE_TABLE,
    MEASURES,
    is_comparative,
    is_ratio,
    is_reported_only,
    measure_label,
)
from metareview.errors import InputError
from metareview.models.fit import fit_groups
from metareview.models.subgroup import subgroup_analysis
from metareview.models.tau2 import (
    ESTIMATORS,
    Estimator,
    UnknownMethodError,
    check_method,
    codes,
)
from tests.reference_data import effects, rma_case

IV = ("FE", "DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB")


def test_the_registry_holds_metafors_methods_and_what_each_is():
    assert codes() == (*IV, "MH", "PETO")
    assert codes(inverse_variance=True) == IV
    assert codes(random_effects=True) == IV[1:]
    assert {c for c, e in ESTIMATORS.items() if e.iterative} == {"REML", "ML", "PM", "EB"}
    assert {c for c, e in ESTIMATORS.items() if e.likelihood} == {"REML", "ML"}
    assert {c for c, e in ESTIMATORS.items() if e.needs_tables} == {"MH", "PETO"}
    assert all((e.solve is not None) == e.inverse_variance for e in ESTIMATORS.values())
    assert check_method("reml") is ESTIMATORS["REML"]


def _bad_method_calls():
    es = effects("bcg", "RR")
    y, v = es.yi, es.vi
    frame = pd.DataFrame({"g": ["a"] * 3, "yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.1, 0.1]})
    return {
        "meta_analysis": lambda m: meta_analysis(es, method=m),
        "subgroup_analysis": lambda m: subgroup_analysis(es, "alloc", method=m),
        "fit_groups": lambda m: fit_groups(y, v, [len(y)], method=m),
        "fit_frame": lambda m: fit_frame(frame, group="g", method=m),
    }


@pytest.mark.parametrize("entry", list(_bad_method_calls()))
def test_one_error_type_for_an_unknown_method_at_every_entry_point(entry):
    call = _bad_method_calls()[entry]
    with pytest.raises(UnknownMethodError) as err:
        call("XX")
    msg = str(err.value)
    assert isinstance(err.value, InputError)
    assert msg.startswith("unknown method 'XX'")
    assert "--" not in msg
    valid = IV if entry.startswith("fit_") else (*IV, "MH", "PETO")
    assert msg.endswith("valid methods: " + ", ".join(valid))


@pytest.mark.parametrize("entry", ["fit_groups", "fit_frame"])
def test_mh_where_only_effect_sizes_are_at_hand_says_why(entry):
    with pytest.raises(UnknownMethodError, match=r"unknown method 'MH' here \(Mantel-Haenszel "
                                                 r"needs the 2x2 tables"):
        _bad_method_calls()[entry]("MH")


@pytest.mark.parametrize(("method", "iv", "random"), [
    ("FE", True, False), ("REML", True, True), ("PM", True, True), ("MH", False, False),
    ("PETO", False, False),
])
def test_the_fit_says_what_kind_of_model_it_is(method, iv, random):
    fit = meta_analysis(effects("bcg", "OR"), method=method)
    assert fit.is_inverse_variance is iv
    assert fit.is_random_effects is random
    assert fit.estimator is ESTIMATORS[method]


def test_adding_an_estimator_is_one_entry(monkeypatch):
    """A new code in the registry is fitted and validated everywhere, nothing else to edit."""
    monkeypatch.setitem(ESTIMATORS, "DL2", Estimator("DL2", "DerSimonian-Laird again",
                                                     solve=ESTIMATORS["DL"].solve))
    es = effects("bcg", "RR")
    fit = meta_analysis(es, method="dl2")
    # reference: metafor 3.8-1, tests/reference/metafor_reference.json, bcg/RR/DL/z
    case = rma_case("bcg", "RR", "DL", "z")
    assert fit.tau2 == pytest.approx(case["tau2"], rel=1e-6)
    assert fit.estimate == pytest.approx(case["estimate"], rel=1e-6)
    assert fit.is_random_effects and "DL2" in codes(inverse_variance=True)


def test_the_measure_table_knows_computed_and_reported_measures():
    assert MEASURES[:13] == ("RR", "OR", "RD", "MD", "SMD", "ROM", "PLO", "PR", "PFT", "PAS",
                             "ZCOR", "COR", "GEN")
    assert len(MEASURES) == 50 and {"MC", "SMCR", "IRR", "IRFT", "PETO", "SPCOR"} <= set(MEASURES)
    assert {c for c in MEASURE_TABLE if is_ratio(c)} == {"RR", "OR", "ROM", "HR", "IRR", "PETO",
                                                         "CVR", "VR"}
    assert is_ratio("hr") and not is_ratio("MD") and not is_ratio("nonsense")
    assert measure_label("HR") == "Hazard ratio" and measure_label("OR") == "Odds ratio"
    assert measure_label("XYZ") == "XYZ"
    assert {c for c in MEASURE_TABLE if is_reported_only(c)} == {"HR", "WMD"}
    # What the review report's outcome rows need: comparative effects (not event rates).
    assert {"MD", "SMD", "WMD", "RR", "OR", "HR", "RD"} <= {
        c for c in MEASURE_TABLE if is_comparative(c)}
    assert not any(is_comparative(c) for c in ("PLO", "PR", "PFT", "PAS"))


def test_a_reported_only_measure_cannot_be_computed():
    df = pd.DataFrame({"yi": [0.1], "vi": [0.01]})
    with pytest.raises(InputError, match=r"measure 'HR' \(Hazard ratio\) is only taken from "
                                         "reported results; effect_sizes computes RR, OR, RD"):
        effect_sizes(df, "HR")


def test_the_fit_summary_names_the_model_from_the_registry():
    es = effects("bcg", "OR")
    assert meta_analysis(es, method="MH").summary().startswith(
        "Fixed-Effects (Mantel-Haenszel) Model (k = 13)")
    assert meta_analysis(es, method="PETO").summary().startswith("Fixed-Effects (Peto) Model")
    assert meta_analysis(es, method="FE").summary().startswith("Fixed-Effects Model")
    assert meta_analysis(es, method="DL").summary().startswith(
        "Random-Effects Model (k = 13; tau^2 estimator: DL)")
    assert np.isfinite(meta_analysis(es, method="EB").tau2)
