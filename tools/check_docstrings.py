"""Fail when a public function, class or method of metareview has no docstring.

Public means: every name in the ``__all__`` of a module of the package (private modules, whose
dotted name has a part starting with ``_``, and the database migrations excepted), and so every
name a package ``__init__`` re-exports lazily (those are in its ``__all__`` too, and checked by
``tests/test_startup.py``). For each exported class, every public method, property, class method
and static method defined in the class's own body needs a docstring as well; inherited ones are
checked where they are defined.

Run by ``make docs`` before MkDocs and by ``tests/test_docstrings.py``::

    python tools/check_docstrings.py      # exit 1 and one line per missing docstring
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Iterator

PACKAGE = "metareview"


def public_modules(package: str = PACKAGE) -> list[str]:
    """Dotted names of the package's public modules and subpackages.

    Parameters
    ----------
    package : str
        The top-level package.

    Returns
    -------
    list of str
        The package itself and every module under it whose name has no part starting with
        ``_`` and that is not a database migration, sorted.
    """
    root = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(root.__path__, prefix=package + "."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or "migrations" in parts:
            continue
        names.append(info.name)
    return sorted(names)


def _own_members(cls: type) -> Iterator[tuple[str, object]]:
    """Public callables and properties defined in ``cls``'s own body."""
    for name, raw in vars(cls).items():
        if name.startswith("_"):
            continue
        func = raw.__func__ if isinstance(raw, classmethod | staticmethod) else raw
        if isinstance(func, property):
            yield name, func
        elif inspect.isfunction(func):
            # a function assigned from elsewhere (e.g. ``lookup = some_module.lookup``) is
            # checked where it is defined
            if func.__qualname__.startswith(cls.__qualname__ + "."):
                yield name, func


def _has_doc(obj: object) -> bool:
    """Whether ``obj`` has a docstring of its own (not inherited, not a dataclass's default)."""
    doc = (obj.__doc__ or "").strip()
    if inspect.isclass(obj):
        if dataclasses.is_dataclass(obj) and doc.startswith(obj.__name__ + "("):
            return False  # the signature dataclasses writes when the class has no docstring
        if any(doc == (base.__doc__ or "").strip() for base in obj.__mro__[1:]):
            return False  # inherited (Enum, NamedTuple and Exception bases give one)
    return bool(doc)


def missing_docstrings(package: str = PACKAGE) -> list[str]:
    """Public names of ``package`` without a docstring.

    Parameters
    ----------
    package : str
        The top-level package.

    Returns
    -------
    list of str
        ``module.name`` or ``module.Class.method`` for each function, class or method that has
        no docstring (or an empty one), in module order; empty when all have one.
    """
    missing: list[str] = []
    seen: set[int] = set()
    for modname in public_modules(package):
        module = importlib.import_module(modname)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)) or id(obj) in seen:
                continue
            seen.add(id(obj))
            if not _has_doc(obj):
                missing.append(f"{modname}.{name}")
            if inspect.isclass(obj) and obj.__module__.startswith(package):
                for member, value in _own_members(obj):
                    if not (value.__doc__ or "").strip():
                        missing.append(f"{modname}.{name}.{member}")
    return missing


def main() -> int:
    """Print the public names without a docstring; exit status 1 if there are any.

    Returns
    -------
    int
        0 when every public function, class and method has a docstring, else 1.
    """
    missing = missing_docstrings()
    for name in missing:
        print(f"missing docstring: {name}")
    if missing:
        print(f"{len(missing)} public names without a docstring", file=sys.stderr)
        return 1
    print(f"docstrings: every public name of {PACKAGE} has one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
