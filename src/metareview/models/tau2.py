"""Estimators of the between-study variance tau^2, each written once over arrays.

Every estimator takes effect sizes ``y``, sampling variances ``v`` and a model matrix ``X``
(a column of ones for an intercept-only model; moderators add columns), so one code path
serves meta-analysis and meta-regression. Formulas are those of metafor 3.8 ``rma.uni``
(Viechtbauer 2005, J Educ Behav Stat 30:261; Viechtbauer 2010, J Stat Softw 36(3)), including
its standard errors of tau^2.

ML, REML, EB and PM are iterative. metafor solves ML/REML/EB by Fisher scoring, which on a few
datasets in a thousand fails to converge or stops at a local maximum below the boundary value.
Here Fisher scoring is only the fast path: whenever it does not converge, or the likelihood at
tau^2 = 0 is higher, the score equation is solved by bracketing (Brent's method) over every
sign change on a grid, and the candidate with the highest likelihood wins. EB and PM solve the
generalised Q equation ``Q(tau^2) = k - p``, which is monotone, so bracketing always converges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from metareview.models.linalg import Projector

METHODS = ("FE", "DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB")
RANDOM = ("DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB")

_RTOL = 1e-13


@dataclass(frozen=True)
class Tau2Estimate:
    """An estimate of tau^2 with its standard error and how it was reached."""

    tau2: float
    se: float
    method: str
    converged: bool = True
    iterations: int = 0
    solver: str = "closed form"


def _proj(y, v, X, tau2: float) -> Projector:
    return Projector.fit(y, X, 1.0 / (v + tau2))


def loglik(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, reml: bool) -> float:
    """(Restricted) log-likelihood of the random-effects model at ``tau2``, as metafor.

    The REML version includes metafor's ``+ 1/2 log|X'X|`` term (``REMLf=TRUE``).
    """
    k, p = X.shape
    pr = _proj(y, v, X, tau2)
    if not reml:
        return float(-0.5 * k * np.log(2 * np.pi) - 0.5 * np.sum(np.log(v + tau2)) - 0.5 * pr.rss)
    _, logdet_w = np.linalg.slogdet(np.linalg.inv(pr.M))
    _, logdet_x = np.linalg.slogdet(X.T @ X)
    return float(
        -0.5 * (k - p) * np.log(2 * np.pi)
        + 0.5 * logdet_x
        - 0.5 * np.sum(np.log(v + tau2))
        - 0.5 * logdet_w
        - 0.5 * pr.rss
    )


def generalized_q(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """The generalised Q statistic ``sum w_i (y_i - x_i'b)^2`` with ``w_i = 1/(v_i + tau2)``."""
    return _proj(y, v, X, tau2).rss


def _score(y, v, X, tau2: float, method: str) -> float:
    """Twice the derivative of the (restricted) log-likelihood in tau^2 (ML/REML)."""
    pr = _proj(y, v, X, tau2)
    return pr.rss2 - (pr.tr if method == "REML" else float(np.sum(pr.d)))


def _upper(f, start: float) -> float:
    """Double ``start`` until ``f`` turns negative (f is eventually negative)."""
    hi = max(start, 1e-8)
    for _ in range(200):
        if f(hi) < 0:
            return hi
        hi *= 2.0
    raise FloatingPointError("could not bracket the root")


def _root(f, lo: float, hi: float) -> float:
    return float(brentq(f, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500))


def _solve_q(y, v, X, target: float) -> tuple[float, int]:
    """Root of ``Q(tau2) = target`` on [0, inf); 0 if Q(0) is already at or below target."""
    f = lambda t: generalized_q(y, v, X, t) - target  # noqa: E731
    if f(0.0) <= 0:
        return 0.0, 1
    hi = _upper(f, float(np.var(y)) + float(np.max(v)))
    return _root(f, 0.0, hi), 0


def _fisher(y, v, X, start: float, method: str, maxiter: int = 200) -> tuple[float, bool, int]:
    """metafor's Fisher scoring for ML/REML with step halving, run to machine precision."""
    tau2 = max(0.0, start)
    for it in range(1, maxiter + 1):
        pr = _proj(y, v, X, tau2)
        if method == "ML":
            adj = (pr.rss2 - np.sum(pr.d)) / np.sum(pr.d**2)
        else:
            adj = (pr.rss2 - pr.tr) / pr.tr2
        if not np.isfinite(adj):
            return tau2, False, it
        if tau2 + adj < 0:
            # Heading past the boundary: if the likelihood falls away from zero, zero is the
            # maximum (step halving alone would only creep towards it).
            if _score(y, v, X, 0.0, method) <= 0:
                return 0.0, True, it
            while tau2 + adj < 0:
                adj /= 2
        new = tau2 + adj
        if abs(new - tau2) <= 1e-14 + _RTOL * new:
            return new, True, it
        tau2 = new
    return tau2, False, maxiter


def _maximise(y, v, X, method: str, start: float) -> tuple[float, bool, int, str]:
    """Global maximiser of the (restricted) likelihood over tau^2 >= 0."""
    reml = method == "REML"
    tau2, ok, it = _fisher(y, v, X, start, method)
    ll = lambda t: loglik(y, v, X, t, reml)  # noqa: E731
    if ok and (tau2 == 0.0 or ll(tau2) >= ll(0.0) - 1e-12):
        return tau2, True, it, "Fisher scoring"
    # Robust path: every local maximum of the score equation on a log grid, plus the boundary.
    f = lambda t: _score(y, v, X, t, method)  # noqa: E731
    hi = _upper(f, float(np.var(y)) + float(np.max(v)))
    grid = np.concatenate([[0.0], np.geomspace(hi * 1e-10, hi, 80)])
    vals = np.array([f(t) for t in grid])
    cands = [0.0]
    for i in np.flatnonzero((vals[:-1] > 0) & (vals[1:] <= 0)):
        cands.append(_root(f, grid[i], grid[i + 1]))
    best = max(cands, key=ll)
    return best, True, it, "bracketing"


def estimate_tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> Tau2Estimate:
    """Estimate tau^2 by one of metafor's methods.

    Parameters
    ----------
    y, v : ndarray
        Effect sizes and sampling variances (``v > 0``).
    X : ndarray
        k x p model matrix with an intercept column.
    method : str
        ``FE`` (tau^2 = 0), ``DL`` (DerSimonian-Laird), ``HE`` (Hedges), ``HS``
        (Hunter-Schmidt), ``SJ`` (Sidik-Jonkman), ``ML``, ``REML``, ``EB`` (empirical Bayes /
        Morris), ``PM`` (Paule-Mandel).

    Returns
    -------
    Tau2Estimate
        Truncated at zero, with metafor's standard error for that estimator.
    """
    k, p = X.shape
    if method == "FE":
        return Tau2Estimate(0.0, np.nan, method)
    w = 1.0 / v
    it, conv, solver = 0, True, "closed form"
    if method == "DL":
        pr = Projector.fit(y, X, w)
        tau2 = max(0.0, (pr.rss - (k - p)) / pr.tr)
        se = np.sqrt((2 * (k - p) + 4 * tau2 * pr.tr + 2 * tau2**2 * pr.tr2) / pr.tr**2)
    elif method == "HE":
        pr = Projector.fit(y, X, np.ones(k))
        tau2 = max(0.0, (pr.rss - pr.tr_pv(v)) / (k - p))
        se = np.sqrt(
            (2 * pr.tr_pvpv(v) + 4 * tau2 * pr.tr_pv(v) + 2 * tau2**2 * (k - p)) / (k - p) ** 2
        )
    elif method == "HS":
        pr = Projector.fit(y, X, w)
        tau2 = max(0.0, (pr.rss - k) / np.sum(w))
        se = np.sqrt((2 * (k - p) + 4 * tau2 * pr.tr + 2 * tau2**2 * pr.tr2) / np.sum(w) ** 2)
    elif method == "SJ":
        t0 = float(np.var(y))  # var(y) (k-1)/k, metafor's default start
        pr = _proj(y, v, X, t0)
        tau2 = max(0.0, t0 * pr.rss / (k - p))
        se = t0 / (k - p) * np.sqrt(
            2 * pr.tr_pvpv(v) + 4 * tau2 * pr.tr_pvp(v) + 2 * tau2**2 * pr.tr2
        )
    elif method in ("ML", "REML"):
        start = max(0.0, estimate_tau2(y, v, X, "HE").tau2)
        tau2, conv, it, solver = _maximise(y, v, X, method, start)
        pr = _proj(y, v, X, tau2)
        se = np.sqrt(2 / np.sum(pr.d**2)) if method == "ML" else np.sqrt(2 / pr.tr2)
    elif method in ("PM", "EB"):
        # EB's estimating equation (Morris 1983) is PM's: Q(tau^2) = k - p.
        tau2, it = _solve_q(y, v, X, float(k - p))
        solver = "Brent (generalised Q)"
        se = np.sqrt(2 * k**2 / (k - p) / np.sum(1 / (v + tau2)) ** 2)
    else:
        raise ValueError(f"unknown method {method!r}")
    return Tau2Estimate(float(tau2), float(se), method, conv, it, solver)
