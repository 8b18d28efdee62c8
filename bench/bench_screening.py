"""Active-learning screening against ASReview LAB 3, measured in the same run.

For every labelled dataset in ``../shared/data/screening`` (CSV: record_id, title, abstract,
label_included, label_abstract_screening) it simulates screening with metareview's default
model and with ASReview 3.0.8's default model (``elas_u4``, ``asreview simulate``), from the
same prior records and seeds, and scores both orders with the same metric code
(``metareview.screening.simulate``, which reproduces asreview-insights 1.6.1 to the last bit:
``tests/test_screening_metrics.py``). Then it times one retraining (fit + rank) on 50,000
records for both. Writes ``bench/RESULTS-screening.md``.

    .venv/bin/python bench/bench_screening.py            # every dataset, 3 seeds (~20 min)
    .venv/bin/python bench/bench_screening.py --quick    # two small datasets, 1 seed, 10k records

ASReview runs in its own venv, ``bench/asreview.venv`` (created on first use with
``pip install asreview==3.0.8``), or in the Python given by ``--asreview-python``. The label is
``label_included`` (the final, full-text decision): every dataset has it, and it is the label
the ASReview/SYNERGY benchmarks use. Not part of CI.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from _common import machine, md_table

from metareview.screening.active import (
    CLASSIFIERS,
    Learner,
    fit_scores,
    query_order,
    record_text,
    tfidf_features,
)
from metareview.screening.simulate import Metrics, metrics, simulate

ROOT = Path(__file__).resolve().parents[1]

DATA = ROOT.parent / "shared" / "data" / "screening"
VENV = ROOT / "bench" / "asreview.venv"
ASREVIEW_VERSION = "3.0.8"
OUT = ROOT / "bench" / "RESULTS-screening.md"

CITATIONS = (
    "van de Schoot et al. 2017 (Struct Equ Modeling 24:451); Nagtegaal et al. 2019 (J Behav "
    "Public Adm 2(2)); Bannach-Brown et al. 2019 (Syst Rev 8:23); Cohen et al. 2006 (JAMIA "
    "13:206, drug class reviews); Kwok et al. 2020 (Viruses 12:107); Kitchenham et al. 2010. "
    "Data as collected in `../shared/data/screening` (see its README for licences and sources: "
    "CC-BY 4.0 / CC0 / the OHSU drug-class review licence)."
)

# ASReview's default model run through its own Python API, for the retraining timing: the same
# feature extractor and cycle (fit + rank) as `asreview simulate` uses.
ASREVIEW_TIMING = r"""
import json, sys, time
import numpy as np, pandas as pd
from asreview.learner import ActiveLearningCycle
from asreview.models.models import get_ai_config
spec = json.load(open(sys.argv[1]))
df = pd.read_csv(spec["csv"], keep_default_na=False)
y = df["label_included"].to_numpy()
cycle = ActiveLearningCycle.from_meta(get_ai_config("elas_u4")["value"])
t0 = time.perf_counter(); X = cycle.transform(df); t_feat = time.perf_counter() - t0
out = {"features_s": t_feat, "n_terms": int(X.shape[1]), "retrain_s": {}}
for m, idx in spec["labelled"].items():
    idx = np.asarray(idx)
    pool = np.setdiff1d(np.arange(len(y)), idx)
    times = []
    for _ in range(spec["repeats"]):
        t0 = time.perf_counter()
        cycle.fit(X[idx], y[idx])
        ranking = cycle.rank(X[pool])
        times.append(time.perf_counter() - t0)
    out["retrain_s"][m] = times
