"""The analyses behind a review report: GRADE per outcome, evidence map, overlap, reconciliation.

Each function takes the loaded review (and results already computed) and returns plain results
or HTML fragments for :mod:`metareview.report.review_report`. What is graded, mapped and
reconciled is decided by the data (outcome names, designs, roles), not by this review's topic.
"""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Any

from metareview.grade.statements import change_from_interval, statement
from metareview.review.load import Review


def limitations(review: Review) -> list[str]:
    """Limitations that follow from the data themselves (reliability, gaps, definitions)."""
    out = []
    labels = Counter(r.reliability for r in review.outcomes)
    labels.update(a.reliability for a in review.arms)
    labels.update(p.reliability for p in review.placebo_response)
    total = sum(labels.values())
    if total:
        secondary = labels["V-2"] + labels["V-2*"]
        out.append(
            f"Of {total} data rows, {labels['V']} are verbatim from a primary source, {secondary} "
            f"only from secondary summaries (V-2: {labels['V-2']}, unverified brief V-2*: "
            f"{labels['V-2*']}), {labels['I']} are inferences or arithmetic, and "
            f"{labels['NF']} record numbers searched for and not found."
        )
    nf = [r for r in review.outcomes if r.reliability == "NF" or (r.estimate is None and
          r.events is None and r.measure.lower() in ("nf", "not found"))]
    if nf:
        names = sorted({f"{review.studies[r.study].label}: {r.outcome} ({r.timepoint})"
                        for r in nf})
        out.append("Not found in any accessible source: " + "; ".join(names) + ".")
    unclear = [r for r in review.outcomes if r.window == "unclear"]
    if unclear:
        out.append(f"{len(unclear)} results have a follow-up that cannot be placed in a time "
                   "window (for example, Cochrane's immediate/short/medium/long-term windows "
                   "whose definitions were not available); they are mapped as 'unclear'.")
    no_denominator = [r for r in review.outcomes if r.denominator_note]
    if no_denominator:
        out.append(f"{len(no_denominator)} reported percentages or counts have an unclear "
                   "denominator; they are shown as reported and not pooled.")
    unrated = [s for s in review.studies.values() if s.quality is None]
    if unrated:
        out.append(f"{len(unrated)} of {len(review.studies)} studies have no quality rating in "
                   "the sources (e.g. studies published after the 2021 review); their risk of "
                   "bias is treated as 'some concerns' when grading.")
    reviews = [s for s in review.studies.values() if s.kind in ("systematic review", "overview")]
    unknown = [s for s in reviews if not s.included_studies]
    if unknown:
        out.append(f"The included primary studies of {len(unknown)} of {len(reviews)} reviews "
                   "are not listed in the sources, so their overlap cannot be measured.")
    out.append("The data hold no trial-level risk-of-bias ratings for the trials inside the "
               "reviews, so review-level estimates are graded with risk of bias 'some concerns' "
               "(one level down); where a review's trials were mostly at high risk this is still "
               "too lenient. The reviews' own certainty ratings are shown beside ours.")
    out.append("Review-level estimates are reported as the reviews give them and are never "
               "pooled with each other; only arm-level trial data are pooled with the engine.")
    return out


def _esc(x: Any) -> str:
    return escape(str(x))


# ---- GRADE per outcome ----------------------------------------------------------------------
def _normalise_certainty(text: str | None) -> str | None:
    if not text:
        return None
    t = text.lower().replace("-", " ")
    for word in ("very low", "moderate", "high", "low"):
        if word in t:
            return word
    return None


def _intervention(comparison: str) -> str:
    return comparison.split(" vs ")[0].strip() or "the intervention"


