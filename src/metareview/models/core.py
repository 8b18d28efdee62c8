"""The model core: meta-analyses of many groups of studies fitted at once, in O(n p^2).

Everything here works on *groups*: the studies of all analyses are stored one after another
in flat arrays (``y``, ``v`` and an optional model matrix ``X``), and a vector ``k`` gives
each group's size. Sums within groups are ``np.add.reduceat``; per-group values are spread
back to studies with ``np.repeat``. No k x k matrix is ever formed: every quantity metafor's
``rma.uni`` needs is a trace of ``P = D - D X (X'DX)^-1 X'D``, and with ``g_i = d_i x_i`` and
``M = (X'DX)^-1`` each trace is a sum over studies of p x p quadratic forms. A single analysis
is one group, so :func:`~metareview.models.rma.meta_analysis` runs exactly this code.

The iterative estimators run in lock-step over the groups still iterating (an active set),
so a batch costs about as much as its slowest few members, not the sum of them:

* ML and REML: metafor's Fisher scoring with step halving, taking a Newton step on the
  observed curvature instead wherever that is safe (Fisher scoring alone converges only
  linearly, and very slowly on some datasets), to machine precision. Where it fails to
  converge, or stops at a stationary point below the likelihood at tau^2 = 0, the group is
  solved again by bracketing every sign change of the score on a grid (Brent's method) and
  keeping the best candidate: the global maximum over tau^2 >= 0.
* PM and EB solve ``Q(tau^2) = k - p``. ``Q`` is decreasing and convex in tau^2
  (``Q' = -y'PPy``, ``Q'' = 2 y'PPPy >= 0``), so Newton's method started at 0 climbs to the
  root from below without overshooting; Brent's method is the fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import special
from scipy.optimize import brentq

METHODS = ("FE", "DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB")
RANDOM = ("DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB")
TESTS = ("z", "t", "knha")

_RTOL = 1e-13
_MAXITER = 200
_LOG2PI = float(np.log(2 * np.pi))


# ---------------------------------------------------------------------------------------------
# Groups and weighted least squares
class Groups:
    """Contiguous groups of rows: sizes ``k`` (each at least 1) and their start offsets."""

    __slots__ = ("G", "k", "n", "starts")

    def __init__(self, k: np.ndarray | list[int]) -> None:
        self.k = np.asarray(k, dtype=np.int64).reshape(-1)
        if self.k.size and self.k.min() < 1:
            raise ValueError("every group needs at least one row")
        self.G = len(self.k)
        self.starts = np.zeros(self.G, dtype=np.int64)
        np.cumsum(self.k[:-1], out=self.starts[1:])
        self.n = int(self.k.sum())

    def sum(self, a: np.ndarray) -> np.ndarray:
        """Sum the rows of ``a`` within each group (length G along the first axis)."""
        if self.G == 1:
            return a.sum(axis=0, keepdims=True)  # pairwise summation for one long group
        return np.add.reduceat(a, self.starts, axis=0)

    def expand(self, g: np.ndarray) -> np.ndarray:
        """Repeat a per-group value for every row of its group."""
        return np.repeat(g, self.k, axis=0)

    def select(self, idx: np.ndarray) -> tuple[Groups, np.ndarray]:
        """The groups ``idx`` (in that order) and the rows they occupy."""
        sub = Groups(self.k[idx])
        rows = np.arange(sub.n, dtype=np.int64) + sub.expand(self.starts[idx] - sub.starts)
        return sub, rows


@dataclass(frozen=True, eq=False)
class Data:
    """Studies of G groups: effects ``y``, variances ``v``, model matrix ``X`` (or None)."""

    y: np.ndarray
    v: np.ndarray
    X: np.ndarray | None
    groups: Groups

    @property
    def p(self) -> int:
        """Number of coefficients."""
        return 1 if self.X is None else self.X.shape[1]

    @property
    def k(self) -> np.ndarray:
        """Group sizes."""
        return self.groups.k

    @cached_property
    def Xt(self) -> np.ndarray:
        """``X`` transposed and contiguous (p x n): each coefficient's column as one array."""
        return np.ascontiguousarray(self.X.T)

    def select(self, idx: np.ndarray) -> Data:
        """The sub-problem of groups ``idx``."""
        g, rows = self.groups.select(idx)
        return Data(self.y[rows], self.v[rows], None if self.X is None else self.X[rows], g)

    def wls(self, d: np.ndarray) -> WLS:
        """Weighted least squares with weights ``d`` in every group."""
        return WLS.fit(self, d)

    def at(self, tau2: np.ndarray) -> WLS:
        """The fit with weights ``1 / (v + tau2)``."""
        return WLS.fit(self, 1.0 / (self.v + self.groups.expand(tau2)))


