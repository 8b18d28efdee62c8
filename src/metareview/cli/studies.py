"""Commands on a project's studies and study data: ``review import|export`` and
``study link|list|extract|rows``.

A review folder (``protocol.yaml``, ``studies/*.yaml``, CSVs) is the portable form of a
project's study data; these commands move it in and out of the project's database and take a
study from its reports at full text to its extracted description and rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metareview.cli._common import AsJson, ReviewDir, echo
from metareview.errors import InputError

review_app = typer.Typer(help="Move a review folder's study data into or out of the project."
                         "\n\n\b\nExample: metareview review import review-folder "
                         "--review my-review", no_args_is_help=True)
study_app = typer.Typer(help="Studies: link reports to a study, extract it, add its rows."
                        "\n\n\b\nExample: metareview study list --review my-review",
                        no_args_is_help=True)

#: CSV options of ``study rows``: option name -> ReviewData table.
_TABLES = {"arms": "arms", "outcomes": "outcomes", "placebo": "placebo_response",
           "judgements": "judgements"}


@review_app.command(name="import")
def review_import(
    folder: Annotated[Path, typer.Argument(help="Review folder: protocol.yaml, studies/, CSVs.")],
    by: Annotated[str, typer.Option(help="Who imports.")] = "metareview",
    review: ReviewDir = Path("."),
    as_json: AsJson = False,
) -> None:
    """Load a review folder into the project (replacing its study data).

    \b
    Example: metareview review import review-folder --review my-review
    """
    from metareview.store.project import Project
    from metareview.studies import load_folder

    data = load_folder(folder)
    with Project.open(review) as rv:
        counts = rv.import_review(data, actor=by)
    echo(as_json, {"review": data.protocol.id, **counts},
         f"imported {data.protocol.id}: " + ", ".join(f"{n} {k.replace('_', ' ')}"
                                                       for k, n in counts.items()))


@review_app.command(name="export")
def review_export(
    folder: Annotated[Path, typer.Argument(help="Folder to write the review folder into.")],
    review: ReviewDir = Path("."),
    as_json: AsJson = False,
) -> None:
    """Write the project's study data as a review folder (the round trip is lossless).

    \b
    Example: metareview review export exported-review --review my-review
    """
    from metareview.store.project import Project

    with Project.open(review) as rv:
        data = rv.review_data()
        path = rv.export_review(folder)
    echo(as_json, {"folder": str(path), "fingerprint": data.fingerprint()},
         f"wrote {path} ({data.summary()})")


@study_app.command(name="link")
def study_link(
    records: Annotated[list[int], typer.Argument(help="Record ids of the study's reports.")],
    study: Annotated[str, typer.Option(help="An existing study's id, or a new study's name "
                                             "(e.g. 'Alvarez 2023').")],
    by: Annotated[str, typer.Option(help="Who links.")],
    label: Annotated[str | None, typer.Option(help="Label of a new study for tables and "
                                                   "plots (default: --study).")] = None,
    review: ReviewDir = Path("."),
    as_json: AsJson = False,
) -> None:
    """Link reports (records included at full text) to one study, new or existing.

    \b
    Example: metareview study link 12 15 --study "Alvarez 2023" --by anna --review my-review
    """
    from metareview.store.project import Project

    with Project.open(review) as rv:
        sids = {rv.link_study(r, study, by=by, label=label) for r in records}
    (sid,) = sids
    echo(as_json, {"study": sid, "records": records},
         f"{len(records)} report{'' if len(records) == 1 else 's'} linked to study {sid}")


@study_app.command(name="list")
def study_list(review: ReviewDir = Path("."), as_json: AsJson = False) -> None:
    """The project's studies: reports, whether extracted, rows of data.

    \b
    Example: metareview study list --review my-review
    """
    from metareview.store.project import Project

    with Project.open(review) as rv:
        entries = rv.study_entries()
    lines = [f"{e.id:<24} {e.label:<28} {'extracted' if e.extracted else 'to extract':<10} "
             f"reports {','.join(map(str, e.reports)) or '-':<12} rows {e.rows}"
             for e in entries]
    echo(as_json, {"studies": [e.to_dict() for e in entries]},
         "\n".join(lines) if lines else "no studies yet")


@study_app.command(name="extract")
def study_extract(
    files: Annotated[list[Path], typer.Argument(help="Study YAML files (as in studies/).")],
    by: Annotated[str, typer.Option(help="Who extracted.")],
    review: ReviewDir = Path("."),
    as_json: AsJson = False,
) -> None:
    """Store studies' extracted descriptions, checked against the protocol.

    \b
    Example: metareview study extract studies/alvarez-2023.yaml --by anna --review my-review
    """
    from metareview.store.project import Project
    from metareview.studies import Study, load_yaml

    studies = [load_yaml(f, Study) for f in files]
    with Project.open(review) as rv:
        for st in studies:
            rv.extract_study(st, actor=by)
    echo(as_json, {"studies": [s.id for s in studies]},
         f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} extracted: "
         + ", ".join(s.id for s in studies))


@study_app.command(name="rows")
def study_rows(
    by: Annotated[str, typer.Option(help="Who extracted.")],
    arms: Annotated[Path | None, typer.Option(help="arms.csv rows to add.")] = None,
    outcomes: Annotated[Path | None, typer.Option(help="outcomes.csv rows to add.")] = None,
    placebo: Annotated[Path | None, typer.Option(help="placebo_response.csv rows.")] = None,
    judgements: Annotated[Path | None, typer.Option(help="judgements.csv rows (GRADE).")
                          ] = None,
    review: ReviewDir = Path("."),
    as_json: AsJson = False,
) -> None:
    """Add extracted rows from CSV files (the review folder's columns), checked against the
    protocol and the studies; nothing is stored unless every row checks.

    \b
    Example: metareview study rows --arms arms.csv --by anna --review my-review
    """
    from metareview.store.project import Project
    from metareview.studies import DATA_FILES, load_csv

    models = {attr: model for attr, _, model in DATA_FILES}
    given = {_TABLES[k]: v for k, v in (("arms", arms), ("outcomes", outcomes),
                                        ("placebo", placebo), ("judgements", judgements))
             if v is not None}
    if not given:
        raise InputError("nothing to add: give --arms, --outcomes, --placebo or --judgements")
    rows = {}
    for table, path in given.items():
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        rows[table] = load_csv(path, models[table])
    with Project.open(review) as rv:
        added = {table: rv.add_study_rows(table, rs, actor=by) for table, rs in rows.items()}
    echo(as_json, {"added": added},
         "added " + ", ".join(f"{n} {t.replace('_', ' ')} rows" for t, n in added.items()))
