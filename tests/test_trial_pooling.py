"""Trial-level pooling in the flagship: immediate responders after one infusion (four trials).

The rules checked: the pooled risk ratio is the engine's fit of the 2x2 tables built by hand
(crossover trials as if parallel, the shared placebo arm counted once with the ketamine arms
combined or split, 0.5 added to zero cells); the sensitivity fit leaves out exactly the trial
marked indirect; every arm number is in the appendix with its source; the forest plots are in
the report, and a category with fewer than three trials is drawn without a pooled diamond.
"""

from __future__ import annotations

import dataclasses
import html
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.patches import Polygon

from metareview.effects.escalc import effect_sizes
from metareview.models.rma import meta_analysis
from metareview.report.forest import forest_plot
from metareview.report.review_report import build_report, render_html
from metareview.studies import load_folder
from metareview.synthesis.pooling import pool_arms
from metareview.synthesis.review import synthesize

REVIEW = Path(__file__).resolve().parents[1] / "reviews" / "ketamine-chronic-pain"
CAT = "responder_immediate"

#: The 2x2 tables by hand from trials.csv rows 5, 12, 13, 16 and 18 (events/total): Lumanauw's
#: two ketamine arms (25/30, 28/35) combined against its one placebo arm (13/32).
BY_HAND = pd.DataFrame({
    "study": ["Kvarnström 2003", "Kvarnström 2004", "Lumanauw 2019", "Noppers 2011"],
    "ai": [7, 5, 25 + 28, 8], "n1i": [12, 10, 30 + 35, 12],
    "ci": [2, 0, 13, 3], "n2i": [12, 10, 32, 12],
})


@pytest.fixture(scope="module")
def review():
    return load_folder(REVIEW)


@pytest.fixture(scope="module")
def pooled(review):
    return {p.category: p for p in pool_arms(review)}


@pytest.fixture(scope="module")
def report(review):
    rep = build_report(synthesize(review))
    return rep, html.unescape(render_html(rep))


def _fit(table: pd.DataFrame):
    return meta_analysis(effect_sizes(table, "RR"), method="REML")


def _same(fit, ref) -> None:
    assert fit.k == ref.k
    for name in ("estimate", "ci_low", "ci_high", "tau2"):
        assert getattr(fit, name) == pytest.approx(getattr(ref, name), rel=1e-12, abs=1e-12)


def test_pooled_immediate_responder_rr_is_the_engine_fit_of_the_tables_by_hand(pooled):
    p = pooled[CAT]
    ref = _fit(BY_HAND)
    _same(p.ratio, ref)
    assert math.exp(p.ratio.estimate) == pytest.approx(2.248, abs=5e-4)
    assert p.studies == ("kvarnstrom2003", "kvarnstrom2004", "lumanauw2019", "noppers2011")
    assert p.not_pooled is None and p.trials is None


def test_shared_placebo_arm_split_between_ketamine_arms_when_the_category_says_split(review):
    proto = review.protocol
    cats = [c.model_copy(update={"multi_arm": "split"}) if c.id == CAT else c
            for c in proto.arm_categories]
    split = dataclasses.replace(review, protocol=proto.model_copy(update={"arm_categories": cats}))
    p = {q.category: q for q in pool_arms(split)}[CAT]
    # Cochrane Handbook 23.3.4: each ketamine arm against half the placebo's events and total.
    rows = BY_HAND[BY_HAND.study != "Lumanauw 2019"]
    table = pd.concat([rows, pd.DataFrame({
        "study": ["Lumanauw 2019 (ketamine 0.25 mg/kg)", "Lumanauw 2019 (ketamine 0.5 mg/kg)"],
        "ai": [28, 25], "n1i": [35, 30], "ci": [6.5, 6.5], "n2i": [16.0, 16.0]})])
    _same(p.ratio, _fit(table))
    assert p.ratio.k == 5 and sum(p.ratio.effects.arms["n2i"]) == 12 + 10 + 12 + 32
    assert any("split equally" in h for h in p.handling)


def test_zero_cell_gets_half_in_every_cell_and_the_trial_is_kept(pooled):
    fit = pooled[CAT].ratio
    i = list(fit.study).index("Kvarnström 2004")
    assert fit.yi[i] == pytest.approx(math.log((5.5 / 11) / (0.5 / 11)))
    assert fit.vi[i] == pytest.approx(1 / 5.5 - 1 / 11 + 1 / 0.5 - 1 / 11)
    assert any(h.startswith("Zero cells (Kvarnström 2004)") for h in pooled[CAT].handling)


def test_crossover_trials_are_analysed_as_parallel_and_said_to_be(review, pooled):
    cross = {a.study for a in review.arms if a.category == CAT and a.design == "crossover"}
    assert cross == {"kvarnstrom2003", "kvarnstrom2004"}
    (note,) = [h for h in pooled[CAT].handling if h.startswith("Crossover trials")]
    assert "Kvarnström 2003, Kvarnström 2004" in note and "conservative" in note