def _gram(g: Groups, At: np.ndarray, Bt: np.ndarray) -> np.ndarray:
    """Group sums of ``a_i b_i'`` for column-major ``At``, ``Bt`` (p x n) whose products are
    symmetric (``X'DX``, ``X'DVDX``): one pass per pair of coefficients, upper triangle only."""
    p = At.shape[0]
    out = np.empty((g.G, p, p))
    for i in range(p):
        for j in range(i, p):
            out[:, i, j] = out[:, j, i] = g.sum(At[i] * Bt[j])
    return out


def _quad(g: Groups, Gt: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Per row ``g_i' M g_i`` with ``M`` symmetric per group (``Gt`` is p x n)."""
    p = Gt.shape[0]
    out = np.zeros(Gt.shape[1])
    for i in range(p):
        for j in range(i, p):
            out += Gt[i] * Gt[j] * g.expand(M[:, i, j] if i == j else 2 * M[:, i, j])
    return out


def _inv_sym(A: np.ndarray) -> np.ndarray:
    """Inverses of a stack of symmetric positive-definite matrices (closed form for 2 x 2)."""
    if A.shape[1] == 2:
        a, b, d = A[:, 0, 0], A[:, 0, 1], A[:, 1, 1]
        det = a * d - b * b
        M = np.empty_like(A)
        M[:, 0, 0], M[:, 1, 1] = d / det, a / det
        M[:, 0, 1] = M[:, 1, 0] = -b / det
        return M
    M = np.linalg.inv(A)
    return (M + np.swapaxes(M, 1, 2)) / 2


@dataclass(frozen=True, eq=False)
class WLS:
    """A weighted least-squares fit in every group and the traces of its projector ``P``.

    For the intercept-only model ``P = D - d d'/S`` and every trace is a combination of the
    moments ``S_j = sum d^j``, which the hot loop of the iterative estimators uses instead of
    the per-study forms (fewer passes over the data; the same numbers).
    """

    data: Data
    d: np.ndarray  # weights, per row
    A: np.ndarray  # X'DX, G x p x p
    M: np.ndarray  # (X'DX)^-1
    beta: np.ndarray  # G x p
    resid: np.ndarray  # y - X beta, per row

    @classmethod
    def fit(cls, data: Data, d: np.ndarray) -> WLS:
        """Fit ``y`` on ``X`` with weights ``d`` within each group."""
        g, y, X = data.groups, data.y, data.X
        if X is None:
            S = g.sum(d)
            b = g.sum(d * y) / S
            resid = y - g.expand(b)
            return cls(data, d, S[:, None, None], (1.0 / S)[:, None, None], b[:, None], resid)
        Xt = data.Xt
        Gt = Xt * d
        A = _gram(g, Xt, Gt)
        M = _inv_sym(A)
        b = np.einsum("gij,gj->gi", M, g.sum(Gt.T * y[:, None]))
        fitted = np.zeros(g.n)
        for j in range(Xt.shape[0]):
            fitted += Xt[j] * g.expand(b[:, j])
        return cls(data, d, A, M, b, y - fitted)

    @cached_property
    def h(self) -> np.ndarray:
        """``g_i' M g_i`` per row (``g_i = d_i x_i``): ``d_i`` times the leverage."""
        g, X, d = self.data.groups, self.data.X, self.d
        if X is None:
            return d * d * g.expand(self.M[:, 0, 0])
        return _quad(g, self.data.Xt * d, self.M)

    @cached_property
    def sum_d(self) -> np.ndarray:
        """Sum of the weights, ``S_1``."""
        return self.A[:, 0, 0] if self.data.X is None else self.data.groups.sum(self.d)

    @cached_property
    def sum_d2(self) -> np.ndarray:
        """``S_2 = sum d^2``."""
        return self.data.groups.sum(self.d * self.d)

    @property
    def rss(self) -> np.ndarray:
        """``y'Py``, the weighted residual sum of squares (the generalised Q)."""
        return self.data.groups.sum(self.d * self.resid**2)

    @property
    def rss2(self) -> np.ndarray:
        """``y'PPy``."""
        return self.data.groups.sum((self.d * self.resid) ** 2)

    @property
    def rss3(self) -> np.ndarray:
        """``y'PPPy`` (= e'Pe with e = Py = d * resid)."""
        g, X, d = self.data.groups, self.data.X, self.d
        e = d * self.resid
        if X is None:
            return g.sum(d * e * e) - g.sum(d * e) ** 2 / self.sum_d
        Gt = self.data.Xt * d
        u = np.einsum("gij,gj->gi", self.M, g.sum(Gt.T * e[:, None]))  # M G'e
        pe = d * e
        for j in range(Gt.shape[0]):
            pe -= Gt[j] * g.expand(u[:, j])
        return g.sum(e * pe)

    @property
    def tr(self) -> np.ndarray:
        """``tr(P)``."""
        if self.data.X is None:
            return self.sum_d - self.sum_d2 / self.sum_d
        return self.data.groups.sum(self.d - self.h)

    def diag_pvp(self, v: np.ndarray | None = None) -> np.ndarray:
        """Diagonal of ``P V P`` with ``V = diag(v)`` (``v`` = None for ``PP``), per row."""
        g, X, d = self.data.groups, self.data.X, self.d
        dv = d if v is None else d * v
        if X is None:
            quad = d * d * g.expand(g.sum(d * dv) * self.M[:, 0, 0] ** 2)
        else:
            Gt = self.data.Xt * d
            B = _gram(g, Gt, self.data.Xt * dv)
            quad = _quad(g, Gt, self.M @ B @ self.M)
        # (PVP)_ii = sum_j P_ij^2 v_j = d_i^2 v_i - 2 d_i v_i h_i + g_i' M G'VG M g_i
        return d * dv - 2 * dv * self.h + quad

    @property
    def tr2(self) -> np.ndarray:
        """``tr(PP)``."""
        if self.data.X is None:
            s1, s2 = self.sum_d, self.sum_d2
            return s2 - 2 * self.data.groups.sum(self.d**3) / s1 + (s2 / s1) ** 2
        return self.data.groups.sum(self.diag_pvp())

    def tr_pv(self, v: np.ndarray) -> np.ndarray:
        """``tr(PV)``."""
        return self.data.groups.sum(v * (self.d - self.h))

    def tr_pvp(self, v: np.ndarray) -> np.ndarray:
        """``tr(PVP)``."""
        return self.data.groups.sum(self.diag_pvp(v))

    def tr_pvpv(self, v: np.ndarray) -> np.ndarray:
        """``tr(PVPV)``."""
        return self.data.groups.sum(v * self.diag_pvp(v))

    @property
    def logdet(self) -> np.ndarray:
        """``log |X'DX|``."""
        if self.A.shape[1] == 1:
            return np.log(self.A[:, 0, 0])
        return np.linalg.slogdet(self.A)[1]


# ---------------------------------------------------------------------------------------------
# Likelihood, Q and the estimators of tau^2
def log_likelihood(data: Data, tau2: np.ndarray, reml: bool, fit: WLS | None = None
                   ) -> np.ndarray:
    """(Restricted) log-likelihood per group at ``tau2``, as metafor (REML with ``REMLf``).

    ``fit`` may pass the weighted fit at ``tau2`` if the caller already has it.
    """
    g, k, p = data.groups, data.k, data.p
    fit = data.at(tau2) if fit is None else fit
    logv = g.sum(np.log(data.v + g.expand(tau2)))
    if not reml:
        return -0.5 * k * _LOG2PI - 0.5 * logv - 0.5 * fit.rss
    if data.X is None:
        logdet_x = np.log(k.astype(float))
    else:
        logdet_x = np.linalg.slogdet(_gram(g, data.Xt, data.Xt))[1]
    return -0.5 * (k - p) * _LOG2PI + 0.5 * logdet_x - 0.5 * logv - 0.5 * fit.logdet - 0.5 * fit.rss


def generalized_q(data: Data, tau2: np.ndarray) -> np.ndarray:
    """``sum w_i (y_i - x_i'b)^2`` with ``w_i = 1/(v_i + tau2)``, per group."""
    return data.at(tau2).rss


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
    """Score, Fisher information and observed curvature of ML/REML at ``tau2``.

    The score is ``y'PPy - tr(P)`` (REML) or ``y'PPy - tr(W)`` (ML), the information
    ``tr(PP)`` or ``tr(WW)``, the curvature ``2 y'PPPy - information``. The intercept-only
    model, the hot loop of most batches, takes them from a few weighted sums in one sweep.
    """
    if data.X is not None:
        fit = data.at(tau2)
        if method == "ML":
            score, info = fit.rss2 - fit.sum_d, fit.sum_d2
        else:
            score, info = fit.rss2 - fit.tr, fit.tr2
        return score, info, (2 * fit.rss3 - info if curvature else None)
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
        return score, info, None
    rss3 = g.sum(w * ee) - g.sum(w * e) ** 2 / s1
    return score, info, 2 * rss3 - info


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
    """Fisher scoring with Newton steps and step halving, over groups, to full precision."""
    G = data.groups.G
    tau2 = np.maximum(start, 0.0)
    conv = np.zeros(G, dtype=bool)
    iters = np.zeros(G, dtype=np.int64)
    score0 = _score(data, np.zeros(G), method)
    act = _ActiveSet(data)
    for it in range(1, _MAXITER + 1):
        sub = act.compact()
        ids, live = act.ids, act.live
        t = tau2[ids]
        score, info, hess = _terms(sub, t, method)
        adj = score / info
        # Fisher scoring converges linearly, slowly where the observed curvature is far below
        # the expected information; a Newton step on the observed curvature (-dS/dtau2 =
        # 2 y'PPPy - info) is taken whenever it is defined, points the same way and stays >= 0.
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = score / hess
        use = (hess > 0) & (newton * adj > 0) & (t + newton >= 0) & np.isfinite(newton)
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
        step_ok = ~bad & ~at_zero & (np.abs(new - t) <= 1e-14 + _RTOL * new)
        upd = live & ~bad
        tau2[ids[upd]] = new[upd]
        conv[ids[live & (at_zero | step_ok)]] = True
        if not act.finish(bad | at_zero | step_ok):
            break
    return tau2, conv, iters, score0


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
    solver = np.full(data.groups.G, "Fisher scoring", dtype=object)
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
    solver = np.full(G, "Newton (generalised Q)", dtype=object)
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
        f1 = lambda t, one=one, i=i: float(generalized_q(one, np.array([t]))[0] - target[i])  # noqa: E731
        tau2[i] = 0.0 if f1(0.0) <= 0 else _root(f1, 0.0, _upper(f1, _start_hi(one)))
        conv[i] = True
        solver[i] = "Brent (generalised Q)"
    return tau2, conv, iters, solver


def estimate_tau2(data: Data, method: str) -> Tau2Fits:
    """Estimate tau^2 in every group by one of metafor's methods.

    Parameters
    ----------
    data : Data
        The groups of studies (``v > 0``), each with at least ``p + 1`` studies for random
        effects.
    method : str
        ``FE`` (tau^2 = 0), ``DL`` (DerSimonian-Laird), ``HE`` (Hedges), ``HS``
        (Hunter-Schmidt), ``SJ`` (Sidik-Jonkman), ``ML``, ``REML``, ``EB`` (empirical Bayes /
        Morris), ``PM`` (Paule-Mandel).

    Returns
    -------
    Tau2Fits
        Truncated at zero, with metafor's standard error for each estimator.
    """
    g, y, v = data.groups, data.y, data.v
    G, k, p = g.G, data.k.astype(float), data.p
    kp = k - p
    conv = np.ones(G, dtype=bool)
    iters = np.zeros(G, dtype=np.int64)
    solver = np.full(G, "closed form", dtype=object)
    if method == "FE":
        return Tau2Fits(np.zeros(G), np.full(G, np.nan), conv, iters, solver)
    if method in ("DL", "HS"):
        w = 1.0 / v
        fit = data.wls(w)
        if method == "DL":
            tau2 = np.maximum(0.0, (fit.rss - kp) / fit.tr)
            denom = fit.tr
        else:
            denom = g.sum(w)
            tau2 = np.maximum(0.0, (fit.rss - k) / denom)
        se = np.sqrt((2 * kp + 4 * tau2 * fit.tr + 2 * tau2**2 * fit.tr2) / denom**2)
    elif method == "HE":
        tau2, se = _hedges(data)
    elif method == "SJ":
        ybar = g.sum(y) / k
        t0 = g.sum((y - g.expand(ybar)) ** 2) / k  # var(y) (k-1)/k, metafor's default start
        fit = data.at(t0)
        tau2 = np.maximum(0.0, t0 * fit.rss / kp)
        se = t0 / kp * np.sqrt(
            2 * fit.tr_pvpv(v) + 4 * tau2 * fit.tr_pvp(v) + 2 * tau2**2 * fit.tr2
        )
    elif method in ("ML", "REML"):
        start = np.maximum(0.0, _hedges(data)[0])
        tau2, conv, iters, solver = _maximise(data, method, start)
        fit = data.at(tau2)
        if method == "ML":
            se = np.sqrt(2 / fit.sum_d2)
        else:
            se = np.sqrt(2 / fit.tr2)
    elif method in ("PM", "EB"):
        # EB's estimating equation (Morris 1983) is PM's: Q(tau^2) = k - p.
        tau2, conv, iters, solver = _solve_q(data, kp)
        se = np.sqrt(2 * k**2 / kp / g.sum(1 / (v + g.expand(tau2))) ** 2)
    else:
        raise ValueError(f"unknown method {method!r}")
    return Tau2Fits(tau2, se, conv, iters, solver, fit if method in ("ML", "REML") else None)


def _hedges(data: Data) -> tuple[np.ndarray, np.ndarray]:
    """Hedges' (HE) estimator from the OLS fit, and its standard error."""
    kp = data.k - data.p
    fit = data.wls(np.ones(data.groups.n))
    trpv = fit.tr_pv(data.v)
    tau2 = np.maximum(0.0, (fit.rss - trpv) / kp)
    se = np.sqrt((2 * fit.tr_pvpv(data.v) + 4 * tau2 * trpv + 2 * tau2**2 * kp) / kp**2)
    return tau2, se


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


def _needs(method: str, test: str, p: int, estimate: bool = True) -> int:
    """Fewest studies a model can be fitted to (as metafor: one more than p with an estimated
    tau^2 or a t test)."""
    return p + (1 if ((method != "FE" and estimate) or test != "z") else 0)


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
    method, test = method.upper(), test.lower()
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
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

    # Which groups can be fitted.
    status = np.full(G, "", dtype=object)
    finite = np.isfinite(y) & np.isfinite(v) & (v > 0)
    if X is not None:
        finite &= np.isfinite(X).all(axis=1)
    bad_rows = groups.sum((~finite).astype(np.int64)) > 0
    status[bad_rows] = "non-finite effect, non-positive variance or missing moderator"
    need = _needs(method, test, p, estimate=tau2 is None)
    few = ~bad_rows & (groups.k < need)
    status[few] = f"too few studies for {method} with test {test} (needs {need})"
    if X is not None and G:
        ok0 = np.flatnonzero(status == "")
        if len(ok0):
            sub = Data(y, v, X, groups).select(ok0)
            xtx = sub.groups.sum(sub.X[:, :, None] * sub.X[:, None, :])
            rank = np.linalg.matrix_rank(xtx)
            status[ok0[rank < p]] = "moderators are collinear in this group"
    ok = np.flatnonzero(status == "")
    data = Data(y, v, X, groups).select(ok) if len(ok) < G else Data(y, v, X, groups)

    fitted = _fit(data, method, test, level, tau2 if tau2 is None or np.ndim(tau2) == 0
                  else np.asarray(tau2, dtype=float)[ok], r2)
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
    if tau2_fixed is not None:
        tau2 = np.broadcast_to(np.asarray(tau2_fixed, dtype=float), (G,)).copy()
        est = Tau2Fits(tau2, np.full(G, np.nan), np.ones(G, dtype=bool),
                       np.zeros(G, dtype=np.int64), np.full(G, "fixed", dtype=object))
    else:
        est = estimate_tau2(data, method)
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
    pos = kp > 0
    q = np.where(pos, np.maximum(0.0, fe.rss), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q_p = np.where(pos, special.chdtrc(np.maximum(kp, 1), q), 1.0)
        vt = np.where(pos, kp / fe.tr, 0.0)
        if method == "FE":
            i2 = np.where(pos & (q > 0), np.maximum(0.0, 100 * (q - kp) / q), 0.0)
            h2 = np.where(pos, q / kp, 1.0)
        else:
            i2 = np.where(pos, 100 * tau2 / (vt + tau2), 0.0)
            h2 = np.where(pos, tau2 / vt + 1, 1.0)

    # Prediction interval (metafor's predict(): the test's critical value).
    if p == 1 and method != "FE":
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
    if method == "FE":
        ybar = g.sum(w * y) / g.sum(w)
        tss = g.sum(w * (y - g.expand(ybar)) ** 2)
        rss = data.wls(w).rss
        with np.errstate(divide="ignore", invalid="ignore"):
            adj = 1 - (rss / (k - p)) / (tss / (k - 1))
        spread = g.sum((y - g.expand(g.sum(y) / k)) ** 2)
        return np.where(spread == 0, 0.0, np.maximum(0.0, 100 * adj))
    tau2_re = estimate_tau2(Data(y, data.v, None, g), method).tau2
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.maximum(0.0, 100 * (tau2_re - tau2) / tau2_re)
    return np.where(tau2_re == 0, 0.0, r2)
