"""The methods of meta-analysis in one registry, and the estimators of tau^2 behind them.

:data:`ESTIMATORS` maps each method code (metafor's) to an :class:`Estimator` recording what the
method is (inverse-variance or not, random effects or not, iterative or closed form, whether it
maximises a likelihood, whether it needs the 2x2 tables) and, for the inverse-variance methods,
the function that estimates tau^2 in many groups of studies at once. Adding an estimator is one
entry. Every entry point (:func:`~metareview.models.rma.meta_analysis`,
:func:`~metareview.models.fit.fit_groups`, batch runs) validates codes with
:func:`check_method`, which raises :class:`UnknownMethodError`.

The formulas are those of metafor 3.8's ``rma.uni`` (Viechtbauer 2005, J Educ Behav Stat
30:261; Viechtbauer 2010, J Stat Softw 36(3)), including its standard errors of tau^2. The
iterative estimators run in lock-step over the groups still iterating (an active set), so a
batch costs about as much as its slowest few members, not the sum of them:

* ML and REML: metafor's Fisher scoring with step halving, taking a Newton step on the
  Fisher step ``score / information`` (its root is the score's) instead wherever that is
  safe (Fisher scoring alone converges only linearly, and very slowly on some datasets), to
  machine precision. Where it fails to
  converge, or stops at a stationary point below the likelihood at tau^2 = 0, the group is
  solved again by bracketing every sign change of the score on a grid (Brent's method) and
  keeping the best candidate: the global maximum over tau^2 >= 0.
* PM and EB solve ``Q(tau^2) = k - p``. ``Q`` is decreasing and convex in tau^2
  (``Q' = -y'PPy``, ``Q'' = 2 y'PPPy >= 0``), so Newton's method started at 0 climbs to the
  root from below without overshooting; Brent's method is the fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from metareview.errors import InputError
from metareview.models.core import WLS, Data, Groups, labels, log_likelihood
from metareview.models.core import generalized_q as _q_groups

_RTOL = 1e-13
_QUAD = 1e-6  # a Newton step this small is the last (_last_step)
_MAXITER = 200
#: Fisher scoring that has not converged in this many steps (Newton's steps take at most 8
#: on the benchmark's data) is creeping along a flat likelihood: bracketing, which runs for
#: the groups whose maximum is not certain anyway, finds the global maximum directly.
_FISHER_MAXITER = 12


class UnknownMethodError(InputError):
    """A method code that is not in the registry, or not available where it was asked for.

    The message lists the valid codes. A subclass of :class:`~metareview.errors.InputError`
    (and so of ``ValueError``).
    """


@dataclass(frozen=True, eq=False)
class Tau2Fits:
    """Estimates of tau^2 per group with standard errors and how each was reached."""

    tau2: np.ndarray
    se: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    solver: np.ndarray  # strings
    fit: WLS | None = None  # the weighted fit at tau2, where the estimator computed it


def _score(data: Data, tau2: np.ndarray, method: str) -> np.ndarray:
    """Twice the derivative of the (restricted) log-likelihood in tau^2 (ML/REML)."""
    return _terms(data, tau2, method, curvature=False, information=False)[0]


def _terms(data: Data, tau2: np.ndarray, method: str, curvature: bool = True,
           information: bool = True) -> tuple[np.ndarray, ...]:
    """Score, Fisher information, observed curvature and ``tr(P^3)`` of ML/REML at ``tau2``.

    The score is ``y'PPy - tr(P)`` (REML) or ``y'PPy - tr(W)`` (ML), the information
    ``tr(PP)`` or ``tr(WW)``, the curvature ``2 y'PPPy - information``; the last term
    (``tr(PPP)`` or ``tr(WWW)``) is minus half the derivative of the information. The
    intercept-only model, the hot loop of most batches, takes them from a few weighted sums in
    one sweep.
    """
    if data.X is not None:
        fit = data.at(tau2)
        if method == "ML":
            score, info = fit.rss2 - fit.sum_d, fit.sum_d2
            third = fit.sum_d3 if curvature else None
        else:
            score, info = fit.rss2 - fit.tr, fit.tr2
            third = fit.tr3 if curvature else None
        return score, info, (2 * fit.rss3 - info if curvature else None), third
    g, y = data.groups, data.y
    w = 1.0 / (data.v + g.expand(tau2))
    s1 = g.sum(w)
    e = w * (y - g.expand(g.sum(w * y) / s1))  # Py
    ee = e * e
    w2 = w * w
    s2 = g.sum(w2)
    if method == "ML":
        score, info = g.sum(ee) - s1, s2
    else:
        score = g.sum(ee) - (s1 - s2 / s1)
        info = s2 - 2 * g.sum(w2 * w) / s1 + (s2 / s1) ** 2 if information else None
    if not curvature:
        return score, info, None, None
    rss3 = g.sum(w * ee) - g.sum(w * e) ** 2 / s1
    s3 = g.sum(w2 * w)
    if method == "ML":
        third = s3
    else:
        r = s2 / s1
        third = s3 - 3 * g.sum(w2 * w2) / s1 + 3 * r * s3 / s1 - r**3
    return score, info, 2 * rss3 - info, third


class _ActiveSet:
    """The groups still iterating: a sub-problem compacted as groups finish.

    Iterations run on ``sub`` (a superset of the live groups); it is rebuilt once fewer than
    60% of its groups are live, so the cost follows the unfinished groups.
    """

    def __init__(self, data: Data) -> None:
        self.sub, self.ids = data, np.arange(data.groups.G)
        self.live = np.ones(data.groups.G, dtype=bool)

    def compact(self) -> Data:
        if self.live.sum() < 0.6 * len(self.live):
            keep = np.flatnonzero(self.live)
            self.sub, self.ids, self.live = self.sub.select(keep), self.ids[keep], self.live[keep]
        return self.sub

    def finish(self, mask: np.ndarray) -> bool:
        """Mark ``mask`` (over the current sub-problem) finished; whether any remain."""
        self.live &= ~mask
        return bool(self.live.any())


def _fisher(data: Data, start: np.ndarray, method: str) -> tuple[np.ndarray, ...]:
    """Fisher scoring with Newton steps and step halving, over groups, to about 1e-12
    (:func:`_last_step`), for at most ``_FISHER_MAXITER`` steps (the rest: not converged)."""
    G = data.groups.G
    tau2 = np.maximum(start, 0.0)
    conv = np.zeros(G, dtype=bool)
    iters = np.zeros(G, dtype=np.int64)
    score0 = _score(data, np.zeros(G), method)
    act = _ActiveSet(data)
    for it in range(1, _FISHER_MAXITER + 1):
        sub = act.compact()
        ids, live = act.ids, act.live
        t = tau2[ids]
        score, info, hess, third = _terms(sub, t, method)
        adj = score / info
        # Fisher scoring converges linearly, slowly where the observed curvature is far below
        # the expected information. Newton's method on the Fisher step F = S/I (the same root)
        # is taken instead whenever it is defined, points the same way and stays >= 0: with
        # S' = -hess (hess = 2 y'PPPy - I) and I' = -2 tr(PPP), F' = -D/I for
        # D = hess - 2 S tr(PPP)/I, so the step is S/D. F is linear in tau^2 when the
        # variances are equal (Fisher scoring is then exact) and near it otherwise, so this
        # takes fewer steps than Newton's method on S itself (a quarter fewer passes on the
        # benchmark's data), with the same quadratic convergence at the root, where D = hess.
        with np.errstate(divide="ignore", invalid="ignore"):
            curv = hess - 2 * score * third / info
            newton = score / curv
        use = (curv > 0) & (newton * adj > 0) & (t + newton >= 0) & np.isfinite(newton)
        adj = np.where(use, newton, adj)
        iters[ids[live]] = it
        bad = ~np.isfinite(adj)
        neg = ~bad & (t + adj < 0)
        # Heading past the boundary: if the likelihood falls away from zero, zero is the maximum.
        at_zero = neg & (score0[ids] <= 0)
        halve = neg & ~at_zero
        while halve.any():
            adj[halve] /= 2
            halve &= t + adj < 0
        new = np.where(at_zero, 0.0, t + adj)
        step = np.abs(new - t)
        step_ok = ~bad & ~at_zero & _last_step(step, use, new)
        upd = live & ~bad
        tau2[ids[upd]] = new[upd]
        conv[ids[live & (at_zero | step_ok)]] = True
        if not act.finish(bad | at_zero | step_ok):
            break
    return tau2, conv, iters, score0


def _last_step(step: np.ndarray, newton: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Whether a step of Fisher scoring to ``new`` ends the iteration: a step within the
    tolerance ``_RTOL``, or a Newton step (``newton``) within ``_QUAD``.

    Near the root Newton's method converges quadratically: after a step of relative size r
    the error is about r^2 times tau^2 F''/F' (F the Fisher step, nearly linear), so a step of
    1e-6 lands about 1e-12 from the root, and the pass that would only confirm it is saved.
    On the benchmark's 10,000 datasets this moves no estimate by more than 2e-11 of
    tau^2 + mean(v) from the confirmed one.
    """
    tol = 1e-14 + _RTOL * new
    return (step <= tol) | (newton & (step <= 1e-14 + _QUAD * new))


