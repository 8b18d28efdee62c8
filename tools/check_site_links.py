"""Fail on a dead internal link in the built site (``site/``).

``mkdocs build --strict`` checks the links of Markdown pages, but not those inside the example
notebooks, which mkdocs-jupyter renders to HTML itself. This reads every HTML file of the built
site and checks that each relative ``href`` and ``src`` names a file that exists (a directory
counts when it has ``index.html``), and that a ``#fragment`` into another page names an ``id``
on it. Run by ``make docs`` after MkDocs::

    python tools/check_site_links.py [site]
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Links(HTMLParser):
    """The ``href``/``src`` values and element ``id`` s of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Collect the link targets and ids of one start tag."""
        for name, value in attrs:
            if value is None:
                continue
            if name in ("href", "src"):
                self.links.append(value)
            elif name in ("id", "name"):
                self.ids.add(value)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def dead_links(site: Path) -> list[str]:
    """Relative links of the built site that lead nowhere.

    Parameters
    ----------
    site : Path
        The built site's folder.

    Returns
    -------
    list of str
        ``page: link`` for each relative link whose file (or, for a link into another page,
        fragment) does not exist; empty when every link resolves.
    """
    site = site.resolve()
    pages = {p: _parse(p) for p in sorted(site.rglob("*.html"))}
    dead: list[str] = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            if not parts.path or parts.scheme or parts.netloc:
                continue  # another site, or an anchor on this page (checked by MkDocs)
            # 404.html links from the site's root, other pages relatively
            base = site if parts.path.startswith("/") else page.parent
            target = (base / unquote(parts.path.lstrip("/"))).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                dead.append(f"{page.relative_to(site)}: {link}")
            elif parts.fragment and target in pages and parts.fragment not in pages[target].ids:
                dead.append(f"{page.relative_to(site)}: {link} (no such anchor)")
    return dead


def main(argv: list[str]) -> int:
    """Print the dead links of the site; exit status 1 if there are any.

    Parameters
    ----------
    argv : list of str
        Optional: the site's folder (default ``site``).

    Returns
    -------
    int
        0 when every internal link resolves, else 1.
    """
    site = Path(argv[0] if argv else "site")
    if not (site / "index.html").exists():
        print(f"no built site in {site}/ (run mkdocs build first)", file=sys.stderr)
        return 1
    dead = dead_links(site)
    for line in dead:
        print(f"dead link: {line}")
    if dead:
        print(f"{len(dead)} dead internal links in {site}/", file=sys.stderr)
        return 1
    print(f"links: every internal link of {site}/ resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
