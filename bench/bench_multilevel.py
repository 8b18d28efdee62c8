"""Multilevel models (rma.mv) against metafor 3.8: batch speed, convergence, one big fit.

(a) Speed, whole process against whole process: N simulated three-level datasets in one long
    CSV; ``metareview batch --random "~ 1 | study/es"`` against an Rscript process that reads the
    same CSV and fits ``rma.mv(yi, vi, random = ~ 1 | study/es)`` per dataset (REML). Fits per
    second each side, their ratio, and the largest differences of the estimates where both
    converged.
(b) Convergence on 10,000 datasets of the same generator (another seed) with some very small or
    zero variance components and some with two to four clusters: metareview fits with
    ``converged == False``; metafor fits that error or warn (counted apart); datasets where one
    side's REML log-likelihood is lower than the other's by more than 1e-6 (a worse optimum).
    R's part runs under a timeout; what it fitted by then is compared.
(c) One big fit in a child process: k = 100,000 estimates in 20,000 clusters (three-level), and
    the same with a ``vcalc`` sampling covariance (rho = 0.5 within clusters); wall time and
    peak RSS (``ru_maxrss``).

Prints a table per part and writes bench/RESULTS-multilevel.md. Needs Rscript with metafor for
(a) and (b); not CI (about 17 minutes, mostly R).

    .venv/bin/python bench/bench_multilevel.py [--quick] [--speed-n N] [--conv-n N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import Timing, have_metafor, machine, md_table, ratio

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "RESULTS-multilevel.md"
RANDOM = "~ 1 | study/es"
SEED_SPEED, SEED_CONV, SEED_BIG = 20261206, 20261207, 20261208

# ---------------------------------------------------------------------------------------------
# R scripts: both read the CSV written here and print/write one line per dataset.
R_SPEED = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1])
parts <- split(dat, dat$g)
n <- length(parts)
est <- se <- s1 <- s2 <- ll <- rep(NA_real_, n)
for (i in seq_len(n)) {
  sub <- parts[[i]]
  res <- tryCatch(rma.mv(yi, vi, random = ~ 1 | study/es, data = sub),
                  error = function(e) NULL)
  if (!is.null(res)) {
    est[i] <- res$b[1]; se[i] <- res$se; s1[i] <- res$sigma2[1]; s2[i] <- res$sigma2[2]
    ll[i] <- logLik(res)
  }
}
write.csv(data.frame(g = names(parts), estimate = est, se = se, sigma2.1 = s1, sigma2.2 = s2,
                     loglik = ll), args[2], row.names = FALSE)
"""

