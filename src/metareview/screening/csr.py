"""A compressed sparse row matrix with the few operations screening needs.

Importing ``scipy.sparse`` takes 0.13-0.2 s (it pulls in scipy's array-API layer,
``numpy.testing`` and ``numpy.f2py``), more than a whole simulation of a few hundred records
spends screening. The screening model only needs a matrix-vector product both ways, row
selection and the inner products of a few rows with many. The products run in scipy's compiled
loops (``csr_matvec``, ``csc_matvec`` of its extension module ``_sparsetools``), which
:func:`_kernels` loads from scipy's files by themselves, without running the package's
``__init__`` (0.4 ms instead of 0.2 s, measured by hand on the benchmark machine); where
that fails (another scipy layout), through a normal import, and without scipy at all, in
numpy. Every way gives the same numbers up to the order of summation.
:meth:`CSRMatrix.to_scipy` converts for the scikit-learn classifiers.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["CSRMatrix"]

#: Stored values from which ``X @ w`` runs in two threads, each over half of them (scipy's
#: loops release the GIL). Van de Schoot 2017's TF-IDF matrix (1.8 million values): 2.1 ms
#: in one thread, 1.1-1.7 ms in two, by hand; below about 10^5 values a thread's start costs
#: more than it saves.
_THREADED_NNZ = 1 << 18
_TWO_CORES = len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else (
    (os.cpu_count() or 1) > 1)

_SPARSETOOLS = "scipy.sparse._sparsetools"
_kernels_module: ModuleType | bool | None = False  # False: not looked for yet


def _load_sparsetools() -> ModuleType | None:
    """scipy's ``_sparsetools`` extension module: the loaded one, else loaded from its file
    alone, else imported; None if none of these works or its products are wrong."""
    module = sys.modules.get(_SPARSETOOLS)
    if module is None:
        try:
            # find_spec of a top-level package locates it without importing it.
            spec = importlib.util.find_spec("scipy")
            folder = Path(next(iter(spec.submodule_search_locations))) / "sparse"
            path = next(folder / f"_sparsetools{suffix}"
                        for suffix in importlib.machinery.EXTENSION_SUFFIXES
                        if (folder / f"_sparsetools{suffix}").is_file())
            loader = importlib.machinery.ExtensionFileLoader(_SPARSETOOLS, str(path))
            module = importlib.util.module_from_spec(
                importlib.util.spec_from_loader(_SPARSETOOLS, loader))
            loader.exec_module(module)
        except Exception:  # any layout we do not know: the public import
            try:
                from scipy.sparse import _sparsetools as module
            except Exception:  # no scipy: numpy does the products
                return None
    # The products of [[1, 2], [0, 3]] both ways, as a check of the calling convention.
    ptr, idx, val = (np.array([0, 2, 3], np.int32), np.array([0, 1, 1], np.int32),
                     np.array([1.0, 2.0, 3.0]))
    ax, atx = np.zeros(2), np.zeros(2)
    try:
        module.csr_matvec(2, 2, ptr, idx, val, np.array([1.0, 10.0]), ax)
        module.csc_matvec(2, 2, ptr, idx, val, np.array([1.0, 10.0]), atx)
    except Exception:  # a changed calling convention
        return None
    return module if ax.tolist() == [21.0, 30.0] and atx.tolist() == [1.0, 32.0] else None


def _kernels() -> ModuleType | None:
    """The compiled sparse products (:func:`_load_sparsetools`, looked for once), or None."""
    global _kernels_module
    if _kernels_module is False:
        _kernels_module = _load_sparsetools()
    return _kernels_module  # type: ignore[return-value]


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

    __slots__ = ("_halves", "_nonempty", "_ptr", "_row_ids", "data", "indices", "indptr",
                 "shape")

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
                 shape: tuple[int, int]) -> None:
        self.data = np.ascontiguousarray(data, dtype=np.float64)
        self.indices = np.ascontiguousarray(indices)
        if self.indices.dtype not in (np.int32, np.int64):
            self.indices = self.indices.astype(np.int64)
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.shape = (int(shape[0]), int(shape[1]))
        if len(self.indptr) != self.shape[0] + 1 or self.indptr[-1] != len(self.data):
            raise ValueError("indptr does not match the shape and the data")
        self._row_ids: np.ndarray | None = None
        self._nonempty: np.ndarray | None = None
        self._ptr: np.ndarray | None = None
        self._halves: tuple[tuple[int, np.ndarray, np.ndarray, np.ndarray], ...] | None = None

    def _offsets(self) -> np.ndarray:
        """``indptr`` in the dtype of ``indices`` (the compiled loops take one index type)."""
        if self._ptr is None:
            self._ptr = self.indptr.astype(self.indices.dtype)
        return self._ptr

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

    def _compiled(self, transpose: bool, v: np.ndarray) -> np.ndarray | None:
        """``X @ v`` (``X.T @ v`` if ``transpose``) in scipy's compiled loops, or None without
        them. The CSR arrays of X are the CSC arrays of X.T, so the transpose is csc_matvec."""
        kernels = _kernels()
        if kernels is None:
            return None
        n_rows, n_cols = self.shape[::-1] if transpose else self.shape
        out = np.zeros(n_rows)
        v = np.ascontiguousarray(v)
        if transpose:
            kernels.csc_matvec(n_rows, n_cols, self._offsets(), self.indices, self.data, v, out)
        elif self.nnz >= _THREADED_NNZ and _TWO_CORES:
            # Rows split where half the values lie; each half writes its own rows, summed as
            # in one call, so the result is the same to the bit.
            (m, *first), (_, *second) = self._split()
            other = threading.Thread(target=kernels.csr_matvec,
                                     args=(n_rows - m, n_cols, *second, v, out[m:]))
            other.start()
            kernels.csr_matvec(m, n_cols, *first, v, out[:m])
            other.join()
        else:
            kernels.csr_matvec(n_rows, n_cols, self._offsets(), self.indices, self.data, v,
                               out)
        return out

    def _split(self) -> tuple[tuple[int, np.ndarray, np.ndarray, np.ndarray], ...]:
        """The rows up to where half the values lie and the rest, as ``(first row, offsets,
        indices, data)`` of two CSR matrices (computed once)."""
        if self._halves is None:
            ptr = self._offsets()
            m = int(np.searchsorted(self.indptr, self.nnz // 2))
            s = int(self.indptr[m])
            self._halves = ((m, ptr[: m + 1], self.indices, self.data),
                            (m, ptr[m:] - ptr.dtype.type(s), self.indices[s:], self.data[s:]))
        return self._halves

    def __matmul__(self, w: np.ndarray) -> np.ndarray:
        """``X @ w`` for a vector ``w`` of length ``n_cols``."""
        w = np.asarray(w, dtype=np.float64)
        if w.ndim != 1 or len(w) != self.shape[1]:
            raise ValueError(f"cannot multiply a {self.shape} matrix by a vector of shape "
                             f"{w.shape}")
        out = self._compiled(False, w)
        if out is not None:
            return out
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
        out = self._compiled(True, v)
        if out is not None:
            return out
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
