"""Pages: data extraction, as in Covidence's Extraction 2.

``/p/<slug>/extraction`` lists the studies with each extractor's progress; a study's form
(``/extraction/<study>``) shows the linked report's PDF beside the form the protocol calls for,
saves drafts, converts values (the method named and stored with them) and submits. Two
extractors per study, blind: the form shows only one's own values, and the consensus page
(``/extraction/<study>/consensus``) opens when both have submitted: the owner settles each
field that differs (A's value, B's, or one typed with a reason) and writes the agreed data
into the study. ``/extraction/<study>/history`` shows every value a field has had.

Reviewers and owners extract, owners run consensus, viewers read. Everything is reached
through its own project: another project's study is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, abort, flash, g, redirect, render_template, request, url_for

from metareview.effects.conversions import CONVERSIONS
from metareview.effects.extraction import conversion_values, derived_effects
from metareview.errors import InputError
from metareview.store import extraction as ex
from metareview.store.project import Project
from metareview.web.tools import PageTools

#: Conversions each data type offers, in the order shown.
CONVERSIONS_FOR = {
    "means": ("se_to_sd", "ci_to_sd", "combine_subgroups"),
    "change": ("se_to_sd", "ci_to_sd", "combine_subgroups"),
    "medians": ("median_to_mean_sd", "combine_subgroups"),
    "estimate_ci": ("ci_to_se", "p_to_se", "t_to_se"),
    "counts": (),
    "proportion": (),
}
#: Numbers a conversion may need that are no field of the form: typed beside it.
TYPED_INPUTS = ("n1", "mean1", "sd1", "n2", "mean2", "sd2", "t")


def register(app: Flask, tools: PageTools) -> None:
    """Add the extraction pages to ``app``.

    Parameters
    ----------
    app : Flask
        The app :func:`metareview.web.app.create_app` builds.
    tools : PageTools
        Its site, project, membership check and error guard.
    """
    member, project, guarded = tools.member, tools.project, tools.guarded
    app.add_template_filter(_anchor, "ex_anchor")

    def form_page(slug: str, study: str, anchor: str = "") -> str:
        return url_for("extraction_study", slug=slug, study=study) + anchor

    def entry_of(p: Project, study: str) -> Any:
        """The study's list entry; 404 unless the project has that study."""
        entry = next((e for e in p.study_entries() if e.id == study), None)
        if entry is None:
            abort(404)
        return entry

    def form_of(p: Project) -> ex.ExtractionForm | None:
        try:
            return p.extraction_form()
        except InputError:
            return None  # no protocol yet: the pages say so

    @app.get("/p/<slug>/extraction")
    def extraction_list(slug: str) -> Any:
        role = member(slug)
        p = project(slug)
        form = form_of(p)
        entries = p.study_entries()
        states = p.extraction_states()
        pdfs: dict[int, int] = {}
        for ft in p.fulltexts():
            pdfs[ft.record_id] = pdfs.get(ft.record_id, 0) + 1
        me = g.user.name
        rows = []
        for e in entries:
            st = states.get(e.id) or ex.ExtractionState(e.id, (), 0, None, None)
            to_settle = None
            if role == "owner" and st.both_submitted and st.applied_at is None and form:
                to_settle = len(p.compare_extraction(e.id).disagreements)
            rows.append({"entry": e, "state": st, "mine": st.of(me),
                         "may": role != "viewer" and st.may_extract(me)
                         and not (e.extracted and st.applied_at is None),
                         "elsewhere": e.extracted and st.applied_at is None,
                         "pdfs": sum(pdfs.get(r, 0) for r in e.reports),
                         "to_settle": to_settle})
        # studies to extract first, then those written here, then those extracted elsewhere
        rows.sort(key=lambda r: (r["elsewhere"], r["state"].applied_at is not None))
        return render_template("extraction.html", slug=slug, role=role, rows=rows,
                               form=form, me=me)

    @app.get("/p/<slug>/extraction/<study>")
    def extraction_study(slug: str, study: str) -> Any:
        role = member(slug)
        p = project(slug)
        entry = entry_of(p, study)
        form = form_of(p)
        files = [ft for r in entry.reports for ft in p.fulltexts(r)]
        wanted = request.args.get("pdf", type=int)
        shown = next((f for f in files if f.id == wanted), files[0] if files else None)
        me = g.user.name
        state = p.extraction_state(study)
        values = p.extraction_values(study, me) if form and role != "viewer" else {}
        # a study already in the study data (from a review folder) is not extracted again
        may = (form is not None and role != "viewer" and state.may_extract(me)
               and not entry.extracted)
        view = _form_view(form, values) if form else None
        effects = {}
        if form:
            try:
                effects = derived_effects(form, values)
            except InputError as exc:  # numbers escalc refuses: say so beside the result
                flash(f"effect not computed: {exc}", "error")
        return render_template(
            "extraction_form.html", slug=slug, role=role, entry=entry, form=form,
            files=files, shown=shown, state=state, mine=state.of(me), may=may, view=view,
            values=values, effects=effects, data_types=ex.DATA_TYPES,
            arm_labels=ex.ARM_FIELDS, directions=ex.DIRECTIONS, roles=ex.ROLES,
            conversions=CONVERSIONS, conversions_for=CONVERSIONS_FOR,
            typed_inputs=TYPED_INPUTS, sep=ex.SEP,
            may_reopen=(state.of(me) is not None and state.of(me).submitted
                        and not state.both_submitted and state.applied_at is None))

    def extracting(slug: str, study: str) -> tuple[Project, ex.ExtractionForm]:
        """A reviewer's write to a study's form: membership, the study, the protocol."""
        member(slug, at_least="reviewer")
        p = project(slug)
        entry_of(p, study)
        form = form_of(p)
        if form is None:
            abort(404)
        return p, form

    @app.post("/p/<slug>/extraction/<study>/save")
    def extraction_save(slug: str, study: str) -> Any:
        p, _ = extracting(slug, study)
        back = form_page(slug, study)

        def store() -> Any:
            values = _parse_form(request.form)
            n = p.save_extraction(study, g.user.name, values)
            if request.form.get("then") == "submit":
                p.submit_extraction(study, g.user.name)
                flash(f"{n} value(s) saved; your extraction of {study} is submitted", "info")
            else:
                flash(f"draft saved: {n} value(s) changed", "info")
            return redirect(back)
        return guarded(store, back)

    @app.post("/p/<slug>/extraction/<study>/result")
    def extraction_add_result(slug: str, study: str) -> Any:
        p, form = extracting(slug, study)
        back = form_page(slug, study)

        def store() -> Any:
            me = g.user.name
            p.save_extraction(study, me, _parse_form(request.form))  # keep what was typed
            outcome = form.outcome(request.form.get("outcome", "")).id
            window = request.form.get("window", "")
            dtype = request.form.get("type", "")
            slot = ex.free_slot(p.extraction_values(study, me), outcome, window)
            key = ex.result_key(outcome, window, slot)
            p.save_extraction(study, me, {f"{key}{ex.SEP}type": ex.ValueInput(dtype)})
            flash(f"result added: {form.outcome(outcome).title}, {window}", "info")
            return redirect(form_page(slug, study, "#" + _anchor(key)))
        return guarded(store, back)

    @app.post("/p/<slug>/extraction/<study>/result/remove")
    def extraction_remove_result(slug: str, study: str) -> Any:
        p, form = extracting(slug, study)
        back = form_page(slug, study)

        def store() -> Any:
            me = g.user.name
            prefix = request.form.get("result", "")
            ex.parse_key(prefix + ex.SEP + "type", form)  # a result of this form
            p.save_extraction(study, me, _parse_form(request.form))  # keep what was typed
            p.save_extraction(study, me, ex.cleared(p.extraction_values(study, me), prefix))
            flash("result removed (its values stay in the history)", "info")
            return redirect(back)
        return guarded(store, back)

    @app.post("/p/<slug>/extraction/<study>/convert")
    def extraction_convert(slug: str, study: str) -> Any:
        p, form = extracting(slug, study)
        back = form_page(slug, study)

        def store() -> Any:
            me = g.user.name
            p.save_extraction(study, me, _parse_form(request.form))  # the form as typed first
            prefix = request.form.get("convert", "")
            ex.parse_key(prefix + ex.SEP + "type", form)
            name = request.form.get(f"conv:{prefix}:name", "")
            target = request.form.get(f"conv:{prefix}:target", "")
            arm = int(target[3:]) if target.startswith("arm") and target[3:].isdigit() else None
            typed = {k: request.form.get(f"conv:{prefix}:{k}") for k in TYPED_INPUTS}
            loc = {k: request.form.get(f"loc:{prefix}:{k}") for k in ("page", "table",
                                                                      "figure")}
            out = conversion_values(form, p.extraction_values(study, me), prefix, name, arm,
                                    typed, unit=request.form.get(f"unit:{prefix}") or None,
                                    **loc)
            p.save_extraction(study, me, out)
            shown = ", ".join(f"{k.rsplit(ex.SEP, 1)[1]} = {v.value}" for k, v in out.items())
            flash(f"{CONVERSIONS[name].title}: {shown} ({CONVERSIONS[name].method})", "info")
            return redirect(form_page(slug, study, "#" + _anchor(prefix)))
        return guarded(store, back)

    @app.post("/p/<slug>/extraction/<study>/submit")
    def extraction_submit(slug: str, study: str) -> Any:
        p, _ = extracting(slug, study)
        back = form_page(slug, study)

        def run() -> Any:
            p.submit_extraction(study, g.user.name)
            flash(f"your extraction of {study} is submitted", "info")
            return redirect(back)
        return guarded(run, back)

    @app.post("/p/<slug>/extraction/<study>/reopen")
    def extraction_reopen(slug: str, study: str) -> Any:
        p, _ = extracting(slug, study)
        back = form_page(slug, study)

        def run() -> Any:
            p.reopen_extraction(study, g.user.name)
            flash(f"your extraction of {study} is open again", "info")
            return redirect(back)
        return guarded(run, back)

    @app.get("/p/<slug>/extraction/<study>/consensus")
    def extraction_consensus(slug: str, study: str) -> Any:
        role = member(slug)
        p = project(slug)
        entry = entry_of(p, study)
        form = form_of(p)
        state = p.extraction_state(study)
        comparison = None
        effects: dict[str, Any] = {}
        groups: list[tuple[str, list[tuple[str, Any]]]] = []
        only_open = request.args.get("show") == "open"
        if form is not None and state.both_submitted:
            comparison = p.compare_extraction(study)
            for f in comparison.fields:
                if only_open and f.status == "agree":
                    continue
                group, short = ex.field_group(f.key, form)
                if not groups or groups[-1][0] != group:
                    groups.append((group, []))
                groups[-1][1].append((short, f))
            try:
                effects = derived_effects(form, comparison.agreed_values())
            except InputError as exc:
                flash(f"effect not computed: {exc}", "error")
        return render_template("extraction_consensus.html", slug=slug, role=role,
                               entry=entry, state=state, comparison=comparison,
                               effects=effects, form=form, groups=groups,
                               only_open=only_open)

    def consensus_write(slug: str, study: str) -> tuple[Project, str]:
        member(slug, at_least="owner")
        p = project(slug)
        entry_of(p, study)
        if form_of(p) is None:
            abort(404)
        return p, url_for("extraction_consensus", slug=slug, study=study)

    @app.post("/p/<slug>/extraction/<study>/consensus/resolve")
    def extraction_resolve(slug: str, study: str) -> Any:
        p, back = consensus_write(slug, study)
        key = request.form.get("field", "")

        def run() -> Any:
            choice = request.form.get("choice", "")
            entered = None
            if choice == "entered":
                entered = ex.ValueInput(request.form.get("value"),
                                        request.form.get("unit") or None,
                                        request.form.get("page") or None,
                                        request.form.get("table") or None,
                                        request.form.get("figure") or None)
            v = p.resolve_extraction(study, key, by=g.user.name, choice=choice,
                                     entered=entered, reason=request.form.get("reason"))
            flash(f"agreed: {v.summary()}", "info")
            return redirect(back + "#" + _anchor(key))
        return guarded(run, back)

    @app.post("/p/<slug>/extraction/<study>/consensus/apply")
    def extraction_apply(slug: str, study: str) -> Any:
        p, back = consensus_write(slug, study)

        def run() -> Any:
            comparison = p.compare_extraction(study)
            effects = derived_effects(p.extraction_form(), comparison.agreed_values())
            data = p.apply_extraction(study, by=g.user.name, effects=effects)
            flash(f"written into the study data: the description of {data.study.label}, "
                  f"{len(data.arms)} arm row(s), {len(data.outcomes)} outcome row(s)", "info")
            for why in data.left_out:
                flash(f"left out: {why}", "info")
            return redirect(back)
        return guarded(run, back)

    @app.get("/p/<slug>/extraction/<study>/history")
    def extraction_history(slug: str, study: str) -> Any:
        role = member(slug)
        p = project(slug)
        entry = entry_of(p, study)
        form = form_of(p)
        key = request.args.get("field", "")
        if form is None:
            abort(404)
        try:
            label = ex.field_label(key, form)
        except InputError:
            abort(404)
        rows = p.extraction_history(study, key, viewer=g.user.name)
        return render_template("extraction_history.html", slug=slug, role=role, entry=entry,
                               label=label, key=key, rows=rows,
                               both=p.extraction_state(study).both_submitted)


