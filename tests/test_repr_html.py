"""Results display as HTML tables in notebooks (``_repr_html_``), and plots display inline.

Each result is a real fit: the BCG trials (src/metareview/data/bcg.csv), the three-level model of
dat.konstantopoulos2011, the BCG review's GRADE assessment and Summary of Findings, agreement on
the reference ratings of tests/reference/agreement.json, a simulation on a toy corpus. The HTML
is parsed back; every number shown must equal the result's ``to_dict()`` value formatted as the
``summary()`` formats it (four decimals, I² two, p-values below 1e-4 as ``<.0001``), the markup
must be balanced, and names from the data must come out escaped.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import metareview as mr
from metareview._util.textfmt import printout_num, printout_p
from metareview.models.fit import fit_groups
from metareview.models.subgroup import subgroup_analysis
from metareview.screening.agreement import agreement
from metareview.screening.simulate import simulate
from tests.reference_data import rma_case

ROOT = Path(__file__).resolve().parents[1]
BCG = ROOT / "src" / "metareview" / "data" / "bcg.csv"
KONST = ROOT / "tests" / "data" / "dat.konstantopoulos2011.csv"
AGREEMENT = json.loads((ROOT / "tests" / "reference" / "agreement.json").read_text())
# metafor 3.8-1 references: rma(measure = "RR", data = dat.bcg, method = "REML") and the
# three-level rma.mv of dat.konstantopoulos2011 (tests/reference/multilevel.R)
BCG_RR_REML = rma_case("bcg", "RR", "REML", "z")
ML3 = json.loads((ROOT / "tests" / "reference" / "multilevel.json").read_text())["cases"][
    "k11/ml3/REML"]
VOID = {"br"}
EVIL = "<script>alert(1)</script>"


# ---- parsing the HTML back ------------------------------------------------------------------
class _Tables(HTMLParser):
    """Tables as ``caption -> rows of cell texts`` (header row first); checks every tag closes
    in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.text: list[str] = []
        self._rows: list[list[str]] | None = None
        self._caption: str | None = None
        self._cell: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "table":
            self._rows, self._caption = [], ""
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None and self._rows is not None:
            self._rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "caption":
            self._in_caption = False
        elif tag == "table" and self._rows is not None:
            key = self._caption or f"table {len(self.tables)}"
            assert key not in self.tables, f"two tables captioned {key!r}"
            self.tables[key] = self._rows
            self._rows = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_caption:
            self._caption = (self._caption or "") + data


def parse(html: str) -> _Tables:
    """Parse ``html``, failing on unbalanced markup or a script."""
    p = _Tables()
    p.feed(html)
    p.close()
    assert not p.errors, p.errors
    assert not p.stack, f"unclosed: {p.stack}"
    assert "<script" not in html.lower()
    return p


def cell(rows: list[list[str]], row: str | int, col: str) -> str:
    """The cell of ``rows`` in column ``col`` (by heading) and row ``row`` (by its first cell,
    or by index among the body rows)."""
    j = rows[0].index(col)
    body = rows[1:]
    r = body[row] if isinstance(row, int) else next(x for x in body if x[0] == row)
    return r[j]


def num(x: float | None, digits: int = 4) -> str:
    return printout_num(x, digits)


def pval(x: float | None) -> str:
    return printout_p(np.nan if x is None else x)


def _bcg_rr(opening: str) -> str:
    """metafor's pooled BCG risk ratio and CI as GRADE and SoF show it (two decimals):
    ``0.49{opening}0.34 to 0.70)``."""
    back = BCG_RR_REML["back"]
    return f"{num(back['estimate'], 2)}{opening}{num(back['ci_lb'], 2)} to {num(back['ci_ub'], 2)})"


# ---- fits --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bcg() -> mr.EffectSizes:
    return mr.effect_sizes(pd.read_csv(BCG), measure="RR")


@pytest.fixture(scope="module")
def review():
    from metareview.report.review_report import build_report
    from metareview.studies import load_folder
    from metareview.synthesis.review import synthesize

    return build_report(synthesize(load_folder(ROOT / "reviews" / "bcg-tuberculosis")))


