"""Cluster-robust inference (models.sandwich) against metafor 3.8 + clubSandwich 0.5.8, same run.

Simulates k estimates in J clusters (sizes 1 to 2k/J - 1) with one moderator, fits REML with
metareview and with metafor (fit time not counted), then times robust() (metafor's CR1) and
robust(clubsandwich=True) (CR2, Satterthwaite df; HTZ of the moderator) on each side, timed
inside R so process start-up is not counted. Prints the times, their ratio and the largest
relative difference of the robust SEs and df. Needs R with metafor and clubSandwich; not CI.
metafor's robust() forms k x k matrices, so R's side grows fast with k (k = 5000 in 500 clusters
ran for more than 9 minutes of CPU before it was stopped); the default is k = 2000, J = 200.

    .venv/bin/python bench/bench_robust.py [K] [J]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import have_metafor, ratio, rscript, timed, write_csv

from metareview import from_arrays, meta_analysis
from metareview.models.sandwich import robust

R_SCRIPT = r"""
suppressMessages({library(metafor); library(clubSandwich)})
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1])
res <- rma(yi, vi, mods = ~ x, data = dat, control = list(threshold = 1e-13, tol = 1e-13))
t1 <- system.time(r1 <- robust(res, cluster = dat$cl))[["elapsed"]]
t2 <- system.time(r2 <- robust(res, cluster = dat$cl, clubSandwich = TRUE))[["elapsed"]]
cat("cr1_time", t1, "\n"); cat("cr2_time", t2, "\n")
cat("cr1_se", sprintf("%.17g", r1$se), "\n"); cat("cr2_se", sprintf("%.17g", r2$se), "\n")
cat("cr2_df", sprintf("%.17g", r2$dfs), "\n"); cat("htz_df", sprintf("%.17g", r2$QMdf[2]), "\n")
"""


def main(k: int = 2000, n_clusters: int = 200) -> None:
    rng = np.random.default_rng(20261206)
    cl = np.sort(rng.integers(0, n_clusters, k))
    x = rng.normal(size=k)
    vi = rng.uniform(0.01, 0.3, k)
    yi = 0.2 + 0.1 * x + rng.normal(0, 0.3, n_clusters)[cl] + rng.normal(0, np.sqrt(vi))
    fit = meta_analysis(from_arrays(yi, vi, study=[f"s{i}" for i in range(k)],
                                    data=pd.DataFrame({"x": x})), mods=["x"])
    t_cr1, r1 = timed(lambda: robust(fit, cl), repeats=5)
    t_cr2, r2 = timed(lambda: robust(fit, cl, clubsandwich=True), repeats=5)
    J = len(np.unique(cl))
    print(f"k = {k}, J = {J} clusters (sizes {np.bincount(cl).min()}-{np.bincount(cl).max()})")
    print(f"metareview CR1: {t_cr1.fmt('ms')}; CR2 + Satterthwaite + HTZ: {t_cr2.fmt('ms')}")
    if not have_metafor():
        print("R with metafor not found: no comparison")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(Path(tmp) / "robust.csv", yi=yi, vi=vi, x=x, cl=cl)
        out = rscript(R_SCRIPT, path)
    vals = {ln.split()[0]: np.array(ln.split()[1:], dtype=float) for ln in out.splitlines()}
    print(f"metafor CR1: {vals['cr1_time'][0] * 1000:.4g} ms; clubSandwich CR2: "
          f"{vals['cr2_time'][0] * 1000:.4g} ms (one run each)")
    print(f"ratio (R / metareview, medians): CR1 {ratio(vals['cr1_time'][0], t_cr1.median)}, "
          f"CR2 {ratio(vals['cr2_time'][0], t_cr2.median)}")

    def rel(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.max(np.abs(np.asarray(a) / b - 1)))

    print(f"max rel. difference: CR1 se {rel(r1.robust_se, vals['cr1_se']):.1e}, CR2 se "
          f"{rel(r2.robust_se, vals['cr2_se']):.1e}, Satterthwaite df "
          f"{rel(r2.robust_df, vals['cr2_df']):.1e}, HTZ df "
          f"{rel([r2.qm_df[1]], vals['htz_df']):.1e}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