def grade_outcomes(review: Review, pooled: list) -> list[dict[str, Any]]:
    """GRADE every outcome the data can support, proposing judgements from the data.

    - Each pooled risk ratio from arm-level trial data (randomised; risk of bias from the
      trials' quality ratings, weighted by their meta-analysis weights).
    - For each (question, outcome, comparison, window) reported by reviews, the most recent
      review's estimate (a newer review supersedes an older one; all stay in the side-by-side
      table). Evidence from a review of randomised trials starts high. A review's quality
      rating describes how the review was done, not the risk of bias of its trials; with no
      trial-level ratings in the data, risk of bias is taken as "some concerns".
    """
    from metareview.grade import assess_certainty, sof_row
    from metareview.report.review_report import rob_category

    out: list[dict[str, Any]] = []
    for p in pooled:
        fit = p.ratio
        if fit is None:
            continue
        ids = {review.studies[s].label: s for s in p.studies}
        rob = [rob_category(review.studies[ids[label]]) for label in fit.study]
        cert = assess_certainty(p.title.lower(), design="randomised", fit=fit, risk_of_bias=rob)
        bt = fit.back_transformed or {}
        change = change_from_interval(bt.get("ci_low", fit.ci_low), bt.get("ci_high", fit.ci_high),
                                      1.0)
        text = statement("Ketamine", p.title.lower(), change, cert.final)
        text = text[:-1] + f" [pooled from {fit.k} trials]."
        row = sof_row(f"{p.title} (pooled trials)", certainty=cert, fit=fit)
        out.append(_graded("Q3" if p.category != "responder" else "Q1", p.title, cert, text,
                           row, f"pooled from arms.csv ({fit.k} trials)"))

    latest: dict[tuple[str, str, str, str], Any] = {}
    for r in review.outcomes:
        st = review.studies[r.study]
        if st.kind not in ("systematic review", "overview") or r.estimate is None:
            continue
        if r.ci_low is None or r.ci_high is None:
            continue
        if r.measure.split()[0].upper() not in _COMPARATIVE:
            continue  # event rates of uncontrolled studies are not effects to grade
        key = (r.question, r.outcome, r.comparison, r.window)
        if key not in latest or st.year > review.studies[latest[key].study].year:
            latest[key] = r
    for (q, outcome, comparison, window), r in sorted(latest.items()):
        st = review.studies[r.study]
        design = "randomised" if st.evidence_level in ("I", "II") else "observational"
        ratio = r.measure.upper().startswith(("RR", "OR", "HR"))
        mid = _mid(review, r)
        cert = assess_certainty(
            f"{outcome} ({window})", design=design, measure=r.measure.split()[0],
            estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, i2=r.i2, k=r.n_studies,
            n_participants=r.n_participants, risk_of_bias="some concerns", mid=mid,
        )
        change = change_from_interval(r.ci_low, r.ci_high, 1.0 if ratio else 0.0)
        text = statement(_intervention(comparison), outcome, change, cert.final)
        text = text[:-1] + f" [{st.label}; {r.timepoint}]."
        if r.certainty_reported:
            text += f" The review itself rated this {r.certainty_reported}."
        row = sof_row(f"{outcome}: {comparison}", certainty=cert, follow_up=r.timepoint,
                      measure=r.measure.split()[0], estimate=r.estimate, ci_low=r.ci_low,
                      ci_high=r.ci_high, k=r.n_studies, n_participants=r.n_participants,
                      comparator_risk=None, scale=r.scale,
                      comments=f"{st.label}; {r.source} [{r.reliability}]")
        graded = _graded(q, f"{outcome}, {comparison}, {window}", cert, text, row,
                         f"{st.label} ({r.source}, reliability {r.reliability})",
                         perioperative=r.pain_type == "perioperative")
        graded["row_key"] = _row_key(r)
        out.append(graded)
    return out


_COMPARATIVE = {"MD", "SMD", "WMD", "RR", "OR", "HR", "RD"}


def _row_key(r) -> tuple[str, str, str, str, str]:
    """Identifies an outcome row for linking it to its GRADE assessment."""
    return (r.study, r.question, r.outcome, r.comparison, r.window)


def _mid(review: Review, r) -> float | None:
    """The protocol's MID for this outcome on the same scale, if there is one."""
    for m in review.protocol.mids:
        if m.outcome == r.outcome and r.scale and m.scale == r.scale:
            return m.value
    return None


