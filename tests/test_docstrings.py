"""Every public function, class and method of metareview has a docstring (tools/check_docstrings).

The API reference on the documentation site is generated from the docstrings, so a public name
without one would be a hole in it; ``make docs`` runs the same check before MkDocs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "check_docstrings.py"
_spec = importlib.util.spec_from_file_location("check_docstrings", _SCRIPT)
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


def test_every_public_name_has_a_docstring() -> None:
    assert check.missing_docstrings() == []


def test_the_check_sees_the_lazy_exports_and_methods() -> None:
    modules = check.public_modules()
    assert {"metareview", "metareview.models", "metareview.screening.simulate"} <= set(modules)
    assert not any(part.startswith("_") for m in modules for part in m.split("."))
    assert not any("migrations" in m for m in modules)
    from metareview.models import MetaAnalysis

    members = dict(check._own_members(MetaAnalysis))
    assert "summary" in members and all(not name.startswith("_") for name in members)


def test_sphinx_roles_are_shown_as_code_on_the_site() -> None:
    spec = importlib.util.spec_from_file_location(
        "griffe_rst_roles", _SCRIPT.parent / "griffe_rst_roles.py")
    roles = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(roles)
    text = ":func:`~metareview.models.meta_analysis`, :class:`Fit <a.Fit>`, :mod:`a.b`, ``x``"
    assert roles.strip_roles(text) == "`meta_analysis`, `Fit`, `a.b`, ``x``"
