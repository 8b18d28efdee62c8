"""Forest plots in the layout of RevMan (Cochrane's Review Manager).

One figure holds a table and a graph: on the left the study label, the per-arm data, the weight
and the effect with its confidence interval as text; on the right the graphical column with a
square per study (area proportional to its weight), confidence-interval whiskers, a diamond for
each pooled estimate and, for random-effects models, a prediction-interval bar. Heterogeneity and
the test for the overall effect are written under the table; "favours" labels go under the axis.

The plot draws results as they are: it never refits a model. Figures are built on matplotlib's
Agg canvas (no pyplot, no global backend switch), so they work the same in scripts, servers and
notebooks, and are written as SVG, PNG or PDF by the file extension.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator
from scipy import stats

from metareview._util.figures import new_figure, save_figure
from metareview._util.textfmt import figure_data, figure_estimate
from metareview.effects.measures import RATIO, family, ipft, ipft_hm, is_comparative
from metareview.effects.measures import back_transform as _back_transform
from metareview.models.rma import MetaAnalysis
from metareview.models.subgroup import SubgroupAnalysis, difference_test

__all__ = ["SubgroupResult", "forest_plot"]

#: Effect names as RevMan writes them in the column headers.
NAMES = {
    "RR": "Risk Ratio",
    "OR": "Odds Ratio",
    "RD": "Risk Difference",
    "MD": "Mean Difference",
    "SMD": "Std. Mean Difference",
    "ROM": "Ratio of Means",
    "PLO": "Proportion",
    "PR": "Proportion",
    "PFT": "Proportion",
    "PAS": "Proportion",
    "ZCOR": "Correlation",
    "COR": "Correlation",
    "GEN": "Effect Size",
}

FONT_SIZE = 8.0  #: points
ROW = 0.2  #: inches per table row
PAD = 0.14  #: inches between columns
MARGIN = 0.15  #: inches left and right of the figure
GRAPH_WIDTH = 2.6  #: inches for the graphical column
MAX_LABEL_WIDTH = 3.2  #: inches; longer study labels are shortened with an ellipsis
SQUARE = "#1f4e9c"
#: The default "favours" labels; dropped for single-group measures (proportions, correlations).
DEFAULT_FAVOURS = ("Favours experimental", "Favours control")
INK = "black"

_MEASURER = RendererAgg(8, 8, 72)  # 72 dpi: text extents come out in points


# ------------------------------------------------------------------------------------------------
# Shared helpers (also used by the funnel and Baujat plots)
# ------------------------------------------------------------------------------------------------
def text_width(s: str, size: float = FONT_SIZE, bold: bool = False) -> float:
    """Width of ``s`` in inches when drawn in matplotlib's default font."""
    if not s:
        return 0.0
    prop = FontProperties(size=size, weight="bold" if bold else "normal")
    w, _, _ = _MEASURER.get_text_width_height_descent(s, prop, ismath=False)
    return float(w) / 72.0


def tick_label(v: float) -> str:
    """A short tick label: ``0.1``, ``2``, ``500``, ``0.002``."""
    if v == 0:
        return "0"
    s = f"{v:.6g}"
    if "e" in s:
        s = f"{v:.10f}".rstrip("0").rstrip(".")
    return s


def nice_log_ticks(lo: float, hi: float, max_ticks: int = 7) -> list[float]:
    """Natural-scale tick values (1-2-5 style) inside ``[lo, hi]`` for a log axis."""
    if not (lo > 0 and hi > lo):
        raise ValueError("a log axis needs 0 < lo < hi")
    mantissas = ((1.0,), (1.0, 5.0), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
                 (1.0, 1.1, 1.2, 1.5, 2.0, 3.0, 5.0, 7.0, 8.0, 9.0))
    e0, e1 = math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1
    best: list[float] = []
    for mant in mantissas:
        ticks = [m * 10.0**e for e in range(e0, e1 + 1) for m in mant]
        inside = (t for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9))
        ticks = sorted({float(f"{t:.6g}") for t in inside})
        if len(ticks) > max_ticks:
            break
        best = ticks
        if len(ticks) >= 4:
            break
    if len(best) < 2:
        best = [float(f"{lo:.2g}"), float(f"{hi:.2g}")]
    return best


def linear_ticks(lo: float, hi: float, nbins: int = 6) -> list[float]:
    """Round tick values inside ``[lo, hi]`` for a linear axis."""
    locator = MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10])
    eps = 1e-9 * (hi - lo)
    return [float(t) for t in locator.tick_values(lo, hi) if lo - eps <= t <= hi + eps]


def p_text(p: float) -> str:
    """A p-value as RevMan prints it.

    ``P < 0.00001``, ``P < 0.0001``, ``P = 0.0004``, ``P = 0.003``, ``P = 0.46``.
    """
    if p is None or not np.isfinite(p):
        return "P = NA"
    if p < 0.00001:
        return "P < 0.00001"
    if p < 0.0001:
        return "P < 0.0001"
    if p < 0.001:
        return f"P = {p:.4f}"
    if p < 0.01:
        return f"P = {p:.3f}"
    return f"P = {p:.2f}"