def test_meta_analysis(bcg):
    fit = mr.meta_analysis(bcg)
    d = fit.to_dict()
    t = parse(fit._repr_html_()).tables
    het = t["Heterogeneity"]
    for col, key, digits in (("tau²", "tau2", 4), ("SE(tau²)", "se_tau2", 4), ("tau", "tau", 4),
                             ("I² (%)", "i2", 2), ("H²", "h2", 2), ("Q", "q", 4)):
        assert cell(het, 0, col) == num(d[key], digits), col
    assert cell(het, 0, "df") == str(d["q_df"]) == "12"
    assert cell(het, 0, "pval") == pval(d["q_p"]) == "<.0001"
    res = t["Model results"]
    for col, key in (("estimate", "estimate"), ("se", "se"), ("zval", "stat"),
                     ("ci.lb", "ci_low"), ("ci.ub", "ci_high"), ("pi.lb", "pi_low"),
                     ("pi.ub", "pi_high")):
        assert cell(res, "intrcpt", col) == num(d[key]), col
    assert cell(res, "intrcpt", "pval") == pval(d["p"])
    # as metafor's print(res) shows them (-0.7145, tau^2 0.3132)
    assert (cell(res, "intrcpt", "estimate"), cell(het, 0, "tau²")) == (
        num(BCG_RR_REML["estimate"]), num(BCG_RR_REML["tau2"]))
    bt = t["Back-transformed (RR)"]
    for col, key in (("estimate", "estimate"), ("ci.lb", "ci_low"), ("ci.ub", "ci_high"),
                     ("pi.lb", "pi_low"), ("pi.ub", "pi_high")):
        assert cell(bt, 0, col) == num(d["back_transformed"][key]), col
    studies = t["table 3"]  # the collapsed per-study table has no caption
    assert [r[0] for r in studies[1:]] == [s["study"] for s in d["studies"]]
    for s in d["studies"]:
        assert cell(studies, s["study"], "yi") == num(s["yi"])
        assert cell(studies, s["study"], "vi") == num(s["vi"])
        assert cell(studies, s["study"], "weight (%)") == num(s["weight"], 2)


def test_meta_regression(bcg):
    fit = mr.meta_analysis(bcg, mods=["ablat"], test="knha")
    d = fit.to_dict()
    t = parse(fit._repr_html_()).tables
    res = t["Model results"]
    assert [r[0] for r in res[1:]] == ["intrcpt", "ablat"]
    for c in d["coefficients"]:
        for col, key in (("estimate", "estimate"), ("se", "se"), ("tval", "stat"),
                         ("ci.lb", "ci_low"), ("ci.ub", "ci_high")):
            assert cell(res, c["name"], col) == num(c[key]), (c["name"], col)
        assert cell(res, c["name"], "pval") == pval(c["p"])
    qm = t["Test of moderators (coefficients 2:2)"]
    assert cell(qm, 0, "F") == num(d["qm"])
    assert [cell(qm, 0, "df1"), cell(qm, 0, "df2")] == [str(x) for x in d["qm_df"]]
    assert cell(qm, 0, "pval") == pval(d["qm_p"])
    het = t["Residual heterogeneity"]
    assert cell(het, 0, "QE") == num(d["q"]) and cell(het, 0, "R² (%)") == num(d["r2"], 2)


def test_multilevel_model():
    data = pd.read_csv(KONST)
    es = mr.from_arrays(data["yi"].to_numpy(), data["vi"].to_numpy(), data=data)
    fit = mr.meta_analysis_mv(es, "~ 1 | district/school")
    d = fit.to_dict()
    t = parse(fit._repr_html_()).tables
    fs = t["Fit statistics (REML)"]
    for col, key in (("logLik", "logLik"), ("Deviance", "deviance"), ("AIC", "AIC"),
                     ("BIC", "BIC"), ("AICc", "AICc")):
        assert cell(fs, 0, col) == num(d["fitstats"][key]), col
    vc = t["Variance components"]
    for i, (s2, name, n, i2) in enumerate(zip(d["sigma2"], d["sigma2_names"],
                                             d["sigma2_nlevels"], d["i2"], strict=True)):
        label = f"sigma².{i + 1}"
        assert cell(vc, label, "estim") == num(s2)
        assert cell(vc, label, "sqrt") == num(np.sqrt(s2))
        assert cell(vc, label, "nlvls") == str(n)
        assert cell(vc, label, "factor") == name
        assert cell(vc, label, "I² (%)") == num(i2, 2)
    # metafor: sigma^2.1 = 0.0651 (district, 11 levels), sigma^2.2 = 0.0327 (school, 56)
    assert [r[1] for r in vc[1:]] == [num(s2) for s2 in ML3["sigma2"]]
    het = t["Heterogeneity"]
    assert (cell(het, 0, "Q"), cell(het, 0, "df"), cell(het, 0, "pval")) == (
        num(d["qe"]), str(d["qe_df"]), pval(d["qe_p"]))
    assert cell(het, 0, "I² total (%)") == num(d["i2_total"], 2)
    (c,) = d["coefficients"]
    res = t["Model results"]
    for col, key in (("estimate", "estimate"), ("se", "se"), ("zval", "stat"),
                     ("ci.lb", "ci_low"), ("ci.ub", "ci_high")):
        assert cell(res, "intrcpt", col) == num(c[key]), col
    assert cell(res, "intrcpt", "pval") == pval(c["p"])


