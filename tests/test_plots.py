"""Tests for metareview.report: forest, funnel and Baujat plots.

Numbers in the expected text come from metafor 3.8 on dat.bcg (``rma(yi, vi)`` on
``escalc("RR", ...)``; weights(res), predict(res, transf = exp); subgroup fits by ``alloc`` with
``rma(est, sei = se, method = "FE")`` on their estimates for the test of subgroup differences;
``rma.mh(measure = "RR")`` for the Mantel-Haenszel weights).
"""

from __future__ import annotations

import math
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon
from matplotlib.text import Text

import metareview as mr
from metareview.models import MetaAnalysis
from metareview.report import SubgroupResult, baujat_plot, forest_plot, funnel_plot
from metareview.report.forest import ROW, p_text

matplotlib.use("Agg")

BCG = [[4, 119, 11, 128], [6, 300, 29, 274], [3, 228, 11, 209], [62, 13536, 248, 12619],
       [33, 5036, 47, 5761], [180, 1361, 372, 1079], [8, 2537, 10, 619],
       [505, 87886, 499, 87892], [29, 7470, 45, 7232], [17, 1699, 65, 1600],
       [186, 50448, 141, 27197], [5, 2493, 3, 2338], [27, 16886, 29, 17825]]
AUTHORS = ["Aronson", "Ferguson & Simes", "Rosenthal et al", "Hart & Sutherland",
           "Frimodt-Moller et al", "Stein & Aronson", "Vandiviere et al", "TPT Madras",
           "Coetzee & Berjak", "Rosenthal et al", "Comstock et al", "Comstock & Webster",
           "Comstock et al"]
YEARS = [1948, 1949, 1960, 1977, 1973, 1953, 1973, 1980, 1968, 1961, 1974, 1969, 1976]
ALLOC = ["random", "random", "random", "random", "alternate", "alternate", "random", "random",
         "random", "systematic", "systematic", "systematic", "systematic"]
COLS = {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}

# dat.normand1999: length of hospital stay, specialist vs routine care.
NORMAND = pd.DataFrame({
    "study": ["Edinburgh", "Orpington-Mild", "Orpington-Moderate", "Orpington-Severe",
              "Montreal-Home", "Montreal-Transfer", "Newcastle", "Umea", "Uppsala"],
    "n1i": [155, 31, 75, 18, 8, 57, 34, 110, 60],
    "m1i": [55, 27, 64, 66, 14, 19, 52, 21, 30],
    "sd1i": [47, 7, 17, 20, 8, 7, 45, 16, 27],
    "n2i": [156, 32, 71, 18, 13, 52, 33, 183, 52],
    "m2i": [75, 29, 119, 137, 18, 18, 41, 31, 23],
    "sd2i": [64, 4, 29, 48, 11, 4, 34, 27, 20],
})


# ---- helpers --------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def bcg_frame() -> pd.DataFrame:
    df = pd.DataFrame(BCG, columns=["tpos", "tneg", "cpos", "cneg"])
    df["study"] = [f"{a}, {y}" for a, y in zip(AUTHORS, YEARS, strict=True)]
    df["alloc"] = ALLOC
    return df


def bcg_fit(method: str = "REML", measure: str = "RR", **kw) -> MetaAnalysis:
    return mr.meta_analysis(mr.effect_sizes(bcg_frame(), measure, **COLS), method, **kw)


def bcg_subgroups(method: str = "REML") -> dict[str, MetaAnalysis]:
    df = bcg_frame()
    return {g: mr.meta_analysis(mr.effect_sizes(df[df.alloc == g], "RR", **COLS), method)
            for g in ("random", "alternate", "systematic")}


def texts(fig: Figure) -> list[str]:
    """Every visible string in the figure, tick labels included."""
    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def graph(fig: Figure):
    return next(ax for ax in fig.axes if ax.get_gid() == "forest-graph")


def by_gid(fig: Figure, kind: type, prefix: str) -> list:
    return [a for a in fig.findobj(kind) if (a.get_gid() or "").startswith(prefix)]


def squares(fig: Figure) -> PathCollection:
    (coll,) = by_gid(fig, PathCollection, "study-squares")
    return coll


def assert_png(path: Path, min_size: tuple[int, int] = (400, 200)) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= min_size[0] and height >= min_size[1]
    return width, height


