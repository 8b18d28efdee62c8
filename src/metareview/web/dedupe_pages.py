"""Pages: de-duplication, and the review of its clusters side by side (merge, split, keep).

Every member may look at the clusters; only owners run or undo a de-duplication and correct
its clusters. Each correction is a new de-duplication run in the library
(:meth:`~metareview.store.project.Project.merge_records`,
:meth:`~metareview.store.project.Project.split_record`,
:meth:`~metareview.store.project.Project.set_canonical`), so "undo the last de-duplication"
takes back the last correction as well as a whole run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from flask import Flask, flash, g, redirect, render_template, request, url_for

from metareview.errors import InputError
from metareview.records.model import Record
from metareview.store.project import DedupeCluster, StoredRecord
from metareview.web.tools import PageTools

#: Clusters per page: a page of clusters with three records each stays quick to read.
PER_PAGE = 25

_WORD = re.compile(r"[^\w]+")


def register(app: Flask, tools: PageTools) -> None:
    """Add the de-duplication routes to ``app``.

    Parameters
    ----------
    app : Flask
        The app built by :func:`metareview.web.app.create_app`.
    tools : PageTools
        The app's project, membership and error-guard helpers.
    """

    def page_of(slug: str, cluster: int | None) -> str:
        """The duplicates page that shows ``cluster``, scrolled to it (else page 1)."""
        if cluster is None:
            return url_for("duplicates", slug=slug)
        numbers = [c.cluster for c in tools.project(slug).dedupe_clusters()]
        if cluster not in numbers:
            return url_for("duplicates", slug=slug)
        page = numbers.index(cluster) // PER_PAGE + 1
        return url_for("duplicates", slug=slug, page=page, _anchor=f"cluster-{cluster}")

    def back(slug: str) -> str:
        """The page the form was posted from."""
        page = request.form.get("page", "1")
        return url_for("duplicates", slug=slug, page=page if page.isdigit() else 1)

    @app.post("/p/<slug>/dedupe")
    def dedupe(slug: str) -> Any:
        tools.member(slug, at_least="owner")

        def run() -> Any:
            summary = tools.project(slug).dedupe(actor=g.user.name)
            flash(summary.summary(), "info")
            return redirect(url_for("duplicates", slug=slug))
        return tools.guarded(run, url_for("dashboard", slug=slug))

    @app.post("/p/<slug>/dedupe/undo")
    def undo_dedupe(slug: str) -> Any:
        tools.member(slug, at_least="owner")

        def run() -> Any:
            run_id = tools.project(slug).undo_dedupe(actor=g.user.name)
            flash(f"de-duplication run {run_id} undone; the clusters are as they were before "
                  "it", "info")
            return redirect(url_for("duplicates", slug=slug))
        return tools.guarded(run, url_for("duplicates", slug=slug))

    @app.get("/p/<slug>/duplicates")
    def duplicates(slug: str) -> Any:
        role = tools.member(slug)
        p = tools.project(slug)
        clusters = p.dedupe_clusters()
        n_pages = max(1, math.ceil(len(clusters) / PER_PAGE))
        page = min(max(request.args.get("page", 1, type=int) or 1, 1), n_pages)
        shown = clusters[(page - 1) * PER_PAGE:page * PER_PAGE]
        records = p.records([r for c in shown for r in c.record_ids])
        files = {i["id"]: i["filename"] for i in p.imports()}
        n_dup = sum(len(c.record_ids) - 1 for c in clusters)
        counts = {"records": len(p.canonical()) + n_dup, "clusters": len(clusters),
                  "duplicates": n_dup}
        return render_template(
            "duplicates.html", slug=slug, role=role, counts=counts, page=page,
            n_pages=n_pages, cards=[_card(c, records, files) for c in shown],
            merge_ids=request.args.get("records", ""))

    @app.post("/p/<slug>/duplicates/merge")
    def merge_duplicates(slug: str) -> Any:
        tools.member(slug, at_least="owner")

        def run() -> Any:
            ids = _record_ids(request.form.get("records", ""), request.form.getlist("record"))
            cluster = tools.project(slug).merge_records(ids, actor=g.user.name)
            flash(f"merged records {', '.join(map(str, ids))}: {cluster.summary()}", "info")
            return redirect(page_of(slug, cluster.cluster))
        return tools.guarded(run, back(slug))

    @app.post("/p/<slug>/duplicates/<int:record_id>/split")
    def split_duplicate(slug: str, record_id: int) -> Any:
        tools.member(slug, at_least="owner")

        def run() -> Any:
            left = tools.project(slug).split_record(record_id, actor=g.user.name)
            rest = ("its cluster dissolved" if left is None else
                    f"{left.summary()}")
            flash(f"record {record_id} is not a duplicate any more; {rest}", "info")
            return redirect(back(slug))
        return tools.guarded(run, back(slug))

    @app.post("/p/<slug>/duplicates/<int:record_id>/canonical")
    def keep_duplicate(slug: str, record_id: int) -> Any:
        tools.member(slug, at_least="owner")

        def run() -> Any:
            cluster = tools.project(slug).set_canonical(record_id, actor=g.user.name)
            flash(f"record {record_id} is kept: {cluster.summary()}", "info")
            return redirect(page_of(slug, cluster.cluster))
        return tools.guarded(run, back(slug))


def _record_ids(typed: str, checked: Sequence[str]) -> list[int]:
    """Record ids from the merge form: typed (``12, 45`` or ``#12 #45``) and ticked.

    Raises
    ------
    InputError
        A typed word that is not a record id.
    """
    ids = []
    for word in [*re.split(r"[\s,;]+", typed.strip()), *checked]:
        word = word.strip().lstrip("#")
        if not word:
            continue
        if not word.isdigit():
            raise InputError(f"record ids: {word[:30]!r} is not a record id; give ids such "
                             "as 12, 45")
        ids.append(int(word))
    return ids


#: The rows of a cluster's table. Differences are marked in the bibliographic fields only:
#: where a record comes from differs in nearly every cluster.
_FIELDS = ("Title", "Authors", "Year", "Journal", "Volume, issue, pages", "DOI", "PMID",
           "Source", "Import file")
_COMPARED = _FIELDS[:7]


def _values(rec: Record) -> list[str]:
    authors = "; ".join(rec.authors[:8])
    if len(rec.authors) > 8:
        authors += f"; … ({len(rec.authors)} authors)"
    where = rec.volume + (f"({rec.issue})" if rec.issue else "")
    where = ":".join(x for x in (where, rec.pages) if x)
    return [rec.title, authors, "" if rec.year is None else str(rec.year), rec.journal,
            where, rec.doi, rec.pmid]


def _norm(label: str, value: str) -> str:
    """What must agree for two values to count as the same: case, spaces and punctuation
    aside for text (``Doe, J.`` = ``doe j``); DOIs and PMIDs as given."""
    if label in ("DOI", "PMID"):
        return value.strip().lower()
    return _WORD.sub(" ", value.casefold()).strip()


def _card(cluster: DedupeCluster, records: dict[int, StoredRecord],
          files: dict[int, str]) -> dict[str, Any]:
    """A cluster as the template shows it: the kept record first, then by id; one row per
    field, marked when the records disagree."""
    order = [cluster.canonical, *cluster.duplicates]
    cols = {r: [*_values(records[r].record), f"{records[r].source} ({records[r].kind})",
                files.get(records[r].import_id, "")] for r in order}
    rows = []
    for k, label in enumerate(_FIELDS):
        values = [cols[r][k] for r in order]
        differs = (label in _COMPARED
                   and len({_norm(label, v) for v in values}) > 1)
        rows.append({"label": label, "values": values, "differs": differs,
                     "link": "doi" if label == "DOI" else None})
    return {"cluster": cluster, "order": order, "rows": rows,
            "restricted": len(cluster.candidates) < len(cluster.record_ids)}
