"""Pages: analyses defined in the app (forest and funnel plots, the sensitivity analysis
without studies at high risk of bias one click away), GRADE per outcome (the engine's
suggestion for each domain with the numbers behind it, a reviewer's override with a required
reason) and the panel's Summary of Findings (chosen outcomes, their order, assumed comparator
risks).

Both read the project's study data through the synthesis layer; an override is a row of the
study data's ``judgements`` table (the same one ``judgements.csv`` holds in a review folder),
appended with its audit-log entry, so the newest judgement of a domain counts and every earlier
one stays in the history.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from flask import Flask, Response, abort, flash, g, redirect, render_template, request, url_for

from metareview._util.textfmt import in_sentence
from metareview.errors import InputError
from metareview.grade.certainty import DOMAIN_LABELS
from metareview.studies import ReviewData
from metareview.synthesis.custom import (
    MEASURES,
    METHODS,
    SUBGROUPS,
    TESTS,
    AnalysisSpec,
    run_analysis,
)
from metareview.synthesis.panel import JUDGEMENTS, judgement, panel_sof
from metareview.synthesis.review import ReviewSynthesis, synthesize
from metareview.web.tools import PageTools


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
        outcomes = [(i, o, [(k, DOMAIN_LABELS.get(k, k), d, JUDGEMENTS.get(k, ()))
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
            domain = form.get("domain", "")
            row = judgement(syn, index, domain, change, form.get("reason", ""),
                            by=g.user.name, date=dt.date.today().isoformat())
            tools.project(slug).add_study_rows("judgements", [row], actor=g.user.name)
            flash(f"{syn.grades[index].name}: {DOMAIN_LABELS.get(domain, domain)} judged "
                  f"{dict(JUDGEMENTS[domain])[change]}", "info")
            return redirect(f"{back}#outcome-{index}")
        return tools.guarded(store, back)

    @app.get("/p/<slug>/analysis")
    def analysis(slug: str) -> Any:
        role = tools.member(slug)
        try:
            syn = synthesis(slug)
        except InputError as exc:
            return render_template("analysis.html", slug=slug, role=role, missing=str(exc))
        pooled = [p.category for p in syn.pooled if p.ratio is not None]
        try:
            spec = _spec(syn.data, default=pooled[0] if pooled else None)
            result = run_analysis(syn.data, spec)
            error = None
        except InputError as exc:
            spec, result, error = None, None, str(exc)
        query = request.args.to_dict()
        other = {**query, "sensitivity": "0" if query.get("sensitivity") == "1" else "1"}
        return render_template(
            "analysis.html", slug=slug, role=role, missing=None, error=error, spec=spec,
            result=result, categories=[(c.id, c.title) for c in syn.data.protocol.arm_categories],
            measures=MEASURES, methods=METHODS, tests=TESTS, subgroups=SUBGROUPS,
            plot_query=_query(spec) if spec else {},
            toggle=url_for("analysis", slug=slug, **other))

    @app.get("/p/<slug>/analysis/<kind>.svg")
    def analysis_plot(slug: str, kind: str) -> Any:
        tools.member(slug)
        if kind not in ("forest", "funnel"):
            abort(404)
        # the page names the analysis in full: no synthesis of the whole review per image
        if not request.args.get("outcome"):
            abort(404)
        try:
            data = tools.project(slug).review_data()
            result = run_analysis(data, _spec(data))
        except InputError:
            abort(404)
        if result.fit is None:
            abort(404)
        from metareview.report.forest import forest_plot
        from metareview.report.funnel import funnel_plot

        if kind == "forest":
            # left of 1 favours the intervention for harms, the control for benefits (RevMan)
            pico = data.protocol.pico
            fav = (f"Favours {in_sentence(pico.intervention_name)}",
                   f"Favours {pico.comparator_name}")
            benefit = any(c.benefit for c in data.protocol.arm_categories
                          if c.id == result.spec.category)
            return _svg(forest_plot(result.fit, subgroups=result.subgroups,
                                    title=result.title, favours=fav[::-1] if benefit else fav))
        return _svg(funnel_plot(result.fit))

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


def _spec(data: ReviewData, default: str | None = None) -> AnalysisSpec:
    """The analysis the query string asks for (outcome by default ``default``, else the
    protocol's first arm category; the engine's defaults for the rest)."""
    args = request.args
    cats = [c.id for c in data.protocol.arm_categories]
    if not cats:
        raise InputError("the protocol has no arm categories to pool")
    return AnalysisSpec(args.get("outcome") or default or cats[0],
                        measure=args.get("measure", "RR"), method=args.get("method", "REML"),
                        test=args.get("test", "z"), subgroup=args.get("subgroup") or None,
                        exclude_high_rob=args.get("sensitivity") == "1")


def _query(spec: AnalysisSpec) -> dict[str, str]:
    """The query string that names ``spec`` in full (what the plot images ask for)."""
    return {"outcome": spec.category, "measure": spec.measure, "method": spec.method,
            "test": spec.test, "subgroup": spec.subgroup or "",
            "sensitivity": "1" if spec.exclude_high_rob else "0"}


def _svg(fig: Any) -> Response:
    """A matplotlib figure as an SVG response (shown as an image: the page's CSP forbids the
    inline styles an inline SVG would need)."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    return Response(buf.getvalue(), mimetype="image/svg+xml")


def _per_1000(risk: float | None) -> str:
    return "" if risk is None else f"{1000 * risk:g}"


__all__ = ["register"]
