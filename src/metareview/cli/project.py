"""Commands on a review project: init, import, dedupe, screen, fulltext, conflicts, progress,
prisma, export.

The functions are registered on the app in :mod:`metareview.cli`; an :class:`InputError` they
raise becomes the one-line ``metareview: error:`` message there.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from metareview.cli._common import AsJson, ReviewDir, Stage, check_figures, echo, progress_bar
from metareview.errors import InputError

if TYPE_CHECKING:
    from metareview.screening.agreement import Agreement


def init(
    name: Annotated[Path, typer.Argument(help="Folder to create the review in.")],
    db: Annotated[
        str | None, typer.Option("--db", help="postgresql://user@host/db for a team (the "
                                 "password, if given here, is not stored: later it comes from "
                                 "METAREVIEW_DATABASE_URL, PGPASSWORD or ~/.pgpass); default "
                                 "an embedded SQLite file in the folder.")
    ] = None,
    criteria: Annotated[
        str | None, typer.Option(help="Inclusion criteria shown to screeners (text or @file).")
    ] = None,
    single: Annotated[
        bool, typer.Option("--single", help="One reviewer per record instead of two.")
    ] = False,
    ta_reasons: Annotated[
        bool, typer.Option("--ta-reasons", help="Offer exclusion reasons at title/abstract "
                           "too, after each exclusion is stored (full text always asks).")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Create a review project (dual independent screening unless --single).

    \b
    Example: metareview init my-review --criteria @criteria.txt
    """
    from metareview.store.project import Project

    text = criteria or ""
    if text.startswith("@"):
        text = _read_text(Path(text[1:]))
    with Project.create(name, name.name, db_url=db, criteria=text,
                        reviewers_required=1 if single else 2, ta_reasons=ta_reasons) as rv:
        info = {"review": str(name), **rv.settings()}
    note = ""
    if db is not None:
        from metareview.store.db import URL_VARIABLE, has_password

        if has_password(db):
            info["password_stored"] = False
            note = (f"; the password is not stored in {name}: give it as {URL_VARIABLE}, "
                    "PGPASSWORD or in ~/.pgpass")
    echo(as_json, info,
         f"created review {info['name']!r} in {name} ({info['database']}){note}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _parse_mapping(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    out = {}
    for part in text.split(","):
        field, sep, column = part.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise InputError(f"--map {part!r}: expected field=column, e.g. title=Article Title")
        out[field.strip()] = column.strip()
    return out


def import_(
    files: Annotated[list[Path], typer.Argument(help="RIS, MEDLINE/.nbib, PubMed XML, BibTeX, "
                                                "CSV/TSV or XLSX files.")],
    source: Annotated[
        str | None, typer.Option(help="Database or register searched, e.g. Embase.")
    ] = None,
    kind: Annotated[
        str, typer.Option(help="database, register, website, organisation, citation or other.")
    ] = "database",
    searched_on: Annotated[
        str | None, typer.Option(help="Date the search was run (YYYY-MM-DD).")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="ris, nbib, pubmed-xml, bibtex, csv, tsv, "
                                 "xlsx (default: from the file).")
    ] = None,
    lenient: Annotated[
        bool, typer.Option("--lenient", help="Skip stray lines (Ovid/Embase RIS), warning.")
    ] = False,
    mapping: Annotated[
        str | None, typer.Option("--map", help="Spreadsheet columns: field=column,...")
    ] = None,
    allow_repeat: Annotated[
        bool, typer.Option("--allow-repeat", help="Import a file already imported.")
    ] = False,
    review: ReviewDir = Path("."),
    actor: Annotated[str, typer.Option(help="Who is importing.")] = "metareview",
    as_json: AsJson = False,
) -> None:
    """Import search results; each file is stored whole or not at all.

    \b
    Example: metareview import pubmed.nbib --source PubMed --searched-on 2024-05-01 -r my-review
    """
    import datetime as dt

    from metareview.records.readers import read_records
    from metareview.store.project import Project

    when = None
    if searched_on:
        try:
            when = dt.date.fromisoformat(searched_on)
        except ValueError:
            raise InputError(f"--searched-on {searched_on!r}: expected YYYY-MM-DD") from None
    batches = [read_records(f, format=fmt, source=source, kind=kind, searched_on=when,
                            mapping=_parse_mapping(mapping), lenient=lenient)
               for f in files]
    out = []
    with Project.open(review) as rv:
        for b in batches:
            try:
                iid = rv.add_import(b, actor=actor, allow_repeat=allow_repeat)
            except InputError as exc:
                if exc.parameter == "allow_repeat":  # the store names no option: add ours
                    raise InputError(f"{exc}; pass --allow-repeat to import again") from None
                raise
            out.append({"import": iid, **b.to_dict()})
    for b in batches:
        for w in b.warnings:
            typer.echo(f"metareview: warning: {w}", err=True)
    data = out[0] if len(out) == 1 else {
        "imported": sum(o["imported"] for o in out), "source": sorted({o["source"] for o in out}),
        "files": out}
    echo(as_json, data, "\n".join(b.summary() for b in batches))


