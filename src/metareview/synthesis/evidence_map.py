"""Evidence maps: how much evidence there is, and how certain, for each question cell.

An evidence map (an "evidence gap map") lays the studies out on a grid, for instance pain type
x route x regimen against the time window of the outcome, so that well-studied questions and
gaps are seen at a glance. Each cell aggregates the entries that fall in it: the number of
studies, their total size, the best and worst GRADE certainty, the designs and the directions
of effect. Miake-Lye IM, Hempel S, Shanman R, Shekelle PG. What is an evidence map? A
systematic review of published evidence maps and their definitions, methods, and products.
Syst Rev 2016;5:28.

Time windows have a fixed logical order: ``immediate/24-48 h``, ``1-2 weeks``, ``1-3 months``,
``> 3 months``, then ``unclear``. A missing window (empty, ``None``, ``"unclear"`` or
``"unknown"``) goes to the ``unclear`` column, which is shown only when used; any other text
that is not one of the windows (or a common spelling of one) is an :class:`InputError`, so
that a typo cannot silently move a study out of its column.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from metareview._util.jsonable import jsonable
from metareview.errors import InputError, where
from metareview.synthesis.reconcile import new_figure, save_figure

__all__ = [
    "CERTAINTIES",
    "DIRECTIONS",
    "GRADE_SYMBOLS",
    "UNCLEAR",
    "WINDOWS",
    "EvidenceCell",
    "EvidenceMap",
    "evidence_map",
    "normalise_window",
]

#: Time windows in their logical order.
WINDOWS = ("immediate/24-48 h", "1-2 weeks", "1-3 months", "> 3 months")
#: The column for entries whose window is missing or unclear (shown only when used).
UNCLEAR = "unclear"
#: GRADE certainty levels, best first.
CERTAINTIES = ("high", "moderate", "low", "very low")
#: GRADE's symbols for each certainty.
GRADE_SYMBOLS = {"high": "⊕⊕⊕⊕", "moderate": "⊕⊕⊕◯", "low": "⊕⊕◯◯", "very low": "⊕◯◯◯"}
#: Directions of effect.
DIRECTIONS = ("benefit", "no difference", "harm", "unclear")
#: Label for a missing value in a row or column dimension other than the window.
NOT_REPORTED = "not reported"

COLOURS = {"high": "#1a7f37", "moderate": "#7cb342", "low": "#f2b134", "very low": "#d9534f",
           None: "#9e9e9e"}

_WINDOW_ALIASES = {
    "immediate/24-48h": 0, "immediate": 0, "24-48h": 0, "immediate(24-48h)": 0,
    "<=48h": 0, "<48h": 0, "0-48h": 0, "24h": 0, "48h": 0, "1-2days": 0,
    "1-2weeks": 1, "1-2wk": 1, "1-2wks": 1, "1-2w": 1,
    "1-3months": 2, "1-3month": 2, "1-3mo": 2,
    ">3months": 3, ">3mo": 3, ">3month": 3, "morethan3months": 3, "over3months": 3,
    "3+months": 3,
}
_UNCLEAR_WORDS = {"", "unclear", "unknown", "notreported", "nr", "n/a", "na"}


def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def normalise_window(value: Any) -> str | None:
    """The canonical window for a value, :data:`UNCLEAR` for a missing one, ``None`` if the
    text is not a known window. Case, spaces, dashes and ``hours``/``weeks``/``months``
    spellings are forgiven: ``"1–2 Weeks"``, ``">3 months"``, ``"24-48 hours"``."""
    if _missing(value):
        return UNCLEAR
    key = str(value).strip().lower()
    for a, b in (("–", "-"), ("—", "-"), ("≤", "<="), (" to ", "-"), ("hours", "h"),
                 ("hour", "h"), ("hrs", "h"), ("weeks", "weeks"), ("week", "weeks"),
                 ("months", "months"), ("month", "months")):
        key = key.replace(a, b)
    key = re.sub(r"\s+", "", key).replace("weekss", "weeks").replace("monthss", "months")
    if key in _UNCLEAR_WORDS:
        return UNCLEAR
    if key in (w.replace(" ", "") for w in WINDOWS):
        return next(w for w in WINDOWS if w.replace(" ", "") == key)
    i = _WINDOW_ALIASES.get(key)
    return None if i is None else WINDOWS[i]


def _choice(value: Any, allowed: Sequence[str], what: str, at: str) -> str | None:
    if _missing(value) or str(value).strip() == "":
        return None
    key = re.sub(r"[\s_\-]+", " ", str(value).strip().lower())
    if key == "unclear" and "unclear" not in allowed:
        return None
    if key not in allowed:
        raise InputError(f"{at}: unknown {what} {value!r}; use one of {', '.join(allowed)} "
                         "or leave it empty")
    return key


@dataclass(frozen=True)
class EvidenceCell:
    """One cell of an evidence map.

    Attributes
    ----------
    row, col : tuple of str
        The cell's values of the row and column dimensions.
    n_studies : int
        Distinct studies.
    total_n : int or None
        Participants summed over the studies with a known ``n`` (a study listed twice in the
        cell counts once, with its largest ``n``); None when no study has one.
    n_unknown : int
        Studies without a known ``n``.
    best_certainty, worst_certainty : str or None
        Highest and lowest GRADE certainty among the graded entries (None if none graded).
    studies : tuple of str
        Study labels, in input order.
    designs : tuple of str
        Designs / evidence levels present.
    directions : dict of str to int
        Number of studies per direction of effect (studies without one are not counted).
    """

    row: tuple[str, ...]
    col: tuple[str, ...]
    n_studies: int
    total_n: int | None
    n_unknown: int
    best_certainty: str | None
    worst_certainty: str | None
    studies: tuple[str, ...]
    designs: tuple[str, ...] = ()
    directions: dict[str, int] = field(default_factory=dict)

    @property
    def symbols(self) -> str:
        """GRADE symbols of the best certainty, with the worst after a dash if it differs;
        ``""`` when ungraded."""
        if self.best_certainty is None:
            return ""
        s = GRADE_SYMBOLS[self.best_certainty]
        if self.worst_certainty not in (None, self.best_certainty):
            s += "–" + GRADE_SYMBOLS[self.worst_certainty]  # type: ignore[index]
        return s

    @property
    def n_text(self) -> str:
        """``"N = 240"``, ``"N ≥ 240"`` when some studies have no n, ``"N unknown"``."""
        if self.total_n is None:
            return "N unknown"
        return f"N {'≥' if self.n_unknown else '='} {self.total_n}"

    def label(self) -> str:
        """Short text: ``"2 studies, N = 120, ⊕⊕◯◯"``."""
        k = f"{self.n_studies} stud{'y' if self.n_studies == 1 else 'ies'}"
        parts = [k, self.n_text]
        if self.symbols:
            parts.append(self.symbols)
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable(asdict(self))


def _pretty(name: str) -> str:
    s = name.replace("_", " ").strip()
    return s[:1].upper() + s[1:]


def _css(certainty: str | None) -> str:
    return "em-" + (certainty.replace(" ", "-") if certainty else "ungraded")


_STYLE = """<style>
table.evidence-map { border-collapse: collapse; font-family: sans-serif; font-size: 0.85em; }
table.evidence-map th, table.evidence-map td { border: 1px solid #ccc; padding: 4px 6px;
  vertical-align: top; }
