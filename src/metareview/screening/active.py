"""Active learning for title/abstract screening: TF-IDF features, a classifier, a query strategy.

The model follows ASReview LAB (van de Schoot et al. 2021, Nat Mach Intell 3:125), whose
vocabulary screeners know:

* **Features.** TF-IDF of title + abstract, unigrams and bigrams, sublinear term frequency,
  computed *once* per dataset (:func:`tfidf_features`). Every retraining refits only the
  classifier on the rows labelled so far, and scores every row with one sparse matrix-vector
  product, so a retraining on 50,000 records takes a fraction of a second.
* **Classifiers** (all linear in the features): ``"svm"`` (linear SVM, squared hinge loss,
  scores are margins), ``"logistic"`` (L2 logistic regression, scores are log-odds), ``"nb"``
  (multinomial naive Bayes, scores are log-odds, which keep their order where the probabilities
  saturate at 1).
* **Query strategies.** ``"certainty"`` (ASReview's *max*: highest score first),
  ``"uncertainty"`` (score closest to the decision boundary first: margin 0 or log-odds 0),
  ``"mixed"`` (ASReview's *max_random*: each position is taken from the certainty ranking with
  probability 0.95 and from a random permutation otherwise, first occurrence kept), and
  ``"random"`` (a seeded permutation: the baseline).
* **Class balancing** (ASReview 2+/3 ``balanced`` sample weights): positives weigh 1 each and
  negatives ``n_pos / (ratio * n_neg)`` each, so that the positive class carries ``ratio``
  times the total weight of the negative class (``ratio = 1`` is scikit-learn's
  ``class_weight="balanced"``); the weights are then rescaled to sum to the number of labelled
  records. ``balance=True`` uses the classifier's default ratio (:data:`DEFAULT_RATIO`).
* **Cold start.** Until at least one relevant and one irrelevant record are labelled there is
  nothing to learn from; the records are then ranked in a seeded random order and the
  :class:`Ranking` says so (``fallback``). ASReview 3 shows them in file order instead; a random
  order avoids favouring whatever the database export happened to put first.

The hyper-parameters of :data:`DEFAULTS` are ASReview 3.0's ``elas_u4`` (SVM, ``C = 0.11``,
balance ratio 9.8, optimised by its authors on the SYNERGY datasets) and ``elas_u3`` (naive
Bayes, ``alpha = 3.822``, ratio 1.2); for logistic regression, ``C = 1`` and ratio 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metareview.errors import InputError
from metareview.screening.csr import CSRMatrix
from metareview.screening.svm import fit_linear_svm
from metareview.screening.tfidf import tfidf_matrix

__all__ = [
    "CLASSIFIERS",
    "DEFAULTS",
    "DEFAULT_RATIO",
    "QUERIES",
    "Features",
    "Learner",
    "Ranking",
    "as_label_array",
    "balance_weights",
    "fit_scores",
    "query_order",
    "rank_records",
    "record_text",
    "tfidf_features",
]

#: Classifier names.
CLASSIFIERS = ("svm", "logistic", "nb")
#: Query strategy names.
QUERIES = ("certainty", "uncertainty", "mixed", "random")
#: Each classifier's regularisation (``C`` for svm/logistic, ``alpha`` for nb).
DEFAULTS: dict[str, float] = {"svm": 0.11, "logistic": 1.0, "nb": 3.822}
#: Each classifier's default balance ratio (used when ``balance=True``).
DEFAULT_RATIO: dict[str, float] = {"svm": 9.8, "logistic": 1.0, "nb": 1.2}
#: Probability that a "mixed" query takes the next record from the certainty ranking.
MIX_PROBABILITY = 0.95


# ---------------------------------------------------------------------------------------------
# Features
def record_text(title: str | None, abstract: str | None) -> str:
    """The text a record is classified by: title and abstract joined by a space.

    Missing parts count as empty, as ASReview's ``TextMerger`` does.
    """
    return " ".join(s for s in (title or "", abstract or "") if s).strip()


@dataclass(frozen=True, eq=False)
class Features:
    """A TF-IDF matrix, one row per record, fitted once per dataset.

    Attributes
    ----------
    matrix : CSRMatrix
        ``n_records x n_terms``, rows L2-normalised.
    settings : dict
        The vectoriser settings that produced it.
    """

    matrix: CSRMatrix
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_records(self) -> int:
        """Number of rows (records)."""
        return int(self.matrix.shape[0])

    @property
    def n_terms(self) -> int:
        """Number of columns (terms: unigrams and bigrams)."""
        return int(self.matrix.shape[1])

    def summary(self) -> str:
        """One line for people."""
        return (f"TF-IDF features: {self.n_records:,} records x {self.n_terms:,} terms "
                f"({self.matrix.nnz:,} non-zero)")

    def to_dict(self) -> dict[str, Any]:
        """Shape and settings (the matrix itself is not JSON)."""
        return {"n_records": self.n_records, "n_terms": self.n_terms,
                "nnz": int(self.matrix.nnz), "settings": dict(self.settings)}


def tfidf_features(
    texts: Sequence[str],
    *,
    ngram_range: tuple[int, int] = (1, 2),
    min_df: int | float = 1,
    max_df: int | float = 0.95,
    sublinear_tf: bool = True,
    stop_words: str | None = None,
) -> Features:
    """TF-IDF features of record texts (title + abstract, see :func:`record_text`).

    Parameters
    ----------
    texts : sequence of str
        One text per record.
    ngram_range : (int, int)
        Smallest and largest n-gram; unigrams and bigrams by default.
    min_df, max_df : int or float
        Drop terms in fewer than ``min_df`` or more than ``max_df`` records (a float is a
        fraction of the records). ``max_df = 0.95`` drops terms in nearly every record; it is
        not applied to fewer than 20 records, where it would drop most of the vocabulary.
    sublinear_tf : bool
        Use ``1 + log(tf)`` for the term frequency (ASReview ``elas_u4``).
    stop_words : {"english", None}
        Drop scikit-learn's English stop words.

    Returns
    -------
    Features

    Raises
    ------
    InputError
        If there are no texts, or no term survives (every text empty, or every term in nearly
        every record).
    """
    texts = ["" if t is None else str(t) for t in texts]
    if not texts:
        raise InputError("screening records: no records to build features from")
    # With very few records max_df as a fraction would drop every term; it only makes sense
    # as a frequency cut-off in a real corpus.
    use_max_df = max_df if len(texts) >= 20 else 1.0
    settings = {"ngram_range": tuple(ngram_range), "min_df": min_df, "max_df": use_max_df,
                "sublinear_tf": sublinear_tf, "stop_words": stop_words}
    words = None
    if stop_words is not None:
        if stop_words != "english":
            raise InputError(f"stop words {stop_words!r}: expected 'english' or none")
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        words = frozenset(ENGLISH_STOP_WORDS)
    try:
        matrix = tfidf_matrix(texts, ngram_range=tuple(ngram_range), min_df=min_df,
                              max_df=use_max_df, sublinear_tf=sublinear_tf, stop_words=words)
    except ValueError as exc:  # "empty vocabulary" / "no terms remain"
        raise InputError(f"screening records: cannot build text features ({exc})") from exc
    return Features(matrix, settings)


# ---------------------------------------------------------------------------------------------
# Labels
def as_label_array(labels: Mapping[int, Any] | Sequence[Any] | np.ndarray,
                   n_records: int) -> np.ndarray:
    """Labels as an int8 array: 1 relevant, 0 irrelevant, -1 not yet labelled.

    Parameters
    ----------
    labels : mapping or array_like
        Either ``{record index: bool}`` for the labelled records, or one value per record:
        ``1``/``True`` relevant, ``0``/``False`` irrelevant, ``-1`` or ``None`` unlabelled.
    n_records : int
        Number of records.

    Raises
    ------
    InputError
        For an index out of range, a value other than those above, or a length mismatch.
    """
    out = np.full(n_records, -1, dtype=np.int8)
    if isinstance(labels, Mapping):
        for key, value in labels.items():
            i = int(key)
            if not 0 <= i < n_records:
                raise InputError(f"screening labels: record index {key} is outside "
                                 f"0..{n_records - 1}")
            out[i] = _label_value(value, i)
        return out
    seq = list(labels)
    if len(seq) != n_records:
        raise InputError(f"screening labels: {len(seq)} labels for {n_records} records")
    for i, value in enumerate(seq):
        out[i] = _label_value(value, i)
    return out


def _label_value(value: Any, i: int) -> int:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return -1
    if isinstance(value, bool | np.bool_):
        return int(value)
    try:
        v = int(value)
    except (TypeError, ValueError):
        v = None
    if v is None or v != value or v not in (-1, 0, 1):
        raise InputError(f"screening labels: record {i} has label {value!r}; expected 1 "
                         "(relevant), 0 (irrelevant) or -1 (not labelled)")
    return v


# ---------------------------------------------------------------------------------------------
# The model
@dataclass(frozen=True)
class Learner:
    """Active-learning settings: classifier, query strategy, balancing.

    Parameters
    ----------
    classifier : {"svm", "logistic", "nb"}
    query : {"certainty", "uncertainty", "mixed", "random"}
    balance : bool or float
        ``True``: balance with the classifier's :data:`DEFAULT_RATIO`; ``False``: unweighted;
        a positive number: that ratio of total positive to total negative weight.
    regularisation : float, optional
        ``C`` (svm, logistic) or ``alpha`` (nb); the classifier's :data:`DEFAULTS` if omitted.
    mix_probability : float
        For ``query="mixed"``, the chance of taking the next record from the certainty ranking.
    """

    classifier: str = "svm"
    query: str = "certainty"
    balance: bool | float = True
    regularisation: float | None = None
    mix_probability: float = MIX_PROBABILITY

    def __post_init__(self) -> None:
        if self.classifier not in CLASSIFIERS:
            raise InputError(f"classifier {self.classifier!r}: expected one of "
                             f"{', '.join(CLASSIFIERS)}")
        if self.query not in QUERIES:
            raise InputError(f"query strategy {self.query!r}: expected one of {', '.join(QUERIES)}")
        if not isinstance(self.balance, bool) and not (
                isinstance(self.balance, int | float) and math.isfinite(self.balance)
                and self.balance > 0):
            raise InputError(f"balance {self.balance!r}: expected true, false or a positive ratio")
        if self.regularisation is not None and not (
                math.isfinite(self.regularisation) and self.regularisation > 0):
            raise InputError(f"regularisation {self.regularisation!r}: expected a positive number")
        if not 0.0 <= self.mix_probability <= 1.0:
            raise InputError(f"mix probability {self.mix_probability!r}: expected 0..1")

    @property
    def ratio(self) -> float | None:
        """The balance ratio in use, or None when unweighted."""
        if self.balance is False:
            return None
        if self.balance is True:
            return DEFAULT_RATIO[self.classifier]
        return float(self.balance)

    @property
    def strength(self) -> float:
        """``C`` or ``alpha`` in use."""
        return DEFAULTS[self.classifier] if self.regularisation is None else self.regularisation

    @property
    def score_kind(self) -> str:
        """What the scores are: ``"margin"`` (svm) or ``"log-odds"``."""
        return "margin" if self.classifier == "svm" else "log-odds"

    def summary(self) -> str:
        """One line for people: classifier, strength, query, balance ratio."""
        ratio = "none" if self.ratio is None else f"{self.ratio:g}"
        return (f"{self.classifier} (strength {self.strength:g}), query {self.query}, "
                f"balance ratio {ratio}")

    def to_dict(self) -> dict[str, Any]:
        """Plain settings."""
        return {"classifier": self.classifier, "query": self.query, "balance_ratio": self.ratio,
                "regularisation": self.strength, "mix_probability": self.mix_probability}


def balance_weights(y: np.ndarray, ratio: float | None) -> np.ndarray | None:
    """ASReview's ``balanced`` sample weights (None when ``ratio`` is None).

    Positives weigh 1, negatives ``n_pos / (ratio * n_neg)``, then all are rescaled so the
    weights sum to ``len(y)``.
    """
    if ratio is None:
        return None
    y = np.asarray(y)
    n_pos = int(np.count_nonzero(y == 1))
    n_neg = len(y) - n_pos
    w = np.where(y == 1, 1.0, n_pos / (ratio * n_neg))
    return w * (len(y) / w.sum())


def fit_scores(X: CSRMatrix, labelled: np.ndarray, y: np.ndarray, learner: Learner,
               seed: int | None = None) -> np.ndarray:
    """Fit the classifier on the labelled rows and score every row of ``X``.

    Parameters
    ----------
    X : CSRMatrix
        Features of all records.
    labelled : array of int
        Row indices of the labelled records.
    y : array of int
        Their labels (1 relevant, 0 irrelevant); both classes must occur.
    learner : Learner
    seed : int, optional
        Seeds the solver's coordinate order (svm, logistic).

    Returns
    -------
    numpy.ndarray
        One score per row of ``X``: higher means more likely relevant (margin or log-odds,
        see :attr:`Learner.score_kind`).
    """
    Xl = X[labelled]
    w = balance_weights(y, learner.ratio)
    if learner.classifier == "svm":
        cost = learner.strength * (np.ones(len(y)) if w is None else w)
        wb = fit_linear_svm(Xl, y, cost)
        coef, intercept = wb[:-1], float(wb[-1])
    elif learner.classifier == "nb":
        from sklearn.naive_bayes import MultinomialNB

        nb = MultinomialNB(alpha=learner.strength).fit(Xl.to_scipy(), y, sample_weight=w)
        coef = nb.feature_log_prob_[1] - nb.feature_log_prob_[0]
        intercept = nb.class_log_prior_[1] - nb.class_log_prior_[0]
    else:
        from sklearn.linear_model import LogisticRegression

        # The dual solver: far faster than the primal when, as here, records are fewer
        # than terms (same L2 objective).
        model = LogisticRegression(C=learner.strength, solver="liblinear", dual=True,
                                   random_state=seed)
        model.fit(Xl.to_scipy(), y, sample_weight=w)
        coef = model.coef_.ravel()
        intercept = float(model.intercept_[0])
    # The decision function written out: scikit-learn's re-validates the whole matrix each call.
    return X @ np.asarray(coef, dtype=np.float64) + intercept


def query_order(scores: np.ndarray, query: str, rng: np.random.Generator,
                mix_probability: float = MIX_PROBABILITY) -> np.ndarray:
    """Positions ``0..len(scores)-1`` in the order a query strategy shows them.

    Ties keep their original order (stable sorts), as ASReview's queriers do.
    """
    n = len(scores)
    if query == "random":
        return rng.permutation(n)
    if query == "uncertainty":
        return np.argsort(np.abs(scores), kind="stable")
    top = np.argsort(-scores, kind="stable")
    if query == "certainty" or n == 0:
        return top
    # mixed: ASReview's _mix_indices, vectorised. Each draw picks the certainty list with
    # probability p, else the random list, until one list runs out; the first occurrence of
    # each record is kept. The records never drawn follow in certainty order (ASReview
    # drops them, which only matters for a full ranking, never for the next record).
    rand = rng.permutation(n)
    take_top = rng.random(2 * n) < mix_probability
    i_top = np.cumsum(take_top) - 1
    i_rand = np.cumsum(~take_top) - 1
    stop = np.flatnonzero((i_top >= n) | (i_rand >= n))
    m = stop[0] if len(stop) else 2 * n
    picks = np.where(take_top[:m], top[np.minimum(i_top[:m], n - 1)],
                     rand[np.minimum(i_rand[:m], n - 1)])
    _, first = np.unique(picks, return_index=True)
    mixed = picks[np.sort(first)]
    seen = np.zeros(n, dtype=bool)
    seen[mixed] = True
    return np.concatenate([mixed, top[~seen[top]]])


# ---------------------------------------------------------------------------------------------
# Ranking the unlabelled records
@dataclass(frozen=True, eq=False)
class Ranking:
    """The unlabelled records in the order to screen them.

    Attributes
    ----------
    order : numpy.ndarray
        Record indices (rows of the input), first to screen first.
    scores : numpy.ndarray
        The classifier's score of each record in ``order`` (NaN when there is no model).
    learner : Learner
        Settings used.
    n_labelled, n_relevant : int
        Labelled records, and how many of them are relevant.
    fallback : str or None
        Why the order is random rather than model-based (no relevant or no irrelevant label
        yet), or None.
    """

    order: np.ndarray
    scores: np.ndarray
    learner: Learner
    n_labelled: int
    n_relevant: int
    fallback: str | None = None

    def summary(self) -> str:
        """A few lines for people."""
        head = (f"Ranking of {len(self.order):,} unlabelled records "
                f"({self.n_labelled:,} labelled, {self.n_relevant:,} relevant)")
        if self.fallback:
            return f"{head}\n  random order: {self.fallback}"
        lines = [head, f"  model: {self.learner.summary()}"]
        k = min(5, len(self.order))
        if k:
            top = ", ".join(f"#{i} ({s:.3g})" for i, s in
                            zip(self.order[:k].tolist(), self.scores[:k].tolist(), strict=True))
            lines.append(f"  next: {top}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (NaN scores become None)."""
        return {
            "order": self.order.tolist(),
            "scores": [None if not math.isfinite(s) else s for s in self.scores.tolist()],
            "score_kind": None if self.fallback else self.learner.score_kind,
            "learner": self.learner.to_dict(),
            "n_labelled": self.n_labelled,
            "n_relevant": self.n_relevant,
            "fallback": self.fallback,
        }


