"""Tests for metareview.effects.conversions.

Reference numbers come from tests/reference/conversions.R (printed in conversions.Rout, stored in
conversions.json); they follow metafor >= 4.0's conv.fivenum(method = c("luo2016", "wan2014"),
test = FALSE) and conv.wald(), see the header of that script.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from metareview.effects.conversions import (
    ci_to_se,
    ci_to_yi_vi,
    mean_from_median,
    median_to_mean_sd,
    p_to_se,
    sd_from_median,
    t_to_se,
)
from metareview.errors import InputError

REL = 1e-6
REFERENCE = json.loads((Path(__file__).parent / "reference" / "conversions.json").read_text())


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def _ids(rows: list[dict[str, Any]], *keys: str) -> list[str]:
    return ["-".join(str(r[k]) for k in keys) for r in rows]


FIVENUM = REFERENCE["fivenum"]
CI = REFERENCE["ci"]
PVAL = REFERENCE["pval"]


def _quantile_kwargs(row: dict[str, Any]) -> dict[str, float]:
    """The summary statistics a row's scenario reports (absent ones left out)."""
    return {k: row[k] for k in ("q1", "q3", "min", "max") if row[k] is not None}


# --------------------------------------------------------------------------- reference values


def test_reference_grid_covers_all_scenarios() -> None:
    assert {r["scenario"] for r in FIVENUM} == {"S1", "S2", "S3"}
    assert min(r["n"] for r in FIVENUM) == 5
    assert max(r["n"] for r in FIVENUM) == 500
    assert len(FIVENUM) == 135


@pytest.mark.parametrize("row", FIVENUM, ids=_ids(FIVENUM, "label", "scenario", "n"))
def test_median_conversions_match_reference(row: dict[str, Any]) -> None:
    kw = _quantile_kwargs(row)
    mean = mean_from_median(row["n"], median=row["median"], **kw)
    sd = sd_from_median(row["n"], **kw)
    assert mean == pytest.approx(row["mean"], rel=REL)
    assert sd == pytest.approx(row["sd"], rel=REL)
    assert median_to_mean_sd(row["n"], median=row["median"], **kw) == pytest.approx(
        (row["mean"], row["sd"]), rel=REL
    )


def test_median_conversions_vectorised_with_mixed_scenarios() -> None:
    # One call over the whole grid: NaN marks what a study did not report, so the scenario is
    # picked per entry, as a data column of mixed reporting would need.
    col = {
        k: np.array([_nan(r[k]) for r in FIVENUM])
        for k in ("n", "min", "q1", "median", "q3", "max", "mean", "sd")
    }
    mean, sd = median_to_mean_sd(
        col["n"], median=col["median"], q1=col["q1"], q3=col["q3"], min=col["min"], max=col["max"]
    )
    np.testing.assert_allclose(mean, col["mean"], rtol=REL)
    np.testing.assert_allclose(sd, col["sd"], rtol=REL)


@pytest.mark.parametrize("row", CI, ids=_ids(CI, "label"))
def test_ci_conversions_match_reference(row: dict[str, Any]) -> None:
    df = row.get("df")
    yi, vi = ci_to_yi_vi(
        row["est"], row["lb"], row["ub"], ratio=row["ratio"], level=row["level"], df=df
    )
    assert yi == pytest.approx(row["yi"], rel=REL)
    assert vi == pytest.approx(row["vi"], rel=REL)
    se = ci_to_se(row["lb"], row["ub"], ratio=row["ratio"], level=row["level"], df=df)
    assert se == pytest.approx(row["se"], rel=REL)
    # The same level given as a proportion, as metafor also accepts.
    se = ci_to_se(row["lb"], row["ub"], ratio=row["ratio"], level=row["level"] / 100, df=df)
    assert se == pytest.approx(row["se"], rel=REL)


