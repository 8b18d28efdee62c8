"""Baujat plots (Baujat et al. 2002, Stat Med 21:2641).

Each study's contribution to the overall heterogeneity (x) against its influence on the pooled
result (y), as metafor's ``baujat()``. The coordinates are computed elsewhere; this module only
draws them, placing each study label next to its point where it overlaps nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from os import PathLike

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import offset_copy

from metareview._util.figures import new_figure, save_figure

__all__ = ["baujat_plot"]

FONT_SIZE = 8.0
#: Directions tried for a label, right first, then round the compass in 22.5 degree steps.
_DIRECTIONS = tuple(
    (round(math.cos(math.radians(a)), 3), round(math.sin(math.radians(a)), 3))
    for a in (0, 45, -45, 90, -90, 180, 135, -135, 22.5, -22.5, 67.5, -67.5, 112.5, -112.5,
              157.5, -157.5)
)
#: Distances from the point, in points; beyond the first, a leader line joins label and point.
_RADII = (6.0, 14.0, 24.0, 36.0, 50.0, 66.0, 84.0, 105.0, 130.0, 160.0)
#: Above this many studies, labels are not moved far away on leader lines.
MAX_LEADERS = 40


def baujat_plot(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    labels: Sequence[str],
    path: str | PathLike[str] | None = None,
) -> Figure:
    """Draw a Baujat plot from precomputed coordinates.

    Parameters
    ----------
    x : array_like
        Each study's contribution to the overall heterogeneity statistic Q.
    y : array_like
        Each study's influence on the overall result (e.g. the squared standardised change in
        the pooled estimate when the study is left out).
    labels : sequence of str
        Study labels, aligned with ``x`` and ``y``; each is written next to its point.
    path : str or path-like, optional
        Where to write the figure; ``.svg``, ``.png`` or ``.pdf``.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the inputs differ in length or hold non-finite values.
    """
    xa = np.atleast_1d(np.asarray(x, dtype=float))
    ya = np.atleast_1d(np.asarray(y, dtype=float))
    names = [str(s) for s in labels]
    if not (len(xa) == len(ya) == len(names)):
        raise ValueError(f"x, y and labels must have the same length (got {len(xa)}, {len(ya)} "
                         f"and {len(names)})")
    if len(xa) == 0:
        raise ValueError("baujat_plot needs at least one study")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("baujat_plot coordinates must be finite")

    fig = new_figure(6.0, 5.0)
    ax = fig.add_axes((0.12, 0.11, 0.84, 0.84))
    ax.set_gid("baujat")

    def limits(v: np.ndarray) -> tuple[float, float]:
        lo, hi = min(0.0, float(v.min())), float(v.max())
        span = hi - lo if hi > lo else 1.0
        return lo - 0.06 * span, hi + 0.12 * span

    ax.set_xlim(*limits(xa))
    ax.set_ylim(*limits(ya))
    pts = ax.scatter(xa, ya, s=22, facecolor="white", edgecolor="black", lw=0.9, zorder=3)
    pts.set_gid("studies")
    ax.set_xlabel("Contribution to overall heterogeneity", fontsize=FONT_SIZE + 1)
    ax.set_ylabel("Influence on overall result", fontsize=FONT_SIZE + 1)
    ax.tick_params(labelsize=FONT_SIZE)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)

    _place_labels(fig, ax, xa, ya, names)
    save_figure(fig, path)
    return fig


def _candidates(n: int) -> list[tuple[float, float, str, str, bool]]:
    """Label offsets in points, nearest first: ``(dx, dy, ha, va, leader_line)``.

    With many studies, labels stay close to their points: a thicket of leader lines reads
    worse than a few overlapping labels.
    """
    out = []
    radii = _RADII if n <= MAX_LEADERS else _RADII[:2]
    for k, radius in enumerate(radii):
        for ux, uy in _DIRECTIONS:
            ha = "left" if ux > 0.3 else "right" if ux < -0.3 else "center"
            va = "bottom" if uy > 0.3 else "top" if uy < -0.3 else "center"
            out.append((ux * radius, uy * radius, ha, va, k > 0))
    return out


def _segment(a: tuple[float, float], b: tuple[float, float]) -> np.ndarray:
    """Points every two pixels along the segment from ``a`` to ``b``."""
    n = max(2, int(math.hypot(b[0] - a[0], b[1] - a[1]) / 2) + 1)
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) * np.asarray(a) + t * np.asarray(b)


def _overlaps(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Overlap areas of ``box`` (x0, y0, x1, y1) with each row of ``boxes``."""
    w = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    h = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    return np.where((w > 0) & (h > 0), w * h, 0.0)


