"""The second review, built only from metadat's dat.bcg: its data, its pooled estimate (metafor's),
its GRADE assessment and its report.

The pooled risk ratio is checked against ``tests/reference/metafor_reference.json`` (metafor
3.8-1, metadat 1.2-0: ``rma(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg,
data = dat.bcg, method = "REML")``), reached through the review path: review folder, arm rows,
pooling, GRADE, report.
"""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import pytest

from metareview.report.review_report import build_report, render_html, write_report
from metareview.studies import load_folder
from metareview.synthesis.review import synthesize
from tests.reference_data import dataset, reference, rma_case

ROOT = Path(__file__).resolve().parents[1]
REVIEW = ROOT / "reviews" / "bcg-tuberculosis"
BUNDLED = ROOT / "src" / "metareview" / "data" / "bcg.csv"


@pytest.fixture(scope="module")
def built():
    review = load_folder(REVIEW)
    report = build_report(synthesize(review))
    return review, report, html.unescape(render_html(report))


def bundled_rows() -> list[dict[str, str]]:
    with BUNDLED.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_thirteen_trials_and_two_arms_each(built):
    review, _, _ = built
    assert len(review.studies) == 13
    assert len(review.arms) == 26
    assert review.outcomes == () and review.placebo_response == () and review.judgements == ()
    for sid in review.studies:
        roles = sorted(a.role for a in review.arms if a.study == sid)
        assert roles == ["control", "intervention"], sid


def test_every_arm_is_the_bundled_dataset_row_it_cites(built):
    """events = ai (ci), total = ai + bi (ci + di) of the row named in ``source``; the studies'
    labels, years, latitude bands, allocation and participant sums follow from the same row."""
    review, _, _ = built
    rows = bundled_rows()
    for a in review.arms:
        m = re.fullmatch(r"metadat dat\.bcg row (\d+)", a.source)
        assert m, a.source
        row = rows[int(m.group(1)) - 1]
        st = review.studies[a.study]
        assert st.label == row["study"] and st.year == int(row["year"])
        cases, non = ("ai", "bi") if a.role == "intervention" else ("ci", "di")
        assert (a.events, a.total) == (int(row[cases]), int(row[cases]) + int(row[non]))
        assert a.reliability == "I"  # totals are sums: arithmetic
        lat = int(row["ablat"])
        band = ("latitude < 30°" if lat < 30 else "latitude 30-39°" if lat < 40
                else "latitude ≥ 40°")
        assert a.population == band and st.populations == [band]
        assert st.n_participants == sum(int(row[c]) for c in ("ai", "bi", "ci", "di"))
        random = row["alloc"] == "random"
        assert st.evidence_level == ("II" if random else "III-1")
        assert st.quality.instrument == "RoB 2"
        assert st.quality.rating == ("some concerns" if random else "high")
        assert a.route == "unclear" and st.intervention.route == "unclear"


def test_bundled_data_are_metadat_dat_bcg():
    """The review's source equals the R export of dat.bcg used for the metafor references."""
    ref = dataset("bcg")
    rows = bundled_rows()
    assert [r["study"] for r in rows] == list(ref["study"])
    for r, (_, x) in zip(rows, ref.iterrows(), strict=True):
        assert [int(r[c]) for c in ("ai", "bi", "ci", "di", "ablat", "year")] == [
            x.tpos, x.tneg, x.cpos, x.cneg, x.ablat, x.year]
        assert r["alloc"] == x.alloc


def test_pooled_risk_ratio_is_metafors_reml_fit(built):
    _, report, _ = built
    (pooled,) = report.synthesis.pooled
    fit = pooled.ratio
    ref = rma_case("bcg", "RR", "REML", "z")
    assert fit.measure == "RR" and fit.method == "REML" and fit.k == ref["k"] == 13
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("tau2", "tau2"),
                         ("ci_low", "ci_lb"), ("ci_high", "ci_ub"), ("i2", "I2"),
                         ("pi_low", "pi_lb"), ("pi_high", "pi_ub")):
        assert getattr(fit, ours) == pytest.approx(ref[theirs], rel=1e-6), ours
    bt = fit.back_transformed
    for ours, theirs in (("estimate", "estimate"), ("ci_low", "ci_lb"), ("ci_high", "ci_ub")):
        assert bt[ours] == pytest.approx(ref["back"][theirs], rel=1e-6), ours
    # the weights, study by study (the review orders studies by id, metafor by dataset row)
    labels = reference()["datasets"]["bcg"]["labels"]
    ref_w = dict(zip(labels, ref["weights"], strict=True))
    for label, w in zip(fit.study, fit.weights, strict=True):
        assert w == pytest.approx(ref_w[label], rel=1e-6), label


def test_pooled_risk_ratio_is_in_the_report(built):
    _, report, text = built
    fit = report.synthesis.pooled[0].ratio
    bt = fit.back_transformed
    line = (f"pooled risk ratio, BCG vaccine vs no vaccine {bt['estimate']:.2f} (95% CI "
            f"{bt['ci_low']:.2f} to {bt['ci_high']:.2f}) from 13 studies; "
            f"I² = {fit.i2:.0f}%, tau² = {fit.tau2:.3g} (REML)")
    assert line == ("pooled risk ratio, BCG vaccine vs no vaccine 0.49 (95% CI 0.34 to 0.70) "
                    "from 13 studies; I² = 92%, tau² = 0.313 (REML)")
    assert line in text
    assert "Favours BCG vaccine" in text and "Favours no vaccine" in text