# One tab-separated line per dataset, flushed, so a run stopped by the timeout leaves what it
# fitted: g, "ok"/"error", estimate, sigma2.1, sigma2.2, logLik, the messages (" || ").
R_CONV = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1])
parts <- split(dat, dat$g)
con <- file(args[2], "w")
clean <- function(x) gsub("[\t\r\n]+", " ", x)
for (i in seq_along(parts)) {
  sub <- parts[[i]]
  msgs <- character(0)
  res <- tryCatch(withCallingHandlers(
      rma.mv(yi, vi, random = ~ 1 | study/es, data = sub),
      warning = function(w) {
        msgs <<- c(msgs, paste("warning:", conditionMessage(w)))
        invokeRestart("muffleWarning")
      }),
    error = function(e) {
      msgs <<- c(msgs, paste("error:", conditionMessage(e)))
      NULL
    })
  if (is.null(res)) {
    vals <- rep(NA_real_, 4); code <- "error"
  } else {
    vals <- c(res$b[1], res$sigma2[1], res$sigma2[2], logLik(res)); code <- "ok"
  }
  cat(names(parts)[i], code, sprintf("%.17g", vals), clean(paste(msgs, collapse = " || ")),
      sep = "\t", file = con)
  cat("\n", file = con)
  flush(con)
}
close(con)
"""

# The big fit, in a child process so ru_maxrss is its own peak.
BIG_CHILD = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
from metareview import from_arrays, vcalc
from metareview.models.multilevel import meta_analysis_mv

k, J, case, seed = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rng = np.random.default_rng(seed)
# every cluster has at least one estimate; the rest fall at random
study = np.sort(np.concatenate([np.arange(J), rng.integers(0, J, k - J)]))
es = np.arange(k)
vi = rng.uniform(0.01, 0.1, k)
yi = (0.2 + rng.normal(0, np.sqrt(0.1), J)[study] + rng.normal(0, np.sqrt(0.05), k)
      + rng.normal(0, 1, k) * np.sqrt(vi))
effects = from_arrays(yi, vi, data=pd.DataFrame({"study": study, "es": es}))
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
V = vcalc(vi, cluster=study, obs=es, rho=0.5) if case == "vcalc" else None
t_v = time.perf_counter() - t0
fit = meta_analysis_mv(effects, "~ 1 | study/es", V=V)
t = time.perf_counter() - t0
print(json.dumps({"seconds": t, "vcalc_seconds": t_v, "rss_before_kib": rss0,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "k": fit.k, "clusters": int(len(np.unique(study))),
                  "sizes": [int(np.bincount(study).min()), int(np.bincount(study).max())],
                  "sigma2": fit.sigma2.tolist(), "estimate": float(fit.coef[0]),
                  "se": float(fit.coef_se[0]), "converged": fit.converged,
                  "iterations": fit.iterations}))
"""


