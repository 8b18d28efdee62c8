"""PRISMA 2020 flow diagrams, laid out like the official templates (Page et al. 2021, BMJ 372:n71).

Three variants follow from the counts (or are forced with ``previous=`` / ``other_sources=``):

* new review, databases and registers only: one column of boxes with the exclusion boxes to
  its right;
* with "Identification of studies via other methods": a second, grey column on the right whose
  included reports join the "Studies included in review" box;
* updated review: a grey "Previous studies" column on the left, "New studies included in review"
  and a "Total studies included in review" box at the bottom that both feed.

Phase labels (Identification, Screening, Included) are blue vertical bars on the left; column
headers are rounded boxes (yellow for databases and registers, grey for the others). Box widths
are fixed per column and every box is as tall as its wrapped text, so long lists of databases or
exclusion reasons make their row taller instead of overflowing. The wording is the template's;
lists whose count is ``None`` (not applicable) are left out, as the PRISMA2020 R package does.
Records and reports not yet decided (a vote missing, a conflict unresolved) show as "awaiting
classification" in the "Records screened" and "Reports assessed" boxes, when there are any.

Every box is a patch with ``gid`` ``"prisma-box:<name>"`` (its text ``"prisma-text:<name>"``),
so the SVG can be styled and the layout tested. Text stays text in the SVG written here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from metareview._util.figures import new_figure, save_figure
from metareview.report.forest import text_width
from metareview.screening.prisma import PrismaCounts

__all__ = ["PrismaBox", "prisma_diagram", "prisma_layout"]

FONT_SIZE = 8.0
LINE = 1.2 * FONT_SIZE / 72  #: inches per text line (matplotlib's default line spacing)
PAD_X, PAD_Y = 0.08, 0.07  #: inner margins of a box, inches
MARGIN = 0.15
PHASE_W = 0.3  #: width of the blue phase bars
W_MAIN, W_SIDE = 2.2, 2.45  #: main-flow boxes and the exclusion boxes to their right
W_PREV = 2.0
ARROW_GAP = 0.35  #: horizontal gap crossed by a "to the right" arrow
COL_GAP = 0.4  #: gap between the column groups
ROW_GAP = 0.3  #: minimum vertical gap (arrow length) between rows
INDENT = "    "  #: per-source lines under "Databases" / "Registers"

YELLOW = "#ffc000"
GREY_HEAD = "#d0cece"
GREY_BOX = "#ededed"
BLUE = "#9dc3e6"
INK = "black"


@dataclass(frozen=True)
class PrismaBox:
    """One box of the diagram, in inches from the top-left corner of the figure."""

    name: str
    x: float
    y: float
    w: float
    h: float
    text: str
    align: str = "center"  #: "center" or "left"
    kind: str = "box"  #: "box", "grey", "header", "header-grey", "phase"

    @property
    def cx(self) -> float:
        """Horizontal centre."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre."""
        return self.y + self.h / 2

    @property
    def bottom(self) -> float:
        """Bottom edge."""
        return self.y + self.h

    @property
    def right(self) -> float:
        """Right edge."""
        return self.x + self.w


_NBSP = "\u00a0"
_COUNT = re.compile(r"\(n = [^)]*\)")


def _n(x: int | None) -> str:
    return "NA" if x is None else f"{x:,}"


def _wrap(line: str, width: float, size: float, bold: bool = False) -> list[str]:
    """Greedy word wrap of one line to ``width`` inches; continuation lines keep the line's
    leading indent plus two spaces (a hanging indent), over-long words are cut."""
    stripped = line.lstrip(" ")
    indent = line[: len(line) - len(stripped)]
    if text_width(line, size, bold) <= width:
        return [line]
    out: list[str] = []
    current = indent
    cont = indent + "  "
    for word in stripped.split(" "):
        trial = current + word if current.strip() == "" else current + " " + word
        if text_width(trial, size, bold) <= width:
            current = trial
            continue
        if current.strip():
            out.append(current)
            current = cont
        # the word alone does not fit: cut it
        while text_width(current + word, size, bold) > width and len(word) > 1:
            k = len(word)
            while k > 1 and text_width(current + word[:k], size, bold) > width:
                k -= 1
            out.append(current + word[:k])
            word = word[k:]
            current = cont
        current = current + word
    if current.strip():
        out.append(current)
    return out


