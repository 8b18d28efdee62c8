"""Pages: dedupe (being built)."""

from __future__ import annotations

from flask import Flask

from metareview.web.tools import PageTools


def register(app: Flask, tools: PageTools) -> None:
    """Add this module's routes to app."""