# ---------------------------------------------------------------------------------------------
def simulate(n: int, seed: int, hard: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` three-level datasets in one long table (columns g, study, es, yi, vi).

    Each dataset has 5-15 clusters of 1-5 estimates, sigma2 ~ U(0, 0.2) (clusters) and
    U(0, 0.1) (estimates), vi ~ U(0.01, 0.1) and mean 0.2. With ``hard``, 10% of the datasets
    have both components shrunk by 1e-4, 5% have both zero, 5% have one zero and 15% have only
    2-4 clusters. Returns the table and each dataset's kind.
    """
    rng = np.random.default_rng(seed)
    n_cl = rng.integers(5, 16, n)
    s1, s2 = rng.uniform(0, 0.2, n), rng.uniform(0, 0.1, n)
    kind = np.full(n, "standard", dtype=object)
    if hard:
        u = rng.uniform(size=n)
        kind[u < 0.10] = "tiny sigma2 (x1e-4)"
        kind[(u >= 0.10) & (u < 0.15)] = "both sigma2 zero"
        kind[(u >= 0.15) & (u < 0.20)] = "one sigma2 zero"
        kind[(u >= 0.20) & (u < 0.35)] = "2-4 clusters"
        s1 = np.where(kind == "tiny sigma2 (x1e-4)", s1 * 1e-4, s1)
        s2 = np.where(kind == "tiny sigma2 (x1e-4)", s2 * 1e-4, s2)
        s1 = np.where(kind == "both sigma2 zero", 0.0, s1)
        s2 = np.where(kind == "both sigma2 zero", 0.0, s2)
        which = rng.integers(0, 2, n)
        s1 = np.where((kind == "one sigma2 zero") & (which == 0), 0.0, s1)
        s2 = np.where((kind == "one sigma2 zero") & (which == 1), 0.0, s2)
        n_cl = np.where(kind == "2-4 clusters", rng.integers(2, 5, n), n_cl)
    n_cl_tot = int(n_cl.sum())
    per = rng.integers(1, 6, n_cl_tot)
    g_of_cl = np.repeat(np.arange(n), n_cl)
    cl_in_g = np.arange(n_cl_tot) - np.repeat(np.cumsum(n_cl) - n_cl, n_cl)
    g = np.repeat(g_of_cl, per)
    cl = np.repeat(np.arange(n_cl_tot), per)
    k_g = np.bincount(g, minlength=n)
    es = np.arange(len(g)) - np.repeat(np.cumsum(k_g) - k_g, k_g) + 1
    vi = rng.uniform(0.01, 0.1, len(g))
    yi = (0.2 + rng.normal(0, 1, n_cl_tot)[cl] * np.sqrt(s1[g])
          + rng.normal(0, 1, len(g)) * np.sqrt(s2[g]) + rng.normal(0, 1, len(g)) * np.sqrt(vi))
    table = pd.DataFrame({"g": g, "study": np.repeat(cl_in_g + 1, per), "es": es, "yi": yi,
                          "vi": vi})
    return table, kind


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """CSV with 17 significant digits, so R reads the same doubles."""
    table.to_csv(path, index=False, float_format="%.17g")
    return path


def run_timed(cmd: list[str], timeout: float | None = None) -> float:
    """Wall seconds of one process; raises with its stderr when it fails."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    t = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return t


def batch_cmd(inp: Path, out: Path) -> list[str]:
    return [str(BIN / "metareview"), "batch", str(inp), "--group", "g", "--random", RANDOM,
            "--out", str(out), "--no-progress"]


def rscript_cmd(code: str, tmp: Path, *args: Path) -> list[str]:
    script = tmp / f"bench_{abs(hash(code)) % 10**8}.R"
    script.write_text(code)
    return ["Rscript", str(script), *map(str, args)]


# ---------------------------------------------------------------------------------------------
def case_speed(args: argparse.Namespace, tmp: Path) -> list[str]:
    n = args.speed_n
    table, _ = simulate(n, SEED_SPEED)
    inp = write_table(table, tmp / "speed.csv")
    ours, theirs = tmp / "speed_mr.csv", tmp / "speed_r.csv"
    subprocess.run(batch_cmd(inp, ours), check=True, capture_output=True)  # warm-up (pyc, cache)
    t_mr = Timing(tuple(run_timed(batch_cmd(inp, ours)) for _ in range(args.repeats)))
    print(f"metareview batch: {t_mr.fmt()}", flush=True)
    lines = [f"## (a) Speed: {n:,} three-level datasets, whole process against whole process",
             "",
             f"Input: one CSV of {n:,} datasets, {len(table):,} rows (5-15 clusters of 1-5 "
             "estimates each; sigma2 ~ U(0, 0.2) and U(0, 0.1), vi ~ U(0.01, 0.1), mean 0.2; "
             f"seed {SEED_SPEED}). Commands, each timed as a whole process (start-up, reading, "
             "fitting, writing):", "", "```",
             f'metareview batch speed.csv --group g --random "{RANDOM}" --out x.csv '
             "--no-progress",
             "Rscript speed.R speed.csv r.csv   # read.csv, split by g, rma.mv(yi, vi, "
             "random = ~ 1 | study/es, data = sub) per dataset (REML), write.csv",
             "```", ""]
    if not have_metafor():
        lines += [f"metareview: {t_mr.fmt()} ({n / t_mr.median:,.0f} fits/s). "
                  "Rscript with metafor not found: no comparison."]
        return lines
    t_r = run_timed(rscript_cmd(R_SPEED, tmp, inp, theirs))
    print(f"Rscript: {t_r:.1f} s", flush=True)
    rows = [["metareview batch", t_mr.fmt(), f"{n / t_mr.median:,.0f}"],
            ["Rscript + metafor rma.mv", f"{t_r:.4g} s (n=1)", f"{n / t_r:,.1f}"]]
    mr = pd.read_csv(ours)
    rr = pd.read_csv(theirs)
    both = mr.merge(rr, on="g", suffixes=("", "_r"))
    ok = both.converged.astype(bool) & both.estimate_r.notna()
    diffs = []
    for col in ("estimate", "se", "sigma2.1", "sigma2.2", "loglik"):
        d = (both.loc[ok, col] - both.loc[ok, col + "_r"]).abs()
        diffs.append([col, f"{d.max():.2e}", f"{d.quantile(0.99):.2e}", f"{d.median():.2e}"])
    # Where the two differ visibly, which optimum is higher (REML logLik)?
    gap = both.loglik - both.loglik_r
    off = ok & (((both.estimate - both.estimate_r).abs() > 1e-5) | (gap.abs() > 1e-6))
    higher = int((off & (gap > 1e-6)).sum())
    lower = int((off & (gap < -1e-6)).sum())
    lines += [md_table(["", "wall time", "fits per second"], rows), "",
              f"**Ratio (R time / metareview time, medians): {ratio(t_r, t_mr.median)}** "
              "(goal ≥ 100×).", "",
              f"Agreement on the {int(ok.sum()):,} datasets both fitted (metareview "
              f"converged: {int(both.converged.astype(bool).sum()):,} of {n:,}; metafor "
              f"without error: {int(both.estimate_r.notna().sum()):,}), absolute differences:",
              "", md_table(["quantity", "max", "99th percentile", "median"], diffs), "",
              f"Datasets where the estimates differ by more than 1e-5 or the log-likelihoods by "
              f"more than 1e-6: {int(off.sum())}; metareview's REML log-likelihood is the higher "
              f"in {higher}, metafor's in {lower} (largest gaps: "
              f"{gap[off & (gap > 0)].max() if higher else 0:.3g} and "
              f"{-gap[off & (gap < 0)].min() if lower else 0:.3g}). metafor stopped with an "
              "error on "
              f"{int(both.estimate_r.isna().sum())} datasets (where metareview's sigma2 are: "
              + ", ".join(sorted({f"{a:.3g}/{b:.3g}" for a, b in zip(
                  both.loc[both.estimate_r.isna(), "sigma2.1"],
                  both.loc[both.estimate_r.isna(), "sigma2.2"], strict=True)})) + ").", ""]
    return lines