def _block(lines: Sequence[str], width: float, size: float, bold: bool = False) -> str:
    wrapped: list[str] = []
    for line in lines:
        # "(n = 1,234)" never breaks across lines
        line = _COUNT.sub(lambda m: m.group(0).replace(" ", _NBSP), line)
        wrapped += _wrap(line, width - 2 * PAD_X, size, bold) if line else [""]
    return "\n".join(wrapped).replace(_NBSP, " ")


def _height(text: str, size: float) -> float:
    return (text.count("\n") + 1) * 1.2 * size / 72 + 2 * PAD_Y


def _texts(c: PrismaCounts, update: bool, footnotes: bool,
           unknown: str = "NA") -> dict[str, tuple[list[str], str]]:
    """Lines and alignment of every box, in the template's words (``unknown`` for a count
    that is not known)."""

    def _n(x: int | None) -> str:
        return unknown if x is None else f"{x:,}"

    star, stars = ("*", "**") if footnotes else ("", "")
    ident = [f"Records identified from{star}:"]
    for label, total, per in (("Databases", c.database_results, c.database_specific_results),
                              ("Registers", c.register_results, c.register_specific_results)):
        if total is None and not per:
            continue
        ident.append(f"{label} (n = {_n(total)})")
        ident += [f"{INDENT}{name} (n = {_n(v)})" for name, v in per.items()]
    if len(ident) == 1:
        ident.append(f"Databases (n = {unknown})")
    removed = ["Records removed before screening:"]
    for label, v in (("Duplicate records removed", c.duplicates),
                     ("Records marked as ineligible by automation tools", c.excluded_automatic),
                     ("Records removed for other reasons", c.excluded_other)):
        if v is not None:
            removed.append(f"{label} (n = {_n(v)})")
    if len(removed) == 1:
        removed.append(f"Duplicate records removed (n = {unknown})")

    def excluded(total: int | None, reasons: Mapping[str, int]) -> tuple[list[str], str]:
        if not reasons:
            return ["Reports excluded", f"(n = {_n(total)})"], "center"
        head = "Reports excluded:" if total is None else f"Reports excluded (n = {_n(total)}):"
        return [head] + [f"{k} (n = {_n(v)})" for k, v in reasons.items()], "left"

    def awaiting(what: str, n: int | None) -> list[str]:
        # PRISMA 2020 lets a review show what is not yet classified; left out when none
        return [f"{what} awaiting classification", f"(n = {_n(n)})"] if n else []

    new = "New studies" if update else "Studies"
    new_rep = "Reports of new included studies" if update else "Reports of included studies"
    texts: dict[str, tuple[list[str], str]] = {
        "identified": (ident, "left"),
        "removed": (removed, "left"),
        "records_screened": (["Records screened", f"(n = {_n(c.records_screened)})",
                              *awaiting("Records", c.records_awaiting)], "center"),
        "records_excluded": ([f"Records excluded{stars}", f"(n = {_n(c.records_excluded)})"],
                             "center"),
        "dbr_sought_reports": (["Reports sought for retrieval",
                                f"(n = {_n(c.dbr_sought_reports)})"], "center"),
        "dbr_notretrieved_reports": (["Reports not retrieved",
                                      f"(n = {_n(c.dbr_notretrieved_reports)})"], "center"),
        "dbr_assessed": (["Reports assessed for eligibility", f"(n = {_n(c.dbr_assessed)})",
                          *awaiting("Reports", c.dbr_awaiting_reports)], "center"),
        "dbr_excluded": excluded(c.dbr_excluded, c.dbr_excluded_reasons),
        "included": ([f"{new} included in review", f"(n = {_n(c.new_studies)})",
                      new_rep, f"(n = {_n(c.new_reports)})"], "center"),
        "other_identified": (["Records identified from:"] + [
            f"{label} (n = {_n(v)})" for label, v in (
                ("Websites", c.website_results), ("Organisations", c.organisation_results),
                ("Citation searching", c.citations_results)) if v is not None], "left"),
        "other_sought_reports": (["Reports sought for retrieval",
                                  f"(n = {_n(c.other_sought_reports)})"], "center"),
        "other_notretrieved_reports": (["Reports not retrieved",
                                        f"(n = {_n(c.other_notretrieved_reports)})"], "center"),
        "other_assessed": (["Reports assessed for eligibility",
                            f"(n = {_n(c.other_assessed)})",
                            *awaiting("Reports", c.other_awaiting_reports)], "center"),
        "other_excluded": excluded(c.other_excluded, c.other_excluded_reasons),
        "previous": ([f"Studies included in previous version of review "
                      f"(n = {_n(c.previous_studies)})", "",
                      f"Reports of studies included in previous version of review "
                      f"(n = {_n(c.previous_reports)})"], "left"),
        "total": (["Total studies included in review", f"(n = {_n(c.total_studies)})",
                   "Reports of total included studies", f"(n = {_n(c.total_reports)})"],
                  "center"),
    }
    return texts


