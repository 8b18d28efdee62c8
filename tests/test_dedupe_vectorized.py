"""The array and cached paths of de-duplication equal the scalar rules they replace.

Each test states the scalar rule as it was written before the arrays (one call per record or
per pair) and checks the fast path against it on generated inputs that repeat values (so the
per-distinct-value caches are hit) and that sit on the edges of the thresholds.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Indel

import metareview.records.dedupe as dd
import metareview.records.normalize as nz
from metareview.records.dedupe import find_duplicates
from metareview.records.model import Record
from metareview.records.normalize import (
    abstract_head,
    author_keys,
    clean_doi,
    document_kind,
    is_notice_type,
    is_preprint,
    is_series_title,
    journal_key,
    match_keys,
    normalize_title,
    title_is_informative,
    title_markers,
    title_numbers,
    title_tokens,
)

# Word pieces that exercise the British/American spelling rules and the numbers/markers.
_PIECES = ["colour", "randomised", "organisation", "analyse", "paediatric", "oestrogen",
           "programme", "centre", "catalogue", "travelling", "behaviour", "modelled", "ae",
           "our", "is", "ing", "part", "ii", "iv", "x", "12", "erratum", "reply", "trial",
           "of", "the", "a", "cd004366", "épée", "β", "中文", "研究"]
_words = st.lists(st.sampled_from(_PIECES), min_size=1, max_size=5).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_words, min_size=1, max_size=12))
def test_spelling_word_by_word_equals_the_pass_over_the_title(words):
    s = " ".join(words)
    assert nz._spelling(s) == nz._SPELLING.sub(nz._spelling_sub, s)


_TITLES = ["Effects of colour on behaviour: a randomised trial", "Erratum",
           "Part II of the paediatric programme", "[Hypertension in the elderly].",
           "RETRACTED: Oestrogen and β-blockers in 12-week trials", "Editor's comments",
           "研究 中文 标题 测试 文本 数据 分析 方法 结果 讨论", "Short", ""]
_AUTHORS = [(), ("Smith, John",), ("Smith J", "Müller H", "et al."),
            ("Smith, John and Müller, Hans and others",), ("García-López, M", "O'Brien, P"),
            ("J. A. Smith", "van der Berg JA")]
_rec = st.builds(
    Record,
    title=st.sampled_from(_TITLES),
    authors=st.sampled_from(_AUTHORS),
    year=st.sampled_from([None, 2019, 2020]),
    journal=st.sampled_from(["", "J Pain Res", "Journal of Pain Research", "bioRxiv",
                             "NBER Working Paper Series", "Annual Meeting of the AHA", "The"]),
    volume=st.sampled_from(["", "12", "Suppl 2", "Vol. 012"]),
    issue=st.sampled_from(["", "3", "Suppl 1", "S2"]),
    pages=st.sampled_from(["", "123-9", "S12-5", "e0123456", "CD004366", "1", " s3"]),
    doi=st.sampled_from(["", "10.1000/x", "https://doi.org/10.1101/2020.01.01.1", "doi:10.1/Y"]),
    pmid=st.sampled_from(["", "PMID: 0123", "456"]),
    abstract=st.sampled_from(["", "BACKGROUND: We studied pain. RESULTS: Less pain." * 3]),
    type=st.sampled_from(["", "JOUR", "ABST", "RPRT", "Editorial", "UNPB"]),
)


def _scalar_keys(r: Record) -> dict:
    """The keys of one record by the scalar functions, as match_keys computed them before
    it cached per distinct value."""
    t = normalize_title(r.title)
    tk = tuple(title_tokens(t))
    doi = clean_doi(r.doi)
    jk = journal_key(r.journal) if r.journal else ()
    pre = is_preprint(r, doi, jk) or False
    page = nz.parse_pages(r.pages)[0] if r.pages else ""
    page = "" if nz.page_is_article_number(page) else page
    inf = title_is_informative(t, tk)
    return {
        "title": t, "title_tokens": tk, "numbers": title_numbers(t), "markers": title_markers(t),
        "informative": inf, "doi_str": doi, "journal_keys": jk,
        "authors": author_keys(r.authors), "abstract": abstract_head(r.abstract),
        "preprint": pre, "kind": 6 if pre else document_kind(r, jk),
        "series": not inf or is_series_title(t) or is_notice_type(r.type),
        "page": page, "versioned": re.match(r"cd\d{6}$", page) is not None,
        "volume": nz.normalize_volume(r.volume) if r.volume else "",
        "issue": nz.normalize_volume(r.issue) if r.issue else "",
        "pmid": nz.normalize_pmid(r.pmid) if r.pmid else "",
    }


@settings(max_examples=60, deadline=None)
@given(st.lists(_rec, min_size=1, max_size=25))
def test_match_keys_equal_the_scalar_keys_of_each_record(records):
    keys = match_keys(records)
    want = [_scalar_keys(r) for r in records]
    for f in ("title", "title_tokens", "doi_str", "journal_keys", "authors", "abstract"):
        assert getattr(keys, f) == [w[f] for w in want], f
    for f in ("informative", "preprint", "kind", "series", "versioned"):
        assert getattr(keys, f).tolist() == [w[f] for w in want], f
    # codes: equal exactly where the scalar values are equal, -1 where absent
    for f, absent in (("numbers", None), ("markers", None), ("page", ""), ("volume", ""),
                      ("issue", ""), ("pmid", ""), ("doi", "")):
        codes = getattr(keys, f).tolist()
        vals = [w["doi_str" if f == "doi" else f] for w in want]
        for a in range(len(records)):
            assert (codes[a] == -1) == (vals[a] == absent), f
            for b in range(len(records)):
                if codes[a] >= 0 and codes[b] >= 0:
                    assert (codes[a] == codes[b]) == (vals[a] == vals[b]), f
    assert keys.bare.tolist() == [not (r.pages.strip() or r.issue.strip()) for r in records]
    assert keys.first_author_names == list(dict.fromkeys(a[0] for a in keys.authors if a))


def _prefix_scalar(keys, i, j, t):
    """The rule as a loop over pairs (before the arrays)."""
    out = t.copy()
    for k in np.flatnonzero((t < 0.9) & keys.informative[i] & keys.informative[j]).tolist():
        a, b = keys.title[i[k]], keys.title[j[k]]
        if len(a) > len(b):
            a, b = b, a
        if len(a) < 0.3 * len(b):
            continue
        if Indel.normalized_similarity(a, b[: len(a)]) >= 0.9:
            out[k] = 0.9
    return out


_title_words = st.lists(st.sampled_from("pain sleep trial yoga older adults effect of "
                                        "exercise on falls and mood in".split()),
                        min_size=3, max_size=16).map(" ".join)


@st.composite
def _near_prefixes(draw: st.DrawFn) -> list[str]:
    """Titles, and longer titles starting with a few letters changed from them: pairs near
    the 0.9 line of the prefix rule and of its length bound."""
    base = draw(st.lists(_title_words, min_size=1, max_size=4))
    out = list(base)
    for t in base:
        k = draw(st.integers(0, 3))
        chars = list(t)
        for _ in range(k):
            at = draw(st.integers(0, len(chars) - 1))
            chars[at] = draw(st.sampled_from("xyz "))
        out.append("".join(chars) + " " + draw(_title_words))
    return out


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(_title_words, min_size=2, max_size=12), _near_prefixes()),
       st.data())
def test_prefix_similarity_equals_the_loop_over_pairs(titles, data):
    keys = match_keys([Record(title=t) for t in titles])
    n = len(titles)
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                               min_size=1, max_size=40))
    i = np.array([p[0] for p in pairs])
    j = np.array([p[1] for p in pairs])
    t = dd._ratio_many(keys.title_array, keys.title_array, keys.title_len, keys.title_len,
                       i, j)
    scalar = np.array([Indel.normalized_similarity(keys.title[a], keys.title[b])
                       if keys.title[a] and keys.title[b] else 0.0
                       for a, b in pairs])
    assert np.array_equal(t, scalar)
    assert np.array_equal(dd._prefix_similarity(keys, i, j, t), _prefix_scalar(keys, i, j, t))


def test_prefix_similarity_keeps_a_dropped_subtitle():
    short = "exercise for falls in older adults living at home"
    keys = match_keys([Record(title=short),
                       Record(title=short + ": a randomised trial with twelve months of "
                                            "follow up in three countries")])
    i, j = np.array([0]), np.array([1])
    t = dd._ratio_many(keys.title_array, keys.title_array, keys.title_len, keys.title_len,
                       i, j)
    assert t[0] < 0.9
    assert dd._prefix_similarity(keys, i, j, t)[0] == 0.9


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from("aa bb cc dd ee ff gg hh".split()), max_size=6),
                min_size=1, max_size=30),
       st.data())
def test_rare_word_codes_equal_sorting_each_title(tokens, data):
    ok = np.array(data.draw(st.lists(st.booleans(), min_size=len(tokens),
                                     max_size=len(tokens))))
    ok &= np.array([len(t) > 0 for t in tokens], dtype=bool)
    n_tok = np.array([len(t) for t in tokens], dtype=np.int64)
    codes = dd._rare_word_codes(tokens, n_tok, ok).tolist()
    df = Counter(w for toks in tokens for w in set(toks))
    want = [" ".join(sorted(sorted(set(toks), key=lambda w: (df[w], w))[:2])) if k else None
            for toks, k in zip(tokens, ok.tolist(), strict=True)]
    for a in range(len(tokens)):
        assert (codes[a] == -1) == (want[a] is None)
        for b in range(len(tokens)):
            if want[a] is not None and want[b] is not None:
                assert (codes[a] == codes[b]) == (want[a] == want[b])


def test_find_duplicates_leaves_the_collector_as_it_found_it():
    import gc

    recs = [Record(title="Exercise for falls in older adults living at home", year=2020)] * 2
    assert gc.isenabled()
    assert dd.find_duplicates(recs).clusters == ((0, 1),)
    assert gc.isenabled()
    gc.disable()
    try:
        dd.find_duplicates(recs)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_max_other_points_is_what_a_perfect_pair_gets():
    r = Record(title="Exercise for falls in older adults living at home",
               authors=("Smith, J", "Jones, K"), year=2020, journal="J Pain Res",
               volume="12", pages="101-9", abstract="We studied falls in older adults. " * 4)
    s = dd._score_pairs(match_keys([r, r]), np.array([0]), np.array([1]), "merge")
    assert s.score[0] == 6.0 + dd.MAX_OTHER_POINTS == 17.5


_variant = st.fixed_dictionaries({}, optional={
    "title": st.sampled_from(["Effects of colour on behaviour: a randomised trial in "
                              "older adults living at home",
                              "Effects of colour on behavior: a randomized trial",
                              "Effect of colour on behaviour a randomised trial in older "
                              "adults", "Colour and behaviour"]),
    "year": st.sampled_from([None, 2019, 2020, 2021]),
    "authors": st.sampled_from(_AUTHORS), "journal": st.sampled_from(["", "J Pain Res",
                                                                      "Pain"]),
    "volume": st.sampled_from(["", "12", "13"]), "pages": st.sampled_from(["", "123-9", "7"]),
    "abstract": st.sampled_from(["", "We studied pain in older adults at home. " * 3,
                                 "Falls are common and costly in older adults. " * 3])})


@settings(max_examples=150, deadline=None)
@given(st.lists(_rec, min_size=1, max_size=6), st.lists(_variant, min_size=1, max_size=10),
       st.data())
def test_skipping_hopeless_pairs_changes_no_decision(records, variants, data):
    # a base record and variants of it (scores around every threshold), plus others
    base = Record(title="Effects of colour on behaviour: a randomised trial in older adults "
                  "living at home", authors=("Smith J", "Müller H"),
                  year=2020, journal="J Pain Res", volume="12", pages="123-9",
                  abstract="We studied pain in older adults at home. " * 3)
    records = [base, *(replace(base, **v) for v in variants), *records]
    keys = match_keys(records)
    n = len(records)
    pairs = [(0, k) for k in range(1, n)]
    pairs += data.draw(st.lists(st.tuples(st.integers(0, n - 2), st.integers(1, n - 1)),
                                max_size=20))
    i = np.array([min(a, b) for a, b in pairs])
    j = np.array([max(a, b) if a != b else n - 1 for a, b in pairs])
    thr = data.draw(st.sampled_from([dd.DEFAULT_THRESHOLD, 3.0, 9.0]))
    full = dd._score_pairs(keys, i, j, "merge")
    fast = dd._score_pairs(keys, i, j, "merge", thr)
    assert np.array_equal(full.veto, fast.veto) and np.array_equal(full.exact, fast.exact)
    assert np.array_equal(full.score >= thr, fast.score >= thr)
    ident = (keys.doi[i] >= 0) & (keys.doi[i] == keys.doi[j])
    ident |= (keys.pmid[i] >= 0) & (keys.pmid[i] == keys.pmid[j])
    kept = (full.score >= thr) | ident
    assert np.array_equal(full.score[kept], fast.score[kept])


def test_a_weak_title_with_every_other_field_agreeing_is_still_scored_in_full():
    # Title similarity 0.741 (-4.4 points) and everything else agreeing (+11.5): 7.1 points,
    # a duplicate; the shortcut must not skip its author and abstract points.
    a = Record(title="Effects of colour on behaviour: a randomised trial in older adults "
                     "living at home", authors=("Smith, J", "Jones, K"), year=2020,
               journal="J Pain Res", volume="12", pages="101-9",
               abstract="We studied falls in older adults. " * 4)
    b = replace(a, title="Effects of colour on behaviour in older people living alone")
    keys = match_keys([a, b])
    one, two = np.array([0]), np.array([1])
    full = dd._score_pairs(keys, one, two, "merge")
    assert full.title[0] == pytest.approx(0.741, abs=1e-3)
    assert full.score[0] == pytest.approx(40 * (full.title[0] - 0.85) + 11.5)
    assert dd._score_pairs(keys, one, two, "merge", 6.0).score[0] == full.score[0]
    assert find_duplicates([a, b]).clusters == ((0, 1),)
