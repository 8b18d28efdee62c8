"""What every group of pages needs from the app: the site, a project by slug, the membership
check and the error guard (built in :func:`metareview.web.app.create_app`, passed to each
module's ``register``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from metareview.store.project import Project
from metareview.web.accounts import Site


@dataclass(frozen=True)
class PageTools:
    """The app's shared helpers for page modules.

    Attributes
    ----------
    site : Site
        Accounts, memberships and the project registry.
    project : callable
        ``project(slug)``: the open :class:`Project` (opened once per process).
    member : callable
        ``member(slug, at_least="viewer")``: the signed-in user's role; aborts 404 for a
        non-member and 403 for too low a role.
    guarded : callable
        ``guarded(fn, back)``: runs ``fn``; a library ``InputError`` becomes a flashed message
        and a redirect to ``back``.
    """

    site: Site
    project: Callable[[str], Project]
    member: Callable[..., str]
    guarded: Callable[[Callable[[], Any], str], Any]
