"""Effect sizes: parity with metafor's escalc, zero-cell handling, and input validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metareview import InputError, effect_sizes
from metareview.effects.escalc import DoubleZeroWarning, hedges_correction
from metareview.effects.measures import ipft_hm, pft
from tests.reference_data import cases, effects

ESCALC = cases("escalc")


@pytest.mark.parametrize("case", ESCALC, ids=[c["id"] for c in ESCALC])
def test_escalc_parity(case):
    # reference: metafor 3.8-1 escalc(measure, ..., add=1/2, to="only0", drop00=TRUE for RR/OR)
    es = effects(case["dataset"], case["measure"])
    yi = np.array([np.nan if x is None else x for x in case["yi"]])
    vi = np.array([np.nan if x is None else x for x in case["vi"]])
    keep = ~np.isnan(yi)
    assert es.k == keep.sum()
    np.testing.assert_allclose(es.yi, yi[keep], rtol=1e-9)
    np.testing.assert_allclose(es.vi, vi[keep], rtol=1e-9)
    labels = [lab for lab, k in zip(case["labels"], keep, strict=True) if k]
    assert list(es.study) == labels


def test_double_zero_studies_are_kept_by_default_and_dropped_on_request_with_a_warning():
    # metafor's escalc: drop00 = FALSE, add = 1/2 to every cell of a study with a zero cell.
    df = pd.DataFrame({"study": ["A", "B", "C"], "ai": [0, 2, 1], "n1i": [10, 20, 30],
                       "ci": [0, 4, 0], "n2i": [12, 20, 30]})
    with pytest.warns(DoubleZeroWarning, match=r"kept 1 double-zero study .*: A$"):
        es = effect_sizes(df, "RR")
    assert es.k == 3 and es.dropped == ()
    assert es.yi[0] == pytest.approx(np.log(0.5 / 11) - np.log(0.5 / 13))
    assert es.vi[0] == pytest.approx(1 / 0.5 - 1 / 11 + 1 / 0.5 - 1 / 13)
    assert any("added 0.5" in w and "A; C" in w for w in es.warnings)
    with pytest.warns(DoubleZeroWarning, match=r"dropped 1 double-zero study .*: A$"):
        es = effect_sizes(df, "RR", drop00=True)
    assert es.k == 2 and es.dropped == ("A",)
    assert any("double-zero" in w and "A" in w for w in es.warnings)
    assert any("added 0.5" in w and "C" in w for w in es.warnings)


def test_zero_cell_correction_matches_hand_computation():
    df = pd.DataFrame({"ai": [0], "bi": [10], "ci": [3], "di": [7]})
    es = effect_sizes(df, "OR")
    assert es.yi[0] == pytest.approx(np.log((0.5 * 7.5) / (10.5 * 3.5)))
    assert es.vi[0] == pytest.approx(1 / 0.5 + 1 / 10.5 + 1 / 3.5 + 1 / 7.5)


def test_hedges_g_exact_correction():
    # J(m) for m = 10: Gamma(5) / (sqrt(5) Gamma(4.5)), against the approximation 1 - 3/(4m-1)
    assert hedges_correction(10) == pytest.approx(0.9227, abs=1e-4)
    assert hedges_correction(1000) == pytest.approx(1 - 3 / (4 * 1000 - 1), rel=1e-6)


def test_freeman_tukey_round_trip():
    n = np.array([20.0, 20.0, 20.0])
    for p in (0.0, 0.1, 0.5, 0.9, 1.0):
        assert ipft_hm(pft(p, 20.0), n) == pytest.approx(p, abs=1e-12)


@pytest.mark.parametrize(
    ("frame", "measure", "words"),
    [
        ({"ai": [1], "bi": [2], "ci": [3]}, "OR", ["missing column di"]),
        ({"ai": [-1], "bi": [2], "ci": [3], "di": [4]}, "OR", ["row 2", "ai", "negative count"]),
        ({"ai": [5], "n1i": [4], "ci": [3], "n2i": [4]}, "RR", ["ai", "larger than group size"]),
        ({"m1i": [1], "sd1i": [1], "n1i": [5], "m2i": [1], "sd2i": [-1], "n2i": [5]}, "SMD",
         ["sd2i", "negative standard deviation"]),
        ({"m1i": [-1], "sd1i": [1], "n1i": [5], "m2i": [1], "sd2i": [1], "n2i": [5]}, "ROM",
         ["m1i", "positive means"]),
        ({"xi": [6], "ni": [5]}, "PLO", ["xi", "larger than sample size"]),
        ({"ri": [0.5], "ni": [3]}, "ZCOR", ["ni", "too small"]),
        ({"yi": [0.1], "sei": [-0.2]}, "GEN", ["sei", "negative standard error"]),
        ({"yi": ["abc"], "vi": [0.2]}, "GEN", ["yi", "not a number ('abc')"]),
    ],
)
def test_bad_input_names_row_study_and_column(frame, measure, words):
    df = pd.DataFrame({"study": ["Smith 2004"], **frame})
    with pytest.raises(InputError) as err:
        effect_sizes(df, measure, source="trials.csv")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("trials.csv")
    for w in words:
        assert w in msg, (w, msg)
    if "missing column" not in words[0]:
        assert "(Smith 2004)" in msg