def _graded(question: str, name: str, cert, text: str, row, basis: str,
            perioperative: bool = False) -> dict[str, Any]:
    from metareview.grade import DOMAIN_LABELS

    domains = [
        {"name": DOMAIN_LABELS.get(key, key), "judgement": _judgement(d), "why": d.rationale}
        for key, d in cert.domains.items()
    ]
    return {
        "question": question, "outcome": name, "certainty": cert.final, "statement": text,
        "perioperative": perioperative,
        "basis": basis, "sof_row": row, "obj": cert,
        "detail": {"outcome": f"{name} — {cert.final} certainty ({basis})", "domains": domains},
    }


def _judgement(d) -> str:
    change = getattr(d, "effective_change", d.change)
    if not getattr(d, "assessable", True):
        return "not assessable"
    words = {0: "no change", -1: "serious (−1)", -2: "very serious (−2)", 1: "+1", 2: "+2"}
    text = words.get(change, str(change))
    return text + (" (reviewer override)" if getattr(d, "overridden", False) else "")


def sof_html(review: Review, grades: list[dict[str, Any]]) -> str:
    """The Summary of Findings table in GRADEpro's layout."""
    from metareview.grade import summary_of_findings

    if not grades:
        return "<p>No outcome could be graded.</p>"
    pico = review.protocol.pico
    sof = summary_of_findings([g["sof_row"] for g in grades], title=review.protocol.title,
                              population=pico.population, intervention=pico.intervention,
                              comparison=pico.comparator)
    return sof.to_html()


