"""Fitting one model to each of many groups of studies at once (vectorised ``rma.uni``).

The groups' studies are stored one after another (see :mod:`metareview.models.core`); tau^2 is
estimated by the method's entry in :data:`metareview.models.tau2.ESTIMATORS`. A single analysis
is one group, so :func:`~metareview.models.rma.meta_analysis` runs exactly this code.
Intercept-only models of groups of at most 256 studies take the lean path of
:mod:`metareview.models.dense` (the same estimators on a padded studies x groups layout);
meta-regressions and longer groups take the general path of :mod:`metareview.models.core`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from metareview.models import dense
from metareview.models.core import _LOG2PI, TESTS, Data, Groups, labels, log_likelihood
from metareview.models.tau2 import Tau2Fits, check_method, estimate, estimator


# ---------------------------------------------------------------------------------------------
# Fitting many models
@dataclass(frozen=True, eq=False)
class GroupFits:
    """Results of fitting one model to each of G groups (a struct of arrays).

    Per-group arrays have length G; ``beta``, ``se``, ``stat``, ``pval``, ``ci_low`` and
    ``ci_high`` are G x p; ``vcov`` is G x p x p; ``weights`` is per study (percent within its
    group). A group that cannot be fitted (too few studies for the model, a non-positive or
    missing variance, collinear moderators) has NaN results and says why in ``status``
    (empty when fitted). Heterogeneity follows metafor: ``q`` is Cochran's Q (QE with
    moderators); ``i2`` and ``h2`` come from tau^2 for random-effects models and from Q for
    the fixed-effect model.
    """

    method: str
    test: str
    level: float
    k: np.ndarray
    p: int
    beta: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    vcov: np.ndarray
    tau2: np.ndarray
    se_tau2: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    q: np.ndarray
    q_df: np.ndarray
    q_p: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    qm: np.ndarray
    qm_p: np.ndarray
    df: np.ndarray  # k - p for t and Knapp-Hartung tests, NaN for z
    ll_ml: np.ndarray
    ll_reml: np.ndarray
    s2w: np.ndarray
    vt: np.ndarray
    r2: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    solver: np.ndarray
    weights: np.ndarray
    status: np.ndarray
    coef_names: tuple[str, ...] = ("intrcpt",)

    @property
    def n_groups(self) -> int:
        """Number of groups G."""
        return len(self.k)

    @property
    def estimate(self) -> np.ndarray:
        """First coefficient of every group (the pooled effect or the intercept)."""
        return self.beta[:, 0]

    @property
    def ok(self) -> np.ndarray:
        """Which groups were fitted."""
        return self.status == ""

    def to_frame(self) -> pd.DataFrame:
        """One row per group; coefficient columns are added for meta-regressions."""
        cols: dict[str, Any] = {
            "k": self.k,
            "estimate": self.beta[:, 0],
            "se": self.se[:, 0],
            "stat": self.stat[:, 0],
            "p": self.pval[:, 0],
            "ci_low": self.ci_low[:, 0],
            "ci_high": self.ci_high[:, 0],
            "tau2": self.tau2,
            "se_tau2": self.se_tau2,
            "i2": self.i2,
            "h2": self.h2,
            "q": self.q,
            "q_df": self.q_df,
            "q_p": self.q_p,
            "pi_low": self.pi_low,
            "pi_high": self.pi_high,
        }
        for j, name in enumerate(self.coef_names[1:], start=1):
            cols[f"b[{name}]"] = self.beta[:, j]
            cols[f"se[{name}]"] = self.se[:, j]
            cols[f"p[{name}]"] = self.pval[:, j]
        if self.p > 1:
            cols["qm"] = self.qm
            cols["qm_p"] = self.qm_p
        cols["converged"] = self.converged
        cols["status"] = self.status
        return pd.DataFrame(cols)

    def summary(self) -> str:
        """A short account of the batch: how many groups, fitted, converged, by which solver."""
        ok = self.ok
        lines = [
            f"{self.n_groups} analyses ({self.method}, test {self.test}); "
            f"{int(ok.sum())} fitted, {int((~ok).sum())} not fitted",
            f"k: median {np.median(self.k) if self.n_groups else 0:g}, "
            f"range {self.k.min() if self.n_groups else 0}-{self.k.max() if self.n_groups else 0}",
        ]
        if ok.any():
            solvers, counts = np.unique(self.solver[ok].astype(str), return_counts=True)
            lines.append("solvers: " + ", ".join(f"{s} {c}" for s, c in zip(solvers, counts,
                                                                             strict=True)))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Column name to list of values (JSON-able; NaN becomes None)."""
        from metareview._util.jsonable import jsonable

        return jsonable(self.to_frame().to_dict(orient="list"))

    def _repr_html_(self) -> str:
        """The first rows of :meth:`to_frame` as an HTML table, for notebooks (numbers as
        metafor prints them: four decimals, I² two, p-values below 1e-4 as ``<.0001``)."""
        from metareview._util import html
        from metareview._util.textfmt import printout_num, printout_p

        stat = "tval" if self.test in ("t", "knha") else "zval"
        cols = ["", "k", "estimate", "se", stat, "pval", "ci.lb", "ci.ub", "tau²", "I² (%)",
                "Q", "pval(Q)"]
        for name in self.coef_names[1:]:
            cols += [f"b[{name}]", f"se[{name}]", f"p[{name}]"]
        if self.p > 1:
            cols += ["QM", "pval(QM)"]
        cols.append("status")
        n = min(self.n_groups, html.MAX_ROWS)
        rows = []
        for g in range(n):
            row = [str(g), str(self.k[g]), *(printout_num(x) for x in (
                self.beta[g, 0], self.se[g, 0], self.stat[g, 0])), printout_p(self.pval[g, 0]),
                printout_num(self.ci_low[g, 0]), printout_num(self.ci_high[g, 0]),
                printout_num(self.tau2[g]), printout_num(self.i2[g], 2), printout_num(self.q[g]),
                printout_p(self.q_p[g])]
            for j in range(1, self.p):
                row += [printout_num(self.beta[g, j]), printout_num(self.se[g, j]),
                        printout_p(self.pval[g, j])]
            if self.p > 1:
                row += [printout_num(self.qm[g]), printout_p(self.qm_p[g])]
            rows.append([*row, str(self.status[g])])
        more = self.n_groups - n
        table = html.table(cols, rows, caption=f"Model results by group (first {n})" if more
                           else "Model results by group")
        notes = [f"… {more:,} more groups; to_frame() has them all."] if more else []
        return html.block(self.summary().splitlines(), [table], notes)