def test_subgroup_analysis(bcg):
    sg = subgroup_analysis(bcg, "alloc")
    d = sg.to_dict()
    t = parse(sg._repr_html_()).tables
    rows = t["Subgroups"]
    groups = {**d["groups"], "Overall": d["overall"]}
    assert [r[0] for r in rows[1:]] == list(groups)
    for name, g in groups.items():
        assert cell(rows, name, "k") == str(g["k"])
        for col, key in (("estimate", "estimate"), ("se", "se"), ("ci.lb", "ci_low"),
                         ("ci.ub", "ci_high"), ("tau²", "tau2")):
            assert cell(rows, name, col) == num(g[key]), (name, col)
        assert cell(rows, name, "pval") == pval(g["p"])
        assert cell(rows, name, "I² (%)") == num(g["i2"], 2)
    test = t["Test for subgroup differences"]
    diff = d["test_for_subgroup_differences"]
    assert [cell(test, 0, c) for c in ("Q", "df", "pval", "I² (%)")] == [
        num(diff["q"]), str(diff["df"]), pval(diff["p"]), num(diff["i2"], 1)]


def test_robust_result(bcg):
    fit = mr.meta_analysis(bcg, mods=["ablat"])
    for clubsandwich in (False, True):
        rob = mr.robust(fit, cluster=bcg.data["alloc"], clubsandwich=clubsandwich)
        d = rob.to_dict()
        t = parse(rob._repr_html_()).tables
        res = t["Model results"]
        for c in d["coefficients"]:
            for col, key in (("estimate", "estimate"), ("se", "robust_se"),
                             ("tval", "robust_stat"), ("ci.lb", "ci_low"), ("ci.ub", "ci_high")):
                assert cell(res, c["name"], col) == num(c[key]), (c["name"], col)
            assert cell(res, c["name"], "pval") == pval(c["robust_p"])
            df = c["robust_df"]
            assert cell(res, c["name"], "df") == (f"{df:g}" if df.is_integer() else f"{df:.2f}")
        (test,) = (v for k, v in t.items() if k.startswith("Test of moderators"))
        assert test[1][0] == num(d["qm"]) and test[1][-1] == pval(d["qm_p"])
        assert test[0][0] == ("HTZ F" if clubsandwich else "F")
        clusters = t["Clusters"]
        assert cell(clusters, 0, "clusters") == str(d["n_clusters"]) == "3"


def test_predictions(bcg):
    fit = mr.meta_analysis(bcg, mods=["ablat"])
    pred = mr.predict(fit, newmods=[10, 20, 30])
    d = pred.to_dict()
    rows = parse(pred._repr_html_()).tables["Predictions"]
    assert len(rows) == 1 + 3
    for i, p in enumerate(d["predictions"]):
        for col, key in (("pred", "pred"), ("se", "se"), ("ci.lb", "ci_low"),
                         ("ci.ub", "ci_high"), ("pi.lb", "pi_low"), ("pi.ub", "pi_high")):
            assert cell(rows, i, col) == num(p[key]), (i, col)
        assert cell(rows, i, "X.ablat") == f"{p['ablat']:g}"


