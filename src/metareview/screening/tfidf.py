"""TF-IDF of record texts, the same numbers as scikit-learn's ``TfidfVectorizer``.

Written out with numpy alone because importing scikit-learn's text module costs
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

from metareview.screening.csr import CSRMatrix

__all__ = ["tfidf_matrix"]

# scikit-learn's token pattern (?u)\b\w\w+\b matches exactly the maximal runs of word
# characters that are at least two long, and so does \w\w+ without the boundary tests: greedy,
# it takes a whole run from its first character, and fails only on a run of one. Python's re
# finds it faster than the pattern with boundaries or \w+ filtered by length (0.26 s against
# 0.30 s over van de Schoot 2017's 9 MB of titles and abstracts, by hand).
_TOKEN = re.compile(r"\w\w+")


def _tokens(text: str) -> list[str]:
    """The tokens scikit-learn's default pattern finds in ``text`` lower-cased."""
    return _TOKEN.findall(text.lower())


# Every byte but ASCII's word characters becomes a space, for bytes.translate.
_WORD = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
_SPACES = bytes(b if b in _WORD else 0x20 for b in range(256))


def _token_bytes(text: str) -> list[bytes]:
    """:func:`_tokens` of ``text`` in UTF-8, and the single ASCII word characters among them.

    In ASCII the word characters are ``[0-9A-Za-z_]``, so the runs of them are what
    ``bytes.split`` leaves once every other byte is a space: about half the time of the
    regular expression (the caller drops the one-byte runs, as it drops stop words). Other
    texts take the regular expression.
    """
    if text.isascii():
        return text.encode("ascii").lower().translate(_SPACES).split()
    return [t.encode("utf-8", "surrogatepass") for t in _TOKEN.findall(text.lower())]


class _Vocabulary(dict):
    """Token -> id in order of first sight; a new token is added on lookup (the lookups of
    known tokens, nearly all of them, stay in C through ``map``)."""

    def __missing__(self, token: str) -> int:
        self[token] = i = len(self)
        return i


def _doc_count(value: int | float, n: int) -> float:
    # scikit-learn: an int is a number of records, a float a share of them.
    return value if isinstance(value, Integral) else value * n


