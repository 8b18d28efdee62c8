"""Small-study effects and publication bias: Egger-type regression test, Begg's rank test,
trim-and-fill and fail-safe N (metafor 3.8's ``regtest``, ``ranktest``, ``trimfill`` and
``fsn``).

References
----------
Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in meta-analysis detected by a simple,
graphical test. BMJ 315:629-634.
Sterne JAC, Egger M (2005). Regression methods to detect publication and other bias in
meta-analysis. In: Rothstein, Sutton, Borenstein (eds), Publication Bias in Meta-Analysis.
Begg CB, Mazumdar M (1994). Operating characteristics of a rank correlation test for publication
bias. Biometrics 50:1088-1101.
Duval S, Tweedie R (2000). Trim and fill: a simple funnel-plot-based method of testing and
adjusting for publication bias in meta-analysis. Biometrics 56:455-463.
Rosenthal R (1979). The file drawer problem and tolerance for null results. Psychological
Bulletin 86:638-641. Orwin RG (1983). J Educ Stat 8:157-159. Rosenberg MS (2005). Evolution
59:464-468.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import stats

from metareview._util.textfmt import printout_num, printout_p
from metareview.diagnostics.influence import (
    _fixed_tau2,
    _num,
    _require_effects,
    _require_intercept_only,
    _require_uni,
)
from metareview.effects.escalc import from_arrays
from metareview.errors import InputError
from metareview.models.kinds import require_univariate
from metareview.models.rma import MetaAnalysis, fit_design, meta_analysis, refit
from metareview.models.tau2 import estimator

PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
_PRED_LABEL = {
    "sei": "standard error", "vi": "sampling variance", "ni": "sample size",
    "ninv": "inverse of the sample size", "sqrtni": "square root sample size",
    "sqrtninv": "inverse of the square root sample size",
}


# ---- regression test ---------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RegTest:
    """Regression test for funnel plot asymmetry (metafor's ``regtest``, ``model = "rma"``).

    Attributes
    ----------
    predictor : str
        ``sei`` (Egger's test), ``vi``, ``ni``, ``ninv``, ``sqrtni`` or ``sqrtninv``.
    stat : float
        z (or t) statistic of the predictor's coefficient.
    p : float
        Its two-sided p-value.
    df : int or None
        Degrees of freedom of the t-test (None for z).
    limit_estimate, limit_ci_low, limit_ci_high : float or None
        The intercept and its CI: the estimate as the predictor goes to 0 (a study of infinite
        precision). Only for an intercept-only model with predictor ``sei``, ``vi``, ``ninv``
        or ``sqrtninv``; else None.
    fit : MetaAnalysis
        The meta-regression on the predictor.
    """

    predictor: str
    stat: float
    p: float
    df: int | None
    limit_estimate: float | None
    limit_ci_low: float | None
    limit_ci_high: float | None
    fit: MetaAnalysis
    method: str = "REML"
    test: str = "z"

    @property
    def stat_name(self) -> str:
        """``"z"`` or ``"t"``."""
        return "t" if self.test in ("t", "knha") else "z"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {
            "predictor": self.predictor, "method": self.method, "test": self.test,
            "stat_name": self.stat_name, "stat": _num(self.stat), "p": _num(self.p),
            "df": self.df, "limit_estimate": _num(self.limit_estimate),
            "limit_ci_low": _num(self.limit_ci_low), "limit_ci_high": _num(self.limit_ci_high),
            "coefficients": {n: _num(b) for n, b in zip(self.fit.coef_names, self.fit.coef,
                                                         strict=True)},
            "tau2": _num(self.fit.tau2),
        }

    def summary(self) -> str:
        """In the layout of metafor's ``print(regtest(res))``."""
        model = ("mixed-effects meta-regression model" if estimator(self.method).random_effects
                 else "fixed-effects meta-regression model")
        df = f" (df = {self.df})" if self.df is not None else ""
        lines = ["Regression Test for Funnel Plot Asymmetry", "",
                 f"Model:     {model}", f"Predictor: {_PRED_LABEL[self.predictor]}", "",
                 f"Test for Funnel Plot Asymmetry: {self.stat_name} = {self.stat:.4f}{df}, "
                 f"p {'< .0001' if self.p < 1e-4 else f'= {self.p:.4f}'}"]
        if self.limit_estimate is not None:
            lines.append(f"Limit Estimate (as {self.predictor} -> 0):   b = "
                         f"{self.limit_estimate:.4f} (CI: {self.limit_ci_low:.4f}, "
                         f"{self.limit_ci_high:.4f})")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _sample_sizes(fit: MetaAnalysis, ni: np.ndarray | None) -> np.ndarray:
    if ni is not None:
        ni = np.asarray(ni, dtype=float)
        if ni.shape != (fit.k,):
            raise InputError(f"regtest: ni has {ni.size} values, but the model has {fit.k} "
                             "studies")
        return ni
    arms = fit.effects.arms if fit.effects is not None else {}
    if "ni" in arms:
        return np.asarray(arms["ni"], dtype=float)
    if "n1i" in arms and "n2i" in arms:
        return np.asarray(arms["n1i"], dtype=float) + np.asarray(arms["n2i"], dtype=float)
    raise InputError("regtest: no sample size information available to use this predictor "
                     "(pass ni=)")


def _with_column(fit: MetaAnalysis, col: np.ndarray, name: str, *, test: str | None = None,
                 tau2: float | None = None) -> MetaAnalysis:
    """The same model with one more moderator column (metafor: ``mods = cbind(X, col)``)."""
    X = np.column_stack([fit.X, col])
    k, p = X.shape
    need = p + (1 if (fit.is_random_effects or (test or fit.test) != "z") else 0)
    if k < need:
        raise InputError(f"k = {k} studies are too few to add the predictor {name} to a "
                         f"{fit.method} model with {fit.p_coef} coefficient(s) (needs {need})")
    if np.linalg.matrix_rank(X) < p:
        raise InputError(f"model matrix no longer of full rank after adding the predictor "
                         f"{name}; cannot fit the model")
    es = replace(fit.effects, warnings=())
    return fit_design(es, X, (*fit.coef_names, name), fit.method, test or fit.test, fit.level,
                (*fit.mods, name), (), tau2_fixed=tau2)


def regtest(fit: MetaAnalysis, predictor: str = "sei", *, ni: np.ndarray | None = None
            ) -> RegTest:
    """Egger-type regression test for funnel plot asymmetry (metafor ``regtest``, model "rma").

    Refits the model (same tau^2 estimator, test and level; any moderators kept) with the
    predictor added as a moderator, and tests its coefficient:
    ``y_i = b0 + b1 f(i) [+ moderators] + u_i + e_i``.

    Parameters
    ----------
    fit : MetaAnalysis
        A model fitted with a tau^2 estimator or FE.
    predictor : str
        ``sei`` (standard error: Egger's test), ``vi`` (variance), ``ni`` (sample size),
        ``ninv`` (1/n), ``sqrtni`` (sqrt n) or ``sqrtninv`` (1/sqrt n).
    ni : array-like, optional
        Sample sizes for the ``n`` predictors; default: ``ni`` or ``n1i + n2i`` of the data.

    Returns
    -------
    RegTest
    """
    require_univariate(fit, "regtest")
    predictor = predictor.lower()
    if predictor not in PREDICTORS:
        raise InputError(f"unknown predictor {predictor!r}; choose one of {', '.join(PREDICTORS)}")
    _require_uni(fit, "regtest()")
    if fit.effects is None:
        raise ValueError("regtest: this result does not carry its effect sizes; cannot refit")
    if predictor == "sei":
        col = np.sqrt(fit.vi)
    elif predictor == "vi":
        col = fit.vi
    else:
        n = _sample_sizes(fit, ni)
        col = {"ni": n, "ninv": 1 / n, "sqrtni": np.sqrt(n), "sqrtninv": 1 / np.sqrt(n)}[predictor]
    res = _with_column(fit, col, predictor, tau2=_fixed_tau2(fit))
    j = fit.p_coef
    lim = lo = hi = None
    if predictor in ("sei", "vi", "ninv", "sqrtninv") and fit.intercept_only:
        lim, lo, hi = float(res.coef[0]), float(res.coef_ci_low[0]), float(res.coef_ci_high[0])
    return RegTest(predictor=predictor, stat=float(res.coef_stat[j]), p=float(res.coef_p[j]),
                   df=res.df, limit_estimate=lim, limit_ci_low=lo, limit_ci_high=hi, fit=res,
                   method=fit.method, test=fit.test)


# ---- rank correlation test ------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RankTest:
    """Begg and Mazumdar's rank correlation test (metafor's ``ranktest``).

    Attributes
    ----------
    tau : float
        Kendall's tau (tau-b) between standardized deviates and sampling variances.
    p : float
        Two-sided p-value: exact (the permutation distribution of Kendall's statistic) when
        there are no ties, else the normal approximation with the tie-corrected variance.
    exact : bool
        Whether the exact distribution was used.
    ties : bool
        Whether either variable has ties.
    statistic : float
        The number of concordant pairs T (exact) or the z statistic (normal approximation).
    k : int
    """

    tau: float
    p: float
    exact: bool
    ties: bool
    statistic: float
    k: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"tau": _num(self.tau), "p": _num(self.p), "exact": self.exact,
                "ties": self.ties, "statistic": _num(self.statistic), "k": self.k}

    def summary(self) -> str:
        """In the layout of metafor's ``print(ranktest(res))``."""
        how = ("exact" if self.exact else
               "normal approximation" + (", corrected for ties" if self.ties else ""))
        pv = "< .0001" if self.p < 1e-4 else f"= {self.p:.4f}"
        return ("Rank Correlation Test for Funnel Plot Asymmetry\n\n"
                f"Kendall's tau = {self.tau:.4f}, p {pv} ({how})")

    def __str__(self) -> str:
        return self.summary()


def _yi_vi(x: MetaAnalysis | np.ndarray, vi: np.ndarray | None, what: str
           ) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(x, MetaAnalysis):
        if vi is not None:
            raise ValueError(f"{what}: vi is taken from the model; do not pass it")
        return np.asarray(x.yi, dtype=float), np.asarray(x.vi, dtype=float)
    if vi is None:
        raise ValueError(f"{what}: pass a fitted model, or yi and vi")
    yi, vi = np.asarray(x, dtype=float), np.asarray(vi, dtype=float)
    if yi.shape != vi.shape or yi.ndim != 1:
        raise ValueError(f"{what}: yi and vi must be 1-d arrays of the same length")
    ok = np.isfinite(yi) & np.isfinite(vi)
    return yi[ok], vi[ok]


def kendall_cdf(q: int, n: int) -> float:
    """P(T <= q) for the number T of concordant pairs among n untied pairs under independence.

    T has the Mahonian distribution of inversions of a random permutation; it is built by the
    recursion ``f_m(j) = (1/m) sum_{i<m} f_{m-1}(j-i)`` (the counts R's ``ckendall`` computes,
    here normalised at each step so that it neither overflows for n > 170 nor loses the tail).
    Only ``j <= q`` is kept, as ``f_m(j)`` depends on ``f_{m-1}(i)`` for ``i <= j`` only.
    """
    t0 = n * (n - 1) // 2
    if q < 0:
        return 0.0
    if q >= t0:
        return 1.0
    f = np.array([1.0])
    for m in range(2, n + 1):
        size = min(q + 1, len(f) + m - 1)
        c = np.concatenate([[0.0], np.cumsum(f)])
        j = np.arange(size)
        hi = np.minimum(j + 1, len(f))
        lo = np.maximum(j - m + 1, 0)
        f = (c[hi] - c[lo]) / m
    return float(min(1.0, np.sum(f)))


def _tie_sizes(x: np.ndarray) -> np.ndarray:
    _, counts = np.unique(x, return_counts=True)
    return counts[counts > 1].astype(float)


def deviations(y: np.ndarray, theta: float) -> np.ndarray:
    """``y - theta`` with differences within rounding set to zero.

    Equal effects give a pooled estimate that differs from them only by floating-point noise;
    the rank-based methods (rank test, trim-and-fill) must not rank that noise.
    """
    dev = np.asarray(y, dtype=float) - theta
    dev[np.abs(dev) <= 100 * np.finfo(float).eps * np.maximum(np.abs(y), abs(theta))] = 0.0
    return dev


def ranktest(x: MetaAnalysis | np.ndarray, vi: np.ndarray | None = None) -> RankTest:
    """Begg and Mazumdar's (1994) rank correlation test for funnel plot asymmetry.

    Parameters
    ----------
    x : MetaAnalysis or array-like
        A fitted model, or effect sizes ``yi`` (then pass ``vi``).
    vi : array-like, optional
        Sampling variances, with array input.

    Returns
    -------
    RankTest

    Notes
    -----
    As metafor 3.8: with fixed-effect weights ``w_i = 1/v_i``, pooled ``b = sum w y / sum w``
    and ``v* = v_i - 1/sum w``, Kendall's tau is computed between ``(y_i - b)/sqrt(v*_i)``
    and ``v_i`` by R's ``cor.test(..., method = "kendall", exact = TRUE)``. So the exact
    distribution is used whenever neither variable has ties, for any k (R's default switches
    to the normal approximation at k >= 50, but metafor forces ``exact = TRUE``), with
    ``T = round((tau + 1) k (k - 1) / 4)`` and ``p = min(1, 2 P(T' <= min(T, K - T)))``, K the
    number of pairs. With ties (commonly equal variances) R warns and uses the normal
    approximation ``z = S / sqrt(var S)`` with the tie-corrected variance and no continuity
    correction; this does the same. ``scipy.stats.kendalltau`` gives the same tau but differs
    in the p-value (it uses the exact test only for small k and no ties, and otherwise its
    own variance), so only its tau-b is used here.
    """
    require_univariate(x, "ranktest")
    yi, vi = _yi_vi(x, vi, "ranktest")
    k = len(yi)
    if k < 2:
        raise ValueError("ranktest: needs at least 2 studies")
    wi = 1 / vi
    theta = np.sum(wi * yi) / np.sum(wi)
    ystar = deviations(yi, theta) / np.sqrt(vi - 1 / np.sum(wi))
    tau = float(stats.kendalltau(ystar, vi).statistic)
    ties = min(len(np.unique(ystar)), len(np.unique(vi))) < k
    t0 = k * (k - 1) / 2
    if not np.isfinite(tau):
        return RankTest(tau=np.nan, p=np.nan, exact=False, ties=ties, statistic=np.nan, k=k)
    if not ties:
        q = int(np.round((tau + 1) * k * (k - 1) / 4))
        p = min(1.0, 2 * kendall_cdf(min(q, int(t0) - q), k))
        return RankTest(tau=tau, p=p, exact=True, ties=False, statistic=float(q), k=k)
    xt, yt = _tie_sizes(ystar), _tie_sizes(vi)
    t1 = np.sum(xt * (xt - 1)) / 2
    t2 = np.sum(yt * (yt - 1)) / 2
    s = tau * np.sqrt((t0 - t1) * (t0 - t2))
    v0 = k * (k - 1) * (2 * k + 5)
    vt = np.sum(xt * (xt - 1) * (2 * xt + 5))
    vu = np.sum(yt * (yt - 1) * (2 * yt + 5))
    v1 = np.sum(xt * (xt - 1)) * np.sum(yt * (yt - 1))
    v2 = np.sum(xt * (xt - 1) * (xt - 2)) * np.sum(yt * (yt - 1) * (yt - 2))
    var_s = (v0 - vt - vu) / 18 + v1 / (2 * k * (k - 1))
    if k > 2:
        var_s += v2 / (9 * k * (k - 1) * (k - 2))
    z = float(s / np.sqrt(var_s))
    p = float(2 * min(stats.norm.cdf(z), stats.norm.sf(z)))
    return RankTest(tau=tau, p=p, exact=False, ties=True, statistic=z, k=k)


# ---- trim and fill ------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TrimFill:
    """Trim-and-fill results (metafor's ``trimfill``).

    Attributes
    ----------
    estimator : str
        ``L0`` or ``R0``.
    side : str
        ``left`` or ``right``: the side of the funnel plot where studies are missing.
    k0 : int
        Estimated number of missing studies.
    se_k0 : float
        Its standard error (metafor's ``se.k0``).
    p_k0 : float or None
        For R0, the p-value of the test of k0 = 0 (``0.5^(k0 + 1)``); None for L0.
    iterations : int
        Iterations of the trim-and-fill algorithm.
    fit : MetaAnalysis
        The model refitted on the observed plus filled studies (the original model if k0 = 0).
    filled_yi, filled_vi : ndarray
        The imputed studies (mirror images ``2 b - y_i`` of the k0 most extreme studies).
    filled_study : tuple of str
        Their labels, ``Filled 1`` ...
    original : MetaAnalysis
        The model trim-and-fill was applied to.
    """

    estimator: str
    side: str
    k0: int
    se_k0: float
    p_k0: float | None
    iterations: int
    fit: MetaAnalysis
    filled_yi: np.ndarray
    filled_vi: np.ndarray
    filled_study: tuple[str, ...]
    original: MetaAnalysis

    @property
    def estimate(self) -> float:
        """The pooled estimate after filling."""
        return self.fit.estimate

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values; ``fit`` is the adjusted model's own ``to_dict()``."""
        return {
            "estimator": self.estimator, "side": self.side, "k0": self.k0,
            "se_k0": _num(self.se_k0), "p_k0": _num(self.p_k0), "iterations": self.iterations,
            "filled": [{"study": s, "yi": _num(y), "vi": _num(v)} for s, y, v in
                       zip(self.filled_study, self.filled_yi, self.filled_vi, strict=True)],
            "estimate": _num(self.fit.estimate), "original_estimate": _num(self.original.estimate),
            "fit": self.fit.to_dict(),
        }

    def summary(self) -> str:
        """In the layout of metafor's ``print(trimfill(res))``."""
        head = (f"Estimated number of missing studies on the {self.side} side: {self.k0} "
                f"(SE = {printout_num(self.se_k0)})")
        if self.p_k0 is not None:
            head += f"\nTest of H0: no missing studies on the {self.side} side: p-val = " + \
                printout_p(self.p_k0)
        return head + "\n\n" + self.fit.summary()

    def __str__(self) -> str:
        return self.summary()


def _trim_beta(fit: MetaAnalysis, idx: np.ndarray) -> float:
    """Pooled estimate of the same model on the studies ``idx`` (tau^2 re-estimated)."""
    if len(idx) == 1:
        return float(fit.yi[idx[0]])
    return float(refit(fit, idx).estimate)


def trimfill(
    fit: MetaAnalysis,
    estimator: str = "L0",
    side: str | None = None,
    *,
    maxiter: int = 100,
) -> TrimFill:
    """Duval and Tweedie's trim-and-fill method (metafor ``trimfill.rma.uni``).

    Parameters
    ----------
    fit : MetaAnalysis
        An intercept-only model fitted with a tau^2 estimator or FE.
    estimator : str
        ``L0`` or ``R0``.
    side : str, optional
        ``left`` or ``right``. Default as metafor: from the sign of the slope of Egger's
        regression (the model with ``sqrt(vi)`` as moderator, same estimator): studies are
        missing on the right if it is negative, else on the left (also when all variances
        are equal and the slope is not estimable, where metafor fails).
    maxiter : int
        Maximum number of iterations.

    Returns
    -------
    TrimFill

    Notes
    -----
    Mirrors metafor 3.8. Effects are flipped for ``side = "right"`` and sorted (stably);
    each iteration refits the model to the k - k0 smallest effects, ranks ``|y_i - b|`` (ties
    by order) and updates ``k0``: L0 ``= (4 S_r - k (k + 1)) / (2 k - 1)`` with ``S_r`` the sum
    of the positive signed ranks; R0 ``= k - r* - 1`` with ``r*`` the largest rank of a
    negative deviation; rounded half to even (R's ``round``) and truncated at 0. The k0 most
    extreme studies are mirrored about the last estimate, ``2 b - y_i``, with their variances,
    and the model is refitted to the k + k0 studies with the same estimator. Unlike metafor,
    whose refit falls back to its defaults (z-test, 95%) unless passed again, the augmented
    model keeps the original test and level. If all deviations are zero the R0 estimator has
    no negative rank (metafor fails); k0 = 0 is returned.
    """
    require_univariate(fit, "trimfill")
    estimator = estimator.upper()
    if estimator not in ("L0", "R0"):
        raise InputError(f"unknown trim-and-fill estimator {estimator!r}; choose L0 or R0")
    _require_effects(fit, "trimfill")
    _require_uni(fit, "trimfill()")
    _require_intercept_only(fit, "the trim-and-fill method")
    if side is None:
        sei = np.sqrt(fit.vi)
        # With equal variances the slope is not estimable (metafor stops with an error there);
        # take it as 0, i.e. metafor's "left" branch.
        slope = (0.0 if np.ptp(sei) <= 1e-12 * np.max(sei)
                 else _with_column(fit, sei, "sei", test="z").coef[1])
        side = "right" if slope < 0 else "left"
    else:
        side = side.lower()
        if side not in ("left", "right"):
            raise InputError(f"side must be left or right, not {side!r}")
    sgn = -1.0 if side == "right" else 1.0
    ix = np.argsort(sgn * fit.yi, kind="stable")
    y = sgn * fit.yi[ix]
    k = fit.k
    k0, k0_sav, it = 0, -1, 0
    se_k0 = np.nan
    beta = np.nan
    while k0 != k0_sav:
        k0_sav = k0
        it += 1
        if it > maxiter:
            raise ValueError("trim and fill algorithm did not converge")
        beta = sgn * _trim_beta(fit, ix[: k - k0])
        yc = deviations(y, beta)
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(yc), kind="stable")] = np.arange(1, k + 1)
        signed = np.sign(yc) * ranks
        if estimator == "R0":
            neg = -signed[signed < 0]
            est = (k - neg.max()) - 1 if len(neg) else 0.0
            se = np.sqrt(2 * max(0.0, est) + 2)
        else:
            sr = np.sum(signed[signed > 0])
            est = (4 * sr - k * (k + 1)) / (2 * k - 1)
            var_sr = (k * (k + 1) * (2 * k + 1) + 10 * est**3 + 27 * est**2 + 17 * est
                      - 18 * k * est**2 - 18 * k * est + 6 * k**2 * est) / 24
            with np.errstate(invalid="ignore"):
                se = 4 * np.sqrt(var_sr) / (2 * k - 1)
        k0 = int(max(0, np.round(est)))
        se_k0 = float(se) if np.isnan(se) else float(max(0.0, se))
    p_k0 = 0.5 ** (k0 + 1) if estimator == "R0" else None
    if k0 == 0:
        return TrimFill(estimator=estimator, side=side, k0=0, se_k0=se_k0, p_k0=p_k0,
                        iterations=it, fit=fit, filled_yi=np.zeros(0), filled_vi=np.zeros(0),
                        filled_study=(), original=fit)
    src = ix[k - k0:]
    b_orig = sgn * beta
    fill_y = 2 * b_orig - fit.yi[src]
    fill_v = fit.vi[src].copy()
    labels = tuple(f"Filled {i + 1}" for i in range(k0))
    es = from_arrays(np.concatenate([fit.yi, fill_y]), np.concatenate([fit.vi, fill_v]),
                     measure=fit.measure, study=(*fit.study, *labels))
    aug = meta_analysis(es, method=fit.method, test=fit.test, level=fit.level)
    return TrimFill(estimator=estimator, side=side, k0=k0, se_k0=se_k0, p_k0=p_k0,
                    iterations=it, fit=aug, filled_yi=fill_y, filled_vi=fill_v,
                    filled_study=labels, original=fit)


