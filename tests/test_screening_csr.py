"""The screening's own sparse matrix: every operation equals scipy.sparse's, through scipy's
compiled loops and in numpy, and a simulation never imports scipy.sparse (its import cost more
than the whole simulation of a few hundred records)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
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


def _pair(theirs: sparse.csr_matrix) -> CSRMatrix:
    return CSRMatrix.from_scipy(theirs)


@pytest.fixture(params=["compiled", "numpy"])
def kernels(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test twice: with scipy's compiled loops and with the numpy fallback."""
    if request.param == "numpy":
        monkeypatch.setattr(csr, "_kernels_module", None)
    else:
        assert csr._kernels() is not None
    return request.param


# The fixture only chooses the way products run, the same for every example.
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(theirs=matrices(), seed=st.integers(0, 2 ** 32 - 1))
def test_products_and_rows_equal_scipy(kernels: str, theirs: sparse.csr_matrix,
                                       seed: int) -> None:
    rng = np.random.default_rng(seed)
    ours = _pair(theirs)
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
    assert np.allclose(ours[rows].inner(_pair(theirs[other])), want,
                       rtol=1e-12, atol=1e-12)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(theirs=matrices(), seed=st.integers(0, 2 ** 32 - 1))
def test_two_thread_product_equals_one_thread_to_the_bit(
        monkeypatch: pytest.MonkeyPatch, theirs: sparse.csr_matrix, seed: int) -> None:
    w = np.random.default_rng(seed).normal(size=theirs.shape[1])
    monkeypatch.setattr(csr, "_THREADED_NNZ", 1 << 62)
    one = _pair(theirs) @ w
    monkeypatch.setattr(csr, "_THREADED_NNZ", 0)
    monkeypatch.setattr(csr, "_TWO_CORES", True)
    ours = _pair(theirs)
    assert np.array_equal(ours @ w, one)
    assert np.array_equal(ours @ w, one)  # the split is kept for the next product
    (m, ptr, _, _), (_, ptr2, _, data2) = ours._halves
    assert len(ptr) == m + 1
    assert 0 <= m <= theirs.shape[0] and ptr2[0] == 0 and len(data2) == ptr2[-1]


def test_shape_mismatches_are_refused() -> None:
    ours = CSRMatrix.from_scipy(sparse.csr_matrix(np.eye(3)))
    with pytest.raises(ValueError, match="cannot multiply"):
        ours @ np.ones(4)
    with pytest.raises(ValueError, match="cannot multiply the transpose"):
        ours.T @ np.ones(4)
    with pytest.raises(ValueError, match="indptr"):
        CSRMatrix(np.ones(2), np.zeros(2, dtype=np.int32), np.array([0, 1]), (1, 3))


def _python(code: str) -> str:
    """What a fresh interpreter prints running ``code`` (nothing imported beforehand)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def test_compiled_loops_load_without_importing_scipy_sparse() -> None:
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from metareview.screening import csr\n"
        "X = csr.CSRMatrix(np.array([1.0, 2.0, 3.0]), np.array([0, 1, 1]), np.array([0, 2, 3]),"
        " (2, 2))\n"
        "print((X @ np.array([1.0, 10.0])).tolist(), (X.T @ np.array([1.0, 10.0])).tolist(),"
        " csr._kernels() is not None, 'scipy.sparse' in sys.modules)\n"
        # scipy.sparse imported afterwards loads the same extension again and still works.
        "print((X.to_scipy() @ X.to_scipy().T).toarray().tolist())\n"
    )
    assert _python(code).splitlines() == ["[21.0, 30.0] [1.0, 32.0] True False",
                                          "[[5.0, 6.0], [6.0, 9.0]]"]


def test_an_unusable_kernel_module_falls_back_to_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    class Wrong:  # the calling convention changed: products come out wrong
        @staticmethod
        def csr_matvec(*args: object) -> None:
            pass

        csc_matvec = csr_matvec

    monkeypatch.setitem(sys.modules, csr._SPARSETOOLS, Wrong)
    assert csr._load_sparsetools() is None
    monkeypatch.setattr(csr, "_kernels_module", None)
    X = CSRMatrix.from_scipy(sparse.csr_matrix(np.array([[1.0, 2.0], [0.0, 3.0]])))
    assert (X @ np.array([1.0, 10.0])).tolist() == [21.0, 30.0]
    assert (X.T @ np.array([1.0, 10.0])).tolist() == [1.0, 32.0]


def test_a_simulation_never_imports_scipy_sparse() -> None:
    code = (
        "import sys\n"
        "from metareview.screening.simulate import simulate\n"
        "texts = [f'aspirin stroke trial {i} dose' if i % 7 == 0 else f'soil galaxy {i} halo'"
        " for i in range(3000)]\n"
        "labels = [int(i % 7 == 0) for i in range(3000)]\n"
        "run = simulate(texts, labels, seeds=[0]).runs[0]\n"
        "assert run.n_retrains > 1\n"
        "print('scipy.sparse' in sys.modules)\n"
    )
    assert _python(code) == "False"
