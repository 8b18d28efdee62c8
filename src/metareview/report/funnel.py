"""Contour-enhanced funnel plots (Peters et al. 2008, J Clin Epidemiol 61:991).

Effect sizes (analysis scale) against their standard errors, the most precise studies at the
top. Shaded regions mark where a study's own two-sided test against the null (0 on the analysis
scale) would be significant at the given levels, as metafor's
``funnel(res, level = c(90, 95, 99), shade = c("white", "gray55", "gray75"), refline = 0)``;
the pooled estimate is drawn with its pseudo confidence-interval funnel.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Polygon, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator
from scipy import stats

from metareview.effects.measures import LABELS, PROPORTION, RATIO
from metareview.models.rma import MetaAnalysis
from metareview.report.forest import new_figure, nice_log_ticks, save_figure, tick_label

__all__ = ["funnel_plot"]

FONT_SIZE = 9.0


def _filled(trimfill: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(yi, vi)`` of trim-and-fill's imputed studies from a pair, a mapping or an object."""
    if isinstance(trimfill, Mapping):
        yi, vi = trimfill["yi"], trimfill["vi"]
    elif hasattr(trimfill, "yi") and hasattr(trimfill, "vi"):
        yi, vi = trimfill.yi, trimfill.vi
    elif isinstance(trimfill, Sequence) and len(trimfill) == 2:
        yi, vi = trimfill
    else:
        raise TypeError("trimfill must be (yi, vi), a mapping with keys 'yi' and 'vi', or an "
                        "object with yi and vi attributes")
    yi = np.atleast_1d(np.asarray(yi, dtype=float))
    vi = np.atleast_1d(np.asarray(vi, dtype=float))
    if yi.shape != vi.shape:
        raise ValueError(f"trimfill yi and vi differ in length ({len(yi)} and {len(vi)})")
    if not (np.all(np.isfinite(yi)) and np.all(vi > 0)):
        raise ValueError("trimfill yi must be finite and vi positive")
    return yi, vi


def _p_label(lo: float, hi: float) -> str:
    if hi >= 1:
        return f"p > {lo:.2f}"
    if lo <= 0:
        return f"p ≤ {hi:.2f}"
    return f"{lo:.2f} < p ≤ {hi:.2f}"


