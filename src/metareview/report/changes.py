"""Render a :class:`~metareview.synthesis.changes.ChangeReport` as HTML: the change report.

``changes_section(report)`` is the HTML section (a table per analysis, before and after, with
a small drawing of both intervals against the null and the MID thresholds, then the protocol's
triggers); ``render_changes(report)`` is a whole page that opens offline. Nothing here
computes: every number is the report's, printed as the text summary prints it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from pathlib import Path

import jinja2

from metareview._util.textfmt import printout_num
from metareview._util.version import __version__
from metareview.synthesis.changes import AnalysisChange, AnalysisState, ChangeReport

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("metareview.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    trim_blocks=True, lstrip_blocks=True,
)


def _num(x: float | None) -> str:
    return "NA" if x is None else printout_num(x)


def _rows(a: AnalysisChange) -> list[tuple[str, str, str]]:
    """(what, before, after) cells of one analysis's table."""
    b, f = a.before, a.after

    def cell(state: AnalysisState | None, text: str) -> str:
        return "no analysis" if state is None else text

    def pair(get: Callable[[AnalysisState], str]) -> tuple[str, str]:
        return cell(b, get(b) if b else ""), cell(f, get(f) if f else "")

    measure = (f or b).measure or "estimate"  # type: ignore[union-attr]
    return [
        (f"{measure} [95% CI]", *pair(lambda s: s.interval_text())),
        ("tau²", *pair(lambda s: _num(s.tau2))),
        ("I²", *pair(lambda s: "NA" if s.i2 is None else f"{s.i2:.1f}%")),
        ("studies", *pair(lambda s: "NA" if s.studies is None else str(s.studies))),
        ("participants", *pair(lambda s: "NA" if s.participants is None
                                else f"{s.participants:,}")),
        ("GRADE certainty", *pair(lambda s: s.certainty or "not graded")),
    ]


def _intervals_svg(a: AnalysisChange) -> str:
    """Both intervals on one axis (log for ratios) with the null and the MID thresholds."""
    states = [("before", a.before), ("after", a.after)]
    drawn = [(n, s) for n, s in states if s is not None and s.has_interval]
    if not drawn:
        return ""
    ref = drawn[-1][1]
    ratio = ref.null == 1.0 and all(s.ci_low > 0 for _, s in drawn)  # type: ignore[operator]
    marks = [ref.null, *(ref.mid or ())]
    values = [v for _, s in drawn for v in (s.ci_low, s.ci_high)] + marks
    tr = (lambda v: math.log(v)) if ratio else (lambda v: v)
    lo, hi = min(tr(v) for v in values), max(tr(v) for v in values)
    pad = (hi - lo) * 0.08 or 1.0
    lo, hi = lo - pad, hi + pad
    # the axis on the left, each interval's numbers in a column of their own on the right
    width, left, right, row = 640, 70, 200, 26
    height = 30 + row * len(drawn) + 22

    def x(v: float) -> float:
        return left + (tr(v) - lo) / (hi - lo) * (width - left - right)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="intervals before and '
             f'after, {escape(a.name)}" font-family="DejaVu Sans, Arial, sans-serif" '
             'font-size="11">']
    top, bottom = 14, 20 + row * len(drawn)
    parts.append(f'<line x1="{x(ref.null):.1f}" y1="{top}" x2="{x(ref.null):.1f}" '
                 f'y2="{bottom}" stroke="#333" stroke-width="1"/>')
    parts.append(f'<text x="{x(ref.null):.1f}" y="{top - 3}" text-anchor="middle">'
                 f'{ref.null:g}</text>')
    for m in ref.mid or ():
        parts.append(f'<line x1="{x(m):.1f}" y1="{top}" x2="{x(m):.1f}" y2="{bottom}" '
                     'stroke="#b2182b" stroke-width="1" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x(m):.1f}" y="{top - 3}" text-anchor="middle" '
                     f'fill="#b2182b">MID {m:g}</text>')
    for i, (name, s) in enumerate(drawn):
        y = 30 + row * i
        colour = "#2b4c7e" if name == "after" else "#888"
        parts.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end">{name}</text>')
        parts.append(f'<line x1="{x(s.ci_low):.1f}" y1="{y}" x2="{x(s.ci_high):.1f}" '  # type: ignore[arg-type]
                     f'y2="{y}" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<rect x="{x(s.estimate) - 4:.1f}" y="{y - 4}" width="8" height="8" '  # type: ignore[arg-type]
                     f'fill="{colour}"/>')
        parts.append(f'<text x="{width - right + 16}" y="{y + 4}" '
                     f'fill="{colour}">{escape(s.interval_text())}</text>')
    scale = "log scale" if ratio else "linear scale"
    parts.append(f'<text x="{left}" y="{height - 4}" fill="#555">{escape(ref.measure or "")}'
                 f' ({scale}); dashed: MID thresholds</text>' if ref.mid else
                 f'<text x="{left}" y="{height - 4}" fill="#555">{escape(ref.measure or "")}'
                 f' ({scale}); no MID for this scale</text>')
    parts.append("</svg>")
    return "".join(parts)


def changes_section(report: ChangeReport) -> str:
    """The change report as an HTML ``<section>`` (for a page of its own or another report)."""
    analyses = [{"a": a, "rows": _rows(a), "svg": _intervals_svg(a)} for a in report.analyses]
    return _ENV.get_template("changes_section.html.j2").render(r=report, analyses=analyses)


def render_changes(report: ChangeReport) -> str:
    """A whole HTML page holding :func:`changes_section` (no dates: same report, same bytes)."""
    return _ENV.get_template("changes.html.j2").render(
        r=report, section=changes_section(report), version=__version__)


def write_changes(report: ChangeReport, path: str | Path) -> Path:
    """Write :func:`render_changes` to ``path``; returns the path."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_changes(report), encoding="utf-8")
    tmp.replace(path)
    return path