def _message_kind(msg: str) -> str:
    """Numbers out, so one message counts as one kind."""
    return re.sub(r"[-+]?\d[\d.e+-]*", "#", msg).strip()


def case_convergence(args: argparse.Namespace, tmp: Path) -> list[str]:
    n = args.conv_n
    table, kind = simulate(n, SEED_CONV, hard=True)
    inp = write_table(table, tmp / "conv.csv")
    ours = tmp / "conv_mr.csv"
    t_mr = run_timed(batch_cmd(inp, ours))
    mr = pd.read_csv(ours)
    mr["kind"] = kind[mr.g.to_numpy()]
    lines = [f"## (b) Convergence: {n:,} random three-level datasets", "",
             f"Same generator (seed {SEED_CONV}) with harder cases mixed in: 10% with both "
             "sigma2 multiplied by 1e-4, 5% with both zero, 5% with one zero, 15% with only 2-4 "
             "clusters. Both sides fit REML with their defaults (metafor: nlminb, its default "
             "control). metareview: one `metareview batch` process "
             f"({t_mr:.1f} s).", ""]
    conv = mr.converged.astype(bool)
    kinds = list(dict.fromkeys(["standard", *sorted(set(kind) - {"standard"})]))
    rows = [[kd, int((mr.kind == kd).sum()), int((~conv & (mr.kind == kd)).sum())]
            for kd in kinds]
    rows.append(["all", n, int((~conv).sum())])
    if not have_metafor():
        lines += [md_table(["datasets", "n", "metareview not converged"], rows), "",
                  "Rscript with metafor not found: no comparison."]
        return lines
    out = tmp / "conv_r.tsv"
    timed_out = False
    t0 = time.perf_counter()
    try:
        subprocess.run(rscript_cmd(R_CONV, tmp, inp, out), capture_output=True, text=True,
                       check=True, timeout=args.r_timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    t_r = time.perf_counter() - t0
    rr = pd.read_csv(out, sep="\t", header=None, quoting=3, keep_default_na=False,
                     names=["g", "code", "estimate", "s1", "s2", "ll", "msg"],
                     dtype={"msg": str, "code": str})
    rr = rr[rr.code.isin(["ok", "error"])]  # a half-written last line after the timeout
    for c in ("estimate", "s1", "s2", "ll"):
        rr[c] = pd.to_numeric(rr[c], errors="coerce")
    m = len(rr)
    print(f"metafor fitted {m:,} of {n:,} in {t_r:.0f} s" + (" (timeout)" if timed_out else ""),
          flush=True)
    both = mr.merge(rr, on="g", suffixes=("", "_r"))
    msgs = both.msg.fillna("").str.split(r" \|\| ")
    is_err = both.code == "error"
    err_conv = is_err & both.msg.str.contains("converge", case=False)
    warn = msgs.map(lambda ms: [x for x in ms if x.startswith("warning:")])
    warn_conv = warn.map(lambda ws: any("converge" in w.lower() for w in ws))
    warn_any = warn.map(bool)
    rows = []
    for kd in [*kinds, "all"]:
        sel = (both.kind == kd) if kd != "all" else np.ones(len(both), bool)
        c = both.converged.astype(bool)
        rows.append([kd, int(sel.sum()), int((~c & sel).sum()), int((err_conv & sel).sum()),
                     int((is_err & ~err_conv & sel).sum()), int((warn_conv & sel).sum()),
                     int((warn_any & ~warn_conv & sel).sum())])
    ok = both.converged.astype(bool) & (both.code == "ok") & both.ll.notna()
    gap = both.loglik - both.ll
    worse, better = ok & (gap < -1e-6), ok & (gap > 1e-6)
    counts = Counter(_message_kind(x) for ms in msgs for x in ms if x)
    head = (f"metafor ran on {m:,} of the {n:,} datasets in {t_r:.0f} s ("
            f"{int(is_err.sum()):,} stopped with an error)"
            + (f" before the {args.r_timeout:.0f} s timeout stopped it; the comparison below "
               f"covers those {m:,}" if timed_out else "") + ".")
    lines += [head, "",
              md_table(["datasets", "n", "metareview converged == False",
                        "metafor error: no convergence", "metafor error: other",
                        "metafor warning: convergence", "metafor warning: other (only)"], rows),
              "",
              "REML log-likelihood at the optimum, where both fitted "
              f"({int(ok.sum()):,} datasets): metareview lower than metafor by more than 1e-6 "
              f"(metareview at a worse optimum) in **{int(worse.sum())}**"
              + (f" (largest gap {-gap[worse].min():.3g})" if worse.any() else "")
              + f"; metafor lower by more than 1e-6 in **{int(better.sum())}**"
              + (f" (largest gap {gap[better].max():.3g}, median {gap[better].median():.3g})"
                 if better.any() else "") + ".", ""]
    if counts:
        lines += ["metafor's messages (numbers replaced by #):", "",
                  md_table(["message", "datasets"],
                           [[f"`{k_[:150]}`", v] for k_, v in counts.most_common(12)]), ""]
    for higher, whose in ((better, "metareview's"), (worse, "metafor's")):
        if higher.any():
            ex = both[higher].sort_values("g").head(5)
            lines += [f"Datasets where {whose} optimum is higher (first five): "
                      + ", ".join(f"g={int(r.g)} ({r.kind}: metareview sigma2 "
                                  f"{r['sigma2.1']:.3g}/{r['sigma2.2']:.3g}, metafor "
                                  f"{r.s1:.3g}/{r.s2:.3g})" for _, r in ex.iterrows()), ""]
    return lines


def case_big(args: argparse.Namespace) -> list[str]:
    k, J = args.big_k, args.big_clusters
    rows = []
    for case in ("diag", "vcalc"):
        done = subprocess.run([sys.executable, "-c", BIG_CHILD, str(k), str(J), case,
                               str(SEED_BIG)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"big fit ({case}) failed:\n{done.stderr[-3000:]}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"big fit {case}: {r}", flush=True)
        what = ("V = diag(vi)" if case == "diag" else
                f"V = vcalc(vi, cluster=study, obs=es, rho=0.5) ({r['vcalc_seconds']:.2f} s of it)")
        rows.append([what, f"{r['seconds']:.2f} s", f"{r['peak_rss_kib'] / 1024:,.0f} MiB",
                     f"{r['rss_before_kib'] / 1024:,.0f} MiB",
                     ", ".join(f"{s:.4g}" for s in r["sigma2"]),
                     f"{r['estimate']:.4f} ({r['se']:.4f})",
                     f"{r['converged']} ({r['iterations']})"])
    return [f"## (c) One big fit: k = {k:,} estimates in {J:,} clusters", "",
            f"`meta_analysis_mv(es, \"{RANDOM}\", V=...)` (REML) in a child Python process "
            f"(data simulated in it, seed {SEED_BIG}: cluster sizes 1 and up, sigma2 = 0.1 "
            "and 0.05, vi ~ U(0.01, 0.1)); wall time of the fit (with vcalc where used) and the "
            "process's peak RSS (`ru_maxrss`; before the fit = imports and data).", "",
            md_table(["sampling covariance", "wall time", "peak RSS", "RSS before the fit",
                      "sigma2", "estimate (se)", "converged (iterations)"], rows), ""]


# ---------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="small N everywhere (minutes, not half an hour)")
    ap.add_argument("--speed-n", type=int, default=None, help="datasets in (a) (10,000)")
    ap.add_argument("--conv-n", type=int, default=None, help="datasets in (b) (10,000)")
    ap.add_argument("--big-k", type=int, default=None, help="estimates in (c) (100,000)")
    ap.add_argument("--repeats", type=int, default=3, help="timed metareview runs in (a)")
    ap.add_argument("--r-timeout", type=float, default=1800,
                    help="seconds R may take in (b); it is compared on what it fitted by then")
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    quick = args.quick
    args.speed_n = args.speed_n or (300 if quick else 10_000)
    args.conv_n = args.conv_n or (500 if quick else 10_000)
    args.big_k = args.big_k or (10_000 if quick else 100_000)
    args.big_clusters = args.big_k // 5

    info = machine()  # before the cases, so the load average is that of the start
    for pkg in ("metareview", "scipy", "pandas", "pyarrow"):
        info[pkg] = version(pkg)
    if not have_metafor():
        print("Rscript with metafor not found: (a) and (b) run metareview only.")
    t0 = time.perf_counter()
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name, fn in (("speed", lambda: case_speed(args, tmp)),
                         ("convergence", lambda: case_convergence(args, tmp)),
                         ("big", lambda: case_big(args))):
            print(f"\n== {name} ==", flush=True)
            part = fn()
            print("\n".join(part), flush=True)
            lines += part
    # The machine may be shared: the load at the end tells whether others ran meanwhile.
    info["load average at end (1, 5, 15 min)"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    command = " ".join(["python bench/bench_multilevel.py", *sys.argv[1:]])
    text = "\n".join([
        "# Benchmarks: multilevel models (rma.mv) against metafor", "",
        f"Written by `bench/bench_multilevel.py`; measured {info['date']} with `{command}` "
        f"(`make bench-multilevel`), {time.perf_counter() - t0:.0f} s in all. R runs in its "
        "own process on the same CSV; metafor's numbers are its defaults (REML, nlminb).", "",
        "## Machine", "", md_table(["", ""], list(info.items())), "", *lines])
    if not args.no_write:
        args.results.write_text(text.rstrip() + "\n")
        print(f"\nwrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
