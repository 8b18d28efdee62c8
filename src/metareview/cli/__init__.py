"""The ``metareview`` command line: parses, calls the library, prints.

The commands live by subject in :mod:`~metareview.cli.analysis` (data to results) and
:mod:`~metareview.cli.project` (a review project from search results to PRISMA); this module
assembles them into one app. Bad input ends with one line on stderr naming the file, row, study
and column, and exit status 2: every command lets :class:`~metareview.errors.InputError` rise
and :class:`_Group` prints it, once for all. The JSON printed by ``--json`` is the library's
``to_dict()`` plus the optional blocks, so scripts can rely on the library's field names.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from metareview.cli import analysis, living, project, studies, web
from metareview.errors import InputError


class _Group(TyperGroup):
    """The app's command group: turns an :class:`InputError` from any command into
    ``metareview: error: <message>`` on stderr and exit status 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as exc:
            typer.echo(f"metareview: error: {exc}", err=True)
            raise typer.Exit(code=2) from None


def _print_version(value: bool) -> None:
    """``--version``: print the version (as ``metareview version``) and stop."""
    if value:
        version()
        raise typer.Exit()


def _root(
    show_version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    """metareview: evidence synthesis from study data to a graded answer."""


def version() -> None:
    """Print the version.

    \b
    Example: metareview version
    """
    from metareview._util.version import __version__

    typer.echo(__version__)


#: The commands, in the order `metareview --help` has always listed them.
_COMMANDS: tuple[tuple[str, Any], ...] = (
    ("analyze", analysis.analyze), ("report", analysis.report), ("batch", analysis.batch),
    ("init", project.init), ("import", project.import_), ("dedupe", project.dedupe),
    ("screen", project.screen), ("fulltext", project.fulltext),
    ("conflicts", project.conflicts), ("progress", project.progress),
    ("simulate", analysis.simulate), ("prisma", project.prisma), ("export", project.export),
    ("review", studies.review_app), ("study", studies.study_app), ("version", version),
    ("serve", web.serve), ("user", web.user_app),
    ("search", living.search_app), ("update", living.update), ("changes", living.changes),
)


def _app(only: str | None = None) -> typer.Typer:
    """The app with every command, or with the command ``only`` alone."""
    new = typer.Typer(
        cls=_Group,
        add_completion=False,
        pretty_exceptions_enable=False,
        # click's plain help: drawing it with rich doubled the time `metareview --help` took.
        rich_markup_mode=None,
        help="metareview: meta-analysis with metafor's vocabulary.\n\n\b\n"
             "Example: metareview analyze trials.csv --measure RR",
        no_args_is_help=True,
    )
    new.callback()(_root)
    for name, command in _COMMANDS:
        if only is None or name == only:
            if isinstance(command, typer.Typer):
                new.add_typer(command, name=name)
            else:
                new.command(name=name)(command)
    return new


app = _app()


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``metareview`` console script.

    A command named first runs in an app that holds it alone: typer turns every command's
    signature into click options before it runs one, about 30 ms for all of them, a tenth of
    a short command's whole run. The command, its options, help and errors are the same.
    """
    args = argv if argv is not None else sys.argv[1:]
    known = bool(args) and args[0] in dict(_COMMANDS)
    return (_app(args[0]) if known else app)(args=args, prog_name="metareview")


__all__ = ["app", "main"]