def _upper(f, start: float) -> float:
    """Double ``start`` until ``f`` turns negative (f is eventually negative)."""
    hi = max(start, 1e-8)
    for _ in range(200):
        if f(hi) < 0:
            return hi
        hi *= 2.0
    raise FloatingPointError("could not bracket the root")


def _root(f, lo: float, hi: float) -> float:
    from scipy.optimize import brentq  # here: importing scipy.optimize costs start-up ~0.3 s

    return float(brentq(f, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500))


def _start_hi(one: Data) -> float:
    return float(np.var(one.y)) + float(np.max(one.v))


def _checks(data: Data, tau2: np.ndarray, inner: np.ndarray, zero: np.ndarray):
    """Groups, grids and the sign the score must have there for a single maximum."""
    if len(inner):
        grid = tau2[inner][:, None] * _NEAR[None, :]
        yield inner, grid, np.where(_NEAR < 1, 1.0, -1.0)[None, :]
    if len(zero):
        sub = data.select(zero)
        high = 2 * sub.wls(np.ones(sub.groups.n)).rss / (sub.k - sub.p)
        yield zero, high[:, None] * _GRID[None, :], -1.0


def _bracket_ml(data: Data, method: str) -> np.ndarray:
    """Global maximisers over tau^2 >= 0 of the (restricted) likelihood of every group, by
    bracketing: the score on an 81-point grid up to where it is negative for good, bisection
    of every + to - sign change to machine precision, and the candidate (or 0) with the highest
    likelihood. All groups and all their sign changes are solved at once."""
    g, reml = data.groups, method == "REML"
    G = g.G
    ybar = g.sum(data.y) / data.k
    hi = np.maximum(g.sum((data.y - g.expand(ybar)) ** 2) / data.k
                    + np.maximum.reduceat(data.v, g.starts), 1e-8)
    for _ in range(200):
        up = _score(data, hi, method) >= 0
        if not up.any():
            break
        hi[up] *= 2.0
    grid = np.column_stack([np.zeros(G), hi[:, None] * np.geomspace(1e-10, 1.0, 80)[None, :]])
    vals = np.column_stack([_score(data, grid[:, j], method) for j in range(grid.shape[1])])
    gi, ji = np.nonzero((vals[:, :-1] > 0) & (vals[:, 1:] <= 0))
    best = np.zeros(G)
    if not len(gi):
        return best
    lo, up = grid[gi, ji], grid[gi, ji + 1]
    sub = data.select(gi)  # one copy of its group per sign change
    for _ in range(200):
        mid = 0.5 * (lo + up)
        pos = _score(sub, mid, method) > 0
        lo, up = np.where(pos, mid, lo), np.where(pos, up, mid)
        if np.all(up - lo <= 4 * np.finfo(float).eps * up):
            break
    roots = 0.5 * (lo + up)
    ll = log_likelihood(sub, roots, reml)
    better = ll > log_likelihood(data, best, reml)[gi]
    order = np.flatnonzero(better)[np.argsort(ll[better])]  # ascending: the highest is set last
    best[gi[order]] = roots[order]
    return best