def test_ci_conversions_vectorised_with_mixed_df() -> None:
    rows = [r for r in CI if not r["ratio"]]
    lo = np.array([r["lb"] for r in rows])
    hi = np.array([r["ub"] for r in rows])
    level = np.array([r["level"] for r in rows])
    df = np.array([_nan(r.get("df")) for r in rows])  # NaN df: that study uses the normal
    se = ci_to_se(lo, hi, level=level, df=df)
    np.testing.assert_allclose(se, [r["se"] for r in rows], rtol=REL)


@pytest.mark.parametrize("row", PVAL, ids=_ids(PVAL, "label"))
def test_p_and_t_conversions_match_reference(row: dict[str, Any]) -> None:
    se = p_to_se(row["est"], row["p"], ratio=row["ratio"], df=row.get("df"))
    assert se == pytest.approx(row["se"], rel=REL)
    # R's test statistic for that p-value, fed back through t_to_se, gives the same SE.
    assert t_to_se(row["est"], row["stat"], ratio=row["ratio"]) == pytest.approx(row["se"], rel=REL)


# --------------------------------------------------------------------------- known closed forms


def test_cochrane_handbook_ci_example() -> None:
    # Cochrane Handbook 6.3.1: SE = (upper - lower) / 3.92 for a 95% CI.
    assert ci_to_se(-2.0, 1.92) == pytest.approx(3.92 / 3.92, rel=2e-4)
    # 6.5.2.3: with 25 per group the divisor is 2 * t(0.975, 48) = 4.02 (to the printed digits)
    assert 4.02 / (2 * ci_to_se(0.0, 4.02, df=48)) == pytest.approx(2.0106, rel=1e-4)


def test_large_sample_divisors() -> None:
    # eta(n) -> 2 * qnorm(0.75) = 1.349: Cochrane's "IQR / 1.35" rule is the large-n limit.
    big = 1e9
    assert sd_from_median(big, q1=0.0, q3=1.349) == pytest.approx(1.0, rel=1e-3)
    assert sd_from_median(big, q1=0.0, q3=2 * stats.norm.ppf(0.75)) == pytest.approx(1.0, rel=1e-6)


def test_t_quantile_tends_to_normal() -> None:
    assert ci_to_se(1.0, 3.0, df=1e8) == pytest.approx(ci_to_se(1.0, 3.0), rel=1e-7)
    assert ci_to_se(1.0, 3.0, df=10) < ci_to_se(1.0, 3.0)


# --------------------------------------------------------------------------- missing values, types


def test_scalars_give_floats_and_arrays_give_arrays() -> None:
    assert isinstance(ci_to_se(1.0, 2.0), float)
    assert isinstance(p_to_se(1.0, 0.05), float)
    assert isinstance(t_to_se(1.0, 2), float)
    yi, vi = ci_to_yi_vi(1.5, 1.0, 2.0)
    assert isinstance(yi, float) and isinstance(vi, float)
    assert isinstance(mean_from_median(20, median=3, q1=1, q3=5), float)
    out = ci_to_se([1.0, 2.0], [2.0, 3.0])
    assert isinstance(out, np.ndarray) and out.shape == (2,)
    mean, sd = median_to_mean_sd([20, 40], median=3, q1=1, q3=5)
    assert mean.shape == sd.shape == (2,)


def test_integer_and_list_inputs() -> None:
    assert ci_to_se(1, 3) == pytest.approx(2 / (2 * stats.norm.isf(0.025)))
    np.testing.assert_allclose(
        sd_from_median([10, 10], q1=[1, 2], q3=[5, 6]), sd_from_median(10, q1=1.0, q3=5.0)
    )


def test_nan_in_nan_out() -> None:
    nan = math.nan
    assert math.isnan(ci_to_se(nan, 2.0))
    yi, vi = ci_to_yi_vi([1.5, nan, 1.2], [1.0, 1.0, nan], [2.0, 2.0, 2.0], ratio=True)
    assert not np.isnan(yi[0]) and not np.isnan(vi[0])
    assert np.isnan(yi[1]) and not np.isnan(vi[1])
    assert not np.isnan(yi[2]) and np.isnan(vi[2])
    assert np.isnan(p_to_se([1.0, nan], [nan, 0.05])).all()
    assert math.isnan(t_to_se(nan, 2.0))
    mean, sd = median_to_mean_sd(
        [20, nan, 20, 20], median=[3, 3, nan, 3], q1=[1, 1, 1, nan], q3=[5, 5, 5, 5]
    )
    assert not np.isnan(mean[0]) and not np.isnan(sd[0])
    assert np.isnan(mean[1]) and np.isnan(sd[1])  # n missing
    assert np.isnan(mean[2]) and not np.isnan(sd[2])  # the SD does not use the median
    assert np.isnan(mean[3]) and np.isnan(sd[3])  # half a pair: no scenario applies