def prisma_layout(
    counts: PrismaCounts | Mapping[str, Any],
    *,
    other_sources: bool | None = None,
    previous: bool | None = None,
    footnotes: bool = False,
    font_size: float = FONT_SIZE,
    unknown: str = "NA",
) -> tuple[list[PrismaBox], float, float]:
    """Boxes of the flow diagram and the figure size, without drawing anything.

    Returns
    -------
    boxes : list of PrismaBox
        Headers, phase bars and count boxes (see :func:`prisma_diagram` for the names).
    width, height : float
        Figure size in inches.
    """
    c = counts if isinstance(counts, PrismaCounts) else PrismaCounts(**counts)
    other = c.has_other_methods if other_sources is None else other_sources
    update = c.is_update if previous is None else previous
    texts = _texts(c, update, footnotes, unknown)
    size = font_size

    # column x positions
    x = MARGIN
    x_phase = x
    x += PHASE_W + 0.15
    x_prev = x
    if update:
        x += W_PREV + COL_GAP
    x_main = x
    x_excl = x_main + W_MAIN + ARROW_GAP
    x = x_excl + W_SIDE
    x_oth = x + COL_GAP
    x_oexcl = x_oth + W_MAIN + ARROW_GAP
    if other:
        x = x_oexcl + W_SIDE
    width = x + MARGIN

    cells: dict[str, tuple[float, float, str, str]] = {}  # name -> (x, w, text, kind)

    def cell(name: str, x0: float, w: float, kind: str = "box") -> None:
        lines, _ = texts[name]
        cells[name] = (x0, w, _block(lines, w, size), kind)

    rows: list[list[str]] = []
    cell("identified", x_main, W_MAIN)
    cell("removed", x_excl, W_SIDE)
    row1 = ["identified", "removed"]
    if other:
        cell("other_identified", x_oth, W_MAIN, "grey")
        row1.append("other_identified")
    if update:
        cell("previous", x_prev, W_PREV, "grey")
        row1.append("previous")
    rows.append(row1)
    cell("records_screened", x_main, W_MAIN)
    cell("records_excluded", x_excl, W_SIDE)
    rows.append(["records_screened", "records_excluded"])
    cell("dbr_sought_reports", x_main, W_MAIN)
    cell("dbr_notretrieved_reports", x_excl, W_SIDE)
    row3 = ["dbr_sought_reports", "dbr_notretrieved_reports"]
    cell("dbr_assessed", x_main, W_MAIN)
    cell("dbr_excluded", x_excl, W_SIDE)
    row4 = ["dbr_assessed", "dbr_excluded"]
    if other:
        cell("other_sought_reports", x_oth, W_MAIN, "grey")
        cell("other_notretrieved_reports", x_oexcl, W_SIDE, "grey")
        row3 += ["other_sought_reports", "other_notretrieved_reports"]
        cell("other_assessed", x_oth, W_MAIN, "grey")
        cell("other_excluded", x_oexcl, W_SIDE, "grey")
        row4 += ["other_assessed", "other_excluded"]
    rows += [row3, row4]
    cell("included", x_main, W_MAIN)
    rows.append(["included"])
    if update:
        cell("total", x_main, W_MAIN, "grey")
        rows.append(["total"])

    boxes: list[PrismaBox] = []
    # headers
    head = "Identification of new studies" if update else "Identification of studies"
    headers = [("header_dbr", x_main, x_excl + W_SIDE, f"{head} via databases and registers",
                "header")]
    if other:
        headers.append(("header_other", x_oth, x_oexcl + W_SIDE, f"{head} via other methods",
                        "header-grey"))
    if update:
        headers.append(("header_previous", x_prev, x_prev + W_PREV, "Previous studies",
                        "header-grey"))
    y = MARGIN
    head_texts = [(n, x0, x1 - x0, _block([t], x1 - x0, size + 0.5, bold=True), k)
                  for n, x0, x1, t, k in headers]
    head_h = max(max(_height(t, size + 0.5) for _, _, _, t, _ in head_texts), 0.36)
    for n, x0, w, t, k in head_texts:
        boxes.append(PrismaBox(n, x0, y, w, head_h, t, "center", k))
    y += head_h + 0.25

    # each box as tall as its text, centred in its row (so side arrows stay horizontal)
    heights = [{name: _height(cells[name][2], size) for name in row} for row in rows]
    row_hs = [max(h.values()) for h in heights]
    # a phase bar must be long enough for its rotated label: grow its rows if needed
    # (identification = first row, screening = the next three, included = the rest)
    phase_rows = [("Identification", [0]), ("Screening", [1, 2, 3]),
                  ("Included", list(range(4, len(rows))))]
    for label, idx in phase_rows:
        need = text_width(label, size + 0.5, bold=True) + 2 * PAD_Y
        have = sum(row_hs[i] for i in idx) + ROW_GAP * (len(idx) - 1)
        if have < need:
            for i in idx:
                row_hs[i] += (need - have) / len(idx)
    row_spans: list[tuple[float, float]] = []
    for row, hs, row_h in zip(rows, heights, row_hs, strict=True):
        for name in row:
            x0, w, text, kind = cells[name]
            boxes.append(PrismaBox(name, x0, y + (row_h - hs[name]) / 2, w, hs[name], text,
                                   texts[name][1], kind))
        row_spans.append((y, y + row_h))
        y += row_h + ROW_GAP
    height = y - ROW_GAP + MARGIN

    for label, idx in phase_rows:
        y0, y1 = row_spans[idx[0]][0], row_spans[idx[-1]][1]
        boxes.append(PrismaBox(f"phase_{label.lower()}", x_phase, y0, PHASE_W, y1 - y0, label,
                               "center", "phase"))
    return boxes, width, height