_GRID = np.geomspace(1e-4, 1.0, 8)  # for a maximum at 0: fractions of an upper bound
_NEAR = np.array([0.01, 0.1, 10.0])  # for an interior maximum: multiples of it


def _maximise(data: Data, method: str, start: np.ndarray) -> tuple[np.ndarray, ...]:
    """ML/REML: Fisher scoring, a check that its maximum is the only one, and bracketing where
    it is not (or where Fisher scoring fell short).

    The (restricted) likelihood can have two local maxima: one at tau^2 = 0 and one inside
    (about 1 dataset in 500 of the benchmark's; in 5 of 10,000 the inner one is higher and
    metafor stops at 0), or two inside (1 of 10,000 test datasets, k = 4, variances over two
    decades); metafor reports whichever its start leads to. The score changes sign from + to -
    at a maximum, so a maximum is the only one when the score is positive below it and
    negative above it. Checked, for all groups at once: an interior maximum with a negative
    score at 0 is not alone; one with a positive score at 0 is checked at 1/100, 1/10 and 10
    times itself; a maximum at 0 is checked on an 8-point grid up to twice the residual
    variance of the unweighted fit (above any interior maximum). A group that fails is solved
    by bracketing every sign change of the score, and the highest likelihood wins.
    """
    tau2, conv, iters, score0 = _fisher(data, start, method)
    solver = labels(data.groups.G, "Fisher scoring")
    inner = conv & (tau2 > 0)
    conv[inner & (score0 < 0)] = False
    for idx, grid, sign in _checks(data, tau2, np.flatnonzero(inner & (score0 >= 0)),
                                   np.flatnonzero(conv & (tau2 == 0))):
        sub = data.select(idx)
        score = np.column_stack([_score(sub, grid[:, j], method) for j in range(grid.shape[1])])
        conv[idx[(score * sign < 0).any(axis=1)]] = False
    redo = np.flatnonzero(~conv)
    if len(redo):
        tau2[redo] = _bracket_ml(data.select(redo), method)
        conv[redo] = True
        solver[redo] = "bracketing"
    return tau2, conv, iters, solver


