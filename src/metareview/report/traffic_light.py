"""The traffic-light plot of risk-of-bias judgements, as robvis draws it (McGuinness & Higgins,
Res Syn Meth 2021;12:55-61): one row per study, one column per domain and one for the overall
judgement; a coloured circle with a symbol in each cell (low: green "+", some concerns: yellow
"-", high: red "x", not applicable: grey "?"), the domains' names in a key below."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from metareview._util.figures import new_figure, save_figure
from metareview.appraisal.forms import AgreedAppraisal, Form

#: Cell colour and symbol per risk-of-bias category (robvis's "cochrane" colours).
STYLE: dict[str | None, tuple[str, str, str]] = {
    "low": ("#02C100", "+", "Low"),
    "some concerns": ("#E2DF07", "\u2013", "Some concerns"),
    "high": ("#BF0000", "\u00d7", "High"),
    None: ("#BBBBBB", "?", "Not applicable"),
}


def traffic_light(
    appraisals: Sequence[AgreedAppraisal],
    form: Form,
    path: str | PathLike[str] | None = None,
) -> Figure:
    """Traffic-light plot of agreed appraisals on one instrument.

    Parameters
    ----------
    appraisals : sequence of AgreedAppraisal
        One per study (the rows, in this order), all on ``form``'s instrument.
    form : Form
        The instrument's form: its fields are the columns.
    path : path, optional
        Save as SVG/PNG/PDF.

    Returns
    -------
    Figure
        An overridden overall judgement is marked with an asterisk and explained in the key.

    Raises
    ------
    ValueError
        If an appraisal is on another instrument.
    """
    for a in appraisals:
        if a.judgement.instrument != form.instrument:
            raise ValueError(f"{a.study}: its {a.judgement.instrument} appraisal cannot go in "
                             f"the {form.instrument} plot")
    columns = form.plot_columns()
    cols = [f.label for f in columns] + ["Overall"]
    n, m = max(len(appraisals), 1), len(cols)
    cell = 0.42
    key_lines = len(columns) + 2
    width = 2.4 + m * cell + 1.9  # room for the colour key on the right
    height = 0.9 + n * cell + 0.17 * key_lines + 0.3
    fig = new_figure(max(width, 6.0), height, dpi=100)
    top = 1 - 0.7 / height
    grid_h = n * cell / height
    ax = fig.add_axes((2.3 / fig.get_figwidth(), top - grid_h,
                       m * cell / fig.get_figwidth(), grid_h))
    ax.set_xlim(-0.5, m - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xticks(range(m), cols, fontsize=9, fontweight="bold")
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(appraisals)), [a.study for a in appraisals], fontsize=9)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_facecolor("#f4f4f4")
    for x in range(m + 1):
        ax.axvline(x - 0.5, color="white", lw=2)
    for y in range(n + 1):
        ax.axhline(y - 0.5, color="white", lw=2)
    overridden = False
    for row, a in enumerate(appraisals):
        cats = a.categories()
        values: list[str | None] = [cats[f.key] for f in columns] + [a.risk_of_bias]
        for col, cat in enumerate(values):
            colour, symbol, _ = STYLE[cat]
            ax.scatter([col], [row], s=330, color=colour, edgecolors="#333333", linewidths=0.6,
                       zorder=3)
            ax.text(col, row, symbol, ha="center", va="center_baseline", fontsize=12,
                    fontweight="bold", color="black" if cat == "some concerns" else "white",
                    zorder=4)
        # an asterisk beside each judgement that overrides the algorithm's
        marked = [i for i, f in enumerate(columns) if f.key in a.judgement.overridden]
        if a.override_reason:
            marked.append(m - 1)
        for col in marked:
            overridden = True
            ax.text(col + 0.2, row - 0.2, "*", ha="left", va="center", fontsize=11,
                    fontweight="bold", zorder=5)
    if not appraisals:
        ax.text((m - 1) / 2, 0, "No agreed appraisals yet", ha="center", va="center",
                fontsize=10, color="#555555")
    ax.set_title(f"{form.instrument}: agreed judgements", loc="left", fontsize=10, pad=22)
    # the key: what each column is, and what each colour means
    lines = [f"{f.label}: {f.text if len(f.text) <= 90 else f.text[:87] + '...'}"
             + (" [critical domain]" if f.critical else "") for f in columns]
    if overridden:
        lines.append("* Judgement overrides the algorithm's, with a reason")
    y0 = (top - grid_h) - 0.35 / height
    fig.text(0.02, y0, "Domains", fontsize=8.5, fontweight="bold", va="top")
    fig.text(0.02, y0 - 0.2 / height, "\n".join(lines), fontsize=8, va="top", linespacing=1.5)
    used = [None] if any(None in a.categories().values() for a in appraisals) else []
    handles = [Line2D([], [], marker="o", ls="", markersize=11, markerfacecolor=STYLE[c][0],
                      markeredgecolor="#333333", label=STYLE[c][2])
               for c in ["low", "some concerns", "high", *used]]
    fig.legend(handles=handles, title="Judgement", loc="upper right", fontsize=8,
               title_fontsize=8.5, frameon=False, bbox_to_anchor=(0.99, top))
    save_figure(fig, path)
    return fig
