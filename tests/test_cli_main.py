"""``metareview.cli.main`` runs a named command in an app that holds it alone (faster start);
what people see must be what the whole app shows."""

from __future__ import annotations

import pytest

from metareview.cli import _COMMANDS, _app, app, main

CASES = [
    ["--help"],
    ["simulate", "--help"],
    ["analyze", "--bogus"],
    ["review", "--help"],
    ["review", "import", "--help"],
    ["nosuch"],
    ["version"],
    [],
]


def _run(fn, args, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        fn(args)
    out = capsys.readouterr()
    return stop.value.code, out.out, out.err


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "(none)")
def test_main_shows_what_the_whole_app_shows(args, capsys) -> None:
    got = _run(main, args, capsys)
    want = _run(lambda a: app(args=a, prog_name="metareview"), args, capsys)
    assert got == want
    assert got[1] or got[2]  # something was printed


def test_a_named_command_is_built_alone() -> None:
    names = [name for name, _ in _COMMANDS]
    assert len(names) == len(set(names)) == len(app.registered_commands) + len(
        app.registered_groups)
    one = _app("simulate")
    assert [c.name for c in one.registered_commands] == ["simulate"]
    assert not one.registered_groups
    sub = _app("review")
    assert not sub.registered_commands and [g.name for g in sub.registered_groups] == ["review"]