def prisma_diagram(
    counts: PrismaCounts | Mapping[str, Any],
    path: str | PathLike[str] | None = None,
    *,
    other_sources: bool | None = None,
    previous: bool | None = None,
    footnotes: bool = False,
    font_size: float = FONT_SIZE,
    unknown: str = "NA",
) -> Figure:
    """Draw the PRISMA 2020 flow diagram of ``counts``.

    Parameters
    ----------
    counts : PrismaCounts or mapping
        The numbers (a mapping is passed to ``PrismaCounts(**counts)``).
    path : str or path-like, optional
        Write the figure there; the format (SVG, PNG, PDF) follows the extension. In SVG the
        text stays text (searchable, selectable).
    other_sources : bool, optional
        Draw the "Identification of studies via other methods" column. Default: when any of
        the other-methods counts is given (not None).
    previous : bool, optional
        Draw the updated-review variant ("Previous studies" column, "Total studies included in
        review"). Default: when ``previous_studies`` or ``previous_reports`` is given.
    footnotes : bool
        Add the template's asterisks and footnotes (per-source reporting, automation tools)
        and its citation (Page et al. 2021).
    font_size : float
        Text size in points.
    unknown : str
        Shown for a count that is not known (e.g. "not reported" for counts a source review
        does not give).

    Returns
    -------
    matplotlib.figure.Figure
        On the Agg canvas. Boxes are named (``gid`` ``"prisma-box:<name>"``): ``identified``,
        ``removed``, ``records_screened``, ``records_excluded``, ``dbr_sought_reports``,
        ``dbr_notretrieved_reports``, ``dbr_assessed``, ``dbr_excluded``, ``included``; with
        other methods ``other_identified``, ``other_sought_reports``,
        ``other_notretrieved_reports``, ``other_assessed``, ``other_excluded``; updated
        reviews ``previous`` and ``total``; headers ``header_*`` and phase bars ``phase_*``.
    """
    boxes, width, height = prisma_layout(counts, other_sources=other_sources,
                                         previous=previous, footnotes=footnotes,
                                         font_size=font_size, unknown=unknown)
    notes: list[str] = []
    if footnotes:
        notes = _block([
            "*Consider, if feasible to do so, reporting the number of records identified from "
            "each database or register searched (rather than the total number across all "
            "databases/registers).",
            "**If automation tools were used, indicate how many records were excluded by a "
            "human and how many were excluded by automation tools.",
            "From: Page MJ, McKenzie JE, Bossuyt PM, et al. The PRISMA 2020 statement: an "
            "updated guideline for reporting systematic reviews. BMJ 2021;372:n71. "
            "doi: 10.1136/bmj.n71",
        ], width - 2 * MARGIN + 2 * PAD_X, font_size - 1).split("\n")
    notes_h = (len(notes) * 1.2 * (font_size - 1) / 72 + 0.1) if notes else 0.0
    fig = new_figure(width, height + notes_h)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height + notes_h, 0)
    ax.axis("off")
    ax.set_gid("prisma")
    by_name = {b.name: b for b in boxes}

    for b in boxes:
        _draw_box(ax, b, font_size)
    _draw_arrows(ax, by_name)
    if notes:
        ax.text(MARGIN, height, "\n".join(notes), ha="left", va="top",
                fontsize=font_size - 1, parse_math=False, gid="prisma-footnotes")
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        save_figure(fig, path)
    return fig


