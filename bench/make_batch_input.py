"""Write a long-format Parquet file of many simulated meta-analyses for ``metareview batch``.

The default is the issue-4 target: 10 million analyses of k = 10 (100 million rows; columns
``analysis`` int64, ``yi`` and ``vi`` float64, about 2 GB). It is written one row group at a
time, so memory stays at one row group however large the file::

    python bench/make_batch_input.py /tmp/big.parquet
    /usr/bin/time -v metareview batch /tmp/big.parquet --group analysis --measure GEN \\
        --method REML --out /tmp/big_out.parquet

Each analysis has a true effect ``mu ~ N(0, 0.5^2)``, heterogeneity ``tau^2 ~ U(0, 0.2)`` (a
quarter of analyses homogeneous, tau^2 = 0) and sampling variances ``vi ~ U(0.01, 0.2)``;
``yi ~ N(mu, tau^2 + vi)``. The same seed gives the same file.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def make(path: Path, analyses: int, k: int, per_group: int, seed: int) -> int:
    """Write ``analyses`` analyses of ``k`` studies to ``path``; return the number of rows."""
    rng = np.random.default_rng(seed)
    schema = pa.schema([("analysis", pa.int64()), ("yi", pa.float64()), ("vi", pa.float64())])
    with pq.ParquetWriter(path, schema) as writer:
        for first in range(0, analyses, per_group):
            g = min(per_group, analyses - first)
            mu = rng.normal(0.0, 0.5, g)
            tau2 = np.where(rng.random(g) < 0.25, 0.0, rng.uniform(0.0, 0.2, g))
            vi = rng.uniform(0.01, 0.2, g * k)
            yi = np.repeat(mu, k) + rng.standard_normal(g * k) * np.sqrt(np.repeat(tau2, k) + vi)
            key = np.repeat(np.arange(first, first + g, dtype=np.int64), k)
            writer.write_table(pa.table({"analysis": key, "yi": yi, "vi": vi}, schema=schema))
    return analyses * k


def main() -> None:
    """Command line: output path and sizes."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--analyses", type=int, default=10_000_000)
    ap.add_argument("--k", type=int, default=10, help="studies per analysis")
    ap.add_argument("--row-group", type=int, default=100_000,
                    help="analyses per Parquet row group")
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = make(args.out, args.analyses, args.k, args.row_group, args.seed)
    print(f"wrote {args.out}: {args.analyses:,} analyses, {rows:,} rows, "
          f"{args.out.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
