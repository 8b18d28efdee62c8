"""``metareview analyze --random ... [--struct --V --rho --cluster --newmods] --json``.

Reference: tests/reference/multilevel.json (metafor 3.8-1 rma.mv; tests/reference/multilevel.R).
The command's JSON equals the library's fit (the same code path), and the library's fit is
checked against metafor in tests/test_multilevel.py; here the CLI's own numbers are compared
with metafor's at the tolerance stated there (1e-6 relative for these well-identified fits).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).parent
REF = json.loads((HERE / "reference" / "multilevel.json").read_text())["cases"]
K11 = HERE / "data" / "dat.konstantopoulos2011.csv"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metareview.cli", *args], capture_output=True,
                          text=True, timeout=120)


def analyze_json(*args: str) -> dict:
    out = run("analyze", *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_three_level_json_fields() -> None:
    ref = REF["k11/ml3/REML"]
    got = analyze_json(str(K11), "--measure", "GEN", "--random", "~ 1 | district/school")
    assert got["model"] == "rma.mv"
    assert got["random"] == ["~ 1 | district/school"]
    np.testing.assert_allclose(got["sigma2"], ref["sigma2"], rtol=1e-6)
    assert got["sigma2_names"] == ref["s_names"]
    assert got["sigma2_nlevels"] == ref["s_nlevels"]
    (coef,) = got["coefficients"]
    assert coef["estimate"] == pytest.approx(ref["beta"][0], rel=1e-6)
    assert coef["se"] == pytest.approx(ref["se"][0], rel=1e-6)
    assert got["qe"] == pytest.approx(ref["QE"], rel=1e-9)
    np.testing.assert_allclose(got["i2"], ref["I2"]["I2"], rtol=1e-6)
    assert got["fitstats"]["logLik"] == pytest.approx(ref["fitstats"]["logLik"], rel=1e-9)


def test_structured_term_prints_tau2_and_rho() -> None:
    ref = REF["k11/CS"]
    got = analyze_json(str(K11), "--random", "~ school | district", "--struct", "CS")
    assert got["struct"] == ["CS"]
    assert got["tau2"][0] == pytest.approx(ref["tau2"][0], rel=1e-6)
    assert got["rho"][0] == pytest.approx(ref["rho"][0], rel=1e-6)
    assert got["sigma2"] == []


def test_cluster_robust_fields_and_predictions() -> None:
    ref = REF["robust/k11/year"]["CR2"]
    got = analyze_json(str(K11), "--random", "~ 1 | district/school", "--mods", "year",
                       "--cluster", "district", "--clubsandwich", "--newmods", "1980;2000")
    coefs = got["coefficients"]
    np.testing.assert_allclose([c["robust_se"] for c in coefs], ref["se"], rtol=1e-5)
    np.testing.assert_allclose([c["robust_df"] for c in coefs], ref["df"], rtol=1e-5)
    np.testing.assert_allclose([c["robust_p"] for c in coefs], ref["pval"], rtol=1e-5)
    pred = REF["k11/ml3/year"]["predict"]
    rows = got["predictions"][0]["predictions"]
    np.testing.assert_allclose([r["pred"] for r in rows], pred["pred"], rtol=1e-6)
    np.testing.assert_allclose([r["pi_low"] for r in rows], pred["pi_lb"], rtol=1e-6)


def test_sampling_covariance_from_a_file_and_from_rho(tmp_path: Path) -> None:
    """assink's V from vcalc(rho = 0.6) written as a CSV gives metafor's fit; --rho builds the
    same V (every pair of estimates of a study correlates rho)."""
    ref = REF["assink/ml3/V"]
    data = HERE / "data" / "dat.assink2016.csv"
    vfile = tmp_path / "V.csv"
    pd.DataFrame(np.array(ref["V"])).to_csv(vfile, index=False)
    a = analyze_json(str(data), "--measure", "GEN", "--random", "~ 1 | study/esid",
                     "--V", str(vfile))
    b = analyze_json(str(data), "--measure", "GEN", "--random", "~ 1 | study/esid",
                     "--rho", "0.6")
    np.testing.assert_allclose(a["sigma2"], ref["sigma2"], rtol=1e-5)
    assert a["coefficients"][0]["estimate"] == pytest.approx(ref["beta"][0], rel=1e-6)
    np.testing.assert_allclose(b["sigma2"], a["sigma2"], rtol=1e-9)


@pytest.mark.parametrize(("args", "needle"), [
    (("--random", "~ 1 | nosuch"), "nosuch"),
    (("--random", "1 | district"), "expected a formula"),
    (("--random", "~ school | district", "--struct", "XYZ"), "struct"),
    (("--rho", "0.5"), "--random"),
])
def test_bad_options_give_one_line_and_status_2(args, needle) -> None:
    out = run("analyze", str(K11), *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_a_v_file_of_the_wrong_size_names_the_file(tmp_path: Path) -> None:
    vfile = tmp_path / "V.csv"
    pd.DataFrame(np.eye(3)).to_csv(vfile, index=False)
    out = run("analyze", str(K11), "--random", "~ 1 | district/school", "--V", str(vfile))
    assert out.returncode == 2
    assert "V.csv" in out.stderr and "56 x 56" in out.stderr
    bad = np.eye(56).astype(object)
    bad[4, 2] = "x"
    pd.DataFrame(bad).to_csv(vfile, index=False)
    out = run("analyze", str(K11), "--random", "~ 1 | district/school", "--V", str(vfile))
    assert out.returncode == 2
    assert "row 6, column 3" in out.stderr


def test_rho_clusters_by_the_first_formulas_outer_factor_with_factor_around_it() -> None:
    # --rho without --rho-cluster takes the first formula's outermost factor, read from its
    # text as the fit reads it: factor(study) is column study
    data = HERE / "data" / "dat.assink2016.csv"
    a = analyze_json(str(data), "--measure", "GEN", "--random", "~ 1 | factor(study)",
                     "--random", "~ 1 | esid", "--rho", "0.6")
    b = analyze_json(str(data), "--measure", "GEN", "--random", "~ 1 | study",
                     "--random", "~ 1 | esid", "--rho", "0.6")
    np.testing.assert_allclose(a["sigma2"], b["sigma2"], rtol=1e-12)
    out = run("analyze", str(data), "--measure", "GEN", "--random", "~ 1 | nosuch", "--rho",
              "0.6")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].endswith(
        "no column nosuch (named in the random effects '~ 1 | nosuch')"), out.stderr


def test_a_v_file_with_a_numeric_row_too_many_is_an_error_not_a_header(tmp_path: Path) -> None:
    # a first row of numbers is a header only if it is the column numbers (0..k-1 or 1..k);
    # any other is the matrix's first row, and a file with one row too many is reported
    vfile = tmp_path / "V.csv"
    V = np.diag(np.full(56, 0.02))
    pd.DataFrame(np.vstack([np.full(56, 0.01), V])).to_csv(vfile, index=False, header=False)
    out = run("analyze", str(K11), "--random", "~ 1 | district/school", "--V", str(vfile))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert lines[0].endswith("V.csv: V must be 56 x 56 (one row and column per estimate); "
                             "the file has 57 rows and 56 columns"), out.stderr
    for names in (range(56), range(1, 57), [f"V{j}" for j in range(1, 57)]):
        pd.DataFrame(V, columns=list(names)).to_csv(vfile, index=False)
        assert run("analyze", str(K11), "--random", "~ 1 | district/school", "--V",
                   str(vfile), "--json").returncode == 0
