"""De-duplication of bibliographic records: exact identifiers, then blocked fuzzy matching.

How two records are judged
--------------------------
1. **Blocking.** Records are compared only with records that share a *blocking key*: the
   DOI; the PMID; the normalised title; its first or last 24 letters; its two rarest words;
   first author and year; volume and first page. One key is enough, so a duplicate is found
   when any one of these survives the differences between databases (a reworded preprint still
   shares first author and year; a title with a prefixed note still shares its last letters).
   A key shared by more than ``16`` records (a supplement DOI shared by hundreds of conference
   abstracts, the title "Editorial", a common surname and year) is searched by *sorted
   neighbourhood* instead: records sorted by title, each compared with the next 2; the blocks
   of title starts and ends also sorted by first author, and title ends by title read
   backwards. A record thus gets a bounded number of candidates however many records there
   are, and the work grows linearly.
2. **Exact stage.** Same DOI or same PMID is a duplicate (reason ``'doi'`` / ``'pmid'``) unless
   the titles announce different kinds of document (one is an erratum, a reply, a retraction
   notice or a protocol and the other is not) or the titles are unrelated (similarity < 0.5)
   *and* the first authors differ: conference supplements give every abstract the supplement's
   DOI, and errata are sometimes indexed with the article's DOI.
3. **Fuzzy stage.** Every other candidate pair gets a score, a sum of log-odds-like points
   (Fellegi–Sunter in spirit, weights set by hand and checked on ``bench/``):

   ========================  ====================================================
   evidence                  points
   ========================  ====================================================
   title similarity *t*      ``40 (t − 0.85)`` clipped to [−12, 6] (Indel ratio of
                             normalised titles); at most 2 for a short title
   year                      same +1; one apart −0.5 (e-pub vs print)
   first author              same +2; one name contains the other +1.5; else −3
   author lists              overlap ≥ 0.6 of the shorter +1.5; ≤ 0.25 −2
   journal                   compatible (abbreviations allowed) +1; else −1
   volume                    same +1.5; different −3
   first page                same +2.5 (+1 for page 1); different −3
   abstract start            similarity ≥ 0.9 +2; ≥ 0.75 +1; < 0.5 −2
   ========================  ====================================================

   Absent fields give 0. A pair is a duplicate when its score reaches ``threshold`` (default
   :data:`DEFAULT_THRESHOLD`) and nothing vetoes it. Vetoes: two different DOIs, two different
   PMIDs, years two or more apart (a review and its update), different numbers in the titles
   (*Part I* / *Part II*, *12-week* / *24-week*), different notice markers (erratum, reply,
   comment, retraction, protocol), different kinds of document (a working paper, report or
   meeting abstract and the article it became: :func:`~.normalize.document_kind`), and a
   repeated heading (*Editor's comments*, *In this issue*, *Book reviews*, or a title too
   short to identify anything) without the same first page or the same volume, issue and
   first author, and a review number (``CD012345``, kept by every update) with a year
   missing or another year (the Cochrane Database is published online only, so it has no
   e-pub year before a print year: another year is another version). Numbers and markers
   are compared only up to the cut when a database truncated one title and the pages or an
   identifier agree.

   Two abstentions, where the record cannot be placed: a *bare* journal record (no pages, no
   issue, so that it is an article rests on the journal name alone) that matches a meeting
   abstract, report or thesis but for the kind at least as well as anything it could join
   (the abstract's copy stripped of its supplement issue and pages looks like an e-pub copy
   of the article); and a record whose strongest fuzzy matches are equally strong with two
   records that must stay apart. Such records join a cluster only through an identifier.
4. **Preprints.** A preprint (a preprint server's DOI or name) and a journal article are
   reports of the same work with different DOIs. With ``preprints="merge"`` (the default, so
   the work is screened once) such a pair is scored without the DOI, PMID, journal, volume,
   page and year evidence, and the article's year may be one before to two after the
   preprint's; with ``preprints="keep"`` it is never a duplicate (the two can still be linked
   as reports of one study later).
5. **Clusters.** Accepted pairs join clusters, strongest pair first, but never two clusters
   with a vetoed pair between them (so a copy without a year cannot chain a review to its
   update). To stop chaining by similarity (A~B and B~C but A≁C), every member of a cluster of
   three or more must then match the cluster's canonical record directly (accepted pair, same
   identifier, or score ≥ threshold); members that do not are taken out and clustered again
   among themselves.
6. **Canonical record** of a cluster: the journal article over a preprint, then the record with
   a DOI, with a PMID, with an abstract, with the most filled fields, with the longest abstract;
   ties go to a hash of the record's content and last to the earliest import. The order of the
   input therefore does not change the clusters.

Incremental import (living reviews): ``find_duplicates(new, existing=old)`` compares the new
records with each other and with the already de-duplicated ``old`` ones, never ``old`` with
``old``. Indices in the result run over ``old`` first, then ``new``.

Undo: a :class:`DedupeResult` is a value; the store records which run was applied and undoes
it by discarding it. :func:`merge` and :func:`split` give a new result for manual corrections.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from operator import attrgetter
from typing import Any, Literal

import numpy as np
import pandas as pd
from rapidfuzz.distance import Indel
from rapidfuzz.process import cpdist

from metareview.errors import InputError
from metareview.records.model import Record
from metareview.records.normalize import (
    MatchKeys,
    journals_compatible,
    match_keys,
    surnames_agree,
    title_markers,
    title_numbers,
)

#: Score a fuzzy pair needs to be called a duplicate (points, see the module docstring).
DEFAULT_THRESHOLD = 6.0
#: Blocks larger than this are searched by sorted neighbourhood.
BLOCK_CAP = 16
#: Sorted-neighbourhood window inside oversize blocks (in each sort order).
WINDOW = 2

REASONS = ("doi", "pmid", "fuzzy")
_CHUNK = 200_000

Progress = Callable[[int, int], None]


# ---------------------------------------------------------------------------------------------
# Results
@dataclass(frozen=True)
class DuplicatePair:
    """Evidence that records ``i`` and ``j`` (``i < j``) are the same report.

    ``reason`` is ``'doi'``, ``'pmid'`` (same identifier), ``'fuzzy'`` (score ≥ threshold) or
    ``'manual'`` (:func:`merge`); ``score`` is the fuzzy score in points (also for identifier
    matches, for information).
    """

    i: int
    j: int
    reason: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        score = round(self.score, 3) if np.isfinite(self.score) else None
        return {"i": self.i, "j": self.j, "reason": self.reason, "score": score}


@dataclass(frozen=True)
class DedupeResult:
    """Clusters of duplicate records and the record kept for each.

    Attributes
    ----------
    n_records : int
        Records compared (``existing`` first, then the new ones).
    clusters : tuple of tuple of int
        Groups of two or more indices that are one report, each sorted, ordered by first
        member. Records in no cluster are unique.
    canonical : tuple of int
        The record kept for each cluster (aligned with ``clusters``).
    pairs : tuple of DuplicatePair
        Accepted pairs inside the final clusters (a spanning set: an identifier group of k
        records gives k − 1 pairs, not all of them).
    priority : tuple of int
        Each record's rank as a canonical candidate (0 = preferred), so :func:`merge` and
        :func:`split` can choose canonical records without the records.
    n_existing : int
        Leading records that were de-duplicated before (incremental import).
    threshold : float
    preprints : {'merge', 'keep'}
    n_candidates : int
        Candidate pairs the blocking produced (work done).
    """

    n_records: int
    clusters: tuple[tuple[int, ...], ...]
    canonical: tuple[int, ...]
    pairs: tuple[DuplicatePair, ...]
    priority: tuple[int, ...] = field(repr=False)
    n_existing: int = 0
    threshold: float = DEFAULT_THRESHOLD
    preprints: str = "merge"
    n_candidates: int = 0

    @property
    def n_clusters(self) -> int:
        """Clusters of two or more records."""
        return len(self.clusters)

    @property
    def n_duplicates(self) -> int:
        """Records removed: the sum over clusters of (size − 1)."""
        return sum(len(c) - 1 for c in self.clusters)

    @property
    def n_unique(self) -> int:
        """Records kept."""
        return self.n_records - self.n_duplicates

    def labels(self) -> np.ndarray:
        """Cluster number of each record (``0 … n_clusters-1``), ``-1`` for unique records."""
        out = np.full(self.n_records, -1, dtype=np.int64)
        for k, c in enumerate(self.clusters):
            out[list(c)] = k
        return out

    def representative(self) -> np.ndarray:
        """For each record, the index of the record kept in its place (itself when unique)."""
        out = np.arange(self.n_records, dtype=np.int64)
        for c, keep in zip(self.clusters, self.canonical, strict=True):
            out[list(c)] = keep
        return out

    def keep(self) -> np.ndarray:
        """Indices of the records kept (canonical and unique), ascending."""
        return np.flatnonzero(self.representative() == np.arange(self.n_records))

    def removed(self) -> np.ndarray:
        """Indices of the records removed as duplicates, ascending."""
        return np.flatnonzero(self.representative() != np.arange(self.n_records))

    def by_reason(self) -> dict[str, int]:
        """Accepted pairs by reason."""
        out = dict.fromkeys((*REASONS, "manual"), 0)
        for p in self.pairs:
            out[p.reason] = out.get(p.reason, 0) + 1
        return out

    def summary(self) -> str:
        """One paragraph for people."""
        r = self.by_reason()
        inc = f" ({self.n_existing} already de-duplicated)" if self.n_existing else ""
        return (
            f"{self.n_records} records{inc}: {self.n_duplicates} duplicates removed in "
            f"{self.n_clusters} clusters, {self.n_unique} unique records remain. Pairs: "
            f"{r['doi']} same DOI, {r['pmid']} same PMID, {r['fuzzy']} fuzzy"
            + (f", {r['manual']} manual" if r["manual"] else "")
            + f" (threshold {self.threshold:g}, preprints {self.preprints})."
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values: counts, settings and the clusters with their canonical
        record."""
        return {
            "records": self.n_records,
            "existing": self.n_existing,
            "clusters": self.n_clusters,
            "duplicates": self.n_duplicates,
            "unique": self.n_unique,
            "pairs_by_reason": self.by_reason(),
            "threshold": self.threshold,
            "preprints": self.preprints,
            "candidate_pairs": self.n_candidates,
            "groups": [
                {"members": list(c), "canonical": k}
                for c, k in zip(self.clusters, self.canonical, strict=True)
            ],
        }


