"""TF-IDF of record texts, the same numbers as scikit-learn's ``TfidfVectorizer``.

Written out with numpy and ``scipy.sparse`` because importing scikit-learn's text module costs
about a second, longer than building the features of a few thousand records: a screening
command that starts, ranks and exits should not pay it. The definitions are scikit-learn's
(1.x) with the settings ASReview's ``elas_u4`` uses, so the matrix equals
``TfidfVectorizer(ngram_range, min_df, max_df, sublinear_tf, stop_words).fit_transform(texts)``
(the tests compare them):

* tokens: the lower-cased text's matches of ``(?u)\\b\\w\\w+\\b`` (two or more word
  characters), stop words removed, then n-grams of consecutive tokens joined by a space;
* term frequency: the count in the record, ``1 + ln(count)`` when sublinear;
* document frequency ``df``: records containing the term; terms with ``df`` above ``max_df``
  or below ``min_df`` (a float is a share of the records, an int a count) are dropped;
* ``idf = ln((1 + n) / (1 + df)) + 1`` (smoothed), and each row scaled to unit L2 norm
  (an empty row stays empty). Columns are the terms in sorted order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from numbers import Integral

import numpy as np
from scipy import sparse

__all__ = ["tfidf_matrix"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _doc_count(value: int | float, n: int) -> float:
    # scikit-learn: an int is a number of records, a float a share of them.
    return value if isinstance(value, Integral) else value * n


def tfidf_matrix(texts: Sequence[str], *, ngram_range: tuple[int, int] = (1, 2),
                 min_df: int | float = 1, max_df: int | float = 1.0,
                 sublinear_tf: bool = True,
                 stop_words: frozenset[str] | None = None) -> sparse.csr_matrix:
    """TF-IDF matrix of ``texts``, rows L2-normalised (see the module docstring).

    Parameters
    ----------
    texts : sequence of str
        One text per record.
    ngram_range : (int, int)
        Smallest and largest n-gram.
    min_df, max_df : int or float
        Document-frequency bounds (an int counts records, a float is a share of them).
    sublinear_tf : bool
        ``1 + ln(tf)`` instead of the raw count.
    stop_words : frozenset of str, optional
        Tokens dropped before n-grams are formed.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``len(texts) x n_terms``, float64.

    Raises
    ------
    ValueError
        If no term occurs, or none is left after the document-frequency bounds (the messages
        of scikit-learn).
    """
    lo, hi = ngram_range
    vocab: dict[str, int] = {}
    add = vocab.setdefault
    cols: list[int] = []
    indptr = [0]
    for text in texts:
        tokens = _TOKEN.findall(text.lower())
        if stop_words:
            tokens = [t for t in tokens if t not in stop_words]
        terms: list[str] = tokens if lo == 1 else []
        for n in range(max(lo, 2), hi + 1):
            terms = terms + [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        cols.extend(add(t, len(vocab)) for t in terms)
        indptr.append(len(cols))
    if not vocab:
        raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
    n_docs, n_terms = len(indptr) - 1, len(vocab)
    # Counts: duplicates within a row are summed by the COO -> CSR conversion.
    col = np.asarray(cols, dtype=np.int64)
    row = np.repeat(np.arange(n_docs), np.diff(np.asarray(indptr)))
    counts = sparse.csr_matrix((np.ones(len(col)), (row, col)), shape=(n_docs, n_terms))
    counts.sum_duplicates()
    df = np.bincount(counts.indices, minlength=n_terms)
    keep = (df <= _doc_count(max_df, n_docs)) & (df >= _doc_count(min_df, n_docs))
    if _doc_count(max_df, n_docs) < _doc_count(min_df, n_docs):
        raise ValueError("max_df corresponds to < documents than min_df")
    # Columns in the terms' sorted order, as scikit-learn's vocabulary_ is.
    names = np.array(list(vocab), dtype=object)
    sorted_cols = np.argsort(names, kind="stable")
    sorted_cols = sorted_cols[keep[sorted_cols]]
    if len(sorted_cols) == 0:
        raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
    tf = counts[:, sorted_cols].tocsr()
    tf.sort_indices()
    if sublinear_tf:
        np.log(tf.data, out=tf.data)
        tf.data += 1.0
    idf = np.log((1.0 + n_docs) / (1.0 + df[sorted_cols])) + 1.0
    tf.data *= idf[tf.indices]
    lengths = np.diff(tf.indptr)
    norms = np.sqrt(np.bincount(np.repeat(np.arange(n_docs), lengths), tf.data ** 2,
                                minlength=n_docs))
    tf.data /= np.repeat(norms, lengths)  # an empty row has no entries to scale
    return tf