# ------------------------------------------------------------------------------------------------
# Subgroups
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubgroupResult:
    """A subgroup analysis for :func:`forest_plot`.

    Attributes
    ----------
    groups : mapping of str to MetaAnalysis
        One fitted model per subgroup, in the order the blocks are drawn.
    overall : MetaAnalysis, optional
        The model over all studies, drawn as the final "Total" diamond. When given, study
        weights are shown as percentages of this model (as RevMan does) and each subtotal's
        weight is the sum of its studies' weights.
    test : tuple of (float, int, float), optional
        The test for subgroup differences, ``(Q, df, p)``. When omitted it is computed from the
        subgroup estimates and standard errors (Cochran's Q of the subtotals, as RevMan).
    """

    groups: Mapping[str, MetaAnalysis]
    overall: MetaAnalysis | None = None
    test: tuple[float, int, float] | None = None

    def difference_test(self) -> tuple[float, int, float]:
        """``(Q, df, p)`` for subgroup differences: the given test, or Q of the subtotals."""
        if self.test is not None:
            q, df, p = self.test
            return float(q), int(df), float(p)
        q, df, p, _ = difference_test(list(self.groups.values()))
        return q, df, p


def _as_subgroups(subgroups: Any, fit: MetaAnalysis | None) -> SubgroupResult:
    if isinstance(subgroups, SubgroupResult):
        sg = subgroups
    elif isinstance(subgroups, Mapping):
        sg = SubgroupResult(dict(subgroups))
    elif isinstance(subgroups, SubgroupAnalysis):
        sg = SubgroupResult(dict(subgroups.groups), subgroups.overall,
                            (subgroups.q, subgroups.df, subgroups.p))
    else:
        raise TypeError("subgroups must be a SubgroupAnalysis, a SubgroupResult or a mapping of "
                        "subgroup name to MetaAnalysis")
    if not sg.groups:
        raise ValueError("subgroups has no groups")
    if sg.overall is None and fit is not None:
        sg = SubgroupResult(sg.groups, fit, sg.test)
    return sg


# ------------------------------------------------------------------------------------------------
# Scales
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Scale:
    """How analysis-scale values are shown: the graph's scale, the null, the transforms."""

    log: bool
    null: float
    study: Callable[[np.ndarray], np.ndarray]  # per-study values (aligned with the fit's studies)
    pooled: Callable[[np.ndarray], np.ndarray]  # pooled estimate, CI and PI
    bounded: tuple[float, float] | None = None  # natural limits (proportions, correlations)


