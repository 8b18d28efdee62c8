"""Pages: risk-of-bias and quality appraisal, as in Covidence's quality assessment.

The list shows every study against every instrument with each appraiser's progress and the
consensus, and the traffic-light plot of the agreed judgements per instrument (robvis's layout,
served as SVG). A study's form for an instrument shows the report's PDF beside the questions;
two reviewers answer blind, each answer with its support and where it was read; the
instrument's algorithm gives the judgements as answers are saved. Once both have submitted,
the comparison is open to every member and the owner settles it and writes the agreed rating
into the study's quality (:mod:`metareview.appraisal.team` does all of it; these pages parse
and render).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, flash, g, redirect, render_template, request, url_for

from metareview.appraisal import team
from metareview.appraisal.forms import FORMS, SLUGS, Form, form
from metareview.errors import InputError
from metareview.report.traffic_light import traffic_light
from metareview.store.project import FullText, Project
from metareview.web.tools import PageTools

#: Words for the colour of each risk-of-bias category on the pages.
CATEGORY_CLASS = {"low": "rb-low", "some concerns": "rb-some", "high": "rb-high"}


def register(app: Flask, tools: PageTools) -> None:
    """Add the appraisal pages to ``app``.

    Parameters
    ----------
    app : Flask
        The app :func:`metareview.web.app.create_app` builds.
    tools : PageTools
        Its site, project, membership check and error guard.
    """
    member, project, guarded = tools.member, tools.project, tools.guarded

    def lookup(slug: str, study: str, inst: str) -> tuple[Project, str, Form]:
        """The project, the study's label and the form; 404 for a study or instrument this
        project does not have."""
        if inst not in SLUGS:
            abort(404)
        p = project(slug)
        labels = {e.id: e.label for e in p.study_entries()}
        if study not in labels:
            abort(404)
        return p, labels[study], form(inst)

    def form_page(slug: str, study: str, inst: str) -> str:
        return url_for("appraisal_form", slug=slug, study=study, inst=inst)

    @app.get("/p/<slug>/appraisal")
    def appraisal(slug: str) -> Any:
        role = member(slug)
        p = project(slug)
        entries = p.study_entries()
        states = team.appraisal_states(p.engine)
        me = g.user.name
        rows = []
        for e in entries:
            cells = []
            for f in FORMS.values():
                st = states.get((e.id, f.instrument))
                cells.append({"slug": f.slug, "state": st,
                              "text": _state_text(st, me)})
            rows.append({"id": e.id, "label": e.label, "cells": cells})
        plots = [f for f in FORMS.values()
                 if any(st.both_submitted for (_, ins), st in states.items()
                        if ins == f.instrument)]
        return render_template("appraisal.html", slug=slug, role=role, rows=rows,
                               forms=list(FORMS.values()), plots=plots)

    @app.get("/p/<slug>/appraisal/<inst>.svg")
    def appraisal_plot(slug: str, inst: str) -> Any:
        member(slug)
        if inst not in SLUGS:
            abort(404)
        f = form(inst)
        agreed = team.agreed_appraisals(project(slug).engine, f.instrument)
        from metareview._util.figures import svg_text

        # Opened on its own (not through <img>), matplotlib's SVG needs its inline styles;
        # it holds no script, and this policy allows none.
        return Response(svg_text(traffic_light(agreed, f)), mimetype="image/svg+xml",
                        headers={"Content-Security-Policy":
                                 "default-src 'none'; style-src 'unsafe-inline'; "
                                 "frame-ancestors 'none'"})

    @app.get("/p/<slug>/appraisal/<study>/<inst>")
    def appraisal_form(slug: str, study: str, inst: str) -> Any:
        role = member(slug)
        p, label, f = lookup(slug, study, inst)
        me = g.user.name
        state = team.appraisal_state(p.engine, study, f.instrument)
        mine_state = state.of(me)
        mine = team.answers(p.engine, study, f.instrument, me, viewer=me) if mine_state else {}
        over = team.overrides(p.engine, study, f.instrument, me, viewer=me) if mine_state else {}
        values = {k: a.value for k, a in mine.items()}
        judged = team.judgement(f, mine, over) if mine else None
        may_answer = (role != "viewer" and state.applied_by is None
                      and ((mine_state is not None and not mine_state.submitted)
                           or (mine_state is None and len(state.appraisers) < 2)))
        return render_template(
            "appraisal_form.html", slug=slug, role=role, study=study, label=label, f=f,
            state=state, state_text=_state_text(state, me),
            mine=mine, mine_state=mine_state, judged=judged,
            category=CATEGORY_CLASS.get(judged.risk_of_bias) if judged else None,
            override=over.get(team.OVERALL), overrides=over, may_answer=may_answer,
            missing=f.missing(values), asked=set(f.applicable(values)),
            groups=_groups(f), pdf=_pdf(p, study))

    @app.post("/p/<slug>/appraisal/<study>/<inst>")
    def appraisal_save(slug: str, study: str, inst: str) -> Any:
        member(slug, at_least="reviewer")
        p, _, f = lookup(slug, study, inst)
        back = form_page(slug, study, inst)
        me = g.user.name
        given = [team.AnswerInput(fl.key, request.form.get(f"a-{fl.key}") or None,
                                  request.form.get(f"s-{fl.key}"),
                                  request.form.get(f"l-{fl.key}")) for fl in f.fields]

        def run() -> Any:
            n = team.save_answers(p.engine, study, f.instrument, me, given)
            if request.form.get("action") == "submit":
                team.submit(p.engine, study, f.instrument, me)
                flash(f"saved {n} answer{'s' if n != 1 else ''} and submitted", "info")
            else:
                flash(f"saved {n} changed answer{'s' if n != 1 else ''}", "info")
            return redirect(back)

        return guarded(run, back)

    @app.post("/p/<slug>/appraisal/<study>/<inst>/override")
    def appraisal_override(slug: str, study: str, inst: str) -> Any:
        member(slug, at_least="reviewer")
        p, _, f = lookup(slug, study, inst)
        back = form_page(slug, study, inst)

        def run() -> Any:
            value = request.form.get("value") or None
            field = request.form.get("field") or team.OVERALL
            team.set_override(p.engine, study, f.instrument, g.user.name, value,
                              request.form.get("reason"), field=field)
            what = "overall judgement" if field == team.OVERALL else field
            flash(f"{what}: override recorded" if value else f"{what}: override withdrawn",
                  "info")
            return redirect(back)

        return guarded(run, back)

    @app.post("/p/<slug>/appraisal/<study>/<inst>/reopen")
    def appraisal_reopen(slug: str, study: str, inst: str) -> Any:
        member(slug, at_least="reviewer")
        p, _, f = lookup(slug, study, inst)
        back = form_page(slug, study, inst)

        def run() -> Any:
            team.reopen(p.engine, study, f.instrument, g.user.name)
            flash("reopened: your answers can be changed until you submit again", "info")
            return redirect(back)

        return guarded(run, back)

    @app.get("/p/<slug>/appraisal/<study>/<inst>/consensus")
    def appraisal_consensus(slug: str, study: str, inst: str) -> Any:
        role = member(slug)
        p, label, f = lookup(slug, study, inst)
        state = team.appraisal_state(p.engine, study, f.instrument)
        if not state.both_submitted:
            flash("the answers stay hidden until both appraisers have submitted", "error")
            return redirect(form_page(slug, study, inst))
        cmp = team.compare(p.engine, study, f.instrument)
        ag = cmp.agreed
        return render_template(
            "appraisal_consensus.html", slug=slug, role=role, study=study, label=label, f=f,
            state=state, cmp=cmp, agreed=ag, groups=_groups(f),
            by_key={c.field: c for c in cmp.fields},
            category=CATEGORY_CLASS.get(ag.risk_of_bias) if ag else None,
            may_settle=role == "owner" and state.applied_by is None)

    @app.get("/p/<slug>/appraisal/<study>/<inst>/history/<field>")
    def appraisal_history(slug: str, study: str, inst: str, field: str) -> Any:
        role = member(slug)
        p, label, f = lookup(slug, study, inst)
        if field != team.OVERALL and field not in f.overridable:
            try:
                f.field(field)
            except InputError:
                abort(404)
        rows = team.history(p.engine, study, f.instrument, field, viewer=g.user.name)
        return render_template("appraisal_history.html", slug=slug, role=role, study=study,
                               label=label, f=f, field=field, rows=rows)

    @app.post("/p/<slug>/appraisal/<study>/<inst>/consensus")
    def appraisal_resolve(slug: str, study: str, inst: str) -> Any:
        member(slug, at_least="owner")
        p, _, f = lookup(slug, study, inst)
        back = url_for("appraisal_consensus", slug=slug, study=study, inst=inst)

        def run() -> Any:
            field = request.form.get("field", "")
            team.resolve(p.engine, study, f.instrument, field, by=g.user.name,
                         choice=request.form.get("choice", ""),
                         value=request.form.get("value") or None,
                         reason=request.form.get("reason"))
            flash(f"{'overall rating' if field == team.OVERALL else field} settled", "info")
            return redirect(back)

        return guarded(run, back)

    @app.post("/p/<slug>/appraisal/<study>/<inst>/apply")
    def appraisal_apply(slug: str, study: str, inst: str) -> Any:
        member(slug, at_least="owner")
        p, label, f = lookup(slug, study, inst)
        back = url_for("appraisal_consensus", slug=slug, study=study, inst=inst)

        def run() -> Any:
            st = team.apply(p.engine, study, f.instrument, by=g.user.name)
            q = st.quality
            flash(f"{label}: quality set to {q.instrument} {q.rating}" if q else "applied",
                  "info")
            return redirect(back)

        return guarded(run, back)


def _state_text(st: team.AppraisalState | None, me: str) -> str:
    """The state of one appraisal in a few words, without anyone's answers."""
    if st is None or not st.appraisers:
        return "not started"
    parts = []
    for a in st.appraisers:
        who = "you" if a.name == me else a.name
        parts.append(f"{who}: {'submitted' if a.submitted else f'{a.answered} answered'}")
    if st.applied_by:
        parts.append(f"applied by {st.applied_by}")
    elif st.both_submitted:
        parts.append(f"consensus: {st.resolved} settled" if st.resolved
                     else "awaiting the owner")
    return "; ".join(parts)


def _groups(f: Form) -> list[tuple[Any, list[Any]]]:
    """The form's fields by domain: [(domain column or None, fields)], in the tool's order."""
    if not f.columns:
        return [(None, list(f.fields))]
    return [(c, [x for x in f.fields if x.group == c.key]) for c in f.columns]


def _pdf(p: Project, study: str) -> tuple[int, FullText] | None:
    """The newest PDF of a report linked to the study, with its record, if any."""
    records = [rid for rid, sid in p.studies().items() if sid == study]
    files = [ft for ft in p.fulltexts() if ft.record_id in records]
    if not files:
        return None
    return files[-1].record_id, files[-1]

