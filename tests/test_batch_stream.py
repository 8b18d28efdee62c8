"""Batch runs: chunked streaming equals one fit of the whole table equals one rma per analysis;
CSV and Parquet agree; bad input ends with one line naming file, row and column, and no output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metareview.batch import fit_frame, run_batch
from metareview.cli import app
from metareview.effects.escalc import DoubleZeroWarning, effect_sizes, from_arrays
from metareview.errors import InputError
from metareview.models.rma import meta_analysis

runner = CliRunner()

# Compared with meta_analysis (one analysis at a time): the same formulas, vectorised.
FIELDS = ("estimate", "se", "p", "ci_low", "ci_high", "tau2", "se_tau2", "i2", "h2", "q", "q_p",
          "pi_low", "pi_high")


def long_table(n_groups: int = 60, seed: int = 7) -> pd.DataFrame:
    """Analyses of k = 1..8 studies with a moderator; one has a zero variance."""
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 9, n_groups)
    g = np.repeat(np.arange(100, 100 + n_groups), k)
    mu = np.repeat(rng.normal(0, 0.5, n_groups), k)
    vi = rng.uniform(0.01, 0.2, len(g))
    yi = mu + rng.normal(0, 1, len(g)) * np.sqrt(vi + 0.05)
    vi[np.flatnonzero(g == 105)[:1]] = 0.0
    return pd.DataFrame({"analysis": g, "yi": yi, "vi": vi, "x": rng.normal(0, 1, len(g))})


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return long_table()


@pytest.fixture(scope="module")
def files(table, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("batch")
    paths = {"csv": d / "long.csv", "parquet": d / "long.parquet"}
    table.to_csv(paths["csv"], index=False)
    table.to_parquet(paths["parquet"], index=False)
    return paths


def rma(sub: pd.DataFrame, method: str, test: str = "z", mods=None):
    es = from_arrays(sub.yi.to_numpy(), sub.vi.to_numpy(), data=sub)
    return meta_analysis(es, method=method, test=test, mods=mods)


@pytest.mark.parametrize(("method", "test"), [("REML", "z"), ("DL", "knha"), ("PM", "t"),
                                              ("FE", "z")])
def test_each_row_equals_meta_analysis_of_that_group(table, method, test):
    out = fit_frame(table, group="analysis", method=method, test=test)
    assert list(out["analysis"]) == list(pd.unique(table.analysis))
    assert (out["k"].to_numpy() == table.groupby("analysis", sort=False).size().to_numpy()).all()
    fitted = out[out.status == ""]
    assert len(fitted) > 40
    assert "non-positive" in out.set_index("analysis").loc[105, "status"]
    for _, row in fitted.iloc[::7].iterrows():
        ref = rma(table[table.analysis == row.analysis], method, test)
        for f in FIELDS:
            assert row[f] == pytest.approx(getattr(ref, f), rel=1e-10, abs=1e-13, nan_ok=True), f


def test_meta_regression_rows_equal_meta_analysis_with_mods(table):
    out = fit_frame(table, group="analysis", method="REML", test="knha", mods=["x"])
    assert {"b[x]", "se[x]", "p[x]", "qm", "qm_p"} <= set(out.columns)
    fitted = out[out.status == ""]
    assert len(fitted) > 20
    for _, row in fitted.iloc[::5].iterrows():
        ref = rma(table[table.analysis == row.analysis], "REML", "knha", mods=["x"])
        assert row["estimate"] == pytest.approx(ref.coef[0], rel=1e-10)
        assert row["b[x]"] == pytest.approx(ref.coef[1], rel=1e-10)
        assert row["se[x]"] == pytest.approx(ref.coef_se[1], rel=1e-10)
        assert row["qm"] == pytest.approx(ref.qm, rel=1e-10)
        assert row["tau2"] == pytest.approx(ref.tau2, rel=1e-10, abs=1e-13)


@pytest.mark.parametrize("chunk_rows", [1, 7, 50])
def test_streaming_in_small_chunks_equals_one_fit_of_the_whole_table(table, files, tmp_path,
                                                                     chunk_rows):
    # chunk_rows 1 and 7 split most analyses across chunks; the carry must stitch them.
    whole = fit_frame(table, group="analysis")
    out = tmp_path / "res.parquet"
    summary = run_batch(files["parquet"], out, group="analysis", chunk_rows=chunk_rows,
                        progress=False)
    got = pd.read_parquet(out)
    assert (summary.analyses, summary.rows) == (len(whole), len(table))
    assert summary.failed == int((whole.status != "").sum())
    # The engine's lock-step iterations may differ by an ulp with the batch's composition.
    pd.testing.assert_frame_equal(got, whole, check_exact=False, rtol=1e-12, atol=1e-15)


def test_csv_and_parquet_give_identical_results(files, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.parquet"
    run_batch(files["csv"], a, group="analysis", chunk_rows=40, progress=False)
    run_batch(files["parquet"], b, group="analysis", chunk_rows=40, progress=False)
    from_csv = pd.read_csv(a, keep_default_na=False, na_values=[""])
    from_csv["status"] = from_csv["status"].fillna("")
    pd.testing.assert_frame_equal(from_csv, pd.read_parquet(b), check_exact=True,
                                  check_dtype=False)


def test_text_keys_are_kept_verbatim(tmp_path):
    df = pd.DataFrame({"trial": ["007"] * 3 + ["7"] * 3, "yi": [0.1, 0.3, 0.2, 0.5, 0.4, 0.9],
                       "vi": [0.05] * 6})
    df.to_csv(tmp_path / "keys.csv", index=False)
    run_batch(tmp_path / "keys.csv", tmp_path / "o.parquet", group="trial", progress=False)
    assert list(pd.read_parquet(tmp_path / "o.parquet")["trial"]) == ["007", "7"]


def test_measure_rr_computes_effect_sizes_and_keeps_emptied_analyses(tmp_path):
    df = pd.DataFrame({
        "trial": ["a"] * 3 + ["b"] * 2 + ["c"] * 3,
        "ai": [3, 0, 5, 0, 0, 4, 2, 6], "n1i": [20, 15, 30, 10, 12, 25, 20, 30],
        "ci": [6, 0, 9, 0, 0, 8, 5, 7], "n2i": [21, 14, 30, 10, 12, 25, 19, 31],
    })
    with pytest.warns(DoubleZeroWarning, match="kept 3 double-zero"):
        kept = fit_frame(df, group="trial", measure="RR", method="DL")
    assert list(kept.k) == [3, 2, 3]  # metafor's default drop00=FALSE
    with pytest.warns(DoubleZeroWarning, match="dropped 3 double-zero"):
        out = fit_frame(df, group="trial", measure="RR", method="DL", drop00=True)
    assert list(out.k) == [2, 0, 3]  # double-zero studies dropped, as effect_sizes does
    assert "double-zero" in out.status[1]
    for key in ("a", "c"):
        ref = meta_analysis(effect_sizes(df[df.trial == key], "RR", drop00=True), method="DL")
        row = out[out.trial == key].iloc[0]
        assert row.estimate == pytest.approx(ref.estimate, rel=1e-10)
        assert row.tau2 == pytest.approx(ref.tau2, rel=1e-10, abs=1e-13)


def test_errors_from_effect_sizes_name_the_file_row(tmp_path):
    df = pd.DataFrame({"trial": ["a"] * 3 + ["b"] * 3, "xi": [1, 2, 3, 4, -5, 6],
                       "ni": [10] * 6})
    df.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InputError, match=r"p\.csv row 6 \(b\), column xi: negative count"):
        run_batch(tmp_path / "p.csv", tmp_path / "o.csv", group="trial", measure="PLO",
                  chunk_rows=4, progress=False)
    assert not (tmp_path / "o.csv").exists()


# ---- the command line -------------------------------------------------------------------------
def cli(*args: str):
    return runner.invoke(app, ["batch", *args, "--no-progress"])


def test_cli_writes_results_and_prints_one_line(files, tmp_path):
    out = tmp_path / "res.csv"
    res = cli(str(files["csv"]), "--group", "analysis", "--method", "DL", "--test", "knha",
              "--mods", "x", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"wrote {out}: 60 analyses")
    got = pd.read_csv(out)
    assert len(got) == 60 and "b[x]" in got.columns


def test_cli_maps_yi_and_sei_columns(table, tmp_path):
    df = pd.DataFrame({"id": table.analysis, "effect": table.yi, "se": np.sqrt(table.vi)})
    df.to_parquet(tmp_path / "se.parquet")
    res = cli(str(tmp_path / "se.parquet"), "--group", "id", "--yi", "effect", "--sei", "se",
              "--out", str(tmp_path / "o.parquet"))
    assert res.exit_code == 0, res.output
    expect = fit_frame(table, group="analysis")
    got = pd.read_parquet(tmp_path / "o.parquet")
    np.testing.assert_allclose(got.estimate, expect.estimate, rtol=1e-12)


@pytest.mark.parametrize("chunk_rows", ["1000", "5"])
def test_cli_non_contiguous_analysis_exits_2_naming_the_row(table, tmp_path, chunk_rows):
    # Analysis 101 comes back at file row 42 after ending earlier: within one chunk, or in a
    # later chunk than its first run.
    df = table.copy()
    df.loc[40, "analysis"] = 101
    assert df.analysis[39] != 101 and df.analysis[41] != 101
    df.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "res.csv"
    res = cli(str(tmp_path / "bad.csv"), "--group", "analysis", "--out", str(out),
              "--chunk-rows", chunk_rows)
    assert res.exit_code == 2
    line = res.stderr.strip()
    assert "\n" not in line and "Traceback" not in res.output
    assert line.startswith("metareview: error: ")
    assert "bad.csv row 42 (101), column analysis" in line
    assert "contiguous" in line
    assert not out.exists()


def test_cli_non_numeric_cell_exits_2_and_leaves_no_output(table, tmp_path):
    df = table.astype({"vi": object})
    df.loc[120, "vi"] = "n/a?"
    df.to_csv(tmp_path / "cell.csv", index=False)
    out = tmp_path / "res.parquet"
    out.write_text("previous results")
    res = cli(str(tmp_path / "cell.csv"), "--group", "analysis", "--out", str(out),
              "--chunk-rows", "50")
    assert res.exit_code == 2
    key = table.analysis[120]
    assert res.stderr.strip() == (f"metareview: error: {tmp_path / 'cell.csv'} row 122 ({key}), "
                                  "column vi: not a number ('n/a?')")
    assert out.read_text() == "previous results"  # not replaced, and no stray temp files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell.csv", "res.parquet"]


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "res.json"], "unknown output type '.json'"),
    (["--out", "res.csv", "--method", "MH"], "unknown method 'MH'"),
    (["--out", "res.csv", "--group", "nope"], "missing column nope"),
])
def test_cli_bad_options_exit_2(files, tmp_path, args, message):
    args = [a if not a.startswith("res.") else str(tmp_path / a) for a in args]
    if "--group" not in args:
        args += ["--group", "analysis"]
    res = cli(str(files["csv"]), *args)
    assert res.exit_code == 2
    assert message in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_header_only_file_is_an_error(tmp_path):
    (tmp_path / "empty.csv").write_text("analysis,yi,vi\n")
    res = cli(str(tmp_path / "empty.csv"), "--group", "analysis", "--out",
              str(tmp_path / "o.csv"))
    assert res.exit_code == 2 and "no data rows" in res.stderr
    assert not (tmp_path / "o.csv").exists()