def assert_svg(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    assert root.get("width") and root.get("height")
    assert len(list(root.iter())) > 50  # drawn content, not an empty document
    return root


# ---- forest: the basic RevMan layout ---------------------------------------------------------
def test_forest_bcg_files_and_text(tmp_path: Path) -> None:
    fit = bcg_fit()
    png, svg = tmp_path / "bcg.png", tmp_path / "bcg.svg"
    fig = forest_plot(fit, png)
    assert isinstance(fig, Figure)
    assert_png(png, (1000, 400))
    forest_plot(fit, svg)
    assert_svg(svg)

    found = texts(fig)
    for label in fit.study:
        assert label in found
    # Weights as RevMan writes them; these are metafor's weights(res), rounded.
    metafor_weights = [5.1, 6.4, 4.4, 9.7, 8.9, 10.1, 6.0, 10.2, 8.7, 8.4, 9.9, 3.8, 8.4]
    for w, ref in zip(fit.weights, metafor_weights, strict=True):
        assert f"{w:.1f}%" == f"{ref:.1f}%"
        assert f"{ref:.1f}%" in found
    assert "100.0%" in found
    # Overall estimate and CI on the natural scale (metafor: 0.489 [0.344, 0.696]).
    assert "0.49 [0.34, 0.70]" in found
    assert "[0.15, 1.55]" in found  # prediction interval 0.155 to 1.549
    assert "Heterogeneity: Tau² = 0.31; Chi² = 152.23, df = 12 (P < 0.00001); I² = 92%" in found
    assert "Test for overall effect: Z = 3.97 (P < 0.0001)" in found
    assert "Favours experimental" in found and "Favours control" in found
    # Per-arm data: events and totals of each arm (Aronson: 4/123 vs 11/139).
    for s in ("Events", "Total", "Experimental", "Control", "4", "123", "11", "139"):
        assert s in found
    assert "Total events" in found and "1065" in found and "1510" in found
    assert "Risk Ratio" in found and "IV, Random, 95% CI" in found
    # Study rows show the study's own RR on the natural scale.
    assert "0.41 [0.13, 1.26]" in found  # Aronson


def test_forest_ratio_axis_is_log_with_natural_ticks() -> None:
    fig = forest_plot(bcg_fit())
    ax = graph(fig)
    assert ax.get_xscale() == "log"
    lo, hi = ax.get_xlim()
    assert lo == pytest.approx(0.1) and hi == pytest.approx(10)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["0.1", "0.2", "0.5", "1", "2", "5", "10"]
    # The null line sits at 1.
    assert any(np.allclose(line.get_xdata(), 1.0) for line in ax.get_lines())


def test_forest_square_areas_follow_weights() -> None:
    fit = bcg_fit()
    fig = forest_plot(fit)
    coll = squares(fig)
    sizes = coll.get_sizes()
    assert len(sizes) == fit.k
    # Rows are drawn top-down in data order; square i belongs to study i.
    ys = coll.get_offsets()[:, 1]
    assert np.all(np.diff(ys) > 0)
    order = np.argsort(fit.weights)
    assert np.all(np.diff(sizes[order]) > 0)
    # Areas (not sides) are linear in the weights: proportional, plus a small floor.
    slope, floor = np.polyfit(fit.weights, sizes, 1)
    assert np.allclose(sizes, floor + slope * fit.weights)
    assert 0 <= floor < 0.05 * sizes.max()
    # Squares sit at the study estimates on the natural scale.
    assert np.allclose(coll.get_offsets()[:, 0], np.exp(fit.yi))


def test_forest_diamond_and_prediction_interval() -> None:
    fit = bcg_fit()
    fig = forest_plot(fit)
    (diamond,) = by_gid(fig, Polygon, "diamond:Total")
    xy = diamond.get_xy()
    assert xy[:, 0].min() == pytest.approx(math.exp(fit.ci_low))
    assert xy[:, 0].max() == pytest.approx(math.exp(fit.ci_high))
    assert np.isclose(xy[:, 0], math.exp(fit.estimate)).any()
    (pi,) = by_gid(fig, Line2D, "pi:Total")
    assert pi.get_xdata()[0] == pytest.approx(math.exp(fit.pi_low))
    assert pi.get_xdata()[-1] == pytest.approx(math.exp(fit.pi_high))
    # The PI bar is drawn below the diamond (y grows downwards).
    assert pi.get_ydata()[0] > xy[:, 1].mean()


def test_forest_fixed_effect_has_no_prediction_interval() -> None:
    fit = bcg_fit("FE")
    assert math.isnan(fit.pi_low)
    fig = forest_plot(fit)
    found = texts(fig)
    assert "Prediction interval" not in found
    assert not by_gid(fig, Line2D, "pi:")
    assert "IV, Fixed, 95% CI" in found
    assert any(s.startswith("Heterogeneity: Chi² = ") for s in found)
    assert not any("Tau²" in s for s in found)


def test_forest_mantel_haenszel_uses_the_fits_weights() -> None:
    fit = bcg_fit("MH")
    fig = forest_plot(fit)
    found = texts(fig)
    # metafor weights(rma.mh(measure = "RR")), rounded
    for ref in (0.7, 1.9, 0.7, 16.2, 2.8, 24.3, 1.0, 31.7, 2.9, 4.2, 11.6, 0.2, 1.8):
        assert f"{ref:.1f}%" in found
    assert "M-H, Fixed, 95% CI" in found
    assert "0.64 [0.59, 0.69]" in found
    sizes = squares(fig).get_sizes()
    assert np.all(np.diff(sizes[np.argsort(fit.weights)]) >= 0)


def test_forest_peto() -> None:
    fit = bcg_fit("PETO", measure="OR")
    found = texts(forest_plot(fit))
    assert "Peto Odds Ratio" in found and "Peto, Fixed, 95% CI" in found
    for w in fit.weights:
        assert f"{w:.1f}%" in found


def test_forest_subgroups(tmp_path: Path) -> None:
    fit = bcg_fit()
    groups = bcg_subgroups()
    sg = SubgroupResult(groups, fit)
    path = tmp_path / "sub.png"
    fig = forest_plot(None, path, subgroups=sg)
    assert_png(path, (1000, 600))
    found = texts(fig)
    for name, g in groups.items():
        assert name in found
        assert len(by_gid(fig, Polygon, f"diamond:{name}")) == 1
        assert heterogeneity_line(g) in found
    assert len(by_gid(fig, Polygon, "diamond:Total")) == 1
    assert found.count("Subtotal (95% CI)") == 3
    assert "Total (95% CI)" in found
    # Study weights are shares of the overall model; subtotals add them up.
    for g in groups.values():
        idx = [fit.study.index(s) for s in g.study]
        assert f"{fit.weights[idx].sum():.1f}%" in found
    # metafor: QE = 1.8614, p = 0.3943 for the FE model of the three subgroup estimates.
    assert "Test for subgroup differences: Chi² = 1.86, df = 2 (P = 0.39), I² = 0%" in found
    assert "Test for overall effect: Z = 3.97 (P < 0.0001)" in found


def heterogeneity_line(fit: MetaAnalysis) -> str:
    from metareview.report.forest import heterogeneity_text

    return heterogeneity_text(fit)


def test_forest_subgroups_given_test_and_plain_mapping() -> None:
    fit = bcg_fit()
    groups = bcg_subgroups()
    fig = forest_plot(fit, subgroups=SubgroupResult(groups, test=(12.5, 2, 0.0019)))
    found = texts(fig)
    assert "Test for subgroup differences: Chi² = 12.50, df = 2 (P = 0.002), I² = 84%" in found
    # A plain mapping uses ``fit`` as the overall model.
    fig = forest_plot(fit, subgroups=groups)
    assert len(by_gid(fig, Polygon, "diamond:")) == 4
    # Without an overall model there is no Total diamond, but still the difference test.
    fig = forest_plot(None, subgroups=groups)
    assert len(by_gid(fig, Polygon, "diamond:")) == 3
    assert any(s.startswith("Test for subgroup differences") for s in texts(fig))


def test_forest_means_md_and_smd(tmp_path: Path) -> None:
    es = mr.effect_sizes(NORMAND, "MD")
    fit = mr.meta_analysis(es, "REML")
    path = tmp_path / "md.svg"
    fig = forest_plot(fit, path, favours=("Favours specialist", "Favours routine"))
    assert_svg(path)
    found = texts(fig)
    for s in ("Mean", "SD", "Total", "Mean Difference", "Favours specialist", "Favours routine",
              *NORMAND["study"]):
        assert s in found
    assert "-20.00 [-32.47, -7.53]" in found  # Edinburgh: 55 - 75
    assert "548" in found and "610" in found  # arm totals
    ax = graph(fig)
    assert ax.get_xscale() == "linear"
    lo, hi = ax.get_xlim()
    assert lo == -hi  # symmetric about the null, as RevMan

    smd = mr.meta_analysis(mr.effect_sizes(NORMAND, "SMD"), "REML", test="knha")
    found = texts(forest_plot(smd))
    assert "Std. Mean Difference" in found
    line = next(s for s in found if s.startswith("Test for overall effect"))
    assert line.startswith("Test for overall effect: t = ") and ", df = 8 (" in line


def test_forest_proportions_back_transformed() -> None:
    df = pd.DataFrame({"study": ["A", "B", "C", "D"], "xi": [16, 10, 4, 43],
                       "ni": [17, 12, 8, 58]})
    fit = mr.meta_analysis(mr.effect_sizes(df, "PLO"), "REML")
    fig = forest_plot(fit)
    found = texts(fig)
    bt = fit.back_transformed
    assert f"{bt['estimate']:.2f} [{bt['ci_low']:.2f}, {bt['ci_high']:.2f}]" in found
    assert "0.50 [0.20, 0.80]" in found  # study C: 4/8, logit 0 +- 1.96 sqrt(1/4 + 1/4)
    assert "Favours experimental" not in found  # single groups: no favours labels
    assert graph(fig).get_xlim()[0] >= 0 and graph(fig).get_xlim()[1] <= 1


def test_forest_many_studies_and_long_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    k = 150
    n1, n2 = rng.integers(30, 300, k), rng.integers(30, 300, k)
    long = "A very long study label from a multicentre consortium with many sites, 2004"
    df = pd.DataFrame({"ai": rng.binomial(n1, 0.2), "n1i": n1, "ci": rng.binomial(n2, 0.3),
                       "n2i": n2, "study": [long if i == 3 else f"Trial {i}" for i in range(k)]})
    fit = mr.meta_analysis(mr.effect_sizes(df, "OR"), "DL")
    path = tmp_path / "big.png"
    fig = forest_plot(fit, path)
    width, height = fig.get_size_inches()
    assert height > k * ROW
    assert width < 16
    _, px_height = assert_png(path, (800, 3000))
    assert px_height == pytest.approx(height * fig.dpi, abs=2)
    found = texts(fig)
    assert "Trial 149" in found
    short = [s for s in found if s.endswith("…")]
    assert len(short) == 1 and long.startswith(short[0][:-1])
    assert len(squares(fig).get_sizes()) == k
    small = forest_plot(bcg_fit()).get_size_inches()[1]
    assert height > 5 * small


def test_forest_xlim_clips_with_arrows() -> None:
    fit = bcg_fit()
    fig = forest_plot(fit, xlim=(0.5, 2))
    ax = graph(fig)
    assert ax.get_xlim() == pytest.approx((0.5, 2))
    markers = [line.get_marker() for line in ax.get_lines()]
    assert "<" in markers and ">" in markers
    # Studies whose estimate lies outside the axis get no square.
    inside = (np.exp(fit.yi) >= 0.5) & (np.exp(fit.yi) <= 2)
    assert len(squares(fig).get_sizes()) == inside.sum() < fit.k


def test_forest_sort_and_title() -> None:
    fit = bcg_fit()
    fig = forest_plot(fit, sort="effect", title="BCG vaccine")
    assert "BCG vaccine" in texts(fig)
    xs = squares(fig).get_offsets()[:, 0]
    assert np.all(np.diff(xs) >= 0)
    fig = forest_plot(fit, sort="-weight")
    sizes = squares(fig).get_sizes()
    assert np.all(np.diff(sizes) <= 0)
    with pytest.raises(ValueError, match="sort"):
        forest_plot(fit, sort="year")


def test_forest_rejects_meta_regression_and_bad_path(tmp_path: Path) -> None:
    df = bcg_frame()
    df["ablat"] = [44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33]
    reg = mr.meta_analysis(mr.effect_sizes(df, "RR", **COLS), "REML", mods=["ablat"])
    with pytest.raises(ValueError, match="moderators"):
        forest_plot(reg)
    with pytest.raises(ValueError, match="svg"):
        forest_plot(bcg_fit(), tmp_path / "plot.jpg")


@pytest.mark.parametrize("case", ["bcg", "subgroups", "smd", "proportion", "xlim"])
def test_forest_text_does_not_overlap_or_spill(case: str) -> None:
    if case == "bcg":
        fig = forest_plot(bcg_fit(), title="BCG vaccine against tuberculosis")
    elif case == "subgroups":
        fig = forest_plot(bcg_fit(), subgroups=bcg_subgroups())
    elif case == "smd":
        fig = forest_plot(mr.meta_analysis(mr.effect_sizes(NORMAND, "SMD"), "REML"),
                          favours=("Favours a much longer label here", "Favours routine"))
    elif case == "proportion":
        df = pd.DataFrame({"xi": [16, 10, 4], "ni": [17, 12, 8]})
        fig = forest_plot(mr.meta_analysis(mr.effect_sizes(df, "PFT"), "REML"))
    else:
        fig = forest_plot(bcg_fit("FE"), xlim=(0.8, 3.0))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text()]
    for i, (s, a) in enumerate(boxes):
        assert page.x0 <= a.x0 and a.x1 <= page.x1 and page.y0 <= a.y0 and a.y1 <= page.y1, s
        for s2, b in boxes[:i]:
            assert not a.overlaps(b), (s, s2)