print(json.dumps(out))
"""


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
# One dataset
@dataclass(frozen=True)
class DatasetResult:
    name: str
    n: int
    n_rel: int
    ours: list[Metrics]
    ours_wall_s: list[float]
    ours_loop_s: list[float]
    features_s: float
    theirs: list[AsreviewRun]
    seeds: list[int]
    batch: int
    others: dict[str, list[Metrics]]  # the other classifiers, same seeds and priors
    others_loop_s: dict[str, list[float]]
    ours_screened: list[np.ndarray]  # rows screened after the priors, in order


def load(csv: Path) -> tuple[list[str], np.ndarray]:
    df = pd.read_csv(csv, keep_default_na=False, dtype=str)
    texts = [record_text(t, a) for t, a in zip(df["title"], df["abstract"], strict=True)]
    return texts, df["label_included"].astype(int).to_numpy()


def bench_dataset(csv: Path, seeds: list[int], batch: int, py: Path | None,
                  classifier: str, others: list[str]) -> DatasetResult:
    texts, y = load(csv)
    t0 = time.perf_counter()
    feats = tfidf_features(texts)
    t_feat = time.perf_counter() - t0
    ours, walls, loops, theirs, screened = [], [], [], [], []
    for seed in seeds:
        res = simulate(feats, y, seeds=(seed,), classifier=classifier, batch_size=batch)
        run = res.runs[0]
        ours.append(run.metrics)
        screened.append(run.order[:run.n_screened])
        loops.append(run.seconds)
        walls.append(run.seconds + t_feat)
        if py is not None:
            theirs.append(run_asreview(py, csv, y, list(run.prior), seed, batch))
        a = theirs[-1] if theirs else None
        print(f"  seed {seed}: ours WSS@95 {run.metrics.wss[0.95]:.3f} R@10 "
              f"{run.metrics.recall[0.1]:.3f} ({run.seconds:.1f} s)"
              + (f" | ASReview WSS@95 {a.metrics.wss[0.95]:.3f} R@10 "
                 f"{a.metrics.recall[0.1]:.3f} ({a.wall_s:.1f} s)" if a else ""), flush=True)
    other_m: dict[str, list[Metrics]] = {}
    other_t: dict[str, list[float]] = {}
    for clf in others:
        res = simulate(feats, y, seeds=seeds, classifier=clf, batch_size=batch)
        other_m[clf] = [r.metrics for r in res.runs]
        other_t[clf] = [r.seconds for r in res.runs]
        print(f"  {clf}: WSS@95 {np.mean([m.wss[0.95] for m in other_m[clf]]):.3f} R@10 "
              f"{np.mean([m.recall[0.1] for m in other_m[clf]]):.3f} "
              f"({np.mean(other_t[clf]):.1f} s per seed)", flush=True)
    return DatasetResult(csv.stem, len(y), int(y.sum()), ours, walls, loops, t_feat, theirs,
                         seeds, batch, other_m, other_t, screened)


# ---------------------------------------------------------------------------------------------
# Retraining on 50,000 records
def big_corpus(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` records drawn with replacement from all datasets (titles, abstracts, labels)."""
    frames = [pd.read_csv(f, keep_default_na=False, dtype=str) for f in sorted(DATA.glob("*.csv"))]
    df = pd.concat(frames, ignore_index=True)
    idx = np.random.default_rng(seed).choice(len(df), n, replace=True)
    return df.iloc[idx][["title", "abstract", "label_included"]].reset_index(drop=True)


def labelled_sets(y: np.ndarray, sizes: list[int], seed: int = 1) -> dict[int, np.ndarray]:
    """Random labelled subsets (both classes present) of each size."""
    rng = np.random.default_rng(seed)
    out = {}
    for m in sizes:
        while True:
            idx = np.sort(rng.choice(len(y), m, replace=False))
            if 0 < y[idx].sum() < m:
                out[m] = idx
                break
    return out


def bench_retrain(n: int, sizes: list[int], repeats: int, py: Path | None) -> dict:
    df = big_corpus(n)
    y = df["label_included"].astype(int).to_numpy()
    texts = [record_text(t, a) for t, a in zip(df["title"], df["abstract"], strict=True)]
    t0 = time.perf_counter()
    feats = tfidf_features(texts)
    t_feat = time.perf_counter() - t0
    sets = labelled_sets(y, sizes)
    ours: dict[str, dict[int, list[float]]] = {}
    rng = np.random.default_rng(0)
    for clf in ("svm", "logistic", "nb"):
        learner = Learner(classifier=clf)
        ours[clf] = {}
        for m, idx in sets.items():
            pool = np.ones(n, dtype=bool)
            pool[idx] = False
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                scores = fit_scores(feats.matrix, idx, y[idx], learner, 0)
                query_order(scores[pool], "certainty", rng)
                times.append(time.perf_counter() - t0)
            ours[clf][m] = times
        print(f"  ours {clf}: " + ", ".join(f"{m}: {statistics.median(t):.3f} s"
                                           for m, t in ours[clf].items()), flush=True)
    theirs = None
    if py is not None:
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "big.csv"
            df.to_csv(csv, index=False)
            spec = Path(tmp) / "spec.json"
            spec.write_text(json.dumps({"csv": str(csv), "repeats": repeats,
                                        "labelled": {str(m): i.tolist() for m, i in sets.items()}}))
            script = Path(tmp) / "timing.py"
            script.write_text(ASREVIEW_TIMING)
            done = subprocess.run([str(py), str(script), str(spec)], capture_output=True,
                                  text=True, check=True)
            theirs = json.loads(done.stdout.strip().splitlines()[-1])
        print("  ASReview elas_u4: " + ", ".join(
            f"{m}: {statistics.median(t):.3f} s" for m, t in theirs["retrain_s"].items()),
            flush=True)
    return {"n": n, "features_s": t_feat, "n_terms": feats.n_terms, "nnz": feats.matrix.nnz,
            "ours": ours, "theirs": theirs, "repeats": repeats, "sizes": sizes}