table.evidence-map thead th { background: #f2f2f2; }
table.evidence-map td.em-cell { text-align: center; min-width: 6em; }
table.evidence-map td.em-empty { background: #fafafa; }
table.evidence-map td.em-high { background: #cfe8d5; }
table.evidence-map td.em-moderate { background: #e3f0cf; }
table.evidence-map td.em-low { background: #fbeccb; }
table.evidence-map td.em-very-low { background: #f6d3d2; }
table.evidence-map td.em-ungraded { background: #e6e6e6; }
table.evidence-map .em-k { font-weight: bold; display: block; }
table.evidence-map .em-n, table.evidence-map .em-grade { display: block; }
</style>
"""


@dataclass(frozen=True, eq=False)
class EvidenceMap:
    """An evidence map: entries aggregated into row x column cells.

    Attributes
    ----------
    rows, cols : tuple of str
        The dimensions (entry columns) of the rows and of the columns.
    row_keys, col_keys : tuple of tuple of str
        The rows and columns in display order: windows and certainties in their logical
        order, other values in the order given (``order``), else of first appearance. When
        ``"window"`` is the column dimension, every window is a column (empty columns show
        gaps); ``unclear`` only when used.
    cells : tuple of EvidenceCell
        The non-empty cells, in row then column order.
    entries : DataFrame
        The entries after normalisation (canonical windows, certainties and directions).
    """

    rows: tuple[str, ...]
    cols: tuple[str, ...]
    row_keys: tuple[tuple[str, ...], ...]
    col_keys: tuple[tuple[str, ...], ...]
    cells: tuple[EvidenceCell, ...]
    entries: pd.DataFrame

    def cell(self, row: str | Sequence[str], col: str | Sequence[str]) -> EvidenceCell | None:
        """The cell at ``row`` and ``col`` (a value, or a tuple for several dimensions), or
        None if it is empty."""
        r = (row,) if isinstance(row, str) else tuple(row)
        c = (col,) if isinstance(col, str) else tuple(col)
        for x in self.cells:
            if x.row == r and x.col == c:
                return x
        return None

    def _index(self, keys: tuple[tuple[str, ...], ...], dims: tuple[str, ...]) -> pd.Index:
        if len(dims) == 1:
            return pd.Index([k[0] for k in keys], name=dims[0])
        return pd.MultiIndex.from_tuples(list(keys), names=list(dims))

    def to_frame(self, value: str = "n_studies") -> pd.DataFrame:
        """The map as a pivot table.

        Parameters
        ----------
        value : str
            ``"n_studies"`` or ``"total_n"`` (0 in empty cells), ``"best_certainty"``,
            ``"worst_certainty"``, ``"studies"`` (``"; "``-joined) or ``"label"`` (the text
            of :meth:`EvidenceCell.label`); None in empty cells for these.
        """
        allowed = ("n_studies", "total_n", "best_certainty", "worst_certainty", "studies",
                   "label")
        if value not in allowed:
            raise InputError(f"value must be one of {', '.join(allowed)} (got {value!r})")
        numeric = value in ("n_studies", "total_n")
        lookup = {(c.row, c.col): c for c in self.cells}
        data = []
        for rk in self.row_keys:
            line: list[Any] = []
            for ck in self.col_keys:
                c = lookup.get((rk, ck))
                if c is None:
                    line.append(0 if numeric else None)
                elif value == "studies":
                    line.append("; ".join(c.studies))
                elif value == "label":
                    line.append(c.label())
                elif value == "total_n":
                    line.append(c.total_n or 0)
                else:
                    line.append(getattr(c, value))
            data.append(line)
        return pd.DataFrame(data, index=self._index(self.row_keys, self.rows),
                            columns=self._index(self.col_keys, self.cols),
                            dtype=int if numeric else object)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable({
            "rows": list(self.rows),
            "cols": list(self.cols),
            "row_keys": [list(k) for k in self.row_keys],
            "col_keys": [list(k) for k in self.col_keys],
            "cells": [c.to_dict() for c in self.cells],
        })

    def summary(self) -> str:
        """Plain-text listing of the non-empty cells."""
        n_studies = self.entries["study"].nunique()
        lines = [f"Evidence map: {len(self.entries)} entries from {n_studies} studies; "
                 f"{len(self.cells)} of {len(self.row_keys) * len(self.col_keys)} cells have "
                 "evidence."]
        for c in self.cells:
            lines.append(f"  {' / '.join(c.row)} | {' / '.join(c.col)}: {c.label()}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_html(self, title: str | None = None, *, style: bool = True) -> str:
        """An HTML table: one row header per row dimension, a column per column key.

        Each non-empty cell shows the number of studies, N and the certainty as GRADE symbols,
        with a CSS class per certainty (``em-high``, ``em-moderate``, ``em-low``,
        ``em-very-low``, ``em-ungraded``; ``em-empty`` for gaps) and the study labels as its
        ``title``. All text is HTML-escaped.

        Parameters
        ----------
        title : str, optional
            Table caption.
        style : bool
            Prepend a ``<style>`` block with default colours.
        """
        esc = html.escape
        lookup = {(c.row, c.col): c for c in self.cells}
        out = [_STYLE] if style else []
        out.append('<table class="evidence-map">')
        if title:
            out.append(f"<caption>{esc(title)}</caption>")
        out.append("<thead>")
        for level, dim in enumerate(self.cols):
            heads = ""
            if level == 0:
                span = f' rowspan="{len(self.cols)}"' if len(self.cols) > 1 else ""
                heads = "".join(f'<th scope="col"{span}>{esc(_pretty(d))}</th>'
                                for d in self.rows)
            heads += "".join(f'<th scope="col" title="{esc(_pretty(dim))}">{esc(k[level])}</th>'
                             for k in self.col_keys)
            out.append(f"<tr>{heads}</tr>")
        out.append("</thead>")
        out.append("<tbody>")
        for rk in self.row_keys:
            tds = "".join(f'<th scope="row">{esc(v)}</th>' for v in rk)
            for ck in self.col_keys:
                c = lookup.get((rk, ck))
                if c is None:
                    tds += '<td class="em-cell em-empty"></td>'
                    continue
                grade = (f'<span class="em-grade" title="{esc(_cert_text(c))}">'
                         f"{esc(c.symbols)}</span>" if c.symbols else
                         '<span class="em-grade">not graded</span>')
                k = f"{c.n_studies} stud{'y' if c.n_studies == 1 else 'ies'}"
                tds += (f'<td class="em-cell {_css(c.best_certainty)}" '
                        f'title="{esc("; ".join(c.studies))}">'
                        f'<span class="em-k">{esc(k)}</span>'
                        f'<span class="em-n">{esc(c.n_text)}</span>{grade}</td>')
            out.append(f"<tr>{tds}</tr>")
        out.append("</tbody>")
        out.append("</table>")
        return "\n".join(out)

    def plot(self, path: str | PathLike[str] | None = None, *, size: str = "n_studies") -> Figure:
        """A bubble grid: one bubble per non-empty cell, area by ``size`` (``"n_studies"`` or
        ``"total_n"``), colour by best certainty, the number of studies written inside.

        Returns
        -------
        Figure
            On the Agg canvas (not pyplot); written to ``path`` as SVG, PNG or PDF if given.
        """
        if size not in ("n_studies", "total_n"):
            raise InputError(f"size must be n_studies or total_n (got {size!r})")
        nr, nc = len(self.row_keys), len(self.col_keys)
        row_labels = [" / ".join(k) for k in self.row_keys]
        col_labels = [" / ".join(k) for k in self.col_keys]
        left = min(3.5, 0.3 + 0.065 * max((len(s) for s in row_labels), default=4))
        width = left + 1.1 * nc + 1.7
        grid_h = max(0.45 * nr, 1.3)  # room for the legend
        height = grid_h + 0.95
        fig = new_figure(width, height)
        ax = fig.add_axes((left / width, 0.4 / height, 1.1 * nc / width, grid_h / height))
        ri = {k: i for i, k in enumerate(self.row_keys)}
        ci = {k: i for i, k in enumerate(self.col_keys)}
        vals = [(c.n_studies if size == "n_studies" else (c.total_n or 0)) for c in self.cells]
        vmax = max(vals, default=1) or 1
        for c, v in zip(self.cells, vals, strict=True):
            x, y = ci[c.col], nr - 1 - ri[c.row]
            area = 80 + 520 * math.sqrt(v / vmax)
            ax.scatter([x], [y], s=area, color=COLOURS[c.best_certainty], alpha=0.85,
                       edgecolors="white", linewidths=0.8, zorder=3)
            ax.text(x, y, str(c.n_studies), ha="center", va="center", fontsize=7,
                    color="white", fontweight="bold", zorder=4)
        ax.set_xlim(-0.5, nc - 0.5)
        ax.set_ylim(-0.5, nr - 0.5)
        ax.set_xticks(np.arange(nc))
        ax.set_xticklabels(col_labels, fontsize=7)
        ax.set_yticks(np.arange(nr))
        ax.set_yticklabels(row_labels[::-1], fontsize=7)
        ax.set_xticks(np.arange(nc + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(nr + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="#dddddd", lw=0.6)
        ax.tick_params(which="both", length=0)
        ax.xaxis.tick_top()
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], marker="o", ls="", color=COLOURS[k], markersize=7,
                          label=f"{k} {GRADE_SYMBOLS[k]}" if k else "not graded")
                   for k in (*CERTAINTIES, None)]
        ax.legend(handles=handles, title="Best certainty", fontsize=7, title_fontsize=7,
                  loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        what = "studies" if size == "n_studies" else "participants"
        ax.set_xlabel(f"Bubble area: {what}; number = studies", fontsize=7)
        save_figure(fig, path)
        return fig


def _cert_text(c: EvidenceCell) -> str:
    if c.worst_certainty in (None, c.best_certainty):
        return f"{c.best_certainty} certainty"
    return f"{c.best_certainty} to {c.worst_certainty} certainty"


def _dims(x: str | Sequence[str], what: str) -> tuple[str, ...]:
    dims = (x,) if isinstance(x, str) else tuple(x)
    if not dims or not all(isinstance(d, str) and d for d in dims):
        raise InputError(f"{what} must be a column name or a tuple of column names")
    return dims


def evidence_map(
    entries: pd.DataFrame | Sequence[Mapping[str, Any]],
    rows: str | Sequence[str] = "pain_type",
    cols: str | Sequence[str] = "window",
    *,
    study: str = "study",
    n: str = "n",
    design: str | None = None,
    certainty: str = "certainty",
    direction: str = "direction",
    show_empty_windows: bool = True,
    order: Mapping[str, Sequence[str]] | None = None,
) -> EvidenceMap:
    """Aggregate study entries into an evidence map.

    Parameters
    ----------
    entries : DataFrame or sequence of mappings
        One entry per study and question, with e.g. ``pain_type``, ``route``, ``regimen``,
        ``window``, ``study``, ``design`` (or ``evidence_level``), ``certainty`` (``high``,
        ``moderate``, ``low``, ``very low`` or empty), ``direction`` (``benefit``,
        ``no difference``, ``harm``, ``unclear`` or empty) and ``n``.
    rows, cols : str or tuple of str
        Column(s) forming the rows and the columns, e.g.
        ``rows=("pain_type", "route", "regimen"), cols="window"``.
    study, n, certainty, direction : str
        Names of those columns (``n``, ``certainty`` and ``direction`` are optional).
    design : str, optional
        Design / evidence-level column; default ``design``, else ``evidence_level``.
    show_empty_windows : bool
        When ``"window"`` is the only column dimension, show all four windows as columns even
        if empty (the gaps are the point of an evidence map).
    order : mapping of str to sequence of str, optional
        Display order of the values of row or column dimensions other than the window, e.g. a
        protocol's vocabulary; values not listed follow in order of first appearance.

    Returns
    -------
    EvidenceMap

    Raises
    ------
    InputError
        No entries, a missing column, a window that is not one of :data:`WINDOWS` (missing or
        ``"unclear"`` is allowed and shown as the ``unclear`` column), an unknown certainty or
        direction, or a negative or non-numeric ``n``.

    Notes
    -----
    A missing value in a row or column dimension other than the window is shown as
    ``"not reported"``. A cell counts distinct studies; a study with several entries in one
    cell (several outcomes, say) counts once, with its largest ``n``.
    """
    if isinstance(entries, pd.DataFrame):
        df = entries.copy().reset_index(drop=True)
    else:
        if isinstance(entries, (str, bytes, Mapping)) or not isinstance(entries, Sequence):
            raise InputError("entries must be a DataFrame or a list of mappings")
        df = pd.DataFrame([dict(e) for e in entries])
    if len(df) == 0:
        raise InputError("evidence map: no entries")
    row_dims, col_dims = _dims(rows, "rows"), _dims(cols, "cols")
    overlap = set(row_dims) & set(col_dims)
    if overlap:
        raise InputError(f"evidence map: {', '.join(sorted(overlap))} is both a row and a column "
                         "dimension")
    for c in (*row_dims, *col_dims, study):
        if c not in df.columns:
            raise InputError(f"evidence map: missing column {c}")
    if design is None:
        design = next((c for c in ("design", "evidence_level") if c in df.columns), "design")
    source = "evidence map"
    labels = [str(s).strip() if not _missing(s) else "" for s in df[study]]
    for i, s in enumerate(labels):
        if not s:
            raise InputError(f"{where(source, i + 2, None, study)}: empty study label")
    df[study] = labels

    def at(i: int, col: str) -> str:
        return where(source, i + 2, labels[i], col)

    cert: list[str | None] = [None] * len(df)
    if certainty in df.columns:
        cert = [_choice(v, CERTAINTIES, "certainty", at(i, certainty))
                for i, v in enumerate(df[certainty])]
    dirs: list[str | None] = [None] * len(df)
    if direction in df.columns:
        dirs = [_choice(v, DIRECTIONS, "direction", at(i, direction))
                for i, v in enumerate(df[direction])]
    sizes: list[float | None] = [None] * len(df)
    if n in df.columns:
        for i, v in enumerate(df[n]):
            if _missing(v) or str(v).strip() == "":
                continue
            x = pd.to_numeric(v, errors="coerce")
            if not np.isfinite(x):
                raise InputError(f"{at(i, n)}: not a number ({v!r})")
            if x < 0:
                raise InputError(f"{at(i, n)}: n must not be negative ({x:g})")
            sizes[i] = float(x)
    designs = ([None if _missing(v) or str(v).strip() == "" else str(v).strip()
                for v in df[design]] if design in df.columns else [None] * len(df))

    for dim in (*row_dims, *col_dims):
        vals: list[str] = []
        for i, v in enumerate(df[dim]):
            if dim == "window":
                w = normalise_window(v)
                if w is None:
                    raise InputError(f"{at(i, dim)}: unknown time window {v!r}; use one of "
                                     f"{', '.join(WINDOWS)}, or leave it empty for {UNCLEAR!r}")
                vals.append(w)
            elif dim == certainty:
                vals.append(cert[i] or NOT_REPORTED)
            elif dim == direction:
                vals.append(dirs[i] or NOT_REPORTED)
            else:
                vals.append(NOT_REPORTED if _missing(v) or str(v).strip() == ""
                            else str(v).strip())
        df[dim] = vals
    if certainty in df.columns and certainty not in (*row_dims, *col_dims):
        df[certainty] = cert
    if direction in df.columns and direction not in (*row_dims, *col_dims):
        df[direction] = dirs

    def ranking(dim: str) -> dict[str, int]:
        seen = list(dict.fromkeys(df[dim]))
        if dim == "window":
            fixed = [*WINDOWS, UNCLEAR]
        elif dim == certainty:
            fixed = [*CERTAINTIES, NOT_REPORTED]
        elif dim == direction:
            fixed = [*DIRECTIONS, NOT_REPORTED]
        else:
            fixed = [str(v) for v in (order or {}).get(dim, ())]
        ranked = [v for v in fixed if v in seen] + [v for v in seen if v not in fixed]
        return {v: i for i, v in enumerate(ranked)}

    orders = {d: ranking(d) for d in (*row_dims, *col_dims)}

    def keys(dims: tuple[str, ...]) -> list[tuple[str, ...]]:
        ks = list(dict.fromkeys(tuple(str(df[d].iloc[i]) for d in dims) for i in range(len(df))))
        return sorted(ks, key=lambda k: tuple(orders[d][v] for d, v in zip(dims, k, strict=True)))

    row_keys = keys(row_dims)
    col_keys = keys(col_dims)
    if col_dims == ("window",) and show_empty_windows:
        used = {k[0] for k in col_keys}
        col_keys = [(w,) for w in WINDOWS] + ([(UNCLEAR,)] if UNCLEAR in used else [])

    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[int]] = {}
    for i in range(len(df)):
        rk = tuple(str(df[d].iloc[i]) for d in row_dims)
        ck = tuple(str(df[d].iloc[i]) for d in col_dims)
        groups.setdefault((rk, ck), []).append(i)

    cells = []
    for rk in row_keys:
        for ck in col_keys:
            idx = groups.get((rk, ck))
            if not idx:
                continue
            studies = tuple(dict.fromkeys(labels[i] for i in idx))
            best_n: dict[str, float] = {}
            for i in idx:
                size = sizes[i]
                if size is not None:
                    best_n[labels[i]] = max(best_n.get(labels[i], 0.0), size)
            total = round(sum(best_n.values())) if best_n else None
            graded = [cert[i] for i in idx if cert[i] is not None]
            ranks = sorted(CERTAINTIES.index(c) for c in graded)  # type: ignore[arg-type]
            direction_counts: dict[str, int] = {}
            for d in DIRECTIONS:
                k = len({labels[i] for i in idx if dirs[i] == d})
                if k:
                    direction_counts[d] = k
            cells.append(EvidenceCell(
                row=rk, col=ck, n_studies=len(studies), total_n=total,
                n_unknown=sum(1 for s in studies if s not in best_n),
                best_certainty=CERTAINTIES[ranks[0]] if ranks else None,
                worst_certainty=CERTAINTIES[ranks[-1]] if ranks else None,
                studies=studies,
                designs=tuple(dict.fromkeys(designs[i] for i in idx if designs[i] is not None)),
                directions=direction_counts,
            ))
    return EvidenceMap(
        rows=row_dims, cols=col_dims, row_keys=tuple(row_keys), col_keys=tuple(col_keys),
        cells=tuple(cells), entries=df,
    )
