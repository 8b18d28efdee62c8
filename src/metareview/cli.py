"""The ``metareview`` command line: parses, calls the library, prints.

Bad input ends with one line on stderr naming the file, row, study and column, and exit
status 2. The JSON printed by ``--json`` is :meth:`MetaAnalysis.to_dict` plus the optional
blocks, so scripts can rely on the library's field names.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from metareview.errors import InputError

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
    review: Annotated[Path, typer.Argument(help="Review folder: protocol.yaml, studies/, CSVs.")],
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