def test_incomplete_pair_falls_back_to_complete_one() -> None:
    # Quartiles complete but max missing for this study: S2, not NaN.
    mean, sd = median_to_mean_sd(30, median=[9.0], q1=[6.0], q3=[17.0], min=[2.0], max=[math.nan])
    s2 = median_to_mean_sd(30, median=9.0, q1=6.0, q3=17.0)
    assert (mean[0], sd[0]) == pytest.approx(s2, rel=1e-12)


# --------------------------------------------------------------------------- properties

finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False)
sizes = st.integers(min_value=2, max_value=100_000)
levels = st.floats(min_value=50.0, max_value=99.9)


@given(n=sizes, m=finite, d_quart=positive, d_range=positive)
def test_symmetric_summaries_give_mean_equal_to_median(
    n: int, m: float, d_quart: float, d_range: float
) -> None:
    q1, q3 = m - d_quart, m + d_quart
    lo, hi = q1 - d_range, q3 + d_range
    tol = 1e-9 * (abs(m) + d_quart + d_range)
    assert mean_from_median(n, median=m, q1=q1, q3=q3) == pytest.approx(m, abs=tol)
    assert mean_from_median(n, median=m, min=lo, max=hi) == pytest.approx(m, abs=tol)
    assert mean_from_median(n, median=m, q1=q1, q3=q3, min=lo, max=hi) == pytest.approx(m, abs=tol)


five_sorted = st.lists(finite, min_size=5, max_size=5).map(sorted)


@given(n=sizes, x=five_sorted, shift=finite, scale=positive)
def test_affine_equivariance(n: int, x: list[float], shift: float, scale: float) -> None:
    # A change of units (scale) and origin (shift) moves the mean the same way and scales the SD.
    a, q1, m, q3, b = x
    y = [shift + scale * v for v in x]
    for keys in (("min", "max"), ("q1", "q3"), ("min", "q1", "q3", "max")):
        kw_x = {
            k: v
            for k, v in zip(("min", "q1", "q3", "max"), (a, q1, q3, b), strict=True)
            if k in keys
        }
        kw_y = {
            k: v
            for k, v in zip(("min", "q1", "q3", "max"), (y[0], y[1], y[3], y[4]), strict=True)
            if k in keys
        }
        mx, sx = median_to_mean_sd(n, median=m, **kw_x)
        my, sy = median_to_mean_sd(n, median=y[2], **kw_y)
        tol = 1e-9 * (abs(shift) + scale * (abs(a) + abs(b) + 1))
        assert my == pytest.approx(shift + scale * mx, abs=tol)
        assert sy == pytest.approx(scale * sx, abs=tol)
        assert sx >= 0


@given(n=sizes, x=five_sorted)
def test_mean_lies_within_the_reported_spread(n: int, x: list[float]) -> None:
    # For n >= 2 the Luo estimators are convex combinations of median, mid-range, mid-quartile.
    a, q1, m, q3, b = x
    eps = 1e-9 * (abs(a) + abs(b) + 1)
    assert q1 - eps <= mean_from_median(n, median=m, q1=q1, q3=q3) <= q3 + eps
    assert a - eps <= mean_from_median(n, median=m, min=a, max=b) <= b + eps
    assert a - eps <= mean_from_median(n, median=m, q1=q1, q3=q3, min=a, max=b) <= b + eps


@given(n=st.integers(min_value=2, max_value=10_000), width=positive)
def test_sd_from_range_shrinks_as_n_grows(n: int, width: float) -> None:
    # A larger sample spreads further, so the same range means a smaller SD.
    assert sd_from_median(n + 1, min=0.0, max=width) < sd_from_median(n, min=0.0, max=width)


