"""The intercept-only model of many groups on a dense (kmax, G) layout: the lean hot path.

Most batches are intercept-only, where every quantity of ``rma.uni`` is a weighted sum over a
group's studies. :mod:`metareview.models.core` stores groups one after another and sums with
``np.add.reduceat``, spreading per-group values back with ``np.repeat``; here the studies of
group g are column g of a (kmax, G) array, so a per-group value reaches its studies by
broadcasting along rows (long, contiguous inner loops) and a group sum is a vector-matrix
sum or ``einsum`` along the columns, several times faster than ``reduceat`` for
short groups. Passes over the data run in blocks of columns whose temporaries stay in cache.
Ragged groups are padded with ``y = 0`` and ``v = inf``, so a padding cell has weight
``1 / (v + tau^2) = 0`` in every weighted sum; the few unweighted sums use a mask.

The estimators are the same algorithms as :mod:`metareview.models.tau2` (the same starts, steps,
stopping rules and checks). Groups that Newton's method does not settle for PM/EB go to its
solver (which adds Brent's method); the ML/REML bracketing fallback is redone here on the grid.
"""

from __future__ import annotations

import numpy as np

from metareview.models.core import _LOG2PI, Data, Groups, labels
from metareview.models.tau2 import _FISHER_MAXITER, _GRID, _MAXITER, _NEAR, _RTOL, _last_step
from metareview.models.tau2 import _solve_q as _solve_q_flat

#: Methods with a dense implementation; the others take the general path.
METHODS = frozenset({"FE", "DL", "HS", "HE", "REML", "ML", "PM", "EB"})

#: Largest group for this layout: longer groups take the flat path, whose sums of one long
#: group are pairwise (smaller rounding error at k = 10^6).
KMAX = 256

#: Cells per block of columns in a pass. Larger blocks make fewer numpy calls (each costs a
#: microsecond or two), smaller ones keep the temporaries in a faster cache. In bench_batch's
#: share case on this AMD EPYC (1 MB of L2 per core), blocks of 2^15 to 2^17 cells ran DL in
#: 3.4-4.0 ms and 2^14 in 4.0-4.5 ms (a few noisy runs each); 2^14 had been the fastest on an
#: Intel Xeon.
_BLOCK = 1 << 16

#: Fisher scoring copies out the groups still iterating once fewer than this share of the
#: current sub-problem are: a copy costs about a third of a pass over the copied groups.
_COMPACT = 0.6