def _needs(method: str, test: str, p: int, estimated: bool = True) -> int:
    """Fewest studies a model can be fitted to (as metafor: one more than p with an estimated
    tau^2 or a t test)."""
    random = estimator(method).random_effects
    return p + (1 if ((random and estimated) or test != "z") else 0)


def fit_groups(
    y: np.ndarray,
    v: np.ndarray,
    k: np.ndarray | list[int],
    X: np.ndarray | None = None,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    coef_names: tuple[str, ...] | None = None,
    tau2: np.ndarray | float | None = None,
    r2: bool = True,
) -> GroupFits:
    """Fit one model to each of many groups of studies at once (vectorised ``rma``).

    Parameters
    ----------
    y, v : ndarray
        Effect sizes and sampling variances of all studies, each group's rows contiguous.
    k : array of int
        Size of each group, in storage order (sums to ``len(y)``).
    X : ndarray, optional
        n x p model matrix, the same moderators in every group, intercept column first; None
        (or a single column) for the intercept-only model.
    method : str
        ``FE`` or a tau^2 estimator: ``DL, REML, ML, PM, HS, SJ, HE, EB``.
    test : str
        ``z``, ``t`` (k - p df) or ``knha`` (Knapp-Hartung).
    level : float
        Confidence level in percent.
    coef_names : tuple of str, optional
        Names of the columns of ``X``.
    tau2 : float or ndarray, optional
        Hold tau^2 fixed (one value, or one per group) instead of estimating it.
    r2 : bool
        Compute the pseudo-R^2 of meta-regressions (one more intercept-only fit per group).

    Returns
    -------
    GroupFits
        Groups that cannot be fitted carry a message in ``status`` instead of raising.
    """
    method, test = check_method(method, inverse_variance=True).code, test.lower()
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; choose z, t or knha")
    y = np.ascontiguousarray(y, dtype=float)
    v = np.ascontiguousarray(v, dtype=float)
    groups = Groups(k)
    if groups.n != len(y) or len(v) != len(y):
        raise ValueError(f"group sizes sum to {groups.n} but there are {len(y)} effects "
                         f"and {len(v)} variances")
    if X is not None:
        X = np.ascontiguousarray(X, dtype=float)
        if X.ndim != 2 or X.shape[0] != len(y):
            raise ValueError(f"X must be {len(y)} x p")
        if X.shape[1] == 1:
            X = None  # the intercept-only model has its own closed forms
    p = 1 if X is None else X.shape[1]
    names = tuple(coef_names) if coef_names is not None else (
        "intrcpt", *(f"x{j}" for j in range(1, p)))
    G = groups.G

    # Which groups can be fitted. One pass over the data finds the usual case (all finite,
    # all variances positive: the sum of finite numbers is finite or overflows to inf, NaN and
    # inf propagate); only otherwise is each row checked.
    status = labels(G, "")
    clean = len(y) == 0 or bool(np.isfinite(y.sum()) and v.min() > 0 and v.max() < np.inf)
    if clean and X is not None:
        clean = bool(np.isfinite(X.sum()))
    if clean:
        bad_rows = np.zeros(G, dtype=bool)
    else:
        finite = np.isfinite(y) & np.isfinite(v) & (v > 0)
        if X is not None:
            finite &= np.isfinite(X).all(axis=1)
        bad_rows = groups.sum((~finite).astype(np.int64)) > 0
        status[bad_rows] = "non-finite effect, non-positive variance or missing moderator"
    need = _needs(method, test, p, estimated=tau2 is None)
    few = ~bad_rows & (groups.k < need)
    status[few] = f"too few studies for {method} with test {test} (needs {need})"
    fit_ok = ~bad_rows & ~few
    if X is not None and G:
        ok0 = np.flatnonzero(fit_ok)
        if len(ok0):
            sub = Data(y, v, X, groups).select(ok0)
            xtx = sub.groups.sum(sub.X[:, :, None] * sub.X[:, None, :])
            rank = np.linalg.matrix_rank(xtx)
            status[ok0[rank < p]] = "moderators are collinear in this group"
            fit_ok[ok0[rank < p]] = False
    ok = np.flatnonzero(fit_ok)
    tau2_ok = (tau2 if tau2 is None or np.ndim(tau2) == 0
               else np.asarray(tau2, dtype=float)[ok])
    if (X is None and method in dense.CLOSED and tau2 is None and len(ok) == G and G
            and groups.k.min() == groups.k.max() <= dense.KMAX):
        # Closed forms on groups of one size: each block of groups passes through the cache
        # once, with no (kmax, G) copy of the data.
        K = int(groups.k[0])
        fe, fit, t2, se_t2 = dense.closed_rows(y, v, K, method)
        fitted = _dense_result(np.full(G, float(K)), method, test, level, fe, fit, t2, se_t2,
                               np.ones(G, dtype=bool), np.zeros(G, dtype=np.int64),
                               labels(G, "closed form"))
    elif X is None and method in dense.METHODS and dense.Dense.worthwhile(groups) and len(ok):
        # The lean path: intercept-only groups as the columns of (kmax, G) arrays.
        d = dense.Dense.layout(y, v, groups)
        fitted = _fit_dense(d if len(ok) == G else d.select(ok), method, test, level, tau2_ok)
    else:
        data = Data(y, v, X, groups).select(ok) if len(ok) < G else Data(y, v, X, groups)
        fitted = _fit(data, method, test, level, tau2_ok, r2)
    if len(ok) == G:  # nothing to scatter
        return GroupFits(method=method, test=test, level=float(level), k=groups.k, p=p,
                         status=status, coef_names=names, **fitted)
    # Scatter the fitted groups back among all groups (NaN for the rest).
    out: dict[str, np.ndarray] = {}
    for name, arr in fitted.items():
        if name == "weights":
            full = np.full(groups.n, np.nan)
            full[groups.select(ok)[1]] = arr
        else:
            fill: Any = {"converged": False, "iterations": 0, "solver": ""}.get(name, np.nan)
            dtype = arr.dtype if name in ("converged", "iterations", "solver") else float
            full = np.full((G, *arr.shape[1:]), fill, dtype=dtype)
            full[ok] = arr
        out[name] = full
    return GroupFits(method=method, test=test, level=float(level), k=groups.k, p=p,
                     status=status, coef_names=names, **out)