def _solve_q(data: Data, target: np.ndarray) -> tuple[np.ndarray, ...]:
    """Root of ``Q(tau2) = target`` on [0, inf) per group; 0 where ``Q(0) <= target``.

    Newton from 0 on the convex decreasing ``Q`` rises monotonically to the root.
    """
    G = data.groups.G
    tau2 = np.zeros(G)
    conv = np.zeros(G, dtype=bool)
    iters = np.zeros(G, dtype=np.int64)
    solver = labels(G, "Newton (generalised Q)")
    act = _ActiveSet(data)
    for it in range(1, _MAXITER + 1):
        sub = act.compact()
        ids, live = act.ids, act.live
        t = tau2[ids]
        fit = sub.at(t)
        f = fit.rss - target[ids]
        iters[ids[live]] = it
        stop = f <= 0  # at (or, by rounding, just past) the root; at 0 on the first step
        with np.errstate(divide="ignore", invalid="ignore"):
            step = f / fit.rss2
        new = np.where(stop, t, t + step)
        small = ~stop & (np.abs(step) <= 1e-14 + _RTOL * new)
        bad = ~np.isfinite(new)
        upd = live & ~bad
        tau2[ids[upd]] = new[upd]
        conv[ids[live & (stop | small)]] = True
        if not act.finish(stop | small | bad):
            break
    for i in np.flatnonzero(~conv):  # fallback: Brent's method on the bracket
        one = data.select(np.array([i]))
        f1 = lambda t, one=one, i=i: float(_q_groups(one, np.array([t]))[0] - target[i])  # noqa: E731
        tau2[i] = 0.0 if f1(0.0) <= 0 else _root(f1, 0.0, _upper(f1, _start_hi(one)))
        conv[i] = True
        solver[i] = "Brent (generalised Q)"
    return tau2, conv, iters, solver


