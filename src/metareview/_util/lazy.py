"""Lazy re-exports for package ``__init__`` files (PEP 562).

A package's ``__init__`` re-exports names from its modules, but importing them all at once
pulls in pandas, scipy and matplotlib, which ``metareview --help`` never needs. With
:func:`lazy_exports` a name's module is imported on first access and the value is cached on the
package, so ``from metareview import meta_analysis`` still works and costs what it used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for a package that re-exports names lazily.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : dict of str to tuple of str
        Module (absolute name) to the names the package re-exports from it.

    Returns
    -------
    getattr, dir
        Assign them to the package's ``__getattr__`` and ``__dir__``.
    """
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__