def test_sensitivity_fit_leaves_out_exactly_the_indirect_trial(review, pooled):
    sens = pooled[CAT].sensitivity
    indirect = {a.study for a in review.arms if a.category == CAT and a.indirect}
    assert indirect == {"lumanauw2019"}
    assert sens.left_out == ("lumanauw2019",)
    assert "emergency" in sens.why[0]
    _same(sens.ratio, _fit(BY_HAND[BY_HAND.study != "Lumanauw 2019"]))
    assert math.exp(sens.ratio.estimate) == pytest.approx(3.297, abs=5e-4)
    assert pooled[CAT].to_dict()["sensitivity"]["left_out"] == ["lumanauw2019"]


def test_every_arm_number_is_in_the_appendix_with_its_source(review, report):
    rep, text = report
    rows = {r[:5] for r in rep.appendix.rows}
    docs = {d.id for d in review.protocol.documents}
    for a in review.arms:
        label = review.studies[a.study].label
        key = (label, f"{a.outcome}, {a.arm} arm", f"{a.events}/{a.total}", a.source,
               a.reliability)
        assert key in rows, key
        assert a.source.split()[0] in docs, a.source
        if a.category == CAT:
            assert re.match(r"trials row \d+ \(", a.source), a.source
            assert a.source in text


def test_pooled_section_has_the_forest_the_sensitivity_and_what_it_can_answer(report):
    rep, text = report
    sections = {s.title: s for s in rep.pooled}
    main = sections["Responders immediately after a single infusion: risk ratio, "
                    "ketamine vs control"]
    assert main.svg.lstrip().startswith(("<svg", "<?xml")) and main.svg in render_html(rep)
    assert "2.25 (95% CI 1.53 to 3.29) from 4 studies" in main.text
    assert "says nothing about pain days or weeks later" in main.text
    sens = sections["Responders immediately after a single infusion: sensitivity analysis "
                    "without indirect populations"]
    assert "Left out: Lumanauw 2019" in sens.text and "3.30 (95% CI 1.48 to 7.33)" in sens.text
    assert "<svg" in sens.svg
    assert "No outcome has arm-level data" not in text


def test_category_with_two_trials_gets_a_forest_without_a_diamond(review):
    two = dataclasses.replace(review, arms=tuple(
        a for a in review.arms if not (a.category == CAT and a.study.startswith("kvarnstrom"))))
    p = {q.category: q for q in pool_arms(two)}[CAT]
    assert {c.min_trials for c in review.protocol.arm_categories} == {3}
    assert p.ratio is None and p.sensitivity is None
    assert p.not_pooled == "2 trials with both arms (pooling needs 3)"
    assert list(p.trials.study) == ["Lumanauw 2019", "Noppers 2011"]
    fig = forest_plot(p.trials, pooled=False)
    gids = [a.get_gid() or "" for a in fig.findobj(Polygon)]
    assert not any(g.startswith("diamond") for g in gids)
    pooled_fig = forest_plot(p.trials)
    assert any((a.get_gid() or "").startswith("diamond")
               for a in pooled_fig.findobj(Polygon))
    texts = [t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text"))]
    assert "Weight" not in texts and "Not pooled: each study's own estimate" in texts
    rep = build_report(synthesize(two))
    (sec,) = [s for s in rep.pooled if s.title.startswith(
        "Responders immediately after a single infusion")]
    assert sec.title.endswith("trials not pooled") and "diamond" not in sec.svg


def test_single_trial_categories_are_drawn_not_pooled(pooled):
    assert pooled["responder"].ratio is None
    assert pooled["responder"].not_pooled == "1 trial with both arms (pooling needs 3)"
    assert list(pooled["responder"].trials.study) == ["Noppers 2011"]
    assert pooled["any"].trials is not None and pooled["any"].ratio is None


def test_category_the_protocol_does_not_pool_is_drawn_with_every_trial(review):
    proto = review.protocol
    cats = [c.model_copy(update={"pool": False}) if c.id == CAT else c
            for c in proto.arm_categories]
    apart = dataclasses.replace(review, protocol=proto.model_copy(update={"arm_categories": cats}))
    p = {q.category: q for q in pool_arms(apart)}[CAT]
    assert p.ratio is None and p.sensitivity is None
    assert p.not_pooled == "the protocol does not pool this category"
    assert p.trials.k == 4
    # The trials' own ratios are those of the pooled fit (same tables, same corrections).
    ref = {q.category: q for q in pool_arms(review)}[CAT].ratio
    assert list(p.trials.yi) == pytest.approx(list(ref.yi))


def test_benefit_categories_swap_the_favours_labels(report):
    rep, _ = report
    svg = next(s.svg for s in rep.pooled if s.title.startswith(
        "Responders immediately after a single infusion: risk ratio"))
    harm = next(s.svg for s in rep.pooled if s.title.startswith("Any adverse event"))
    # Drawn left to right: for responders "Favours control" comes first, for harms second.
    assert svg.index("Favours control") < svg.index("Favours ketamine")
    assert harm.index("Favours ketamine") < harm.index("Favours control")
