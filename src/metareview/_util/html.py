"""Compact HTML tables for results shown in notebooks (``_repr_html_``).

Results format their own numbers (with :mod:`metareview._util.textfmt`, as their ``summary()``
does) and hand strings here; this module only lays them out and escapes every one of them, so a
study or reviewer named ``<script>`` is shown as text. Plain HTML: no scripts, no inline styles;
the notebook's own table style applies.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

#: Rows shown of a long table before the rest is summarised as "... N more".
MAX_ROWS = 20


def esc(value: object) -> str:
    """``value`` as text, with ``& < > " '`` escaped."""
    return html.escape(str(value), quote=True)


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    caption: str | None = None,
    row_labels: bool = True,
    max_rows: int | None = None,
    what: str = "rows",
) -> str:
    """An HTML ``<table>`` of text cells.

    Parameters
    ----------
    columns : sequence of str
        Column headings (the first is the heading of the row labels when ``row_labels``).
    rows : iterable of sequences
        Cells, already formatted; each is escaped.
    caption : str, optional
        The table's caption.
    row_labels : bool
        Whether the first cell of each row labels it (``<th scope="row">``).
    max_rows : int, optional
        Show at most this many rows, then a last row saying how many more there are.
    what : str
        What a row is, for that last row ("groups", "studies").

    Returns
    -------
    str
        The table, every tag closed.
    """
    rows = list(rows)
    shown = rows if max_rows is None else rows[:max_rows]
    out = ["<table>"]
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr></thead>")
    out.append("<tbody>")
    for row in shown:
        cells = []
        for j, cell in enumerate(row):
            tag = "th" if j == 0 and row_labels else "td"
            scope = ' scope="row"' if tag == "th" else ""
            cells.append(f"<{tag}{scope}>{esc(cell)}</{tag}>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    if len(rows) > len(shown):
        out.append(f'<tr><td colspan="{len(columns)}">… {len(rows) - len(shown):,} more '
                   f"{esc(what)}</td></tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def block(
    heading: Sequence[str], parts: Sequence[str] = (), notes: Sequence[str] = ()
) -> str:
    """A result: heading lines (the first in bold), its tables, then notes.

    Parameters
    ----------
    heading : sequence of str
        Plain-text lines; escaped.
    parts : sequence of str
        HTML fragments, already safe (tables from :func:`table`, or :func:`details`).
    notes : sequence of str
        Plain-text notes shown after the tables; escaped.

    Returns
    -------
    str
        One ``<div>``.
    """
    out = ['<div class="metareview">']
    if heading:
        lines = [f"<strong>{esc(heading[0])}</strong>", *(esc(h) for h in heading[1:])]
        out.append("<p>" + "<br>".join(lines) + "</p>")
    out.extend(parts)
    out.extend(f"<p>{esc(n)}</p>" for n in notes)
    out.append("</div>")
    return "\n".join(out)


def details(summary: str, content: str) -> str:
    """A collapsed section (``<details>``): ``summary`` is plain text, ``content`` safe HTML."""
    return f"<details><summary>{esc(summary)}</summary>\n{content}\n</details>"


def listing(items: Sequence[str], *, lettered: bool = False) -> str:
    """A list of plain-text items; ``lettered`` numbers them a, b, c (footnotes)."""
    tag, kind = ("ol", ' type="a"') if lettered else ("ul", "")
    return f"<{tag}{kind}>" + "".join(f"<li>{esc(i)}</li>" for i in items) + f"</{tag}>"


__all__ = ["MAX_ROWS", "block", "details", "esc", "listing", "table"]