def _hedges(data: Data) -> tuple[np.ndarray, np.ndarray]:
    """Hedges' (HE) estimator from the OLS fit, and its standard error."""
    kp = data.k - data.p
    fit = data.wls(np.ones(data.groups.n))
    trpv = fit.tr_pv(data.v)
    tau2 = np.maximum(0.0, (fit.rss - trpv) / kp)
    se = np.sqrt((2 * fit.tr_pvpv(data.v) + 4 * tau2 * trpv + 2 * tau2**2 * kp) / kp**2)
    return tau2, se


# ---------------------------------------------------------------------------------------------
# One solver per estimator: groups of studies in, Tau2Fits out
def _closed(G: int, tau2: np.ndarray, se: np.ndarray, fit: WLS | None = None) -> Tau2Fits:
    return Tau2Fits(tau2, se, np.ones(G, dtype=bool), np.zeros(G, dtype=np.int64),
                    labels(G, "closed form"), fit)


def _fe(data: Data) -> Tau2Fits:
    """Fixed effect: tau^2 = 0."""
    G = data.groups.G
    return _closed(G, np.zeros(G), np.full(G, np.nan))


def _moments(data: Data, hunter_schmidt: bool) -> Tau2Fits:
    """DerSimonian-Laird and Hunter-Schmidt: method-of-moments on the fixed-effect Q."""
    g, v = data.groups, data.v
    k = data.k.astype(float)
    kp = k - data.p
    w = 1.0 / v
    fit = data.wls(w)
    if hunter_schmidt:
        denom = g.sum(w)
        tau2 = np.maximum(0.0, (fit.rss - k) / denom)
    else:
        denom = fit.tr
        tau2 = np.maximum(0.0, (fit.rss - kp) / denom)
    se = np.sqrt((2 * kp + 4 * tau2 * fit.tr + 2 * tau2**2 * fit.tr2) / denom**2)
    return _closed(g.G, tau2, se)


def _dl(data: Data) -> Tau2Fits:
    """DerSimonian-Laird."""
    return _moments(data, hunter_schmidt=False)


def _hs(data: Data) -> Tau2Fits:
    """Hunter-Schmidt."""
    return _moments(data, hunter_schmidt=True)


def _he(data: Data) -> Tau2Fits:
    """Hedges (the OLS method of moments)."""
    tau2, se = _hedges(data)
    return _closed(data.groups.G, tau2, se)


def _sj(data: Data) -> Tau2Fits:
    """Sidik-Jonkman, from metafor's default start ``var(y) (k-1)/k``."""
    g, y, v = data.groups, data.y, data.v
    k = data.k.astype(float)
    kp = k - data.p
    ybar = g.sum(y) / k
    t0 = g.sum((y - g.expand(ybar)) ** 2) / k
    fit = data.at(t0)
    tau2 = np.maximum(0.0, t0 * fit.rss / kp)
    se = t0 / kp * np.sqrt(2 * fit.tr_pvpv(v) + 4 * tau2 * fit.tr_pvp(v) + 2 * tau2**2 * fit.tr2)
    return _closed(g.G, tau2, se)


def _likelihood(data: Data, method: str) -> Tau2Fits:
    """ML or REML: Fisher scoring from the HE estimate, checked and bracketed (``_maximise``)."""
    start = np.maximum(0.0, _hedges(data)[0])
    tau2, conv, iters, solver = _maximise(data, method, start)
    fit = data.at(tau2)
    se = np.sqrt(2 / fit.sum_d2) if method == "ML" else np.sqrt(2 / fit.tr2)
    return Tau2Fits(tau2, se, conv, iters, solver, fit)


