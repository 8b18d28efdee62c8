"""Weighted least squares and the traces of its residual projector, without k x k matrices.

Every estimator in metafor's ``rma.uni`` is written in terms of
``P = D - D X (X'DX)^-1 X'D`` for a diagonal weight matrix ``D``. Writing ``G = D X`` and
``M = (X'DX)^-1``, the element ``P_ij = d_i [i = j] - g_i' M g_j``, so each trace metafor
needs reduces to sums over studies of p x p quadratic forms: O(k p^2) time and memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Projector:
    """WLS fit of ``y`` on ``X`` with weights ``d`` and the pieces of its projector ``P``."""

    d: np.ndarray  # weights (diagonal of D)
    X: np.ndarray  # k x p
    M: np.ndarray  # (X'DX)^-1, p x p
    beta: np.ndarray  # WLS coefficients
    resid: np.ndarray  # y - X beta
    h: np.ndarray  # g_i' M g_i (the "hat" part, not yet divided by d_i)

    @classmethod
    def fit(cls, y: np.ndarray, X: np.ndarray, d: np.ndarray) -> Projector:
        """Weighted least squares of ``y`` on ``X`` with weights ``d``."""
        G = X * d[:, None]
        M = np.linalg.inv(X.T @ G)
        M = (M + M.T) / 2
        beta = M @ (G.T @ y)
        h = np.einsum("ij,jk,ik->i", G, M, G)
        return cls(d=d, X=X, M=M, beta=beta, resid=y - X @ beta, h=h)

    @property
    def rss(self) -> float:
        """``y'Py``: the weighted residual sum of squares."""
        return float(np.sum(self.d * self.resid**2))

    @property
    def rss2(self) -> float:
        """``y'PPy``."""
        return float(np.sum((self.d * self.resid) ** 2))

    @property
    def tr(self) -> float:
        """``tr(P)``."""
        return float(np.sum(self.d - self.h))

    def diag_pvp(self, v: np.ndarray | None = None) -> np.ndarray:
        """Diagonal of ``P V P`` where ``V = diag(v)`` (``v = 1`` gives ``diag(PP)``)."""
        v = np.ones_like(self.d) if v is None else v
        G = self.X * self.d[:, None]
        A = self.M @ ((G * v[:, None]).T @ G) @ self.M
        quad = np.einsum("ij,jk,ik->i", G, A, G)
        # (PVP)_ii = sum_j P_ij^2 v_j = d_i^2 v_i - 2 d_i v_i h_i + g_i' M G'VG M g_i
        return self.d**2 * v - 2 * self.d * v * self.h + quad

    @property
    def tr2(self) -> float:
        """``tr(PP)`` (= ``sum(P * P)`` as P is symmetric)."""
        return float(np.sum(self.diag_pvp()))

    def tr_pv(self, v: np.ndarray) -> float:
        """``tr(P V)``."""
        return float(np.sum(v * (self.d - self.h)))

    def tr_pvp(self, v: np.ndarray) -> float:
        """``tr(P V P)`` (= ``sum(PV * P)``)."""
        return float(np.sum(self.diag_pvp(v)))

    def tr_pvpv(self, v: np.ndarray) -> float:
        """``tr(P V P V)`` (= ``sum(PV * t(PV))``)."""
        return float(np.sum(v * self.diag_pvp(v)))