@given(n=sizes, q=five_sorted)
def test_five_number_sd_is_mean_of_the_two(n: int, q: list[float]) -> None:
    a, q1, _, q3, b = q
    s1 = sd_from_median(n, min=a, max=b)
    s2 = sd_from_median(n, q1=q1, q3=q3)
    assert sd_from_median(n, q1=q1, q3=q3, min=a, max=b) == pytest.approx(
        (s1 + s2) / 2, rel=1e-12, abs=1e-300
    )


@given(
    yi=finite,
    se=positive,
    level=levels,
    df=st.one_of(st.none(), st.floats(min_value=1.0, max_value=1e4)),
)
def test_ci_to_yi_vi_inverts_wald_interval(
    yi: float, se: float, level: float, df: float | None
) -> None:
    q = (
        stats.norm.isf((1 - level / 100) / 2)
        if df is None
        else stats.t.isf((1 - level / 100) / 2, df)
    )
    lo, hi = yi - q * se, yi + q * se
    got_yi, got_vi = ci_to_yi_vi(yi, lo, hi, level=level, df=df)
    assert got_yi == yi
    assert got_vi == pytest.approx(se**2, rel=1e-6, abs=1e-12 * (abs(yi) + se) ** 2)


@given(
    log_ratio=st.floats(min_value=-5, max_value=5),
    se=st.floats(min_value=1e-3, max_value=3),
    level=levels,
)
def test_ci_to_yi_vi_inverts_ratio_interval(log_ratio: float, se: float, level: float) -> None:
    q = stats.norm.isf((1 - level / 100) / 2)
    est, lo, hi = np.exp([log_ratio, log_ratio - q * se, log_ratio + q * se])
    got_yi, got_vi = ci_to_yi_vi(est, lo, hi, ratio=True, level=level)
    assert got_yi == pytest.approx(log_ratio, abs=1e-12)
    assert got_vi == pytest.approx(se**2, rel=1e-9)


@given(
    yi=st.floats(min_value=0.01, max_value=100),
    sign=st.sampled_from([-1, 1]),
    z=st.floats(min_value=0.05, max_value=7.0),
)
def test_p_to_se_inverts_wald_test(yi: float, sign: int, z: float) -> None:
    se = yi / z
    p = 2 * stats.norm.sf(z)
    assert p_to_se(sign * yi, p) == pytest.approx(se, rel=1e-9)
    assert t_to_se(sign * yi, sign * z) == pytest.approx(se, rel=1e-12)