def _ml(data: Data) -> Tau2Fits:
    """Maximum likelihood."""
    return _likelihood(data, "ML")


def _reml(data: Data) -> Tau2Fits:
    """Restricted maximum likelihood."""
    return _likelihood(data, "REML")


def _q_equation(data: Data) -> Tau2Fits:
    """Paule-Mandel and empirical Bayes (Morris 1983): the root of ``Q(tau^2) = k - p``."""
    g, v = data.groups, data.v
    k = data.k.astype(float)
    kp = k - data.p
    tau2, conv, iters, solver = _solve_q(data, kp)
    se = np.sqrt(2 * k**2 / kp / g.sum(1 / (v + g.expand(tau2))) ** 2)
    return Tau2Fits(tau2, se, conv, iters, solver)


# ---------------------------------------------------------------------------------------------
# The registry
@dataclass(frozen=True)
class Estimator:
    """One method of meta-analysis: what it is and, for inverse-variance methods, its tau^2.

    Attributes
    ----------
    code : str
        metafor's code (``method=``).
    name : str
        Name for people.
    inverse_variance : bool
        Pools with weights ``1 / (v + tau^2)`` (metafor's ``rma.uni``); False for MH and Peto,
        which pool the 2x2 tables themselves.
    random_effects : bool
        Estimates a between-study variance tau^2.
    iterative : bool
        Solved iteratively (False: closed form).
    likelihood : bool
        Maximises the (restricted) likelihood.
    needs_tables : bool
        Needs the 2x2 tables (not only effect sizes and variances).
    solve : callable or None
        ``solve(data) -> Tau2Fits`` for the groups of ``data``; None for MH and Peto.
    """

    code: str
    name: str
    inverse_variance: bool = True
    random_effects: bool = True
    iterative: bool = False
    likelihood: bool = False
    needs_tables: bool = False
    solve: Callable[[Data], Tau2Fits] | None = None

    @property
    def model_label(self) -> str:
        """How metafor's ``print`` names the model: Random-Effects, Fixed-Effects (...)."""
        if self.random_effects:
            return "Random-Effects"
        return "Fixed-Effects" if self.inverse_variance else f"Fixed-Effects ({self.name})"


#: Every method code, in metafor's order, with what it is.
ESTIMATORS: dict[str, Estimator] = {e.code: e for e in (
    Estimator("FE", "fixed effect", random_effects=False, solve=_fe),
    Estimator("DL", "DerSimonian-Laird", solve=_dl),
    Estimator("REML", "restricted maximum likelihood", iterative=True, likelihood=True,
              solve=_reml),
    Estimator("ML", "maximum likelihood", iterative=True, likelihood=True, solve=_ml),
    Estimator("PM", "Paule-Mandel", iterative=True, solve=_q_equation),
    Estimator("HS", "Hunter-Schmidt", solve=_hs),
    Estimator("SJ", "Sidik-Jonkman", solve=_sj),
    Estimator("HE", "Hedges", solve=_he),
    Estimator("EB", "empirical Bayes", iterative=True, solve=_q_equation),
    Estimator("MH", "Mantel-Haenszel", inverse_variance=False, random_effects=False,
              needs_tables=True),
    Estimator("PETO", "Peto", inverse_variance=False, random_effects=False, needs_tables=True),
)}


def codes(*, inverse_variance: bool | None = None, random_effects: bool | None = None
          ) -> tuple[str, ...]:
    """Method codes of the registry, optionally only those with the given properties.

    Examples: ``codes(inverse_variance=True)`` is FE and the tau^2 estimators (what
    :func:`~metareview.models.fit.fit_groups` takes); ``codes(random_effects=True)`` the tau^2
    estimators alone.
    """
    return tuple(
        c for c, e in ESTIMATORS.items()
        if (inverse_variance is None or e.inverse_variance == inverse_variance)
        and (random_effects is None or e.random_effects == random_effects)
    )


