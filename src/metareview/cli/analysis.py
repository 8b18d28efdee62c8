"""Commands that analyse data: analyze, report, batch, simulate.

The functions are registered on the app in :mod:`metareview.cli`; an :class:`InputError` they
raise becomes the one-line ``metareview: error:`` message there.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated

import typer

from metareview.cli._common import AsJson, check_figures, echo, progress_bar
from metareview.effects.measures import MEASURES
from metareview.errors import InputError


def analyze(
    data: Annotated[Path, typer.Argument(help="CSV with metafor column names, one row a study.")],
    measure: Annotated[
        str | None,
        typer.Option(help=f"Effect measure (metafor's escalc codes): {' '.join(MEASURES)}."),
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
    newmods: Annotated[str | None, typer.Option(
        help="Predict at these moderator values (metafor's predict(newmods=)): '10,20,30' with "
             "one moderator, '10,1950;20,1960' with two; '' for the pooled effect.")] = None,
    cluster: Annotated[str | None, typer.Option(
        help="Column of clusters: add cluster-robust SEs, df and p (metafor's robust()).")] = None,
    clubsandwich: Annotated[bool, typer.Option(
        "--clubsandwich", help="With --cluster: CR2, Satterthwaite df and the HTZ test.")] = False,
    random: Annotated[list[str] | None, typer.Option(
        help="Random-effects formula, repeatable: a multilevel or multivariate model "
             "(metafor's rma.mv), e.g. '~ 1 | district/school' or '~ outcome | trial'.")] = None,
    struct: Annotated[str, typer.Option(
        help="With --random: structure of '~ inner | outer' terms: CS, HCS, UN, AR, HAR, ID or "
             "DIAG (comma-separated for two such terms).")] = "CS",
    V: Annotated[Path | None, typer.Option(
        "--V", help="With --random: CSV of the k x k sampling covariance matrix.")] = None,
    rho: Annotated[float | None, typer.Option(
        help="With --random: estimates of one cluster correlate rho (metafor's vcalc); the "
             "cluster is --rho-cluster or the first random term's outer factor.")] = None,
    rho_cluster: Annotated[str | None, typer.Option(
        help="Column of the clusters for --rho.")] = None,
    dfs: Annotated[str, typer.Option(
        help="With --random and --test t: residual (k - p) or contain (containment).")
    ] = "residual",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run a meta-analysis of DATA and print the results.

    \b
    Example: metareview analyze trials.csv --measure RR --method REML --mods year
    Example: metareview analyze data.csv --measure GEN --random "~ 1 | district/school" --json
    """
    from metareview.analysis import run_analysis

    # Conflicts between options are the command line's to word; run_analysis checks them too.
    if mods and subgroup:
        raise InputError("use either --mods or --subgroup, not both")
    if clubsandwich and not cluster:
        raise InputError("--clubsandwich needs --cluster COLUMN")
    if bias and mods:
        raise InputError("--bias applies to a model without --mods")
    if newmods and not mods:
        raise InputError("--newmods needs --mods (without moderators, give --newmods '' "
                         "for the pooled effect)")
    if (V is not None or rho is not None or rho_cluster) and not random:
        raise InputError("--V, --rho and --rho-cluster need --random")
    if random and (subgroup or bias or plot):
        raise InputError("--subgroup, --bias and --plot are not available with --random yet")
    at = _newmods(newmods) if newmods is not None else None
    if bias and method.upper() in ("MH", "PETO"):
        raise InputError("--bias needs an inverse-variance model (FE or a tau^2 estimator), "
                         f"not {method.upper()}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = run_analysis(
                data, measure=measure, method=method, test=test, level=level,
                mods=[m.strip() for m in mods.split(",") if m.strip()] if mods else None,
                subgroup=subgroup, bias=bias, plot=plot, newmods=at, cluster=cluster,
                clubsandwich=clubsandwich, random=random,
                struct=[x.strip() for x in struct.split(",")], V=V, rho=rho,
                rho_cluster=rho_cluster, dfs=dfs,
            )
    except InputError as exc:
        if exc.parameter == "measure":
            raise InputError(f"{data}: give --measure (the file has no yi column to use as is)"
                             ) from None
        raise
    text = json.dumps(result.to_dict(), indent=2, allow_nan=False) if as_json else (
        result.summary())
    typer.echo(text)
    # One line each on stderr, not Python's file:line form; the printout's own "Note:" lines
    # already show most of them, so only the rest are repeated there (all of them with --json).
    for message in dict.fromkeys(str(w.message) for w in caught):
        if as_json or f"Note: {message}" not in text:
            typer.echo(f"metareview: warning: {message}", err=True)