def test_p_text_matches_revman() -> None:
    assert p_text(1e-30) == "P < 0.00001"
    assert p_text(7.05e-5) == "P < 0.0001"
    assert p_text(0.00042) == "P = 0.0004"
    assert p_text(0.0031) == "P = 0.003"
    assert p_text(0.394) == "P = 0.39"
    assert p_text(1.0) == "P = 1.00"


# ---- funnel -------------------------------------------------------------------------------
def test_funnel_contours_and_files(tmp_path: Path) -> None:
    fit = bcg_fit()
    png, svg = tmp_path / "funnel.png", tmp_path / "funnel.svg"
    fig = funnel_plot(fit, png)
    assert_png(png)
    funnel_plot(fit, svg)
    assert_svg(svg)
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert lo > hi == 0  # standard error inverted: 0 at the top
    assert lo >= np.sqrt(fit.vi).max()
    (pts,) = by_gid(fig, PathCollection, "studies")
    assert np.allclose(pts.get_offsets(), np.column_stack([fit.yi, np.sqrt(fit.vi)]))
    regions = by_gid(fig, Polygon, "contour-")
    assert sorted(p.get_gid() for p in regions) == ["contour-0.9", "contour-0.95", "contour-0.99"]
    # Each contour is the triangle |y| = z * SE around 0.
    tri = next(p for p in regions if p.get_gid() == "contour-0.95").get_xy()
    assert tri[:, 0].max() == pytest.approx(1.959964 * lo, rel=1e-5)
    found = texts(fig)
    for s in ("p > 0.10", "0.05 < p ≤ 0.10", "0.01 < p ≤ 0.05", "p ≤ 0.01", "Standard error",
              "Risk ratio (log scale)"):
        assert s in found
    # Ratio measures: analysis-scale axis with natural-scale tick labels.
    labels = {t.get_text(): t.get_position()[0] for t in ax.get_xticklabels()}
    assert labels["1"] == pytest.approx(0.0)
    assert labels["0.5"] == pytest.approx(math.log(0.5))