def _identity(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _scale(fit: MetaAnalysis) -> _Scale:
    m = fit.measure
    if m in RATIO:
        return _Scale(True, 1.0, np.exp, np.exp)
    ni = fit.effects.arms.get("ni") if fit.effects is not None else None
    if m == "PFT":
        if ni is None or len(ni) != len(fit.yi):
            return _Scale(False, math.nan, _identity, _identity)
        sizes = np.asarray(ni, dtype=float)
        return _Scale(False, math.nan, lambda x: ipft(x, sizes), lambda x: ipft_hm(x, sizes),
                      (0.0, 1.0))
    bt = _back_transform(m) if m in ("PLO", "PAS", "ZCOR") else None
    if bt is not None:
        bounds = (-1.0, 1.0) if m == "ZCOR" else (0.0, 1.0)
        return _Scale(False, bt.null, bt.func, bt.func, bounds)
    if m == "PR":
        return _Scale(False, math.nan, _identity, _identity, (0.0, 1.0))
    if m == "COR":
        return _Scale(False, 0.0, _identity, _identity, (-1.0, 1.0))
    return _Scale(False, 0.0, _identity, _identity)


# ------------------------------------------------------------------------------------------------
# Table model
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Column:
    key: str
    top: str
    sub: str
    align: str  # "left", "right", "center"


@dataclass
class _Row:
    kind: str  # study, total, pi, events, heading, note, blank
    cells: dict[str, str] = field(default_factory=dict)
    span: str | None = None  # text running from the study column (headings, notes)
    bold: bool = False
    est: float = math.nan  # display scale
    lo: float = math.nan
    hi: float = math.nan
    weight: float = math.nan
    gid: str | None = None


def _family(fit: MetaAnalysis) -> str:
    arms = fit.effects.arms if fit.effects is not None else {}
    k = len(fit.yi)

    def has(*names: str) -> bool:
        return all(n in arms and len(arms[n]) == k for n in names)

    if fit.method == "PETO" or family(fit.measure) == "binary":
        if has("ai", "ci", "n1i", "n2i"):
            return "binary"
    if has("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"):
        return "continuous"
    if has("xi", "ni"):
        return "proportion"
    if has("ri", "ni") and family(fit.measure) == "correlation":  # not change scores' ri
        return "correlation"
    return "generic"


def _columns(family: str, fit: MetaAnalysis) -> list[_Column]:
    cols = [_Column("study", "", "Study or Subgroup", "left")]
    if family == "binary":
        for arm, grp in (("1", "Experimental"), ("2", "Control")):
            cols += [_Column("e" + arm, grp, "Events", "right"),
                     _Column("n" + arm, grp, "Total", "right")]
    elif family == "continuous":
        for arm, grp in (("1", "Experimental"), ("2", "Control")):
            cols += [_Column("m" + arm, grp, "Mean", "right"),
                     _Column("s" + arm, grp, "SD", "right"),
                     _Column("n" + arm, grp, "Total", "right")]
    elif family == "proportion":
        cols += [_Column("e1", "", "Events", "right"), _Column("n1", "", "Total", "right")]
    elif family == "correlation":
        cols += [_Column("r", "", "r", "right"), _Column("n1", "", "N", "right")]
    else:
        name = NAMES.get(fit.measure, fit.measure)
        head = f"log[{name}]" if fit.measure in RATIO else ("yi" if fit.measure == "GEN" else name)
        cols += [_Column("yi", "", head, "right"), _Column("se", "", "SE", "right")]
    cols += [_Column("weight", "", "Weight", "right"),
             _Column("ci", _effect_name(fit), _method_text(fit), "center")]
    return cols


def _effect_name(fit: MetaAnalysis) -> str:
    if fit.method == "PETO":
        return "Peto Odds Ratio"
    return NAMES.get(fit.measure, fit.measure)


def _method_text(fit: MetaAnalysis) -> str:
    how = "IV" if fit.is_inverse_variance else {"MH": "M-H", "PETO": "Peto"}[fit.method]
    return f"{how}, {'Random' if fit.is_random else 'Fixed'}, {fit.level:g}% CI"


def _ci_text(est: float, lo: float, hi: float) -> str:
    return f"{figure_estimate(est)} [{figure_estimate(lo)}, {figure_estimate(hi)}]"


def _tau2_text(t2: float) -> str:
    if 0 < t2 < 0.005:
        return f"{t2:.2g}"
    return figure_estimate(t2)


def heterogeneity_text(fit: MetaAnalysis) -> str:
    """RevMan's heterogeneity line, e.g. ``Heterogeneity: Tau² = 0.31; Chi² = 152.23, df = 12
    (P < 0.00001); I² = 92%``."""
    if fit.q_df < 1:
        return "Heterogeneity: Not applicable"
    tau = f"Tau² = {_tau2_text(fit.tau2)}; " if fit.is_random else ""
    return (f"Heterogeneity: {tau}Chi² = {fit.q:.2f}, df = {fit.q_df} ({p_text(fit.q_p)}); "
            f"I² = {fit.i2:.0f}%")


def overall_effect_text(fit: MetaAnalysis) -> str:
    """RevMan's test for the overall effect: ``Z = 3.97 (P < 0.0001)``, or t with its df."""
    if fit.stat_name == "t":
        df = fit.df if fit.df is not None else fit.k - 1
        return f"Test for overall effect: t = {abs(fit.stat):.2f}, df = {df} ({p_text(fit.p)})"
    return f"Test for overall effect: Z = {abs(fit.stat):.2f} ({p_text(fit.p)})"


def subgroup_difference_text(q: float, df: int, p: float) -> str:
    """RevMan's line: ``Test for subgroup differences: Chi² = 1.86, df = 2 (P = 0.39), I² = 0%``."""
    i2 = max(0.0, 100.0 * (q - df) / q) if q > 0 else 0.0
    return (f"Test for subgroup differences: Chi² = {q:.2f}, df = {df} ({p_text(p)}), "
            f"I² = {i2:.1f}%").replace(".0%", "%")


_SORTS = ("effect", "weight", "precision", "study")


def _order(fit: MetaAnalysis, weights: np.ndarray, sort: str | None) -> np.ndarray:
    k = len(fit.yi)
    if sort is None:
        return np.arange(k)
    key = sort.lstrip("-")
    if key not in _SORTS:
        raise ValueError(f"sort must be None or one of {', '.join(_SORTS)} (prefix '-' to "
                         f"reverse), not {sort!r}")
    values: Any = {
        "effect": fit.yi,
        "weight": weights,
        "precision": fit.vi,
        "study": np.array([s.lower() for s in fit.study]),
    }[key]
    order = np.argsort(values, kind="stable")
    return order[::-1] if sort.startswith("-") else order


def _study_rows(fit: MetaAnalysis, family: str, weights: np.ndarray, sort: str | None,
                scale: _Scale, crit: float) -> list[_Row]:
    yi, sei = np.asarray(fit.yi, dtype=float), np.sqrt(np.asarray(fit.vi, dtype=float))
    est, lo, hi = (scale.study(v) for v in (yi, yi - crit * sei, yi + crit * sei))
    arms = fit.effects.arms if fit.effects is not None else {}
    rows = []
    for i in _order(fit, weights, sort):
        cells = {"study": str(fit.study[i]), "weight": f"{weights[i]:.1f}%",
                 "ci": _ci_text(est[i], lo[i], hi[i])}
        if family == "binary":
            cells.update(e1=figure_data(arms["ai"][i]), n1=figure_data(arms["n1i"][i]),
                         e2=figure_data(arms["ci"][i]), n2=figure_data(arms["n2i"][i]))
        elif family == "continuous":
            for a in ("1", "2"):
                cells["m" + a] = figure_data(arms[f"m{a}i"][i])
                cells["s" + a] = figure_data(arms[f"sd{a}i"][i])
                cells["n" + a] = figure_data(arms[f"n{a}i"][i])
        elif family == "proportion":
            cells.update(e1=figure_data(arms["xi"][i]), n1=figure_data(arms["ni"][i]))
        elif family == "correlation":
            cells.update(r=figure_data(arms["ri"][i]), n1=figure_data(arms["ni"][i]))
        else:
            cells.update(yi=f"{yi[i]:.4f}", se=f"{sei[i]:.4f}")
        rows.append(_Row("study", cells, est=float(est[i]), lo=float(lo[i]), hi=float(hi[i]),
                         weight=float(weights[i])))
    return rows


def _summary_rows(fit: MetaAnalysis, family: str, label: str, weight: float, gid: str,
                  scale: _Scale) -> list[_Row]:
    est, lo, hi, plo, phi = scale.pooled(
        np.array([fit.estimate, fit.ci_low, fit.ci_high, fit.pi_low, fit.pi_high], dtype=float))
    arms = fit.effects.arms if fit.effects is not None else {}
    cells = {"study": f"{label} ({fit.level:g}% CI)", "weight": f"{weight:.1f}%",
             "ci": _ci_text(est, lo, hi)}
    if family in ("binary", "continuous"):
        cells.update(n1=figure_data(np.sum(arms["n1i"])), n2=figure_data(np.sum(arms["n2i"])))
    elif family in ("proportion", "correlation"):
        cells.update(n1=figure_data(np.sum(arms["ni"])))
    rows = [_Row("total", cells, bold=True, est=float(est), lo=float(lo), hi=float(hi),
                 gid=gid)]
    if fit.is_random and np.isfinite(fit.pi_low) and np.isfinite(fit.pi_high) and fit.k >= 3:
        cells = {"study": "Prediction interval",
                 "ci": f"[{figure_estimate(plo)}, {figure_estimate(phi)}]"}
        rows.append(_Row("pi", cells, lo=float(plo), hi=float(phi),
                         gid="pi:" + gid.split(":", 1)[1]))
    if family == "binary":
        rows.append(_Row("events", {"study": "Total events", "e1": figure_data(np.sum(arms["ai"])),
                                    "e2": figure_data(np.sum(arms["ci"]))}))
    elif family == "proportion":
        rows.append(_Row("events", {"study": "Total events",
                                    "e1": figure_data(np.sum(arms["xi"]))}))
    return rows


def _match_weights(overall: MetaAnalysis, fits: Sequence[MetaAnalysis]) -> list[np.ndarray] | None:
    """The overall model's weights for each subgroup's studies, or None if labels do not match."""
    labels = list(overall.study)
    if len(set(labels)) != len(labels):
        return None
    pos = {s: i for i, s in enumerate(labels)}
    out = []
    seen = 0
    for f in fits:
        if any(s not in pos for s in f.study):
            return None
        out.append(np.array([overall.weights[pos[s]] for s in f.study], dtype=float))
        seen += len(f.study)
    return out if seen == len(labels) else None


# ------------------------------------------------------------------------------------------------
# Axis range and ticks
# ------------------------------------------------------------------------------------------------
_LOG_SCALES = (
    (1.2, (0.85, 0.9, 1, 1.1, 1.2)),
    (2, (0.5, 0.7, 1, 1.5, 2)),
    (5, (0.2, 0.5, 1, 2, 5)),
    (10, (0.1, 0.2, 0.5, 1, 2, 5, 10)),
    (20, (0.05, 0.2, 1, 5, 20)),
    (100, (0.01, 0.1, 1, 10, 100)),
    (500, (0.002, 0.1, 1, 10, 500)),
    (1000, (0.001, 0.1, 1, 10, 1000)),
)


def _axis(rows: list[_Row], scale: _Scale,
          xlim: tuple[float, float] | None) -> tuple[tuple[float, float], list[float]]:
    """The graph's limits and ticks, on the display scale."""
    if xlim is not None:
        lo, hi = (float(v) for v in xlim)
        if not hi > lo or (scale.log and lo <= 0):
            cond = " and low > 0" if scale.log else ""
            raise ValueError(f"xlim must be (low, high) with low < high{cond} on the natural "
                             f"scale; got {xlim!r}")
        if scale.log:
            return (lo, hi), nice_log_ticks(lo, hi)
        return (lo, hi), linear_ticks(lo, hi, 6)
    must = [r.est for r in rows if r.kind in ("study", "total")]
    must += [v for r in rows if r.kind in ("total", "pi") for v in (r.lo, r.hi)]
    bounds = [v for r in rows if r.kind == "study" for v in (r.lo, r.hi)]

    def spread(vals: list[float]) -> np.ndarray:
        a = np.asarray([v for v in vals if np.isfinite(v)], dtype=float)
        if scale.log:
            a = a[a > 0]
            return np.abs(np.log(a))
        return np.abs(a - scale.null) if np.isfinite(scale.null) else a

    if scale.log:
        need = max(float(spread(must).max(initial=0.0)),
                   float(np.quantile(spread(bounds), 0.8)) if bounds else 0.0)
        for lim, ticks in _LOG_SCALES:
            if math.log(lim) >= need * (1 - 1e-9):
                return (1.0 / lim, float(lim)), [float(t) for t in ticks]
        lim, ticks = _LOG_SCALES[-1]
        return (1.0 / lim, float(lim)), [float(t) for t in ticks]
    vals = np.asarray([v for v in must + bounds if np.isfinite(v)], dtype=float)
    if not np.isfinite(scale.null):  # proportions: a plain range, rounded to tenths
        a = vals if len(vals) else np.array([0.0, 1.0])
        lo, hi = math.floor(a.min() * 10) / 10, math.ceil(a.max() * 10) / 10
        if scale.bounded is not None:
            lo, hi = max(lo, scale.bounded[0]), min(hi, scale.bounded[1])
        if hi - lo < 0.1:
            lo, hi = max(0.0, lo - 0.1), min(1.0, hi + 0.1)
        return (lo, hi), linear_ticks(lo, hi, 5)
    need = max(float(spread(must).max(initial=0.0)),
               float(np.quantile(spread(bounds), 0.8)) if bounds else 0.0)
    if need <= 0:
        need = 1.0
    # RevMan-like symmetric scales: -1 … 1, -2 … 2, -4 … 4, -10 … 10, -20 … 20, …
    lim = next(m * 10.0**e for e in range(math.floor(math.log10(need)), 99) for m in (1, 2, 4)
               if m * 10.0**e >= need * (1 - 1e-9))
    if scale.bounded is not None:
        lim = min(lim, scale.bounded[1] - scale.null)
    n = scale.null
    return (n - lim, n + lim), [n - lim, n - lim / 2, n, n + lim / 2, n + lim]


# ------------------------------------------------------------------------------------------------
# The plot
# ------------------------------------------------------------------------------------------------
def forest_plot(
    fit: MetaAnalysis | None,
    path: str | PathLike[str] | None = None,
    *,
    subgroups: SubgroupResult | Mapping[str, MetaAnalysis] | None = None,
    favours: tuple[str, str] = DEFAULT_FAVOURS,
    title: str | None = None,
    sort: str | None = None,
    xlim: tuple[float, float] | None = None,
    pooled: bool = True,
) -> Figure:
    """Draw a forest plot in RevMan's layout.

    Parameters
    ----------
    fit : MetaAnalysis or None
        An intercept-only model (any method, including ``MH`` and ``PETO``). With
        ``subgroups`` it is the overall model (may be None to draw subgroups only).
    path : str or path-like, optional
        Where to write the figure; ``.svg``, ``.png`` or ``.pdf``.
    subgroups : SubgroupResult or mapping of str to MetaAnalysis, optional
        Subgroup fits, each drawn as a block with its subtotal diamond and heterogeneity lines,
        followed by the overall diamond (``subgroups.overall``, else ``fit``) and the test for
        subgroup differences. A plain mapping means no overall model beyond ``fit``.
    favours : tuple of str
        Labels written under the axis, left and right of the null line. Never drawn for
        measures without a null value (single proportions); the default labels are also left
        out for correlations, which have no experimental and control groups.
    title : str, optional
        Drawn above the table.
    sort : str, optional
        Study order: ``"effect"``, ``"weight"``, ``"precision"`` (smallest variance first) or
        ``"study"`` (label); prefix ``"-"`` to reverse. Default: the order of the data. With
        subgroups, studies are sorted within each block.
    xlim : tuple of float, optional
        Limits of the graph on the natural scale (e.g. ``(0.01, 100)`` for a ratio). Whiskers
        reaching beyond them end in arrows. Default: RevMan's symmetric scales (``0.1 … 10``,
        ``0.2 … 5`` and the like) chosen to show every estimate and pooled interval.
    pooled : bool
        False draws the studies only (no weights, diamond, heterogeneity or overall test), for
        studies shown without a pooled estimate; not with ``subgroups``.

    Returns
    -------
    matplotlib.figure.Figure
        Not registered with pyplot; ``fig.savefig`` works, and notebooks display it.

    Notes
    -----
    Study confidence intervals use the normal quantile for the fit's level, pooled intervals
    are the fit's own (t-based for ``t``/``knha`` tests). Ratio measures are drawn on a log axis
    and written on the natural scale; ``PLO``, ``PAS`` and ``PFT`` proportions and ``ZCOR``
    correlations are back-transformed (per-study ``PFT`` values use each study's own sample
    size, pooled values the harmonic mean, as metafor's ``transf.ipft.hm``). Squares have areas
    proportional to the study weights; the prediction interval (random-effects models with at
    least three studies) is drawn as a bar in its own row under the diamond.
    """
    if not pooled and subgroups is not None:
        raise ValueError("pooled=False draws studies only; it takes no subgroups")
    sg = _as_subgroups(subgroups, fit) if subgroups is not None else None
    overall = sg.overall if sg is not None else fit
    fits = list(sg.groups.values()) if sg is not None else []
    if overall is None and not fits:
        raise ValueError("forest_plot needs a fit or subgroups")
    first = fits[0] if fits else overall
    assert first is not None
    for f in [*fits, *([overall] if overall is not None else [])]:
        if not f.intercept_only:
            raise ValueError("forest_plot draws intercept-only models; this fit has moderators "
                             f"({', '.join(f.coef_names[1:])})")
        if f.measure != first.measure:
            raise ValueError(f"subgroup fits mix measures {first.measure} and {f.measure}")
    family = _family(first)
    if any(_family(f) != family for f in fits):
        family = "generic"
    columns = _columns(family, first)
    crit = float(stats.norm.isf((1 - first.level / 100) / 2))

    # ---- rows ----------------------------------------------------------------------------
    rows: list[_Row] = []
    footer: list[str] = []
    if sg is None:
        assert overall is not None
        scale = _scale(overall)
        rows += _study_rows(overall, family, np.asarray(overall.weights, float), sort, scale, crit)
        if pooled:
            rows += _summary_rows(overall, family, "Total", 100.0, "diamond:Total", scale)
            footer = [heterogeneity_text(overall), overall_effect_text(overall)]
        else:
            # No pooled result: no weight column, and the CI header names no model.
            columns = [c for c in columns if c.key != "weight"]
            columns[-1] = _Column("ci", columns[-1].top, f"{first.level:g}% CI", "center")
            footer = ["Not pooled: each study's own estimate"]
    else:
        matched = _match_weights(overall, fits) if overall is not None else None
        for i, (name, f) in enumerate(sg.groups.items()):
            s = _scale(f)
            w = matched[i] if matched is not None else np.asarray(f.weights, dtype=float)
            rows.append(_Row("heading", span=str(name), bold=True))
            rows += _study_rows(f, family, w, sort, s, crit)
            rows += _summary_rows(f, family, "Subtotal", float(np.sum(w)), f"diamond:{name}", s)
            rows.append(_Row("note", span=heterogeneity_text(f)))
            rows.append(_Row("note", span=overall_effect_text(f)))
            rows.append(_Row("blank"))
        if overall is not None:
            rows += _summary_rows(overall, family, "Total", 100.0, "diamond:Total",
                                  _scale(overall))
            footer = [heterogeneity_text(overall), overall_effect_text(overall)]
        footer.append(subgroup_difference_text(*sg.difference_test()))
    scale = _scale(overall if overall is not None else first)
    (xlo, xhi), ticks = _axis(rows, scale, xlim)

    # One group's quantity or an association has no side to favour (GEN may be comparative).
    if (favours is DEFAULT_FAVOURS and first.measure != "GEN"
            and not is_comparative(first.measure)):
        favours = ("", "")
    return _draw(rows, columns, footer, scale, (xlo, xhi), ticks, favours, title, path, first)


def _shorten(s: str, width: float, bold: bool = False) -> str:
    if text_width(s, bold=bold) <= width:
        return s
    lo, hi = 0, len(s)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width(s[:mid].rstrip() + "…", bold=bold) <= width:
            lo = mid
        else:
            hi = mid - 1
    return s[:lo].rstrip() + "…"


def _draw(rows: list[_Row], columns: list[_Column], footer: list[str], scale: _Scale,
          xlim: tuple[float, float], ticks: list[float], favours: tuple[str, str],
          title: str | None, path: str | PathLike[str] | None, fit: MetaAnalysis) -> Figure:
    # Shorten over-long labels, then size the columns to their contents.
    for r in rows:
        if r.kind == "study":
            r.cells["study"] = _shorten(r.cells["study"], MAX_LABEL_WIDTH)
        if r.span is not None and r.kind == "heading":
            r.span = _shorten(r.span, MAX_LABEL_WIDTH, bold=True)
    widths = {}
    for c in columns:
        texts = [text_width(c.sub, bold=True)]
        texts += [text_width(r.cells.get(c.key, ""), bold=r.bold) for r in rows]
        widths[c.key] = max(texts) + PAD
    # Spanning headers ("Experimental" over Events/Total) must fit over their columns.
    i = 0
    while i < len(columns):
        j = i
        while j + 1 < len(columns) and columns[j + 1].top == columns[i].top and columns[i].top:
            j += 1
        if columns[i].top:
            need = text_width(columns[i].top, bold=True) + PAD
            have = sum(widths[c.key] for c in columns[i:j + 1])
            if need > have:
                for c in columns[i:j + 1]:
                    widths[c.key] += (need - have) / (j - i + 1)
        i = j + 1
    # Notes and the footer run from the study column up to the graph: widen the study column.
    # The first tick label reaches left of the graph, at the footer's height.
    labels = [tick_label(t) for t in ticks] or [""]
    left = sum(widths.values())
    long_text = max([text_width(r.span or "", bold=r.bold) for r in rows] +
                    [text_width(s) + text_width(labels[0]) / 2 for s in footer] + [0.0]) + PAD
    if long_text > left:
        widths["study"] += long_text - left
        left = long_text
    graph_top = _effect_name(fit)
    graph_sub = next(c.sub for c in columns if c.key == "ci")  # the model, or CI only
    graph_w = max(GRAPH_WIDTH, text_width(graph_top, bold=True) + PAD,
                  text_width(graph_sub, bold=True) + PAD)
    # Room for both favours labels side by side under the axis.
    xlo, xhi = xlim
    show_favours = bool(np.isfinite(scale.null) and xlo < scale.null < xhi and any(favours))
    gap = 6 / 72
    if show_favours:
        graph_w = max(graph_w, text_width(favours[0]) + text_width(favours[1]) + 3 * gap)
    right_margin = MARGIN + text_width(labels[-1]) / 2
    width = MARGIN + left + graph_w + right_margin

    # Vertical layout, in rows from the top.
    title_rows = 1.6 if title else 0.3
    head_top = title_rows
    body_top = head_top + 2.4
    body_bottom = body_top + len(rows)
    axis_y = body_bottom + 0.2
    footer_rows = max(len(footer) + 0.4, 2.6) + 0.6
    total_rows = axis_y + footer_rows
    fig = new_figure(width, total_rows * ROW)

    table = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    table.set_xlim(0, width)
    table.set_ylim(total_rows, 0)
    table.set_axis_off()
    table.set_gid("forest-table")

    def put(x: float, y: float, s: str, ha: str = "left", bold: bool = False,
            gid: str | None = None, size: float = FONT_SIZE) -> None:
        t = table.text(x, y, s, ha=ha, va="center", fontsize=size,
                       fontweight="bold" if bold else "normal", parse_math=False)
        if gid:
            t.set_gid(gid)

    if title:
        put(MARGIN, title_rows / 2, title, bold=True, size=FONT_SIZE + 2, gid="title")

    # Column positions; the graph column follows the table columns.
    xs: dict[str, float] = {}
    x = MARGIN
    for c in columns:
        xs[c.key] = x
        x += widths[c.key]
    graph_x = x

    def anchor(c: _Column) -> tuple[float, str]:
        x0, w = xs[c.key], widths[c.key]
        if c.align == "left":
            return x0, "left"
        if c.align == "right":
            return x0 + w - PAD / 2, "right"
        return x0 + w / 2, "center"

    # Headers: spanning group names, then column names.
    y_top, y_sub = head_top + 0.6, head_top + 1.6
    done: set[str] = set()
    for c in columns:
        if c.top and c.top not in done:
            done.add(c.top)
            span = [d for d in columns if d.top == c.top]
            x0 = xs[span[0].key]
            x1 = xs[span[-1].key] + widths[span[-1].key]
            put((x0 + x1) / 2 + (PAD / 4 if c.key != "ci" else 0), y_top, c.top, "center", True)
            if c.key != "ci" and len(span) > 1:
                table.plot([x0 + PAD / 2, x1], [y_top + 0.45] * 2, color=INK, lw=0.5)
        xa, ha = anchor(c)
        put(xa, y_sub, c.sub, ha, True)
    put(graph_x + graph_w / 2, y_top, graph_top, "center", True)
    put(graph_x + graph_w / 2, y_sub, graph_sub, "center", True)
    table.plot([MARGIN, graph_x + graph_w], [body_top - 0.3] * 2, color=INK, lw=0.8)

    # Body text.
    for i, r in enumerate(rows):
        y = body_top + i + 0.5
        if r.span is not None:
            put(xs["study"], y, r.span, "left", r.bold)
        for c in columns:
            s = r.cells.get(c.key)
            if s:
                xa, ha = anchor(c)
                put(xa, y, s, ha, r.bold and r.kind == "total")

    # Footer lines, left, from the axis level down (as RevMan).
    for j, s in enumerate(footer):
        put(xs["study"], axis_y + 0.55 + j, s, "left", gid=f"footer-{j}")

    # ---- graph column ---------------------------------------------------------------------
    ax = fig.add_axes((graph_x / width, 1 - axis_y / total_rows, graph_w / width,
                       (axis_y - body_top + 0.3) / total_rows))
    ax.set_gid("forest-graph")
    ax.set_facecolor("none")
    if scale.log:
        ax.set_xscale("log")
    ax.set_xlim(xlo, xhi)
    ax.set_ylim(axis_y, body_top - 0.3)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: tick_label(v)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.tick_params(axis="x", labelsize=FONT_SIZE, length=3, width=0.6, pad=2)
    ax.yaxis.set_visible(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_linewidth(0.6)
    if np.isfinite(scale.null) and xlo < scale.null < xhi:
        ax.axvline(scale.null, color=INK, lw=0.6, zorder=1)

    row_pts = ROW * 72
    studies = [(body_top + i + 0.5, r) for i, r in enumerate(rows) if r.kind == "study"]
    wmax = max([r.weight for _, r in studies if np.isfinite(r.weight)] + [0.0])
    big, small = (0.8 * row_pts) ** 2, 4.0
    sx, sy, ss = [], [], []
    for y, r in studies:
        _whisker(ax, r.lo, r.hi, y, xlo, xhi, lw=0.8)
        if _inside(r.est, xlo, xhi, scale.log):
            w = r.weight if np.isfinite(r.weight) and wmax > 0 else 0.0
            sx.append(r.est)
            sy.append(y)
            ss.append(small + (big - small) * w / wmax if wmax > 0 else small)
    squares = ax.scatter(sx, sy, s=ss, marker="s", color=SQUARE, linewidths=0, zorder=3,
                         clip_on=False)
    squares.set_gid("study-squares")
    squares.set_label("study squares")

    for i, r in enumerate(rows):
        y = body_top + i + 0.5
        if r.kind == "total" and np.isfinite(r.est):
            h = 0.36
            diamond = Polygon([(r.lo, y), (r.est, y - h), (r.hi, y), (r.est, y + h)],
                              closed=True, facecolor=INK, edgecolor=INK, lw=0.6, zorder=4)
            diamond.set_gid(r.gid)
            diamond.set_label(r.gid)
            ax.add_patch(diamond)
            if r.hi < xlo or r.lo > xhi:  # wholly off the axis: point to it
                edge, mark = (xlo, "<") if r.hi < xlo else (xhi, ">")
                ax.plot([edge], [y], marker=mark, ms=7, color=INK, clip_on=False, zorder=4)
        elif r.kind == "pi":
            line = _whisker(ax, r.lo, r.hi, y, xlo, xhi, lw=1.6, caps=True)
            if line is not None:
                line.set_gid(r.gid)
                line.set_label(r.gid)

    if show_favours:
        for (start, s), ha in zip(_favours_positions(favours, scale, xlim, graph_w, gap),
                                  ("right", "left"), strict=True):
            if s:
                put(graph_x + start, axis_y + 2.1, s, "left", gid=f"favours-{ha}")

    save_figure(fig, path)
    return fig


def _favours_positions(favours: tuple[str, str], scale: _Scale, xlim: tuple[float, float],
                       graph_w: float, gap: float) -> list[tuple[float, str]]:
    """Left edges (inches from the graph's left) of the two favours labels.

    Each label sits on its side of the null line; when the null is near an end of the axis,
    the labels slide along so that both stay under the axis without overlapping.
    """
    xlo, xhi = xlim
    f = (math.log(scale.null / xlo) / math.log(xhi / xlo) if scale.log
         else (scale.null - xlo) / (xhi - xlo))
    pn = f * graph_w
    wl, wr = text_width(favours[0]), text_width(favours[1])
    left_end = max(pn - gap, wl)
    right_start = min(max(pn + gap, left_end + gap), graph_w - wr)
    left_end = min(left_end, right_start - gap)
    return [(left_end - wl, favours[0]), (right_start, favours[1])]


def _inside(v: float, lo: float, hi: float, log: bool) -> bool:
    """Whether ``v`` lies within the axis, allowing half a percent of its span for rounding."""
    if not np.isfinite(v) or (log and v <= 0):
        return False
    if log:
        v, lo, hi = math.log(v), math.log(lo), math.log(hi)
    tol = 0.005 * (hi - lo)
    return lo - tol <= v <= hi + tol


def _whisker(ax: Any, lo: float, hi: float, y: float, xlo: float, xhi: float, lw: float,
             caps: bool = False) -> Line2D | None:
    """A horizontal interval, clipped to the axis with an arrowhead where it runs off."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    a, b = max(lo, xlo), min(hi, xhi)
    line = None
    if a < b:
        (line,) = ax.plot([a, b], [y, y], color=INK, lw=lw, solid_capstyle="butt", zorder=2)
    elif hi < xlo:
        a = b = xlo
    elif lo > xhi:
        a = b = xhi
    if lo < xlo:
        ax.plot([xlo], [y], marker="<", ms=4, color=INK, clip_on=False, zorder=2)
    elif caps:
        ax.plot([a], [y], marker="|", ms=6, mew=lw * 0.8, color=INK, zorder=2)
    if hi > xhi:
        ax.plot([xhi], [y], marker=">", ms=4, color=INK, clip_on=False, zorder=2)
    elif caps:
        ax.plot([b], [y], marker="|", ms=6, mew=lw * 0.8, color=INK, zorder=2)
    return line
