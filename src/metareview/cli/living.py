"""Commands that keep a review alive: ``search add|list|remove``, ``update`` and ``changes``.

``search`` manages the saved searches (``searches.yaml`` in the project folder), ``update``
re-runs the PubMed ones and ranks what is new (:func:`metareview.store.living.update_project`),
and ``changes`` compares a review's analyses before and after
(:func:`metareview.synthesis.changes.compare_reviews`), printing which of the protocol's
triggers fired.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from metareview.cli._common import AsJson, ReviewDir, echo, progress_bar
from metareview.errors import InputError

if TYPE_CHECKING:
    from metareview.store.living import UpdateResult

search_app = typer.Typer(help="Saved searches (searches.yaml): add, list, remove.\n\n\b\n"
                         "Example: metareview search list --review my-review",
                         no_args_is_help=True)


@search_app.command(name="add")
def search_add(
    query: Annotated[str, typer.Argument(help="The query, in the database's syntax.")],
    by: Annotated[str, typer.Option(help="Who adds it.")],
    source: Annotated[str, typer.Option(help="The source named on its imports.")] = "PubMed",
    database: Annotated[str, typer.Option(help="pubmed (re-run by metareview update) or any "
                                          "other name (kept as the record of a strategy "
                                          "run by hand).")] = "pubmed",
    search_id: Annotated[str | None, typer.Option("--id", help="Id (default: "
                                                  "<database>-<n>).")] = None,
    mindate: Annotated[str | None, typer.Option(help="Date limit, YYYY[/MM[/DD]].")] = None,
    maxdate: Annotated[str | None, typer.Option(help="Date limit, YYYY[/MM[/DD]].")] = None,
    date_type: Annotated[str, typer.Option(help="pdat (publication), edat (entry) or mdat.")
                         ] = "pdat",
    notes: Annotated[str | None, typer.Option(help="What the methods should say.")] = None,
    review: ReviewDir = Path("."),
    as_json: AsJson = False,
) -> None:
    """Save a search (one per source) in the project's searches.yaml.

    \b
    Example: metareview search add "aspirin" --by anna --mindate 2020 --maxdate 2024 -r my-review
    """
    from metareview.store.project import Project
    from metareview.store.searches import add_search

    with Project.open(review) as rv:
        saved = add_search(rv, query, by=by, source=source, database=database,
                           search_id=search_id, mindate=mindate, maxdate=maxdate,
                           date_type=date_type, notes=notes)
    echo(as_json, saved.to_dict(), f"saved search {saved.summary()}")


@search_app.command(name="list")
def search_list(review: ReviewDir = Path("."), as_json: AsJson = False) -> None:
    """List the saved searches, with when each last ran and what it imported.

    \b
    Example: metareview search list --review my-review
    """
    from metareview.store.living import last_runs
    from metareview.store.project import Project
    from metareview.store.searches import load_searches

    with Project.open(review) as rv:
        searches = load_searches(rv.root)
        last = last_runs(rv)
    data = {"searches": [{**s.to_dict(), "last_run": last.get(s.id)} for s in searches]}
    lines = [f"{len(searches)} saved search{'' if len(searches) == 1 else 'es'}"]
    for s in searches:
        run = last.get(s.id)
        lines.append(f"  {s.summary()}")
        lines.append("    " + (f"last run {run['ran_on']}: {run['found']} found, "
                               f"{run['imported']} imported; {run['imported_total']} imported "
                               f"in {run['runs']} run{'' if run['runs'] == 1 else 's'}"
                               if run else ("never run" if s.runnable else "run by hand")))
    echo(as_json, data, "\n".join(lines))


@search_app.command(name="remove")
def search_remove(
    search_id: Annotated[str, typer.Argument(help="The search's id.")],
    by: Annotated[str, typer.Option(help="Who removes it.")],
    review: ReviewDir = Path("."),
    as_json: AsJson = False,
) -> None:
    """Remove a saved search (what it imported stays).

    \b
    Example: metareview search remove pubmed-1 --by anna --review my-review
    """
    from metareview.store.project import Project
    from metareview.store.searches import remove_search

    with Project.open(review) as rv:
        gone = remove_search(rv, search_id, by=by)
    echo(as_json, {"removed": gone.to_dict()}, f"removed search {gone.id}")


def update(
    review: ReviewDir = Path("."),
    by: Annotated[str, typer.Option(help="Who runs the update.")] = "metareview",
    top: Annotated[int, typer.Option(help="New records shown, best ranked first.")] = 10,
    classifier: Annotated[str, typer.Option(help="Ranking model: svm, logistic or nb.")
                          ] = "svm",
    email: Annotated[str | None, typer.Option(help="Contact address sent to NCBI (default "
                                              "$NCBI_EMAIL).")] = None,
    api_key: Annotated[str | None, typer.Option(help="NCBI API key: 10 requests a second "
                                                "instead of 3 (default $NCBI_API_KEY).")
                       ] = None,
    eutils: Annotated[str | None, typer.Option(help="E-utilities base URL (a mirror; "
                                               "default NCBI's).")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    as_json: AsJson = False,
) -> None:
    """Re-run the saved PubMed searches: import new records, de-duplicate, rank them.

    \b
    Example: metareview update --review my-review --top 10
    """
    from metareview.records.pubmed import EUTILS, PubMedClient
    from metareview.store.living import update_project
    from metareview.store.project import Project

    if top < 0:
        raise InputError(f"--top {top}: expected 0 or more")
    client = PubMedClient(eutils or EUTILS, email=email or os.environ.get("NCBI_EMAIL"),
                          api_key=api_key or os.environ.get("NCBI_API_KEY"))
    with Project.open(review) as rv, progress_bar(progress and not as_json,
                                                  "updating") as tick:
        result = update_project(rv, client=client, actor=by, classifier=classifier,
                                progress=tick)
    for run in result.runs:
        for w in run.warnings:
            typer.echo(f"metareview: warning: {run.search}: {w}", err=True)
    if as_json:
        echo(True, result.to_dict(), "")
        return
    typer.echo(result.summary())
    if result.ranking and top:
        _ranking_table(result, top)


def _ranking_table(result: UpdateResult, top: int) -> None:
    """The best-ranked new records as a rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"New records, best ranked first (top {min(top, len(result.ranking))} "
                        f"of {len(result.ranking)})", title_justify="left")
    for name, kw in (("rank", {"justify": "right"}), ("record", {"justify": "right"}),
                     ("score", {"justify": "right"}), ("PMID", {}), ("year", {}),
                     ("title", {"overflow": "fold", "ratio": 1})):
        table.add_column(name, **kw)  # type: ignore[arg-type]
    for r in result.ranking[:top]:
        table.add_row(str(r.rank), str(r.record),
                      "" if r.score is None else f"{r.score:.3f}", r.pmid,
                      "" if r.year is None else str(r.year), r.title)
    Console(width=max(100, Console().width)).print(table)


