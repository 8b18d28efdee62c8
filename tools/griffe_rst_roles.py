"""A griffe extension for the API reference: Sphinx roles in docstrings shown as code.

The docstrings are numpydoc with Sphinx cross-reference roles (``:func:`meta_analysis```,
``:class:`~metareview.models.MetaAnalysis```), which mkdocstrings would print literally. This
turns each role into inline code of the name as Sphinx would show it (the last component after
``~``, the title of ``title <target>``). Loaded by mkdocs.yml (mkdocstrings' ``extensions``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|data|meth|mod|attr|obj|exc|const):`([^`]+)`")


def _shown(match: re.Match[str]) -> str:
    text = match.group(1).strip()
    titled = re.fullmatch(r"(.+?)\s*<[^>]+>", text)
    if titled:
        text = titled.group(1)
    elif text.startswith("~"):
        text = text[1:].rsplit(".", 1)[-1]
    return f"`{text}`"


def strip_roles(text: str) -> str:
    """Replace every Sphinx cross-reference role in ``text`` with inline code.

    Parameters
    ----------
    text : str
        A docstring.

    Returns
    -------
    str
        The docstring with ``:role:`target``` written as ```target```.
    """
    return _ROLE.sub(_shown, text)


class RstRoles(griffe.Extension):
    """Rewrite the Sphinx roles of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of one loaded object."""
        if obj.docstring is not None:
            obj.docstring.value = strip_roles(obj.docstring.value)