class Dense:
    """G groups of studies as the columns of (kmax, G) arrays ``Y``, ``V`` (padding: 0, inf).

    ``mask`` is the boolean array of real cells, or None when every group has kmax studies.
    """

    __slots__ = ("G", "K", "V", "Y", "k", "mask")

    def __init__(self, Y: np.ndarray, V: np.ndarray, k: np.ndarray, mask: np.ndarray | None
                 ) -> None:
        self.Y, self.V, self.mask = Y, V, mask
        self.k = k  # float
        self.K, self.G = Y.shape

    @classmethod
    def layout(cls, y: np.ndarray, v: np.ndarray, groups: Groups) -> Dense:
        """The dense layout of flat arrays (group-major, as :class:`~.core.Groups`)."""
        k, G = groups.k, groups.G
        K = int(k.max()) if G else 0
        if G == 0 or int(k.min()) == K:
            return cls(np.ascontiguousarray(y.reshape(G, K).T),
                       np.ascontiguousarray(v.reshape(G, K).T), k.astype(float), None)
        col = groups.expand(np.arange(G))
        row = np.arange(groups.n) - groups.expand(groups.starts)
        Y = np.zeros((K, G))
        V = np.full((K, G), np.inf)
        mask = np.zeros((K, G), dtype=bool)
        Y[row, col], V[row, col], mask[row, col] = y, v, True
        return cls(Y, V, k.astype(float), mask)

    @staticmethod
    def worthwhile(groups: Groups) -> bool:
        """Whether the groups are short and padding them costs at most about twice the studies."""
        if groups.G == 0:
            return False
        K = int(groups.k.max())
        return K <= KMAX and groups.G * K <= 2 * groups.n + 64

    @staticmethod
    def sum(A: np.ndarray) -> np.ndarray:
        """Column sums, each added in row order whatever the other columns (BLAS's ``1 @ A``
        is not: its rounding depends on a column's place), so a group's results do not
        depend on the batch it is in."""
        if A.shape[1] == 1:  # numpy sums a single column pairwise: make it two
            return np.repeat(A, 2, axis=1).sum(axis=0)[:1]
        return A.sum(axis=0)

    @staticmethod
    def dot(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Column sums of ``A * B`` (in row order, as :meth:`sum`)."""
        if A.shape[1] == 1:
            return np.einsum("ij,ij->j", np.repeat(A, 2, axis=1), np.repeat(B, 2, axis=1))[:1]
        return np.einsum("ij,ij->j", A, B)

    @staticmethod
    def dot3(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> np.ndarray:
        """Column sums of ``A * B * C`` (in row order, as :meth:`sum`), without a temporary."""
        if A.shape[1] == 1:
            return np.einsum("ij,ij,ij->j", *(np.repeat(X, 2, axis=1) for X in (A, B, C)))[:1]
        return np.einsum("ij,ij,ij->j", A, B, C)

    @staticmethod
    def prod(A: np.ndarray) -> np.ndarray:
        """Column products, each in row order (as :meth:`sum`)."""
        if A.shape[1] == 1:
            return np.repeat(A, 2, axis=1).prod(axis=0)[:1]
        return A.prod(axis=0)

    def select(self, idx: np.ndarray | slice) -> Dense:
        """The groups ``idx`` (a slice is a view). Copies are C-ordered (``Y[:, idx]`` would
        be Fortran-ordered, and numpy sums a contiguous column pairwise: other rounding)."""
        if isinstance(idx, slice):
            return Dense(self.Y[:, idx], self.V[:, idx], self.k[idx],
                         None if self.mask is None else self.mask[:, idx])
        return Dense(np.take(self.Y, idx, axis=1), np.take(self.V, idx, axis=1), self.k[idx],
                     None if self.mask is None else np.take(self.mask, idx, axis=1))

    def flat(self, idx: np.ndarray | None = None) -> Data:
        """Groups ``idx`` (all by default) in the flat layout of :mod:`metareview.models.core`."""
        sub = self if idx is None else self.select(idx)
        return Data(sub.unflatten(sub.Y), sub.unflatten(sub.V), None,
                    Groups(sub.k.astype(np.int64)))

    def unflatten(self, values: np.ndarray) -> np.ndarray:
        """A (kmax, G) array's real cells in flat (group-major) order."""
        return values.T.ravel() if self.mask is None else values.T[self.mask.T]

    def blocks(self, m: int = 1):
        """Slices of columns for passes with ``m`` points per group."""
        B = max(1, _BLOCK // max(self.K * m, 1))
        return [slice(i, i + B) for i in range(0, self.G, B)] if self.G > B else [slice(None)]


# ---------------------------------------------------------------------------------------------
# One pass over the data: the weighted sums of the intercept-only fit at tau^2
def _sweep_block(d: Dense, Y: np.ndarray, V: np.ndarray, mask: np.ndarray | None,
                 t: np.ndarray | None, need: frozenset[str], cells: np.ndarray | None,
                 k: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`sweep` of the columns ``Y``, ``V`` (groups of ``k`` studies); the weights go to
    ``cells`` (groups x kmax)."""
    T = V if t is None else V + t
    out: dict[str, np.ndarray] = {}
    if "ols" in need:  # while the block is in cache: the unweighted fit, as _hedges
        Vm = V if mask is None else np.where(mask, V, 0.0)
        out["sv"] = d.sum(Vm)
        R0 = Y - d.sum(Y) / k
        if mask is not None:
            R0 *= mask
        out["ols"] = d.dot(R0, R0)
        if mask is None:
            out["vmin"], out["vmax"] = V.min(axis=0), V.max(axis=0)
        else:
            out["vmin"] = np.where(mask, V, np.inf).min(axis=0)
            out["vmax"] = np.where(mask, V, -np.inf).max(axis=0)
    if "logv" in need:
        out["logv"] = _sum_log(d, T, mask)
    W = 1.0 / T if t is None else np.reciprocal(T, out=T)  # T is a temporary unless FE
    s1 = out["s1"] = d.sum(W)
    if need & {"beta", "rss", "see", "swe"}:
        beta = out["beta"] = d.dot(W, Y) / s1
        R = Y - beta
        E = W * R  # Py
        if "rss" in need:
            out["rss"] = d.dot(E, R)
        if need & {"see", "swe"}:
            out["see"] = d.dot(E, E)
        if "swe" in need:
            out["swe"] = d.dot(W, E)
            out["swee"] = d.dot(W, E * E)
    if need & {"s2", "s3"}:
        out["s2"] = d.dot(W, W)
        if "s3" in need:
            out["s3"] = d.dot3(W, W, W)
    if cells is not None:  # written transposed: the group-major order of the result
        np.multiply(W.T, (100 / s1)[:, None], out=cells)
    return out


def _sum_log(d: Dense, T: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Column sums of ``log(T)`` (T > 0) as the log of the column products: a logarithm per
    group instead of per cell. A group whose product leaves (1e-300, 1e300) (its cells average
    beyond 1e+-15 at k = 20) sums logarithms instead. Each group's rounding is its own
    (products in row order); the two ways agree to a few ulps per cell."""
    P = d.prod(T) if mask is None else d.prod(np.where(mask, T, 1.0))
    with np.errstate(divide="ignore"):
        out = np.log(P)
    wild = ~((P > 1e-300) & (P < 1e300))
    if wild.any():
        L = np.log(T[:, wild])
        if mask is not None:
            L[~mask[:, wild]] = 0.0
        out[wild] = d.sum(L)
    return out


def sweep(d: Dense, t: np.ndarray | None, *need: str) -> dict[str, np.ndarray]:
    """Per-group sums of the weighted fit with weights ``W = 1 / (v + t)`` (``t`` None: FE).

    Any of ``s1 = sum W``, ``beta``, ``rss = sum W R^2`` (``R = y - beta``), ``see = sum (W R)^2``
    (``y'PPy``), ``swe = sum W^2 R`` with ``swee = sum W^3 R^2``, ``s2 = sum W^2``,
    ``s3 = sum W^3``, ``logv = sum log(v + t)`` and ``weights`` (percent, per study, in flat
    group-major order); ``s1`` is always there. ``ols`` adds the unweighted fit's residual sum
    of squares ``ols``, ``sv = sum v`` and the extreme variances ``vmin``, ``vmax``.
    """
    want = frozenset(need)
    cells = np.empty((d.G, d.K)) if "weights" in want else None  # group-major, as returned
    blocks = d.blocks()
    if len(blocks) == 1:
        out = _sweep_block(d, d.Y, d.V, d.mask, t, want, cells, d.k)
    else:
        out = {}
        for cols in blocks:
            part = _sweep_block(d, d.Y[:, cols], d.V[:, cols],
                                None if d.mask is None else d.mask[:, cols],
                                None if t is None else t[cols], want,
                                None if cells is None else cells[cols], d.k[cols])
            if not out:
                out = {name: np.empty(d.G) for name in part}
            for name, a in part.items():
                out[name][cols] = a
    if cells is not None:
        out["weights"] = cells.ravel() if d.mask is None else cells[d.mask.T]
    return out


def tr(m: dict[str, np.ndarray]) -> np.ndarray:
    """``tr(P) = S_1 - S_2/S_1`` from a sweep's ``s1, s2``."""
    return m["s1"] - m["s2"] / m["s1"]


def tr2(m: dict[str, np.ndarray]) -> np.ndarray:
    """``tr(PP) = S_2 - 2 S_3/S_1 + (S_2/S_1)^2`` from a sweep's ``s1, s2, s3``."""
    s1, s2 = m["s1"], m["s2"]
    return s2 - 2 * m["s3"] / s1 + (s2 / s1) ** 2


# ---------------------------------------------------------------------------------------------
# Score and curvature of ML/REML (tau2._terms for the intercept-only model)
def _terms(d: Dense, t: np.ndarray, method: str) -> tuple[np.ndarray, ...]:
    """``A = y'PPy``, ``B = tr(P)`` (ML: ``tr(W)``), the information ``I = tr(PP)`` (ML:
    ``tr(WW)``), ``C = y'PPPy`` and ``tr(PPP)`` (ML: ``tr(WWW)``) at ``t``: the score is
    ``A - B``, the observed curvature ``2 C - I``; the last is minus half of ``dI/dt``.

    The hot loop of ML/REML, so one pass of its own rather than :func:`sweep`."""
    reml = method == "REML"
    blocks = d.blocks()
    if len(blocks) == 1:
        return _terms_block(d.Y, d.V, t, reml)
    out = np.empty((5, d.G))
    for cols in blocks:
        out[:, cols] = _terms_block(d.Y[:, cols], d.V[:, cols], t[cols], reml)
    return tuple(out)


def _terms_block(Y: np.ndarray, V: np.ndarray, t: np.ndarray, reml: bool
                 ) -> tuple[np.ndarray, ...]:
    """:func:`_terms` of the columns ``Y``, ``V``: column sums in row order (as
    :meth:`Dense.sum`), the triple products by one ``einsum`` without a temporary."""
    if Y.shape[1] == 1:  # numpy sums a single column pairwise: make it two
        return tuple(a[:1] for a in _terms_block(np.repeat(Y, 2, axis=1),
                                                  np.repeat(V, 2, axis=1), t, reml))
    W = V + t
    np.reciprocal(W, out=W)
    s1 = W.sum(axis=0)
    E = Y - np.einsum("ij,ij->j", W, Y) / s1
    E *= W  # Py
    A = np.einsum("ij,ij->j", E, E)
    swe = np.einsum("ij,ij->j", W, E)
    C = np.einsum("ij,ij,ij->j", W, E, E) - swe**2 / s1
    s2 = np.einsum("ij,ij->j", W, W)
    W2 = W * W
    s3 = np.einsum("ij,ij->j", W2, W)
    if not reml:
        return A, s1, s2, C, s3
    r = s2 / s1
    third = s3 - 3 * np.einsum("ij,ij->j", W2, W2) / s1 + 3 * r * s3 / s1 - r**3
    return A, s1 - r, s2 - 2 * s3 / s1 + r**2, C, third


def _score(d: Dense, t: np.ndarray, method: str) -> np.ndarray:
    m = sweep(d, t, "see", *(("s2",) if method == "REML" else ()))
    s1 = m["s1"]
    return m["see"] - (s1 if method == "ML" else s1 - m["s2"] / s1)


def _fisher(d: Dense, start: np.ndarray, method: str, score0: np.ndarray, info0: np.ndarray
            ) -> tuple[np.ndarray, ...]:
    """tau2._fisher: Fisher scoring with Newton steps on the Fisher step and step halving, to
    about 1e-12 (tau2._last_step), for at most ``_FISHER_MAXITER`` steps.

    Returns ``tau2, converged, iterations`` and, per group, the last point it was evaluated
    at with :func:`_terms` there (``t, A, B, I, C``; NaN for groups settled without a pass),
    which :func:`_certain` uses. A group starting at 0 whose score there (``score0``,
    information ``info0``) is <= 0 settles at 0 in the first step without a pass: its step
    heads below 0 (or is 0) and the likelihood falls away from 0. The groups still iterating
    are copied out once fewer than ``_COMPACT`` of the current sub-problem are live, so late
    iterations cost what the slow groups cost; a group's results are written back once, when
    it finishes.
    """
    G = d.G
    tau2 = np.maximum(start, 0.0)
    conv = np.zeros(G, dtype=bool)
    iters = np.full(G, _FISHER_MAXITER, dtype=np.int64)
    last = np.full((5, G), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        settled = (tau2 == 0) & (score0 <= 0) & (info0 > 0) & (info0 < np.inf)
        conv[settled], iters[settled] = True, 1
        sub, ids, t, s0 = d, np.arange(G), tau2.copy(), score0
        live = ~settled
        for it in range(1, _FISHER_MAXITER + 1):
            n_live = int(np.count_nonzero(live))
            if n_live == 0:
                break
            if n_live < _COMPACT * len(live) and len(live) > 2:
                keep = np.flatnonzero(live)
                if n_live == 1:  # and a finished one: numpy sums a lone column pairwise
                    keep = np.append(keep, 1 if keep[0] == 0 else 0)
                sub, ids, t, s0, live = (sub.select(keep), ids[keep], t[keep], s0[keep],
                                         live[keep])
            A, B, info, C, third = _terms(sub, t, method)
            score = A - B
            adj = score / info
            # Newton's method on the Fisher step where it is defined, points the same way and
            # stays >= 0 (see tau2._fisher); Fisher scoring otherwise.
            curv = (2 * C - info) - 2 * score * third / info
            newton = score / curv
            use = (curv > 0) & (newton * adj > 0) & (t + newton >= 0) & np.isfinite(newton)
            np.copyto(adj, newton, where=use)
            ok = np.isfinite(adj)  # not ok: bad
            new = t + adj
            neg = ok & (new < 0)
            at_zero = None
            if neg.any():
                at_zero = neg & (s0 <= 0)
                halve = neg & ~at_zero
                while halve.any():
                    adj[halve] /= 2
                    halve &= t + adj < 0
                new = np.where(at_zero, 0.0, t + adj)
            step = np.abs(new - t)
            finish = ok & _last_step(step, use, new)
            if at_zero is not None:
                finish = at_zero | (finish & ~at_zero)
            done = np.flatnonzero(live & (finish | ~ok))
            if len(done):
                at = ids[done]
                for row, a in enumerate((t, A, B, info, C)):  # no (5, n) temporary
                    last[row, at] = a[done]
            t = np.where(live & ok, new, t)
            if len(done):
                tau2[at], iters[at] = t[done], it
                conv[at[ok[done]]] = True
                live[done] = False
        else:
            tau2[ids[live]] = t[live]  # not converged in _FISHER_MAXITER steps
    return tau2, conv, iters, last


def _certain(t: np.ndarray, A: np.ndarray, B: np.ndarray, info: np.ndarray, C: np.ndarray,
             vmin: np.ndarray, vmax: np.ndarray, pts: np.ndarray, positive: bool) -> np.ndarray:
    """Where the score of ML/REML at ``pts`` is certainly positive (``positive``) or certainly
    negative, from :func:`_terms` ``A, B, info, C`` at ``t`` alone (no pass over the data).

    With ``P = K (K'DK + tI)^-1 K'`` (K an orthonormal basis of the contrasts), the score at
    ``t + h`` is ``sum_j c_j x_j^2 / (1 + h x_j)^2 - sum_j x_j / (1 + h x_j)`` where ``x_j =
    1 / (lambda_j + t)`` for the eigenvalues ``lambda_j`` of ``K'DK`` (ML: the second sum is
    over the weights ``1 / (v_i + t)``), ``c_j >= 0``. Every ``x`` lies in ``[1/(vmax+t),
    1/(vmin+t)]`` (the eigenvalues of a compression of D lie between its extremes), and both
    functions of x are convex. So, with the weighted means ``C/A`` (weights ``c_j x_j^2``,
    total A) and ``info/B`` (weights ``x_j``, total B), Jensen's inequality bounds each sum
    from below and the chord over the interval from above. A sign counts as certain beyond a
    margin of 1e-6 of the two sums, far above the rounding of the inputs and of a direct
    evaluation of the score.

    ``pts`` is n x m with per-group inputs of length n, or n pairs with inputs of length n.
    """
    e = 1e-6
    col = (lambda a: a[:, None]) if pts.ndim == 2 else (lambda a: a)
    with np.errstate(all="ignore"):
        vmax, vmin = vmax * (1 + 1e-12), vmin * (1 - 1e-12)  # rounding of the ends
        wmax, wmin = vmax + t, vmin + t  # 1/x at the ends
        valid = (np.isfinite(A) & np.isfinite(B) & np.isfinite(info) & np.isfinite(C)
                 & (A >= 0) & (B > 0) & (info > 0) & (C >= 0) & (vmin > 0) & (wmax < np.inf))
        span = 1 / wmin - 1 / wmax
        # 1/(1 + h x) = (1/x - t) / (1/x - t + t') for h = t' - t, at the ends and the means
        if positive:  # Jensen below for the first sum, the chord above for the second
            mean = np.clip(np.where(A > 0, C / A, 1 / wmax), 1 / wmax, 1 / wmin)
            f = np.clip((info / B - 1 / wmax) / span, 0.0, 1.0)
            a, r = (1 - e) * A / mean**2, 1 / mean - t
            b_lo, b_hi = (1 + e) * B * (1 - f) * wmax, (1 + e) * B * f * wmin
            out = (col(a) / (col(r) + pts) ** 2
                   > col(b_lo) / (col(vmax) + pts) + col(b_hi) / (col(vmin) + pts))
        else:  # the chord above for the first sum, Jensen below for the second
            mean = np.clip(info / B, 1 / wmax, 1 / wmin)
            f = np.clip((np.where(A > 0, C / A, 1 / wmax) - 1 / wmax) / span, 0.0, 1.0)
            b, r = (1 - e) * B / mean, 1 / mean - t
            a_lo, a_hi = (1 + e) * A * (1 - f) * wmax**2, (1 + e) * A * f * wmin**2
            out = (col(a_lo) / (col(vmax) + pts) ** 2 + col(a_hi) / (col(vmin) + pts) ** 2
                   < col(b) / (col(r) + pts))
    return out & col(valid)


def _ols_rss(d: Dense) -> np.ndarray:
    """Residual sum of squares of the unweighted intercept-only fit."""
    R = d.Y - d.sum(d.Y) / d.k
    if d.mask is not None:
        R *= d.mask
    return d.dot(R, R)


def _hedges_from(k: np.ndarray, ols: np.ndarray, sv: np.ndarray) -> np.ndarray:
    """:func:`_hedges`' estimate from a pass's ``ols`` and ``sv`` (the same arithmetic)."""
    return np.maximum(0.0, (ols - sv * (1 - 1 / k)) / (k - 1))


def _hedges(d: Dense, se: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """tau2._hedges: Hedges' estimator from the OLS fit (hat values 1/k), and its SE."""
    kp = d.k - 1
    V = d.V if d.mask is None else np.where(d.mask, d.V, 0.0)
    sv = d.sum(V)
    trpv = sv * (1 - 1 / d.k)
    tau2 = _hedges_from(d.k, _ols_rss(d), sv)
    if not se:
        return tau2, None
    sv2 = d.dot(V, V)
    trpvpv = sv2 - 2 * sv2 / d.k + sv**2 / d.k**2
    return tau2, np.sqrt((2 * trpvpv + 4 * tau2 * trpv + 2 * tau2**2 * kp) / kp**2)


def _score_grid(d: Dense, grid: np.ndarray, method: str) -> np.ndarray:
    """The score of every group at each of its m points ``grid`` (G x m), in one pass over a
    (kmax, m, G) array (in blocks of groups, so the temporaries stay small)."""
    out = np.empty(grid.shape)
    for cols in d.blocks(grid.shape[1]):
        Y = d.Y[:, None, cols]  # kmax x m x block
        W = 1.0 / (d.V[:, None, cols] + grid[cols].T[None])
        s1 = W.sum(axis=0)
        E = W * (Y - (W * Y).sum(axis=0) / s1)
        s2 = (W * W).sum(axis=0)
        see = (E * E).sum(axis=0)
        out[cols] = (see - (s1 if method == "ML" else s1 - s2 / s1)).T
    return out


def log_likelihood(d: Dense, tau2: np.ndarray, reml: bool) -> np.ndarray:
    """core.log_likelihood of the intercept-only model."""
    m = sweep(d, tau2, "rss", "logv")
    if not reml:
        return -0.5 * d.k * _LOG2PI - 0.5 * m["logv"] - 0.5 * m["rss"]
    return (-0.5 * (d.k - 1) * _LOG2PI + 0.5 * np.log(d.k) - 0.5 * m["logv"]
            - 0.5 * np.log(m["s1"]) - 0.5 * m["rss"])


def _bracket(d: Dense, method: str) -> np.ndarray:
    """tau2._bracket_ml: the global maximiser over tau^2 >= 0 of every group's (restricted)
    likelihood, from the sign changes of the score on an 81-point grid.

    Each sign change is narrowed by multisection (16 points at a time, so about 12 rounds
    instead of bisection's 50) to the same width, 4 eps relative, keeping a positive score
    at its lower end and a non-positive one at its upper end.
    """
    G, reml = d.G, method == "REML"
    vmax = d.V.max(axis=0) if d.mask is None else np.where(d.mask, d.V, -np.inf).max(axis=0)
    hi = np.maximum(_ols_rss(d) / d.k + vmax, 1e-8)
    for _ in range(200):
        up = _score(d, hi, method) >= 0
        if not up.any():
            break
        hi[up] *= 2.0
    grid = np.column_stack([np.zeros(G), hi[:, None] * np.geomspace(1e-10, 1.0, 80)[None, :]])
    vals = _score_grid(d, grid, method)
    gi, ji = np.nonzero((vals[:, :-1] > 0) & (vals[:, 1:] <= 0))
    best = np.zeros(G)
    if not len(gi):
        return best
    lo, up = grid[gi, ji], grid[gi, ji + 1]
    sub = d.select(gi)  # one copy of its group per sign change
    frac = np.arange(1, 17) / 17.0
    for _ in range(200):
        wide = up - lo > 4 * np.finfo(float).eps * up
        if not wide.any():
            break
        pts = lo[:, None] + (up - lo)[:, None] * frac[None, :]
        neg = _score_grid(sub, pts, method) <= 0
        j = np.where(neg.any(axis=1), neg.argmax(axis=1), len(frac))  # first point at or past
        n = np.arange(len(lo))
        new_lo = np.where(j > 0, pts[n, np.maximum(j - 1, 0)], lo)
        new_up = np.where(j < len(frac), pts[n, np.minimum(j, len(frac) - 1)], up)
        lo, up = np.where(wide, new_lo, lo), np.where(wide, new_up, up)
    roots = 0.5 * (lo + up)
    ll = log_likelihood(sub, roots, reml)
    better = ll > log_likelihood(d, best, reml)[gi]
    order = np.flatnonzero(better)[np.argsort(ll[better])]  # ascending: the highest is set last
    best[gi[order]] = roots[order]
    return best


def _maximise(d: Dense, method: str, fe: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """tau2._maximise: Fisher scoring from the HE estimate, the check that its maximum is the
    only one, and bracketing where it is not.

    The check asks the sign of the score at 3 points around an interior maximum and at 8 up
    from a maximum at 0 (tau2._maximise). Most of those signs are settled by :func:`_certain`
    from the terms at 0 (the fixed-effect pass ``fe``, with ``see, swe, s2, s3, ols``) and at
    the last point of Fisher scoring; only the rest are evaluated, all in one pass. A sign
    that is certain is the sign the evaluation gives, so the outcome is the same.
    """
    zero = _terms_at_zero(fe, method)
    score0 = zero[0] - zero[1]  # the score at 0
    ols = fe["ols"]
    start = _hedges_from(d.k, ols, fe["sv"])
    tau2, conv, iters, last = _fisher(d, start, method, score0, zero[2])
    solver = labels(d.G, "Fisher scoring")
    inner = conv & (tau2 > 0)
    conv[inner & (score0 < 0)] = False
    inner = np.flatnonzero(inner & (score0 >= 0))
    at0 = np.flatnonzero(conv & (tau2 == 0))
    high = 2 * ols[at0] / (d.k[at0] - 1)  # above any interior maximum
    checks = [(inner, tau2[inner][:, None] * _NEAR[None, :], _NEAR < 1),
              (at0, high[:, None] * _GRID[None, :], np.zeros(len(_GRID), dtype=bool))]
    vmin, vmax = fe["vmin"], fe["vmax"]
    groups, points, above = [], [], []
    for idx, pts, up in checks:  # up: whether the score must be >= 0 there (below the maximum)
        if not len(idx):
            continue
        sure = np.zeros(pts.shape, dtype=bool)
        for sign in (True, False):  # from the terms at 0
            if (up == sign).any():
                sure[:, up == sign] = _certain(np.zeros(len(idx)), *(q[idx] for q in zero),
                                               vmin[idx], vmax[idx], pts[:, up == sign], sign)
        gi, ji = np.nonzero(~sure)
        g, at, u = idx[gi], pts[gi, ji], up[ji]
        left = np.ones(len(g), dtype=bool)
        for sign in (True, False):  # from the last point of Fisher scoring, where there was one
            sel = np.flatnonzero((u == sign) & np.isfinite(last[0, g]))
            if len(sel):
                left[sel] = ~_certain(*last[:, g[sel]], vmin[g[sel]], vmax[g[sel]], at[sel], sign)
        groups.append(g[left])
        points.append(at[left])
        above.append(u[left])
    if groups and sum(map(len, groups)):  # evaluate the rest, in blocks of copied groups
        g, up, at = np.concatenate(groups), np.concatenate(above), np.concatenate(points)
        s = np.empty(len(g))
        step = max(2, _BLOCK // d.K)  # small copies: no fresh memory for a large one
        for i in range(0, len(g), step):
            j = slice(i, i + step)
            s[j] = _score(d.select(g[j]), at[j], method)
        conv[g[np.where(up, s < 0, s > 0)]] = False
    redo = np.flatnonzero(~conv)
    if len(redo):
        tau2[redo] = _bracket(d.select(redo), method)
        conv[redo] = True
        solver[redo] = "bracketing"
    return tau2, conv, iters, solver


def _terms_at_zero(fe: dict[str, np.ndarray], method: str) -> tuple[np.ndarray, ...]:
    """:func:`_terms` at tau^2 = 0 from the fixed-effect pass (``see, swe, s2, s3``)."""
    s1, s2 = fe["s1"], fe["s2"]
    if method == "ML":
        B, info = s1, s2
    else:
        B, info = s1 - s2 / s1, tr2(fe)
    return fe["see"], B, info, fe["swee"] - fe["swe"] ** 2 / s1


def _solve_q(d: Dense, target: np.ndarray) -> tuple[np.ndarray, ...]:
    """tau2._solve_q: Newton from 0 on the convex decreasing ``Q(tau^2) = target``; groups it
    does not settle go to the flat solver (which adds Brent's method)."""
    G = d.G
    tau2 = np.zeros(G)
    conv = np.zeros(G, dtype=bool)
    iters = np.zeros(G, dtype=np.int64)
    solver = labels(G, "Newton (generalised Q)")
    sub, ids, live = d, np.arange(G), np.ones(G, dtype=bool)
    for it in range(1, _MAXITER + 1):
        if live.sum() < 0.6 * len(live):
            keep = np.flatnonzero(live)
            sub, ids, live = sub.select(keep), ids[keep], live[keep]
        t = tau2[ids]
        fit = sweep(sub, t, "rss", "see")
        f = fit["rss"] - target[ids]
        iters[ids[live]] = it
        stop = f <= 0
        with np.errstate(divide="ignore", invalid="ignore"):
            step = f / fit["see"]
        new = np.where(stop, t, t + step)
        small = ~stop & (np.abs(step) <= 1e-14 + _RTOL * new)
        bad = ~np.isfinite(new)
        upd = live & ~bad
        tau2[ids[upd]] = new[upd]
        conv[ids[live & (stop | small)]] = True
        live &= ~(stop | small | bad)
        if not live.any():
            break
    redo = np.flatnonzero(~conv)
    if len(redo):
        t2, c2, it2, s2 = _solve_q_flat(d.flat(redo), target[redo])
        tau2[redo], conv[redo], iters[redo], solver[redo] = t2, c2, it2, s2
    return tau2, conv, iters, solver


def estimate(d: Dense, method: str, fe: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """tau^2 of every group by ``method`` (a code of :data:`METHODS`), given the fixed-effect fit
    ``fe`` (a :func:`sweep` at 0 with ``rss, see, s2, s3``): ``tau2, se, converged,
    iterations, solver``.

    ``se`` is None for ML, REML, PM and EB, whose standard errors come from the fit at tau^2,
    which the caller makes anyway.
    """
    G = d.G
    kp = d.k - 1
    if method in ("FE", "DL", "HS", "HE"):
        tau2, se = _closed(d, method, fe)
        return tau2, se, np.ones(G, dtype=bool), np.zeros(G, dtype=np.int64), labels(
            G, "closed form")
    if method in ("REML", "ML"):
        tau2, conv, iters, solver = _maximise(d, method, fe)
        return tau2, None, conv, iters, solver
    tau2, conv, iters, solver = _solve_q(d, kp)  # PM, EB
    return tau2, None, conv, iters, solver


#: Methods whose estimate is a closed form: of the fixed-effect pass, or (HE) of the data.
CLOSED = frozenset({"FE", "DL", "HS", "HE"})


def _closed(d: Dense, method: str, fe: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """tau^2 and its standard error by a method of :data:`CLOSED`."""
    k = d.k
    kp = k - 1
    if method == "FE":
        return np.zeros(d.G), np.full(d.G, np.nan)
    if method == "HE":
        tau2, se = _hedges(d, se=True)
        return tau2, se
    trp, trpp = tr(fe), tr2(fe)
    q = fe["rss"]
    if method == "HS":
        denom = fe["s1"]
        tau2 = np.maximum(0.0, (q - k) / denom)
    else:
        denom = trp
        tau2 = np.maximum(0.0, (q - kp) / denom)
    return tau2, np.sqrt((2 * kp + 4 * tau2 * trp + 2 * tau2**2 * trpp) / denom**2)


def closed_rows(y: np.ndarray, v: np.ndarray, K: int, method: str
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The fit of ``method`` (of :data:`CLOSED`) to groups of ``K`` studies each, stored one
    after another in ``y``, ``v``: ``fe`` (the fixed-effect pass, as for :func:`estimate`),
    ``fit`` (the pass at tau^2, with ``rss, logv, weights``), ``tau2`` and its SE.

    A closed form needs each group's studies twice, once at 0 and once at its estimate, so
    the groups go through in blocks: a block is transposed into a (K, block) layout that stays
    in cache for both passes, and no (K, G) copy of the data is made. The sums are those of
    :func:`sweep` on :meth:`Dense.layout`, group by group, to the last bit.
    """
    G = len(y) // K
    Y2, V2 = y.reshape(G, K), v.reshape(G, K)
    random = method != "FE"
    need_fe = frozenset({"rss", "s2", *(("s3",) if method in ("DL", "HS") else ()),
                         *(() if random else ("logv",))})
    need_fit = frozenset({"rss", "logv"})
    cells = np.empty((G, K))
    kk = np.full(G, float(K))
    fe: dict[str, np.ndarray] = {}
    fit: dict[str, np.ndarray] = {}
    tau2, se = np.empty(G), np.empty(G)
    step = max(1, _BLOCK // K)
    for i in range(0, G, step):
        cols = slice(i, min(i + step, G))
        Yb, Vb = np.ascontiguousarray(Y2[cols].T), np.ascontiguousarray(V2[cols].T)
        b = Dense(Yb, Vb, kk[cols], None)
        part = _sweep_block(b, Yb, Vb, None, None, need_fe, None if random else cells[cols])
        tau2[cols], se[cols] = _closed(b, method, part)
        out = [(fe, part)]
        if random:
            out.append((fit, _sweep_block(b, Yb, Vb, None, tau2[cols], need_fit, cells[cols])))
        for dst, src in out:
            for name, a in src.items():
                dst.setdefault(name, np.empty(G))[cols] = a
    (fit if random else fe)["weights"] = cells.ravel()
    return fe, (fit if random else fe), tau2, se


__all__ = ["CLOSED", "METHODS", "Dense", "closed_rows", "estimate", "sweep", "tr", "tr2"]