def _anchor(key: str) -> str:
    """An HTML id for a result or field key (its separators and spaces made safe)."""
    return "f-" + "".join(c if c.isalnum() else "-" for c in key)


def _short(value: str | None) -> str:
    """A stored number as people read it (four significant digits); text as it is."""
    try:
        return f"{float(str(value)):.4g}"
    except ValueError:
        return str(value)


def _parse_form(form: Mapping[str, Any]) -> dict[str, ex.ValueInput]:
    """The form's values: ``v:<key>`` inputs (several for a multiple choice, joined one per
    line), each with its section's unit (``unit:<result>``) and location
    (``loc:<section>:page|table|figure``; a section is ``study``, ``arms`` or a result)."""
    out = {}
    for name in form:
        if not name.startswith("v:"):
            continue
        key = name[2:]
        picked = form.getlist(name) if hasattr(form, "getlist") else [form[name]]
        value = "\n".join(x for x in picked if x.strip()) if len(picked) > 1 else picked[0]
        parts = key.split(ex.SEP)
        section = (ex.SEP.join(parts[:4]) if parts[0] == "res" and len(parts) >= 5
                   else "study" if parts[0] == "study" else "arms")
        unit = form.get(f"unit:{section}") if section.startswith("res") else None
        out[key] = ex.ValueInput(value, unit or None,
                                 *(form.get(f"loc:{section}:{k}") or None
                                   for k in ("page", "table", "figure")))
    return out


