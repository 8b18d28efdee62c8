"""A compressed sparse row matrix with the few operations screening needs.

Importing ``scipy.sparse`` (which pulls in scipy's array-API layer, ``numpy.testing`` and
``numpy.f2py``) takes about 0.13 s, more than a whole simulation of a few hundred records
spends screening; every ``metareview simulate`` and ``screen`` paid it at start-up. The
screening model only needs a matrix-vector product both ways, row selection and the inner
products of a few rows with many, which numpy does directly, at about a third of the speed of
scipy's compiled loops. So products run in numpy until the values they have multiplied would
have paid for scipy's import (:data:`WORK_BEFORE_SCIPY`), and through ``scipy.sparse`` from
then on (at once when something else already imported it, or when :meth:`CSRMatrix.compile`
says a long loop over a large matrix is coming): a small review never imports it, a large one
pays for it once. Both give the same numbers up to the order of summation.
:meth:`CSRMatrix.to_scipy` converts for the scikit-learn classifiers.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["WORK_BEFORE_SCIPY", "CSRMatrix"]

#: Stored values multiplied in numpy (over all matrices) before products switch to scipy:
#: numpy's gather-multiply-reduce costs about 3 ns a value more than scipy's loop, so 4e7
#: values are about what importing ``scipy.sparse`` costs (0.13 s).
WORK_BEFORE_SCIPY = 40_000_000
#: Matrices this small stay in numpy (scipy's per-call overhead is larger than the work).
_SMALL = 4_000
_work = 0


class CSRMatrix:
    """``n_rows x n_cols`` float64 matrix in CSR form (column indices sorted within each row).

    Parameters
    ----------
    data : numpy.ndarray
        The non-zero values, row after row.
    indices : numpy.ndarray
        Their column indices.
    indptr : numpy.ndarray
        ``n_rows + 1`` offsets: row ``i`` is ``data[indptr[i]:indptr[i + 1]]``.
    shape : (int, int)
        Rows and columns.
    """

    __slots__ = ("_compiled", "_nonempty", "_row_ids", "data", "indices", "indptr", "shape")

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
                 shape: tuple[int, int]) -> None:
        self.data = np.asarray(data, dtype=np.float64)
        self.indices = np.asarray(indices)
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.shape = (int(shape[0]), int(shape[1]))
        if len(self.indptr) != self.shape[0] + 1 or self.indptr[-1] != len(self.data):
            raise ValueError("indptr does not match the shape and the data")
        self._row_ids: np.ndarray | None = None
        self._nonempty: np.ndarray | None = None
        self._compiled: Any = None

    def compile(self) -> None:
        """Use scipy's compiled products for this matrix from now on (imports scipy.sparse)."""
        if self._compiled is None:
            self._compiled = self.to_scipy()

    def _scipy(self) -> Any:
        """The scipy form once scipy pays off (see the module docstring), else None."""
        global _work
        if self._compiled is not None:
            return self._compiled
        if self.nnz < _SMALL:
            return None
        if "scipy.sparse" not in sys.modules and _work + self.nnz <= WORK_BEFORE_SCIPY:
            _work += self.nnz
            return None
        self._compiled = self.to_scipy()
        return self._compiled

    @property
    def nnz(self) -> int:
        """Number of stored values."""
        return len(self.data)

    @property
    def row_ids(self) -> np.ndarray:
        """The row of each stored value (computed once)."""
        if self._row_ids is None:
            self._row_ids = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        return self._row_ids

    @property
    def T(self) -> _Transposed:
        """The transpose, for ``X.T @ v``."""
        return _Transposed(self)

    def __matmul__(self, w: np.ndarray) -> np.ndarray:
        """``X @ w`` for a vector ``w`` of length ``n_cols``."""
        w = np.asarray(w, dtype=np.float64)
        if w.ndim != 1 or len(w) != self.shape[1]:
            raise ValueError(f"cannot multiply a {self.shape} matrix by a vector of shape "
                             f"{w.shape}")
        compiled = self._scipy()
        if compiled is not None:
            return np.asarray(compiled @ w)
        out = np.zeros(self.shape[0])
        if self.nnz:
            # reduceat sums each row's run in one pass; an empty row has no run (reduceat
            # would give it its neighbour's first value), so only the others are summed.
            if self._nonempty is None:
                self._nonempty = np.flatnonzero(np.diff(self.indptr) > 0)
            out[self._nonempty] = np.add.reduceat(self.data * w[self.indices],
                                                  self.indptr[self._nonempty])
        return out

    def rmatvec(self, v: np.ndarray) -> np.ndarray:
        """``X.T @ v`` for a vector ``v`` of length ``n_rows``."""
        v = np.asarray(v, dtype=np.float64)
        if v.ndim != 1 or len(v) != self.shape[0]:
            raise ValueError(f"cannot multiply the transpose of a {self.shape} matrix by a "
                             f"vector of shape {v.shape}")
        compiled = self._scipy()
        if compiled is not None:
            return np.asarray(compiled.T @ v)
        return np.bincount(self.indices, weights=self.data * v[self.row_ids],
                           minlength=self.shape[1])

    def __getitem__(self, rows: Any) -> CSRMatrix:
        """The rows ``rows`` (integer indices or a boolean mask), in that order."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.int64, copy=False)
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        # Positions of the chosen rows' values: each row's start, then consecutive.
        take = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return CSRMatrix(self.data[take], self.indices[take], indptr,
                         (len(rows), self.shape[1]))

    def row_sq_norms(self) -> np.ndarray:
        """The squared L2 norm of each row."""
        return np.bincount(self.row_ids, weights=self.data * self.data,
                           minlength=self.shape[0])

    def inner(self, other: CSRMatrix) -> np.ndarray:
        """``self @ other.T`` as a dense array: the inner products of every pair of rows.

        Each row of ``self`` is spread over a dense vector once and multiplied by ``other``,
        so the cost is ``rows of self x values of other``: meant for a few rows against many.
        """
        compiled = other._scipy()
        if compiled is not None:
            return np.asarray((self.to_scipy() @ compiled.T).toarray())
        out = np.zeros((self.shape[0], other.shape[0]))
        dense = np.zeros(self.shape[1])
        for i in range(self.shape[0]):
            lo, hi = self.indptr[i], self.indptr[i + 1]
            cols = self.indices[lo:hi]
            dense[cols] = self.data[lo:hi]
            out[i] = other @ dense
            dense[cols] = 0.0
        return out

    def toarray(self) -> np.ndarray:
        """The dense matrix."""
        out = np.zeros(self.shape)
        out[self.row_ids, self.indices] = self.data
        return out

    def to_scipy(self) -> Any:
        """The same matrix as a ``scipy.sparse.csr_matrix`` (for scikit-learn)."""
        from scipy import sparse

        return sparse.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape,
                                 copy=False)

    @classmethod
    def from_scipy(cls, matrix: Any) -> CSRMatrix:
        """From any scipy sparse matrix (converted to CSR with sorted indices)."""
        m = matrix.tocsr()
        m.sort_indices()
        return cls(m.data, m.indices, m.indptr, m.shape)

    def __repr__(self) -> str:
        return f"CSRMatrix(shape={self.shape}, nnz={self.nnz})"


class _Transposed:
    """``X.T`` as far as ``X.T @ v`` goes."""

    __slots__ = ("matrix",)

    def __init__(self, matrix: CSRMatrix) -> None:
        self.matrix = matrix

    def __matmul__(self, v: np.ndarray) -> np.ndarray:
        return self.matrix.rmatvec(v)
