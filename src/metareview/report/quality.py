"""Quality and risk-of-bias summary charts (RevMan's 'risk of bias graph', by instrument)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from html import escape
from os import PathLike

from matplotlib.figure import Figure

from metareview._util.figures import new_figure, save_figure

#: Rating order and colours (green to red, as RevMan's risk-of-bias graphs).
LEVELS = ("strong", "moderate", "weak", "not rated")
COLOURS = {"strong": "#1b7837", "moderate": "#f1c232", "weak": "#b2182b", "not rated": "#bbbbbb"}
#: Instruments whose ratings are not on the strong/moderate/weak scale: their ratings, best
#: first, drawn in the colours of strong, moderate and weak (AMSTAR 2 rates confidence in a
#: review, so its "high" is the best rating; RoB 2's "high" is high risk of bias, the worst).
SCALES: dict[str, tuple[str, str, str]] = {
    "RoB 2": ("low", "some concerns", "high"),
    "ROBINS-I": ("low", "moderate", "serious"),
    "AMSTAR 2": ("high", "moderate", "low"),
}


def quality_chart(
    ratings: Sequence[tuple[str, str]], path: str | PathLike[str] | None = None
) -> Figure:
    """Stacked bars of the share of studies at each quality rating, one bar per instrument.

    Parameters
    ----------
    ratings : sequence of (instrument, rating)
        E.g. ``[("Health Evidence", "strong"), ("EPHPP", "weak"), ("RoB 2", "high"), ...]``;
        ratings outside the instrument's scale (strong/moderate/weak, or the scale in
        :data:`SCALES`) count as "not rated". The legend names each scale used.
    path : path, optional
        Save as SVG/PNG.
    """
    by: dict[str, Counter[str]] = {}
    for instrument, rating in ratings:
        scale = SCALES.get(instrument, LEVELS[:3])
        r = LEVELS[scale.index(rating)] if rating in scale else "not rated"
        by.setdefault(instrument, Counter())[r] += 1
    instruments = sorted(by)
    height = 1.4 + 0.5 * max(1, len(instruments))
    fig = new_figure(8.5, height, dpi=100)
    bottom = 1.0 / height  # room for the axis label and the legend below it
    ax = fig.add_axes((0.27, bottom, 0.58, 1 - bottom - 0.15 / height))
    for i, inst in enumerate(instruments):
        total = sum(by[inst].values())
        left = 0.0
        for lev in LEVELS:
            n = by[inst][lev]
            if n == 0:
                continue
            share = 100 * n / total
            ax.barh(i, share, left=left, color=COLOURS[lev], edgecolor="white", height=0.6)
            ax.text(left + share / 2, i, str(n), ha="center", va="center", fontsize=9,
                    color="white" if lev in ("strong", "weak") else "black")
            left += share
    ax.set_yticks(range(len(instruments)),
                  [f"{inst} (n={sum(by[inst].values())})" for inst in instruments])
    ax.set_xlim(0, 100)
    ax.set_xlabel("Studies (%)")
    ax.invert_yaxis()
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    from matplotlib.patches import Patch

    scales = list(dict.fromkeys(SCALES.get(inst, LEVELS[:3]) for inst in instruments))
    names = [" / ".join(dict.fromkeys(sc[i] for sc in scales)) for i in range(3)]
    handles = [Patch(color=COLOURS[lev]) for lev in LEVELS]
    fig.legend(handles, [*names, LEVELS[3]], loc="lower center", ncol=4, frameon=False,
               fontsize=9, bbox_to_anchor=(0.5, 0.0))
    save_figure(fig, path)
    return fig


def component_table(rows: Sequence[tuple[str, dict[str, str]]]) -> str:
    """HTML traffic-light table of instrument components (e.g. EPHPP's six) per study."""
    comps = sorted({c for _, cs in rows for c in cs})
    if not comps:
        return ""
    head = "".join(f"<th>{escape(c)}</th>" for c in comps)
    body = []
    for label, cs in rows:
        cells = "".join(
            f'<td style="background:{COLOURS.get(cs.get(c, ""), "#ffffff")};'
            f'color:{"#fff" if cs.get(c) in ("strong", "weak") else "#000"}">'
            f"{escape(cs.get(c, ''))}</td>" for c in comps)
        body.append(f"<tr><td>{escape(label)}</td>{cells}</tr>")
    return f"<table><tr><th>Study</th>{head}</tr>{''.join(body)}</table>"