def dedupe(
    review: ReviewDir = Path("."),
    undo: Annotated[bool, typer.Option("--undo", help="Undo the newest run.")] = False,
    actor: Annotated[str, typer.Option(help="Who is running it.")] = "metareview",
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    as_json: AsJson = False,
) -> None:
    """Find duplicate records (exact DOI/PMID, then fuzzy) and keep one per cluster.

    \b
    Example: metareview dedupe --review my-review
    """
    from metareview.store.project import Project

    with Project.open(review) as rv:
        if undo:
            run = rv.undo_dedupe(actor=actor)
            echo(as_json, {"undone": run}, f"de-duplication run {run} undone")
            return
        with progress_bar(progress and not as_json, "de-duplicating") as tick:
            result = rv.dedupe(actor=actor, progress=tick)
    echo(as_json, result.to_dict(), result.summary())


def screen(
    reviewer: Annotated[str, typer.Option(help="Your name (votes are kept per reviewer).")],
    stage: Stage = "ta",
    review: ReviewDir = Path("."),
    decisions: Annotated[
        Path | None, typer.Option(help="Store votes from a CSV (record,decision,reason,note) "
                                  "instead of screening interactively.")
    ] = None,
    classifier: Annotated[
        str, typer.Option(help="Ranking model: svm, logistic or nb.")
    ] = "svm",
    query: Annotated[
        str, typer.Option(help="certainty (most likely relevant first), uncertainty, mixed or "
                          "random.")
    ] = "certainty",
    reasons: Annotated[
        str | None, typer.Option(help="Exclusion reasons, separated by ';' (asked at full "
                                 "text; at title/abstract only in a --ta-reasons project).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Stop after this many decisions.")] = None,
    as_json: AsJson = False,
) -> None:
    """Screen records at the terminal (i/e/m, u undo), the model's top-ranked record first.

    \b
    Example: metareview screen --reviewer anna --stage ta --review my-review
    """
    from metareview.screening.decisions import parse_stage
    from metareview.store.project import Project

    st = parse_stage(stage)
    with Project.open(review) as rv:
        if decisions is not None:
            from metareview.store.exchange import import_decisions

            n = import_decisions(rv, decisions, stage=st, reviewer=reviewer)
            left = len(rv.queue(st, reviewer))
            echo(as_json, {"stored": n, "stage": st, "reviewer": reviewer, "remaining": left},
                 f"{n} decisions stored for {reviewer} at {st}; {left} records left")
            return
        from rich.console import Console

        from metareview.cli.screener import run_screener
        from metareview.screening.ranking import model_ranker

        session = run_screener(
            rv, stage=st, reviewer=reviewer,
            rank=None if query == "random" else model_ranker(classifier=classifier,
                                                             query=query),
            reasons=[r.strip() for r in reasons.split(";") if r.strip()] if reasons else None,
            limit=limit, console=Console(stderr=as_json))
    if as_json:  # without --json the screener has printed the summary as its last line
        echo(True, session.to_dict(), "")


