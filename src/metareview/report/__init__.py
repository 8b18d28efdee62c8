"""Plots for reports: RevMan-style forest plots, contour-enhanced funnel plots, Baujat plots.

Every function takes fitted results (or plain coordinates), never refits, returns a matplotlib
``Figure`` built on the Agg canvas, and writes it to ``path`` as SVG, PNG or PDF by extension.
"""

from typing import TYPE_CHECKING

from metareview._util.lazy import lazy_exports

if TYPE_CHECKING:
    from metareview.report.baujat import baujat_plot
    from metareview.report.forest import SubgroupResult, forest_plot
    from metareview.report.funnel import funnel_plot

# Imported on first use (metareview._util.lazy): the CLI starts without numpy's stack.
__getattr__, __dir__ = lazy_exports(__name__, {
    "metareview.report.baujat": ("baujat_plot",),
    "metareview.report.forest": ("SubgroupResult", "forest_plot"),
    "metareview.report.funnel": ("funnel_plot",),
})

__all__ = ["SubgroupResult", "baujat_plot", "forest_plot", "funnel_plot"]
