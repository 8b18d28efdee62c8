"""The ``metareview`` command line: parses, calls the library, prints.

Bad input ends with one line on stderr naming the file, row, study and column, and exit
status 2. The JSON printed by ``--json`` is :meth:`MetaAnalysis.to_dict` plus the optional
blocks, so scripts can rely on the library's field names.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from metareview.errors import InputError

if TYPE_CHECKING:
    from metareview.screening.agreement import Agreement

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    help="metareview: meta-analysis with metafor's vocabulary.",
    no_args_is_help=True,
)


@app.callback()
def _root() -> None:
    """metareview: evidence synthesis from study data to a graded answer."""


def _fail(message: str) -> None:
    typer.echo(f"metareview: error: {message}", err=True)
    raise typer.Exit(code=2)


@app.command()
def analyze(
    data: Annotated[Path, typer.Argument(help="CSV with metafor column names, one row a study.")],
    measure: Annotated[
        str | None,
        typer.Option(help="Effect measure: RR OR RD MD SMD ROM PLO PR PFT PAS ZCOR COR GEN."),
    ] = None,
    method: Annotated[
        str, typer.Option(help="FE, DL, REML, ML, PM, HS, SJ, HE, EB, MH or PETO.")
    ] = "REML",
    test: Annotated[str, typer.Option(help="z, t or knha (Knapp-Hartung).")] = "z",
    level: Annotated[float, typer.Option(help="Confidence level in percent.")] = 95,
    mods: Annotated[
        str | None, typer.Option(help="Moderator columns, comma-separated (meta-regression).")
    ] = None,
    subgroup: Annotated[str | None, typer.Option(help="Column defining subgroups.")] = None,
    bias: Annotated[
        bool, typer.Option("--bias", help="Egger's test, rank correlation test, trim-and-fill.")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option(help="Write a forest plot here (.svg or .png).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run a meta-analysis of DATA and print the results."""
    from metareview.analysis import run_analysis

    try:
        result = run_analysis(
            data, measure=measure, method=method, test=test, level=level,
            mods=[m.strip() for m in mods.split(",") if m.strip()] if mods else None,
            subgroup=subgroup, bias=bias, plot=plot,
        )
    except InputError as exc:
        _fail(str(exc))
        return
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        typer.echo(result.summary())


@app.command()
def report(
    review: Annotated[Path, typer.Argument(help="Project folder: protocol.yaml, studies/, CSVs.")],
    out: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path(
        "report.html"),
) -> None:
    """Build a review's self-contained HTML report from its data."""
    from metareview.report.review_report import write_report

    try:
        path = write_report(review, out)
    except InputError as exc:
        _fail(str(exc))
        return
    typer.echo(f"wrote {path}")


