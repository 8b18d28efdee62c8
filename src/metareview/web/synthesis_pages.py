"""Pages: GRADE per outcome (the engine's suggestion for each domain with the numbers behind
it, a reviewer's override with a required reason) and the panel's Summary of Findings (chosen
outcomes, their order, assumed comparator risks).

Both read the project's study data through the synthesis layer; an override is a row of the
study data's ``judgements`` table (the same one ``judgements.csv`` holds in a review folder),
appended with its audit-log entry, so the newest judgement of a domain counts and every earlier
one stays in the history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, flash, g, redirect, render_template, request, url_for

from metareview.errors import InputError
from metareview.grade.certainty import DOMAIN_LABELS, DOWNGRADE_DOMAINS
from metareview.studies.schema import JudgementRow
from metareview.synthesis.panel import panel_sof
from metareview.synthesis.review import ReviewSynthesis, synthesize
from metareview.web.tools import PageTools

#: The level changes a reviewer may choose per domain, in GRADEpro's words.
CHOICES = {
    **{d: ((0, "not serious"), (-1, "serious"), (-2, "very serious"))
       for d in DOWNGRADE_DOMAINS},
    "large_effect": ((0, "none"), (1, "large (+1)"), (2, "very large (+2)")),
    "dose_response": ((0, "none"), (1, "gradient (+1)")),
    "plausible_confounding": ((0, "none"), (1, "would reduce the effect (+1)")),
}


def register(app: Flask, tools: PageTools) -> None:
    """Add the GRADE and Summary of Findings pages to ``app``."""

    def synthesis(slug: str) -> ReviewSynthesis:
        return synthesize(tools.project(slug).review_data())

    @app.get("/p/<slug>/grade")
    def grade(slug: str) -> Any:
        role = tools.member(slug)
        try:
            syn = synthesis(slug)
        except InputError as exc:
            return render_template("grade.html", slug=slug, role=role, missing=str(exc))
        outcomes = [(i, o, [(k, DOMAIN_LABELS.get(k, k), d, CHOICES.get(k, ()))
                            for k, d in o.certainty.domains.items()])
                    for i, o in enumerate(syn.grades)]
        return render_template("grade.html", slug=slug, role=role, outcomes=outcomes,
                               missing=None)

    @app.post("/p/<slug>/grade/override")
    def grade_override(slug: str) -> Any:
        tools.member(slug, at_least="reviewer")
        back = url_for("grade", slug=slug)

        def store() -> Any:
            form = request.form
            syn = synthesis(slug)
            try:
                index = int(form.get("outcome", ""))
                change = int(form.get("change", ""))
            except ValueError:
                raise InputError("choose an outcome and a judgement") from None
            if not 0 <= index < len(syn.grades):
                raise InputError("no such graded outcome (the data changed: reload the page)")
            domain = form.get("domain", "")
            if change not in dict(CHOICES.get(domain, ())):
                raise InputError(f"{domain or 'the domain'}: not a judgement GRADE allows here")
            reason = " ".join(form.get("reason", "").split())
            if not reason:
                raise InputError("give the reason for the judgement: it becomes the footnote")
            graded = syn.grades[index]
            question, outcome, comparison, window = graded.key
            row = JudgementRow(question=question, outcome=outcome, comparison=comparison,
                               window=window, domain=domain, change=change, reason=reason,
                               by=g.user.name, date=dt.date.today().isoformat())
            tools.project(slug).add_study_rows("judgements", [row], actor=g.user.name)
            flash(f"{graded.name}: {DOMAIN_LABELS.get(domain, domain)} judged "
                  f"{dict(CHOICES[domain])[change]}", "info")
            return redirect(f"{back}#outcome-{index}")
        return tools.guarded(store, back)

    @app.get("/p/<slug>/sof")
    def sof(slug: str) -> Any:
        role = tools.member(slug)
        try:
            syn = synthesis(slug)
        except InputError as exc:
            return render_template("sof.html", slug=slug, role=role, missing=str(exc))
        args = request.args
        chosen = args.getlist("o")
        try:
            if chosen:  # each shown outcome's place: its own number box, else its list order
                places = {int(o): float(args.get(f"at{o}") or k + 1)
                          for k, o in enumerate(chosen)}
                order = sorted(places, key=lambda o: (places[o], o))
            else:
                order = list(range(len(syn.grades)))
            risks = {o: float(args[f"risk{o}"]) / 1000 for o in order
                     if args.get(f"risk{o}", "").strip()}
            table = panel_sof(syn, order, risks)
            error = None
        except (InputError, ValueError) as exc:
            error = (str(exc) if isinstance(exc, InputError)
                     else "orders and risks are numbers (a risk per 1,000)")
            order, risks = list(range(len(syn.grades))), {}
            table = panel_sof(syn, order, risks)
        rows = [(i, o, i in order, order.index(i) + 1 if i in order else "",
                 _per_1000(risks.get(i)), o.sof_row.measure in ("RR", "OR", "HR", "RD"))
                for i, o in enumerate(syn.grades)]
        return render_template("sof.html", slug=slug, role=role, missing=None, rows=rows,
                               table=table.to_html(), error=error)


def _per_1000(risk: float | None) -> str:
    return "" if risk is None else f"{1000 * risk:g}"


__all__ = ["CHOICES", "register"]