def test_funnel_trimfill_and_plain() -> None:
    fit = bcg_fit()
    fy, fv = np.array([0.2, 0.4]), np.array([0.05, 0.1])
    for filled in ((fy, fv), {"yi": fy, "vi": fv}):
        fig = funnel_plot(fit, trimfill=filled)
        (coll,) = by_gid(fig, PathCollection, "filled-studies")
        assert np.allclose(coll.get_offsets(), np.column_stack([fy, np.sqrt(fv)]))
        assert np.allclose(coll.get_facecolor()[0][:3], 1.0)  # open circles
        assert "Filled studies" in texts(fig)
    fig = funnel_plot(bcg_fit("FE"), contours=())
    assert not by_gid(fig, Polygon, "contour-")
    with pytest.raises(ValueError, match="differ in length"):
        funnel_plot(fit, trimfill=(fy, fv[:1]))


def test_funnel_means() -> None:
    fit = mr.meta_analysis(mr.effect_sizes(NORMAND, "SMD"), "REML")
    fig = funnel_plot(fit, contours=(90, 95))
    assert len(by_gid(fig, Polygon, "contour-")) == 2
    assert any("Standardised mean difference" in s for s in texts(fig))


# ---- baujat -------------------------------------------------------------------------------
def test_baujat_labels_without_overlap(tmp_path: Path) -> None:
    x = [0.1, 0.5, 1.0, 4.0, 12.0, 0.8, 30.0]
    y = [0.01, 0.05, 0.02, 1.5, 3.0, 0.2, 12.0]
    labels = [f"Study {c}" for c in "ABCDEFG"]
    path = tmp_path / "baujat.svg"
    fig = baujat_plot(x, y, labels, path)
    assert_svg(path)
    ax = fig.axes[0]
    found = [t for t in ax.texts if t.get_text()]
    assert sorted(t.get_text() for t in found) == labels
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in found]
    for i, a in enumerate(boxes):
        assert ax.get_window_extent(renderer).contains(a.x0, a.y0)
        for b in boxes[:i]:
            assert not a.overlaps(b)
    assert "Contribution to overall heterogeneity" in texts(fig)
    png = tmp_path / "baujat.png"
    baujat_plot(np.array(x), np.array(y), labels, png)
    assert_png(png)


def test_baujat_checks_inputs() -> None:
    with pytest.raises(ValueError, match="same length"):
        baujat_plot([1, 2], [1], ["a", "b"])
    with pytest.raises(ValueError, match="finite"):
        baujat_plot([1, np.nan], [1, 2], ["a", "b"])