def _hits(points: np.ndarray, boxes: np.ndarray) -> int:
    """How many (point, box) pairs have the point inside the box."""
    if not len(points) or not len(boxes):
        return 0
    px, py = points[:, 0:1], points[:, 1:2]
    inside = ((px > boxes[:, 0]) & (px < boxes[:, 2]) & (py > boxes[:, 1]) & (py < boxes[:, 3]))
    return int(inside.sum())


_SHIFT_X = {"left": 0.0, "center": 0.5, "right": 1.0}
_SHIFT_Y = {"bottom": 0.0, "center": 0.5, "top": 1.0}


def _place_labels(fig: Figure, ax: Axes, x: np.ndarray, y: np.ndarray,
                  names: list[str]) -> None:
    """Label each point where the label overlaps no other label, point or the frame's edge.

    Positions are tried nearest first in sixteen directions at growing distances (far ones get
    a thin leader line); the most prominent studies (far from the origin) choose first. A label
    that fits nowhere takes the position that costs least: overlapping a label or hiding a
    point costs most, then running off the frame, then crossing leader lines.
    """
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    frame = ax.get_window_extent(renderer)
    fx = np.array([frame.x0, frame.y0, frame.x1, frame.y1])
    centres = ax.transData.transform(np.column_stack([x, y]))
    px = fig.dpi / 72  # pixels per point
    r = 3.5 * px
    dots = np.column_stack([centres - r, centres + r])
    taken = np.zeros((0, 4))
    wires = np.zeros((0, 2))  # points sampled along the leader lines drawn so far
    span = (float(np.ptp(x)) or 1.0, float(np.ptp(y)) or 1.0)
    order = np.argsort(-np.hypot(x / span[0], y / span[1]), kind="stable")
    cands = _candidates(len(x))
    for i in order:
        cx, cy = centres[i]
        text = ax.text(x[i], y[i], names[i], fontsize=FONT_SIZE, clip_on=False,
                       ha="left", va="bottom")
        text.set_gid(f"label-{i}")
        ext = text.get_window_extent(renderer)
        w, h = ext.width + 2, ext.height + 2
        others = np.delete(dots, i, axis=0)
        best, best_cost, best_box = cands[0], math.inf, None
        for cand in cands:
            dx, dy, ha, va, leader = cand
            x0 = cx + dx * px - _SHIFT_X[ha] * w
            y0 = cy + dy * px - _SHIFT_Y[va] * h
            box = np.array([x0, y0, x0 + w, y0 + h])
            outside = w * h - float(_overlaps(box, fx[None, :])[0])
            clash = np.concatenate([_overlaps(box, taken), _overlaps(box, others)])
            cost = float(np.sum(1000 + clash[clash > 0])) + 4 * outside
            cost += 2 * _hits(wires, box[None, :])
            if leader and cost < best_cost:  # its own line crossing labels or points
                path = _segment((cx, cy), (cx + dx * px, cy + dy * px))
                cost += 5 * (_hits(path, taken) + _hits(path, others))
            if cost < best_cost:
                best, best_cost, best_box = cand, cost, box
            if cost == 0:
                break
        dx, dy, ha, va, leader = best
        text.set_transform(offset_copy(ax.transData, fig=fig, x=dx, y=dy, units="points"))
        text.set_ha(ha)
        text.set_va(va)
        taken = np.vstack([taken, best_box])
        if leader:  # from the point's edge to the label's near side
            ux, uy = dx / math.hypot(dx, dy), dy / math.hypot(dx, dy)
            start = (cx + ux * r, cy + uy * r)
            end = (cx + (dx - ux * 2) * px, cy + (dy - uy * 2) * px)
            wires = np.vstack([wires, _segment(start, end)])
            ends = ax.transData.inverted().transform([start, end])
            (line,) = ax.plot(ends[:, 0], ends[:, 1], color="0.45", lw=0.4, zorder=2,
                              clip_on=False)
            line.set_gid(f"leader-{i}")
