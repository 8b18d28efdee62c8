"""Figure plumbing shared by every layer that draws: a pyplot-free canvas and deterministic files.

Lives in ``_util`` (below every layer) so that any layer can draw without importing a higher
one.
"""

from __future__ import annotations

import io
from os import PathLike
from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# No dates or tool versions in the files: the same data must give the same bytes.
_METADATA: dict[str, dict[str, None]] = {
    "svg": {"Date": None, "Creator": None},
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "Creator": None, "Producer": None},
}
_RC = {"svg.hashsalt": "metareview"}


def _write(fig: Figure, target: Path | io.IOBase, fmt: str) -> None:
    """Save ``fig`` as ``fmt`` to a path or buffer, the same bytes for the same figure."""
    with matplotlib.rc_context(_RC):
        fig.savefig(target, format=fmt, facecolor="white", metadata=_METADATA[fmt])


class NotebookFigure(Figure):
    """A Figure that notebooks show as an image, with or without pyplot.

    Jupyter draws a plain Figure only once pyplot has switched on the inline backend; ours are
    made without pyplot, so they say how to draw themselves (``_repr_png_``), as the files are
    written.
    """

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        _write(self, buf, "png")
        return buf.getvalue()


def new_figure(width: float, height: float, dpi: float = 150) -> Figure:
    """A matplotlib Figure on an Agg canvas, independent of pyplot and the session's backend;
    notebooks display it inline (:class:`NotebookFigure`)."""
    fig = NotebookFigure(figsize=(width, height), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | PathLike[str] | None) -> None:
    """Write ``fig`` to ``path`` if given, as SVG, PNG or PDF according to the extension.

    Raises
    ------
    ValueError
        For any other extension.
    """
    if path is None:
        return
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in _METADATA:
        raise ValueError(f"cannot tell the image format of {p.name!r}: use a .svg, .png or "
                         ".pdf file name")
    _write(fig, p, fmt)


def svg_text(fig: Figure) -> str:
    """The figure as an SVG document string (deterministic), for embedding in HTML."""
    buf = io.StringIO()
    _write(fig, buf, "svg")
    text = buf.getvalue()
    return text[text.index("<svg"):]