def fulltext(
    records: Annotated[list[int], typer.Argument(help="Record ids.")],
    by: Annotated[str, typer.Option(help="Who records this.")],
    retrieved: Annotated[
        bool | None, typer.Option("--retrieved/--not-retrieved",
                                  help="Whether the full text was obtained.")
    ] = None,
    study: Annotated[
        str | None, typer.Option(help="The study these reports belong to.")
    ] = None,
    review: ReviewDir = Path("."),
    as_json: AsJson = False,
) -> None:
    """Record full-text retrieval (PRISMA: reports not retrieved) and report-to-study links.

    \b
    Example: metareview fulltext 12 15 --retrieved --by anna --review my-review
    """
    from metareview.store.project import Project

    if retrieved is None and study is None:
        raise InputError("nothing to record: give --retrieved/--not-retrieved or --study")
    with Project.open(review) as rv:
        for rid in records:
            if retrieved is not None:
                rv.set_retrieval(rid, retrieved, by=by)
            if study is not None:
                rv.link_study(rid, study, by=by)
    echo(as_json, {"records": records, "retrieved": retrieved, "study": study},
         f"{len(records)} record{'' if len(records) == 1 else 's'} updated")


def conflicts(
    stage: Stage = "ta",
    review: ReviewDir = Path("."),
    resolve: Annotated[
        list[str] | None, typer.Option(help="RECORD=DECISION[:reason], repeatable; DECISION is "
                                       "include, exclude (i, e); a full-text exclusion needs "
                                       "its reason.")
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who resolves (with --resolve).")] = None,
    as_json: AsJson = False,
) -> None:
    """List the records reviewers disagree on, with agreement statistics; resolve them.

    With --resolve it prints what was resolved and how many conflicts remain (run
    ``metareview conflicts`` for the list).

    \b
    Example: metareview conflicts --stage ta --review my-review
    Example: metareview conflicts --resolve 12=include --by anna --review my-review
    """
    from metareview.screening.decisions import parse_stage
    from metareview.store.project import Project

    st = parse_stage(stage)
    if resolve:
        if not by:
            raise InputError("--resolve needs --by NAME (who resolves)")
        # every item is parsed before anything is stored: one bad item stores none
        items = [_parse_resolution(item) for item in resolve]
        with Project.open(review) as rv:
            rv.resolve_many([(r, v, why, None) for r, v, why in items], stage=st, resolver=by)
            left = len(rv.conflicts(st))
        data = {"stage": st, "by": by, "remaining": left, "resolved": [
            {"record": r, "value": v, "reason": why} for r, v, why in items]}
        lines = [f"record {r} resolved at {st}: {v}" + (f" ({why})" if why else "")
                 + f" by {by}" for r, v, why in items]
        lines.append(f"{left} conflict{'' if left == 1 else 's'} remain{'s' if left == 1 else ''}"
                     f" at {st}" + (" (metareview conflicts lists them)" if left else ""))
        echo(as_json, data, "\n".join(lines))
        return
    with Project.open(review) as rv:
        open_ = rv.conflicts(st)
        recs = rv.records(open_)
        agree = _agreement(rv, st)
    data = {"stage": st, "conflicts": [
        {"record": r, "title": recs[r].record.title, **s.to_dict()} for r, s in open_.items()],
        "agreement": None if agree is None else agree.to_dict()}
    lines = [f"{len(open_)} conflict{'' if len(open_) == 1 else 's'} at {st}"]
    for r, s in open_.items():
        votes = "; ".join(f"{v.reviewer}: {v.value}" + (f" ({v.reason})" if v.reason else "")
                          for v in s.votes)
        lines.append(f"  [{r}] {recs[r].record.title[:70]}  -- {votes}")
    if agree is not None:
        lines += ["", agree.summary()]
    echo(as_json, data, "\n".join(lines))


def _parse_resolution(item: str) -> tuple[int, str, str | None]:
    """``RECORD=DECISION[:reason]`` → (record, include or exclude, reason or None)."""
    from metareview.screening.decisions import parse_value

    rid, sep, rest = item.partition("=")
    word, _, reason = rest.partition(":")
    if not sep or not rid.strip().isdigit():
        raise InputError(f"--resolve {item!r}: expected RECORD=include or "
                         "RECORD=exclude:reason")
    try:
        value = parse_value(word)
    except InputError:
        raise InputError(f"--resolve {item!r}: {word.strip()!r} is not a decision; expected "
                         "include or exclude (i, e)") from None
    if value == "maybe":
        raise InputError(f"--resolve {item!r}: a resolution decides: include or exclude, "
                         "not maybe")
    return int(rid), value, reason.strip() or None


def _agreement(rv: Any, stage: str) -> Agreement | None:
    """Agreement between the reviewers' votes at ``stage`` (None with fewer than two)."""
    from metareview.screening.agreement import stage_agreement

    return stage_agreement(rv.history(), stage)


def progress(
    reviewer: Annotated[str, typer.Option(help="Whose screening to assess (own votes only).")],
    stage: Stage = "ta",
    review: ReviewDir = Path("."),
    recall: Annotated[float, typer.Option(help="Recall target for BUSCAR, in percent.")] = 95,
    alpha: Annotated[float, typer.Option(help="BUSCAR's significance level.")] = 0.05,
    run: Annotated[int, typer.Option(help="Irrelevant records in a row that the heuristic "
                                     "stops at.")] = 50,
    as_json: AsJson = False,
) -> None:
    """Stopping aids: may this reviewer stop screening? (BUSCAR, irrelevant run, records left)

    \b
    Example: metareview progress --reviewer anna --recall 95 --review my-review
    """
    from metareview.screening.decisions import parse_stage
    from metareview.screening.stopping import stopping_aids
    from metareview.store.project import Project

    st = parse_stage(stage)
    if not 0 < recall < 100:
        raise InputError(f"--recall {recall:g}: expected a percentage between 0 and 100")
    with Project.open(review) as rv:
        aids = stopping_aids(rv, st, reviewer, recall_target=recall / 100, alpha=alpha, run=run)
    echo(as_json, {"stage": st, "reviewer": reviewer, **aids.to_dict()}, aids.summary())


def prisma(
    review: ReviewDir = Path("."),
    out: Annotated[
        list[Path] | None, typer.Option(help="Write the flow diagram (.svg or .png), repeatable.")
    ] = None,
    previous_studies: Annotated[
        int | None, typer.Option(help="Studies in the previous version (updated review).")
    ] = None,
    previous_reports: Annotated[
        int | None, typer.Option(help="Reports in the previous version (updated review).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """PRISMA 2020 counts from the review, and its flow diagram.

    \b
    Example: metareview prisma --review my-review --out prisma.svg
    """
    from metareview.screening.prisma import prisma_counts, screening_progress
    from metareview.store.project import Project

    with Project.open(review) as rv:
        if previous_studies is not None or previous_reports is not None:
            rv.set_previous(previous_studies, previous_reports, actor="metareview")
        counts = prisma_counts(rv)
        pending = screening_progress(rv)
    if out:
        from metareview.report.prisma import prisma_diagram

        check_figures("--out", out)
        for path in out:
            prisma_diagram(counts, path)
    problems = counts.check()
    text = counts.summary() + "".join(f"\nnote: {p}" for p in problems)
    echo(as_json, {**counts.to_dict(), "pending": pending, "problems": problems}, text)


def export(
    out: Annotated[Path, typer.Argument(help="Output file: .ris or .csv.")],
    review: ReviewDir = Path("."),
    duplicates: Annotated[
        bool, typer.Option("--duplicates", help="Also export the duplicates removed.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Export records with their screening decisions to RIS or CSV.

    \b
    Example: metareview export records.ris --review my-review
    """
    from metareview.store.exchange import export_records
    from metareview.store.project import Project

    with Project.open(review) as rv:
        n = export_records(rv, out, include_duplicates=duplicates)
    echo(as_json, {"exported": n, "file": str(out)}, f"{n} records written to {out}")