def test_grade_follows_allocation_and_heterogeneity(built):
    """Very low: risk of bias -1 (about half the weight is from alternate or systematic
    allocation, rated high risk; the rest is random allocation with other domains unassessed,
    'some concerns'), inconsistency -2 (I² 92%, prediction interval from a large benefit to
    harm); imprecision and publication bias not downgraded (the CI excludes 1 with 357,347
    participants; Egger's test p = 0.42)."""
    review, report, _ = built
    (g,) = report.synthesis.grades
    assert g.question == "effectiveness" and g.name == "Tuberculosis cases"
    assert g.certainty.start == "high" and g.level == "very low"
    changes = {k: d.change for k, d in g.certainty.domains.items()}
    assert changes["risk_of_bias"] == -1
    assert changes["inconsistency"] == -2
    assert changes["imprecision"] == 0 and changes["publication_bias"] == 0
    assert changes["indirectness"] == 0
    fit = report.synthesis.pooled[0].ratio
    by_label = {st.label: st for st in review.studies.values()}
    high = sum(w for label, w in zip(fit.study, fit.weights, strict=True)
               if by_label[label].quality.rating == "high")
    assert 45 < high < 55
    rob = g.certainty.domains["risk_of_bias"].rationale
    assert f"{high:.0f}% of the weight comes from studies at high risk of bias" in rob
    assert "I² = 92%" in g.certainty.domains["inconsistency"].rationale
    assert g.statement.startswith("The evidence is very uncertain about the effect of BCG "
                                  "vaccine on tuberculosis cases (very low certainty)")
    (answer,) = report.answers
    assert answer.id == "effectiveness" and answer.certainty == "very low"


def test_summary_of_findings_row(built):
    _, report, text = built
    (g,) = report.synthesis.grades
    row = g.sof_row
    assert row.outcome == "Tuberculosis cases (pooled trials)"
    assert row.participants == 357347 and row.studies == 13
    assert row.participants_text == "357,347 (13 studies)"  # not all 13 are RCTs
    assert "7 randomised trials" in row.comments and "6 other controlled trials" in row.comments
    assert row.measure == "RR" and row.certainty == "very low"
    assert "Tuberculosis cases (pooled trials)" in text and "357,347 (13 studies)" in text
    assert "RR 0.49 (0.34 to 0.70)" in text


def test_every_arm_number_is_in_the_appendix_with_its_source(built):
    review, report, _ = built
    rows = {tuple(r[:5]) for r in report.appendix.rows}  # the 6th column: where to open
    for a in review.arms:
        label = review.studies[a.study].label
        key = (label, f"{a.outcome}, {a.arm} arm", f"{a.events}/{a.total}", a.source,
               a.reliability)
        assert key in rows, key
    for st in review.studies.values():
        key = (st.label, "participants", f"{st.n_participants:,}",
               f"{st.source.document} {st.source.location}", "I")
        assert key in rows, key


def test_report_has_no_other_review_and_no_sections_that_do_not_apply(built):
    _, _, text = built
    assert "ketamine" not in text.lower() and "placebo" not in text.lower()
    assert 'id="reviews"' not in text and 'id="reconciliation"' not in text
    # the quality chart's legend is RoB 2's scale, not strong/moderate/weak
    assert "<!-- some concerns -->" in text and "<!-- weak -->" not in text


def test_same_data_same_bytes(tmp_path):
    a = write_report(load_folder(REVIEW), tmp_path / "a.html").read_bytes()
    b = write_report(load_folder(REVIEW), tmp_path / "b.html").read_bytes()
    assert a == b
    assert b"<script" not in a and not re.search(rb'(src|href)="(https?:)?//', a)


# ---- generic behaviour this review needed ----------------------------------------------------
@pytest.mark.parametrize("folder", ["bcg-tuberculosis", "ketamine-chronic-pain"])
def test_evidence_map_rows_follow_the_protocols_vocabulary_order(folder):
    review = load_folder(ROOT / "reviews" / folder)
    em = synthesize(review).evidence_map
    proto = review.protocol
    order = [proto.allowed(c) for c in ("population", "route", "regimen")]
    ranks = [tuple(vals.index(v) for vals, v in zip(order, key, strict=True))
             for key in em.row_keys]
    assert ranks == sorted(ranks)
    if folder == "bcg-tuberculosis":  # arm rows carry their pooled outcome's certainty
        assert [c.n_studies for c in em.cells] == [5, 2, 6]
        assert {(c.best_certainty, c.worst_certainty) for c in em.cells} == {
            ("very low", "very low")}


def test_quality_chart_reads_each_instruments_scale():
    from metareview._util.figures import svg_text
    from metareview.report.quality import quality_chart

    svg = svg_text(quality_chart([("RoB 2", "low"), ("RoB 2", "high"), ("RoB 2", "high"),
                                  ("EPHPP", "strong")]))
    assert "<!-- strong / low -->" in svg and "<!-- moderate / some concerns -->" in svg
    assert "<!-- weak / high -->" in svg
    only = svg_text(quality_chart([("EPHPP", "weak"), ("Health Evidence", "strong")]))
    assert "<!-- strong -->" in only and "<!-- weak -->" in only and "low" not in only


def test_names_in_sentences_keep_acronyms():
    from metareview._util.textfmt import in_sentence

    assert in_sentence("Oral aspirin") == "oral aspirin"
    assert in_sentence("HPV vaccine") == "HPV vaccine"
    assert in_sentence("Any adverse event") == "any adverse event"