def _fit(data: Data, method: str, test: str, level: float, tau2_fixed, want_r2: bool
         ) -> dict[str, np.ndarray]:
    g, v = data.groups, data.v
    G, p = g.G, data.p
    k = data.k.astype(float)
    kp = k - p
    random = estimator(method).random_effects
    if tau2_fixed is not None:
        tau2 = np.broadcast_to(np.asarray(tau2_fixed, dtype=float), (G,)).copy()
        est = Tau2Fits(tau2, np.full(G, np.nan), np.ones(G, dtype=bool),
                       np.zeros(G, dtype=np.int64), labels(G, "fixed"))
    else:
        est = estimate(data, method)
        tau2 = est.tau2
    fit = est.fit if est.fit is not None else data.at(tau2)
    vb = fit.M
    s2w = np.ones(G)
    if test == "knha":
        rss = fit.rss
        s2w = np.where(rss > np.finfo(float).eps, rss / kp, 0.0)
        vb = s2w[:, None, None] * vb
    se = np.sqrt(np.diagonal(vb, axis1=1, axis2=2))
    beta = fit.beta
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    alpha = 1 - level / 100
    m = p - 1
    if test in ("t", "knha"):
        df = kp
        pval = 2 * special.stdtr(df[:, None], -np.abs(stat))
        crit = -special.stdtrit(df, alpha / 2)
    else:
        df = np.full(G, np.nan)
        pval = 2 * special.ndtr(-np.abs(stat))
        crit = np.full(G, -special.ndtri(alpha / 2))
    ci_lo, ci_hi = beta - crit[:, None] * se, beta + crit[:, None] * se

    qm, qm_p = np.full(G, np.nan), np.full(G, np.nan)
    if m > 0:
        b = beta[:, 1:]
        qm = _wald(vb[:, 1:, 1:], b)
        if test in ("t", "knha"):
            qm = qm / m
            qm_p = special.fdtrc(m, df, qm)
        else:
            qm_p = special.chdtrc(m, qm)

    # Heterogeneity: Q about the fixed-effect fit, I^2/H^2 from tau^2 via the typical variance.
    fe = data.wls(1.0 / v)
    q, q_p, vt, i2, h2 = _heterogeneity(kp, fe.rss, fe.tr, tau2, random)

    # Prediction interval (metafor's predict(): the test's critical value).
    if p == 1 and random:
        half = crit * np.sqrt(se[:, 0] ** 2 + tau2)
        pi_lo, pi_hi = beta[:, 0] - half, beta[:, 0] + half
    else:
        pi_lo = pi_hi = np.full(G, np.nan)

    weights = 100 * fit.d / g.expand(fit.sum_d)
    r2 = np.full(G, np.nan)
    if p > 1 and tau2_fixed is None and want_r2:
        r2 = _r2(data, method, tau2, fit.d)
    return {
        "beta": beta, "se": se, "stat": stat, "pval": pval, "ci_low": ci_lo, "ci_high": ci_hi,
        "vcov": vb, "tau2": tau2, "se_tau2": est.se, "i2": i2, "h2": h2, "q": q,
        "q_df": kp, "q_p": q_p, "pi_low": pi_lo, "pi_high": pi_hi, "qm": qm, "qm_p": qm_p,
        "df": df, "ll_ml": log_likelihood(data, tau2, reml=False, fit=fit),
        "ll_reml": log_likelihood(data, tau2, reml=True, fit=fit), "s2w": s2w, "vt": vt, "r2": r2,
        "converged": est.converged, "iterations": est.iterations, "solver": est.solver,
        "weights": weights,
    }


