"""Inter-rater agreement of screening decisions (metareview.screening.agreement)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metareview.errors import InputError
from metareview.screening.agreement import agreement

REF = json.loads((Path(__file__).parent / "reference" / "agreement.json").read_text())
NAMES = sorted(REF["results"])


def rows(name: str) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in REF["datasets"][name]["rows"]]


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-6, abs=1e-12)


# -- reference values: tests/reference/agreement.R ----------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_matches_reference(name: str) -> None:
    # reference: agreement.R (R 4.2.2; psych 2.2.9 + vcd 1.4.11 for Cohen's kappa; published
    # formulas for AC1 / Fleiss / alpha, cross-checked with irrCAC 0.4.4 and krippendorff 0.9.0)
    ref = REF["results"][name]
    res = agreement(rows(name))
    assert list(res.reviewers) == ref["reviewers"]
    assert list(res.categories) == ref["categories"]
    assert res.n_records == ref["n_records"]
    assert res.n_single == ref["n_single"]
    assert res.n_ratings == ref["n_ratings"]
    assert res.percent_agreement == approx(ref["percent_agreement"])
    assert res.ac1 == approx(ref["ac1"]["estimate"])
    assert res.ac1_se == approx(ref["ac1"]["se"])
    assert [res.ac1_ci_low, res.ac1_ci_high] == [approx(v) for v in ref["ac1"]["ci"]]
    assert res.alpha == approx(ref["alpha"]["estimate"])
    assert res.alpha_se == approx(ref["alpha"]["se"])
    assert [res.alpha_ci_low, res.alpha_ci_high] == [approx(v) for v in ref["alpha"]["ci"]]
    if len(ref["reviewers"]) == 2:
        kappa = ref["kappa"]
        assert res.kappa_method == "cohen"
        assert [list(r) for r in res.table] == kappa["table"]
        assert res.pairwise == ()
    else:
        kappa = ref["fleiss"]
        assert res.kappa_method == "fleiss"
        assert res.table is None
        assert len(res.pairwise) == len(ref["pairwise"])
        for ours, theirs in zip(res.pairwise, ref["pairwise"], strict=True):
            assert (ours.reviewer_a, ours.reviewer_b, ours.n) == (
                theirs["reviewer_a"], theirs["reviewer_b"], theirs["n"])
            assert ours.kappa == approx(theirs["kappa"])
            assert ours.se == approx(theirs["se"])
    assert res.kappa == approx(kappa["estimate"])
    assert res.kappa_se == approx(kappa["se"])
    assert [res.kappa_ci_low, res.kappa_ci_high] == [approx(v) for v in kappa["ci"]]


def test_krippendorff_2011_worked_example() -> None:
    # reference: Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C
    # (nominal data, 4 observers, 12 units, missing values): alpha = 0.743. Unit 12 has one value
    # only and is unpairable.
    res = agreement(rows("kripp2011"))
    assert res.alpha == pytest.approx(0.743, abs=5e-4)
    assert (res.n_records, res.n_single, res.n_ratings) == (11, 1, 40)


def test_skewed_by_hand() -> None:
    # 40 records: 34 both exclude, 2 both include, anna include/ben exclude 3, the reverse 1.
    # pa = 36/40. Cohen: pe = (5*3 + 35*37) / 40^2 = 1310/1600, kappa = (0.9 - 0.81875) /
    # 0.18125 = 13/29. AC1 (Gwet 2008): pi_include = (5 + 3) / 80 = 0.1,
    # pe = 2 * 0.1 * 0.9 / (2 - 1) = 0.18, AC1 = 0.72 / 0.82 = 36/41. Alpha: 80 pairable values
    # (8 include), 8 off-diagonal coincidences: 1 - 79 * 8 / (2 * 8 * 72) = 65/144.
    res = agreement(rows("skewed"))
    assert res.percent_agreement == pytest.approx(90.0, rel=1e-12)
    assert res.kappa == pytest.approx(13 / 29, rel=1e-12)
    assert res.ac1 == pytest.approx(36 / 41, rel=1e-12)
    assert res.alpha == pytest.approx(65 / 144, rel=1e-12)
    # the kappa paradox: high agreement on a rare category, modest kappa, high AC1
    assert res.ac1 > 0.85 > 0.45 > res.kappa


# -- input forms ----------------------------------------------------------------------------------


def test_input_forms_agree() -> None:
    long = rows("two_three_missing")
    nested: dict[str, dict[str, str]] = {}
    for record, reviewer, decision in long:
        nested.setdefault(reviewer, {})[record] = decision
    frame = pd.DataFrame(long, columns=["record", "reviewer", "decision"])
    a, b, c = agreement(long), agreement(nested), agreement(frame)
    assert a == b == c


def test_missing_values_are_unrated() -> None:
    base = {"anna": {"r1": "include", "r2": "exclude", "r3": "exclude"},
            "ben": {"r1": "include", "r2": "include", "r3": "exclude"}}
    padded = {"anna": {**base["anna"], "r4": None, "r5": "include"},
              "ben": {**base["ben"], "r4": float("nan"), "r5": "  "}}
    a, b = agreement(base), agreement(padded)
    assert (b.n_records, b.n_single) == (3, 1)  # r4 rated by nobody, r5 by anna only
    assert (a.kappa, a.ac1, a.alpha) == (b.kappa, b.ac1, b.alpha)


def test_records_seen_once_do_not_change_statistics() -> None:
    base = rows("two_binary")
    extra = [*base, ("x1", "anna", "include"), ("x2", "ben", "exclude"), ("x3", "anna", "include")]
    a, b = agreement(base), agreement(extra)
    assert b.n_single == 3 and b.n_records == a.n_records
    for field in ("percent_agreement", "kappa", "kappa_se", "ac1", "ac1_se", "alpha", "alpha_se"):
        assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-12)


def test_unused_category_changes_only_ac1() -> None:
    long = rows("two_binary")
    two = agreement(long)
    three = agreement(long, categories=["include", "exclude", "maybe"])
    assert three.categories == ("include", "exclude", "maybe")
    assert three.kappa == pytest.approx(two.kappa, rel=1e-12)
    assert three.alpha == pytest.approx(two.alpha, rel=1e-12)
    # AC1's chance agreement divides by q - 1: pe = 0.375 with q = 2 and 0.1875 with q = 3,
    # so AC1 = (5/6 - 0.1875) / 0.8125 (see test_skewed_by_hand for the arithmetic)
    assert three.ac1 == pytest.approx((5 / 6 - 0.1875) / 0.8125, rel=1e-12)
    # agreement.R: anna includes records 1 4 8 13 19 21 22, ben 1 7 8 13 21 (of 24)
    assert three.table == ((4, 3, 0), (1, 16, 0), (0, 0, 0))


def test_level() -> None:
    res95 = agreement(rows("two_binary"))
    res90 = agreement(rows("two_binary"), level=90)
    assert res90.kappa_se == res95.kappa_se
    assert res90.kappa_ci_high - res90.kappa == pytest.approx(1.6448536269514722 * res90.kappa_se)


# -- degenerate cases -----------------------------------------------------------------------------


def test_single_category_everywhere() -> None:
    res = agreement({"a": {"1": "exclude", "2": "exclude"}, "b": {"1": "exclude", "2": "exclude"}})
    assert res.percent_agreement == 100
    assert math.isnan(res.kappa) and math.isnan(res.alpha) and math.isnan(res.ac1)
    d = res.to_dict()
    assert d["kappa"] is None and d["alpha"] is None
    json.dumps(d, allow_nan=False)


def test_nobody_double_screened() -> None:
    res = agreement({"a": {"1": "include"}, "b": {"2": "exclude"}})
    assert (res.n_records, res.n_single) == (0, 2)
    assert math.isnan(res.kappa) and math.isnan(res.ac1) and math.isnan(res.alpha)
    assert "seen by one reviewer only: 2" in res.summary()


def test_one_record_has_no_standard_error() -> None:
    res = agreement([("1", "a", "include"), ("1", "b", "exclude"), ("1", "c", "include")])
    assert res.n_records == 1
    # one unit with values (include, exclude, include): o_ie = o_ei = 2*1/(3-1) = 1, o_ii = 1,
    # n_i = 2, n_e = 1, n = 3: alpha = 1 - (n - 1) * 2 / (n^2 - n_i^2 - n_e^2) = 1 - 4/4 = 0
    assert res.alpha == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(res.alpha_se) and math.isnan(res.ac1_se)


# -- errors ---------------------------------------------------------------------------------------


def test_conflicting_duplicate_rating() -> None:
    with pytest.raises(InputError, match=r"ratings row 4: reviewer 'a' rated record '1' twice"):
        agreement([("1", "a", "include"), ("1", "b", "include"), ("1", "a", "exclude")])
    # the same decision twice is harmless
    assert agreement([("1", "a", "include"), ("1", "a", "include"),
                      ("1", "b", "include")]).n_ratings == 2


def test_unknown_category() -> None:
    with pytest.raises(InputError, match=r"decision 'perhaps' is not one of the categories"):
        agreement({"a": {"1": "perhaps"}, "b": {"1": "include"}},
                  categories=["include", "exclude"])


def test_bad_tables() -> None:
    with pytest.raises(InputError, match="missing column"):
        agreement(pd.DataFrame({"record": ["1"], "decision": ["include"]}))
    with pytest.raises(InputError, match="row 2: expected"):
        agreement([("1", "a")])
    with pytest.raises(InputError, match="level"):
        agreement(rows("two_binary"), level=100)
    with pytest.raises(InputError, match="reviewer 'a'"):
        agreement({"a": ["include"]})


# -- output ---------------------------------------------------------------------------------------


def test_summary_and_dict() -> None:
    res = agreement(rows("three_incomplete"))
    text = res.summary()
    for part in ("Fleiss' kappa", "Gwet's AC1", "Krippendorff's alpha", "anna / chloe",
                 f"{res.ac1:.4f}", "seen by one reviewer only: 2"):
        assert part in text
    d = res.to_dict()
    assert d["kappa_method"] == "fleiss" and len(d["pairwise"]) == 3
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    two = agreement(rows("two_binary")).summary()
    assert "Cohen's kappa" in two and "83.33%" in two


# -- properties -----------------------------------------------------------------------------------

LABELS = ("include", "exclude", "maybe")


@st.composite
def rating_sets(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    """2-4 reviewers, 2-25 records, each record rated by a random subset, 3 categories."""
    n_rev = draw(st.integers(2, 4))
    n_rec = draw(st.integers(2, 25))
    out = []
    for i in range(n_rec):
        for j in range(n_rev):
            v = draw(st.sampled_from((*LABELS, None)))
            if v is not None:
                out.append((f"r{i}", f"rev{j}", v))
    return out


def _stats(res) -> list[float]:
    return [res.percent_agreement, res.kappa, res.kappa_se, res.ac1, res.ac1_se, res.alpha,
            res.alpha_se]


def _same(a: list[float], b: list[float]) -> bool:
    return all((math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=1e-9, abs=1e-12)
               for x, y in zip(a, b, strict=True))


@settings(max_examples=60, deadline=None)
@given(rating_sets(), st.permutations(LABELS))
def test_label_permutation_invariance(data, perm) -> None:
    relabel = dict(zip(LABELS, perm, strict=True))
    a = agreement(data, categories=LABELS)
    b = agreement([(r, w, relabel[v]) for r, w, v in data], categories=LABELS)
    assert _same(_stats(a), _stats(b))


@settings(max_examples=60, deadline=None)
@given(rating_sets(), st.randoms(use_true_random=False))
def test_reviewer_symmetry(data, rnd) -> None:
    shuffled = list(data)
    rnd.shuffle(shuffled)  # a different first-appearance order of reviewers and records
    a, b = agreement(data, categories=LABELS), agreement(shuffled, categories=LABELS)
    assert _same(_stats(a), _stats(b))
    if a.table is not None and a.reviewers != b.reviewers:
        assert b.table == tuple(zip(*a.table, strict=True))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(LABELS), min_size=2, max_size=30),
       st.integers(2, 4))
def test_perfect_agreement(decisions, n_rev) -> None:
    data = [(f"r{i}", f"rev{j}", v) for i, v in enumerate(decisions) for j in range(n_rev)]
    res = agreement(data, categories=LABELS)
    assert res.percent_agreement == 100
    assert res.ac1 == pytest.approx(1.0)
    if len(set(decisions)) > 1:
        assert res.kappa == pytest.approx(1.0)
        assert res.alpha == pytest.approx(1.0)
    else:  # no variation: kappa and alpha are undefined
        assert math.isnan(res.kappa) and math.isnan(res.alpha)


@settings(max_examples=60, deadline=None)
@given(rating_sets())
def test_bounds(data) -> None:
    res = agreement(data, categories=LABELS)
    if res.n_records:
        assert 0 <= res.percent_agreement <= 100
        for v in (res.kappa, res.ac1, res.alpha):
            assert math.isnan(v) or v <= 1 + 1e-12
        for se in (res.kappa_se, res.ac1_se, res.alpha_se):
            assert math.isnan(se) or se >= 0
