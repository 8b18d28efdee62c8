"""Every command's ``--help`` ends with a working example, and ``metareview --version`` prints the
version.

The examples are parsed, not run (most need a project folder): each must name its own command
and pass the command's option parser (known flags, required options given, values of the right
type).
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from metareview import __version__
from metareview.cli import app, main

runner = CliRunner()


def _paths() -> list[tuple[str, ...]]:
    """Every command and sub-command of the app (groups too), as the words that call it."""
    out: list[tuple[str, ...]] = []

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        out.append(path)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return out


PATHS = _paths()


def _examples(path: tuple[str, ...]) -> list[str]:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    return [line.strip()[len("Example: "):] for line in result.output.splitlines()
            if line.strip().startswith("Example: ")]


def test_every_command_is_walked():
    assert len(PATHS) > 25
    assert {("analyze",), ("batch",), ("report",), ("review", "import"), ("study", "rows"),
            ("search", "add"), ("user", "create")} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "metareview")
def test_help_ends_with_an_example_of_the_command(path):
    examples = _examples(path)
    assert examples, f"metareview {' '.join(path)} --help has no 'Example:' line"
    words = " ".join(("metareview", *path))
    assert any(e == words or e.startswith(words + " ") for e in examples), examples


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "metareview")
def test_examples_parse(path):
    """Each example's words reach a command whose parser accepts the rest."""
    for example in _examples(path):
        words = shlex.split(example)
        assert words[0] == "metareview"
        cmd, rest, called = typer.main.get_command(app), words[1:], ["metareview"]
        while getattr(cmd, "commands", None) and rest and rest[0] in cmd.commands:
            called.append(rest[0])
            cmd, rest = cmd.commands[rest[0]], rest[1:]
        assert not getattr(cmd, "commands", None), f"{example}: names no command"
        cmd.make_context(" ".join(called), list(rest))  # raises on an unknown or missing option


def test_version_option_prints_the_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == __version__
    assert runner.invoke(app, ["version"]).output == result.output


def test_version_option_through_the_console_script(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert not stop.value.code
    assert capsys.readouterr().out.strip() == __version__
