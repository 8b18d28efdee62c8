"""The command line contract: JSON fields, readable output, and one-line errors with exit 2."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.reference_data import rma_case

DATA = Path(__file__).parent / "data"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "metareview.cli", *args], capture_output=True, text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def bcg(tmp_path_factory) -> Path:
    raw = pd.read_csv(DATA / "dat.bcg.csv")
    df = pd.DataFrame({
        "study": raw.author + " " + raw.year.astype(str),
        "ai": raw.tpos, "bi": raw.tneg, "ci": raw.cpos, "di": raw.cneg,
        "ablat": raw.ablat, "year": raw.year, "alloc": raw.alloc,
    })
    path = tmp_path_factory.mktemp("cli") / "bcg.csv"
    df.to_csv(path, index=False)
    return path


def test_json_has_the_contract_fields_and_metafor_values(bcg):
    out = run("analyze", str(bcg), "--measure", "RR", "--method", "REML", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    for key in ("k", "estimate", "se", "ci_low", "ci_high", "p", "tau2", "i2", "h2", "q", "q_df",
                "q_p", "pi_low", "pi_high", "back_transformed"):
        assert key in res
    ref = rma_case("bcg", "RR", "REML", "z")
    assert res["k"] == ref["k"]
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("ci_low", "ci_lb"),
                         ("ci_high", "ci_ub"), ("tau2", "tau2"), ("i2", "I2"), ("q", "QE"),
                         ("pi_low", "pi_lb"), ("pi_high", "pi_ub"), ("p", "pval")):
        assert res[ours] == pytest.approx(ref[theirs], rel=1e-6), ours
    assert res["back_transformed"]["estimate"] == pytest.approx(math.exp(ref["estimate"]))


def test_json_with_moderators_lists_coefficients_intercept_first(bcg):
    out = run("analyze", str(bcg), "--measure", "RR", "--method", "DL", "--mods", "ablat",
              "--test", "knha", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    names = [c["name"] for c in res["coefficients"]]
    assert names == ["intrcpt", "ablat"]
    for c in res["coefficients"]:
        assert set(c) >= {"name", "estimate", "se", "ci_low", "ci_high", "p"}
    assert res["qm"] > 0 and 0 <= res["qm_p"] <= 1


def test_json_with_bias_fields(bcg):
    out = run("analyze", str(bcg), "--measure", "RR", "--method", "REML", "--bias", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    for key in ("egger_z", "egger_p", "rank_tau", "rank_p", "trimfill_k0", "trimfill_side",
                "trimfill_estimate"):
        assert key in res
    assert res["trimfill_side"] in ("left", "right")


def test_readable_summary_and_plot(bcg, tmp_path):
    svg = tmp_path / "forest.svg"
    out = run("analyze", str(bcg), "--measure", "OR", "--method", "MH", "--plot", str(svg))
    assert out.returncode == 0, out.stderr
    assert "Mantel-Haenszel" in out.stdout and "Test for Heterogeneity" in out.stdout
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))


def test_subgroup_json(bcg):
    out = run("analyze", str(bcg), "--measure", "RR", "--subgroup", "alloc", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert set(res["subgroups"]["groups"]) == {"random", "alternate", "systematic"}
    assert res["subgroups"]["test_for_subgroup_differences"]["df"] == 2


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trials.csv"
    path.write_text(text)
    return path


BAD = [
    # (csv text, arguments, words the one-line message must contain)
    ("study,ai,bi,ci\nA,1,2,3\n", ["--measure", "OR"], ["trials.csv", "missing column", "di"]),
    ("study,m1i,sd1i,n1i,m2i,sd2i,n2i\nA,1,1,10,2,1,10\nSmith 2004,1,-2.1,10,2,1,10\n",
     ["--measure", "MD"], ["trials.csv row 3", "Smith 2004", "sd1i", "negative"]),
    ("study,yi,vi\nA,0.1,0.2\nB,0.3,-0.1\n", ["--measure", "GEN"],
     ["row 3", "(B)", "vi", "negative"]),
    ("study,ai,n1i,ci,n2i\nA,12,10,3,10\n", ["--measure", "RR"],
     ["row 2", "(A)", "ai", "larger than group size"]),
    ("study,ai,bi,ci,di\nA,1,2,3,x4\n", ["--measure", "OR"], ["row 2", "(A)", "di", "'x4'"]),
    ("study,ai,bi,ci,di\nA,1,2,3,\n", ["--measure", "OR"], ["row 2", "(A)", "di", "empty"]),
    ("study,yi,vi\nA,0.1,0.2\n", ["--measure", "GEN", "--test", "knha"],
     ["k = 1", "too few", "knha"]),
    ("study,yi,vi,x\nA,0.1,0.2,1\nB,0.2,0.1,2\n", ["--measure", "GEN", "--mods", "x"],
     ["k = 2", "too few"]),
    ("study,yi,vi\nA,0.1,0.2\n", ["--measure", "XYZ"], ["unknown measure"]),
    ("study,yi,vi\nA,0.1,0.2\nB,0.1,0.2\n", ["--method", "FOO"], ["unknown method"]),
    ("study,ri,ni\nA,1.2,30\n", ["--measure", "COR"], ["row 2", "ri", "outside"]),
    ("study,yi,vi\nA,0.1,0.2,9\n", [], ["row 2", "cells but the header"]),
]


@pytest.mark.parametrize(("text", "args", "words"), BAD)
def test_bad_input_is_one_line_and_exit_2(tmp_path, text, args, words):
    path = _write(tmp_path, text)
    out = run("analyze", str(path), *args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_missing_file_is_exit_2(tmp_path):
    out = run("analyze", str(tmp_path / "nope.csv"), "--measure", "RR")
    assert out.returncode == 2
    assert "no such file" in out.stderr


def test_plot_to_missing_folder_is_exit_2_and_nothing_else_written(bcg, tmp_path):
    out = run("analyze", str(bcg), "--measure", "RR", "--plot", str(tmp_path / "no" / "f.svg"))
    assert out.returncode == 2 and "does not exist" in out.stderr