def _fit_dense(d: dense.Dense, method: str, test: str, level: float, tau2_fixed
               ) -> dict[str, np.ndarray]:
    """:func:`_fit` for the intercept-only model on the dense layout (the same formulas).

    Two passes over the data besides the estimator's own: the fixed-effect fit (the DL/HS
    estimate, the score at 0 of ML/REML, Cochran's Q) and the fit at tau^2 (the estimates,
    the likelihoods, the weights).
    """
    G, k = d.G, d.k
    kp = k - 1
    random = estimator(method).random_effects
    likelihood = method in ("ML", "REML")
    # Each pass computes only what this method uses: y'PPy, y'PPPy and tr(PP) at 0 are the
    # ML/REML terms at 0 (the score at 0, the first step, the checks of the maximum), tr(PP)
    # the standard error of DL and HS.
    fe = dense.sweep(d, None, "rss", "s2",
                     *(("swe", "s3", "ols") if likelihood and tau2_fixed is None else ()),
                     *(("s3",) if method in ("DL", "HS") else ()),
                     *(() if random else ("logv", "weights")))
    if tau2_fixed is not None:
        tau2 = np.broadcast_to(np.asarray(tau2_fixed, dtype=float), (G,)).copy()
        se_tau2, conv = np.full(G, np.nan), np.ones(G, dtype=bool)
        iters, solver = np.zeros(G, dtype=np.int64), labels(G, "fixed")
    else:
        tau2, se_tau2, conv, iters, solver = dense.estimate(d, method, fe)
    fit = (dense.sweep(d, tau2, "rss", "logv", "weights", *(("s2", "s3") if likelihood else ()))
           if random or tau2_fixed is not None else fe)
    if se_tau2 is None:  # from the fit at tau^2, as tau2._likelihood and tau2._q_equation
        if method == "ML":
            se_tau2 = np.sqrt(2 / fit["s2"])
        elif method == "REML":
            se_tau2 = np.sqrt(2 / dense.tr2(fit))
        else:
            se_tau2 = np.sqrt(2 * k**2 / kp / fit["s1"] ** 2)
    return _dense_result(k, method, test, level, fe, fit, tau2, se_tau2, conv, iters, solver)


