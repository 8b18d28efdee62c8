"""Batch runs on a Dask cluster give exactly the local results, in input order."""

from __future__ import annotations

import pandas as pd
import pytest

from metareview.batch import run_batch
from metareview.errors import InputError
from tests.test_batch_stream import long_table

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    # Two worker processes, as a real cluster: chunks and results cross process boundaries.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def test_dask_run_is_identical_to_the_local_run(client, tmp_path):
    src = tmp_path / "long.parquet"
    long_table(n_groups=400, seed=3).to_parquet(src, index=False)
    local, remote = tmp_path / "local.parquet", tmp_path / "dask.parquet"
    # 97-row chunks: ~20 chunks, more than the 4 allowed in flight, each split mid-analysis.
    a = run_batch(src, local, group="analysis", method="REML", test="knha", mods=["x"],
                  chunk_rows=97, progress=False)
    b = run_batch(src, remote, group="analysis", method="REML", test="knha", mods=["x"],
                  chunk_rows=97, client=client, progress=False)
    assert a.analyses == 400 and a.failed > 0
    assert (a.analyses, a.rows, a.failed) == (b.analyses, b.rows, b.failed)
    pd.testing.assert_frame_equal(pd.read_parquet(remote), pd.read_parquet(local),
                                  check_exact=True)


def test_dask_worker_errors_reach_the_caller_and_leave_no_output(client, tmp_path):
    df = long_table(n_groups=100, seed=4).astype({"yi": object})
    df.loc[300, "yi"] = "oops"
    df.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "res.csv"
    with pytest.raises(InputError, match=r"bad\.csv row 302 \(\d+\), column yi: not a number"):
        run_batch(tmp_path / "bad.csv", out, group="analysis", chunk_rows=40, client=client,
                  progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]