def rank_records(
    texts: Sequence[str] | Features,
    labels: Mapping[int, Any] | Sequence[Any] | np.ndarray,
    *,
    classifier: str = "svm",
    query: str = "certainty",
    balance: bool | float = True,
    regularisation: float | None = None,
    seed: int | None = None,
) -> Ranking:
    """Rank the unlabelled records by the model trained on the labelled ones.

    Parameters
    ----------
    texts : sequence of str or Features
        Record texts (title + abstract, see :func:`record_text`), or features already built
        with :func:`tfidf_features` (reuse them across retrainings).
    labels : mapping or array_like
        ``{record index: bool}``, or one value per record with ``-1``/``None`` for unlabelled
        (see :func:`as_label_array`).
    classifier, query, balance, regularisation
        See :class:`Learner`.
    seed : int, optional
        Seeds the random parts (mixed and random queries, the cold-start order, the solver).

    Returns
    -------
    Ranking
        Model-based when at least one relevant and one irrelevant record are labelled;
        otherwise a seeded random order with ``fallback`` saying why.

    Raises
    ------
    InputError
        For unknown settings or malformed labels.
    """
    learner = Learner(classifier=classifier, query=query, balance=balance,
                      regularisation=regularisation)
    features = texts if isinstance(texts, Features) else tfidf_features(texts)
    y_all = as_label_array(labels, features.n_records)
    rng = np.random.default_rng(seed)
    labelled = np.flatnonzero(y_all >= 0)
    pool = np.flatnonzero(y_all < 0)
    y = y_all[labelled].astype(np.int64)
    n_rel = int(y.sum())
    n_irr = len(y) - n_rel
    if n_rel == 0 or n_irr == 0:
        why = ("no records labelled yet" if len(y) == 0 else
               "no relevant record labelled yet" if n_rel == 0 else
               "no irrelevant record labelled yet")
        order = pool[rng.permutation(len(pool))]
        return Ranking(order, np.full(len(order), np.nan), learner, len(y), n_rel, why)
    scores = fit_scores(features.matrix, labelled, y, learner, seed)[pool]
    pos = query_order(scores, learner.query, rng, learner.mix_probability)
    return Ranking(pool[pos], scores[pos], learner, len(y), n_rel)
