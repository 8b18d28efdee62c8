"""The package's layering rules, and error messages worded for the layer that prints them."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metareview import InputError
from metareview.analysis import run_analysis
from metareview.cli import app
from metareview.records.model import ImportBatch, Record
from metareview.screening.source import ScreeningSource
from metareview.store.project import Project

SRC = Path(__file__).resolve().parents[1] / "src" / "metareview"
BCG = SRC / "data" / "bcg.csv"
FLAG = re.compile(r"(?<![\w-])--[a-z]")
runner = CliRunner()


def _modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_util_imports_nothing_of_metareview():
    for path in _modules(SRC / "_util"):
        assert not {m for m in _imports(path) if m.startswith("metareview")}, path


def test_screening_never_imports_the_store():
    for path in _modules(SRC / "screening"):
        assert not {m for m in _imports(path) if m.startswith("metareview.store")}, path


def test_library_errors_name_no_command_line_options():
    found = []
    for path in _modules(SRC):
        if "cli" in path.relative_to(SRC).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "InputError"):
                text = " ".join(c.value for c in ast.walk(node)
                                if isinstance(c, ast.Constant) and isinstance(c.value, str))
                if FLAG.search(text):
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not found


def test_project_has_what_screening_reads():
    wanted = {n for n, v in vars(ScreeningSource).items()
              if callable(v) and not n.startswith("_")}
    assert wanted >= {"records", "eligible", "status", "own_labels", "retrieval", "studies"}
    for name in wanted:
        theirs = list(inspect.signature(getattr(ScreeningSource, name)).parameters)
        ours = list(inspect.signature(getattr(Project, name)).parameters)
        assert ours[:len(theirs)] == theirs, name


def test_library_names_the_parameter_and_the_cli_its_option(tmp_path):
    with pytest.raises(InputError, match=r"give measure \(") as err:
        run_analysis(BCG)
    assert err.value.parameter == "measure"
    res = runner.invoke(app, ["analyze", str(BCG)])
    assert res.exit_code == 2
    assert res.output == (f"metareview: error: {BCG}: give --measure (the file has no yi column "
                          "to use as is)\n")
    for args, message in (
        (["--mods", "ablat", "--subgroup", "alloc"], "use either --mods or --subgroup, not both"),
        (["--mods", "ablat", "--bias"], "--bias applies to a model without --mods"),
        (["--method", "mh", "--bias"],
         "--bias needs an inverse-variance model (FE or a tau^2 estimator), not MH"),
    ):
        res = runner.invoke(app, ["analyze", str(BCG), "--measure", "RR", *args])
        assert (res.exit_code, res.output) == (2, f"metareview: error: {message}\n")
    with pytest.raises(InputError, match="not both"):
        run_analysis(BCG, measure="RR", mods=["ablat"], subgroup="alloc")


def test_repeated_import_hint(tmp_path):
    batch = ImportBatch([Record(title="A trial")], "PubMed", kind="database", format="ris",
                        filename="x.ris", sha256="abc")
    with Project.create(tmp_path / "rv", "rv") as rv:
        rv.add_import(batch)
        with pytest.raises(InputError, match=r"^x.ris: already imported \(import 1, x.ris "
                                             r"from PubMed\)$") as err:
            rv.add_import(batch)
    assert err.value.parameter == "allow_repeat"
    ris = tmp_path / "x.ris"
    ris.write_text("TY  - JOUR\nTI  - A trial\nER  - \n", encoding="utf-8")
    assert runner.invoke(app, ["import", str(ris), "-r", str(tmp_path / "rv")]).exit_code == 0
    res = runner.invoke(app, ["import", str(ris), "-r", str(tmp_path / "rv")])
    assert res.exit_code == 2
    assert res.output.endswith("; pass --allow-repeat to import again\n")
    assert res.output.count("\n") == 1