# ---------------------------------------------------------------------------------------------
# Report
def _mr(values: list[float], digits: int = 3) -> str:
    """``mean (min–max)``."""
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def write_report(results: list[DatasetResult], retrain: dict | None, info: dict[str, str],
                 command: str, classifier: str, seconds: float) -> str:
    lines = ["# Benchmarks: active-learning screening against ASReview (issue 5)", "",
             f"Written by `bench/bench_screening.py`; reproduce with `{command}` "
             f"(total {seconds / 60:.1f} min). ASReview runs in its own venv "
             "(`bench/asreview.venv` unless `--asreview-python` names another).", "",
             "## Machine", "", md_table(["", ""], list(info.items())), ""]
    lr = Learner(classifier=classifier)
    seeds = results[0].seeds if results else []
    batch = results[0].batch if results else 1
    lines += [
        "## Simulations", "",
        f"Each dataset is screened once per seed ({', '.join(map(str, seeds))}) from the same "
        "prior knowledge for both tools: one relevant and one irrelevant record drawn by "
        "metareview's seed and passed to ASReview with `--prior-idx`; ASReview gets `--seed` "
        f"too. Both retrain after every {batch} record(s) and stop at the last relevant "
        "record. Both orders are scored by the same code (asreview-insights definitions, "
        "priors excluded). Label: `label_included` (final inclusion).", "",
        f"- metareview: `simulate(..., classifier=\"{classifier}\")` = TF-IDF 1–2-grams "
        f"(sublinear tf, max_df 0.95), {lr.classifier} with strength {lr.strength:g}, "
        f"certainty (max) query, balance ratio {lr.ratio:g}.",
        "- ASReview: `asreview simulate DATA --prior-idx I J --seed S --n-query "
        f"{batch} -o sim.asreview` (default AI `elas_u4`: TF-IDF 1–2-grams, linear SVM "
        "C = 0.11, max query, balanced sample weights ratio 9.8).", "",
        "WSS@95 and recall at 10% screened: mean (min–max) over seeds. Higher is better; "
        "loss: lower is better.", ""]
    rows = []
    have_theirs = any(r.theirs for r in results)
    for r in results:
        ours_w = [m.wss[0.95] for m in r.ours]
        ours_r = [m.recall[0.1] for m in r.ours]
        ours_l = [m.loss for m in r.ours]
        th_w = [a.metrics.wss[0.95] for a in r.theirs]
        th_r = [a.metrics.recall[0.1] for a in r.theirs]
        th_l = [a.metrics.loss for a in r.theirs]
        rows.append([r.name, f"{r.n:,}", r.n_rel, _mr(ours_w), _mr(th_w), _mr(ours_r),
                     _mr(th_r), _mr(ours_l), _mr(th_l)])
    if results:
        def avg(get, theirs: bool = False) -> str:
            if theirs and not have_theirs:
                return "–"
            per = [np.mean([get(a.metrics) for a in r.theirs] if theirs else
                           [get(m) for m in r.ours]) for r in results]
            return f"{np.mean(per):.3f}"

        def wss95(m: Metrics) -> float:
            return m.wss[0.95]

        def rec10(m: Metrics) -> float:
            return m.recall[0.1]

        def lossv(m: Metrics) -> float:
            return m.loss

        rows.append(["**mean over datasets**", "", "", avg(wss95), avg(wss95, True),
                     avg(rec10), avg(rec10, True), avg(lossv), avg(lossv, True)])
    lines += [md_table(["dataset", "records", "included", "WSS@95 metareview",
                        "WSS@95 ASReview", "recall@10% metareview", "recall@10% ASReview",
                        "loss metareview", "loss ASReview"], rows), ""]
    if have_theirs:
        same, diverge, n_runs = 0, [], 0
        for r in results:
            for mine, a in zip(r.ours_screened, r.theirs, strict=True):
                n_runs += 1
                k = min(len(mine), len(a.screened))
                diff = np.flatnonzero(mine[:k] != a.screened[:k])
                if len(diff) == 0 and len(mine) == len(a.screened):
                    same += 1
                else:
                    first = int(diff[0]) + 1 if len(diff) else k + 1
                    diverge.append(f"{r.name} seed {a.seed} at record {first:,} of "
                                   f"{len(mine):,}")
        dw = [np.mean([m.wss[0.95] for m in r.ours])
              - np.mean([a.metrics.wss[0.95] for a in r.theirs]) for r in results]
        lines += [f"The two tools screened the records in exactly the same order (from the "
                  f"priors to the last relevant record) in **{same} of {n_runs} runs**"
                  + (f"; the others first differ at: {'; '.join(diverge)}." if diverge else
                     ".")
                  + " metareview reimplements ASReview's default model (same features, "
                  "classifier, weights and query), so equal orders are the expected result; "
                  f"the WSS@95 difference (metareview − ASReview) per dataset ranges "
                  f"{min(dw):+.3f} to {max(dw):+.3f}.", ""]
    trows = []
    for r in results:
        ours_loop = float(np.mean(r.ours_loop_s))
        th_wall = float(np.mean([a.wall_s for a in r.theirs])) if r.theirs else float("nan")
        th_loop = float(np.mean([a.loop_s for a in r.theirs])) if r.theirs else float("nan")
        trows.append([r.name, f"{r.features_s:.2f}", f"{ours_loop:.2f}",
                      f"{np.mean(r.ours_wall_s):.2f}", f"{th_loop:.2f}", f"{th_wall:.2f}",
                      f"{th_wall / np.mean(r.ours_wall_s):.2g}×" if r.theirs else "–"])
    lines += ["Wall time per seed, seconds (mean over seeds). metareview: TF-IDF once, then the "
              "screening loop; ASReview: the whole `asreview simulate` process (start-up, "
              "reading, TF-IDF, loop, writing the project) and, from its own time stamps, the "
              "loop after the priors.", "",
              md_table(["dataset", "metareview TF-IDF", "metareview loop",
                        "metareview total", "ASReview loop", "ASReview process",
                        "ASReview / metareview"], trows), ""]
    if results and results[0].others:
        names = [classifier, *results[0].others]
        head = ["dataset"] + [f"WSS@95 {c}" for c in names] + [f"recall@10% {c}" for c in names]
        head += [f"loop s {c}" for c in names]
        rows = []
        for r in results:
            runs = {classifier: r.ours, **r.others}
            loops = {classifier: r.ours_loop_s, **r.others_loop_s}
            rows.append([r.name] + [_mr([m.wss[0.95] for m in runs[c]]) for c in names]
                        + [_mr([m.recall[0.1] for m in runs[c]]) for c in names]
                        + [f"{np.mean(loops[c]):.2f}" for c in names])
        rows.append(["**mean over datasets**"]
                    + [f"{np.mean([np.mean([m.wss[0.95] for m in ({classifier: r.ours, **r.others})[c]]) for r in results]):.3f}" for c in names]  # noqa: E501
                    + [f"{np.mean([np.mean([m.recall[0.1] for m in ({classifier: r.ours, **r.others})[c]]) for r in results]):.3f}" for c in names]  # noqa: E501
                    + ["" for _ in names])
        def mean_of(c: str, get) -> float:
            return float(np.mean([np.mean([get(m) for m in ({classifier: r.ours,
                                                             **r.others})[c]])
                                  for r in results]))

        w = {c: mean_of(c, lambda m: m.wss[0.95]) for c in names}
        rc = {c: mean_of(c, lambda m: m.recall[0.1]) for c in names}
        bw, br = max(w, key=w.get), max(rc, key=rc.get)
        lines += ["### metareview's classifiers", "",
                  "The same seeds and priors with each classifier at its default settings "
                  "(`balance=True`: ratio 9.8 for svm, 1 for logistic, 1.2 for nb; strength "
                  "C = 0.11 svm, C = 1 logistic, alpha = 3.822 nb); certainty query. This is "
                  f"what the default ({classifier}) was chosen on: over the datasets the best "
                  f"mean WSS@95 is {bw}'s ({w[bw]:.3f}; {classifier} {w[classifier]:.3f}) and "
                  f"the best mean recall@10% {br}'s ({rc[br]:.3f}; {classifier} "
                  f"{rc[classifier]:.3f}).", "", md_table(head, rows), ""]
    if retrain is not None:
        n = retrain["n"]
        lines += [f"## One retraining on {n:,} records", "",
                  f"{n:,} records drawn with replacement from all the datasets above (titles, "
                  f"abstracts, `label_included`); TF-IDF {retrain['n_terms']:,} terms, "
                  f"{retrain['nnz']:,} non-zeros, built in {retrain['features_s']:.1f} s "
                  "(once per dataset). A retraining = fit the classifier on the labelled records "
                  "+ score and rank all unlabelled records. Same labelled sets for every model; "
                  f"median of {retrain['repeats']} runs.", ""]
        head = ["model"] + [f"{m:,} labelled" for m in retrain["sizes"]]
        rows = []
        for clf, per in retrain["ours"].items():
            rows.append([f"metareview {clf}"] + [f"{statistics.median(per[m]):.3f} s"
                                                  for m in retrain["sizes"]])
        if retrain["theirs"]:
            th = retrain["theirs"]["retrain_s"]
            rows.append(["ASReview elas_u4 (svm)"] + [f"{statistics.median(th[str(m)]):.3f} s"
                                                      for m in retrain["sizes"]])
            ours_svm = retrain["ours"]["svm"]
            rows.append(["ASReview / metareview svm"] + [
                f"{statistics.median(th[str(m)]) / statistics.median(ours_svm[m]):.2g}×"
                for m in retrain["sizes"]])
            lines += [f"ASReview's TF-IDF on the same records: "
                      f"{retrain['theirs']['features_s']:.1f} s, "
                      f"{retrain['theirs']['n_terms']:,} terms.", ""]
        lines += [md_table(head, rows), ""]
    lines += ["## Data", "", CITATIONS, ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="two small datasets, one seed, 10,000 records for the retraining")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per dataset (default 3)")
    ap.add_argument("--batch-size", type=int, default=1, help="records between retrainings")
    ap.add_argument("--classifier", default="svm", help="metareview classifier (svm/logistic/nb)")
    ap.add_argument("--asreview-python", default=None,
                    help="Python with asreview 3 (default: bench/asreview.venv, made if missing)")
    ap.add_argument("--no-asreview", action="store_true", help="metareview only")
    ap.add_argument("--no-compare", action="store_true",
                    help="skip metareview's other classifiers")
    ap.add_argument("--datasets", default=None, help="comma-separated dataset names")
    ap.add_argument("--retrain-records", type=int, default=None,
                    help="records for the retraining timing (default 50,000; 10,000 if --quick)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    t_start = time.perf_counter()

    csvs = sorted(DATA.glob("*.csv"), key=lambda p: p.stat().st_size)
    if not csvs:
        raise SystemExit(f"no datasets in {DATA}")
    if args.datasets:
        want = set(args.datasets.split(","))
        csvs = [c for c in csvs if c.stem in want]
    elif args.quick:
        csvs = csvs[:2]
    n_seeds = args.seeds or (1 if args.quick else 3)
    seeds = list(range(n_seeds))
    py = None if args.no_asreview else asreview_python(args.asreview_python)
    info = machine()
    for key in ("pymare", "statsmodels", "R / metafor"):
        info.pop(key, None)
    import sklearn
    info["scikit-learn"] = sklearn.__version__
    if py is not None:
        info["ASReview"] = asreview_version(py)

    results = []
    for csv in csvs:
        print(f"{csv.stem}", flush=True)
        others = [] if args.no_compare else [c for c in CLASSIFIERS if c != args.classifier]
        results.append(bench_dataset(csv, seeds, args.batch_size, py, args.classifier, others))
    n_big = args.retrain_records or (10_000 if args.quick else 50_000)
    sizes = [500, 2000] if args.quick else [500, 2000, 10_000]
    print(f"retraining on {n_big:,} records", flush=True)
    retrain = bench_retrain(n_big, sizes, 1 if args.quick else 3, py)

    argv, skip = [], False
    for a in sys.argv[1:]:
        if skip or a.startswith("--out"):
            skip = a == "--out"
            continue
        argv.append(a)
    command = " ".join([".venv/bin/python bench/bench_screening.py", *argv])
    text = write_report(results, retrain, info, command.strip(), args.classifier,
                        time.perf_counter() - t_start)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