def test_group_fits_show_twenty_rows_and_count_the_rest():
    rng = np.random.default_rng(17)
    k = np.full(25, 6)
    y, v = rng.normal(-0.3, 0.4, k.sum()), rng.uniform(0.02, 0.2, k.sum())
    fits = fit_groups(y, v, k, method="REML")
    d = fits.to_dict()
    p = parse(fits._repr_html_())
    rows = p.tables["Model results by group (first 20)"]
    assert len(rows) == 1 + 20
    assert "… 5 more groups; to_frame() has them all." in "".join(p.text)
    for g in range(20):
        assert cell(rows, g, "k") == str(d["k"][g])
        for col, key in (("estimate", "estimate"), ("se", "se"), ("zval", "stat"),
                         ("ci.lb", "ci_low"), ("ci.ub", "ci_high"), ("tau²", "tau2"),
                         ("Q", "q")):
            assert cell(rows, g, col) == num(d[key][g]), (g, col)
        assert cell(rows, g, "pval") == pval(d["p"][g])
        assert cell(rows, g, "I² (%)") == num(d["i2"][g], 2)


def test_group_fits_with_a_moderator():
    rng = np.random.default_rng(3)
    k = np.full(4, 8)
    n = int(k.sum())
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    fits = fit_groups(rng.normal(size=n), rng.uniform(0.05, 0.2, n), k, X,
                      coef_names=("intrcpt", "dose"))
    d = fits.to_dict()
    rows = parse(fits._repr_html_()).tables["Model results by group"]
    for g in range(4):
        assert cell(rows, g, "b[dose]") == num(d["b[dose]"][g])
        assert cell(rows, g, "p[dose]") == pval(d["p[dose]"][g])
        assert cell(rows, g, "QM") == num(d["qm"][g])


def test_grade_certainty(review):
    (g,) = review.synthesis.grades
    c = g.certainty
    d = c.to_dict()
    p = parse(c._repr_html_())
    rows = p.tables["Domains"]
    from metareview.grade.certainty import DOMAIN_LABELS

    assert len(rows) == 1 + len(d["domains"])
    for name, dom in d["domains"].items():
        label = DOMAIN_LABELS[name]
        assert cell(rows, label, "Judgement") == dom["label"]
        assert cell(rows, label, "Change") == (f"{dom['change']:+d}" if dom["change"] else "0")
        assert cell(rows, label, "Rationale") == dom["rationale"]
    text = "".join(p.text)
    assert f"Certainty: {d['symbols']} {d['final'].upper()}" in text
    assert (f"Effect: RR {d['estimate']:.2f} (95% CI {d['ci_low']:.2f} to {d['ci_high']:.2f})"
            in text)
    assert f"Effect: RR {_bcg_rr(' (95% CI ')}" in text  # the review's pooled estimate
    for note in d["footnotes"]:
        assert note in text


def test_grade_override_shows_who_and_the_proposal():
    from metareview.grade import assess_certainty
    from metareview.grade.certainty import Override

    c = assess_certainty("Pain", design="randomised", measure="MD", estimate=-0.8, ci_low=-1.0,
                         ci_high=-0.6, overrides={"imprecision": Override(
                             -1, "few events", by="anna", date="2024-01-02")})
    d = c.to_dict()["domains"]["imprecision"]
    rows = parse(c._repr_html_()).tables["Domains"]
    assert cell(rows, "imprecision", "Change") == "-1" == f"{d['change']:+d}"
    assert cell(rows, "imprecision", "Note") == (
        f"overridden by anna on 2024-01-02 (proposed: {d['proposed']['label']})")
    assert cell(rows, "imprecision", "Rationale") == d["rationale"]


def test_summary_of_findings(review):
    (_, sof) = review.sof_tables[0]
    d = sof.to_dict()
    p = parse(sof._repr_html_())
    (rows,) = p.tables.values()
    body = [r for r in rows if len(r) == 7]  # outcome rows; headings and notes span cells
    assert len(body) == len(d["rows"])
    for r, row in zip(body, d["rows"], strict=True):
        cells = row["cells"]
        assert r[1] == cells["participants"]
        assert r[2].startswith(cells["certainty"])
        assert r[3] == cells["relative"]
        assert r[5] == cells["effect"]
    assert f"RR {_bcg_rr(' (')}" in [r[3] for r in body]  # the review's pooled estimate


