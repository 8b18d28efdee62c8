"""A linear SVM that can start from its last solution, and the top of its ranking without
re-scoring every record.

Active learning refits the classifier after every vote. scikit-learn's ``LinearSVC``
(liblinear) starts each fit from zero, so the loop costs one full fit per vote, and re-scoring
every record after it makes the whole loop quadratic in the number of records. Here:

* :func:`fit_linear_svm` solves liblinear's L2-regularised squared-hinge problem (the one
  ``LinearSVC(loss="squared_hinge", fit_intercept=True, intercept_scaling=1)`` solves, the
  intercept regularised like a weight) by Newton's method on the primal with conjugate
  gradients (as liblinear's own primal solver, TRON, does), and accepts a starting point:
  after one more vote the last solution is close, which saves about half the work of a cold
  fit. It solves to a gradient norm of ``tol`` times that at zero, far tighter than
  liblinear's default, so a warm and a cold start give the same scores to ~1e-9 and the
  ranking does not depend on the path.
* :class:`Gram` and :func:`fit_svm_gram` solve the same problem through the inner products of
  the labelled records while they are few (:data:`DENSE_MAX`): exact Newton steps, the matrix
  growing by a row per vote.
* :class:`TopScores` keeps the scores of the unlabelled records at some earlier solution and
  finds the exact top ``k`` under a new one by re-scoring only the records whose score could
  have moved above the ``k``-th: rows are L2-normalised, so a record's score moves by at most
  ``sqrt(|x|^2 + 1)`` times the distance between the two solutions (Cauchy-Schwarz).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from metareview.screening.csr import CSRMatrix

__all__ = ["DENSE_MAX", "Gram", "TopScores", "fit_linear_svm", "fit_svm_gram"]


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # numpy's own loop, not BLAS: OpenBLAS wakes its thread pool for long vectors, which costs
    # milliseconds per call on a busy machine, more than the arithmetic.
    return float(np.einsum("i,i->", a, b))


#: Up to this many labelled records the SVM is solved through their Gram matrix.
DENSE_MAX = 800
#: Newton stops when the gradient norm is below this share of its norm at zero.
TOL = 1e-9
_MAX_NEWTON = 100


def _pcg(matvec, rhs: np.ndarray, diag: np.ndarray, tol: float, max_iter: int) -> np.ndarray:
    """Solve ``A u = rhs`` (A symmetric positive definite, given by ``matvec``) by conjugate
    gradients to ``|residual| <= tol``, preconditioned with ``diag(A) - 1 + 1 1'``: the
    intercept adds 1 to every entry of A, one eigenvalue as large as the number of records,
    which a diagonal preconditioner alone leaves for the iterations to find."""
    inv = 1.0 / (diag - 1.0)
    denom = 1.0 + float(inv.sum())

    def precondition(r: np.ndarray) -> np.ndarray:  # Sherman-Morrison
        er = inv * r
        return er - inv * (float(er.sum()) / denom)

    u = np.zeros_like(rhs)
    r = rhs.copy()
    zv = precondition(r)
    p = zv.copy()
    rz = _dot(r, zv)
    for _ in range(max_iter):
        if math.sqrt(_dot(r, r)) <= tol:
            break
        ap = matvec(p)
        alpha = rz / _dot(p, ap)
        u += alpha * p
        r -= alpha * ap
        zv = precondition(r)
        rz_new = _dot(r, zv)
        p = zv + (rz_new / rz) * p
        rz = rz_new
    return u


def _step_length(wd: float, dd: float, z: np.ndarray, a: np.ndarray, c: np.ndarray) -> float:
    """Minimise ``0.5 |w + t d|^2 + sum c max(0, z - t a)^2`` over ``t`` (a 1-D convex,
    piecewise-quadratic function), given ``wd = w . d`` and ``dd = d . d``: safeguarded Newton
    on its derivative."""

    def slope(t: float) -> tuple[float, float, float]:
        m = z - t * a
        on = m > 0
        ca = c[on] * a[on]
        loss = 2.0 * _dot(ca, m[on])
        # The last value is the size of the terms, for a stopping rule above rounding noise.
        return wd + t * dd - loss, dd + 2.0 * _dot(ca, a[on]), abs(wd) + t * dd + abs(loss)

    lo, hi = 0.0, math.inf
    t = 1.0
    for _ in range(60):
        d1, d2, size = slope(t)
        if abs(d1) <= 1e-12 * size:
            break
        if d1 > 0:
            hi = t
        else:
            lo = t
        nxt = t - d1 / d2
        if not lo < nxt < hi:
            nxt = 2.0 * t if hi == math.inf else 0.5 * (lo + hi)
        t = nxt
    return t


def fit_linear_svm(X: CSRMatrix, y: np.ndarray, c: np.ndarray,
                   start: np.ndarray | None = None, tol: float = TOL) -> np.ndarray:
    """L2-regularised squared-hinge linear SVM with a regularised intercept.

    Minimises ``0.5 |w|^2 + 0.5 b^2 + sum_i c_i max(0, 1 - y_i (x_i . w + b))^2``: liblinear's
    primal with per-record costs ``c_i = C * sample_weight_i``.

    Parameters
    ----------
    X : CSRMatrix
        One row per training record.
    y : numpy.ndarray
        Labels, 1 (relevant) or 0 (irrelevant).
    c : numpy.ndarray
        Cost of each record's loss (positive).
    start : numpy.ndarray, optional
        A starting point ``(w, b)`` of length ``n_terms + 1``, e.g. the last solution.
    tol : float
        Stop when the gradient norm is at most ``tol`` times its norm at zero.

    Returns
    -------
    numpy.ndarray
        ``(w, b)``: the weights followed by the intercept.
    """
    n_terms = X.shape[1]
    sign = np.where(np.asarray(y) == 1, 1.0, -1.0)
    c = np.asarray(c, dtype=np.float64)
    wb = np.zeros(n_terms + 1) if start is None else np.array(start, dtype=np.float64)
    # Gradient at zero: every record is inside the margin with z = 1.
    cy = c * sign
    g0 = math.sqrt(float(np.sum((2.0 * (X.T @ cy)) ** 2)) + (2.0 * float(cy.sum())) ** 2)
    stop = tol * max(g0, 1e-300)
    for _ in range(_MAX_NEWTON):
        w, b = wb[:-1], wb[-1]
        z = 1.0 - sign * (X @ w + b)
        on = z > 0
        czy = 2.0 * c[on] * z[on] * sign[on]
        Xi = X[on]
        g = wb.copy()
        g[:-1] -= Xi.T @ czy
        g[-1] -= czy.sum()
        gnorm = math.sqrt(_dot(g, g))
        if gnorm <= stop:
            break
        # The Newton step solves (I + Xi' C2 Xi) d = -g (Xi with a column of ones for the
        # intercept, C2 = diag(2 c)). By the Woodbury identity d = -g + Xi' u with
        # (C2^-1 + Xi Xi') u = Xi g: a system in the active records rather than the terms,
        # far better conditioned (the large costs of the few relevant records sit on its
        # diagonal as small numbers), solved by Jacobi-preconditioned conjugate gradients.
        Xig = Xi @ g[:-1] + g[-1]
        diag = 0.5 / c[on] + Xi.row_sq_norms() + 1.0

        def gram(v: np.ndarray, Xi: CSRMatrix = Xi, c_on: np.ndarray = c[on]) -> np.ndarray:
            return 0.5 * v / c_on + Xi @ (Xi.T @ v) + v.sum()

        # Forcing term as in inexact Newton: loose far from the solution, tight near it.
        eta = min(0.5, math.sqrt(gnorm / max(g0, 1e-300)))
        # The Newton residual is Xi' C2 r for a residual r of this system: scale the
        # tolerance so that |Xi' C2 r| <= eta |g| (|Xi'| <= sqrt(2 |active|), rows norm <= 1).
        scale = 2.0 * float(c[on].max()) * math.sqrt(2.0 * len(diag))
        u = _pcg(gram, Xig, diag, max(eta * gnorm, 0.1 * stop) / scale, max(50, 2 * len(diag)))
        d = -g
        d[:-1] += Xi.T @ u
        d[-1] += u.sum()
        a = sign * (X @ d[:-1] + d[-1])
        wb = wb + _step_length(_dot(wb, d), _dot(d, d), z, a, c) * d
    return wb


class Gram:
    """Inner products ``x_i . x_j + 1`` of the labelled records, grown as records are labelled.

    With it the SVM is solved in the space of the labelled records (:func:`fit_svm_gram`):
    exact Newton steps by Cholesky factorisation instead of iterations over the terms, cheap
    while the labelled records are a few thousand. Rows are kept in the order they were added.

    Parameters
    ----------
    X : CSRMatrix
        All records.
    """

    def __init__(self, X: CSRMatrix) -> None:
        self.X = X
        self.rows = np.zeros(0, dtype=np.int64)
        self._k = np.zeros((0, 0))
        # The labelled rows' CSR arrays, appended to as records come (room doubles): taking
        # every labelled row out of X again at each retraining cost more than the solve.
        self._data = np.zeros(0)
        self._indices = np.zeros(0, dtype=X.indices.dtype)
        self._indptr = np.zeros(1, dtype=np.int64)

    @property
    def matrix(self) -> np.ndarray:
        """``K + 1`` for the rows added so far (a view)."""
        m = len(self.rows)
        return self._k[:m, :m]

    @property
    def labelled(self) -> CSRMatrix:
        """The rows added so far, in the order added (``X[rows]``, on views)."""
        m = len(self.rows)
        nnz = int(self._indptr[m])
        return CSRMatrix(self._data[:nnz], self._indices[:nnz], self._indptr[:m + 1],
                         (m, self.X.shape[1]))

    def extend(self, rows: np.ndarray) -> None:
        """Add records (row indices of ``X``), computing only their new inner products."""
        rows = np.asarray(rows, dtype=np.int64)
        m, b = len(self.rows), len(rows)
        if m + b > len(self._k):  # room doubles, so copying stays linear overall
            size = max(2 * len(self._k), m + b, 64)
            grown = np.zeros((size, size))
            grown[:m, :m] = self._k[:m, :m]
            self._k = grown
        new = self.X[rows]
        self._append(new)
        self.rows = np.concatenate([self.rows, rows])
        block = new.inner(self.labelled) + 1.0
        self._k[m:m + b, :m + b] = block
        self._k[:m, m:m + b] = block[:, :m].T

    def _append(self, new: CSRMatrix) -> None:
        m, nnz = len(self.rows), int(self._indptr[len(self.rows)])
        end = nnz + new.nnz
        if end > len(self._data):
            size = max(2 * len(self._data), end, 4096)
            self._data = np.concatenate([self._data[:nnz], np.zeros(size - nnz)])
            self._indices = np.concatenate(
                [self._indices[:nnz], np.zeros(size - nnz, dtype=self._indices.dtype)])
        if m + new.shape[0] + 1 > len(self._indptr):
            grown = np.zeros(max(2 * len(self._indptr), m + new.shape[0] + 1), dtype=np.int64)
            grown[:m + 1] = self._indptr[:m + 1]
            self._indptr = grown
        self._data[nnz:end] = new.data
        self._indices[nnz:end] = new.indices
        self._indptr[m + 1:m + 1 + new.shape[0]] = new.indptr[1:] + nnz


def fit_svm_gram(K: np.ndarray, y: np.ndarray, c: np.ndarray,
                 start: np.ndarray | None = None, tol: float = TOL) -> np.ndarray:
    """:func:`fit_linear_svm` solved through the Gram matrix of the training records.

    The solution is ``w = X' theta`` and ``b = sum(theta)`` (the representer theorem); on the
    records inside the margin (the active set ``I``) a Newton step solves
    ``(K_II + diag(1 / (2 c_I))) theta_I = sign_I`` exactly by Cholesky factorisation, and an
    exact line search along the segment to it keeps the finite Newton method convergent when
    the active set changes (Keerthi and DeCoste 2005, JMLR 6:341).

    Parameters
    ----------
    K : numpy.ndarray
        ``x_i . x_j + 1`` for the training records (:class:`Gram`).
    y, c, tol
        As for :func:`fit_linear_svm`.
    start : numpy.ndarray, optional
        A starting ``theta``; shorter than the records when records were added since (the new
        ones start at 0, which leaves ``w`` where the last solution put it).

    Returns
    -------
    numpy.ndarray
        ``theta``, one coefficient per training record.
    """
    # One BLAS thread: at these sizes (m <= DENSE_MAX) waking and syncing OpenBLAS's threads
    # costs more than they save, and on a busy 2-core machine the wait was 3-7x the solve.
    with _blas_controller().limit(limits=1, user_api="blas"):
        return _fit_svm_gram(K, y, c, start, tol)


_CONTROLLER: list[Any] = []


def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS, found once (finding it is most of the cost of
    ``threadpool_limits``, which the simulation would otherwise pay at every retraining)."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def _fit_svm_gram(K: np.ndarray, y: np.ndarray, c: np.ndarray, start: np.ndarray | None,
                  tol: float) -> np.ndarray:
    m = len(y)
    sign = np.where(np.asarray(y) == 1, 1.0, -1.0)
    c = np.asarray(c, dtype=np.float64)
    theta = np.zeros(m)
    if start is not None:
        theta[: len(start)] = start
    f = K @ theta
    g0_vec = 2.0 * c * sign
    g0 = math.sqrt(max(_dot(g0_vec, K @ g0_vec), 0.0))
    stop = tol * max(g0, 1e-300)
    for _ in range(_MAX_NEWTON):
        z = 1.0 - sign * f
        # The primal gradient is X' r (r below), so its norm is sqrt(r' K r).
        r = theta - 2.0 * c * np.maximum(z, 0.0) * sign
        if math.sqrt(max(_dot(r, K @ r), 0.0)) <= stop:
            break
        on = np.flatnonzero(z > 0)
        target = np.zeros(m)
        if len(on):
            A = K[np.ix_(on, on)]
            A[np.diag_indices_from(A)] += 0.5 / c[on]
            # numpy's LU rather than scipy's Cholesky: twice the arithmetic, but at the sizes
            # this path is used for, less than importing scipy.linalg costs.
            target[on] = np.linalg.solve(A, sign[on])
        step = target - theta
        df = K @ step
        t = _step_length(_dot(theta, df), _dot(step, df), z, sign * df, c)
        theta = theta + t * step
        f = f + t * df
    return theta


class TopScores:
    """The exact top of a ranking by ``X @ w + b``, re-scoring only rows that could move.

    Parameters
    ----------
    X : CSRMatrix
        All records, rows with L2 norm at most 1.
    """

    def __init__(self, X: CSRMatrix) -> None:
        self.X = X
        sq = X.row_sq_norms()
        # The most a row's score can change per unit of distance between solutions.
        self._reach = float(np.sqrt(sq.max() + 1.0)) if len(sq) else 1.0
        self._ref: np.ndarray | None = None
        self._ref_scores = np.zeros(0)
        self._ref_order = np.zeros(0, dtype=np.int64)
        self.n_full = 0

    def full(self, wb: np.ndarray) -> np.ndarray:
        """Score every row at ``wb`` and make it the reference; returns the scores."""
        scores = self.X @ wb[:-1] + wb[-1]
        self._ref = wb.copy()
        self._ref_scores = scores
        self._ref_order = np.argsort(-scores, kind="stable")
        self.n_full += 1
        return scores

    def top(self, wb: np.ndarray, pool: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` rows of ``pool`` (a boolean mask) with the highest scores at ``wb``, in
        order (ties by row), exactly as a full stable sort would give them."""
        n_pool = int(pool.sum())
        k = min(k, n_pool)
        if self._ref is None:
            self.full(wb)
        diff = wb - self._ref
        drift = math.sqrt(_dot(diff, diff)) * self._reach
        order = self._ref_order[pool[self._ref_order]]
        limit = max(64, n_pool // 8)
        first = order[: max(k, 32)]
        exact = self._score(wb, first)
        # Lower bound on the k-th best score; anything whose reference score is below it by
        # more than the drift cannot reach the top k.
        floor = np.sort(exact)[::-1][k - 1] - drift - 1e-9 * (1.0 + abs(float(exact.max())))
        m = int(np.searchsorted(-self._ref_scores[order], -floor, side="right"))
        if m > limit:  # the new reference order is the ranking (ties by row, as below)
            self.full(wb)
            return self._ref_order[pool[self._ref_order]][:k]
        if m > len(first):
            cand = order[:m]
            scores = np.concatenate([exact, self._score(wb, order[len(first):m])])
        else:
            cand, scores = first, exact
        pick = np.lexsort((cand, -scores))[:k]
        return cand[pick]

    def _score(self, wb: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self.X[rows] @ wb[:-1] + wb[-1]
