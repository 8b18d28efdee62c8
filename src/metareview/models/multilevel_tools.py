"""What comes after a multilevel fit: BLUPs, profile-likelihood intervals, predictions,
standardized residuals and model comparison (metafor's ``ranef``, ``confint``, ``predict``,
``rstandard`` and ``anova`` for ``rma.mv``).

Everything is computed from the fit's blocks: ``M^-1`` is assembled as a sparse block-diagonal
matrix, so no k x k dense matrix is formed. With ``W = M^-1``, ``A = (X'WX)^-1`` and
``P = W - W X A X' W`` (metafor 3.8):

* ``ranef`` for a ``~ 1 | f`` term: ``u = sigma2 Z' P y`` with
  ``var(u - u_true) = sigma2 - sigma2^2 diag(Z' P Z)``; for an ``~ inner | outer`` term with
  ``G_full`` (``G`` of the rows' inner levels within the same outer level): ``u = G_full P y``,
  ``var = diag(G_full - G_full P G_full)``, one entry per ``inner | outer`` combination.
* ``confint``: for each estimated component, the values where twice the drop of the
  (restricted) log-likelihood, re-maximised over the other components, equals the chi-square
  quantile with 1 df; searched in metafor's ranges (variances ``[0, max(10, 100 est)]``,
  correlations ``[-1, 1]``, AR/HAR correlations ``[min(0, est), 1]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import optimize, stats

from metareview._util.jsonable import jsonable
from metareview._util.textfmt import printout_num
from metareview.effects.covariance import pairs_within
from metareview.errors import InputError
from metareview.models import blocks
from metareview.models.multilevel import MultilevelMetaAnalysis
from metareview.models.random_terms import _sort_levels


def _inverse(fit: MultilevelMetaAnalysis) -> sp.csr_matrix:
    """``M^-1`` of the fit as a sparse block-diagonal matrix (rows in the fit's order)."""
    return marginal(fit, inverse=True)


def marginal(fit: MultilevelMetaAnalysis, inverse: bool = False) -> sp.csr_matrix:
    """The fitted marginal covariance ``M`` (or its inverse) as a sparse block-diagonal
    matrix, rows in the fit's order."""
    prob = fit.problem
    rows, cols, vals = [], [], []
    for bk, M, Mi in prob.blocks_at(fit.theta[None, :]):
        valid = bk.rows >= 0
        pair = valid[:, :, None] & valid[:, None, :]
        n, i, j = np.nonzero(pair)
        rows.append(bk.rows[n, i])
        cols.append(bk.rows[n, j])
        vals.append((Mi if inverse else M)[n, i, j])
    k = prob.n
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(k, k))


def _crit(fit: MultilevelMetaAnalysis, level: float, df: float | None) -> float:
    if fit.test == "t" and df is not None:
        return float(stats.t.ppf(0.5 + level / 200, df))
    return float(stats.norm.ppf(0.5 + level / 200))


@dataclass(frozen=True, eq=False)
class RandomEffects:
    """BLUPs of one random-effects term (metafor's ``ranef`` table): one row per level."""

    term: str
    names: tuple[str, ...]
    pred: np.ndarray
    se: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray

    def frame(self) -> pd.DataFrame:
        """The table, indexed by level."""
        return pd.DataFrame({"intrcpt": self.pred, "se": self.se, "pi.lb": self.pi_low,
                             "pi.ub": self.pi_high}, index=list(self.names))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable({"term": self.term, "levels": [
            {"name": n, "pred": p, "se": s, "pi_low": lo, "pi_high": hi}
            for n, p, s, lo, hi in zip(self.names, self.pred, self.se, self.pi_low,
                                       self.pi_high, strict=True)]})

    def summary(self) -> str:
        """The table as metafor prints it."""
        w = max(len(n) for n in self.names)
        lines = [f"${self.term}", "", " " * w + " " + " ".join(
            f"{h:>8}" for h in ("intrcpt", "se", "pi.lb", "pi.ub"))]
        for row in zip(self.names, self.pred, self.se, self.pi_low, self.pi_high, strict=True):
            lines.append(f"{row[0]:>{w}} " + " ".join(f"{printout_num(x):>8}" for x in row[1:]))
        return "\n".join(lines)


