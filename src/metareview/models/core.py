"""The model core: the linear algebra of meta-analyses of many groups of studies, in O(n p^2).

Everything here works on *groups*: the studies of all analyses are stored one after another
in flat arrays (``y``, ``v`` and an optional model matrix ``X``), and a vector ``k`` gives
each group's size. Sums within groups are ``np.add.reduceat``; per-group values are spread
back to studies with ``np.repeat``. No k x k matrix is ever formed: every quantity metafor's
``rma.uni`` needs is a trace of ``P = D - D X (X'DX)^-1 X'D``, and with ``g_i = d_i x_i`` and
``M = (X'DX)^-1`` each trace is a sum over studies of p x p quadratic forms.

The estimators of tau^2 built on this are in :mod:`metareview.models.tau2` (the registry of
methods), the fitting of many models at once in :mod:`metareview.models.fit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

TESTS = ("z", "t", "knha")

_LOG2PI = float(np.log(2 * np.pi))


def labels(n: int, text: str) -> np.ndarray:
    """An object array of ``n`` copies of ``text`` (``np.full`` of an object dtype is about
    fifteen times slower: it converts the fill value for every element)."""
    out = np.empty(n, dtype=object)
    out.fill(text)
    return out


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

    @cached_property
    def sum_d3(self) -> np.ndarray:
        """``S_3 = sum d^3``."""
        return self.data.groups.sum(self.d**3)

    @property
    def tr3(self) -> np.ndarray:
        """``tr(PPP)``: with ``G = DX``, ``M = (X'DX)^-1`` and ``Q_j = X'D^jX``,
        ``S_3 - 3 tr(M Q_4) + 3 tr(M Q_3 M Q_2) - tr((M Q_2)^3)``."""
        g, d, M = self.data.groups, self.d, self.M
        if self.data.X is None:
            s1, s2 = self.sum_d, self.sum_d2
            r = s2 / s1
            return self.sum_d3 - 3 * g.sum(d**4) / s1 + 3 * r * self.sum_d3 / s1 - r**3
        Xt = self.data.Xt
        Q2, Q3, Q4 = (_gram(g, Xt, Xt * d**j) for j in (2, 3, 4))
        MQ2 = M @ Q2
        return (self.sum_d3 - 3 * np.einsum("gij,gji->g", M, Q4)
                + 3 * np.einsum("gij,gji->g", M @ Q3, MQ2)
                - np.einsum("gij,gji->g", MQ2 @ MQ2, MQ2))

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