def _newmods(text: str) -> list[float] | list[list[float]]:
    """'10,20,30' -> [10, 20, 30]; '10,1950;20,1960' -> [[10, 1950], [20, 1960]]."""
    def num(cell: str) -> float:
        try:
            return float(cell)
        except ValueError:
            raise InputError(f"--newmods: {cell.strip()!r} is not a number") from None

    rows = [r for r in text.split(";") if r.strip()]
    parsed = [[num(c) for c in r.split(",")] for r in rows]
    if len(parsed) == 1:
        return parsed[0]
    return parsed


def report(
    review: Annotated[Path, typer.Argument(
        help="Review folder (protocol.yaml, studies/, CSVs) or project folder.")],
    out: Annotated[Path, typer.Option(
        help="Where to write the report: .html (self-contained) or .docx (Word).")] = Path(
        "report.html"),
) -> None:
    """Build a review's report from its data, as self-contained HTML or a Word document.

    \b
    Example: metareview report review-folder --out report.html
    """
    kind = out.suffix.lower()
    if kind not in (".html", ".docx"):
        raise InputError(f"--out {out}: the report is written as .html or .docx (Word), "
                         f"not {out.suffix or 'a file without a suffix'}")
    from metareview.screening.prisma import report_prisma
    from metareview.store.project import SETTINGS, Project, load_review_data

    if kind == ".docx":
        from metareview.report.word import write_docx as write
    else:
        from metareview.report.review_report import write_report as write
    counts = None
    if (review / SETTINGS).is_file():  # a project: its PRISMA flow comes from its records
        with Project.open(review) as project:
            counts = report_prisma(project)
    typer.echo(f"wrote {write(load_review_data(review), out, prisma=counts)}")


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
    random: Annotated[list[str] | None, typer.Option(
        help="Random-effects formula, repeatable: fit each analysis as a multilevel model "
             "(metafor's rma.mv; GEN data, REML or ML, z tests), e.g. "
             "--random '~ 1 | study/es'.")] = None,
    struct: Annotated[str, typer.Option(
        help="With --random: structure of '~ inner | outer' terms (CS, HCS, UN, AR, ID, DIAG); "
             "comma-separated for two such terms.")] = "CS",
) -> None:
    """Fit one meta-analysis per analysis key of DATA, streaming, and write one row each.

    The second example fits a three-level model per analysis (estimates es nested in studies).

    \b
    Example: metareview batch data.csv --group g --out res.csv --measure GEN --method REML
    Example: metareview batch data.csv --group g --random "~ 1 | study/es" --out res.csv
    """
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
            chunk_rows=chunk_rows, client=client, progress=progress,
            random=list(random) if random else None,
            struct=[x.strip() for x in struct.split(",")] if "," in struct else struct,
            **columns,
        )
    finally:
        if client is not None:
            client.close()
    typer.echo(summary.line())


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
    retrain_growth: Annotated[float, typer.Option(
        help="Retrain after this share of the labelled records (at least the batch size), or "
             "at once after a relevant one; 0 retrains after every batch, as ASReview does.")
    ] = 0.05,
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
    recall at 10/25/50%, WSS@95, ERF, ATD and loss over seeds, with plots.

    \b
    Example: metareview simulate labelled.csv --seeds 0,1,2 --plot recall.png
    """
    from metareview.screening.simulate import read_labelled
    from metareview.screening.simulate import simulate as run_simulation

    check_figures("--plot", plot or [])
    check_figures("--plot-td", [plot_td] if plot_td else [])
    try:
        seed_list = [int(x) for x in seeds.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--seeds {seeds!r}: expected whole numbers separated by commas"
                         ) from None
    balance_arg = _balance(balance)
    notes: list[str] = []
    texts, labels = read_labelled(data, label=label, warnings=notes)
    for note in notes:
        typer.echo(f"metareview: warning: {note}", err=True)
    with progress_bar(progress and not as_json, "simulating") as tick:
        result = run_simulation(
            texts, labels, seeds=seed_list, n_prior_included=n_prior_included,
            n_prior_excluded=n_prior_excluded, classifier=classifier, query=query,
            batch_size=batch_size, growth=retrain_growth, balance=balance_arg, progress=tick)
    if plot or plot_td:
        from metareview.report.screening_plots import recall_plot, time_to_discovery_plot

        for path in plot or []:
            recall_plot(result, path)
        if plot_td:
            time_to_discovery_plot(result, plot_td)
    data_out = result.to_dict()
    if as_json:
        for r in data_out["runs"]:
            r.pop("order")  # one id per record: too long for a summary; use the library
    echo(as_json, {"file": str(data), **data_out}, result.summary())


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
