"""``metareview batch --random``: one multilevel model per analysis, streaming.

Each output row equals ``meta_analysis_mv`` fitted on that analysis alone; CSV and Parquet
agree; small chunks give the same output as one chunk; an analysis too small to fit keeps its
row with a status and NaNs; bad input ends with one line naming the file, row and column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metareview.batch import run_batch
from metareview.cli import app
from metareview.effects.escalc import from_arrays
from metareview.errors import InputError
from metareview.models.multilevel import meta_analysis_mv

runner = CliRunner()
RANDOM = "~ 1 | study/es"


def three_level(n_groups: int = 25, seed: int = 11) -> pd.DataFrame:
    """Three-level datasets (estimates in studies) with a moderator; analysis 104 has one row."""
    rng = np.random.default_rng(seed)
    frames = []
    for g in range(100, 100 + n_groups):
        n_study = 1 if g == 104 else int(rng.integers(3, 8))
        per = np.ones(1, int) if g == 104 else rng.integers(1, 4, n_study)
        study = np.repeat(np.arange(1, n_study + 1), per)
        k = len(study)
        vi = rng.uniform(0.01, 0.1, k)
        yi = (0.2 + rng.normal(0, 0.3, n_study)[study - 1] + rng.normal(0, 0.2, k)
              + rng.normal(0, np.sqrt(vi)))
        frames.append(pd.DataFrame({"analysis": g, "study": study, "es": np.arange(1, k + 1),
                                    "yi": yi, "vi": vi, "x": rng.normal(0, 1, k)}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return three_level()


@pytest.fixture(scope="module")
def files(table, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("mvbatch")
    paths = {"csv": d / "long.csv", "parquet": d / "long.parquet"}
    table.to_csv(paths["csv"], index=False)
    table.to_parquet(paths["parquet"], index=False)
    return paths


def cli(*args: str):
    return runner.invoke(app, ["batch", *args, "--no-progress"])


def _close(got: float, want: float) -> None:
    assert got == pytest.approx(want, rel=1e-10, abs=1e-13)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
@pytest.mark.parametrize(("method", "mods"), [("REML", ()), ("ML", ("x",))])
def test_each_row_equals_meta_analysis_mv_of_that_group(table, files, tmp_path, kind, method,
                                                        mods):
    out = tmp_path / f"res.{kind}"
    summary = run_batch(files[kind], out, group="analysis", random=RANDOM, method=method,
                        mods=mods, progress=False)
    got = pd.read_csv(out) if kind == "csv" else pd.read_parquet(out)
    keys = list(dict.fromkeys(table.analysis))
    assert got.analysis.tolist() == keys
    assert summary.analyses == len(keys) and summary.failed == 1
    pre = "intrcpt." if mods else ""
    for _, row in got.iterrows():
        sub = table[table.analysis == row.analysis].reset_index(drop=True)
        assert row.k == len(sub)
        if row.analysis == 104:
            continue
        fit = meta_analysis_mv(from_arrays(sub.yi.to_numpy(), sub.vi.to_numpy(), data=sub),
                               RANDOM, method=method, mods=list(mods))
        assert row.status in ("", np.nan) or pd.isna(row.status)
        assert bool(row.converged) == fit.converged
        _close(row["sigma2.1"], fit.sigma2[0])
        _close(row["sigma2.2"], fit.sigma2[1])
        _close(row[pre + "estimate"], fit.coef[0])
        _close(row[pre + "se"], fit.coef_se[0])
        _close(row[pre + "zval"], fit.coef_stat[0])
        _close(row[pre + "pval"], fit.coef_p[0])
        _close(row[pre + "ci_low"], fit.coef_ci_low[0])
        _close(row[pre + "ci_high"], fit.coef_ci_high[0])
        _close(row.loglik, fit.ll)
        if mods:
            _close(row["x.estimate"], fit.coef[1])
            _close(row["x.se"], fit.coef_se[1])


def test_a_group_with_too_few_rows_gets_a_status_and_nans(files, tmp_path):
    out = tmp_path / "res.parquet"
    run_batch(files["parquet"], out, group="analysis", random=RANDOM, progress=False)
    row = pd.read_parquet(out).set_index("analysis").loc[104]
    assert row.k == 1 and row.status == "too few estimates" and not row.converged
    assert np.isnan(row[["sigma2.1", "sigma2.2", "estimate", "se", "pval", "loglik"]]
                    .to_numpy(float)).all()


@pytest.mark.parametrize("kind", ["csv", "parquet"])
@pytest.mark.parametrize("chunk_rows", [1, 7, 40])
def test_small_chunks_give_the_output_of_one_chunk(files, tmp_path, kind, chunk_rows):
    whole, parts = tmp_path / "whole.parquet", tmp_path / "parts.parquet"
    run_batch(files[kind], whole, group="analysis", random=RANDOM, progress=False)
    run_batch(files[kind], parts, group="analysis", random=RANDOM, progress=False,
              chunk_rows=chunk_rows)
    pd.testing.assert_frame_equal(pd.read_parquet(parts), pd.read_parquet(whole))


def test_cli_writes_results_and_prints_one_line(files, tmp_path):
    out = tmp_path / "res.csv"
    res = cli(str(files["csv"]), "--group", "analysis", "--random", "~ 1 | study",
              "--random", "~ 1 | es", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"wrote {out}: 25 analyses (1 not fitted)")
    got = pd.read_csv(out)
    assert {"sigma2.1", "sigma2.2", "estimate", "loglik", "converged"} <= set(got.columns)


def test_cli_missing_random_factor_column_exits_2_with_one_line(files, tmp_path):
    out = tmp_path / "res.csv"
    res = cli(str(files["csv"]), "--group", "analysis", "--random", "~ 1 | trial/es", "--out",
              str(out))
    assert res.exit_code == 2
    line = res.stderr.strip()
    assert "\n" not in line and "Traceback" not in res.output
    assert line == (f"metareview: error: {files['csv']}: missing column trial (named in the "
                    "random effects '~ 1 | trial/es')")
    assert not out.exists()


@pytest.mark.parametrize("chunk_rows", ["1000", "9"])
def test_cli_empty_random_factor_cell_names_file_row_and_column(table, tmp_path, chunk_rows):
    df = table.astype({"study": object})
    df.loc[30, "study"] = None
    df.to_csv(tmp_path / "hole.csv", index=False)
    out = tmp_path / "res.parquet"
    res = cli(str(tmp_path / "hole.csv"), "--group", "analysis", "--random", RANDOM, "--out",
              str(out), "--chunk-rows", chunk_rows)
    assert res.exit_code == 2
    key = table.analysis[30]
    assert res.stderr.strip() == (
        f"metareview: error: {tmp_path / 'hole.csv'} row 32 ({key}), column study: empty cell "
        f"(a factor of the random effects '{RANDOM}')")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hole.csv"]


@pytest.mark.parametrize(("args", "message"), [
    (["--measure", "SMD"], "measure GEN"),
    (["--method", "DL"], "REML or ML"),
    (["--test", "knha"], "z tests"),
    (["--random", "study/es"], "expected a formula"),
])
def test_cli_options_a_multilevel_run_does_not_take_exit_2(files, tmp_path, args, message):
    if "--random" not in args:
        args = [*args, "--random", RANDOM]
    res = cli(str(files["csv"]), "--group", "analysis", "--out", str(tmp_path / "o.csv"), *args)
    assert res.exit_code == 2
    assert message in res.stderr and "\n" not in res.stderr.strip()
    assert list(tmp_path.iterdir()) == []


def test_library_error_is_an_input_error(table, tmp_path):
    df = table.astype({"vi": object})
    df.loc[5, "vi"] = "oops"
    df.to_csv(tmp_path / "cell.csv", index=False)
    with pytest.raises(InputError, match=r"cell.csv row 7 \(100\), column vi: not a number"):
        run_batch(tmp_path / "cell.csv", tmp_path / "o.csv", group="analysis", random=RANDOM,
                  progress=False)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_text_factor_labels_fit_as_numeric_ones(table, files, tmp_path, kind):
    df = table.assign(study=[f"s-{s}" for s in table.study], es=[f"e{e}" for e in table.es])
    path = tmp_path / f"text.{kind}"
    df.to_csv(path, index=False) if kind == "csv" else df.to_parquet(path, index=False)
    run_batch(path, tmp_path / "a.parquet", group="analysis", random=RANDOM, progress=False)
    run_batch(files[kind], tmp_path / "b.parquet", group="analysis", random=RANDOM,
              progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"),
                                  pd.read_parquet(tmp_path / "b.parquet"))


def test_blank_text_factor_cell_is_an_error(table, tmp_path):
    df = table.assign(study=[f"s{s}" for s in table.study])
    df.loc[12, "study"] = "  "
    df.to_parquet(tmp_path / "blank.parquet", index=False)
    with pytest.raises(InputError, match=r"blank.parquet row 14 \(\d+\), column study: empty "):
        run_batch(tmp_path / "blank.parquet", tmp_path / "o.csv", group="analysis",
                  random=RANDOM, progress=False)


@pytest.mark.parametrize("random", [None, RANDOM])
def test_a_key_column_named_as_a_result_column_is_an_error(table, tmp_path, random):
    # univariate and multilevel batches share the rule; the output would have two "k" columns
    table.rename(columns={"analysis": "k"}).to_csv(tmp_path / "k.csv", index=False)
    kw = {"random": random} if random else {}
    with pytest.raises(InputError) as e:
        run_batch(tmp_path / "k.csv", tmp_path / "o.csv", group="k", progress=False, **kw)
    assert str(e.value) == (f"{tmp_path / 'k.csv'}: the key column 'k' has the name of a result "
                            "column; rename it")
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize(("wrapped", "plain"), [
    ("~ factor(es) | study", "~ es | study"),
    ("~ 1 | as.factor(study)", "~ 1 | study"),
])
def test_factor_around_a_side_is_the_column_as_in_meta_analysis_mv(table, files, tmp_path,
                                                                   wrapped, plain):
    # the batch reads the formulas with meta_analysis_mv's reader: factor(es) is column es
    run_batch(files["csv"], tmp_path / "a.csv", group="analysis", random=wrapped,
              progress=False)
    run_batch(files["csv"], tmp_path / "b.csv", group="analysis", random=plain, progress=False)
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    pd.testing.assert_frame_equal(a, b)
    one = table[table.analysis == 100].reset_index(drop=True)
    fit = meta_analysis_mv(from_arrays(one.yi.to_numpy(), one.vi.to_numpy(), data=one), wrapped)
    _close(a.estimate[0], fit.coef[0])
    _close(a.loglik[0], fit.ll)


@pytest.mark.parametrize(("random", "message"), [
    ([], "random effects: give at least one formula such as '~ 1 | study'"),
    ("study/es", "random effects 'study/es': expected a formula like '~ 1 | study', "
                 "'~ 1 | district/school' or '~ outcome | study'"),
    ("~ 1 | factor(study)/es", "random effects '~ 1 | factor(study)/es': 'factor(study)' is "
                               "not a column name"),
    ("~ es | study/es", "random effects '~ es | study/es': 'study/es' is not a column name "
                        "(nested outer factors are written as one column)"),
])
def test_formula_errors_are_those_of_meta_analysis_mv(table, files, tmp_path, random, message):
    with pytest.raises(InputError) as e:
        run_batch(files["csv"], tmp_path / "o.csv", group="analysis", random=random,
                  progress=False)
    assert str(e.value) == message
    es = from_arrays(table.yi.to_numpy(), table.vi.to_numpy(), data=table)
    with pytest.raises(InputError) as e:
        meta_analysis_mv(es, random)
    assert str(e.value) == message
    assert not (tmp_path / "o.csv").exists()


def test_rows_come_out_in_input_order_whatever_the_keys_text(table, tmp_path):
    # keys whose text sorts differently from their order in the file ("10" before "2")
    keys = dict(zip(table.analysis.unique(), [3, 10, 2, 11, 1, *range(20, 40)], strict=False))
    df = table.assign(analysis=table.analysis.map(keys))
    df.to_csv(tmp_path / "keys.csv", index=False)
    run_batch(tmp_path / "keys.csv", tmp_path / "o.csv", group="analysis", random=RANDOM,
              progress=False)
    got = pd.read_csv(tmp_path / "o.csv")
    assert got.analysis.tolist() == list(df.analysis.unique())
    first = df[df.analysis == 10]
    fit = meta_analysis_mv(from_arrays(first.yi.to_numpy(), first.vi.to_numpy(), data=first),
                           RANDOM)
    _close(got.set_index("analysis").loc[10, "estimate"], fit.coef[0])
