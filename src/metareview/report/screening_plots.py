"""Plots of simulated screening: recall curves and time to discovery.

They draw what :func:`metareview.screening.simulate.simulate` returns and never re-run it. The
recall plot follows asreview-insights' ``plot_recall``: one stepped curve per seed, the
random-screening line (``round(linspace(0, n_rel, n))``, stepped) and the best possible curve
(every relevant record first); priors are left out of all of them, as in the metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike

import numpy as np
from matplotlib.figure import Figure

from metareview._util.figures import new_figure, save_figure
from metareview.screening.simulate import SimulationResult, recall_curve

__all__ = ["recall_plot", "time_to_discovery_plot"]

FONT_SIZE = 8.0
_RANDOM = "#222222"
_OPTIMAL = "#999999"


def _runs(result: SimulationResult | Sequence[SimulationResult]) -> list[SimulationResult]:
    return [result] if isinstance(result, SimulationResult) else list(result)


def recall_plot(
    result: SimulationResult | Sequence[SimulationResult],
    path: str | PathLike[str] | None = None,
    *,
    labels: Sequence[str] | None = None,
    x_absolute: bool = False,
    annotate: bool = True,
    title: str | None = None,
) -> Figure:
    """Recall against records screened, one curve per seed, with random and perfect screening.

    Parameters
    ----------
    result : SimulationResult or sequence of them
        One simulation (its seeds share a colour) or several to compare (one colour each).
    path : str or path-like, optional
        Where to write the figure (``.svg``, ``.png`` or ``.pdf``).
    labels : sequence of str, optional
        Legend entries when several results are given (default: the classifier and query).
    x_absolute : bool
        Number of records screened on the x axis instead of the fraction.
    annotate : bool
        Mark the mean WSS@95% and recall at 10% screened of the first result.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    results = _runs(result)
    if not results:
        raise ValueError("recall_plot needs at least one simulation result")
    names = list(labels) if labels is not None else [
        f"{r.learner.classifier}, {r.learner.query}" for r in results]
    fig = new_figure(6.0, 4.5)
    ax = fig.add_axes((0.11, 0.11, 0.85, 0.8))
    ax.set_gid("recall")
    colours = [f"C{i % 10}" for i in range(len(results))]
    n_max = 1
    n_rel_max = 1
    for res, name, colour in zip(results, names, colours, strict=True):
        for j, run in enumerate(res.runs):
            x, y = recall_curve(run.labels_in_order)
            n = len(x)
            n_max, n_rel_max = max(n_max, n), max(n_rel_max, int(run.labels_in_order.sum()))
            xs = np.concatenate([[0.0], x * n if x_absolute else x])
            ys = np.concatenate([[0.0], y])
            ax.step(xs, ys, where="post", color=colour, lw=1.0, alpha=0.8,
                    label=f"{name} ({len(res.runs)} seeds)" if j == 0 else None)
    # Random screening and the best possible order, for the largest run (insights does so).
    n, n_rel = n_max, n_rel_max
    scale = 1.0 if x_absolute else 1.0 / n
    random_found = np.round(np.linspace(0, n_rel, n))
    ax.step(np.concatenate([[0.0], np.arange(1, n + 1) * scale]),
            np.concatenate([[0.0], random_found / n_rel]), where="post", color=_RANDOM,
            lw=0.9, ls="--", label="random screening")
    ax.step(np.arange(0, n_rel + 1) * scale, np.arange(0, n_rel + 1) / n_rel, where="post",
            color=_OPTIMAL, lw=0.9, label="perfect screening")
    ax.plot([n_rel * scale, n * scale], [1.0, 1.0], color=_OPTIMAL, lw=0.9)
    if annotate:
        first = results[0]
        w = float(np.mean(first.metric_values("wss", 0.95)))
        r10 = float(np.mean(first.metric_values("recall", 0.1)))
        ax.axvline(0.1 * n * scale, color="#bbbbbb", lw=0.6, ls=":")
        ax.text(0.98, 0.04, f"mean WSS@95% = {w:.3f}\nmean recall at 10% = {r10:.3f}",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=FONT_SIZE)
    ax.set_xlim(0, n * scale)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("Records screened" if x_absolute else "Proportion of records screened",
                  fontsize=FONT_SIZE + 1)
    ax.set_ylabel("Recall", fontsize=FONT_SIZE + 1)
    ax.tick_params(labelsize=FONT_SIZE)
    ax.legend(loc="center right", fontsize=FONT_SIZE, frameon=False)
    ax.set_title(title or f"Recall ({n:,} records, {n_rel} relevant, priors excluded)",
                 fontsize=FONT_SIZE + 1)
    save_figure(fig, path)
    return fig


def time_to_discovery_plot(
    result: SimulationResult,
    path: str | PathLike[str] | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Time to discovery of each relevant record: its position in each seed's order.

    Relevant records (not priors) are sorted by their mean time to discovery over the seeds;
    each seed is a dot, the mean a bar, and the ATD a dashed line.
    """
    runs = result.runs
    if not runs:
        raise ValueError("time_to_discovery_plot needs a simulation with at least one run")
    # Position of every relevant record in every run (NaN where it was a prior).
    rel = sorted({int(i) for run in runs for i in run.order[run.labels_in_order == 1]})
    where = {r: k for k, r in enumerate(rel)}
    td = np.full((len(runs), len(rel)), np.nan)
    for s, run in enumerate(runs):
        pos = np.flatnonzero(run.labels_in_order == 1)
        for p in pos:
            td[s, where[int(run.order[p])]] = p + 1
    mean = np.nanmean(td, axis=0)
    order = np.argsort(mean, kind="stable")
    fig = new_figure(6.0, 4.0)
    ax = fig.add_axes((0.11, 0.13, 0.85, 0.78))
    ax.set_gid("time_to_discovery")
    xs = np.arange(1, len(rel) + 1)
    ax.bar(xs, mean[order], color="#9ecae1", width=0.8, label="mean over seeds")
    for s in range(len(runs)):
        ax.plot(xs, td[s, order], ".", color="C0", ms=3, alpha=0.7,
                label="one seed" if s == 0 else None)
    atd = float(np.mean(result.metric_values("atd")))
    ax.axhline(atd, color="#222222", lw=0.8, ls="--", label=f"ATD = {atd:.1f}")
    ax.set_xlabel("Relevant records, by mean time to discovery", fontsize=FONT_SIZE + 1)
    ax.set_ylabel("Records screened until found", fontsize=FONT_SIZE + 1)
    ax.tick_params(labelsize=FONT_SIZE)
    ax.set_xlim(0.3, len(rel) + 0.7)
    ax.legend(loc="upper left", fontsize=FONT_SIZE, frameon=False)
    ax.set_title(title or f"Time to discovery ({len(runs)} seeds; priors excluded)",
                 fontsize=FONT_SIZE + 1)
    save_figure(fig, path)
    return fig