@app.command()
def batch(
    data: Annotated[Path, typer.Argument(
        help="Long-format .csv or .parquet: one row a study, a column naming its analysis.")],
    group: Annotated[str, typer.Option(help="Column holding each row's analysis key.")],
    out: Annotated[Path, typer.Option(help="Results file, .csv or .parquet: one row an analysis.")],
    measure: Annotated[
        str, typer.Option(help="Effect measure: GEN (yi with vi or sei), RR OR RD MD SMD ...")
    ] = "GEN",
    method: Annotated[str, typer.Option(help="FE, DL, REML, ML, PM, HS, SJ, HE or EB.")] = "REML",
    test: Annotated[str, typer.Option(help="z, t or knha (Knapp-Hartung).")] = "z",
    level: Annotated[float, typer.Option(help="Confidence level in percent.")] = 95,
    mods: Annotated[
        str | None, typer.Option(help="Numeric moderator columns, comma-separated.")
    ] = None,
    yi: Annotated[str | None, typer.Option(help="Column holding yi (default yi).")] = None,
    vi: Annotated[str | None, typer.Option(help="Column holding vi (default vi).")] = None,
    sei: Annotated[str | None, typer.Option(help="Column holding sei (default sei).")] = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows read per chunk.")] = 1_000_000,
    dask: Annotated[
        str | None, typer.Option(help="Fit on the Dask cluster at this scheduler address.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
) -> None:
    """Fit one meta-analysis per analysis key of DATA, streaming, and write one row each."""
    from metareview.batch import run_batch

    columns = {k: v for k, v in (("yi", yi), ("vi", vi), ("sei", sei)) if v}
    client = None
    try:
        if dask:
            from dask.distributed import Client

            try:
                client = Client(dask, timeout=30)
            except (OSError, TimeoutError) as exc:
                raise InputError(f"cannot reach the Dask scheduler at {dask} ({exc})") from exc
        summary = run_batch(
            data, out, group=group, measure=measure, method=method, test=test, level=level,
            mods=[m.strip() for m in mods.split(",") if m.strip()] if mods else (),
            chunk_rows=chunk_rows, client=client, progress=progress, **columns,
        )
    except InputError as exc:
        _fail(str(exc))
        return
    finally:
        if client is not None:
            client.close()
    typer.echo(summary.line())


# -- the review project: init | import | dedupe | screen | conflicts | prisma | export ---------

ReviewDir = Annotated[Path, typer.Option("--review", "-r", help="The review's folder.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
Stage = Annotated[str, typer.Option(help="ta (title/abstract) or ft (full text).")]


def _check_figures(option: str, paths: list[Path]) -> None:
    """Figures are written as SVG or PNG, told by the file's extension."""
    for path in paths:
        if path.suffix.lower() not in (".svg", ".png"):
            raise InputError(f"{option} {path}: expected a .svg or .png file")


def _echo(as_json: bool, data: dict[str, Any], text: str) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else text)


@app.command()
def init(
    name: Annotated[Path, typer.Argument(help="Folder to create the review in.")],
    db: Annotated[
        str | None, typer.Option("--db", help="postgresql://user:pw@host/db for a team; "
                                 "default an embedded SQLite file in the folder.")
    ] = None,
    criteria: Annotated[
        str | None, typer.Option(help="Inclusion criteria shown to screeners (text or @file).")
    ] = None,
    single: Annotated[
        bool, typer.Option("--single", help="One reviewer per record instead of two.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Create a review project (dual independent screening unless --single)."""
    from metareview.store.project import Project

    try:
        text = criteria or ""
        if text.startswith("@"):
            text = _read_text(Path(text[1:]))
        with Project.create(name, name.name, db_url=db, criteria=text,
                           reviewers_required=1 if single else 2) as rv:
            info = {"review": str(name), **rv.settings()}
    except InputError as exc:
        _fail(str(exc))
        return
    _echo(as_json, info, f"created review {info['name']!r} in {name} ({info['database']})")


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


@app.command(name="import")
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
    """Import search results; each file is stored whole or not at all."""
    import datetime as dt

    from metareview.records.readers import read_records
    from metareview.store.project import Project

    try:
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
                iid = rv.add_import(b, actor=actor, allow_repeat=allow_repeat)
                out.append({"import": iid, **b.to_dict()})
    except InputError as exc:
        _fail(str(exc))
        return
    for b in batches:
        for w in b.warnings:
            typer.echo(f"metareview: warning: {w}", err=True)
    data = out[0] if len(out) == 1 else {
        "imported": sum(o["imported"] for o in out), "source": sorted({o["source"] for o in out}),
        "files": out}
    _echo(as_json, data, "\n".join(b.summary() for b in batches))


@app.command()
def dedupe(
    review: ReviewDir = Path("."),
    undo: Annotated[bool, typer.Option("--undo", help="Undo the newest run.")] = False,
    actor: Annotated[str, typer.Option(help="Who is running it.")] = "metareview",
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    as_json: AsJson = False,
) -> None:
    """Find duplicate records (exact DOI/PMID, then fuzzy) and keep one per cluster."""
    from metareview.store.project import Project

    try:
        with Project.open(review) as rv:
            if undo:
                run = rv.undo_dedupe(actor=actor)
                _echo(as_json, {"undone": run}, f"de-duplication run {run} undone")
                return
            with _progress(progress and not as_json, "de-duplicating") as tick:
                result = rv.dedupe(actor=actor, progress=tick)
    except InputError as exc:
        _fail(str(exc))
        return
    _echo(as_json, result.to_dict(), result.summary())


class _progress:
    """A rich progress bar on stderr, handed out as a ``progress(done, total)`` callback."""

    def __init__(self, show: bool, label: str):
        self.show, self.label = show, label

    def __enter__(self) -> Callable[[int, int], None] | None:
        if not self.show:
            return None
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=None)

        def tick(done: int, total: int) -> None:
            self.bar.update(self.task, completed=done, total=total)

        return tick

    def __exit__(self, *exc: object) -> None:
        if self.show:
            self.bar.stop()


@app.command()
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
        str | None, typer.Option(help="Full-text exclusion reasons, separated by ';'.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Stop after this many decisions.")] = None,
    as_json: AsJson = False,
) -> None:
    """Screen records at the terminal (i/e/m, u undo), the model's top-ranked record first."""
    from metareview.screening.decisions import parse_stage
    from metareview.store.project import Project

    try:
        st = parse_stage(stage)
        with Project.open(review) as rv:
            if decisions is not None:
                from metareview.store.exchange import import_decisions

                n = import_decisions(rv, decisions, stage=st, reviewer=reviewer)
                left = len(rv.queue(st, reviewer))
                _echo(as_json, {"stored": n, "stage": st, "reviewer": reviewer,
                                "remaining": left},
                      f"{n} decisions stored for {reviewer} at {st}; {left} records left")
                return
            from rich.console import Console

            from metareview.screener import run_screener
            from metareview.screening.ranking import model_ranker

            session = run_screener(
                rv, stage=st, reviewer=reviewer,
                rank=None if query == "random" else model_ranker(classifier=classifier,
                                                                 query=query),
                reasons=[r.strip() for r in reasons.split(";") if r.strip()] if reasons else None,
                limit=limit, console=Console(stderr=as_json))
    except InputError as exc:
        _fail(str(exc))
        return
    if as_json:  # without --json the screener has printed the summary as its last line
        _echo(True, session.to_dict(), "")


@app.command()
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
    """Record full-text retrieval (PRISMA: reports not retrieved) and report-to-study links."""
    from metareview.store.project import Project

    try:
        if retrieved is None and study is None:
            raise InputError("nothing to record: give --retrieved/--not-retrieved or --study")
        with Project.open(review) as rv:
            for rid in records:
                if retrieved is not None:
                    rv.set_retrieval(rid, retrieved, by=by)
                if study is not None:
                    rv.link_study(rid, study, by=by)
    except InputError as exc:
        _fail(str(exc))
        return
    _echo(as_json, {"records": records, "retrieved": retrieved, "study": study},
          f"{len(records)} record{'' if len(records) == 1 else 's'} updated")


@app.command()
def conflicts(
    stage: Stage = "ta",
    review: ReviewDir = Path("."),
    resolve: Annotated[
        list[str] | None, typer.Option(help="RECORD=include|exclude[:reason], repeatable.")
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who resolves (with --resolve).")] = None,
    as_json: AsJson = False,
) -> None:
    """List the records reviewers disagree on, with agreement statistics; resolve them."""
    from metareview.screening.decisions import parse_stage, parse_value
    from metareview.store.project import Project

    try:
        st = parse_stage(stage)
        with Project.open(review) as rv:
            for item in resolve or []:
                if not by:
                    raise InputError("--resolve needs --by NAME (who resolves)")
                rid, sep, rest = item.partition("=")
                value, _, reason = rest.partition(":")
                if not sep or not rid.strip().isdigit():
                    raise InputError(f"--resolve {item!r}: expected RECORD=include or "
                                     "RECORD=exclude:reason")
                rv.resolve(int(rid), st, by, parse_value(value), reason or None)
            open_ = rv.conflicts(st)
            recs = rv.records(open_)
            agree = _agreement(rv, st)
    except InputError as exc:
        _fail(str(exc))
        return
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
    _echo(as_json, data, "\n".join(lines))


def _agreement(rv: Any, stage: str) -> Agreement | None:
    """Agreement between the reviewers' votes at ``stage`` (None with fewer than two)."""
    from metareview.screening.agreement import agreement

    ratings: dict[str, dict[str, str]] = {}
    for h in rv.history():
        if h["stage"] == stage and h["kind"] in ("vote", "undo"):
            ratings.setdefault(h["reviewer"], {})[str(h["record"])] = h["value"]
    ratings = {k: {r: v for r, v in d.items() if v is not None} for k, d in ratings.items()}
    if len([d for d in ratings.values() if d]) < 2:
        return None
    return agreement(ratings)


@app.command()
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
    """Stopping aids: may this reviewer stop screening? (BUSCAR, irrelevant run, records left)"""
    from metareview.screening.decisions import parse_stage
    from metareview.screening.stopping import stopping_aids
    from metareview.store.project import Project

    try:
        st = parse_stage(stage)
        if not 0 < recall < 100:
            raise InputError(f"--recall {recall:g}: expected a percentage between 0 and 100")
        with Project.open(review) as rv:
            aids = stopping_aids(rv, st, reviewer, recall_target=recall / 100, alpha=alpha,
                                 run=run)
    except InputError as exc:
        _fail(str(exc))
        return
    _echo(as_json, {"stage": st, "reviewer": reviewer, **aids.to_dict()}, aids.summary())


@app.command()
def simulate(
    data: Annotated[Path, typer.Argument(help="Labelled records: CSV/TSV/XLSX with title, "
                                         "abstract and a 0/1 label column.")],
    label: Annotated[str, typer.Option(help="The label column.")] = "label_included",
    classifier: Annotated[str, typer.Option(help="svm, logistic or nb.")] = "svm",
    query: Annotated[str, typer.Option(help="certainty, uncertainty, mixed or random.")
                     ] = "certainty",
    seeds: Annotated[str, typer.Option(help="Seeds, comma-separated: one run each.")] = "0,1,2",
    n_prior_included: Annotated[int, typer.Option(help="Relevant prior records per run.")] = 1,
    n_prior_excluded: Annotated[int, typer.Option(help="Irrelevant prior records per run.")
                                ] = 1,
    batch_size: Annotated[int, typer.Option(help="Records screened between retrainings.")] = 1,
    balance: Annotated[str, typer.Option(help="Class balancing: 'default' (the classifier's "
                                         "ratio), 'none', or a ratio such as 9.8.")
                       ] = "default",
    plot: Annotated[
        list[Path] | None, typer.Option(help="Recall curves (.svg or .png), repeatable.")
    ] = None,
    plot_td: Annotated[
        Path | None, typer.Option(help="Time-to-discovery plot (.svg or .png).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    as_json: AsJson = False,
) -> None:
    """Replay screening of a labelled dataset with active learning (ASReview's simulate):
    recall at 10/25/50%, WSS@95, ERF, ATD and loss over seeds, with plots."""
    from metareview.screening.simulate import read_labelled
    from metareview.screening.simulate import simulate as run_simulation

    try:
        _check_figures("--plot", plot or [])
        _check_figures("--plot-td", [plot_td] if plot_td else [])
        try:
            seed_list = [int(x) for x in seeds.split(",") if x.strip()]
        except ValueError:
            raise InputError(f"--seeds {seeds!r}: expected whole numbers separated by commas"
                             ) from None
        balance_arg = _balance(balance)
        texts, labels = read_labelled(data, label=label)
        with _progress(progress and not as_json, "simulating") as tick:
            result = run_simulation(
                texts, labels, seeds=seed_list, n_prior_included=n_prior_included,
                n_prior_excluded=n_prior_excluded, classifier=classifier, query=query,
                batch_size=batch_size, balance=balance_arg, progress=tick)
        if plot or plot_td:
            from metareview.report.screening_plots import recall_plot, time_to_discovery_plot

            for path in plot or []:
                recall_plot(result, path)
            if plot_td:
                time_to_discovery_plot(result, plot_td)
    except InputError as exc:
        _fail(str(exc))
        return
    data_out = result.to_dict()
    if as_json:
        for r in data_out["runs"]:
            r.pop("order")  # one id per record: too long for a summary; use the library
    _echo(as_json, {"file": str(data), **data_out}, result.summary())


def _balance(text: str) -> bool | float:
    """``--balance``: the classifier's default ratio, none, or a ratio."""
    word = text.strip().lower()
    if word in ("default", "true", "yes"):
        return True
    if word in ("none", "false", "no", "off"):
        return False
    try:
        return float(word)
    except ValueError:
        raise InputError(f"--balance {text!r}: expected 'default', 'none' or a ratio such as "
                         "9.8") from None


@app.command()
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
    """PRISMA 2020 counts from the review, and its flow diagram."""
    from metareview.screening.prisma import prisma_counts, screening_progress
    from metareview.store.project import Project

    try:
        with Project.open(review) as rv:
            if previous_studies is not None or previous_reports is not None:
                rv.set_previous(previous_studies, previous_reports, actor="metareview")
            counts = prisma_counts(rv)
            pending = screening_progress(rv)
        if out:
            from metareview.report.prisma import prisma_diagram

            _check_figures("--out", out)
            for path in out:
                prisma_diagram(counts, path)
    except InputError as exc:
        _fail(str(exc))
        return
    problems = counts.check()
    text = counts.summary() + "".join(f"\nnote: {p}" for p in problems)
    _echo(as_json, {**counts.to_dict(), "pending": pending, "problems": problems}, text)


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="Output file: .ris or .csv.")],
    review: ReviewDir = Path("."),
    duplicates: Annotated[
        bool, typer.Option("--duplicates", help="Also export the duplicates removed.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Export records with their screening decisions to RIS or CSV."""
    from metareview.store.exchange import export_records
    from metareview.store.project import Project

    try:
        with Project.open(review) as rv:
            n = export_records(rv, out, include_duplicates=duplicates)
    except InputError as exc:
        _fail(str(exc))
        return
    _echo(as_json, {"exported": n, "file": str(out)}, f"{n} records written to {out}")


@app.command()
def version() -> None:
    """Print the version."""
    from metareview import __version__

    typer.echo(__version__)


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``metareview`` console script."""
    return app(args=argv if argv is not None else sys.argv[1:], prog_name="metareview")


if __name__ == "__main__":  # pragma: no cover
    main()