@dataclass(frozen=True)
class PairEvidence:
    """How one pair was judged (see :func:`compare`)."""

    duplicate: bool
    reason: str | None  # 'doi', 'pmid', 'fuzzy' or None
    score: float
    title_similarity: float
    veto: str | None  # why the pair cannot be a fuzzy duplicate, if anything vetoes it


# ---------------------------------------------------------------------------------------------
# Blocking
def _encode(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    """Pairs as ``lo * n + hi`` (``lo < hi``), dropping self-pairs."""
    lo = np.minimum(i, j).astype(np.int64)
    hi = np.maximum(i, j).astype(np.int64)
    keep = lo != hi
    return lo[keep] * n + hi[keep]


def _unique_sorted(x: np.ndarray) -> np.ndarray:
    """``np.unique`` of an int64 array by sorting (numpy's hash-based unique is slower here)."""
    if not len(x):
        return x
    x = np.sort(x)
    keep = np.empty(len(x), dtype=bool)
    keep[0] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def _block_pairs(codes: np.ndarray, order: np.ndarray, n: int) -> np.ndarray:
    """Encoded pairs (``i * n + j``) of records sharing a code (``-1`` = no key), unique.

    Blocks of at most :data:`BLOCK_CAP` records give all their pairs. Larger blocks give the
    pairs within :data:`WINDOW` places of each other when the block is sorted by ``order`` (a
    position per record): a record then has at most ``2 * WINDOW`` partners from this key
    however large its block grows, which keeps the work linear in the number of records.
    """
    idx = np.flatnonzero(codes >= 0)
    if len(idx) < 2:
        return np.empty(0, dtype=np.int64)
    inv = pd.factorize(codes[idx])[0]
    size = np.bincount(inv)[inv]
    keep = size >= 2
    idx, inv, size = idx[keep], inv[keep], size[keep]
    # Records of one block next to each other, in ``order`` inside it; a small block is
    # then all pairs (s up to its size - 1), a large one the pairs up to WINDOW apart.
    o = np.lexsort((order[idx], inv))
    idx, inv, big = idx[o], inv[o], size[o] > BLOCK_CAP
    out = []
    for s in range(1, max(BLOCK_CAP, WINDOW + 1)):
        same = inv[s:] == inv[:-s]
        if s > WINDOW:
            same &= ~big[s:]
        if not same.any():
            break
        out.append(_encode(idx[:-s][same], idx[s:][same], n))
    return _unique_sorted(np.concatenate(out)) if out else np.empty(0, dtype=np.int64)


def _factor(values: list[Any], ok: np.ndarray) -> np.ndarray:
    """Integer code of each value where ``ok`` (equal values, equal codes), -1 elsewhere."""
    out = np.full(len(values), -1, dtype=np.int64)
    at = np.flatnonzero(ok)
    if len(at):
        out[at] = pd.factorize(pd.Series([values[k] for k in at.tolist()], dtype=object))[0]
    return out


def _title_codes(keys: MatchKeys) -> dict[str, np.ndarray]:
    """Blocking codes derived from titles: whole, first and last 24 letters, rarest words."""
    squeezed = [t.replace(" ", "") for t in keys.title]
    length = np.fromiter(map(len, squeezed), dtype=np.int64, count=keys.n)
    long = (length >= 30) & keys.informative
    n_tok = np.fromiter(map(len, keys.title_tokens), dtype=np.int64, count=keys.n)
    several = (n_tok >= 3) & keys.informative
    return {"title": _factor(squeezed, length > 0),
            "head": _factor([s[:24] for s in squeezed], long),
            "tail": _factor([s[-24:] for s in squeezed], long),
            "rare": _rare_word_codes(keys.title_tokens, n_tok, several)}


def _rare_word_codes(tokens: Sequence[Sequence[str]], n_tok: np.ndarray,
                     ok: np.ndarray) -> np.ndarray:
    """Code of each title's two rarest words (fewest titles with the word, then the word
    itself), -1 where not ``ok``: equal codes for equal pairs of words.

    Array form of ``sorted(set(tokens), key=lambda w: (df[w], w))[:2]`` for every title at
    once: a flat array of (title, word) pairs, document frequencies by ``bincount``, and the
    first two words of each title in the global (frequency, word) order.
    """
    n = len(tokens)
    out = np.full(n, -1, dtype=np.int64)
    if not ok.any():
        return out
    words, vocab = pd.factorize(pd.Series(list(chain.from_iterable(tokens)), dtype=object))
    k = len(vocab)
    rec = np.repeat(np.arange(n, dtype=np.int64), n_tok)
    uniq = _unique_sorted(rec * k + words)  # each word once per title
    rec, words = uniq // k, uniq % k
    df = np.bincount(words, minlength=k)
    alpha = np.empty(k, dtype=np.int64)
    alpha[np.argsort(np.asarray(vocab, dtype=object), kind="stable")] = np.arange(k)
    rank = np.empty(k, dtype=np.int64)
    rank[np.lexsort((alpha, df))] = np.arange(k)
    keep = ok[rec]
    # Sorted by title, then by the word's rank: one sort of one integer key.
    key = np.sort(rec[keep] * k + rank[words[keep]])
    rec = key // k
    words = np.empty(k, dtype=np.int64)
    words[rank] = np.arange(k)
    words = words[key % k]
    first = np.ones(len(rec), dtype=bool)
    first[1:] = rec[1:] != rec[:-1]
    at = np.flatnonzero(first)
    w1 = words[at]
    has2 = (at + 1 < len(rec)) & ~first[np.minimum(at + 1, len(rec) - 1)]
    w2 = np.where(has2, words[np.minimum(at + 1, len(rec) - 1)], -1)
    # The pair as a set: in word order, as the key joined the two words sorted.
    lo = np.where((w2 >= 0) & (alpha[np.maximum(w2, 0)] < alpha[w1]), w2, w1)
    hi = np.where(lo == w1, w2, w1)
    out[rec[at]] = lo * (k + 1) + (hi + 1)
    return out


def _pair_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One code for the combination of two codes; -1 where either is absent."""
    ok = (a >= 0) & (b >= 0)
    out = np.full(len(a), -1, dtype=np.int64)
    if ok.any():
        # Codes are below n, so a * (max(b) + 1) + b is one number per combination.
        out[ok] = a[ok] * (int(b[ok].max()) + 1) + b[ok]
    return out


def _sort_orders(keys: MatchKeys, rank: np.ndarray) -> dict[str, np.ndarray]:
    """Each record's position in three orders: by title (``'title'``), by title read
    backwards (``'backwards'``), and by first author, year and title (``'author'``). Ties go
    to the content rank, never the input order, so the candidates do not depend on it."""
    n = keys.n
    first = pd.factorize(pd.Series([a[0] if a else "" for a in keys.authors], dtype=object),
                         sort=True)[0]
    fwd = pd.factorize(pd.Series(keys.title, dtype=object), sort=True)[0]
    bwd = pd.factorize(pd.Series([t[::-1] for t in keys.title], dtype=object), sort=True)[0]
    out = {}
    for name, keys_ in (("title", (rank, keys.year, first, fwd)),
                        ("backwards", (rank, keys.year, first, bwd)),
                        ("author", (rank, fwd, keys.year, first))):
        pos = np.empty(n, dtype=np.int64)
        pos[np.lexsort(keys_)] = np.arange(n)
        out[name] = pos
    return out


def candidate_pairs(keys: MatchKeys, rank: np.ndarray, n_existing: int = 0) -> np.ndarray:
    """Candidate pairs from all blocking keys, as an ``(m, 2)`` array with ``i < j``, sorted.

    Pairs of two ``existing`` records (indices below ``n_existing``) are left out.
    """
    n = keys.n
    order = _sort_orders(keys, rank)
    fwd, bwd, auth = order["title"], order["backwards"], order["author"]
    tc = _title_codes(keys)
    # Large blocks are searched in more than one order. A duplicate whose title differs near
    # the end is a neighbour in title order, near the start in backwards order; a preprint
    # that lost its subtitle is followed, in title order, by every longer title starting the
    # same way, but shares its first author with the article. Identifier and volume/page
    # blocks are small by nature.
    blocks = [(keys.doi, (fwd,)), (keys.pmid, (fwd,)), (tc["title"], (fwd,)),
              (tc["head"], (fwd, auth)), (tc["tail"], (bwd, auth)), (tc["rare"], (fwd,)),
              (_pair_codes(keys.first_author, keys.year), (fwd,)),
              (_pair_codes(keys.volume, keys.page), (fwd,))]
    enc = _unique_sorted(np.concatenate(
        [_block_pairs(c, o, n) for c, orders in blocks for o in orders]))
    i, j = enc // n, enc % n
    if n_existing:
        keep = j >= n_existing  # i < j, so the pair has a new record iff j is new
        i, j = i[keep], j[keep]
    return np.stack([i, j], axis=1)


# ---------------------------------------------------------------------------------------------
# Scoring
@dataclass(frozen=True)
class _Scored:
    score: np.ndarray  # float points
    exact: np.ndarray  # 0 none, 1 doi, 2 pmid (accepted identifier match)
    veto: np.ndarray  # int code into _VETOES, 0 = none
    title: np.ndarray  # title similarity in [0, 1]
    kind_only: np.ndarray  # bool: vetoed by the kinds of document alone


_VETOES = (None, "different DOIs", "different PMIDs", "different numbers in titles",
           "different notice markers (erratum, reply, comment, retraction, protocol)",
           "preprint and article kept apart (preprints='keep')", "years too far apart",
           "different kinds of document (article, abstract, report, thesis, book)",
           "repeated heading (editorial, news, short title) without the same first page",
           "versions of one review (same review number) and a year missing",
           "versions of one review (same review number) in different years")


def _ratio_many(a: np.ndarray, b: np.ndarray, la: np.ndarray, lb: np.ndarray, i: np.ndarray,
                j: np.ndarray) -> np.ndarray:
    """Indel similarity in [0, 1] of ``a[i]`` and ``b[j]`` (object arrays of strings with
    lengths ``la``, ``lb``); 0 where either is empty."""
    # One call into rapidfuzz for all pairs instead of one per pair: the same numbers.
    sim = cpdist(a[i], b[j], scorer=Indel.normalized_similarity, dtype=np.float64, workers=1)
    sim[(la[i] == 0) | (lb[j] == 0)] = 0.0
    return sim


def _prefix_similarity(keys: MatchKeys, i: np.ndarray, j: np.ndarray,
                       t: np.ndarray) -> np.ndarray:
    """Raise to 0.9 the similarity of titles where one is the start of the other (Indel
    similarity ≥ 0.9 with the other's same-length start) and has ≥ 3 informative words: a
    subtitle dropped by one database, or by the journal version of a preprint."""
    look = np.flatnonzero((t < 0.9) & keys.informative[i] & keys.informative[j])
    if not len(look):
        return t
    li, lj = keys.title_len[i[look]], keys.title_len[j[look]]
    # The shorter title against the longer one's start (the first when equally long: then
    # the start is the whole title, already below 0.9); not when under 0.3 of its length.
    swap = li > lj
    short = np.where(swap, j[look], i[look])
    long_ = np.where(swap, i[look], j[look])
    ls, ll = np.minimum(li, lj), np.maximum(li, lj)
    # Similarity with the start is LCS(short, start) / len(short), and the whole titles'
    # t = 2 LCS(short, long) / (len(short) + len(long)) with LCS(short, long) at least
    # LCS(short, start): a start can reach 0.9 only if t >= 1.8 len(short) / (len(short) +
    # len(long)). Most candidate pairs are far below that and skip the slicing (the margin
    # keeps every pair that rounding could put at the bound).
    ok = ~(ls < 0.3 * ll) & (t[look] >= 1.8 * ls / (ls + ll) - 1e-9)
    look, short, long_, ls = look[ok], short[ok], long_[ok], ls[ok]
    if not len(look):
        return t
    title = keys.title
    heads = [title[b][:n] for b, n in zip(long_.tolist(), ls.tolist(), strict=True)]
    sim = cpdist(keys.title_array[short], heads, scorer=Indel.normalized_similarity,
                 dtype=np.float64, workers=1)
    out = t.copy()
    out[look[sim >= 0.9]] = 0.9
    return out


def _both(codes: np.ndarray, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(both present, equal) masks of a code array over pairs."""
    a, b = codes[i], codes[j]
    both = (a >= 0) & (b >= 0)
    return both, both & (a == b)


def _codes_agree(codes: np.ndarray, i: np.ndarray, j: np.ndarray,
                 names: Callable[[], Sequence[Any]],
                 agree: Callable[[Any, Any], bool]) -> np.ndarray:
    """Equal codes, or ``agree(name_a, name_b)`` on the names of two different codes, asked
    once per pair of codes (many record pairs share one, and the names are only built then)."""
    a, b = codes[i], codes[j]
    out = a == b
    diff = np.flatnonzero((a != b) & (a >= 0) & (b >= 0))
    if len(diff):
        named = names()
        m = int(codes.max()) + 1
        combo, inv = np.unique(a[diff] * m + b[diff], return_inverse=True)
        verdict = np.fromiter((agree(named[c // m], named[c % m]) for c in combo.tolist()),
                              dtype=bool, count=len(combo))
        out[diff] = verdict[inv.ravel()]
    return out


def _first_authors_agree(keys: MatchKeys, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Surnames agree (same key or one contains the other)."""
    return _codes_agree(keys.first_author, i, j, lambda: keys.first_author_names,
                        surnames_agree)


def _journals_agree(keys: MatchKeys, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Journal keys equal or compatible as abbreviations."""
    return _codes_agree(keys.journal, i, j, lambda: keys.journal_names, journals_compatible)


#: Shortest normalised title taken for a database's truncation of a longer one.
MIN_CUT = 40


def _cut_agrees(a: str, b: str) -> bool:
    """Whether two normalised titles, one cut short by a database (at least :data:`MIN_CUT`
    letters, Indel similarity ≥ 0.9 with the other's start), carry the same numbers and notice
    markers up to the cut: what the cut removed (*Part 2*, *… withdrawal*) cannot tell them
    apart. Callers ask this only when the first pages or an identifier agree, so a truncated
    *Part II* never joins *Part I* on its title alone."""
    if len(a) > len(b):
        a, b = b, a
    if len(a) < MIN_CUT or len(a) == len(b):
        return False
    head = b[: len(a)]
    if Indel.normalized_similarity(a, head) < 0.9:
        return False
    return title_numbers(a) == title_numbers(head) and title_markers(a) == title_markers(head)


def _kinds_differ(keys: MatchKeys, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Both kinds of document known and different: a working paper or a meeting abstract and
    the article it became share title and authors but are two records (one DOI overrides)."""
    a, b = keys.kind[i], keys.kind[j]
    # A preprint (code 6) may become an article; not an abstract, report, thesis or book.
    article_preprint = (np.minimum(a, b) == 1) & (np.maximum(a, b) == 6)
    return (a > 0) & (b > 0) & (a != b) & ~article_preprint


def _series_unconfirmed(keys: MatchKeys, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """A repeated heading ("Editor's comments", "In this issue", a title too short or in a
    script that says nothing) on either side, unconfirmed: such items recur in every issue
    with the same title and editor, so only the same first page, or the same volume, issue
    and first author (one editor's column per issue), or one DOI or PMID (the exact stage)
    can say two records are one item."""
    _, peq = _both(keys.page, i, j)
    _, veq = _both(keys.volume, i, j)
    _, ieq = _both(keys.issue, i, j)
    _, aeq = _both(keys.first_author, i, j)
    return (keys.series[i] | keys.series[j]) & ~peq & ~(veq & ieq & aeq)


#: Most points a pair can get from everything but its title (year, first author, author
#: lists, journal, volume, first page, abstract: the largest weight of each).
MAX_OTHER_POINTS = 1.0 + 2.0 + 1.5 + 1.0 + 1.5 + 2.5 + 2.0


def _score_pairs(keys: MatchKeys, i: np.ndarray, j: np.ndarray, preprints: str,
                 threshold: float | None = None) -> _Scored:
    """Score pairs ``(i[k], j[k])``; see the module docstring for the points.

    With ``threshold``, the author-list and abstract comparisons (a Python step per pair) are
    skipped for pairs whose title points leave them below it whatever the rest says (most
    candidate pairs): their scores are then partial but still below ``threshold``, which is
    all a decision reads of them. Without it (:func:`compare`), every score is complete.
    """
    m = len(i)
    t = _ratio_many(keys.title_array, keys.title_array, keys.title_len, keys.title_len, i, j)
    t = _prefix_similarity(keys, i, j, t)
    informative = keys.informative[i] & keys.informative[j]
    w_title = np.clip(40.0 * (t - 0.85), -12.0, 6.0)
    w_title = np.where(informative, w_title, np.minimum(w_title, 2.0))
    pre_pair = keys.preprint[i] != keys.preprint[j]
    score = w_title.copy()
    # Pairs that cannot reach the threshold (the margin keeps any pair that rounding of the
    # sum could put on it); not those sharing an identifier, whose score orders the
    # identifier pairs when clusters are joined.
    hopeless = (np.zeros(m, dtype=bool) if threshold is None
                else (w_title + MAX_OTHER_POINTS < threshold - 1e-9)
                & ~_both(keys.doi, i, j)[1] & ~_both(keys.pmid, i, j)[1])

    # Year: e-pub and print years differ by one; a preprint may precede its article by up to
    # two (or follow its e-pub by one). Further apart is a veto below.
    yi, yj = keys.year[i], keys.year[j]
    both_y = (yi >= 0) & (yj >= 0)
    d = np.abs(yi - yj)
    pre_first = np.where(keys.preprint[i], yj - yi, yi - yj)  # article year - preprint year
    w_year = np.where(pre_pair, 0.0, np.where(d == 0, 1.0, -0.5))
    score += np.where(both_y, w_year, 0.0)
    years_apart = both_y & np.where(pre_pair, (pre_first < -1) | (pre_first > 2), d >= 2)

    # First author and author lists.
    fa_both = (keys.first_author[i] >= 0) & (keys.first_author[j] >= 0)
    fa_agree = _first_authors_agree(keys, i, j)
    fa_same = keys.first_author[i] == keys.first_author[j]
    score += np.where(fa_both, np.where(fa_same, 2.0, np.where(fa_agree, 1.5, -3.0)), 0.0)
    na, nb = keys.n_authors[i], keys.n_authors[j]
    look = np.flatnonzero((t >= 0.5) & (na >= 2) & (nb >= 2) & ~hopeless)
    if len(look):
        # Sets per pair, not kept per record: few pairs get here, and a million records'
        # sets would hold some 200 MB.
        au = keys.authors
        common = np.fromiter((len(set(au[a]).intersection(au[b])) for a, b in
                              zip(i[look].tolist(), j[look].tolist(), strict=True)),
                             dtype=np.int64, count=len(look))
        ov = common / np.minimum(na[look], nb[look])
        score[look] += np.where(ov >= 0.6, 1.5, np.where(ov <= 0.25, -2.0, 0.0))

    # Journal, volume, first page: not comparable between a preprint and its article.
    jboth = (keys.journal[i] >= 0) & (keys.journal[j] >= 0)
    jagree = _journals_agree(keys, i, j)
    score += np.where(jboth & ~pre_pair, np.where(jagree, 1.0, -1.0), 0.0)
    vboth, veq = _both(keys.volume, i, j)
    score += np.where(vboth & ~pre_pair, np.where(veq, 1.5, -3.0), 0.0)
    pboth, peq = _both(keys.page, i, j)
    w_page = np.where(peq, np.where(keys.page_one[i], 1.0, 2.5), -3.0)
    score += np.where(pboth & ~pre_pair, w_page, 0.0)

    # Abstract starts, where both have one and the title leaves doubt.
    al = keys.abstract_len
    look = np.flatnonzero((t >= 0.5) & (al[i] >= 50) & (al[j] >= 50) & ~hopeless)
    if len(look):
        ab = keys.abstract_array
        r = _ratio_many(ab, ab, al, al, i[look], j[look])
        score[look] += np.where(r >= 0.9, 2.0, np.where(r >= 0.75, 1.0,
                                                        np.where(r < 0.5, -2.0, 0.0)))

    # Identifiers and vetoes.
    dboth, deq = _both(keys.doi, i, j)
    mboth, meq = _both(keys.pmid, i, j)
    markers_differ = keys.markers[i] != keys.markers[j]
    numbers_differ = keys.numbers[i] != keys.numbers[j]
    cut = np.flatnonzero((markers_differ | numbers_differ) & (t >= 0.9) & (peq | deq | meq))
    if len(cut):
        ok = np.fromiter((_cut_agrees(keys.title[a], keys.title[b])
                          for a, b in zip(i[cut].tolist(), j[cut].tolist(), strict=True)),
                         dtype=bool, count=len(cut))
        markers_differ[cut[ok]] = numbers_differ[cut[ok]] = False
    veto = np.zeros(m, dtype=np.int64)
    if preprints == "keep":
        veto[pre_pair] = 5
    veto[(veto == 0) & markers_differ] = 4
    veto[(veto == 0) & years_apart] = 6
    veto[(veto == 0) & numbers_differ] = 3
    veto[(veto == 0) & mboth & ~meq & ~pre_pair] = 2
    veto[(veto == 0) & dboth & ~deq & ~pre_pair] = 1
    kinds_differ = (veto == 0) & _kinds_differ(keys, i, j)
    veto[kinds_differ] = 7
    later = np.zeros(m, dtype=np.int64)
    later[_series_unconfirmed(keys, i, j)] = 8
    # A review and its update share number and title; without both years nothing but an
    # identifier (the exact stage) can say which version a record is. The Cochrane Database
    # is published online only, each version in its own issue: no e-pub year a year before
    # print, so a year apart is another version.
    versioned = keys.versioned[i] | keys.versioned[j]
    later[(later == 0) & versioned & ~both_y] = 9
    later[(later == 0) & versioned & ~pre_pair & (d != 0)] = 10
    veto[veto == 0] = later[veto == 0]
    kind_only = kinds_differ & (later == 0)

    unrelated = (t < 0.5) & fa_both & ~fa_agree
    ident_ok = ~markers_differ & ~unrelated & ~((preprints == "keep") & pre_pair)
    exact = np.zeros(m, dtype=np.int8)
    exact[meq & ident_ok] = 2
    exact[deq & ident_ok] = 1
    return _Scored(score=score, exact=exact, veto=veto, title=t, kind_only=kind_only)


# ---------------------------------------------------------------------------------------------
# Clustering
def _conflict_checker(keys: MatchKeys, preprints: str) -> Callable[[int, int], bool]:
    """``conflict(a, b)``: whether records ``a`` and ``b`` must not share a cluster, by the
    same vetoes as :func:`_score_pairs` (unless they share a DOI or PMID)."""
    doi, pmid = keys.doi.tolist(), keys.pmid.tolist()
    year, pre = keys.year.tolist(), keys.preprint.tolist()
    markers, numbers = keys.markers.tolist(), keys.numbers.tolist()
    kind, series, page = keys.kind.tolist(), keys.series.tolist(), keys.page.tolist()
    vol, issue, fa = keys.volume.tolist(), keys.issue.tolist(), keys.first_author.tolist()
    versioned = keys.versioned.tolist()

    def conflict(a: int, b: int) -> bool:
        same_page = page[a] >= 0 and page[a] == page[b]
        if (doi[a] >= 0 and doi[a] == doi[b]) or (pmid[a] >= 0 and pmid[a] == pmid[b]):
            return markers[a] != markers[b] and not _cut_agrees(keys.title[a], keys.title[b])
        if markers[a] != markers[b] or numbers[a] != numbers[b]:
            if not (same_page and _cut_agrees(keys.title[a], keys.title[b])):
                return True
        if kind[a] and kind[b] and kind[a] != kind[b] and {kind[a], kind[b]} != {1, 6}:
            return True
        if (series[a] or series[b]) and not same_page and not (
                vol[a] >= 0 and vol[a] == vol[b] and issue[a] >= 0 and issue[a] == issue[b]
                and fa[a] >= 0 and fa[a] == fa[b]):
            return True
        if (versioned[a] or versioned[b]) and (year[a] < 0 or year[b] < 0 or (
                year[a] != year[b] and pre[a] == pre[b])):
            return True
        pre_pair = pre[a] != pre[b]
        if pre_pair and preprints == "keep":
            return True
        if not pre_pair and ((doi[a] >= 0 and doi[b] >= 0) or (pmid[a] >= 0 and pmid[b] >= 0)):
            return True  # both have the identifier and it differs
        if year[a] >= 0 and year[b] >= 0:
            d = (year[b] - year[a]) if pre[a] else (year[a] - year[b])
            if pre_pair:
                return not -1 <= d <= 2
            return abs(year[a] - year[b]) >= 2
        return False

    return conflict


def _components(members: Sequence[int], edges: dict[int, list[int]]) -> list[list[int]]:
    """Connected components of ``members`` using ``edges`` restricted to ``members``."""
    inside = set(members)
    seen: set[int] = set()
    out = []
    for s in sorted(members):
        if s in seen:
            continue
        comp, stack = [], [s]
        seen.add(s)
        while stack:
            x = stack.pop()
            comp.append(x)
            for y in edges.get(x, ()):
                if y in inside and y not in seen:
                    seen.add(y)
                    stack.append(y)
        out.append(sorted(comp))
    return out


def _content_hash(r: Record) -> int:
    text = "\x1f".join((r.title, "\x1e".join(r.authors), str(r.year), r.journal, r.volume,
                        r.issue, r.pages, r.doi, r.pmid, r.abstract, r.type, r.url))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


def canonical_priority(records: Sequence[Record], keys: MatchKeys) -> np.ndarray:
    """Rank of each record as a cluster's canonical record (0 = preferred).

    Order: journal article before preprint; has a DOI; has a PMID; has an abstract; more
    filled fields; longer abstract; then a hash of the record's content (so the input order
    does not matter); then the earlier import.
    """
    n = len(records)
    fields = attrgetter("title", "authors", "year", "journal", "volume", "issue", "pages",
                        "doi", "pmid", "abstract")
    # One pass over the records (a pass per field cost a Python call per record and field).
    filled = np.fromiter((sum(map(bool, fields(r))) for r in records), dtype=np.int64, count=n)
    ab_len = np.fromiter((len(r.abstract) for r in records), dtype=np.int64, count=n)
    h = np.fromiter(map(_content_hash, records), dtype=np.int64, count=n)
    order = np.lexsort((
        np.arange(n), h, -ab_len, -filled, (ab_len == 0), (keys.pmid < 0),
        (keys.doi < 0), keys.preprint,
    ))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank


# ---------------------------------------------------------------------------------------------
# Public API
def _check(preprints: str, threshold: float) -> None:
    if preprints not in ("merge", "keep"):
        raise InputError(f"de-duplication, option preprints: must be 'merge' or 'keep', "
                         f"not {preprints!r}")
    if not np.isfinite(threshold):
        raise InputError(f"de-duplication, option threshold: must be a finite number, "
                         f"not {threshold!r}")


def find_duplicates(
    records: Sequence[Record],
    *,
    existing: Sequence[Record] = (),
    threshold: float = DEFAULT_THRESHOLD,
    preprints: Literal["merge", "keep"] = "merge",
    progress: Progress | None = None,
) -> DedupeResult:
    """Find duplicate records: same DOI or PMID, or a fuzzy match of the bibliographic fields.

    Parameters
    ----------
    records : sequence of Record
        The records to de-duplicate (all imports of a review, or a new import).
    existing : sequence of Record, optional
        Records de-duplicated before (a living review's earlier imports): the new records are
        compared with them and with each other, but existing records are not compared with
        each other. Result indices run over ``existing`` first, then ``records``.
    threshold : float
        Points a fuzzy pair needs (:data:`DEFAULT_THRESHOLD`); higher is stricter. The scale is
        described in the module docstring.
    preprints : {'merge', 'keep'}
        Whether a preprint and the journal article it became are duplicates.
    progress : callable, optional
        Called as ``progress(done, total)`` while candidate pairs are scored.

    Returns
    -------
    DedupeResult
        Clusters of duplicates, the canonical record of each and the pairs that justify them.

    Raises
    ------
    InputError
        If ``preprints`` or ``threshold`` is not valid.
    """
    _check(preprints, threshold)
    # The run allocates millions of small objects (keys, pairs) and frees few cycles; with
    # the collector on, each full collection walks every live object, records included, so
    # the time per record grew with the number of records. Restored on the way out.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _find_duplicates(records, existing, threshold, preprints, progress)
    finally:
        if enabled:
            gc.enable()


def _find_duplicates(records: Sequence[Record], existing: Sequence[Record], threshold: float,
                     preprints: str, progress: Progress | None) -> DedupeResult:
    allrec = [*existing, *records]
    n, n_old = len(allrec), len(existing)
    keys = match_keys(allrec)
    rank = canonical_priority(allrec, keys)
    cand = candidate_pairs(keys, rank, n_old)
    m = len(cand)
    if progress is not None:
        progress(0, m)

    accepted: list[tuple[int, int, str, float]] = []
    # Per record: best score with a record of another kind (vetoed by the kinds alone), and
    # best accepted fuzzy score.
    best_other_kind = np.full(n, -np.inf)
    best_fuzzy = np.full(n, -np.inf)
    for start in range(0, max(m, 1), _CHUNK):
        ci, cj = cand[start:start + _CHUNK, 0], cand[start:start + _CHUNK, 1]
        if not len(ci):
            break
        s = _score_pairs(keys, ci, cj, preprints, threshold)
        ok = (s.exact > 0) | ((s.veto == 0) & (s.score >= threshold))
        for k in np.flatnonzero(ok).tolist():
            reason = REASONS[s.exact[k] - 1] if s.exact[k] else "fuzzy"
            accepted.append((int(ci[k]), int(cj[k]), reason, float(s.score[k])))
        near = s.kind_only & (s.score >= threshold)
        fuzzy = ok & (s.exact == 0)
        for side in (ci, cj):
            np.maximum.at(best_other_kind, side[near], s.score[near])
            np.maximum.at(best_fuzzy, side[fuzzy], s.score[fuzzy])
        if progress is not None:
            progress(min(start + _CHUNK, m), m)
    # A bare journal record (no pages, no issue: its kind rests on the journal name alone)
    # that matches a meeting abstract, report or thesis but for the kind at least as well as
    # any record it may join cannot be placed: it may be that record's copy stripped of its
    # supplement issue and pages as well as an e-pub copy of the article. Merging it either
    # way could delete a study, so only an identifier may.
    ambiguous = (keys.bare & (keys.kind == 1) & (best_other_kind >= threshold)
                 & (best_other_kind >= best_fuzzy))
    ambiguous |= _tied_apart(accepted, n, _conflict_checker(keys, preprints))
    if ambiguous.any():
        accepted = [e for e in accepted if e[2] != "fuzzy"
                    or not (ambiguous[e[0]] or ambiguous[e[1]])]

    clusters, canon, pairs = _cluster(keys, rank, accepted, n, threshold, preprints)
    return DedupeResult(
        n_records=n, clusters=clusters, canonical=canon, pairs=pairs,
        priority=tuple(rank.tolist()), n_existing=n_old, threshold=float(threshold),
        preprints=preprints, n_candidates=m,
    )


def _tied_apart(accepted: list[tuple[int, int, str, float]], n: int,
                conflict: Callable[[int, int], bool]) -> np.ndarray:
    """Records whose strongest fuzzy matches are equally strong and must stay apart.

    Clusters take the strongest pair first; when a record matches two records that cannot
    share a cluster (a preprint and both a review and its update) with the same score, nothing
    in the data chooses between them, and joining either could delete a study.
    """
    top: dict[int, float] = {}
    partners: dict[int, list[int]] = {}
    for i, j, reason, score in accepted:
        if reason != "fuzzy":
            continue
        for a, b in ((i, j), (j, i)):
            t = top.get(a)
            if t is None or score > t:
                top[a], partners[a] = score, [b]
            elif score == t:
                partners[a].append(b)
    out = np.zeros(n, dtype=bool)
    for a, ps in partners.items():
        if len(ps) >= 2 and any(conflict(p, q) for k, p in enumerate(ps) for q in ps[k + 1:]):
            out[a] = True
    return out


def _cluster(
    keys: MatchKeys,
    rank: np.ndarray,
    accepted: list[tuple[int, int, str, float]],
    n: int,
    threshold: float,
    preprints: str,
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...], tuple[DuplicatePair, ...]]:
    """Clusters from accepted pairs, guarded against chaining twice.

    1. Constrained union: pairs are taken strongest first (identifiers, then by score; ties by
       the records' content rank, so input order does not matter) and join two clusters only if
       no member of one conflicts with a member of the other (:func:`_conflict_checker`: a
       review and its update, both matched by a copy without a year, stay apart).
    2. Every member of a cluster of three or more must match the canonical record directly;
       the others are taken out and clustered again among themselves.
    """
    conflict = _conflict_checker(keys, preprints)
    rk = rank.tolist()  # a list: indexing numpy per pair is slow in these Python loops
    order = sorted(accepted, key=lambda e: (e[2] == "fuzzy", -e[3],
                                            min(rk[e[0]], rk[e[1]]),
                                            max(rk[e[0]], rk[e[1]])))
    root = list(range(n))
    members: dict[int, list[int]] = {}

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    edges: dict[int, list[int]] = {}
    info: dict[tuple[int, int], tuple[str, float]] = {}
    for i, j, reason, score in order:
        ri, rj = find(i), find(j)
        if ri != rj:
            ga, gb = members.get(ri, [ri]), members.get(rj, [rj])
            if len(ga) * len(gb) <= 10_000 and any(conflict(a, b) for a in ga for b in gb):
                continue
            if len(ga) < len(gb):
                ri, rj, ga, gb = rj, ri, gb, ga
            root[rj] = ri
            members[ri] = ga + gb
            members.pop(rj, None)
        edges.setdefault(i, []).append(j)
        edges.setdefault(j, []).append(i)
        info[(i, j)] = (reason, score)
    groups = {r: sorted(g) for r, g in members.items()}

    final: list[list[int]] = []
    todo = [g for g in groups.values() if len(g) >= 2]
    while todo:
        checks: list[tuple[int, int]] = []
        for g in todo:
            if len(g) == 2:
                continue
            c = min(g, key=lambda x: rk[x])
            checks.extend((min(x, c), max(x, c)) for x in g if x != c and
                          (min(x, c), max(x, c)) not in info)
        ok: set[tuple[int, int]] = set()
        if checks:
            arr = np.array(checks, dtype=np.int64)
            s = _score_pairs(keys, arr[:, 0], arr[:, 1], preprints, threshold)
            good = (s.exact > 0) | ((s.veto == 0) & (s.score >= threshold))
            for k in np.flatnonzero(good).tolist():
                ok.add(checks[k])
                info[checks[k]] = (REASONS[s.exact[k] - 1] if s.exact[k] else "fuzzy",
                                   float(s.score[k]))
        nxt = []
        for g in todo:
            if len(g) == 2:
                final.append(g)
                continue
            c = min(g, key=lambda x: rk[x])
            inn = [x for x in g if x == c or (min(x, c), max(x, c)) in info]
            out = [x for x in g if x not in set(inn)]
            final.append(inn)
            nxt.extend(comp for comp in _components(out, edges) if len(comp) >= 2)
        todo = nxt

    final = sorted((sorted(g) for g in final if len(g) >= 2), key=lambda g: g[0])
    canon = [min(g, key=lambda x: rk[x]) for g in final]
    pairs = []
    for g, c in zip(final, canon, strict=True):
        for x in g:
            if x == c:
                continue
            a, b = min(x, c), max(x, c)
            reason, score = info[(a, b)]
            pairs.append(DuplicatePair(a, b, reason, score))
    return tuple(tuple(g) for g in final), tuple(canon), tuple(pairs)


def compare(
    a: Record,
    b: Record,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    preprints: Literal["merge", "keep"] = "merge",
) -> PairEvidence:
    """Judge one pair as :func:`find_duplicates` would (blocking aside): for explaining a
    decision to a reviewer and for tests.

    The title-word rarity used by blocking plays no part in the score, so the verdict does not
    depend on other records; nor do the two abstentions of :func:`find_duplicates` (a bare
    record that matches a meeting abstract as well, a record tied between two records that
    must stay apart), which do.
    """
    _check(preprints, threshold)
    keys = match_keys([a, b])
    s = _score_pairs(keys, np.array([0]), np.array([1]), preprints)
    exact = int(s.exact[0])
    veto = _VETOES[int(s.veto[0])]
    fuzzy = veto is None and s.score[0] >= threshold
    reason = REASONS[exact - 1] if exact else ("fuzzy" if fuzzy else None)
    return PairEvidence(duplicate=reason is not None, reason=reason, score=float(s.score[0]),
                        title_similarity=float(s.title[0]), veto=veto)


def _rebuild(result: DedupeResult, groups: list[list[int]],
             pairs: list[DuplicatePair]) -> DedupeResult:
    prio = result.priority
    final = sorted((sorted(g) for g in groups if len(g) >= 2), key=lambda g: g[0])
    canon = [min(g, key=lambda x: prio[x]) for g in final]
    where = {x: k for k, g in enumerate(final) for x in g}
    kept = [p for p in pairs if p.i in where and where.get(p.i) == where.get(p.j)]
    return replace(result, clusters=tuple(tuple(g) for g in final), canonical=tuple(canon),
                   pairs=tuple(kept))


def _index(result: DedupeResult, i: int) -> int:
    if not 0 <= i < result.n_records:
        raise InputError(f"de-duplication: record index {i} is out of range "
                         f"(0 to {result.n_records - 1})")
    return i


def merge(result: DedupeResult, i: int, j: int) -> DedupeResult:
    """A new result in which the clusters of records ``i`` and ``j`` are one (a reviewer's
    decision; the pair is recorded with reason ``'manual'``). The canonical record is chosen
    by the usual rule."""
    i, j = _index(result, i), _index(result, j)
    lab = result.labels()
    groups = [list(c) for c in result.clusters]
    gi = groups[lab[i]] if lab[i] >= 0 else [i]
    gj = groups[lab[j]] if lab[j] >= 0 else [j]
    if gi is gj or i == j:
        return result
    rest = [g for g in groups if g is not gi and g is not gj]
    pair = DuplicatePair(min(i, j), max(i, j), "manual", float("inf"))
    return _rebuild(result, [*rest, gi + gj], [*result.pairs, pair])


def split(result: DedupeResult, i: int) -> DedupeResult:
    """A new result in which record ``i`` is unique (taken out of its cluster). The rest of
    the cluster stays together; if ``i`` was its canonical record, another is chosen."""
    i = _index(result, i)
    groups = [[x for x in c if x != i] for c in result.clusters]
    pairs = [p for p in result.pairs if i not in (p.i, p.j)]
    # The remaining members were joined to i's place through the canonical record: keep them
    # together, joined to the new canonical record by manual pairs so the evidence stays whole.
    prio = result.priority
    for g in groups:
        if len(g) >= 2:
            c = min(g, key=lambda x: prio[x])
            have = {(p.i, p.j) for p in pairs}
            for x in g:
                a, b = min(x, c), max(x, c)
                if x != c and (a, b) not in have:
                    pairs.append(DuplicatePair(a, b, "manual", float("inf")))
    return _rebuild(result, groups, pairs)
