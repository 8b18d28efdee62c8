"""Pages: the living review — the project's saved searches, the update button (the same
:func:`~metareview.store.living.update_project` as ``metareview update``) and the change
report against the study data saved before the newest update (as ``metareview changes``).

The E-utilities address is NCBI's unless the app's ``METAREVIEW_EUTILS`` setting (or the
environment variable of that name) names a mirror; ``NCBI_EMAIL`` and ``NCBI_API_KEY`` are read
from the environment, as the command line reads them.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, current_app, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup

from metareview.errors import InputError
from metareview.web.tools import PageTools


def register(app: Flask, tools: PageTools) -> None:
    """Add the living-review page and its forms to ``app``."""

    @app.get("/p/<slug>/living")
    def living(slug: str) -> Any:
        role = tools.member(slug)
        from metareview.store.living import snapshot_before
        from metareview.store.searches import load_searches

        project = tools.project(slug)
        try:
            searches, problem = load_searches(project.root), None
        except InputError as exc:
            searches, problem = (), str(exc)
        changes, why_none = None, None
        try:
            before = snapshot_before(project.root)
        except InputError as exc:
            why_none = str(exc)
        else:
            from metareview.report.changes import changes_section
            from metareview.store.project import load_review_data
            from metareview.synthesis.changes import compare_reviews

            try:
                report = compare_reviews(load_review_data(before), project.review_data(),
                                         before_label=f"before update {before.parent.name}",
                                         after_label="now")
                changes = Markup(changes_section(report))  # rendered (escaped) by report/
            except InputError as exc:
                why_none = str(exc)
        return render_template("living.html", slug=slug, role=role, searches=searches,
                               problem=problem, changes=changes, why_none=why_none)

    @app.post("/p/<slug>/living/searches")
    def living_add(slug: str) -> Any:
        tools.member(slug, at_least="owner")
        back = url_for("living", slug=slug)

        def store() -> Any:
            from metareview.store.searches import add_search

            form = request.form
            saved = add_search(tools.project(slug), form.get("query", "").strip(),
                               by=g.user.name, source=form.get("source", "").strip() or "PubMed")
            flash(f"search {saved.id} saved", "info")
            return redirect(back)
        return tools.guarded(store, back)

    @app.post("/p/<slug>/living/searches/<search_id>/remove")
    def living_remove(slug: str, search_id: str) -> Any:
        tools.member(slug, at_least="owner")
        back = url_for("living", slug=slug)

        def store() -> Any:
            from metareview.store.searches import remove_search

            remove_search(tools.project(slug), search_id, by=g.user.name)
            flash(f"search {search_id} removed", "info")
            return redirect(back)
        return tools.guarded(store, back)

    @app.post("/p/<slug>/living/update")
    def living_update(slug: str) -> Any:
        tools.member(slug, at_least="owner")
        back = url_for("living", slug=slug)

        def run() -> Any:
            from metareview.records.pubmed import EUTILS, PubMedClient
            from metareview.store.living import update_project

            base = (current_app.config.get("METAREVIEW_EUTILS")
                    or os.environ.get("METAREVIEW_EUTILS") or EUTILS)
            client = PubMedClient(base, email=os.environ.get("NCBI_EMAIL"),
                                  api_key=os.environ.get("NCBI_API_KEY"))
            result = update_project(tools.project(slug), client=client, actor=g.user.name)
            for line in result.summary().splitlines()[:12]:
                flash(line, "info")
            return redirect(back)
        return tools.guarded(run, back)


__all__ = ["register"]