def funnel_plot(
    fit: MetaAnalysis,
    path: str | PathLike[str] | None = None,
    *,
    contours: Sequence[float] = (0.90, 0.95, 0.99),
    trimfill: Any = None,
) -> Figure:
    """Draw a contour-enhanced funnel plot.

    Parameters
    ----------
    fit : MetaAnalysis
        An intercept-only model; its ``yi`` and ``vi`` are plotted (for Peto fits, the Peto
        log odds ratios).
    path : str or path-like, optional
        Where to write the figure; ``.svg``, ``.png`` or ``.pdf``.
    contours : sequence of float
        Confidence levels (as fractions, e.g. ``0.95``, or percents, e.g. ``95``) whose
        significance contours around the null are shaded. Empty for a plain funnel plot.
        Single proportions have no null value, so their plot has no contours.
    trimfill : optional
        Studies imputed by trim-and-fill, drawn as open circles: a pair ``(yi, vi)``, a mapping
        with keys ``"yi"`` and ``"vi"``, or any object with ``yi`` and ``vi`` attributes,
        holding the filled studies only.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The x axis is the analysis scale; for ratio measures it is labelled with natural-scale
    values (0.1, 0.2, 0.5, 1, 2 …) placed at their logarithms. The y axis is the standard error,
    0 at the top. The shades follow metafor: white where p > 0.10, then gray steps from dark to
    light outward, the lightest where p ≤ 0.01. The dashed lines are the pseudo confidence
    interval ``estimate ± z * SE`` at the fit's level.
    """
    if not fit.intercept_only:
        raise ValueError("funnel_plot draws intercept-only models; this fit has moderators")
    levels = sorted(float(c) / 100 if c > 1 else float(c) for c in contours)
    if any(not 0 < c < 1 for c in levels):
        raise ValueError(f"contour levels must lie strictly between 0 and 1 (or 0 and 100); "
                         f"got {tuple(contours)!r}")
    if fit.measure in PROPORTION:
        levels = []
    yi = np.asarray(fit.yi, dtype=float)
    sei = np.sqrt(np.asarray(fit.vi, dtype=float))
    fy, fse = (np.zeros(0), np.zeros(0))
    if trimfill is not None:
        fy, fv = _filled(trimfill)
        fse = np.sqrt(fv)
    all_se = np.concatenate([sei, fse])
    ymax = float(np.max(all_se)) * 1.08 if len(all_se) and np.max(all_se) > 0 else 1.0
    zci = float(stats.norm.isf((1 - fit.level / 100) / 2))
    est = fit.estimate

    xs = np.concatenate([yi, fy, [est - zci * ymax, est + zci * ymax]])
    if levels:
        xs = np.append(xs, 0.0)
    xlo, xhi = float(np.min(xs)), float(np.max(xs))
    pad = 0.06 * (xhi - xlo if xhi > xlo else 1.0)
    xlo, xhi = xlo - pad, xhi + pad

    fig = new_figure(6.6, 4.6)
    ax = fig.add_axes((0.1, 0.12, 0.62, 0.82))
    ax.set_gid("funnel")
    ax.set_xlim(xlo, xhi)
    ax.set_ylim(ymax, 0)

    handles: list[Any] = []
    if levels:
        z = [float(stats.norm.isf((1 - c) / 2)) for c in levels]
        n = len(levels)
        shades = [str(g) for g in np.linspace(0.55, 0.90, n)] if n > 1 else ["0.75"]
        fills = ["white", *shades]  # region i lies between contour i-1 and contour i
        cuts = [1.0, *[1 - c for c in levels], 0.0]  # p-values bounding each region
        ax.add_patch(Rectangle((xlo, 0), xhi - xlo, ymax, facecolor=fills[-1], edgecolor="none",
                               zorder=0, gid="contour-region-outer"))
        for i in range(n - 1, -1, -1):
            half = z[i] * ymax
            tri = Polygon([(0, 0), (-half, ymax), (half, ymax)], closed=True,
                          facecolor=fills[i], edgecolor="none", zorder=0)
            tri.set_gid(f"contour-{levels[i]:g}")
            ax.add_patch(tri)
        for i in range(n + 1):
            handles.append(Patch(facecolor=fills[i], edgecolor="0.4", lw=0.5,
                                 label=_p_label(cuts[i + 1], cuts[i])))
        ax.axvline(0.0, color="0.3", lw=0.6, zorder=1)

    se_line = np.array([0.0, ymax])
    (pooled,) = ax.plot([est, est], se_line, color="black", lw=1.0, zorder=2,
                        label="Pooled estimate")
    (ci,) = ax.plot(est - zci * se_line, se_line, color="black", lw=0.8, ls="--", zorder=2,
                    label=f"Pseudo {fit.level:g}% CI")
    ax.plot(est + zci * se_line, se_line, color="black", lw=0.8, ls="--", zorder=2)
    pts = ax.scatter(yi, sei, s=28, facecolor="black", edgecolor="black", lw=0.8, zorder=4,
                     label="Studies", clip_on=False)
    pts.set_gid("studies")
    handles += [pts]
    if len(fy):
        filled = ax.scatter(fy, fse, s=28, facecolor="white", edgecolor="black", lw=0.9,
                            zorder=4, label="Filled studies", clip_on=False)
        filled.set_gid("filled-studies")
        handles.append(filled)
    handles += [pooled, ci]

    label = LABELS.get(fit.measure, fit.measure)
    if fit.method == "PETO":
        label = "Peto odds ratio"
    if fit.measure in RATIO or fit.method == "PETO":
        ticks = nice_log_ticks(math.exp(xlo), math.exp(xhi), max_ticks=8)
        ax.xaxis.set_major_locator(FixedLocator([math.log(t) for t in ticks]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: tick_label(math.exp(v))))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel(f"{label} (log scale)", fontsize=FONT_SIZE)
    else:
        ax.set_xlabel(label, fontsize=FONT_SIZE)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.set_ylabel("Standard error", fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE - 1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    legend = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.03, 1.0),
                       fontsize=FONT_SIZE - 1, frameon=False, borderaxespad=0)
    legend.set_gid("legend")
    save_figure(fig, path)
    return fig
