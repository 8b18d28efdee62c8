"""Active-learning screening against ASReview LAB 3: whole process against whole process.

For every labelled dataset in ``../shared/data/screening`` (CSV: record_id, title, abstract,
label_included, label_abstract_screening) and every seed, in this order (interleaved, so that a
change in the machine's load hits both tools alike):

1. ``metareview simulate DATA --seeds S --json`` as its own process: the default model and
   retraining (``--retrain-growth 0.05``: retrain after 5% of the labelled records, at once
   after a relevant one);
2. ``asreview simulate DATA --prior-idx I J --seed S`` (ASReview 3.0.8, default ``elas_u4``,
   retraining after every record) from the same two prior records;
3. for the first ``--exact-seeds`` seeds, ``metareview simulate ... --retrain-growth 0``:
   metareview retraining after every record, as ASReview does.

Every time is a whole process (start-up, reading, TF-IDF, the loop, writing the output),
measured from outside with the same clock. Both orders are scored by the same code
(``metareview.screening.simulate``, equal to asreview-insights 1.6.1:
``tests/test_screening_metrics.py``). Then a 9,000-record review (van de Schoot 2017 with 2,811
records of Kwok 2020 added as irrelevant) is simulated by metareview for the 60-second goal.
Writes ``bench/RESULTS-screening.md``.

    .venv/bin/python bench/bench_screening.py             # 11 datasets x 5 seeds (~35 min)
    .venv/bin/python bench/bench_screening.py --quick     # two small datasets, 2 seeds

ASReview runs in its own venv, ``bench/asreview.venv`` (created on first use with
``pip install asreview==3.0.8``), or in the Python given by ``--asreview-python``. Not part of
CI.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from _common import machine, md_table

from metareview.screening.simulate import Metrics, metrics

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "screening"
VENV = ROOT / "bench" / "asreview.venv"
ASREVIEW_VERSION = "3.0.8"
OUT = ROOT / "bench" / "RESULTS-screening.md"
METAREVIEW = ROOT / ".venv" / "bin" / "metareview"
GOAL_RATIO, GOAL_BIG_S, BIG_N = 10.0, 60.0, 9000

CITATIONS = (
    "van de Schoot et al. 2017 (Struct Equ Modeling 24:451); Nagtegaal et al. 2019 (J Behav "
    "Public Adm 2(2)); Bannach-Brown et al. 2019 (Syst Rev 8:23); Cohen et al. 2006 (JAMIA "
    "13:206, drug class reviews); Kwok et al. 2020 (Viruses 12:107); Kitchenham et al. 2010. "
    "Data as collected in `../shared/data/screening` (see its README for licences and sources: "
    "CC-BY 4.0 / CC0 / the OHSU drug-class review licence)."
)


# ---------------------------------------------------------------------------------------------
# ASReview
def asreview_python(given: str | None) -> Path:
    """The Python of an environment with ASReview 3; creates bench/asreview.venv if needed."""
    py = Path(given) if given else VENV / "bin" / "python"
    if not py.exists():
        if given:
            raise SystemExit(f"--asreview-python {given}: no such file")
        print(f"creating {VENV} (pip install asreview=={ASREVIEW_VERSION}) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        done = subprocess.run([str(py), "-m", "pip", "install", "--quiet",
                               f"asreview=={ASREVIEW_VERSION}"], capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise SystemExit(f"pip install asreview=={ASREVIEW_VERSION} failed:\n"
                             f"{done.stderr[-3000:]}")
    return py


def asreview_version(py: Path) -> str:
    done = subprocess.run([str(py), "-c", "import asreview; print(asreview.__version__)"],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


@dataclass(frozen=True)
class AsreviewRun:
    """One ``asreview simulate`` run, scored with our metric code."""

    seed: int
    metrics: Metrics
    n_screened: int
    wall_s: float
    loop_s: float
    screened: np.ndarray  # rows screened after the priors, in order


def run_asreview(py: Path, csv: Path, y: np.ndarray, prior: list[int], seed: int,
                 n_query: int) -> AsreviewRun:
    """``asreview simulate`` from the given prior rows; the order read back from the project."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sim.asreview"
        cmd = [str(py), "-m", "asreview", "simulate", str(csv), "--prior-idx",
               *map(str, prior), "--seed", str(seed), "--n-query", str(n_query), "-o", str(out)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        wall = time.perf_counter() - t0
        with zipfile.ZipFile(out) as z:
            z.extract("results.db", tmp)
        con = sqlite3.connect(Path(tmp) / "results.db")
        try:
            row_of = dict(con.execute("select record_id, dataset_row from record"))
            rows = con.execute("select record_id, label, querier, time from results "
                               "order by rowid").fetchall()
        finally:
            con.close()
    if len(row_of) != len(y):
        raise RuntimeError(f"ASReview read {len(row_of)} records from {csv.name}, not {len(y)}")
    prior_rows = sorted(row_of[r] for r, _, q, _ in rows if q is None)
    if prior_rows != sorted(prior):
        raise RuntimeError(f"ASReview priors {prior_rows} differ from ours {sorted(prior)}")
    screened = [row_of[r] for r, _, q, _ in rows if q is not None]
    labels = [lab for _, lab, q, _ in rows if q is not None]
    if labels != y[screened].tolist():
        raise RuntimeError("ASReview's labels differ from the dataset's label_included")
    seen = set(screened) | set(prior)
    rest = [i for i in range(len(y)) if i not in seen]
    if y[rest].any():
        raise RuntimeError("ASReview stopped before the last relevant record")
    # insights pads an early-stopped simulation with zeros: the same as appending the rest.
    order = np.array(screened + rest, dtype=np.int64)
    times = [t for _, _, q, t in rows if q is not None]
    prior_t = max(t for _, _, q, t in rows if q is None)
    return AsreviewRun(seed, metrics(y[order]), len(screened), wall, max(times) - prior_t,
                       np.array(screened, dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# metareview as a process
@dataclass(frozen=True)
class OurRun:
    seed: int
    metrics: Metrics
    prior: list[int]
    n_retrains: int
    wall_s: float


def _metrics_of(d: dict) -> Metrics:
    """Rebuild Metrics from the JSON of one run (keys come back as strings)."""
    m = dict(d["metrics"])
    m["td"] = tuple(m["td"])
    return Metrics(**{k: ({float(a): b for a, b in v.items()} if isinstance(v, dict) else v)
                      for k, v in m.items()})


def run_ours(csv: Path, seed: int, growth: float | None) -> OurRun:
    cmd = [str(METAREVIEW), "simulate", str(csv), "--seeds", str(seed), "--no-progress",
           "--json"]
    if growth is not None:
        cmd += ["--retrain-growth", str(growth)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    run = json.loads(done.stdout)["runs"][0]
    return OurRun(seed, _metrics_of(run), run["prior"], run["n_retrains"], wall)


@dataclass
class DatasetResult:
    name: str
    n: int
    n_rel: int
    ours: list[OurRun] = field(default_factory=list)
    exact: list[OurRun] = field(default_factory=list)
    theirs: list[AsreviewRun] = field(default_factory=list)
    load: list[float] = field(default_factory=list)


def bench_dataset(csv: Path, seeds: list[int], exact_seeds: int, py: Path) -> DatasetResult:
    y = pd.read_csv(csv, keep_default_na=False, dtype=str)["label_included"].astype(int)
    res = DatasetResult(csv.stem, len(y), int(y.sum()))
    res.load.append(os.getloadavg()[0])
    for k, seed in enumerate(seeds):
        mine = run_ours(csv, seed, None)
        res.ours.append(mine)
        theirs = run_asreview(py, csv, y.to_numpy(), mine.prior, seed, 1)
        res.theirs.append(theirs)
        line = (f"  seed {seed}: metareview {mine.wall_s:.2f} s WSS@95 "
                f"{mine.metrics.wss[0.95]:.3f} | ASReview {theirs.wall_s:.2f} s WSS@95 "
                f"{theirs.metrics.wss[0.95]:.3f}")
        if k < exact_seeds:
            ex = run_ours(csv, seed, 0.0)
            res.exact.append(ex)
            line += f" | every record {ex.wall_s:.2f} s WSS@95 {ex.metrics.wss[0.95]:.3f}"
        print(line, flush=True)
        res.load.append(os.getloadavg()[0])
    return res


def big_dataset(tmp: Path) -> Path:
    """van de Schoot 2017 (6,189 records, 43 included) plus the first 2,811 records of Kwok
    2020 as irrelevant: a 9,000-record review from real titles and abstracts."""
    base = pd.read_csv(DATA / "van_de_Schoot_2017.csv", keep_default_na=False, dtype=str)
    extra = pd.read_csv(DATA / "Kwok_2020.csv", keep_default_na=False, dtype=str)
    extra = extra.iloc[: BIG_N - len(base)].assign(label_included="0")
    both = pd.concat([base[["title", "abstract", "label_included"]],
                      extra[["title", "abstract", "label_included"]]], ignore_index=True)
    path = tmp / f"combined_{BIG_N}.csv"
    both.to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------------------------------
# The report
def _mm(values: list[float], digits: int = 2) -> str:
    """``median (min–max)``."""
    if not values:
        return "–"
    return (f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–"
            f"{max(values):.{digits}f})")


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "–"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{np.mean(values):.3f} ± {sd:.3f}"


def _within(ours: list[float], theirs: list[float]) -> bool:
    """Mean difference within the seed-to-seed SD of ASReview's own runs (its noise)."""
    sd = statistics.stdev(theirs) if len(theirs) > 1 else 0.0
    return abs(float(np.mean(ours)) - float(np.mean(theirs))) <= max(sd, 1e-12)


def _paired(ours: list[float], theirs: list[float]) -> str:
    """Mean ± standard error of the per-seed differences (same seed, same prior records)."""
    d = [a - b for a, b in zip(ours, theirs, strict=True)]
    if not d:
        return "–"
    se = statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else 0.0
    return f"{np.mean(d):+.3f} ± {se:.3f}"


def write_report(results: list[DatasetResult], big: list[OurRun], info: dict[str, str],
                 command: str, seeds: list[int], seconds: float) -> str:
    lines = ["# Benchmarks: active-learning screening against ASReview (issue 13)", "",
             f"Written by `bench/bench_screening.py`; reproduce with `{command}` "
             f"(total {seconds / 60:.1f} min). ASReview {ASREVIEW_VERSION} runs in its own "
             "venv (`bench/asreview.venv`).", "",
             "## Machine", "", md_table(["", ""], list(info.items())), "",
             "## How it was run", "",
             f"For each dataset and seed ({', '.join(map(str, seeds))}), interleaved: "
             "`metareview simulate DATA --seeds S --json` (defaults: TF-IDF 1–2-grams, "
             "linear SVM C = 0.11, balance ratio 9.8, certainty query, retraining after 5% "
             "of the labelled records or at once after a relevant one); then `asreview "
             "simulate DATA --prior-idx I J --seed S -o sim.asreview` (default `elas_u4`: the "
             "same model, retraining after every record) from metareview's two prior "
             "records; then, for the first seeds, `metareview simulate ... "
             "--retrain-growth 0` (retraining after every record, as ASReview). **Every time "
             "is a whole process against a whole process**, taken from outside with the same "
             "clock. Each seed is one repeat (its own priors): times are median (min–max) over "
             "the seeds, and each ratio is ASReview / metareview on the same seed, then "
             "median (min–max) over seeds. Both orders are scored by the same code "
             "(asreview-insights definitions, priors excluded), label `label_included`.", ""]
    # accuracy
    rows = []
    for r in results:
        ow = [x.metrics.wss[0.95] for x in r.ours]
        tw = [x.metrics.wss[0.95] for x in r.theirs]
        ew = [x.metrics.wss[0.95] for x in r.exact]
        orr = [x.metrics.recall[0.1] for x in r.ours]
        tr = [x.metrics.recall[0.1] for x in r.theirs]
        er = [x.metrics.recall[0.1] for x in r.exact]
        ok = _within(ow, tw) and _within(orr, tr)
        rows.append([r.name, f"{r.n:,}", r.n_rel, _mean_sd(ow), _mean_sd(tw), _mean_sd(ew),
                     _mean_sd(orr), _mean_sd(tr), _mean_sd(er), _paired(ow, tw),
                     _paired(orr, tr), "yes" if ok else "**no**"])
    mean = lambda get: f"{np.mean([np.mean([get(x) for x in runs]) for runs in get_all]):.3f}"  # noqa: E731
    summary = ["**mean over datasets**", "", ""]
    for attr in ("ours", "theirs", "exact"):
        get_all = [getattr(r, attr) for r in results]
        summary.append(mean(lambda x: x.metrics.wss[0.95]))
    for attr in ("ours", "theirs", "exact"):
        get_all = [getattr(r, attr) for r in results]
        summary.append(mean(lambda x: x.metrics.recall[0.1]))
    rows.append([*summary, "", "", ""])
    n_exact = len(results[0].exact) if results else 0
    lines += ["## Accuracy: WSS@95 and recall at 10% screened", "",
              "Mean ± SD over seeds. *metareview* is the default (retraining after 5% or a "
              f"relevant record); *every record* is `--retrain-growth 0` on the first {n_exact} "
              "seeds. *Within noise* means that for both metrics the difference between the "
              "means of metareview and ASReview is no larger than the SD of ASReview's own "
              "results over the seeds. *Paired difference* is metareview minus ASReview on "
              "the same seed (same prior records), mean ± standard error over the seeds: a "
              "difference several standard errors from 0 is a real one, not seed noise.", "",
              md_table(["dataset", "records", "included", "WSS@95 metareview",
                        "WSS@95 ASReview", "WSS@95 every record", "recall@10% metareview",
                        "recall@10% ASReview", "recall@10% every record",
                        "paired difference WSS@95", "paired difference recall@10%",
                        "within noise"],
                       rows), ""]
    same = sum(ex.metrics == th.metrics for r in results
               for ex, th in zip(r.exact, r.theirs, strict=False))
    total = sum(len(r.exact) for r in results)
    lines += [f"Retraining after every record, metareview's metrics equal ASReview's exactly "
              f"(every recall, WSS, ERF, ATD and loss value) in **{same} of {total}** runs: "
              "the same model; where they differ, a near-tie in scores was broken the other way "
              "(ASReview's liblinear stops at tolerance 1e-4, metareview solves the same "
              "problem to 1e-9).", ""]
    # speed
    rows = []
    met_all = True
    for r in results:
        ratios = [th.wall_s / o.wall_s for o, th in zip(r.ours, r.theirs, strict=True)]
        ratios_exact = [th.wall_s / ex.wall_s for ex, th in zip(r.exact, r.theirs,
                                                                strict=False)]
        met = min(ratios) >= GOAL_RATIO
        met_all &= met
        rows.append([r.name, f"{r.n:,}", _mm([o.wall_s for o in r.ours]),
                     _mm([float(o.n_retrains) for o in r.ours], 0),
                     _mm([th.wall_s for th in r.theirs]), _mm(ratios, 1),
                     _mm([ex.wall_s for ex in r.exact]), _mm(ratios_exact, 1),
                     _mm(r.load, 2), "met" if met else "**not met**"])
    lines += ["## Speed: whole process against whole process", "",
              f"Goal: at least {GOAL_RATIO:g}× ASReview's whole process on every dataset "
              "(every seed's ratio). Seconds per seed, median (min–max); retrainings are "
              "metareview's default; load is the 1-minute load average around the dataset's "
              "runs.", "",
              md_table(["dataset", "records", "metareview s", "retrainings",
                        "ASReview s", "ASReview / metareview",
                        "metareview every record s", "ASReview / every record",
                        "load", f"≥ {GOAL_RATIO:g}×"], rows), "",
              f"Goal met on every dataset: **{'yes' if met_all else 'no'}**.", ""]
    if big:
        walls = [b.wall_s for b in big]
        ok = max(walls) < GOAL_BIG_S
        lines += [f"## A {BIG_N:,}-record review", "",
                  f"van de Schoot 2017 (6,189 records, 43 included) with the first "
                  f"{BIG_N - 6189:,} records of Kwok 2020 added as irrelevant: real titles and "
                  f"abstracts, {BIG_N:,} records. `metareview simulate` whole process, seeds "
                  f"{', '.join(str(b.seed) for b in big)}: **{_mm(walls, 1)} s** "
                  f"(retrainings {_mm([float(b.n_retrains) for b in big], 0)}; WSS@95 "
                  f"{_mean_sd([b.metrics.wss[0.95] for b in big])}, recall@10% "
                  f"{_mean_sd([b.metrics.recall[0.1] for b in big])}). Goal: under "
                  f"{GOAL_BIG_S:g} s: **{'met' if ok else 'not met'}**. ASReview was not run "
                  "on it (retraining after every record it takes over a quarter of an hour "
                  "per seed at this size).", ""]
    lines += ["## Data", "", CITATIONS, ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--exact-seeds", type=int, default=2,
                    help="seeds also run with --retrain-growth 0")
    ap.add_argument("--quick", action="store_true", help="two small datasets, 2 seeds")
    ap.add_argument("--asreview-python", help="Python with asreview 3 (default: "
                    "bench/asreview.venv, made if missing)")
    ap.add_argument("--no-big", action="store_true", help=f"skip the {BIG_N:,}-record review")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    t0 = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",")]
    files = sorted(DATA.glob("*.csv"), key=lambda p: p.stat().st_size)
    if args.quick:
        files, seeds = files[:2], seeds[:2]
    py = asreview_python(args.asreview_python)
    info = machine()
    info["ASReview"] = asreview_version(py)
    results = []
    for csv in files:
        print(csv.stem, flush=True)
        results.append(bench_dataset(csv, seeds, args.exact_seeds, py))
    big: list[OurRun] = []
    if not args.quick and not args.no_big:
        with tempfile.TemporaryDirectory() as tmp:
            path = big_dataset(Path(tmp))
            for seed in seeds:
                big.append(run_ours(path, seed, None))
                print(f"  {BIG_N:,} records seed {seed}: {big[-1].wall_s:.1f} s", flush=True)
    info["load average at end (1, 5, 15 min)"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    command = "make bench-screening" if not args.quick else \
        ".venv/bin/python bench/bench_screening.py --quick"
    text = write_report(results, big, info, command, seeds, time.perf_counter() - t0)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
