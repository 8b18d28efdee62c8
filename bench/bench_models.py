"""Speed and robustness against metafor, measured in the same run.

Fits the same random meta-analyses (the generator of tests/test_convergence.py) with
metareview and with metafor 3.8 (through Rscript, timed inside R so process start-up is not
counted), and prints the time ratio and how many fits each failed to converge. Needs R with
metafor; not part of CI.

    .venv/bin/python bench/bench_models.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import have_metafor, rscript, write_csv
from tests.test_convergence import _datasets

from metareview import from_arrays, meta_analysis

R_SCRIPT = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1])
methods <- strsplit(args[2], ",")[[1]]
ids <- split(seq_len(nrow(dat)), dat$id)
for (m in methods) {
  fails <- 0L
  t <- system.time(for (ix in ids) {
    r <- try(suppressWarnings(rma(dat$yi[ix], dat$vi[ix], method = m)), silent = TRUE)
    if (inherits(r, "try-error")) fails <- fails + 1L
  })[["elapsed"]]
  cat(m, t, fails, "\n")
}
"""

METHODS = ("REML", "ML", "EB", "PM", "DL")


def main(n: int = 2000) -> None:
    data = [(y, v) for y, v, X in _datasets(n) if X.shape[1] == 1]
    print(f"{len(data)} intercept-only random meta-analyses (k = 2 to 60)")
    ours: dict[str, tuple[float, int]] = {}
    for m in METHODS:
        t0 = time.perf_counter()
        fails = 0
        for y, v in data:
            try:
                meta_analysis(from_arrays(y, v), method=m)
            except Exception:
                fails += 1
        ours[m] = (time.perf_counter() - t0, fails)
    theirs: dict[str, tuple[float, int]] = {}
    if have_metafor():
        with tempfile.TemporaryDirectory() as tmp:
            csv = write_csv(Path(tmp) / "d.csv",
                            id=np.repeat(np.arange(len(data)), [len(y) for y, _ in data]),
                            yi=np.concatenate([y for y, _ in data]),
                            vi=np.concatenate([v for _, v in data]))
            out = rscript(R_SCRIPT, csv, ",".join(METHODS))
            for line in out.splitlines():
                m, t, f = line.split()
                theirs[m] = (float(t), int(f))
    print(f"{'method':<6} {'metareview s':>13} {'metafor s':>10} {'ratio':>6} "
          f"{'fails (ours)':>13} {'fails (metafor)':>16}")
    for m in METHODS:
        t, f = ours[m]
        if m in theirs:
            rt, rf = theirs[m]
            print(f"{m:<6} {t:13.2f} {rt:10.2f} {t / rt:6.2f} {f:13d} {rf:16d}")
        else:
            print(f"{m:<6} {t:13.2f} {'-':>10} {'-':>6} {f:13d} {'(no R)':>16}")
    print("ratio = metareview time / metafor time (below 1: metareview is faster)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