def ranef(fit: MultilevelMetaAnalysis, level: float | None = None) -> dict[str, RandomEffects]:
    """Best linear unbiased predictions of the random effects (metafor's ``ranef``).

    Returns
    -------
    dict of str to RandomEffects
        Keyed by the term's name (``"district"``, ``"district/school"``,
        ``"outcome | trial"``), in the order of the terms.
    """
    level = fit.level if level is None else float(level)
    prob = fit.problem
    Mi = _inverse(fit)
    X = prob.X
    A = fit.vcov
    e = fit.residuals
    Pr = Mi @ e
    MiX = Mi @ X
    k = prob.n
    out: dict[str, RandomEffects] = {}
    off = 0
    for t in prob.terms:
        r = len(t.params)
        th = fit.theta[off:off + r]
        off += r
        if t.kind == "sigma":
            levels = _sort_levels(t.outer)
            index = {lv: i for i, lv in enumerate(levels)}
            col = np.array([index[x] for x in t.outer])
            Z = sp.csr_matrix((np.ones(k), (np.arange(k), col)), shape=(k, len(levels)))
            s2 = th[0]
            pred = s2 * (Z.T @ Pr)
            zMz = np.asarray((Z.T @ (Mi @ Z)).diagonal()).ravel()
            ZMX = np.asarray(Z.T @ MiX)
            zPz = zMz - np.einsum("lp,pq,lq->l", ZMX, A, ZMX)
            var = s2 - s2 * s2 * zPz
            names = tuple(levels)
            df = _term_df(fit, len(levels))
        else:
            G = t.G(th)
            o = t.outer
            i, j = pairs_within(o)
            Gf = sp.csr_matrix((G[t.inner[i], t.inner[j]], (i, j)), shape=(k, k))
            pred_rows = Gf @ Pr
            GM = Gf @ Mi
            GMG = np.asarray(GM.multiply(Gf).sum(axis=1)).ravel()
            GMX = np.asarray(Gf @ MiX)
            var_rows = (G[t.inner, t.inner] - GMG
                        + np.einsum("ip,pq,iq->i", GMX, A, GMX))
            width = max(len(x) for x in t.inner_levels)
            lab = np.array([f"{t.inner_levels[a]:>{width}} | {b}" for a, b in zip(t.inner, o,
                                                                                 strict=True)])
            # one entry per combination, ordered by outer level, then inner level
            olev = _sort_levels(o)
            orank = {lv: n for n, lv in enumerate(olev)}
            key = np.array([orank[b] * len(t.inner_levels) + a for a, b in zip(t.inner, o,
                                                                                strict=True)])
            _, first = np.unique(key, return_index=True)
            pred, var, names = pred_rows[first], var_rows[first], tuple(lab[first])
            df = _term_df(fit, len(olev))
        se = np.sqrt(np.maximum(var, 0.0))
        pred = np.where(np.abs(pred) < 100 * np.finfo(float).eps, 0.0, pred)
        c = _crit(fit, level, df)
        out[t.name] = RandomEffects(t.name, names, np.asarray(pred, float), se, pred - c * se,
                                    pred + c * se)
    return out


def _term_df(fit: MultilevelMetaAnalysis, nlevels: int) -> float | None:
    if fit.test != "t":
        return None
    if fit.dfs == "contain":
        return float(max(nlevels - fit.p_coef, 1))
    return float(fit.k - fit.p_coef)


# ---- profile likelihood -------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ProfileIntervals:
    """Profile-likelihood confidence intervals of the variance components (metafor's
    ``confint`` for ``rma.mv``): one row per estimated component, and its square root for
    variances."""

    names: tuple[str, ...]
    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    level: float

    def frame(self) -> pd.DataFrame:
        """The table, one row per component."""
        return pd.DataFrame({"estimate": self.estimate, "ci.lb": self.ci_low,
                             "ci.ub": self.ci_high}, index=list(self.names))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable({"level": self.level, "components": [
            {"name": n, "estimate": e, "ci_low": lo, "ci_high": hi}
            for n, e, lo, hi in zip(self.names, self.estimate, self.ci_low, self.ci_high,
                                    strict=True)]})

    def summary(self) -> str:
        """As metafor prints it."""
        w = max(len(n) for n in self.names)
        lines = [" " * w + " " + " ".join(f"{h:>9}" for h in ("estimate", "ci.lb", "ci.ub"))]
        for n, e, lo, hi in zip(self.names, self.estimate, self.ci_low, self.ci_high,
                                strict=True):
            lines.append(f"{n:<{w}} " + " ".join(f"{printout_num(x):>9}" for x in (e, lo, hi)))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _display(name: str) -> tuple[str, str | None]:
    """metafor's row names: ``sigma2.1`` -> ``sigma^2.1`` (and ``sigma.1``)."""
    for v, root in (("sigma2", "sigma"), ("tau2", "tau"), ("gamma2", "gamma")):
        if name.startswith(v):
            rest = name[len(v):]
            return f"{root}^2{rest}", f"{root}{rest}"
    return name, None


