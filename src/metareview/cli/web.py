"""``metareview serve`` and ``metareview user``: the team web app and its accounts.

Thin shells: they parse, call :mod:`metareview.web`, print. Flask is imported only by these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metareview.errors import InputError

user_app = typer.Typer(help="Accounts of the web app (metareview serve).\n\n\b\nExample: "
                       "metareview user create anna --password-file pw.txt --workspace team",
                       no_args_is_help=True)


def serve(
    workspace: Annotated[Path, typer.Argument(
        help="A review folder, or a folder of several (new projects go in its projects/).")
    ] = Path("."),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    secure_cookies: Annotated[bool, typer.Option(
        help="Session cookie over HTTPS only (behind a TLS proxy).")] = False,
    threads: Annotated[int, typer.Option(help="Requests served at once.")] = 8,
) -> None:
    """Serve the web app for a team (accounts: METAREVIEW_WEB_DATABASE_URL or a SQLite file
    in the folder).

    \b
    Example: metareview serve team --port 8000
    """
    from waitress import serve as waitress_serve

    from metareview.web.app import create_app

    app = create_app(workspace, secure_cookies=secure_cookies)
    typer.echo(f"metareview: serving {workspace} at http://{host}:{port}/ (Ctrl-C stops)")
    waitress_serve(app, host=host, port=port, threads=threads, ident="metareview")


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="Account name.")],
    password_file: Annotated[Path, typer.Option(
        "--password-file", help="File whose first line is the password (never on the "
        "command line).")],
    workspace: Annotated[Path, typer.Option("--workspace", help="The folder served.")
                         ] = Path("."),
    admin: Annotated[bool | None, typer.Option(
        "--admin/--no-admin", help="Workspace administrator (default: the first account "
        "is).")] = None,
) -> None:
    """Make an account; the first one administers the workspace and owns its projects.

    \b
    Example: metareview user create anna --password-file pw.txt --workspace team
    """
    from metareview.web.accounts import Site

    try:
        lines = password_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{password_file}: {exc.strerror or exc}") from None
    if not lines or not lines[0]:
        raise InputError(f"{password_file}: the first line (the password) is empty")
    with Site.open(workspace) as site:
        user = site.create_user(name, lines[0], admin=admin)
    typer.echo(f"metareview: user {user.name} created" + (" (administrator)" if user.is_admin
                                                          else ""))