def _dense_result(k: np.ndarray, method: str, test: str, level: float, fe: dict[str, np.ndarray],
                  fit: dict[str, np.ndarray], tau2: np.ndarray, se_tau2: np.ndarray,
                  conv: np.ndarray, iters: np.ndarray, solver: np.ndarray
                  ) -> dict[str, np.ndarray]:
    """The result fields of intercept-only fits from the fixed-effect pass ``fe`` (``rss, s1,
    s2``) and the pass at tau^2 ``fit`` (``beta, rss, s1, logv, weights``)."""
    G = len(k)
    kp = k - 1
    random = estimator(method).random_effects
    beta, rss = fit["beta"], fit["rss"]
    vb = 1.0 / fit["s1"]
    s2w = np.ones(G)
    if test == "knha":
        s2w = np.where(rss > np.finfo(float).eps, rss / kp, 0.0)
        vb = s2w * vb
    se = np.sqrt(vb)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    alpha = 1 - level / 100
    if test in ("t", "knha"):
        df = kp
        pval = 2 * special.stdtr(df, -np.abs(stat))
        # One quantile per distinct k: the t quantile is slow and k takes few values.
        uk, inv = np.unique(df, return_inverse=True)
        crit = -special.stdtrit(uk, alpha / 2)[inv.reshape(-1)]
    else:
        df = np.full(G, np.nan)
        pval = 2 * special.ndtr(-np.abs(stat))
        crit = np.full(G, -special.ndtri(alpha / 2))
    half = crit * se

    q, q_p, vt, i2, h2 = _heterogeneity(kp, fe["rss"], dense.tr(fe), tau2, random)
    if random:
        pi = crit * np.sqrt(se**2 + tau2)
        pi_lo, pi_hi = beta - pi, beta + pi
    else:
        pi_lo = pi_hi = np.full(G, np.nan)

    # Likelihoods as core.log_likelihood (p = 1: log|X'X| = log k, log|X'WX| = log sum W).
    logv = fit["logv"]
    ll_ml = -0.5 * k * _LOG2PI - 0.5 * logv - 0.5 * rss
    ll_reml = (-0.5 * kp * _LOG2PI + 0.5 * np.log(k) - 0.5 * logv - 0.5 * np.log(fit["s1"])
               - 0.5 * rss)
    nan = np.full(G, np.nan)
    return {
        "beta": beta[:, None], "se": se[:, None], "stat": stat[:, None], "pval": pval[:, None],
        "ci_low": (beta - half)[:, None], "ci_high": (beta + half)[:, None],
        "vcov": vb[:, None, None], "tau2": tau2, "se_tau2": se_tau2, "i2": i2, "h2": h2,
        "q": q, "q_df": kp, "q_p": q_p, "pi_low": pi_lo, "pi_high": pi_hi, "qm": nan,
        "qm_p": nan.copy(), "df": df, "ll_ml": ll_ml, "ll_reml": ll_reml, "s2w": s2w, "vt": vt,
        "r2": nan.copy(), "converged": conv, "iterations": iters, "solver": solver,
        "weights": fit["weights"],
    }