def confint(fit: MultilevelMetaAnalysis, level: float = 95,
            xtol: float = 1e-10) -> ProfileIntervals:
    """Profile-likelihood intervals of the variance components (metafor's ``confint``).

    Parameters
    ----------
    fit : MultilevelMetaAnalysis
        The fitted model.
    level : float
        Confidence level in percent.
    xtol : float
        Absolute tolerance of the root search (metafor's ``uniroot`` tolerance).
    """
    prob = fit.problem
    reml = fit.method == "REML"
    target = float(stats.chi2.ppf(level / 100, 1))
    ll_hat = fit.ll
    free0 = np.array([q.fixed is None for q in prob.params])
    names, est, lows, highs = [], [], [], []
    for r, q in enumerate(prob.params):
        if q.fixed is not None:
            continue
        e_r = float(fit.theta[r])
        term = prob.terms[q.term]

        def f(val: float, r: int = r) -> float:
            th = fit.theta.copy()
            th[r] = val
            free = free0.copy()
            free[r] = False
            if free.any():
                sol = blocks.fit(prob, reml=reml, theta0=th[None, :], free=free)
                ll = float(sol.ll[0])
            else:
                ll = float(prob.evaluate(th[None, :], reml, need=0)["ll"][0])
            if not np.isfinite(ll):
                return np.inf
            return -2 * (ll - ll_hat) - target

        if q.kind == "var":
            lo_end, hi_end = 0.0, max(10.0, 100 * e_r)
        elif term.struct in ("AR", "HAR"):
            lo_end, hi_end = min(0.0, e_r), 1.0
        else:
            lo_end, hi_end = -1.0, 1.0
        lo = _bound(f, lo_end, e_r, xtol)
        hi = _bound(f, hi_end, e_r, xtol)
        shown, root = _display(q.name)
        names.append(shown)
        est.append(e_r)
        lows.append(lo)
        highs.append(hi)
        if root is not None:
            names.append(root)
            est.append(np.sqrt(e_r))
            lows.append(np.sqrt(lo))
            highs.append(np.sqrt(hi))
    return ProfileIntervals(tuple(names), np.array(est), np.array(lows), np.array(highs),
                            float(level))


def _bound(f, end: float, est: float, xtol: float) -> float:
    """The end of the search range if the profile stays inside the interval there, else the
    root between the estimate and the end."""
    if end == est:
        return end
    f_end = f(end)
    if f_end < 0:
        return end
    if not np.isfinite(f_end):  # an end where M is not positive definite: move inward
        for frac in np.linspace(0.9, 0.1, 9):
            cand = est + frac * (end - est)
            f_end = f(cand)
            if np.isfinite(f_end):
                end = cand
                break
        if f_end < 0:
            return end
    a, b = sorted((end, est))
    return float(optimize.brentq(f, a, b, xtol=xtol, rtol=4 * np.finfo(float).eps))


# ---- predictions and residuals ------------------------------------------------------------------
def pi_variance(
    fit: MultilevelMetaAnalysis,
    n: int,
    tau2_levels: Sequence[int | str] | None = None,
    gamma2_levels: Sequence[int | str] | None = None,
) -> np.ndarray:
    """The variance a prediction interval adds to ``se^2``, for each of ``n`` predictions
    (metafor's ``predict.rma.mv``).

    Parameters
    ----------
    fit : MultilevelMetaAnalysis
        The fit.
    n : int
        Number of predictions.
    tau2_levels, gamma2_levels : sequence of int or str, optional
        For ``~ inner | outer`` terms with one variance per inner level: the level (name or
        1-based number) of each prediction, or one for all.

    Returns
    -------
    ndarray
        Every ``sigma2``, plus the chosen ``tau2`` and ``gamma2`` (the only one when the term has
        a single variance).
    """
    extra = np.full(n, float(fit.sigma2.sum()))
    structured = [t for t in fit.terms if t.kind == "struct"]
    for i, t in enumerate(structured):
        var = fit.tau2 if i == 0 else fit.gamma2
        chosen = tau2_levels if i == 0 else gamma2_levels
        if len(var) == 1:
            extra += var[0]
        elif chosen is None:
            raise InputError(f"predict: the model has {len(var)} {'tau2' if i == 0 else 'gamma2'}"
                             f" values; say which level each prediction is for "
                             f"({', '.join(t.inner_levels)})")
        else:
            idx = [t.inner_levels.index(str(x)) if str(x) in t.inner_levels else int(x) - 1
                   for x in chosen]
            extra += var[np.asarray(idx)] if len(idx) == n else var[idx[0]]
    return extra


def marginal_diagonal(fit: MultilevelMetaAnalysis) -> np.ndarray:
    """The diagonal of the fitted marginal covariance ``M`` (each estimate's variance).

    Parameters
    ----------
    fit : MultilevelMetaAnalysis
        The fit.

    Returns
    -------
    ndarray
        One variance per estimate, in the fit's row order.
    """
    prob = fit.problem
    diag = np.zeros(prob.n)
    for bk, M, _Mi in prob.blocks_at(fit.theta[None, :]):
        valid = bk.rows >= 0
        diag[bk.rows[valid]] = np.diagonal(M, axis1=1, axis2=2)[valid]
    return diag


__all__ = ["ProfileIntervals", "RandomEffects", "confint", "marginal", "marginal_diagonal",
           "pi_variance", "ranef"]