# ---- fail-safe N --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FailSafeN:
    """Fail-safe N (metafor's ``fsn``).

    Attributes
    ----------
    type : str
        ``Rosenthal``, ``Orwin`` or ``Rosenberg``.
    fsnum : float
        Number of null studies needed (an integer; ``inf`` for Orwin with target 0).
    alpha : float
        Significance level (one-sided for Rosenthal, two-sided for Rosenberg).
    p : float or None
        p-value of the observed studies (Stouffer's one-sided for Rosenthal, the fixed-effect
        z-test for Rosenberg); None for Orwin.
    mean_effect : float or None
        Average effect (Orwin: unweighted or weighted mean; Rosenberg: weighted mean).
    target : float or None
        Orwin's target effect.
    k : int
    """

    type: str
    fsnum: float
    alpha: float
    p: float | None
    mean_effect: float | None
    target: float | None
    k: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (an infinite fail-safe N is null)."""
        fs = int(self.fsnum) if np.isfinite(self.fsnum) else None
        return {"type": self.type, "fsnum": fs, "alpha": self.alpha, "p": _num(self.p),
                "mean_effect": _num(self.mean_effect), "target": _num(self.target),
                "k": self.k}

    def summary(self) -> str:
        """In the layout of metafor's ``print(fsn(...))``."""
        lines = [f"Fail-safe N Calculation Using the {self.type} Approach", ""]
        if self.type == "Rosenthal":
            lines += [f"Observed Significance Level: {printout_p(self.p)}",
                      f"Target Significance Level:   {self.alpha:g}"]
        elif self.type == "Orwin":
            lines += [f"Average Effect Size: {self.mean_effect:.4f}",
                      f"Target Effect Size:  {self.target:.4f}"]
        else:
            lines += [f"Average Effect Size:         {self.mean_effect:.4f}",
                      f"Observed Significance Level: {printout_p(self.p)}",
                      f"Target Significance Level:   {self.alpha:g}"]
        fs = f"{int(self.fsnum)}" if np.isfinite(self.fsnum) else "Inf"
        return "\n".join([*lines, "", f"Fail-safe N: {fs}"])

    def __str__(self) -> str:
        return self.summary()


