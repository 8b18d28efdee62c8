"""De-duplication at scale: blocking work per record stays bounded, and what is found does not
depend on the blocking's shortcuts, the record order or the scoring chunk size.

The synthetic records are built to make every blocking key crowded: all titles start with
"A randomised controlled trial of" (one first-24-letters block) and end with one of three
populations (a few last-24-letters blocks), and first authors come from five surnames and
two years (a few large first-author-and-year blocks). Each article is exported once or twice,
the second time with a typo, no DOI, or a changed case.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metareview.records.dedupe as dd
from metareview.records.dedupe import candidate_pairs, canonical_priority, find_duplicates
from metareview.records.model import Record
from metareview.records.normalize import match_keys

TREATMENTS = ("acupuncture massage yoga tai chi pilates aerobic exercise resistance training "
              "mindfulness cognitive therapy music therapy dance walking cycling swimming "
              "balance training hydrotherapy stretching qigong meditation biofeedback").split()
OUTCOMES = ("pain", "falls", "sleep quality", "depressive symptoms", "blood pressure",
            "quality of life", "fatigue", "anxiety", "cognition", "mobility")
POPULATIONS = ("in older adults living at home", "in nursing home residents",
               "in adults with chronic low back pain")
SURNAMES = ("Wang", "Smith", "Müller", "Garcia", "Kim")


def _articles(n: int, seed: int = 0) -> list[Record]:
    """``n`` distinct articles whose blocking keys are shared by many others."""
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        a, b = rng.sample(TREATMENTS, 2)
        title = (f"A randomised controlled trial of {a} and {b} for {rng.choice(OUTCOMES)} "
                 f"{rng.choice(POPULATIONS)}")
        if title in seen:
            continue
        seen.add(title)
        k = len(out)
        out.append(Record(
            title=title, authors=(f"{rng.choice(SURNAMES)}, A", f"Author{k}, B"),
            year=rng.choice((2019, 2020)), journal=f"Journal {k % 40}", volume=str(k % 90 + 1),
            pages=f"{k * 10 + 1}-{k * 10 + 9}", doi=f"10.1000/trial.{k}", source_key=f"a{k}"))
    return out


def _typo(title: str, rng: random.Random) -> str:
    # One letter swapped with its neighbour, away from the start and the end.
    k = rng.randrange(8, len(title) - 8)
    return title[:k] + title[k + 1] + title[k] + title[k + 2:]


def _exports(n: int, seed: int = 0) -> list[Record]:
    """The articles of :func:`_articles`, about a third exported twice with a variation."""
    rng = random.Random(seed + 1)
    recs = []
    for r in _articles(n, seed):
        recs.append(r)
        if rng.random() < 0.35:
            kind = rng.choice(("typo", "no-doi", "case"))
            title = (_typo(r.title, rng) if kind == "typo" else
                     r.title.upper() if kind == "case" else r.title)
            recs.append(dataclasses.replace(r, title=title, doi="" if kind != "case" else r.doi,
                                            source_key=r.source_key + "-2"))
    rng.shuffle(recs)
    return recs


def _truth(recs: list[Record]) -> set[frozenset[int]]:
    by: dict[str, list[int]] = {}
    for k, r in enumerate(recs):
        by.setdefault(r.source_key.split("-")[0], []).append(k)
    return {frozenset(g) for g in by.values() if len(g) > 1}


def _partition(res, recs) -> set[frozenset[str]]:
    return {frozenset(recs[k].source_key for k in c) for c in res.clusters}


def _pairs_per_record(recs: list[Record]) -> float:
    keys = match_keys(recs)
    return len(candidate_pairs(keys, canonical_priority(recs, keys))) / len(recs)


def test_candidates_per_record_stay_bounded():
    # 8× the records, crowded keys: blocks grow with n, candidates per record must not.
    small, large = _pairs_per_record(_exports(150)), _pairs_per_record(_exports(1200))
    # Bound: per key a record has at most BLOCK_CAP - 1 partners in a small block or
    # 2 * WINDOW per sort order (at most two) in a large one, over eight keys.
    bound = 8 * max(dd.BLOCK_CAP - 1, 4 * dd.WINDOW) / 2
    assert large <= bound
    assert large <= 1.25 * small
    # Without the windows (every block all pairs) the same records would need far more.
    keys = match_keys(_exports(1200))
    from metareview.records.dedupe import _block_pairs, _pair_codes

    fa_year = _pair_codes(keys.first_author, keys.year)
    sizes = np.bincount(fa_year[fa_year >= 0])
    all_pairs = int((sizes * (sizes - 1) // 2).sum())
    windowed = len(_block_pairs(fa_year, np.arange(keys.n), keys.n))
    assert all_pairs > 20 * windowed


def test_blocking_loses_nothing_the_full_comparison_finds(monkeypatch):
    # Every pair compared (n(n-1)/2) gives the same clusters as the blocked comparison.
    recs = _exports(300)
    blocked = find_duplicates(recs)

    def every_pair(keys, rank, n_existing=0):
        i, j = np.triu_indices(keys.n, k=1)
        return np.stack([i, j], axis=1)

    monkeypatch.setattr(dd, "candidate_pairs", every_pair)
    full = find_duplicates(recs)
    assert full.n_candidates == len(recs) * (len(recs) - 1) // 2 > 10 * blocked.n_candidates
    assert blocked.clusters == full.clusters and blocked.canonical == full.canonical
    # And the clusters are the true ones: typos, lost DOIs and upper case all found.
    assert {frozenset(c) for c in blocked.clusters} == _truth(recs)


@settings(max_examples=15, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 400))
def test_result_does_not_depend_on_order_or_chunk(rnd, chunk):
    recs = _exports(120, seed=3)
    ref = find_duplicates(recs)
    shuffled = list(recs)
    rnd.shuffle(shuffled)
    old = dd._CHUNK
    try:
        dd._CHUNK = chunk
        res = find_duplicates(shuffled)
    finally:
        dd._CHUNK = old
    assert _partition(res, shuffled) == _partition(ref, recs)
    assert {shuffled[k].source_key for k in res.canonical} == {
        recs[k].source_key for k in ref.canonical}
    assert res.n_candidates == ref.n_candidates


@pytest.mark.parametrize("n_old", [0, 50, 119])
def test_incremental_candidates_are_the_new_pairs(n_old):
    # Existing records are not compared with each other; every other candidate is kept.
    recs = _exports(80, seed=5)
    keys = match_keys(recs)
    rank = canonical_priority(recs, keys)
    every = candidate_pairs(keys, rank)
    inc = candidate_pairs(keys, rank, n_existing=n_old)
    assert np.array_equal(inc, every[every[:, 1] >= n_old])