def _form_view(form: ex.ExtractionForm, values: Mapping[str, ex.StoredValue]) -> dict[str, Any]:
    """What the form page lays out: the study's arms (named ones and a free row), the results
    entered (in form order, each with its fields), and the sections' units and locations."""
    arms = ex.study_arms(values)
    shown_arms = max([2, *[i + 1 for i in arms]])
    results = []
    for prefix, dtype in ex.results(values, form).items():
        _, oid, window, slot = prefix.split(ex.SEP)
        mine = {k: v for k, v in values.items() if k.startswith(prefix + ex.SEP)}
        first = next(iter(mine.values()), None)
        unit = next((v.unit for v in mine.values() if v.unit), None)
        # converted values made together (one conversion's outputs) are shown together
        converted: dict[tuple[str, str], dict[str, Any]] = {}
        for k, v in sorted(mine.items(), key=lambda kv: ex.sort_key(kv[0], form)):
            if v.method:
                given = ", ".join(f"{n} {x:g}" for n, x in (v.converted_from or {}).items())
                group = converted.setdefault((v.method, given), {
                    "method": v.method, "given": given, "outputs": []})
                group["outputs"].append((ex.field_group(k, form)[1], _short(v.value), k))
        results.append({"prefix": prefix, "anchor": _anchor(prefix), "type": dtype,
                        "outcome": form.outcome(oid), "window": window, "slot": int(slot),
                        "unit": unit, "loc": first, "converted": list(converted.values())})
    study_loc = next((v for k, v in values.items() if k.startswith("study" + ex.SEP)), None)
    return {"arms": arms, "arm_rows": list(range(1, min(shown_arms, ex.MAX_ARMS) + 1)),
            "results": results, "study_loc": study_loc}
