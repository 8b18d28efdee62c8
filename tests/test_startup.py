"""The command line starts light: heavy libraries are imported by the commands that use them.

Not a timing test (bench/bench_startup.py measures): it checks which modules a fresh interpreter
has loaded after importing the CLI, after ``metareview --help``, and after an ``analyze``.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "pandas", "scipy", "matplotlib", "sqlalchemy", "alembic", "sklearn", "dask",
         "pyarrow", "rich")


def loaded_after(code: str) -> list[str]:
    """Top-level and ``scipy.*`` modules loaded by ``code`` in a fresh interpreter."""
    probe = (f"{code}\nimport json, sys\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
             f"{set(HEAVY)!r} and m.count('.') <= 1)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def run_cli(*args: str) -> str:
    return ("import sys\nfrom metareview.cli import main\n"
            f"sys.argv = ['metareview', *{list(args)!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n")


def test_importing_the_cli_loads_no_heavy_library():
    assert loaded_after("import metareview.cli") == []


def test_importing_the_package_loads_no_heavy_library():
    assert loaded_after("import metareview, metareview.models, metareview.effects") == []


def test_help_loads_no_heavy_library():
    # click's plain help (rich_markup_mode=None): neither rich nor the numeric stack.
    assert loaded_after(run_cli("--help")) == []


def test_analyze_loads_only_what_it_computes_with():
    loaded = loaded_after(run_cli("analyze", "src/metareview/data/bcg.csv", "--measure", "RR"))
    # pandas itself imports pyarrow when it is installed.
    assert {m.split(".")[0] for m in loaded} - {"pyarrow"} == {"numpy", "pandas", "scipy"}
    # scipy.stats and scipy.optimize cost a second between them; the fit needs neither.
    assert [m for m in loaded if m.startswith("scipy.") and not m.startswith("scipy._")] == [
        "scipy.special", "scipy.version"]


LAZY = ("metareview", "metareview.effects", "metareview.models", "metareview.batch",
        "metareview.grade", "metareview.report", "metareview.studies")


@pytest.mark.parametrize("package", LAZY)
def test_lazy_exports_are_the_modules_objects(package):
    """Every name in ``__all__`` resolves, to the object its module defines, and is listed."""
    pkg = importlib.import_module(package)
    for name in pkg.__all__:
        value = getattr(pkg, name)
        assert not isinstance(value, type(sys)), f"{package}.{name} is a module"
        origin = getattr(value, "__module__", None)
        if origin and origin.startswith("metareview.") and origin != package:
            assert getattr(importlib.import_module(origin), name, value) is value
        assert name in dir(pkg)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        pkg.no_such_name  # noqa: B018


def test_python_m_metareview_is_the_console_script():
    out = subprocess.run([sys.executable, "-m", "metareview", "version"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == importlib.import_module("metareview").__version__
