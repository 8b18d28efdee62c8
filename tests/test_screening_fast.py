"""The screening loop's own parts: TF-IDF equal to scikit-learn's, the warm-started linear SVM
against liblinear's objective, the exact top-k that re-scores only what can move, retraining
less often as the labelled set grows, and bad cells in unused columns as warnings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.svm import LinearSVC
from typer.testing import CliRunner

from metareview.cli import app
from metareview.errors import InputError
from metareview.screening.active import balance_weights, record_text, tfidf_features
from metareview.screening.csr import CSRMatrix
from metareview.screening.simulate import read_labelled, simulate
from metareview.screening.svm import TopScores, fit_linear_svm
from metareview.screening.tfidf import tfidf_matrix

WORDS = ["aspirin", "stroke", "trial", "soil", "galaxy", "randomised", "placebo", "nitrogen",
         "telescope", "recurrent", "ischaemic", "dose", "older", "field", "halo", "É", "ß",
         "naïve", "x", "CT-scan", "2020", "a_b"]


def _corpus(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(n):
        k = int(rng.integers(0, 30))
        texts.append(" ".join(rng.choice(WORDS, k)) + ("." if k % 3 else ""))
    return texts


def _objective(wb: np.ndarray, X: CSRMatrix, y: np.ndarray, c: np.ndarray) -> float:
    sign = np.where(y == 1, 1.0, -1.0)
    z = np.maximum(0.0, 1.0 - sign * (X @ wb[:-1] + wb[-1]))
    return 0.5 * float(wb @ wb) + float(np.sum(c * z * z))


# ---------------------------------------------------------------------------------------------
# TF-IDF
@pytest.mark.parametrize("options", [
    {"ngram_range": (1, 2), "max_df": 0.95, "sublinear_tf": True},
    {"ngram_range": (1, 1), "max_df": 1.0, "sublinear_tf": False},
    {"ngram_range": (1, 3), "min_df": 2, "max_df": 0.5, "sublinear_tf": True},
    {"ngram_range": (2, 2), "min_df": 0.05, "max_df": 12, "sublinear_tf": True},
])
def test_tfidf_equals_scikit_learn(options: dict) -> None:
    texts = [*_corpus(3, 80), "", "   ", "Aspirin aspirin ASPIRIN stroke."]
    ours = tfidf_matrix(texts, **options)
    theirs = TfidfVectorizer(dtype=np.float64, **options).fit_transform(texts)
    assert ours.shape == theirs.shape
    assert abs(ours.to_scipy() - theirs).max() < 1e-14


def test_tfidf_stop_words_and_errors() -> None:
    texts = _corpus(5, 40)
    ours = tfidf_features(texts, stop_words="english").matrix
    theirs = TfidfVectorizer(ngram_range=(1, 2), max_df=0.95, sublinear_tf=True,
                             stop_words=list(ENGLISH_STOP_WORDS)).fit_transform(texts)
    assert ours.shape == theirs.shape and abs(ours.to_scipy() - theirs).max() < 1e-14
    with pytest.raises(InputError, match="stop words 'french'"):
        tfidf_features(texts, stop_words="french")
    with pytest.raises(ValueError, match="empty vocabulary"):
        tfidf_matrix(["", "a", "!"])
    with pytest.raises(ValueError, match="no terms remain"):
        tfidf_matrix(["same words", "same words"], max_df=0.5)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="ab cdé.\n_9Zİ中-", max_size=30), min_size=1, max_size=12),
       st.sampled_from([(1, 1), (1, 2), (2, 2), (1, 3), (2, 3)]))
def test_tfidf_equals_scikit_learn_on_any_text(texts: list[str],
                                               ngram_range: tuple[int, int]) -> None:
    # Short tokens that are prefixes of one another ("a b" against "ab"), digits and "_" (word
    # characters below the letters), "İ" (longer once lower-cased) and CJK: the column order
    # must still be the n-gram strings' sorted order.
    try:
        theirs = TfidfVectorizer(ngram_range=ngram_range, sublinear_tf=True,
                                 dtype=np.float64).fit_transform(texts)
    except ValueError:
        with pytest.raises(ValueError):
            tfidf_matrix(texts, ngram_range=ngram_range)
        return
    ours = tfidf_matrix(texts, ngram_range=ngram_range)
    assert ours.shape == theirs.shape and abs(ours.to_scipy() - theirs).max() < 1e-14


def test_tfidf_long_ngrams_over_a_large_vocabulary() -> None:
    # 7-grams over 600 distinct tokens need more than 64 bits as one key: the keys are
    # replaced by their ranks on the way, and the matrix must not change.
    rng = np.random.default_rng(4)
    texts = [" ".join(f"w{i}x{j}" for j in rng.permutation(20)) for i in range(30)]
    texts += [" ".join(rng.choice(texts[0].split(), 12)) for _ in range(5)]
    options = {"ngram_range": (1, 7), "sublinear_tf": True}
    ours = tfidf_matrix(texts, **options)
    theirs = TfidfVectorizer(dtype=np.float64, **options).fit_transform(texts)
    assert ours.shape == theirs.shape and abs(ours.to_scipy() - theirs).max() < 1e-14


# ---------------------------------------------------------------------------------------------
# The linear SVM
def _problem(seed: int, n: int = 120) -> tuple[CSRMatrix, np.ndarray]:
    texts = _corpus(seed, n)
    X = tfidf_matrix(texts)
    y = np.array([int("aspirin" in t or "stroke" in t) for t in texts])
    return X, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_svm_reaches_liblinear_optimum(seed: int) -> None:
    X, y = _problem(seed)
    w = balance_weights(y, 9.8)
    c = 0.11 * w
    ours = fit_linear_svm(X, y, c)
    lib = LinearSVC(C=0.11, tol=1e-10, max_iter=100_000).fit(X.to_scipy(), y,
                                                           sample_weight=w)
    theirs = np.r_[lib.coef_.ravel(), lib.intercept_]
    # Same strictly convex problem: our objective is no higher, the solutions agree.
    assert _objective(ours, X, y, c) <= _objective(theirs, X, y, c) + 1e-9
    assert np.max(np.abs(ours - theirs)) < 1e-5
    # First-order optimality, checked from scratch.
    sign = np.where(y == 1, 1.0, -1.0)
    z = np.maximum(0.0, 1.0 - sign * (X @ ours[:-1] + ours[-1]))
    grad = ours - np.r_[X.T @ (2 * c * z * sign), np.sum(2 * c * z * sign)]
    assert np.linalg.norm(grad) < 1e-7


def test_svm_warm_start_gives_the_cold_solution() -> None:
    X, y = _problem(4, 200)
    labelled = np.arange(60)
    first = fit_linear_svm(X[labelled], y[labelled], 0.11 * balance_weights(y[labelled], 9.8))
    more = np.arange(75)
    c = 0.11 * balance_weights(y[more], 9.8)
    warm = fit_linear_svm(X[more], y[more], c, start=first)
    cold = fit_linear_svm(X[more], y[more], c)
    assert np.max(np.abs(warm - cold)) < 1e-8
    assert not np.allclose(first, cold, atol=1e-4)  # the new records did move the solution


@pytest.mark.filterwarnings("ignore:Liblinear failed to converge")
def test_svm_separable_data_leaves_records_outside_the_margin() -> None:
    # A large cost separates the classes: some records sit beyond the margin, so the active
    # set is smaller than the training set and the Newton steps must handle it.
    X, y = _problem(6)
    c = np.full(len(y), 50.0)
    ours = fit_linear_svm(X, y, c)
    sign = np.where(y == 1, 1.0, -1.0)
    margins = sign * (X @ ours[:-1] + ours[-1])
    assert np.any(margins > 1.0)
    lib = LinearSVC(C=50.0, tol=1e-12, max_iter=1_000_000).fit(X.to_scipy(), y)
    theirs = np.r_[lib.coef_.ravel(), lib.intercept_]
    assert _objective(ours, X, y, c) <= _objective(theirs, X, y, c) + 1e-7


# ---------------------------------------------------------------------------------------------
# The exact top of the ranking
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6), st.floats(1e-4, 3.0))
def test_top_scores_equal_a_full_stable_sort(seed: int, k: int, step: float) -> None:
    rng = np.random.default_rng(seed)
    X, _ = _problem(seed % 7, 90)
    top = TopScores(X)
    pool = rng.random(X.shape[0]) < 0.7
    wb = rng.normal(size=X.shape[1] + 1)
    for _ in range(4):
        got = top.top(wb, pool, k)
        scores = X @ wb[:-1] + wb[-1]
        rows = np.flatnonzero(pool)
        want = rows[np.lexsort((rows, -scores[rows]))][:k]
        assert got.tolist() == want.tolist()
        pool[got[:1]] = False
        wb = wb + step * rng.normal(size=wb.shape) / np.sqrt(len(wb))


def test_top_scores_rescore_few_rows_for_a_small_move() -> None:
    X, _ = _problem(2, 400)
    top = TopScores(X)
    wb = np.random.default_rng(0).normal(size=X.shape[1] + 1)
    pool = np.ones(X.shape[0], dtype=bool)
    top.top(wb, pool, 1)
    assert top.n_full == 1
    top.top(wb * (1 + 1e-6), pool, 1)
    assert top.n_full == 1  # no full re-scoring: the bound ruled out all but the first rows
    top.top(-wb, pool, 1)
    assert top.n_full == 2  # a large move re-scores everything


# ---------------------------------------------------------------------------------------------
# The simulation loop
def test_growth_retrains_less_and_keeps_the_priors() -> None:
    X, y = _problem(9, 300)
    from metareview.screening.active import Features

    feats = Features(X)
    every = simulate(feats, y, seeds=(0, 1), growth=0)
    grown = simulate(feats, y, seeds=(0, 1), growth=0.1)
    for a, b in zip(every.runs, grown.runs, strict=True):
        assert a.prior == b.prior
        assert b.n_retrains < a.n_retrains
        assert sorted(b.order.tolist()) == sorted(a.order.tolist())
        # a relevant record beyond the first of a stretch ends it: each retraining covers at
        # most two of the relevant records found
        assert b.n_retrains >= (int(y.sum()) - 1) // 2
    with pytest.raises(InputError, match="retraining growth"):
        simulate(feats, y, growth=1.5)


def test_unused_bad_cells_are_warnings(tmp_path) -> None:
    path = tmp_path / "labelled.csv"
    path.write_text("title,abstract,doi,year,label_included\n"
                    "Aspirin trial,stroke patients,10.1000/abc,2001,1\n"
                    "Soil,nitrogen,https://dx.doi.org/S0004-1234,20x1,0\n"
                    "Stars,halo,,1999,0\n"
                    "Aspirin dose,stroke,10.1000/d,2003,1\n", encoding="utf-8")
    notes: list[str] = []
    texts, labels = read_labelled(path, warnings=notes)
    assert labels.tolist() == [1, 0, 0, 1]
    assert texts[1] == "Soil nitrogen"
    assert notes == ["labelled.csv row 3, column year: not a year ('20x1')",
                     "labelled.csv row 3, column doi: not a DOI "
                     "('https://dx.doi.org/S0004-1234')"]
    result = CliRunner().invoke(app, ["simulate", str(path), "--seeds", "0", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "metareview: warning: labelled.csv row 3, column doi: not a DOI" in result.output
    # A bad label is still an error: the simulation uses that column.
    path.write_text("title,abstract,label_included\nA,b,7\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["simulate", str(path), "--seeds", "0"])
    assert result.exit_code == 2
    assert "row 2, column label_included: not a label" in result.output


def test_record_text_joins_title_and_abstract() -> None:
    assert record_text("T", "A") == "T A"


def test_cli_default_growth_is_the_library_default() -> None:
    import inspect

    from metareview.cli.analysis import simulate as cli_simulate
    from metareview.screening.simulate import RETRAIN_GROWTH

    default = inspect.signature(cli_simulate).parameters["retrain_growth"].default
    assert default == RETRAIN_GROWTH == inspect.signature(simulate).parameters["growth"].default


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_tokens_equal_scikit_learns_pattern_on_any_unicode(text: str) -> None:
    import re

    from metareview.screening import tfidf

    want = re.findall(r"(?u)\b\w\w+\b", text.lower())  # TfidfVectorizer's token_pattern
    assert tfidf._tokens(text) == want


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aZ_9é٣ßİ -.,'\u200b\t", max_size=40))
def test_tokens_equal_scikit_learns_pattern_on_dense_word_runs(text: str) -> None:
    # Runs of one and of several word characters side by side (Latin, Arabic-Indic digits,
    # the underscore, letters whose lower case grows): where a pattern without word
    # boundaries could split or join a run.
    import re

    from metareview.screening import tfidf

    assert tfidf._tokens(text) == re.findall(r"(?u)\b\w\w+\b", text.lower())


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=60),
                 st.text(alphabet=st.characters(max_codepoint=127), max_size=60),
                 st.text(alphabet="aZ_9 -.,'\t\n\x00\x7f", max_size=40)))
def test_token_bytes_are_the_tokens_in_utf8_with_single_letters(text: str) -> None:
    # The ASCII path (translate and split) keeps runs of one character, which the caller
    # drops; everything else is the tokens of the regular expression, in UTF-8.
    from metareview.screening import tfidf

    got = tfidf._token_bytes(text)
    assert [t for t in got if len(t) > 1] == [t.encode("utf-8", "surrogatepass")
                                              for t in tfidf._tokens(text)]
    # A token of one character is one byte (the caller drops tokens by their length).
    assert not [t for t in got if len(t) > 1 and len(t.decode("utf-8", "surrogatepass")) < 2]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 6), max_size=9), min_size=1, max_size=8),
       st.integers(1, 3), st.integers(0, 2))
def test_occurrences_by_radix_equal_the_packed_sort(docs: list[list[int]], lo: int,
                                                    extra: int) -> None:
    from metareview.screening import tfidf

    hi = lo + extra
    ids = np.array([t for d in docs for t in d], dtype=np.int64)
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    term, doc = tfidf._occurrences(ids, lengths, lo, hi, 8)
    old = tfidf._RADIX_BASE
    try:
        tfidf._RADIX_BASE = 0  # the packed sort
        term2, doc2 = tfidf._occurrences(ids, lengths, lo, hi, 8)
    finally:
        tfidf._RADIX_BASE = old
    assert np.array_equal(term, term2) and np.array_equal(doc, doc2)
    # Every n-gram occurrence once, sorted by (term, record).
    want = sorted((sum((d[i + j] + 1) * 8 ** (hi - 1 - j) if j < n else 0 for j in range(hi)),
                   r) for r, d in enumerate(docs) for n in range(lo, hi + 1)
                  for i in range(len(d) - n + 1))
    assert list(zip(term.tolist(), doc.tolist(), strict=True)) == want


@pytest.mark.parametrize("n_rows, n_cols", [(300, 50), (2 ** 16, 40), (70_000, 40),
                                            (70_000, 2 ** 50)])
def test_entries_to_rows_by_every_sort(n_rows: int, n_cols: int) -> None:
    # tfidf._to_rows: radix sort of 16-bit rows, the packed sort above 65,536 rows, and the
    # stable argsort where (row, col, count) cannot be packed into 63 bits.
    from metareview.screening import tfidf

    rng = np.random.default_rng(n_rows)
    pairs = np.unique(np.column_stack([rng.integers(0, n_rows, 3000),
                                       rng.integers(0, min(n_cols, 10 ** 6), 3000)]), axis=0)
    row, col = pairs[:, 0], pairs[:, 1]  # sorted by row, then column: the CSR order
    count = rng.integers(1, 9, len(row))
    cm = np.lexsort((row, col))  # column-major, as tfidf_matrix builds them
    data, indices, indptr = tfidf._to_rows(row[cm], col[cm], count[cm], n_rows, n_cols)
    want_ptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=n_rows))])
    assert np.array_equal(indptr, want_ptr)
    assert np.array_equal(indices, col) and np.array_equal(data, count.astype(float))
    assert indices.dtype == (np.int32 if n_cols < 2 ** 31 else np.int64)