def changes(
    old: Annotated[Path | None, typer.Argument(help="The older version: a review folder or "
                                               "a project (default: the study data the "
                                               "newest update of --review saved).")] = None,
    new: Annotated[Path | None, typer.Argument(help="The newer version (default: the "
                                               "project --review).")] = None,
    review: ReviewDir = Path("."),
    update_number: Annotated[int | None, typer.Option(
        "--update", help="Compare with the data saved before this update.")] = None,
    method: Annotated[str, typer.Option(help="tau² estimator for pooling.")] = "REML",
    html: Annotated[Path | None, typer.Option(help="Also write the change report as an "
                                              "HTML page.")] = None,
    as_json: AsJson = False,
) -> None:
    """Compare a review's analyses before and after an update; say which triggers fired.

    \b
    Example: metareview changes review-v1 review-v2 --html changes.html
    """
    from metareview.store.living import snapshot_before
    from metareview.store.project import load_review_data
    from metareview.synthesis.changes import compare_reviews

    if new is not None and update_number is not None:
        raise InputError("--update compares with the project --review: give no OLD NEW")
    labels = (None, None)
    if old is None:
        old = snapshot_before(review, update_number)
        new = review
        labels = (str(old), f"{review.resolve().name} (now)")
    elif new is None:
        raise InputError(f"changes {old}: give the newer version too (changes OLD NEW), or "
                         "neither to compare with the data saved before the newest update")
    if html is not None and html.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--html {html}: expected an .html file")
    before, after = load_review_data(old), load_review_data(new)
    report = compare_reviews(before, after, method=method, before_label=labels[0] or str(old),
                             after_label=labels[1] or str(new))
    if html is not None:
        from metareview.report.changes import write_changes

        write_changes(report, html)
    echo(as_json, report.to_dict(), report.summary())
