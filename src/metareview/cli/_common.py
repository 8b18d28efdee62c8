"""What the command modules share: option types, JSON-or-text output, a progress bar."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from metareview.errors import InputError

ReviewDir = Annotated[Path, typer.Option("--review", "-r", help="The review's folder.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
Stage = Annotated[str, typer.Option(help="ta (title/abstract) or ft (full text).")]


def check_figures(option: str, paths: list[Path]) -> None:
    """Figures are written as SVG or PNG, told by the file's extension."""
    for path in paths:
        if path.suffix.lower() not in (".svg", ".png"):
            raise InputError(f"{option} {path}: expected a .svg or .png file")


def echo(as_json: bool, data: dict[str, Any], text: str) -> None:
    """Print ``data`` as JSON with ``--json``, else ``text``."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else text)


class progress_bar:
    """A rich progress bar on stderr, handed out as a ``progress(done, total)`` callback."""

    def __init__(self, show: bool, label: str):
        self.show, self.label = show, label

    def __enter__(self) -> Callable[[int, int], None] | None:
        if not self.show:
            return None
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=None)

        def tick(done: int, total: int) -> None:
            self.bar.update(self.task, completed=done, total=total)

        return tick

    def __exit__(self, *exc: object) -> None:
        if self.show:
            self.bar.stop()
