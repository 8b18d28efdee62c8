"""Recover an effect size and its sampling variance from what trial reports print.

Reports often give an estimate with its confidence interval, an estimate with a p-value or a
t-statistic, or a median with quartiles and/or range instead of a mean and SD. These functions
turn such summaries into the inputs of a meta-analysis, with the estimators Cochrane reviews
use:

* CI or p-value to standard error: Cochrane Handbook (version 6) sections 6.3.1-6.3.2 and 6.5.2.3,
  the same closed forms as metafor's ``conv.wald()`` (plus the t-based variant for small samples
  that ``conv.wald()`` lacks).
* Median, quartiles and range to mean: Luo D, Wan X, Liu J, Tong T (2018), Optimally estimating
  the sample mean from the sample size, median, mid-range, and/or mid-quartile range, Stat Methods
  Med Res 27(6):1785-1805.
* Median, quartiles and range to SD: Wan X, Wang W, Liu J, Tong T (2014), Estimating the sample
  mean and standard deviation from the sample size, median, range and/or interquartile range,
  BMC Med Res Methodol 14:135.
* SE or CI of a group mean to its SD: Cochrane Handbook 6.5.2.2; subgroups (or arms) combined
  into one group: 6.5.2.10 (Table 6.5.a); a control shared by several comparisons split: 23.3.4.
* Mean differences from arms, through the engine's ``escalc`` (:func:`arm_contrasts`).

:data:`CONVERSIONS` names what an extraction form offers; :func:`convert` applies one and returns
the numbers with the method named, so a converted value is stored with how it was made.

The median-based formulas equal metafor >= 4.0's ``conv.fivenum(..., method = c("luo2016",
"wan2014"), dist = "norm", test = FALSE)``; note that its default SD method for the five-number
case is Shi et al. (2020), not Wan et al. (2014).

All functions are vectorised: inputs broadcast against each other like numpy arrays, scalars in
give a float out, and a NaN in an input gives NaN in the matching output. Invalid values raise
:class:`~metareview.errors.InputError` naming the column, the entry and the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from metareview.errors import InputError, where

__all__ = [
    "CONVERSIONS",
    "ArmContrast",
    "ArmSummary",
    "Conversion",
    "ConversionSpec",
    "arm_contrasts",
    "ci_to_sd",
    "ci_to_se",
    "ci_to_yi_vi",
    "combine_groups",
    "convert",
    "mean_from_median",
    "median_to_mean_sd",
    "p_to_se",
    "sd_from_median",
    "se_to_sd",
    "split_shared_control",
    "t_to_se",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Result = float | FloatArray


# --------------------------------------------------------------------------- input helpers


def _as_float(x: ArrayLike, column: str) -> FloatArray:
    """``x`` as a float array; text or infinities are input errors, NaN means missing."""
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{where(column=column)}: not a number ({x!r})") from None
    _check(np.isinf(a), column, lambda i: f"value is infinite ({a.flat[i]})")
    return a


def _check(bad: BoolArray, column: str, reason: Callable[[int], str]) -> None:
    """Raise :class:`InputError` for the first True entry of ``bad`` (a flat index into it)."""
    if not np.any(bad):
        return
    flat = np.ravel(bad)
    i = int(np.flatnonzero(flat)[0])
    # Vectorised callers pass whole columns: the entry number tells them which study it was.
    at = f" (entry {i + 1} of {flat.size})" if flat.size > 1 else ""
    raise InputError(f"{where(column=column)}: {reason(i)}{at}")


def _broadcast(*arrays: FloatArray) -> list[FloatArray]:
    """Broadcast to one shape and copy, so results are writable and flat indices line up."""
    try:
        return [np.array(a, dtype=float) for a in np.broadcast_arrays(*arrays)]
    except ValueError:
        shapes = ", ".join(str(np.shape(a)) for a in arrays)
        raise InputError(f"{where()}: inputs have incompatible shapes {shapes}") from None


def _result(x: FloatArray, scalar: bool) -> Result:
    return float(x) if scalar else x


def _is_scalar(*arrays: FloatArray) -> bool:
    return all(np.ndim(a) == 0 for a in arrays)


def _fmt(v: float) -> str:
    return f"{v:g}"


def _to_scale(x: FloatArray, ratio: bool, column: str) -> FloatArray:
    """Log of a ratio measure (its analysis scale); a difference measure is returned as is."""
    if not ratio:
        return x
    _check(
        x <= 0,
        column,
        lambda i: (
            f"a ratio (OR, RR, HR) must be positive, got {_fmt(x.flat[i])}; "
            "pass ratio=False for a difference measure or for values already on the log scale"
        ),
    )
    return np.log(x)


def _alpha(level: ArrayLike) -> FloatArray:
    """Two-sided alpha from a confidence level given as a percentage (95) or proportion (0.95).

    Both spellings are accepted, as in metafor: a level above 1 is read as a percentage.
    """
    lv = _as_float(level, "level")
    alpha = np.where(lv > 1, (100.0 - lv) / 100.0, 1.0 - lv)
    _check(
        ~np.isnan(alpha) & ~((alpha > 0) & (alpha < 1)),
        "level",
        lambda i: f"confidence level must lie strictly between 0 and 100 (got {_fmt(lv.flat[i])})",
    )
    return alpha


def _critical(alpha: FloatArray, df: ArrayLike | None) -> FloatArray:
    """Upper alpha/2 quantile: normal, or Student t where ``df`` is given and not NaN."""
    z = stats.norm.isf(alpha / 2)
    if df is None:
        return np.asarray(z, dtype=float)
    d = _as_float(df, "df")
    _check(d <= 0, "df", lambda i: f"degrees of freedom must be positive (got {_fmt(d.flat[i])})")
    with np.errstate(invalid="ignore"):
        t = stats.t.isf(alpha / 2, np.where(np.isnan(d), 1.0, d))
    # NaN df means "no small-sample correction known" for that study: fall back to z.
    return np.asarray(np.where(np.isnan(d), z, t), dtype=float)


# --------------------------------------------------------------------------- CI, p and t


def ci_to_se(
    ci_low: ArrayLike,
    ci_high: ArrayLike,
    *,
    ratio: bool = False,
    level: ArrayLike = 95,
    df: ArrayLike | None = None,
) -> Result:
    """Standard error from a symmetric (Wald-type) confidence interval.

    ``se = (ci_high - ci_low) / (2 q)`` with ``q`` the upper ``(1 - level) / 2`` quantile of the
    standard normal, or of Student's t with ``df`` degrees of freedom when ``df`` is given.

    Parameters
    ----------
    ci_low, ci_high : array_like
        Lower and upper confidence limits, on the natural scale (ratios as ratios).
    ratio : bool, default False
        True for ratio measures (odds, risk and hazard ratios): the interval is symmetric on the
        log scale, so the SE returned is that of the log ratio.
    level : array_like, default 95
        Confidence level, in percent (95) or as a proportion (0.95).
    df : array_like, optional
        Degrees of freedom for a t-based interval, e.g. ``n1 + n2 - 2`` for a mean difference
        from small trials (Cochrane Handbook 6.5.2.3). Entries that are NaN use the normal.

    Returns
    -------
    float or ndarray
        Standard error (of the log ratio when ``ratio=True``).

    Raises
    ------
    InputError
        If a lower limit is not below its upper limit, a ratio limit is not positive, or
        ``level`` or ``df`` is out of range.

    Notes
    -----
    Cochrane Handbook for Systematic Reviews of Interventions, version 6, sections 6.3.1
    (difference measures), 6.3.2 (ratio measures, via the log scale) and 6.5.2.3 (t quantile
    for small samples); as metafor's ``conv.wald()``, which always uses the normal quantile.
    """
    lo = _as_float(ci_low, "ci_low")
    hi = _as_float(ci_high, "ci_high")
    scalar = _is_scalar(lo, hi, np.asarray(level), np.asarray(df if df is not None else 0.0))
    lo, hi = _broadcast(lo, hi)
    llo = _to_scale(lo, ratio, "ci_low")
    lhi = _to_scale(hi, ratio, "ci_high")
    _check(
        lo >= hi,
        "ci_low",
        lambda i: (
            f"lower CI bound ({_fmt(lo.flat[i])}) is not below the upper bound ({_fmt(hi.flat[i])})"
        ),
    )
    crit = _critical(_alpha(level), df)
    se = (lhi - llo) / (2.0 * crit)
    return _result(np.asarray(se, dtype=float), scalar)


def ci_to_yi_vi(
    estimate: ArrayLike,
    ci_low: ArrayLike,
    ci_high: ArrayLike,
    *,
    ratio: bool = False,
    level: ArrayLike = 95,
    df: ArrayLike | None = None,
) -> tuple[Result, Result]:
    """Effect size ``yi`` and sampling variance ``vi`` from an estimate and its CI.

    ``yi`` is the estimate (its log for ratio measures) and ``vi = se**2`` with ``se`` from
    :func:`ci_to_se`. The inverse of ``ci = yi -/+ q * sqrt(vi)`` (exponentiated for ratios).

    Parameters
    ----------
    estimate : array_like
        Point estimate on the natural scale (ratios as ratios).
    ci_low, ci_high : array_like
        Its confidence limits.
    ratio : bool, default False
        True for odds, risk and hazard ratios: ``yi = log(estimate)`` and the SE is taken from
        the log limits.
    level : array_like, default 95
        Confidence level, in percent (95) or as a proportion (0.95).
    df : array_like, optional
        Degrees of freedom for a t-based interval (see :func:`ci_to_se`).

    Returns
    -------
    yi, vi : float or ndarray
        Effect size on the analysis scale and its sampling variance.

    Raises
    ------
    InputError
        As :func:`ci_to_se`, and if the estimate lies outside its CI or a ratio estimate is
        not positive.

    Notes
    -----
    Cochrane Handbook version 6, sections 6.3.1-6.3.2 and 6.5.2.3; metafor ``conv.wald(out, ci.lb,
    ci.ub)`` with the limits log-transformed for ratio measures.
    """
    est = _as_float(estimate, "estimate")
    lo = _as_float(ci_low, "ci_low")
    hi = _as_float(ci_high, "ci_high")
    scalar = _is_scalar(est, lo, hi, np.asarray(level), np.asarray(df if df is not None else 0.0))
    est, lo, hi = _broadcast(est, lo, hi)
    se = np.asarray(ci_to_se(lo, hi, ratio=ratio, level=level, df=df), dtype=float)
    yi = _to_scale(est, ratio, "estimate")
    # An estimate outside its own interval is a transcription error (swapped columns, a CI
    # from another row), not rounding: rounding can put it on a bound but not beyond.
    _check(
        (est < lo) | (est > hi),
        "estimate",
        lambda i: (
            f"estimate ({_fmt(est.flat[i])}) lies outside its CI "
            f"[{_fmt(lo.flat[i])}, {_fmt(hi.flat[i])}]"
        ),
    )
    yi, se = np.broadcast_arrays(yi, se)
    return _result(np.array(yi), scalar), _result(np.array(se) ** 2, scalar)


def _nonzero_effect(yi: FloatArray, column: str, what: str) -> None:
    # A null estimate carries no information about the SE through a test statistic.
    _check(
        yi == 0,
        column,
        lambda i: f"an estimate of no effect cannot be combined with {what} to give an SE",
    )


def p_to_se(
    estimate: ArrayLike,
    p: ArrayLike,
    *,
    ratio: bool = False,
    df: ArrayLike | None = None,
) -> Result:
    """Standard error from an estimate and its two-sided p-value.

    ``se = |yi| / q`` where ``q`` is the upper ``p / 2`` quantile of the standard normal (or of
    Student's t with ``df`` degrees of freedom) and ``yi`` the estimate, logged for ratios.

    Parameters
    ----------
    estimate : array_like
        Point estimate on the natural scale (ratios as ratios).
    p : array_like
        Exact two-sided p-value, strictly between 0 and 1. A p given only as a bound
        ("p < 0.001") cannot be converted.
    ratio : bool, default False
        True for odds, risk and hazard ratios: the SE is that of the log ratio.
    df : array_like, optional
        Degrees of freedom when the p-value came from a t-test (Cochrane Handbook 6.5.2.3).
        Entries that are NaN use the normal.

    Returns
    -------
    float or ndarray
        Standard error of ``yi`` (of the log ratio when ``ratio=True``).

    Raises
    ------
    InputError
        If ``p`` is not strictly between 0 and 1, a ratio estimate is not positive, the estimate
        is the null value, or ``df`` is not positive.

    Notes
    -----
    Cochrane Handbook version 6, sections 6.3.1-6.3.2 (p-value to z to SE) and 6.5.2.3 (t-tests);
    metafor ``conv.wald(out, pval)`` for the normal case.
    """
    est = _as_float(estimate, "estimate")
    pv = _as_float(p, "p")
    scalar = _is_scalar(est, pv, np.asarray(df if df is not None else 0.0))
    est, pv = _broadcast(est, pv)
    _check(
        (pv <= 0) | (pv >= 1),
        "p",
        lambda i: (
            f"p-value must lie strictly between 0 and 1 to give an SE (got {_fmt(pv.flat[i])})"
        ),
    )
    yi = _to_scale(est, ratio, "estimate")
    _nonzero_effect(yi, "estimate", "a p-value")
    crit = _critical(pv, df)  # two-sided p is the alpha whose critical value the estimate hit
    return _result(np.asarray(np.abs(yi) / crit, dtype=float), scalar)


def t_to_se(estimate: ArrayLike, t: ArrayLike, *, ratio: bool = False) -> Result:
    """Standard error from an estimate and its t (or z) statistic: ``se = |yi / t|``.

    Parameters
    ----------
    estimate : array_like
        Point estimate on the natural scale (ratios as ratios).
    t : array_like
        The test statistic of that estimate against no effect; its sign is ignored.
    ratio : bool, default False
        True for ratio measures: ``yi = log(estimate)``.

    Returns
    -------
    float or ndarray
        Standard error of ``yi``.

    Raises
    ------
    InputError
        If ``t`` is zero, a ratio estimate is not positive, or the estimate is the null value.

    Notes
    -----
    Cochrane Handbook version 6, section 6.5.2.3 ("SE = MD / t").
    """
    est = _as_float(estimate, "estimate")
    tv = _as_float(t, "t")
    scalar = _is_scalar(est, tv)
    est, tv = _broadcast(est, tv)
    _check(tv == 0, "t", lambda i: "a t statistic of 0 gives no information about the SE")
    yi = _to_scale(est, ratio, "estimate")
    _nonzero_effect(yi, "estimate", "a t statistic")
    return _result(np.asarray(np.abs(yi / tv), dtype=float), scalar)


# --------------------------------------------------------------------------- median, IQR, range

_ORDER = ("min", "q1", "median", "q3", "max")


def _xi(n: FloatArray) -> FloatArray:
    """Wan et al. (2014) eq. 9 divisor of the range: expected range of n standard normals."""
    return 2.0 * stats.norm.ppf((n - 0.375) / (n + 0.25))


def _eta(n: FloatArray) -> FloatArray:
    """Wan et al. (2014) eq. 16 divisor of the IQR (tends to 1.349 as n grows)."""
    return 2.0 * stats.norm.ppf((0.75 * n - 0.125) / (n + 0.25))


def _quantiles(
    n: ArrayLike,
    median: ArrayLike | None,
    q1: ArrayLike | None,
    q3: ArrayLike | None,
    min: ArrayLike | None,
    max: ArrayLike | None,
    *,
    need_median: bool = True,
) -> tuple[dict[str, FloatArray], bool]:
    """Validate and broadcast the summary statistics; absent ones become NaN."""
    if (q1 is None) != (q3 is None):
        given, missing = ("q1", "q3") if q3 is None else ("q3", "q1")
        raise InputError(
            f"{where(column=missing)}: {given} given without {missing}; "
            "quartiles are used as a pair"
        )
    if (min is None) != (max is None):
        given, missing = ("min", "max") if max is None else ("max", "min")
        raise InputError(
            f"{where(column=missing)}: {given} given without {missing}; the range is used as a pair"
        )
    if median is None and need_median:
        raise InputError(f"{where(column='median')}: the median is required for the mean")
    if q1 is None and min is None:
        raise InputError(f"{where()}: need the quartiles (q1, q3), the range (min, max) or both")
    raw = {"n": n, "min": min, "q1": q1, "median": median, "q3": q3, "max": max}
    arrays = {k: _as_float(v, k) for k, v in raw.items() if v is not None}
    scalar = _is_scalar(*arrays.values())
    names = list(arrays)
    vals = dict(zip(names, _broadcast(*arrays.values()), strict=True))
    shape = vals["n"].shape
    for k in _ORDER:
        vals.setdefault(k, np.full(shape, np.nan))

    nn = vals["n"]
    # xi(1) = eta(1) = 0: the divisors need two observations. (metafor returns NA for n < 5.)
    _check(nn < 2, "n", lambda i: f"sample size must be at least 2 (got {_fmt(nn.flat[i])})")
    # Every pair, not just neighbours, so a missing q1 does not hide min > median.
    for a in range(len(_ORDER)):
        for b in range(a + 1, len(_ORDER)):
            lo, hi = vals[_ORDER[a]], vals[_ORDER[b]]
            _check(
                lo > hi,
                _ORDER[a],
                lambda i, a=a, b=b, lo=lo, hi=hi: (
                    f"{_ORDER[a]} ({_fmt(lo.flat[i])}) is above {_ORDER[b]} ({_fmt(hi.flat[i])})"
                ),
            )
    return vals, scalar


def _scenarios(v: dict[str, FloatArray]) -> tuple[BoolArray, BoolArray, BoolArray]:
    """Per-entry masks for S1 (range only), S2 (quartiles only), S3 (both)."""
    has_range = ~np.isnan(v["min"]) & ~np.isnan(v["max"])
    has_quart = ~np.isnan(v["q1"]) & ~np.isnan(v["q3"])
    return has_range & ~has_quart, has_quart & ~has_range, has_range & has_quart


def _luo_mean(v: dict[str, FloatArray]) -> FloatArray:
    n, m = v["n"], v["median"]
    mid_range = (v["min"] + v["max"]) / 2
    mid_quart = (v["q1"] + v["q3"]) / 2
    # Luo et al. (2018): weights minimising the MSE under normality, fitted as functions of n.
    w = 4.0 / (4.0 + n**0.75)
    s1 = w * mid_range + (1 - w) * m
    w = 0.7 + 0.39 / n
    s2 = w * mid_quart + (1 - w) * m
    w1 = 2.2 / (2.2 + n**0.75)
    w2 = 0.7 - 0.72 / n**0.55
    s3 = w1 * mid_range + w2 * mid_quart + (1 - w1 - w2) * m
    in1, in2, in3 = _scenarios(v)
    return np.select([in3, in2, in1], [s3, s2, s1], default=np.nan)


def _wan_sd(v: dict[str, FloatArray]) -> FloatArray:
    n = v["n"]
    s1 = (v["max"] - v["min"]) / _xi(n)
    s2 = (v["q3"] - v["q1"]) / _eta(n)
    in1, in2, in3 = _scenarios(v)
    return np.select([in3, in2, in1], [(s1 + s2) / 2, s2, s1], default=np.nan)


def mean_from_median(
    n: ArrayLike,
    *,
    median: ArrayLike,
    q1: ArrayLike | None = None,
    q3: ArrayLike | None = None,
    min: ArrayLike | None = None,
    max: ArrayLike | None = None,
) -> Result:
    """Estimate a sample mean from the median with quartiles and/or range (Luo et al. 2018).

    The scenario is chosen per entry from the values present (not NaN):

    * S1, median and range: ``w (min + max)/2 + (1 - w) median``, ``w = 4 / (4 + n**0.75)``;
    * S2, median and quartiles: ``w (q1 + q3)/2 + (1 - w) median``, ``w = 0.7 + 0.39 / n``;
    * S3, all five: ``w1 (min + max)/2 + w2 (q1 + q3)/2 + (1 - w1 - w2) median`` with
      ``w1 = 2.2 / (2.2 + n**0.75)`` and ``w2 = 0.7 - 0.72 / n**0.55``.

    Parameters
    ----------
    n : array_like
        Sample size (at least 2).
    median : array_like
        Sample median.
    q1, q3 : array_like, optional
        First and third quartiles; give both or neither.
    min, max : array_like, optional
        Smallest and largest observation; give both or neither.

    Returns
    -------
    float or ndarray
        Estimated mean; NaN where the median or both pairs are missing.

    Raises
    ------
    InputError
        If ``n < 2``, the values are not ordered ``min <= q1 <= median <= q3 <= max``, only one
        of a pair is given, or neither pair is.

    Notes
    -----
    Luo D, Wan X, Liu J, Tong T (2018). Optimally estimating the sample mean from the sample
    size, median, mid-range, and/or mid-quartile range. Stat Methods Med Res 27(6):1785-1805,
    equations for scenarios S1, S2 and S3. The estimators assume roughly normal data; metafor's
    ``conv.fivenum()`` (method ``"luo2016"``) gives the same values for ``n >= 5``.
    """
    v, scalar = _quantiles(n, median, q1, q3, min, max)
    return _result(_luo_mean(v), scalar)


def sd_from_median(
    n: ArrayLike,
    *,
    q1: ArrayLike | None = None,
    q3: ArrayLike | None = None,
    min: ArrayLike | None = None,
    max: ArrayLike | None = None,
    median: ArrayLike | None = None,
) -> Result:
    """Estimate a sample SD from the quartiles and/or range (Wan et al. 2014).

    With ``xi(n) = 2 Phi^-1((n - 0.375) / (n + 0.25))`` and
    ``eta(n) = 2 Phi^-1((0.75 n - 0.125) / (n + 0.25))``, per entry:

    * S1, range: ``(max - min) / xi(n)`` (eq. 9);
    * S2, quartiles: ``(q3 - q1) / eta(n)`` (eq. 16);
    * S3, both: the average of the two (eq. 13).

    Parameters
    ----------
    n : array_like
        Sample size (at least 2).
    q1, q3 : array_like, optional
        First and third quartiles; give both or neither.
    min, max : array_like, optional
        Smallest and largest observation; give both or neither.
    median : array_like, optional
        Not used by the estimator; when given it is checked to lie between the others.

    Returns
    -------
    float or ndarray
        Estimated SD; NaN where both pairs are missing.

    Raises
    ------
    InputError
        If ``n < 2``, the values are out of order, only one of a pair is given, or neither
        pair is.

    Notes
    -----
    Wan X, Wang W, Liu J, Tong T (2014). Estimating the sample mean and standard deviation from
    the sample size, median, range and/or interquartile range. BMC Med Res Methodol 14:135,
    equations 9, 13 and 16. Equals metafor's ``conv.fivenum(method = c(..., "wan2014"))``; its
    default for S3 is Shi et al. (2020) instead.
    """
    v, scalar = _quantiles(n, median, q1, q3, min, max, need_median=False)
    return _result(_wan_sd(v), scalar)


def median_to_mean_sd(
    n: ArrayLike,
    *,
    median: ArrayLike,
    q1: ArrayLike | None = None,
    q3: ArrayLike | None = None,
    min: ArrayLike | None = None,
    max: ArrayLike | None = None,
) -> tuple[Result, Result]:
    """Mean and SD from a median with quartiles and/or range, choosing the scenario per entry.

    Quartiles and range both present (S3), quartiles only (S2) or range only (S1); the mean by
    :func:`mean_from_median` (Luo et al. 2018), the SD by :func:`sd_from_median` (Wan et al.
    2014).

    Parameters
    ----------
    n : array_like
        Sample size (at least 2).
    median : array_like
        Sample median.
    q1, q3 : array_like, optional
        First and third quartiles; give both or neither.
    min, max : array_like, optional
        Smallest and largest observation; give both or neither.

    Returns
    -------
    mean, sd : float or ndarray
        Estimated mean and SD; NaN where inputs are missing.

    Raises
    ------
    InputError
        As :func:`mean_from_median`.

    Notes
    -----
    Both estimators assume approximately normal data; for skewed outcomes the Cochrane Handbook
    (6.5.2.5) advises caution. The values equal metafor >= 4.0 ``conv.fivenum(min, q1, median,
    q3, max, n, method = c("luo2016", "wan2014"), test = FALSE)``.
    """
    v, scalar = _quantiles(n, median, q1, q3, min, max)
    return _result(_luo_mean(v), scalar), _result(_wan_sd(v), scalar)


# --------------------------------------------------------------------------- SDs of group means


def se_to_sd(se: ArrayLike, n: ArrayLike) -> Result:
    """SD of a group's outcome from the standard error of its mean: ``sd = se * sqrt(n)``.

    Parameters
    ----------
    se : array_like
        Standard error of the group mean (not of a difference between groups).
    n : array_like
        The group's sample size (at least 1).

    Returns
    -------
    float or ndarray
        The standard deviation.

    Raises
    ------
    InputError
        A negative SE or a sample size below 1.

    Notes
    -----
    Cochrane Handbook version 6, section 6.5.2.2 ("SD = SE × √N").
    """
    s = _as_float(se, "se")
    nn = _as_float(n, "n")
    scalar = _is_scalar(s, nn)
    s, nn = _broadcast(s, nn)
    _check(s < 0, "se", lambda i: f"a standard error cannot be negative (got {_fmt(s.flat[i])})")
    _check(nn < 1, "n", lambda i: f"sample size must be at least 1 (got {_fmt(nn.flat[i])})")
    return _result(s * np.sqrt(nn), scalar)


def ci_to_sd(
    ci_low: ArrayLike,
    ci_high: ArrayLike,
    n: ArrayLike,
    *,
    level: ArrayLike = 95,
    t: bool = True,
) -> Result:
    """SD of a group's outcome from the confidence interval of its mean.

    ``sd = sqrt(n) * (ci_high - ci_low) / (2 q)``, with ``q`` the upper ``(1 - level) / 2``
    quantile of Student's t with ``n - 1`` degrees of freedom (``t=True``, the interval of a
    mean from a small sample) or of the standard normal (``t=False``: 3.92 = 2 × 1.96 for a 95%
    interval, the large-sample rule).

    Parameters
    ----------
    ci_low, ci_high : array_like
        The confidence limits of the group mean.
    n : array_like
        The group's sample size (at least 2 with ``t=True``).
    level : array_like, default 95
        Confidence level, in percent (95) or as a proportion (0.95).
    t : bool, default True
        Use the t quantile (Handbook: for groups smaller than about 60 the interval should have
        been computed with it); False uses the normal quantile.

    Returns
    -------
    float or ndarray
        The standard deviation.

    Raises
    ------
    InputError
        A lower limit not below the upper, a sample size too small, a level out of range.

    Notes
    -----
    Cochrane Handbook version 6, section 6.5.2.2: "SD = √N × (upper limit − lower limit) /
    3.92" for large samples, with 3.92 replaced by twice the t value with N − 1 degrees of
    freedom for small ones.
    """
    nn = _as_float(n, "n")
    _check(nn < (2 if t else 1), "n",
           lambda i: f"sample size must be at least {2 if t else 1} (got {_fmt(nn.flat[i])})")
    se = ci_to_se(ci_low, ci_high, level=level, df=nn - 1 if t else None)
    return se_to_sd(se, nn)


def combine_groups(
    n1: ArrayLike, m1: ArrayLike, sd1: ArrayLike, n2: ArrayLike, m2: ArrayLike, sd2: ArrayLike,
) -> tuple[Result, Result, Result]:
    """Sample size, mean and SD of two groups combined into one.

    ``n = n1 + n2``, ``m = (n1 m1 + n2 m2) / n`` and
    ``sd = sqrt(((n1 - 1) sd1² + (n2 - 1) sd2² + n1 n2 / n (m1² + m2² - 2 m1 m2)) / (n - 1))``:
    exactly the mean and the (n − 1) SD of the two groups' observations pooled. Apply it again to
    combine more than two groups.

    Parameters
    ----------
    n1, m1, sd1 : array_like
        Size, mean and SD of the first group.
    n2, m2, sd2 : array_like
        Of the second group.

    Returns
    -------
    n, mean, sd : float or ndarray

    Raises
    ------
    InputError
        A group size below 1, a negative SD, or both groups of size 1 together (no SD).

    Notes
    -----
    Cochrane Handbook version 6, section 6.5.2.10 (Table 6.5.a, combining groups), used both
    for subgroups reported separately and, section 23.3.4, for several intervention arms that
    share one control.
    """
    a = {k: _as_float(v, k) for k, v in (("n1", n1), ("m1", m1), ("sd1", sd1), ("n2", n2),
                                          ("m2", m2), ("sd2", sd2))}
    scalar = _is_scalar(*a.values())
    a = dict(zip(a, _broadcast(*a.values()), strict=True))
    for k in ("n1", "n2"):
        _check(a[k] < 1, k, lambda i, k=k: f"group size must be at least 1 (got "
               f"{_fmt(a[k].flat[i])})")
    for k in ("sd1", "sd2"):
        _check(a[k] < 0, k, lambda i, k=k: f"an SD cannot be negative (got {_fmt(a[k].flat[i])})")
    n = a["n1"] + a["n2"]
    _check(n < 3, "n2", lambda i: "two groups of one person each have no SD to combine")
    m = (a["n1"] * a["m1"] + a["n2"] * a["m2"]) / n
    ss = ((a["n1"] - 1) * a["sd1"] ** 2 + (a["n2"] - 1) * a["sd2"] ** 2
          + a["n1"] * a["n2"] / n * (a["m1"] - a["m2"]) ** 2)
    return _result(n, scalar), _result(m, scalar), _result(np.sqrt(ss / (n - 1)), scalar)


def split_shared_control(total: ArrayLike, k: ArrayLike,
                         events: ArrayLike | None = None) -> tuple[Result, Result | None]:
    """A control group shared by ``k`` comparisons, split into ``k`` equal parts.

    Each comparison gets ``total / k`` participants (and ``events / k`` events for a
    dichotomous outcome; a continuous outcome keeps its mean and SD), so the shared group is
    not counted ``k`` times in a meta-analysis.

    Parameters
    ----------
    total : array_like
        The control group's size.
    k : array_like
        How many comparisons share it (at least 1).
    events : array_like, optional
        Its events, for a dichotomous outcome.

    Returns
    -------
    total, events : float or ndarray (events None when not given)

    Raises
    ------
    InputError
        ``k`` below 1, a total below 1, or events outside ``[0, total]``.

    Notes
    -----
    Cochrane Handbook version 6, section 23.3.4 (multi-arm studies: "split the shared group").
    """
    tt = _as_float(total, "total")
    kk = _as_float(k, "k")
    ev = _as_float(events, "events") if events is not None else None
    scalar = _is_scalar(tt, kk, *([] if ev is None else [ev]))
    arrays = _broadcast(tt, kk, *([] if ev is None else [ev]))
    tt, kk = arrays[0], arrays[1]
    _check(kk < 1, "k", lambda i: f"comparisons sharing the group must be at least 1 "
           f"(got {_fmt(kk.flat[i])})")
    _check(tt < 1, "total", lambda i: f"group size must be at least 1 (got {_fmt(tt.flat[i])})")
    if ev is None:
        return _result(tt / kk, scalar), None
    ev = arrays[2]
    _check((ev < 0) | (ev > tt), "events",
           lambda i: f"events ({_fmt(ev.flat[i])}) must lie between 0 and the total "
           f"({_fmt(tt.flat[i])})")
    return _result(tt / kk, scalar), _result(ev / kk, scalar)


# --------------------------------------------------------------------------- named conversions


@dataclass(frozen=True)
class ConversionSpec:
    """A conversion an extraction form offers: what it takes, what it gives and its method.

    ``level`` says where its outputs go: ``"arm"`` (a group's mean, SD, N) or ``"effect"``
    (an effect estimate's SE and CI).
    """

    name: str
    title: str
    level: str
    inputs: tuple[str, ...]
    optional: tuple[str, ...]
    outputs: tuple[str, ...]
    method: str
    reference: str


@dataclass(frozen=True)
class Conversion:
    """One conversion applied: the numbers it took, those it gave, and the method named."""

    name: str
    method: str
    reference: str
    inputs: dict[str, float]
    outputs: dict[str, float]

    def summary(self) -> str:
        """One line for people: outputs, inputs and the method."""
        out = ", ".join(f"{k} = {_fmt4(v)}" for k, v in self.outputs.items())
        given = ", ".join(f"{k} = {_fmt4(v)}" for k, v in self.inputs.items())
        return f"{out} from {given}: {self.method} ({self.reference})"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"name": self.name, "method": self.method, "reference": self.reference,
                "inputs": dict(self.inputs), "outputs": dict(self.outputs)}


def _fmt4(v: float) -> str:
    return f"{v:.6g}"


_HANDBOOK = "Cochrane Handbook v6"
#: The conversions an extraction form offers, by name.
CONVERSIONS: dict[str, ConversionSpec] = {s.name: s for s in (
    ConversionSpec(
        "median_to_mean_sd", "Median with IQR and/or range → mean and SD", "arm",
        ("n", "median"), ("q1", "q3", "min", "max"), ("mean", "sd"),
        "mean from the median, quartiles and/or range (Luo et al. 2018), SD from the IQR "
        "and/or range (Wan et al. 2014)",
        "Luo D et al. Stat Methods Med Res 2018;27:1785-805; Wan X et al. BMC Med Res Methodol "
        "2014;14:135; Cochrane Handbook v6 6.5.2.5"),
    ConversionSpec(
        "se_to_sd", "SE of a group mean → SD", "arm", ("se", "n"), (), ("sd",),
        "SD = SE × √N", f"{_HANDBOOK} 6.5.2.2"),
    ConversionSpec(
        "ci_to_sd", "95% CI of a group mean → SD", "arm", ("ci_low", "ci_high", "n"), (),
        ("sd",), "SD = √N × (upper − lower) / (2 × t(0.975, N − 1))", f"{_HANDBOOK} 6.5.2.2"),
    ConversionSpec(
        "combine_subgroups", "Two subgroups → one group (N, mean, SD)", "arm",
        ("n1", "mean1", "sd1", "n2", "mean2", "sd2"), (), ("n", "mean", "sd"),
        "subgroups combined: N = N1 + N2, mean weighted by N, SD of the pooled observations",
        f"{_HANDBOOK} 6.5.2.10, Table 6.5.a"),
    ConversionSpec(
        "ci_to_se", "95% CI of an effect → SE", "effect", ("ci_low", "ci_high"), (), ("se",),
        "SE = (upper − lower) / 3.92 (on the log scale for ratios)",
        f"{_HANDBOOK} 6.3.1-6.3.2"),
    ConversionSpec(
        "p_to_se", "Effect with its p-value → SE and 95% CI", "effect", ("estimate", "p"), (),
        ("se", "ci_low", "ci_high"),
        "SE = |estimate| / z(p/2) (log scale for ratios); 95% CI = estimate ± 1.96 SE",
        f"{_HANDBOOK} 6.3.1-6.3.2, 6.5.2.3"),
    ConversionSpec(
        "t_to_se", "Effect with its t statistic → SE and 95% CI", "effect", ("estimate", "t"),
        (), ("se", "ci_low", "ci_high"),
        "SE = |estimate / t| (log scale for ratios); 95% CI = estimate ± 1.96 SE",
        f"{_HANDBOOK} 6.5.2.3"),
)}


def convert(name: str, inputs: Mapping[str, float | None], *, ratio: bool = False) -> Conversion:
    """Apply the conversion ``name`` of :data:`CONVERSIONS` to ``inputs``.

    Parameters
    ----------
    name : str
        A key of :data:`CONVERSIONS`.
    inputs : mapping
        Its inputs by name; None or NaN means not given (only the optional ones may be).
    ratio : bool, default False
        For effect-level conversions: the estimate is a ratio (OR, RR, HR), analysed on the
        log scale, and its CI is given back on the ratio scale.

    Returns
    -------
    Conversion
        The inputs used, the outputs, the method and its reference.

    Raises
    ------
    InputError
        An unknown conversion, a required input missing, or invalid values (as the underlying
        functions say).
    """
    spec = CONVERSIONS.get(name)
    if spec is None:
        raise InputError(f"unknown conversion {name!r} (one of {', '.join(CONVERSIONS)})")
    given: dict[str, float] = {}
    for key in (*spec.inputs, *spec.optional):
        value = inputs.get(key)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            given[key] = float(_as_float(value, key))
    missing = [k for k in spec.inputs if k not in given]
    if missing:
        raise InputError(f"{spec.title}: give {', '.join(missing)}")
    g = given
    out: dict[str, float]
    if name == "median_to_mean_sd":
        mean, sd = median_to_mean_sd(g["n"], median=g["median"], q1=g.get("q1"),
                                     q3=g.get("q3"), min=g.get("min"), max=g.get("max"))
        out = {"mean": float(mean), "sd": float(sd)}
    elif name == "se_to_sd":
        out = {"sd": float(se_to_sd(g["se"], g["n"]))}
    elif name == "ci_to_sd":
        out = {"sd": float(ci_to_sd(g["ci_low"], g["ci_high"], g["n"]))}
    elif name == "combine_subgroups":
        n, m, sd = combine_groups(g["n1"], g["mean1"], g["sd1"], g["n2"], g["mean2"], g["sd2"])
        out = {"n": float(n), "mean": float(m), "sd": float(sd)}
    elif name == "ci_to_se":
        out = {"se": float(ci_to_se(g["ci_low"], g["ci_high"], ratio=ratio))}
    else:
        se = float(p_to_se(g["estimate"], g["p"], ratio=ratio) if name == "p_to_se"
                   else t_to_se(g["estimate"], g["t"], ratio=ratio))
        out = {"se": se, **_wald_ci(g["estimate"], se, ratio)}
    return Conversion(name, spec.method, spec.reference, given, out)


def _wald_ci(estimate: float, se: float, ratio: bool) -> dict[str, float]:
    """The 95% Wald interval of an estimate (ratios: on the log scale, given back as ratios)."""
    z = float(stats.norm.isf(0.025))
    centre = math.log(estimate) if ratio else estimate
    lo, hi = centre - z * se, centre + z * se
    return {"ci_low": math.exp(lo), "ci_high": math.exp(hi)} if ratio else {"ci_low": lo,
                                                                           "ci_high": hi}


# --------------------------------------------------------------------------- effects from arms


@dataclass(frozen=True)
class ArmSummary:
    """One arm's continuous summary: its name, role (``intervention`` or ``control``), mean,
    SD and size."""

    name: str
    role: str
    mean: float
    sd: float
    n: float


@dataclass(frozen=True)
class ArmContrast:
    """A mean difference (or SMD) of intervention against control, computed from arms."""

    comparison: str
    measure: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    n_participants: float
    method: str

    def summary(self) -> str:
        """One line for people."""
        return (f"{self.comparison}: {self.measure} {self.estimate:.4g} "
                f"[{self.ci_low:.4g}, {self.ci_high:.4g}] ({self.method})")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"comparison": self.comparison, "measure": self.measure,
                "estimate": self.estimate, "se": self.se, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "n_participants": self.n_participants,
                "method": self.method}


def arm_contrasts(arms: Sequence[ArmSummary], *, measure: str = "MD",
                  multi_arm: str = "combine") -> tuple[ArmContrast, ...]:
    """Mean differences (or Hedges' g) of the intervention arms against the control, with 95%
    CIs, computed by :func:`~metareview.effects.escalc.effect_sizes` (the engine's ``escalc``).

    Several intervention arms sharing one control are combined into one arm (``"combine"``,
    :func:`combine_groups`) or each compared with the control split equally between them
    (``"split"``, :func:`split_shared_control`: N divided, mean and SD kept). Several control
    arms are combined into one.

    Parameters
    ----------
    arms : sequence of ArmSummary
        At least one intervention and one control arm.
    measure : {"MD", "SMD"}
    multi_arm : {"combine", "split"}

    Returns
    -------
    tuple of ArmContrast
        One contrast, or one per intervention arm when split.

    Raises
    ------
    InputError
        No intervention or no control arm, another measure or multi-arm rule, or invalid
        numbers (as ``effect_sizes`` says).

    Notes
    -----
    ``yi`` and ``vi`` are metafor's ``escalc(measure = "MD" | "SMD")``; the interval is
    ``yi ± 1.96 √vi``, what ``metareview analyze`` gives for the one study. Multi-arm handling:
    Cochrane Handbook v6 23.3.4; combining: 6.5.2.10.
    """
    import pandas as pd

    from metareview.effects.escalc import effect_sizes

    measure = measure.upper()
    if measure not in ("MD", "SMD"):
        raise InputError(f"measure {measure!r}: arms give MD or SMD")
    if multi_arm not in ("combine", "split"):
        raise InputError(f"multi-arm rule {multi_arm!r}: 'combine' or 'split'")
    iv = [a for a in arms if a.role == "intervention"]
    ct = [a for a in arms if a.role == "control"]
    if not iv or not ct:
        raise InputError("an effect from arms needs an intervention and a control arm")
    notes = []
    control = _combined(ct)
    if len(ct) > 1:
        notes.append("control arms combined (Handbook 6.5.2.10)")
    if multi_arm == "combine" or len(iv) == 1:
        pairs = [(_combined(iv), control)]
        if len(iv) > 1:
            notes.append("intervention arms combined (Handbook 6.5.2.10, 23.3.4)")
    else:
        share = float(split_shared_control(control.n, len(iv))[0])
        pairs = [(a, ArmSummary(control.name, "control", control.mean, control.sd, share))
                 for a in iv]
        notes.append(f"shared control split between {len(iv)} comparisons (N/{len(iv)}, "
                     "Handbook 23.3.4)")
    df = pd.DataFrame([{"m1i": a.mean, "sd1i": a.sd, "n1i": a.n, "m2i": c.mean,
                        "sd2i": c.sd, "n2i": c.n, "study": f"{a.name} vs {c.name}"}
                       for a, c in pairs])
    es = effect_sizes(df, measure, source="arms")
    z = float(stats.norm.isf(0.025))
    what = "mean difference" if measure == "MD" else "Hedges' g (SMD)"
    method = (f"{what} from means, SDs and Ns (escalc {measure}); 95% CI = yi ± 1.96 √vi"
              + "".join(f"; {n}" for n in notes))
    return tuple(ArmContrast(label, measure, float(y), float(math.sqrt(v)),
                             float(y - z * math.sqrt(v)), float(y + z * math.sqrt(v)),
                             float(a.n + c.n), method)
                 for (a, c), label, y, v in zip(pairs, es.study, es.yi, es.vi, strict=True))


def _combined(arms: Sequence[ArmSummary]) -> ArmSummary:
    """Arms of one role combined into one (Handbook 6.5.2.10), named by their names."""
    first = arms[0]
    n, m, sd = first.n, first.mean, first.sd
    for a in arms[1:]:
        n, m, sd = (float(x) for x in combine_groups(n, m, sd, a.n, a.mean, a.sd))
    return ArmSummary(" + ".join(a.name for a in arms), first.role, m, sd, n)