def tfidf_matrix(texts: Sequence[str], *, ngram_range: tuple[int, int] = (1, 2),
                 min_df: int | float = 1, max_df: int | float = 1.0,
                 sublinear_tf: bool = True,
                 stop_words: frozenset[str] | None = None) -> CSRMatrix:
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
    CSRMatrix
        ``len(texts) x n_terms``, float64.

    Raises
    ------
    ValueError
        If no term occurs, or none is left after the document-frequency bounds (the messages
        of scikit-learn).
    """
    lo, hi = ngram_range
    n_docs = len(texts)
    # Token ids in order of first sight, streamed record by record: the token strings of a
    # record are dropped once looked up (a list of all of them would hold ~100 MB at 6,000
    # records), then the ids are renumbered to the tokens' sorted order.
    vocab = _Vocabulary()
    lengths = np.empty(n_docs, dtype=np.int64)
    parts: list[np.ndarray] = []
    for i, text in enumerate(texts):
        tokens = _token_bytes(text)
        lengths[i] = len(tokens)
        parts.append(np.fromiter(map(vocab.__getitem__, tokens), dtype=np.int64,
                                 count=len(tokens)))
    words = list(vocab)
    ids = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    del parts
    # Single characters (only ASCII ones reach here) and stop words leave the token stream
    # before n-grams are formed.
    drop = np.fromiter((len(w) == 1 for w in words), dtype=bool, count=len(words))
    if stop_words:
        stop = {w.encode("utf-8", "surrogatepass") for w in stop_words}
        drop |= np.fromiter((w in stop for w in words), dtype=bool, count=len(words))
    if drop.any():
        kept = np.zeros(len(ids) + 1, dtype=np.int64)
        keep = ~drop[ids]
        np.cumsum(keep, out=kept[1:])
        ends = np.cumsum(lengths)
        lengths = kept[ends] - kept[ends - lengths]
        ids = ids[keep]
    # Tokens -> ranks in sorted order (UTF-8 bytes sort as their strings do). Every n-gram is
    # then a tuple of ranks, and sorting the tuples sorts the n-gram strings: tokens are word
    # characters, all above the space that joins them, so "a b" sorts as the pair ("a", "b")
    # and a token before its own n-grams.
    rank = np.empty(len(words), dtype=np.int64)
    rank[sorted(range(len(words)), key=words.__getitem__)] = np.arange(len(words))
    ids = rank[ids]
    term, doc = _occurrences(ids, lengths, lo, hi, len(words) + 1)
    del ids
    if len(term) == 0:
        raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
    # Runs of one term in one record: their length is the count.
    new = np.ones(len(term), dtype=bool)
    np.not_equal(term[1:], term[:-1], out=new[1:])
    new[1:] |= doc[1:] != doc[:-1]
    first = np.flatnonzero(new)
    del new
    key, row = term[first], doc[first]
    count = np.diff(np.append(first, len(term)))
    del term, doc, first
    new_term = np.ones(len(key), dtype=bool)
    np.not_equal(key[1:], key[:-1], out=new_term[1:])
    # Columns in the terms' sorted order, as scikit-learn's vocabulary_ is.
    col = np.cumsum(new_term) - 1
    df = np.diff(np.append(np.flatnonzero(new_term), len(key)))
    if _doc_count(max_df, n_docs) < _doc_count(min_df, n_docs):
        raise ValueError("max_df corresponds to < documents than min_df")
    keep = (df <= _doc_count(max_df, n_docs)) & (df >= _doc_count(min_df, n_docs))
    n_terms = int(keep.sum())
    if n_terms == 0:
        raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
    if n_terms < len(df):
        kept = keep[col]
        col = (np.cumsum(keep) - 1)[col[kept]]
        row, count = row[kept], count[kept]
        df = df[keep]
    data, indices, indptr = _to_rows(row, col, count, n_docs, n_terms)
    tf = CSRMatrix(data, indices, indptr, (n_docs, n_terms))
    if sublinear_tf:
        np.log(tf.data, out=tf.data)
        tf.data += 1.0
    idf = np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
    tf.data *= idf[tf.indices]
    norms = np.sqrt(np.bincount(tf.row_ids, tf.data ** 2, minlength=n_docs))
    tf.data /= norms[tf.row_ids]  # an empty row has no entries to scale
    return tf


#: Largest base (distinct tokens + 1) whose digits are sorted as 16-bit integers.
_RADIX_BASE = 2 ** 16


def _occurrences(ids: np.ndarray, lengths: np.ndarray, lo: int, hi: int, base: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Every n-gram occurrence (n from ``lo`` to ``hi``) of the records' token ranks ``ids``
    (``lengths`` per record), sorted by term in the terms' string order, then by record:
    ``(term, record)``, where ``term`` is an integer that sorts as the terms do.

    The term's digits (in ``base``: distinct tokens + 1) are the n-gram's tokens' ranks + 1,
    then 0 for the tokens a shorter n-gram lacks, so that it sorts before its own extensions:
    integer order is then the n-grams' string order. The occurrences of each n are generated
    in record order and a term has one n, so a stable sort by term alone leaves each term's
    records in order. With fewer than 65,536 distinct tokens the sort is by digit, least
    significant first, each a stable sort of 16-bit integers that numpy does by radix in
    linear time (about 0.1 s at 2.6 million occurrences, against 0.15 s for sorting packed
    64-bit keys, by hand); otherwise one sort of ``term * records + record``. Built in place
    where it can be: at 6,000 records each temporary is 20 MB, and fresh memory costs the
    kernel more time to hand out than the arithmetic on it.
    """
    n_docs = len(lengths)
    starts = [_starts(lengths, n) for n in range(lo, hi + 1)]
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int32 if n_docs < 2 ** 31 else np.int64),
                       lengths)
    doc = np.concatenate([doc_of[start] for start in starts])
    del doc_of
    small = base <= _RADIX_BASE and base ** hi < 2 ** 63

    def digit(j: int) -> np.ndarray:
        kind = np.uint16 if small else np.int64
        return np.concatenate([(ids[start + j] + 1).astype(kind, copy=False) if j < n
                               else np.zeros(len(start), kind)
                               for n, start in zip(range(lo, hi + 1), starts, strict=True)])

    if small:
        order = np.argsort(digit(hi - 1), kind="stable")
        for j in range(hi - 2, -1, -1):
            order = order[np.argsort(digit(j)[order], kind="stable")]
        term = digit(0)[order].astype(np.int64)
        for j in range(1, hi):
            term *= base
            term += digit(j)[order]
        return term, doc[order]
    key, top = digit(0), base  # every key is below top
    for j in range(1, hi):
        if top * base >= 2 ** 63:  # replace the key by its rank, which keeps the order
            distinct, key = np.unique(key, return_inverse=True)
            top = len(distinct)
        key *= base
        key += digit(j)
        top *= base
    if top * max(n_docs, 1) >= 2 ** 63:
        distinct, key = np.unique(key, return_inverse=True)
    key *= n_docs
    key += doc
    key.sort()
    return np.divmod(key, n_docs)


def _to_rows(row: np.ndarray, col: np.ndarray, count: np.ndarray, n_rows: int,
             n_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays (columns sorted within rows) from entries in column-major order.

    A stable sort by row keeps the columns in order within each row. Up to 65,536 rows it
    sorts the rows as 16-bit integers, which numpy sorts by radix in linear time (about three
    times faster than the sort of packed 64-bit keys at 1.8 million entries, by hand); beyond,
    one sort of ``(row, col)`` packed with the count below them, which keeps the count with
    its entry without an argsort (several times slower than a sort).
    """
    index_type = np.int32 if n_cols < 2 ** 31 else np.int64
    top = int(count.max()) if len(count) else 1  # packed below: (row, col, count) in 63 bits
    if n_rows <= 2 ** 16:
        order = np.argsort(row.astype(np.uint16), kind="stable")
        row = row[order]
        col = col.astype(index_type)[order]
        count = count.astype(np.float64)[order]
    elif n_rows * n_cols * (top + 1) < 2 ** 63:
        packed = np.sort((row * n_cols + col) * (top + 1) + count.astype(np.int64))
        cell, count = np.divmod(packed, top + 1)
        row, col = np.divmod(cell, n_cols)
    else:  # too many cells to pack
        order = np.argsort(row, kind="stable")
        row, col, count = row[order], col[order], count[order]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=n_rows), out=indptr[1:])
    return count.astype(np.float64, copy=False), col.astype(index_type, copy=False), indptr


def _starts(lengths: np.ndarray, n: int) -> np.ndarray:
    """Positions in the flat token array where an n-gram starts within its own record."""
    ends = np.cumsum(lengths)
    begins = ends - lengths
    counts = np.maximum(lengths - n + 1, 0)
    return np.repeat(begins, counts) + (np.arange(counts.sum())
                                        - np.repeat(np.cumsum(counts) - counts, counts))
