"""The screening's own sparse matrix: every operation equals scipy.sparse's, in numpy and in the
compiled mode, and a small simulation never imports scipy.sparse (its import cost more than the
whole simulation of a few hundred records)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

import metareview.screening.csr as csr
from metareview.screening.csr import CSRMatrix


@st.composite
def matrices(draw: st.DrawFn) -> sparse.csr_matrix:
    n_rows = draw(st.integers(1, 12))
    n_cols = draw(st.integers(1, 15))
    density = draw(st.sampled_from([0.0, 0.1, 0.4, 1.0]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    dense = rng.normal(size=(n_rows, n_cols)) * (rng.random((n_rows, n_cols)) < density)
    if n_rows > 1 and draw(st.booleans()):
        dense[rng.integers(n_rows)] = 0.0  # an empty row in the middle
    return sparse.csr_matrix(dense)


def _pair(theirs: sparse.csr_matrix, compiled: bool) -> CSRMatrix:
    ours = CSRMatrix.from_scipy(theirs)
    if compiled:
        ours.compile()
    return ours


@settings(max_examples=150, deadline=None)
@given(matrices(), st.booleans(), st.integers(0, 2 ** 32 - 1))
def test_products_and_rows_equal_scipy(theirs: sparse.csr_matrix, compiled: bool,
                                       seed: int) -> None:
    rng = np.random.default_rng(seed)
    ours = _pair(theirs, compiled)
    n_rows, n_cols = theirs.shape
    w, v = rng.normal(size=n_cols), rng.normal(size=n_rows)
    assert np.allclose(ours @ w, theirs @ w, rtol=1e-12, atol=1e-12)
    assert np.allclose(ours.T @ v, theirs.T @ v, rtol=1e-12, atol=1e-12)
    assert np.allclose(ours.row_sq_norms(), np.asarray(theirs.multiply(theirs).sum(axis=1))
                       .ravel(), rtol=1e-12, atol=1e-12)
    assert np.array_equal(ours.toarray(), theirs.toarray())
    # Rows in any order, repeated, none, or by a mask.
    rows = rng.integers(0, n_rows, size=int(rng.integers(0, 2 * n_rows)))
    sub = ours[rows]
    assert sub.shape == (len(rows), n_cols)
    assert np.array_equal(sub.toarray(), theirs[rows].toarray())
    mask = rng.random(n_rows) < 0.5
    assert np.array_equal(ours[mask].toarray(), theirs[mask].toarray())
    # Inner products of some rows with others, as a dense block.
    other = rng.integers(0, n_rows, size=int(rng.integers(1, n_rows + 1)))
    want = (theirs[rows] @ theirs[other].T).toarray()
    assert np.allclose(ours[rows].inner(_pair(theirs[other], compiled)), want,
                       rtol=1e-12, atol=1e-12)


def test_shape_mismatches_are_refused() -> None:
    ours = CSRMatrix.from_scipy(sparse.csr_matrix(np.eye(3)))
    with pytest.raises(ValueError, match="cannot multiply"):
        ours @ np.ones(4)
    with pytest.raises(ValueError, match="cannot multiply the transpose"):
        ours.T @ np.ones(4)
    with pytest.raises(ValueError, match="indptr"):
        CSRMatrix(np.ones(2), np.zeros(2, dtype=np.int32), np.array([0, 1]), (1, 3))


def test_products_switch_to_scipy_once_they_would_have_paid_for_its_import(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    big = CSRMatrix.from_scipy(sparse.random(200, 300, density=0.2, random_state=1, format="csr"))
    small = CSRMatrix.from_scipy(sparse.random(20, 30, density=0.2, random_state=2, format="csr"))
    assert small.nnz < csr._SMALL < big.nnz
    # scipy.sparse counts as not imported, and the budget allows three products of `big`.
    monkeypatch.setattr(csr, "_work", 0)
    monkeypatch.setattr(csr, "WORK_BEFORE_SCIPY", 3 * big.nnz)
    modules = dict(sys.modules)
    modules.pop("scipy.sparse", None)
    monkeypatch.setattr(sys, "modules", modules)
    w = rng.normal(size=300)
    first = big @ w
    for _ in range(2):
        big @ w
    assert big._compiled is None and csr._work == 3 * big.nnz
    assert np.allclose(big @ w, first, rtol=1e-12)
    assert big._compiled is not None  # the fourth product went through scipy
    for _ in range(5):
        small @ rng.normal(size=30)
    assert small._compiled is None  # too small to be worth scipy's per-call overhead


def test_a_small_simulation_never_imports_scipy_sparse() -> None:
    code = (
        "import sys\n"
        "from metareview.screening.simulate import simulate\n"
        "texts = [f'aspirin stroke trial {i} dose' if i % 7 == 0 else f'soil galaxy {i} halo'"
        " for i in range(150)]\n"
        "labels = [int(i % 7 == 0) for i in range(150)]\n"
        "run = simulate(texts, labels, seeds=[0]).runs[0]\n"
        "assert run.n_retrains > 1\n"
        "print('scipy.sparse' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