@settings(max_examples=30)
@given(x=st.lists(five_sorted, min_size=1, max_size=8), n=st.lists(sizes, min_size=8, max_size=8))
def test_vectorised_equals_elementwise(x: list[list[float]], n: list[int]) -> None:
    cols = np.array(x).T
    nn = np.array(n[: len(x)], dtype=float)
    mean, sd = median_to_mean_sd(
        nn, min=cols[0], q1=cols[1], median=cols[2], q3=cols[3], max=cols[4]
    )
    for i, row in enumerate(x):
        m1, s1 = median_to_mean_sd(
            nn[i], min=row[0], q1=row[1], median=row[2], q3=row[3], max=row[4]
        )
        assert mean[i] == m1 and sd[i] == s1


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "column", "needle"),
    [
        (
            lambda: ci_to_se(2.0, 1.0),
            "ci_low",
            "lower CI bound (2) is not below the upper bound (1)",
        ),
        (lambda: ci_to_se(1.0, 1.0), "ci_low", "not below the upper bound"),
        (lambda: ci_to_se(-0.1, 1.2, ratio=True), "ci_low", "ratio (OR, RR, HR) must be positive"),
        (lambda: ci_to_se(0.5, 1.2, level=150), "level", "between 0 and 100 (got 150)"),
        (lambda: ci_to_se(0.5, 1.2, level=0), "level", "between 0 and 100"),
        (lambda: ci_to_se(0.5, 1.2, level=100), "level", "between 0 and 100"),
        (lambda: ci_to_se(0.5, 1.2, df=0), "df", "degrees of freedom must be positive"),
        (lambda: ci_to_se("low", 1.2), "ci_low", "not a number"),
        (lambda: ci_to_se(0.5, math.inf), "ci_high", "infinite"),
        (lambda: ci_to_yi_vi(3.0, 1.0, 2.0), "estimate", "estimate (3) lies outside its CI [1, 2]"),
        (lambda: ci_to_yi_vi(0.0, 0.5, 2.0, ratio=True), "estimate", "must be positive"),
        (lambda: p_to_se(1.0, 0.0), "p", "strictly between 0 and 1 to give an SE (got 0)"),
        (lambda: p_to_se(1.0, 1.0), "p", "strictly between 0 and 1"),
        (lambda: p_to_se(1.0, 5.0), "p", "strictly between 0 and 1"),
        (lambda: p_to_se(0.0, 0.04), "estimate", "estimate of no effect"),
        (lambda: p_to_se(1.0, 0.04, ratio=True), "estimate", "estimate of no effect"),
        (lambda: p_to_se(-2.0, 0.04, ratio=True), "estimate", "must be positive"),
        (lambda: p_to_se(2.0, 0.04, df=-3), "df", "degrees of freedom must be positive"),
        (lambda: t_to_se(2.0, 0.0), "t", "t statistic of 0"),
        (lambda: mean_from_median(1, median=3, q1=1, q3=5), "n", "at least 2 (got 1)"),
        (lambda: sd_from_median(0, q1=1, q3=5), "n", "at least 2"),
        (lambda: mean_from_median(20, median=3, q1=4, q3=5), "q1", "q1 (4) is above median (3)"),
        (lambda: sd_from_median(20, q1=6, q3=5), "q1", "q1 (6) is above q3 (5)"),
        (lambda: mean_from_median(20, median=3, min=4, max=5), "min", "min (4) is above median"),
        (
            lambda: median_to_mean_sd(20, median=3, q1=1, q3=5, min=2, max=9),
            "min",
            "min (2) is above q1 (1)",
        ),
        (
            lambda: median_to_mean_sd(20, median=3, q1=1, q3=5, min=0, max=4),
            "q3",
            "q3 (5) is above max (4)",
        ),
        (lambda: mean_from_median(20, median=3, q1=1), "q3", "q1 given without q3"),
        (lambda: sd_from_median(20, max=5), "min", "max given without min"),
        (lambda: mean_from_median(20, median=3), None, "need the quartiles (q1, q3), the range"),
        (lambda: mean_from_median(20, median=None, q1=1, q3=5), "median", "median is required"),
    ],
)
def test_invalid_input_raises_input_error(call: Any, column: str | None, needle: str) -> None:
    with pytest.raises(InputError) as info:
        call()
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert needle in msg
    assert "\n" not in msg
    if column is not None:
        assert f"column {column}:" in msg


def test_error_names_the_entry_in_a_column() -> None:
    with pytest.raises(InputError, match=r"q1 \(12\) is above median \(9\) \(entry 3 of 4\)"):
        median_to_mean_sd(
            [30, 40, 50, 60], median=[9, 9, 9, 9], q1=[6, 6, 12, 6], q3=[17, 17, 17, 17]
        )
    with pytest.raises(InputError, match=r"entry 2 of 2"):
        ci_to_yi_vi([0.8, 1.1], [0.5, 0.2], [1.2, 0.9], ratio=True)


def test_order_check_skips_missing_values_but_not_the_others() -> None:
    # q1 is missing in this study, which must not hide min > median.
    with pytest.raises(InputError, match=r"min \(10\) is above median \(3\)"):
        median_to_mean_sd(20, median=[3.0], min=[10.0], max=[20.0], q1=[math.nan], q3=[5.0])


def test_incompatible_shapes() -> None:
    with pytest.raises(InputError, match="incompatible shapes"):
        ci_to_se([1.0, 2.0], [3.0, 4.0, 5.0])
