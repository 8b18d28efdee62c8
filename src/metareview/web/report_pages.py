"""The review's report from the app: the self-contained HTML and the Word document.

Any member may download the report of a project: it is built from the project's study data
and its own PRISMA counts, exactly as ``metareview report PROJECT --out report.docx`` builds
it. A project without study data yet gets a message on its dashboard, not an error page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, url_for

from metareview.errors import InputError
from metareview.web.tools import PageTools

#: The HTML report holds inline styles and SVG and no script: its own policy allows exactly
#: that (the site's forbids inline styles), and nothing may frame it.
_HTML_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                "frame-ancestors 'none'; form-action 'none'")


def register(app: Flask, tools: PageTools) -> None:
    """Add the report routes to ``app``.

    Parameters
    ----------
    app : Flask
        The app built by :func:`metareview.web.app.create_app`.
    tools : PageTools
        The app's project, membership and error-guard helpers.
    """

    def built(slug: str, render: Callable[[Any], Any]) -> Any:
        """``render`` of the project's report; a project without usable study data gets a
        message on its dashboard."""
        from metareview.report.review_report import build_report
        from metareview.screening.prisma import report_prisma
        from metareview.synthesis.review import synthesize

        project = tools.project(slug)
        back = url_for("dashboard", slug=slug)

        def data() -> Any:
            try:
                return project.review_data()
            except InputError as exc:
                # The library names the project's folder on the server: people know it by
                # its name.
                why = str(exc).replace(str(project.root), f"project {slug}")
                raise InputError(f"No report yet: {why}") from None

        return tools.guarded(
            lambda: render(build_report(synthesize(data()), report_prisma(project))), back)

    @app.get("/p/<slug>/report.docx")
    def report_docx(slug: str) -> Any:
        tools.member(slug)
        from metareview.report.word import DOCX_MIME, render_docx

        return built(slug, lambda report: Response(
            render_docx(report), mimetype=DOCX_MIME,
            headers={"Content-Disposition": f'attachment; filename="{slug}-report.docx"'}))

    @app.get("/p/<slug>/report.html")
    def report_html(slug: str) -> Any:
        tools.member(slug)
        from metareview.report.review_report import render_html

        return built(slug, lambda report: Response(
            render_html(report), mimetype="text/html",
            headers={"Content-Security-Policy": _HTML_POLICY,
                     "Content-Disposition": f'inline; filename="{slug}-report.html"'}))
