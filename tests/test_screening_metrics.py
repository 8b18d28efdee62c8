"""Screening metrics (asreview-insights definitions) and stopping rules (BUSCAR).

References:
* ``tests/reference/asreview_insights.json`` — asreview-insights 1.6.1 / ASReview 2.2, made by
  ``tests/reference/asreview_insights.py`` (see its docstring to regenerate).
* ``tests/reference/buscarpy_reference.json`` — buscarpy 0.0.2 ``calculate_h0``, made by
  ``tests/reference/buscarpy_reference.py``.
* Hand derivations in the comments, and brute-force sums of hypergeometric probabilities.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from metareview.errors import InputError
from metareview.screening.simulate import (
    average_time_to_discovery,
    erf,
    loss,
    metrics,
    recall_at,
    recall_curve,
    time_to_discovery,
    wss,
)
from metareview.screening.stopping import (
    buscar_p_value,
    buscar_stop,
    consecutive_irrelevant,
    estimate_remaining,
    recall_frontier,
)

REF = Path(__file__).parent / "reference"
INSIGHTS = json.loads((REF / "asreview_insights.json").read_text())
BUSCAR = json.loads((REF / "buscarpy_reference.json").read_text())
TOL = 1e-9


# ---------------------------------------------------------------------------------------------
# Against asreview-insights
@pytest.mark.parametrize("name", sorted(INSIGHTS["orders"]))
def test_metrics_match_insights(name: str) -> None:
    # reference: asreview-insights 1.6.1, tests/reference/asreview_insights.py
    ref = INSIGHTS["orders"][name]
    y = ref["labels"]
    for f, v in ref["recall"].items():
        assert recall_at(y, float(f)) == pytest.approx(v, abs=TOL), ("recall", f)
    for r, v in ref["wss"].items():
        assert wss(y, float(r)) == pytest.approx(v, abs=TOL), ("wss", r)
    for f, v in ref["erf"].items():
        assert erf(y, float(f)) == pytest.approx(v, abs=TOL), ("erf", f)
    if ref["loss"] is not None:
        assert loss(y) == pytest.approx(ref["loss"], abs=TOL)
    assert time_to_discovery(y).tolist() == ref["td"]
    assert average_time_to_discovery(y) == pytest.approx(ref["atd"], abs=TOL)
    if "recall_curve_x" in ref:
        x, r = recall_curve(y)
        np.testing.assert_allclose(x, ref["recall_curve_x"], rtol=0, atol=TOL)
        np.testing.assert_allclose(r, ref["recall_curve_y"], rtol=0, atol=TOL)


def test_metrics_of_an_asreview_simulation_match_insights() -> None:
    # reference: ASReview 2.2 simulation of Cohen 2006 urinary incontinence, and
    # asreview-insights 1.6.1 get_metrics() of its project file (priors left out; stopped at
    # the last relevant record, so insights pads with zeros).
    sim = INSIGHTS["simulation"]
    y_all = np.array(sim["dataset_label_included"])
    priors = set(sim["priors"])
    screened = [r for r in sim["record_ids_in_order"] if r not in priors]
    rest = [r for r in range(len(y_all)) if r not in priors and r not in set(screened)]
    assert len(priors) == 2 and y_all[sorted(priors)].tolist() == [1, 0]
    y = y_all[screened + rest]
    assert y.tolist() == sim["labels_in_order_insights"]
    m = metrics(y)
    ref = sim["metrics"]
    for f, v in ref["recall"].items():
        assert m.recall[float(f)] == pytest.approx(v, abs=TOL)
    assert m.wss[0.95] == pytest.approx(ref["wss"]["0.95"], abs=TOL)
    assert m.erf[0.1] == pytest.approx(ref["erf"]["0.1"], abs=TOL)
    assert m.loss == pytest.approx(ref["loss"], abs=TOL)
    assert m.atd == pytest.approx(ref["atd"], abs=TOL)
    # insights reports TD as (record id, position among the non-prior records)
    assert [[int(screened[p - 1]), p] for p in m.td] == ref["td"]


# ---------------------------------------------------------------------------------------------
# Hand-derived values
def test_hand_derived_values() -> None:
    y = [1, 0, 1, 0, 0, 0, 1, 0, 0, 0]  # n = 10, 3 relevant, found at 1, 3, 7
    # recall: first record 1/3; at 50% (5 records) 2/3; at 5% (< 1/10) nothing screened yet
    assert recall_at(y, 0.1) == pytest.approx(1 / 3)
    assert recall_at(y, 0.5) == pytest.approx(2 / 3)
    assert recall_at(y, 0.05) == 0.0
    assert recall_at(y, 0.7) == 1.0
    # random line round(linspace(0, 3, 10)) = 0,0,1,1,1,2,2,2,3,3 finds the j-th relevant at
    # 0-based positions 2, 5, 8; ours at 0, 2, 6: WSS_j = (2-0, 5-2, 8-6)/10 = 0.2, 0.3, 0.2.
    assert wss(y, 1 / 3) == pytest.approx(0.2)
    assert wss(y, 0.95) == pytest.approx(0.3)  # read at j = 2 (largest j/3 <= 0.95)
    assert wss(y, 1.0) == pytest.approx(0.2)
    # ERF at 10%: after one record, found 1, random 0: 1/3
    assert erf(y, 0.1) == pytest.approx(1 / 3)
    # loss: optimal area 3*(10 - 1) = 27, actual sum(cumsum) = 1+1+2+2+2+2+3+3+3+3 = 22,
    # optimal - worst = 3*7 = 21: (27 - 22)/21
    assert loss(y) == pytest.approx(5 / 21)
    assert time_to_discovery(y).tolist() == [1, 3, 7]
    assert average_time_to_discovery(y) == pytest.approx(11 / 3)


def test_perfect_and_worst_orders() -> None:
    best = [1] * 4 + [0] * 16
    worst = [0] * 16 + [1] * 4
    assert loss(best) == 0.0
    assert loss(worst) == 1.0
    assert average_time_to_discovery(best) == 2.5
    assert average_time_to_discovery(worst) == 18.5
    # best: the 4th relevant at 0-based 3; the random line round(4 k / 19) first reaches 4 at
    # k = 17 (4 * 17 / 19 = 3.58 rounds up; 4 * 16 / 19 = 3.37 does not)
    assert wss(best, 1.0) == pytest.approx((17 - 3) / 20)


def test_metric_input_errors() -> None:
    with pytest.raises(InputError, match="no relevant"):
        recall_at([0, 0, 0], 0.5)
    with pytest.raises(InputError, match=r"0 \(irrelevant"):
        wss([1, 2, 0])
    with pytest.raises(InputError, match="every record is relevant"):
        loss([1, 1])
    with pytest.raises(InputError):
        metrics([])
    assert math.isnan(metrics([1, 1]).loss)


# ---------------------------------------------------------------------------------------------
# Properties
orders = st.lists(st.integers(0, 1), min_size=1, max_size=80).filter(lambda v: sum(v) > 0)


@given(orders)
def test_recall_curve_properties(y: list[int]) -> None:
    x, r = recall_curve(y)
    assert np.all(np.diff(r) >= 0) and np.all(np.diff(x) > 0)
    assert r[-1] == 1.0 and x[-1] == 1.0
    assert np.all((r >= 0) & (r <= 1))
    fr = [recall_at(y, f) for f in (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)]
    assert fr == sorted(fr)


@given(orders, st.randoms(use_true_random=False))
def test_perfect_order_is_best(y: list[int], rnd) -> None:
    perfect = sorted(y, reverse=True)
    shuffled = list(y)
    rnd.shuffle(shuffled)
    for r in (0.1, 0.5, 0.8, 0.95, 1.0):
        w = wss(shuffled, r)
        assert -1 < w <= 1  # 1 only for a single record: linspace(0, 1, 1) is [0]
        assert wss(perfect, r) >= w - 1e-12
    for f in (0.1, 0.5):
        assert erf(perfect, f) >= erf(shuffled, f) - 1e-12
        assert recall_at(perfect, f) >= recall_at(shuffled, f)
    if sum(y) < len(y):
        assert loss(perfect) == pytest.approx(0.0, abs=1e-12)
        assert 0.0 <= loss(shuffled) <= 1.0
    assert average_time_to_discovery(perfect) == pytest.approx((sum(y) + 1) / 2)


# ---------------------------------------------------------------------------------------------
# Stopping rules
def test_consecutive_irrelevant() -> None:
    d = consecutive_irrelevant([1, 0, 1, 0, 0, 0], 3)
    assert d.stop and d.statistic == 3 and d.n_relevant == 2 and d.n_screened == 6
    assert not consecutive_irrelevant([1, 0, 1, 0, 0, 0], 4).stop
    assert not consecutive_irrelevant([0, 0, 1], 1).stop
    assert consecutive_irrelevant([0, 0, 0], 3).statistic == 3  # nothing found at all
    assert consecutive_irrelevant([], 1).statistic == 0
    with pytest.raises(InputError):
        consecutive_irrelevant([1, 0], 0)
    assert "stop" in d.summary() and d.to_dict()["rule"] == "consecutive_irrelevant"


@pytest.mark.parametrize("case", BUSCAR["cases"], ids=lambda c: c["name"])
def test_buscar_matches_buscarpy(case: dict) -> None:
    # reference: buscarpy 0.0.2 calculate_h0, tests/reference/buscarpy_reference.py
    for target, p in case["p"].items():
        assert buscar_p_value(case["labels"], case["n_total"], float(target)) == pytest.approx(
            p, rel=1e-12, abs=1e-15)
    if "p_bias_2_target_0.95" in case:
        assert buscar_p_value(case["labels"], case["n_total"], 0.95, bias=2.0) == pytest.approx(
            case["p_bias_2_target_0.95"], rel=1e-9)


def _buscar_brute(y: list[int], n_total: int, target: float) -> float:
    """BUSCAR written out urn by urn, P(X <= k) as an explicit sum of pmf terms."""
    r = sum(y)
    n_seen = len(y)
    need = math.floor(r / target) + 1  # smallest total of relevant records with recall < target
    best = 1.0
    for i in range(1, n_seen + 1):
        k = sum(y[n_seen - i:])
        population = n_total - n_seen + i
        K = need - (r - k)
        p = sum(stats.hypergeom.pmf(j, population, K, i) for j in range(k + 1))
        best = min(best, p)
    return best


def test_buscar_matches_an_urn_by_urn_derivation() -> None:
    y = [1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1] + [0] * 40
    for target in (0.8, 0.9, 0.95):
        assert buscar_p_value(y, 200, target) == pytest.approx(_buscar_brute(y, 200, target),
                                                               rel=1e-10)


def test_buscar_decisions() -> None:
    case = {c["name"]: c for c in BUSCAR["cases"]}["generated_5"]
    d = buscar_stop(case["labels"], case["n_total"], recall_target=0.95, alpha=0.05)
    assert d.stop and d.statistic == pytest.approx(case["p"]["0.95"], rel=1e-12)
    assert not buscar_stop(case["labels"], case["n_total"], recall_target=0.99).stop
    assert "BUSCAR" in d.summary()
    # H0 impossible: 19 relevant seen, recall < 95% needs >= 1 more, but nothing is unseen
    assert buscar_p_value([1] * 19 + [0] * 81, 100) == 0.0
    # 2 more would be needed (floor(38/0.95 + 1) = 41 > 38 + 1 unseen)
    assert buscar_p_value([1] * 38 + [0] * 61, 100) == 0.0
    with pytest.raises(InputError):
        buscar_p_value([1, 0], 1)
    with pytest.raises(InputError):
        buscar_p_value([1, 0], 10, recall_target=1.0)


def test_recall_frontier_is_monotone() -> None:
    case = {c["name"]: c for c in BUSCAR["cases"]}["generated_2"]
    _, p = recall_frontier(case["labels"], case["n_total"], targets=[0.99, 0.95, 0.9, 0.8])
    assert p.tolist() == pytest.approx([case["p"][k] for k in ("0.99", "0.95", "0.9", "0.8")],
                                       rel=1e-12)
    assert np.all(np.diff(p) <= 0)


def _p_missing(y: list[int], n_total: int, m: int) -> float:
    """p(m) of estimate_remaining, urn by urn."""
    n_seen = len(y)
    return min(stats.hypergeom.cdf(sum(y[n_seen - i:]), n_total - n_seen + i,
                                   sum(y[n_seen - i:]) + m, i) for i in range(1, n_seen + 1))


def test_estimate_remaining_inverts_the_test() -> None:
    y = [1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1] + [0] * 60
    est = estimate_remaining(y, 400, confidence=0.9)
    assert est.lower == 0 <= est.estimate <= est.upper <= 400 - len(y)
    # the upper bound is the last m the test does not reject at alpha = 0.1
    assert _p_missing(y, 400, est.upper) > 0.1 >= _p_missing(y, 400, est.upper + 1)
    assert _p_missing(y, 400, est.estimate) >= 0.5 > _p_missing(y, 400, est.estimate + 1)
    assert est.recall_lower == pytest.approx(5 / (5 + est.upper))
    # a longer run of irrelevant records leaves fewer plausible missing records
    longer = estimate_remaining(y + [0] * 100, 400, confidence=0.9)
    assert longer.upper < est.upper
    # everything screened: nothing can remain
    assert estimate_remaining([1, 0, 0, 1], 4).upper == 0
    assert "unseen" in est.summary() and est.to_dict()["upper"] == est.upper