def _draw_box(ax: Any, b: PrismaBox, size: float) -> None:
    style = {
        "box": ("white", "square,pad=0", INK, 0.8),
        "grey": (GREY_BOX, "square,pad=0", INK, 0.8),
        "header": (YELLOW, "round,pad=0,rounding_size=0.07", YELLOW, 0.8),
        "header-grey": (GREY_HEAD, "round,pad=0,rounding_size=0.07", GREY_HEAD, 0.8),
        "phase": (BLUE, "round,pad=0,rounding_size=0.07", BLUE, 0.8),
    }[b.kind]
    fill, boxstyle, edge, lw = style
    patch = FancyBboxPatch((b.x, b.y), b.w, b.h, boxstyle=boxstyle, facecolor=fill,
                           edgecolor=edge, linewidth=lw, gid=f"prisma-box:{b.name}")
    ax.add_patch(patch)
    bold = b.kind in ("header", "header-grey", "phase")
    if b.kind == "phase":
        ax.text(b.cx, b.cy, b.text, rotation=90, ha="center", va="center", fontsize=size + 0.5,
                fontweight="bold", parse_math=False, gid=f"prisma-text:{b.name}")
    elif b.align == "left":
        ax.text(b.x + PAD_X, b.cy, b.text, ha="left", va="center", multialignment="left",
                fontsize=size, parse_math=False, gid=f"prisma-text:{b.name}")
    else:
        ax.text(b.cx, b.cy, b.text, ha="center", va="center", multialignment="center",
                fontsize=size + (0.5 if bold else 0), fontweight="bold" if bold else "normal",
                parse_math=False, gid=f"prisma-text:{b.name}")


def _arrow(ax: Any, start: tuple[float, float], end: tuple[float, float], name: str) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9,
                                 linewidth=0.8, color=INK, shrinkA=0, shrinkB=0,
                                 gid=f"prisma-arrow:{name}"))


def _draw_arrows(ax: Any, box: dict[str, PrismaBox]) -> None:
    def down(a: str, b: str) -> None:
        _arrow(ax, (box[a].cx, box[a].bottom), (box[b].cx, box[b].y), f"{a}->{b}")

    def right(a: str, b: str) -> None:
        y = box[a].cy
        _arrow(ax, (box[a].right, y), (box[b].x, y), f"{a}->{b}")

    chain = ["identified", "records_screened", "dbr_sought_reports", "dbr_assessed", "included"]
    for a, b in itertools.pairwise(chain):
        down(a, b)
    for a, b in (("identified", "removed"), ("records_screened", "records_excluded"),
                 ("dbr_sought_reports", "dbr_notretrieved_reports"),
                 ("dbr_assessed", "dbr_excluded")):
        right(a, b)
    if "other_identified" in box:
        down("other_identified", "other_sought_reports")
        down("other_sought_reports", "other_assessed")
        right("other_sought_reports", "other_notretrieved_reports")
        right("other_assessed", "other_excluded")
        # down from the other-methods column, then left into "Studies included in review"
        src, dst = box["other_assessed"], box["included"]
        ax.add_line(Line2D([src.cx, src.cx], [src.bottom, dst.cy], color=INK, linewidth=0.8,
                           gid="prisma-line:other_assessed->included"))
        _arrow(ax, (src.cx, dst.cy), (dst.right, dst.cy), "other_assessed->included")
    if "total" in box:
        down("included", "total")
        src, dst = box["previous"], box["total"]
        x = src.cx
        ax.add_line(Line2D([x, x], [src.bottom, dst.cy], color=INK, linewidth=0.8,
                           gid="prisma-line:previous->total"))
        _arrow(ax, (x, dst.cy), (dst.x, dst.cy), "previous->total")
