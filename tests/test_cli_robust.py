"""``metareview analyze --cluster COLUMN [--clubsandwich]``: the robust block and JSON fields.

Reference: tests/reference/robust.json (metafor 3.8-1 robust(), clubSandwich 0.5.8; written by
tests/reference/robust.R), checked at rel 1e-6.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

HERE = Path(__file__).parent
REF = json.loads((HERE / "reference" / "robust.json").read_text())["cases"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metareview.cli", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def bcg(tmp_path_factory) -> Path:
    raw = pd.read_csv(HERE / "data" / "dat.bcg.csv")
    df = pd.DataFrame({
        "study": raw.author + " " + raw.year.astype(str),
        "ai": raw.tpos, "bi": raw.tneg, "ci": raw.cpos, "di": raw.cneg,
        "ablat": raw.ablat, "alloc": raw.alloc, "decade": (raw.year // 10) * 10,
    })
    path = tmp_path_factory.mktemp("robust") / "bcg.csv"
    df.to_csv(path, index=False)
    return path


def test_json_adds_metafor_robust_fields(bcg: Path) -> None:
    out = run("analyze", str(bcg), "--measure", "RR", "--cluster", "alloc", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    ref = REF["bcg/alloc/int"]["CR1"]  # metafor robust(res, cluster = alloc), rel 1e-6
    assert res["robust_se"] == pytest.approx(ref["se"][0], rel=1e-6)
    assert res["robust_df"] == ref["df"] == 2
    assert res["robust_p"] == pytest.approx(ref["pval"][0], rel=1e-6)
    assert res["robust"]["vcov_type"] == "CR1"
    assert res["robust"]["n_clusters"] == 3
    assert res["se"] == pytest.approx(REF["bcg/alloc/int"]["model_se"][0], rel=1e-6)


def test_clubsandwich_with_moderators_in_json_and_text(bcg: Path) -> None:
    args = ("analyze", str(bcg), "--measure", "RR", "--mods", "ablat", "--cluster", "decade",
            "--clubsandwich")
    out = run(*args, "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    ref = REF["bcg/decade/ablat"]["CR2"]  # clubSandwich CR2 + Satterthwaite, rel 1e-6
    coefs = res["coefficients"]
    assert [c["robust_se"] for c in coefs] == pytest.approx(ref["se"], rel=1e-6)
    assert [c["robust_df"] for c in coefs] == pytest.approx(ref["df"], rel=1e-6)
    assert [c["robust_p"] for c in coefs] == pytest.approx(ref["pval"], rel=1e-6)
    assert res["robust_se"] == coefs[0]["robust_se"]
    assert res["robust"]["htz"]["df_denom"] == pytest.approx(
        REF["bcg/decade/ablat"]["CR2"]["HTZ"]["df_denom"], rel=1e-6)
    text = run(*args)
    assert text.returncode == 0, text.stderr
    assert "Cluster-robust inference (CR2; df: Satterthwaite)" in text.stdout
    assert "Number of clusters:    5" in text.stdout
    assert "HTZ F(df1 = 1, df2 = " in text.stdout


def test_bad_cluster_options_exit_2_with_one_line(bcg: Path) -> None:
    out = run("analyze", str(bcg), "--measure", "RR", "--cluster", "nope")
    assert out.returncode == 2
    assert out.stderr.strip() == f"metareview: error: {bcg}: no column nope (named as the cluster)"
    out = run("analyze", str(bcg), "--measure", "RR", "--clubsandwich")
    assert out.returncode == 2
    assert out.stderr.strip() == "metareview: error: --clubsandwich needs --cluster COLUMN"
    out = run("analyze", str(bcg), "--measure", "RR", "--method", "MH", "--cluster", "alloc")
    assert out.returncode == 2
    assert "inverse-variance" in out.stderr