def _heterogeneity(kp: np.ndarray, rss: np.ndarray, tr: np.ndarray, tau2: np.ndarray,
                   random: bool) -> tuple[np.ndarray, ...]:
    """Q about the fixed-effect fit (residual sum of squares ``rss`` on ``kp`` degrees of
    freedom), its p-value, the typical variance ``kp / tr`` and I^2, H^2: from Q for a
    fixed-effect model, from tau^2 and the typical variance for a random-effects one."""
    pos = kp > 0
    if pos.all():  # the usual case, without the selections for k = 1 (same values)
        q = np.maximum(0.0, rss)
        with np.errstate(divide="ignore", invalid="ignore"):
            q_p = _chi2_sf(kp, q)
            vt = kp / tr
            if not random:
                i2 = np.where(q > 0, np.maximum(0.0, 100 * (q - kp) / q), 0.0)
                h2 = q / kp
            else:
                i2 = 100 * tau2 / (vt + tau2)
                h2 = tau2 / vt + 1
        return q, q_p, vt, i2, h2
    q = np.where(pos, np.maximum(0.0, rss), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q_p = np.where(pos, _chi2_sf(np.maximum(kp, 1), q), 1.0)
        vt = np.where(pos, kp / tr, 0.0)
        if not random:
            i2 = np.where(pos & (q > 0), np.maximum(0.0, 100 * (q - kp) / q), 0.0)
            h2 = np.where(pos, q / kp, 1.0)
        else:
            i2 = np.where(pos, 100 * tau2 / (vt + tau2), 0.0)
            h2 = np.where(pos, tau2 / vt + 1, 1.0)
    return q, q_p, vt, i2, h2


#: Degrees of freedom and half-statistics up to which :func:`_chi2_sf` sums its finite series;
#: beyond, ``exp(-x)`` nears underflow or the series gets long, and scipy takes over.
_SERIES_DF = 64
_SERIES_X = 600.0


def _poisson_sum(x: np.ndarray, m: np.ndarray, half: float | np.ndarray) -> np.ndarray:
    """``sum_{j<m} x^j / ((1+h)(2+h)...(j+h))`` (h = ``half``; 1 where m <= 1) by Horner's rule.

    Every group runs the same operations whatever ``m`` the others have, so a value does not
    depend on the batch it is in."""
    r = np.ones_like(x)
    top = int(m.max()) if len(m) else 0
    if top == (int(m.min()) if len(m) else 0):
        for j in range(top - 1, 0, -1):
            r *= x
            r /= j + half
            r += 1.0
        return r
    for j in range(top - 1, 0, -1):
        r = np.where(j < m, 1.0 + r * x / (j + half), r)
    return r


def _chi2_sf(df: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Upper tail probability of the chi-squared distribution, ``scipy.special.chdtrc``.

    For the integer degrees of freedom of Q tests the tail is a finite sum (Abramowitz and
    Stegun 26.4.4-5): with ``x = q / 2`` and ``m = floor(df / 2)``, ``exp(-x) sum_{j<m}
    x^j / j!`` for even df, and ``erfc(sqrt x) + exp(-x) sum_{j<m} x^(j+1/2) / Gamma(j+3/2)``
    for odd df. All terms are positive, so the sum is accurate to a few ulps (within 1e-12 of
    ``chdtrc``, tested), and it costs a few vector operations per term instead of
    ``chdtrc``'s continued fraction per value (about four times faster at df = 19).
    Non-integer or large df, ``q > 1200`` (where ``exp(-x)`` nears underflow) and NaN go to
    ``chdtrc``.

    Parameters
    ----------
    df : ndarray
        Degrees of freedom (positive).
    q : ndarray
        The statistic (>= 0), broadcast against ``df``.

    Returns
    -------
    ndarray
        ``P(chi2_df > q)``.
    """
    df, q = np.broadcast_arrays(np.asarray(df, dtype=float), np.asarray(q, dtype=float))
    shape = df.shape
    df, q = df.ravel(), q.ravel()
    x = 0.5 * q
    if len(df) and df.min() == df.max():  # groups of one size: the checks on one df
        d0 = float(df[0])
        m0 = np.floor(0.5 * d0)
        if (1 <= d0 <= _SERIES_DF and d0 == np.floor(d0) and x.min() >= 0
                and x.max() <= _SERIES_X):
            h0 = 0.5 * (d0 - 2 * m0)
            r = _poisson_sum(x, np.array([m0]), h0)
            r *= np.exp(-x)
            if not h0:
                return r.reshape(shape)
            sx = np.sqrt(x)
            return ((r * (sx * (2 / np.sqrt(np.pi))) if m0 > 0 else 0.0)
                    + special.erfc(sx)).reshape(shape)
    m = np.floor(0.5 * df)
    series = (df >= 1) & (df <= _SERIES_DF) & (df == np.floor(df)) & (x >= 0) & (x <= _SERIES_X)
    if not series.all():
        out = np.empty(len(x))
        hard = ~series
        out[hard] = special.chdtrc(df[hard], q[hard])
        idx = np.flatnonzero(series)
        if len(idx):
            out[idx] = _chi2_sf(df[idx], q[idx])
        return out.reshape(shape)
    odd = df - 2 * m  # 1 for odd df, 0 for even
    one_parity = len(odd) == 0 or odd.min() == odd.max()
    h = (0.5 * odd[0] if len(odd) else 0.0) if one_parity else 0.5 * odd
    r = _poisson_sum(x, m, h)
    r *= np.exp(-x)
    if one_parity and not h:
        return r.reshape(shape)
    sx = np.sqrt(x)
    tail = np.where(m > 0, r * (sx * (2 / np.sqrt(np.pi))), 0.0) + special.erfc(sx)
    return (tail if one_parity else np.where(odd > 0, tail, r)).reshape(shape)


def _wald(V: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b' V^-1 b`` per group; NaN where ``V`` is singular (as metafor, whose QM is NA when a
    Knapp-Hartung fit is exact and the covariance matrix is zero)."""
    out = np.full(len(b), np.nan)
    ok = np.linalg.det(V) > 0
    if ok.any():
        sol = np.linalg.solve(V[ok], b[ok][:, :, None])[:, :, 0]
        out[ok] = np.einsum("gi,gi->g", b[ok], sol)
    return out


def _r2(data: Data, method: str, tau2: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pseudo-R^2 as metafor: the proportional reduction in tau^2 against the intercept-only
    model; for FE, the adjusted R^2 of the weighted least-squares regression."""
    g, y = data.groups, data.y
    k, p = data.k.astype(float), data.p
    if not estimator(method).random_effects:
        ybar = g.sum(w * y) / g.sum(w)
        tss = g.sum(w * (y - g.expand(ybar)) ** 2)
        rss = data.wls(w).rss
        with np.errstate(divide="ignore", invalid="ignore"):
            adj = 1 - (rss / (k - p)) / (tss / (k - 1))
        spread = g.sum((y - g.expand(g.sum(y) / k)) ** 2)
        return np.where(spread == 0, 0.0, np.maximum(0.0, 100 * adj))
    tau2_re = estimate(Data(y, data.v, None, g), method).tau2
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.maximum(0.0, 100 * (tau2_re - tau2) / tau2_re)
    return np.where(tau2_re == 0, 0.0, r2)


__all__ = ["TESTS", "GroupFits", "fit_groups"]
