"""metafor's effect-size measures beyond the first thirteen, against escalc itself.

reference: metafor 3.8-1, tests/reference/measures.R -> measures.json: escalc(measure, vtype)
yi and vi for every case, the inputs stored beside them. Tolerance: rel 1e-6 (both sides are
closed forms in double precision; the only special function, UCOR's 2F1, agrees to ~1e-15).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from metareview.batch import run_batch
from metareview.cli import app
from metareview.effects import effect_sizes
from metareview.effects.measures import MEASURE_TABLE, MEASURES, back_transform, measure_inputs
from metareview.errors import InputError
from metareview.models.rma import meta_analysis

REFERENCE = json.loads((Path(__file__).parent / "reference" / "measures.json").read_text())
CASES = REFERENCE["escalc"]
runner = CliRunner()


@pytest.mark.parametrize("case", CASES, ids=[f"{c['measure']}-{c['vtype']}" for c in CASES])
def test_each_measure_matches_metafor_escalc(case):
    df = pd.DataFrame(case["data"])
    es = effect_sizes(df, case["measure"], vtype=case["vtype"])
    assert es.yi == pytest.approx(case["yi"], rel=1e-6, abs=1e-12)
    assert es.vi == pytest.approx(case["vi"], rel=1e-6)


def test_every_new_computable_measure_has_a_reference_case():
    referenced = {c["measure"] for c in CASES}
    first = {"RR", "OR", "RD", "MD", "SMD", "ROM", "PLO", "PR", "PFT", "PAS", "ZCOR", "COR",
             "GEN"}
    assert set(MEASURES) - first == referenced


def test_zero_counts_get_metafors_continuity_correction_only_where_metafor_adds_it():
    # IRR: 0.5 added to both groups' events (metafor's to="only0"); IRSD adds nothing.
    df = pd.DataFrame({"x1i": [0.0], "t1i": [100.0], "x2i": [4.0], "t2i": [80.0]})
    irr = effect_sizes(df, "IRR")
    assert irr.yi[0] == pytest.approx(np.log(0.5 / 100) - np.log(4.5 / 80), rel=1e-12)
    assert irr.vi[0] == pytest.approx(1 / 0.5 + 1 / 4.5, rel=1e-12)
    assert "added 0.5" in irr.warnings[0]
    irsd = effect_sizes(df, "IRSD")
    assert irsd.yi[0] == pytest.approx(-np.sqrt(4 / 80), rel=1e-12) and not irsd.warnings
    # add given explicitly is honoured even where metafor's default is none
    assert effect_sizes(df, "IRSD", add=0.5).yi[0] == pytest.approx(
        np.sqrt(0.5 / 100) - np.sqrt(4.5 / 80), rel=1e-12)


@pytest.mark.parametrize(("measure", "data", "message"), [
    ("SMCC", {"m1i": [1.0], "m2i": [2.0], "sd1i": [-1.0], "sd2i": [1.0], "ni": [10],
              "ri": [0.5]}, r"trial.csv row 2 \(Study 1\), column sd1i: negative standard "
                            r"deviation \(-1\)"),
    ("MC", {"m1i": [1.0], "m2i": [2.0], "sd1i": [1.0], "sd2i": [1.0], "ni": [10],
            "ri": [1.5]}, r"column ri: correlation outside \[-1, 1\] \(1.5\)"),
    ("IRR", {"x1i": [3], "t1i": [0.0], "x2i": [4], "t2i": [10.0]},
     r"column t1i: person-time must be positive \(0\)"),
    ("IR", {"xi": [-1], "ti": [10.0]}, r"column xi: negative count \(-1\)"),
    ("MNLN", {"mi": [-2.0], "sdi": [1.0], "ni": [10]},
     r"column mi: MNLN needs a positive mean \(-2\)"),
    ("SDLN", {"sdi": [-2.0], "ni": [10]}, r"column sdi: negative standard deviation \(-2\)"),
    ("PCOR", {"ti": [2.0], "ni": [5], "mi": [4]},
     r"column ni: sample size must exceed the number of predictors \+ 1 \(5\)"),
    ("SPCOR", {"ti": [2.0], "ni": [50], "mi": [4], "r2i": [1.2]},
     r"column r2i: R\^2 outside \[0, 1\] \(1.2\)"),
    ("VR", {"sd1i": [1.0], "n1i": [10], "sd2i": [-3.0], "n2i": [10]},
     r"column sd2i: negative standard deviation \(-3\)"),
])
def test_bad_input_names_file_row_column_and_why(measure, data, message):
    with pytest.raises(InputError, match=message):
        effect_sizes(pd.DataFrame(data), measure, source="trial.csv")


@pytest.mark.parametrize(("measure", "missing"), [
    ("SMCR", "ri"), ("IRR", "t2i"), ("IRFT", "ti"), ("CVLN", "sdi"), ("SPCOR", "r2i")])
def test_a_missing_column_is_named_with_what_the_measure_needs(measure, missing):
    need = measure_inputs(measure)[0]
    df = pd.DataFrame({n: [1.0] for n in need if n != missing})
    with pytest.raises(InputError, match=rf"trial.csv: missing column {missing} \(measure "
                                         rf"{measure} needs columns {','.join(need)}\)"):
        effect_sizes(df, measure, source="trial.csv")


def test_a_vtype_metafor_offers_but_not_here_is_refused_in_one_line():
    df = pd.DataFrame({"xi": [3], "ti": [10.0]})
    with pytest.raises(InputError, match="vtype 'UB' is not available for measure IR; choose LS"):
        effect_sizes(df, "IR", vtype="UB")


def test_the_table_lists_the_new_families_and_back_transforms():
    assert MEASURE_TABLE["IRR"].family == "incidence" and MEASURE_TABLE["IRR"].ratio
    assert measure_inputs("SMD1") == (("m1i", "sd2i", "n1i", "m2i", "n2i"),)
    assert back_transform("IRLN").func(np.log(2.0)) == pytest.approx(2.0)
    assert back_transform("ZPCOR").func(np.arctanh(0.3)) == pytest.approx(0.3)


@settings(max_examples=60, deadline=None)
@given(a=st.integers(1, 60), b=st.integers(1, 60), c=st.integers(1, 60), d=st.integers(1, 60))
def test_swapping_the_groups_flips_the_sign_of_symmetric_2x2_measures(a, b, c, d):
    df = pd.DataFrame({"ai": [a, c], "bi": [b, d], "ci": [c, a], "di": [d, b]})
    for measure in ("PETO", "AS", "YUQ", "YUY", "PHI", "OR2DL"):
        es = effect_sizes(df, measure)
        assert es.yi[0] == pytest.approx(-es.yi[1], rel=1e-9, abs=1e-12)
        assert es.vi[0] == pytest.approx(es.vi[1], rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(x1=st.integers(1, 200), x2=st.integers(1, 200),
       t1=st.floats(1, 1e4), t2=st.floats(1, 1e4), scale=st.floats(0.01, 100))
def test_the_incidence_rate_ratio_does_not_depend_on_the_time_unit(x1, x2, t1, t2, scale):
    df = pd.DataFrame({"x1i": [x1], "t1i": [t1], "x2i": [x2], "t2i": [t2]})
    scaled = df.assign(t1i=df.t1i * scale, t2i=df.t2i * scale)
    assert effect_sizes(scaled, "IRR").yi[0] == pytest.approx(
        effect_sizes(df, "IRR").yi[0], rel=1e-9, abs=1e-12)
    assert effect_sizes(scaled, "IRD").yi[0] == pytest.approx(
        effect_sizes(df, "IRD").yi[0] / scale, rel=1e-9)


def test_analyze_takes_a_new_measure_code_and_fits_as_metafor(tmp_path):
    # reference: metafor 3.8-1, tests/reference/measures.R, rma(measure="IRR", ...,
    # method="REML") on dat.hart1999 plus a trial with no events in one group
    ref = REFERENCE["rma_irr"]
    path = tmp_path / "hart.csv"
    pd.DataFrame(ref["data"]).to_csv(path, index=False)
    res = runner.invoke(app, ["analyze", str(path), "--measure", "irr", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["estimate"] == pytest.approx(ref["estimate"], rel=1e-6)
    assert out["se"] == pytest.approx(ref["se"], rel=1e-6)
    assert out["tau2"] == pytest.approx(ref["tau2"], abs=1e-8)


def test_analyze_says_in_one_line_what_a_person_time_file_lacks(tmp_path):
    path = tmp_path / "rates.csv"
    pd.DataFrame({"x1i": [3], "t1i": [10.0], "x2i": [4]}).to_csv(path, index=False)
    res = runner.invoke(app, ["analyze", str(path), "--measure", "IRR"])
    assert res.exit_code == 2
    assert res.output.strip().endswith(
        "missing column t2i (measure IRR needs columns x1i,t1i,x2i,t2i)")
    assert len(res.output.strip().splitlines()) == 1


def test_batch_reads_the_columns_a_measure_needs_beyond_its_family(tmp_path):
    # SPCOR needs r2i, which the partial-correlation family's first set lacks.
    case = next(c for c in CASES if c["measure"] == "SPCOR")
    df = pd.DataFrame(case["data"]).assign(analysis="a", study=list("VWXYZ"))
    path = tmp_path / "spcor.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "out.csv"
    run_batch(path, out, group="analysis", measure="SPCOR", method="FE", progress=False)
    fit = meta_analysis(effect_sizes(df, "SPCOR"), method="FE")
    assert pd.read_csv(out)["estimate"][0] == pytest.approx(fit.estimate, rel=1e-9)


def _figure_texts(fig) -> list[str]:
    from matplotlib.text import Text
    return [t.get_text() for t in fig.findobj(Text)]


def test_the_forest_of_a_one_group_change_shows_no_r_column_and_no_favours_labels():
    from metareview.report import forest_plot

    case = next(c for c in CASES if c["measure"] == "SMCC" and c["vtype"] == "LS")
    fit = meta_analysis(effect_sizes(pd.DataFrame(case["data"]), "SMCC"), method="REML")
    found = _figure_texts(forest_plot(fit))
    # the pre-post correlation is an input, not the effect: the columns are SMCC and its SE
    assert "r" not in found and "SMCC" in found and "SE" in found
    assert "Favours experimental" not in found
    # a comparative new measure keeps them
    irr = meta_analysis(effect_sizes(pd.DataFrame(REFERENCE["rma_irr"]["data"]), "IRR"))
    assert "Favours experimental" in _figure_texts(forest_plot(irr))


def test_a_row_whose_effect_is_not_finite_is_named():
    # IRLN of no events is log(0) once the continuity correction is turned off.
    df = pd.DataFrame({"xi": [3, 0, 0], "ti": [10.0, 12.0, 9.0]})
    with pytest.raises(InputError, match=r"^r.csv row 3 \(Study 2\): the IRLN effect size "
                                         r"cannot be computed from this row"):
        effect_sizes(df, "IRLN", add=0, source="r.csv")
    assert effect_sizes(df, "IRLN").vi[1:] == pytest.approx([2.0, 2.0])  # 1 / 0.5


@pytest.mark.parametrize("measure", ["AS", "PHI", "YUQ", "YUY", "OR2DN", "OR2DL", "PETO"])
def test_mantel_haenszel_refuses_2x2_measures_it_has_no_estimator_for(measure):
    df = pd.DataFrame(next(c for c in CASES if c["measure"] == "PETO")["data"])
    with pytest.raises(InputError, match=f"Mantel-Haenszel needs measure OR, RR or RD "
                                         rf"\(got {measure}\)"):
        meta_analysis(effect_sizes(df, measure), method="MH")


def test_the_peto_method_on_peto_effect_sizes_is_metafors_rma_peto():
    # reference: metafor 3.8-1, tests/reference/metafor_reference.json, bcg/OR/PETO
    ref = json.loads((Path(__file__).parent / "reference" / "metafor_reference.json")
                     .read_text())
    case = next(c for c in ref["peto"] if c["id"] == "bcg/OR/PETO")
    bcg = pd.read_csv(Path(__file__).parent / "data" / "dat.bcg.csv")
    es = effect_sizes(bcg, "PETO", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    assert meta_analysis(es, method="PETO").estimate == pytest.approx(case["estimate"], rel=1e-6)
    with pytest.raises(InputError, match=r"Peto's method needs 2x2 tables \(measure OR\); got AS"):
        meta_analysis(effect_sizes(bcg, "AS", ai="tpos", bi="tneg", ci="cpos", di="cneg"),
                      method="PETO")


@settings(max_examples=60, deadline=None)
@given(m1=st.floats(-50, 50), m2=st.floats(-50, 50), sd1=st.floats(0.5, 20), sd2=st.floats(0.5, 20),
       n=st.integers(4, 300), r=st.floats(-0.9, 0.9), scale=st.floats(0.01, 100))
def test_standardised_changes_do_not_depend_on_the_unit(m1, m2, sd1, sd2, n, r, scale):
    df = pd.DataFrame({"m1i": [m1], "m2i": [m2], "sd1i": [sd1], "sd2i": [sd2], "ni": [n],
                       "ri": [r]})
    scaled = df.assign(m1i=m1 * scale, m2i=m2 * scale, sd1i=sd1 * scale, sd2i=sd2 * scale)
    for measure in ("SMCC", "SMCR", "SMCRH"):
        a, b = effect_sizes(df, measure), effect_sizes(scaled, measure)
        assert b.yi[0] == pytest.approx(a.yi[0], rel=1e-9, abs=1e-12)
        assert b.vi[0] == pytest.approx(a.vi[0], rel=1e-9)
    mc, mcs = effect_sizes(df, "MC"), effect_sizes(scaled, "MC")
    assert mcs.vi[0] == pytest.approx(mc.vi[0] * scale**2, rel=1e-9)