@pytest.mark.parametrize("name", ["two_binary", "three_incomplete"])
def test_agreement(name):
    res = agreement([tuple(r) for r in AGREEMENT["datasets"][name]["rows"]])
    d = res.to_dict()
    t = parse(res._repr_html_()).tables
    stats = t["Agreement (95% CI)"]
    assert cell(stats, "Percent agreement (%)", "estimate") == num(d["percent_agreement"], 2)
    kname = "Cohen's kappa" if d["kappa_method"] == "cohen" else "Fleiss' kappa"
    for label, key in ((kname, "kappa"), ("Gwet's AC1", "ac1"), ("Krippendorff's alpha", "alpha")):
        assert cell(stats, label, "estimate") == num(d[key])
        assert cell(stats, label, "se") == num(d[f"{key}_se"])
        assert cell(stats, label, "ci.lb") == num(d[f"{key}_ci_low"])
        assert cell(stats, label, "ci.ub") == num(d[f"{key}_ci_high"])
    if d["table"] is not None:
        counts = t["Decisions (rows: first reviewer, columns: second)"]
        assert [[int(x) for x in r[1:]] for r in counts[1:]] == d["table"]
    for i, pair in enumerate(d["pairwise"]):
        rows = t["Cohen's kappa by pair of reviewers"]
        assert cell(rows, i, "kappa") == num(pair["kappa"])
        assert cell(rows, i, "n") == str(pair["n"])


def test_simulation():
    relevant = [f"aspirin stroke randomised trial recurrence patients {i}" for i in range(4)]
    other = [f"soil galaxies telescope sediment fungi survey {i}" for i in range(12)]
    texts = [*relevant, *other]
    labels = [1] * 4 + [0] * 12
    res = simulate(texts, labels, seeds=(0, 1))
    d = res.to_dict()
    rows = parse(res._repr_html_()).tables["Metrics over 2 seed(s)"]
    assert [r[0] for r in rows[1:]] == list(d["mean"])
    for metric, s in d["mean"].items():
        for col, key in (("mean", "mean"), ("SD", "sd"), ("min", "min"), ("max", "max")):
            assert cell(rows, metric, col) == f"{s[key]:.3f}", (metric, col)


# ---- escaping ----------------------------------------------------------------------------
def test_names_from_the_data_are_escaped(bcg):
    data = pd.read_csv(BCG)
    data.loc[0, "study"] = EVIL
    data["arm"] = np.where(np.arange(len(data)) < 6, EVIL, "other & more")
    es = mr.effect_sizes(data, measure="RR")
    fit = mr.meta_analysis(es)
    html = fit._repr_html_()
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert parse(html).tables["table 3"][1][0] == EVIL
    sg_html = subgroup_analysis(es, "arm")._repr_html_()
    assert EVIL not in sg_html
    assert parse(sg_html).tables["Subgroups"][1][0] == EVIL
    rated = [("r1", EVIL, "include"), ("r1", "ben", "exclude"), ("r2", EVIL, "include"),
             ("r2", "ben", "include"), ("r3", EVIL, "exclude"), ("r3", "ben", "exclude")]
    ag_html = agreement(rated)._repr_html_()
    assert EVIL not in ag_html and parse(ag_html)


def test_grade_outcome_is_escaped():
    from metareview.grade import assess_certainty, sof_row, summary_of_findings

    c = assess_certainty(EVIL, design="randomised", measure="RR", estimate=0.5, ci_low=0.3,
                         ci_high=0.8, k=3, n_participants=300)
    html = c._repr_html_()
    assert EVIL not in html and EVIL in "".join(parse(html).text)
    sof = summary_of_findings([sof_row(EVIL, certainty=c)], title=EVIL)
    html = sof._repr_html_()
    assert EVIL not in html and EVIL in "".join(parse(html).text)


# ---- plots -------------------------------------------------------------------------------
def test_plots_are_open_figures_that_notebooks_draw(bcg):
    from metareview.report import forest_plot, funnel_plot

    fit = mr.meta_analysis(bcg)
    for fig in (forest_plot(fit), funnel_plot(fit)):
        assert isinstance(fig, Figure) and fig.axes
        png = fig._repr_png_()  # what Jupyter shows, without pyplot's inline backend
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
        fig.savefig(__import__("io").BytesIO(), format="png")  # still open after display