def check_method(method: str, *, inverse_variance: bool = False) -> Estimator:
    """Validate a method code (case-insensitive) and return its registry entry.

    Parameters
    ----------
    method : str
        A code of :data:`ESTIMATORS`.
    inverse_variance : bool
        Accept only inverse-variance methods (where only effect sizes and variances are at
        hand, e.g. batches).

    Raises
    ------
    UnknownMethodError
        Naming the valid codes.
    """
    code = str(method).strip().upper()
    valid = codes(inverse_variance=True) if inverse_variance else tuple(ESTIMATORS)
    if code in valid:
        return ESTIMATORS[code]
    why = ""
    if code in ESTIMATORS:
        why = f" here ({ESTIMATORS[code].name} needs the 2x2 tables, not effect sizes)"
    raise UnknownMethodError(f"unknown method {method!r}{why}; valid methods: {', '.join(valid)}")


def estimator(method: str) -> Estimator:
    """The registry entry of a method code: :func:`check_method` for any method."""
    return check_method(method)


def estimate(data: Data, method: str) -> Tau2Fits:
    """Estimate tau^2 in every group by one of the inverse-variance methods.

    Parameters
    ----------
    data : Data
        The groups of studies (``v > 0``), each with at least ``p + 1`` studies for random
        effects.
    method : str
        An inverse-variance code of :data:`ESTIMATORS`: ``FE`` (tau^2 = 0), ``DL``, ``HE``,
        ``HS``, ``SJ``, ``ML``, ``REML``, ``EB``, ``PM``.

    Returns
    -------
    Tau2Fits
        Truncated at zero, with metafor's standard error for each estimator.
    """
    return check_method(method, inverse_variance=True).solve(data)


# ---------------------------------------------------------------------------------------------
# One analysis
@dataclass(frozen=True)
class Tau2Estimate:
    """An estimate of tau^2 with its standard error and how it was reached."""

    tau2: float
    se: float
    method: str
    converged: bool = True
    iterations: int = 0
    solver: str = "closed form"


def _one(y: np.ndarray, v: np.ndarray, X: np.ndarray | None) -> Data:
    y = np.asarray(y, dtype=float)
    if X is not None and X.shape[1] == 1:
        X = None
    return Data(y, np.asarray(v, dtype=float), X, Groups([len(y)]))


def loglik(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, reml: bool) -> float:
    """(Restricted) log-likelihood of the random-effects model at ``tau2``, as metafor.

    The REML version includes metafor's ``+ 1/2 log|X'X|`` term (``REMLf=TRUE``).
    """
    return float(log_likelihood(_one(y, v, X), np.array([tau2]), reml)[0])


def generalized_q(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """The generalised Q statistic ``sum w_i (y_i - x_i'b)^2`` with ``w_i = 1/(v_i + tau2)``."""
    return float(_q_groups(_one(y, v, X), np.array([tau2]))[0])


def estimate_tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> Tau2Estimate:
    """Estimate tau^2 of one analysis by one of metafor's methods.

    Parameters
    ----------
    y, v : ndarray
        Effect sizes and sampling variances (``v > 0``).
    X : ndarray
        k x p model matrix with an intercept column.
    method : str
        An inverse-variance code of :data:`ESTIMATORS`.

    Returns
    -------
    Tau2Estimate
        Truncated at zero, with metafor's standard error for that estimator.
    """
    est = estimate(_one(y, v, X), method)
    return Tau2Estimate(float(est.tau2[0]), float(est.se[0]), method.upper(),
                        bool(est.converged[0]), int(est.iterations[0]), str(est.solver[0]))


__all__ = [
    "ESTIMATORS",
    "Estimator",
    "Tau2Estimate",
    "Tau2Fits",
    "UnknownMethodError",
    "check_method",
    "codes",
    "estimate",
    "estimate_tau2",
    "estimator",
    "generalized_q",
    "loglik",
]