# ---- evidence map ---------------------------------------------------------------------------
def map_entries(review: Review, grades: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per outcome row and per arm-level study: where the evidence sits.

    A row's certainty is our GRADE assessment where the row was graded, else the certainty the
    source reported, else none.
    """
    graded = {g["row_key"]: g["certainty"] for g in grades if "row_key" in g}
    entries = []
    for r in review.outcomes:
        st = review.studies[r.study]
        entries.append({
            "pain_type": r.pain_type, "route": r.route, "regimen": r.regimen,
            "window": r.window, "study": st.label,
            "n": r.n_participants or r.total or st.n_participants,
            "certainty": graded.get(_row_key(r), _normalise_certainty(r.certainty_reported)),
            "direction": r.direction, "design": st.evidence_level or st.design,
        })
    for a in review.arms:
        st = review.studies[a.study]
        entries.append({
            "pain_type": a.pain_type, "route": a.route, "regimen": a.regimen, "window": a.window,
            "study": st.label, "n": st.n_participants, "certainty": None, "direction": "unclear",
            "design": st.evidence_level or st.design,
        })
    return entries


def map_html(review: Review, grades: list[dict[str, Any]]) -> str:
    """The evidence map: pain type x route x regimen by time window."""
    from metareview.synthesis import evidence_map

    entries = map_entries(review, grades)
    if not entries:
        return "<p>No results to map.</p>"
    em = evidence_map(entries, rows=("pain_type", "route", "regimen"), cols="window")
    return em.to_html(title="Evidence map: pain type × route × regimen by time window")


# ---- overlap --------------------------------------------------------------------------------
def overlap_html(review: Review) -> str:
    """Overlap of the reviews' included primary studies (corrected covered area)."""
    from metareview.errors import InputError
    from metareview.synthesis import corrected_covered_area

    reviews = {s.label: s.included_studies for s in sorted(review.studies.values(),
                                                          key=lambda s: s.label)
               if s.kind in ("systematic review", "overview")}
    if len(reviews) < 2:
        return "<p>Fewer than two reviews: overlap does not apply.</p>"
    try:
        ov = corrected_covered_area(reviews)
    except InputError as exc:
        return f"<p>Overlap could not be measured: {_esc(exc)}.</p>"
    excluded = ", ".join(ov.excluded) if ov.excluded else "none"
    pair = ov.pairwise.round(1).fillna("").to_html(classes="pairwise", border=0)
    return (f"<h3>Overlap between reviews</h3><p>Corrected covered area (Pieper 2014): "
            f"<strong>{ov.cca:.1f}%</strong> ({_esc(ov.interpretation)}) across {ov.c} reviews "
            f"and {ov.r} distinct primary studies ({ov.n_inclusions} inclusions). Reviews whose "
            f"included studies are not listed in the sources: {_esc(excluded)}.</p>"
            f"<p class='note'>Pairwise CCA (%)</p>{pair}")


# ---- reconciliation (Q4) ----------------------------------------------------------------------
_NO_CONTROL = ("none", "no control", "no comparator", "no control group", "pre-post")


def _is_single_arm(st) -> bool:
    design = st.design.lower()
    return (st.kind == "primary study"
            and (st.comparator.strip().lower() in _NO_CONTROL
                 or "single-arm" in design or "single arm" in design))


def _proportion(x: float, row) -> float:
    """A reported proportion as a fraction; the row's scale or measure says if it is in %."""
    percent = "%" in (row.scale or "") or "%" in row.measure
    return x / 100 if percent else x


def single_arm_results(review: Review) -> list[Any]:
    """Responder results of uncontrolled studies, as :class:`SingleArmResult`."""
    from metareview.synthesis import SingleArmResult

    out = []
    q4 = [r for r in review.outcomes if r.question == "Q4"]
    rtm = next((r.reported for r in q4 if "regression to the mean" in r.outcome.lower()), None)
    course = next((r.reported for r in q4 if "natural course" in r.outcome.lower()), None)
    for st in sorted(review.studies.values(), key=lambda s: s.id):
        if not _is_single_arm(st):
            continue
        rows = [r for r in review.outcomes if r.study == st.id and r.outcome == "responders"
                and r.question == "Q4"]
        props = []
        for r in rows:
            if r.events is not None and r.total is not None:
                props.append((r.events / r.total, r.total, r))
            for v in (r.estimate, r.ci_low, r.ci_high) if r.measure.startswith("range") else (
                    r.estimate,):
                if v is not None and r.events is None:
                    props.append((_proportion(v, r), r.total or r.n_participants
                                  or st.n_participants, r))
        props = [p for p in props if p[1]]
        if not props:
            continue
        values = sorted(p[0] for p in props)
        n = int(props[0][1])
        first = props[0][2]
        kwargs: dict[str, Any] = {
            "label": st.label, "n": n, "has_control": False, "outcome": first.outcome
            + (f" ({first.scale})" if first.scale else ""),
            "mcid_definition": first.notes, "follow_up": first.timepoint,
            "analysed": "unknown", "baseline_selection": rtm and st.population,
            "natural_course": course, "condition": ", ".join(st.pain_types),
        }
        if len(values) > 1 and values[0] != values[-1]:
            kwargs["proportion_range"] = (values[0], values[-1])
        else:
            kwargs["proportion"] = values[0]
        out.append(SingleArmResult(**kwargs))
    return out


def _threshold(definition: str | None) -> str:
    """The responder threshold named in a definition ('>= 30%', '>= 50%'), else 'other'."""
    import re

    m = re.search(r"(\d+)\s*%", definition or "")
    return f"≥{m.group(1)}% responders" if m else "other responder definitions"


def control_arms(review: Review) -> tuple[dict[str, list[Any]], list[Any]]:
    """Placebo/control responder groups, by responder threshold, and rows with no numbers.

    Rows with counts become :class:`ControlArm`; rows with a proportion and CI become
    :class:`ReportedProportion` (pooled on the logit scale, no counts invented).
    """
    from metareview.synthesis import ControlArm, ReportedProportion

    groups: dict[str, list[Any]] = {}
    unusable = []
    for pr in review.placebo_response:
        key = _threshold(pr.responder_definition)
        common = {"responder_definition": pr.responder_definition, "follow_up": pr.follow_up,
                  "condition": pr.condition}
        label = f"{pr.study}: {pr.condition}"
        if pr.events is not None and pr.total is not None:
            groups.setdefault(key, []).append(
                ControlArm(study=label, responders=pr.events, n=pr.total, **common))
        elif None not in (pr.proportion, pr.ci_low, pr.ci_high):
            groups.setdefault(key, []).append(ReportedProportion(
                study=label, proportion=pr.proportion, ci_low=pr.ci_low, ci_high=pr.ci_high,
                n=pr.total, **common))
        else:
            unusable.append(pr)
    for a in review.arms:
        if a.role == "control" and a.category == "responder":
            groups.setdefault(_threshold(a.definition), []).append(ControlArm(
                study=review.studies[a.study].label, responders=a.events, n=a.total,
                responder_definition=a.definition, follow_up=a.timepoint,
                condition=a.pain_type))
    return groups, unusable


def reconciliation_html(review: Review) -> tuple[str, str]:
    """The reconciliation section and the plain-language answer to the disagreement question."""
    from metareview._util.figures import svg_text
    from metareview.synthesis import reconcile_single_arm

    singles = single_arm_results(review)
    groups, unusable = control_arms(review)
    parts = []
    answers = []
    if not singles:
        msg = "The data hold no responder result from an uncontrolled (single-arm) study."
        return f"<p>{msg}</p>", msg
    if not groups:
        msg = ("No placebo-arm responder proportions are in the data, so the single-arm result "
               "cannot be set beside what a control arm would show.")
        parts.append(f"<p>{msg}</p>")
        answers.append(msg)
    for sa, (threshold, arms) in ((s, g) for s in singles for g in sorted(groups.items())):
        rec = reconcile_single_arm(sa, arms)
        parts.append(f"<h3>{_esc(sa.label)} against placebo groups with {_esc(threshold)} "
                     f"(k = {len(arms)})</h3>")
        if rec.warnings:
            parts.append("<p class='note'>" + _esc("; ".join(rec.warnings)) + "</p>")
        lines = rec.summary().split("Design differences")[0].strip().splitlines()
        parts.append("".join(f"<p>{_esc(line)}</p>" for line in lines if line.strip()))
        parts.append(f"<div class='figure'>{svg_text(rec.plot())}</div>")
        items = []
        for e in rec.explanations:
            cls, word = {True: ("applies-yes", "applies"), False: ("applies-no", "does not apply"),
                         None: ("applies-unknown", "unknown")}[e.applies]
            items.append(f"<li><strong>{_esc(e.factor)}</strong>: "
                         f"<span class='{cls}'>{word}</span>. {_esc(e.why)}</li>")
        parts.append("<p>Design differences that can explain the gap:</p>"
                     f"<ul class='expl'>{''.join(items)}</ul>")
        applies = [e.factor for e in rec.explanations if e.applies]
        # The position statement (the summary's first three lines), then the factors.
        head = " ".join(rec.summary().splitlines()[1:3])
        answers.append(f"Against placebo groups with {threshold}: {head}"
                       + (" Design differences that can explain the gap: "
                          + "; ".join(applies) + "." if applies else ""))
    ci_only = unusable
    if ci_only:
        rows = "".join(
            f"<tr><td>{_esc(p.study)}</td><td>{_esc(p.condition)}</td>"
            f"<td>{_esc(p.responder_definition)}</td>"
            f"<td>{'' if p.proportion is None else f'{100 * p.proportion:.1f}%'}</td>"
            f"<td>{'' if p.ci_low is None else f'{100 * p.ci_low:.1f}–{100 * p.ci_high:.1f}%'}"
            f"</td><td>{p.n_trials or ''}</td><td>{_esc(p.source)} [{p.reliability}]</td></tr>"
            for p in ci_only)
        parts.append("<h3>Placebo responder figures with no usable numbers</h3>"
                     "<p class='note'>Listed as recorded (e.g. searched for and not found).</p>"
                     "<table><tr><th>Source</th><th>Condition</th><th>Responder definition</th>"
                     "<th>Proportion</th><th>95% CI</th><th>Trials</th><th>Source</th></tr>"
                     f"{rows}</table>")
    return "".join(parts), " ".join(answers)
