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
from typing import Any

import click
import typer
from typer.core import TyperGroup

from metareview.cli import analysis, project, studies
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


app = typer.Typer(
    cls=_Group,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help: drawing it with rich doubled the time `metareview --help` took.
    rich_markup_mode=None,
    help="metareview: meta-analysis with metafor's vocabulary.",
    no_args_is_help=True,
)


@app.callback()
def _root() -> None:
    """metareview: evidence synthesis from study data to a graded answer."""


def version() -> None:
    """Print the version."""
    from metareview._util.version import __version__

    typer.echo(__version__)


# Registered here, in this order, so that `metareview --help` lists them as it always has.
app.command()(analysis.analyze)
app.command()(analysis.report)
app.command()(analysis.batch)
app.command()(project.init)
app.command(name="import")(project.import_)
app.command()(project.dedupe)
app.command()(project.screen)
app.command()(project.fulltext)
app.command()(project.conflicts)
app.command()(project.progress)
app.command()(analysis.simulate)
app.command()(project.prisma)
app.command()(project.export)
app.add_typer(studies.review_app, name="review")
app.add_typer(studies.study_app, name="study")
app.command()(version)


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``metareview`` console script."""
    return app(args=argv if argv is not None else sys.argv[1:], prog_name="metareview")


__all__ = ["app", "main"]