def fail_safe_n(
    x: MetaAnalysis | np.ndarray,
    vi: np.ndarray | None = None,
    alpha: float = 0.05,
    *,
    type: str = "Rosenthal",
    target: float | None = None,
    weighted: bool = False,
) -> FailSafeN:
    """Fail-safe N: how many unpublished null studies would overturn the result (metafor ``fsn``).

    Parameters
    ----------
    x : MetaAnalysis or array-like
        A fitted model (its ``yi`` and ``vi`` are used), or effect sizes ``yi``.
    vi : array-like, optional
        Sampling variances, with array input.
    alpha : float
        Target significance level.
    type : str
        ``Rosenthal`` (1979; Stouffer's method), ``Orwin`` (1983) or ``Rosenberg`` (2005).
    target : float, optional
        Orwin's target average effect; default half the observed average.
    weighted : bool
        Orwin: use the inverse-variance weighted mean instead of the unweighted one.

    Returns
    -------
    FailSafeN

    Notes
    -----
    metafor 3.8 formulas. Rosenthal: ``z = |sum z_i| / sqrt(k)`` with ``z_i = y_i/sqrt(v_i)``,
    ``p = 1 - Phi(z)``, ``N = max(0, k (z / z_{1-alpha})^2 - k)``. Orwin:
    ``N = max(0, k (m - target) / target)`` (target given the sign of the mean). Rosenberg:
    ``N = max(0, k ((sum w y / z_{1-alpha/2})^2 - sum w) / sum w)``. N is rounded up unless
    within ``sqrt(eps)`` of an integer, as metafor.
    """
    kind = {"rosenthal": "Rosenthal", "orwin": "Orwin", "rosenberg": "Rosenberg"}.get(
        type.lower())
    if kind is None:
        raise InputError(f"unknown fail-safe N type {type!r}; choose Rosenthal, Orwin or "
                         "Rosenberg")
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be between 0 and 1 (got {alpha:g})")
    yi, vi = _yi_vi(x, vi, "fail_safe_n")
    k = len(yi)
    p = mean = tgt = None
    if kind == "Rosenthal":
        z_avg = abs(np.sum(yi / np.sqrt(vi)) / np.sqrt(k))
        p = float(stats.norm.sf(z_avg))
        fs = max(0.0, k * (z_avg / stats.norm.isf(alpha)) ** 2 - k)
    elif kind == "Orwin":
        mean = float(np.sum(yi / vi) / np.sum(1 / vi)) if weighted else float(np.mean(yi))
        tgt = mean / 2 if target is None else float(target)
        if tgt == 0:
            fs = np.inf
        else:
            if np.sign(tgt) != np.sign(mean):
                tgt = -tgt
            fs = max(0.0, k * (mean - tgt) / tgt)
    else:
        wi = 1 / vi
        mean = float(np.sum(wi * yi) / np.sum(wi))
        z = mean / np.sqrt(1 / np.sum(wi))
        w_p = (np.sum(wi * yi) / stats.norm.isf(alpha / 2)) ** 2 - np.sum(wi)
        p = float(2 * stats.norm.sf(abs(z)))
        fs = max(0.0, k * w_p / np.sum(wi))
    if np.isfinite(fs) and abs(fs - np.round(fs)) >= np.sqrt(np.finfo(float).eps):
        fs = float(np.ceil(fs))
    else:
        fs = float(np.round(fs))
    return FailSafeN(type=kind, fsnum=fs, alpha=float(alpha), p=p, mean_effect=mean, target=tgt,
                     k=k)


__all__ = [
    "PREDICTORS", "FailSafeN", "RankTest", "RegTest", "TrimFill", "fail_safe_n", "kendall_cdf",
    "ranktest", "regtest", "trimfill",
]
