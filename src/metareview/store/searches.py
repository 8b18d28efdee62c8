"""A project's saved searches: ``searches.yaml`` in the project folder, one search per source.

The file is data people read, edit and diff (the search strategy a review reports): for each
search its id, the source named on its imports (PRISMA counts per source), the database whose
client runs it (``pubmed``; any other is kept as the record of a strategy run by hand), the
query, optional date limits, who added it and when. ``metareview search add/list/remove`` and
:func:`add_search` / :func:`remove_search` change it whole (written to a temporary file, then
renamed) with an audit-log row each; a hand-edited file is read with line-precise errors.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from metareview.errors import InputError
from metareview.store import db
from metareview.store.audit import audit
from metareview.store.models import ReviewRow
from metareview.studies import load_yaml

#: The saved searches' file in a project folder.
SEARCHES_FILE = "searches.yaml"
#: Databases whose searches ``metareview update`` runs itself.
RUNNABLE = ("pubmed",)
_HEADER = ("# Saved searches of this review, one per source. `metareview update` re-runs the\n"
           "# PubMed ones; edit with `metareview search add/remove` or by hand.\n")
_DATE = re.compile(r"^\d{4}(/(0[1-9]|1[0-2])(/(0[1-9]|[12]\d|3[01]))?)?$")


class SavedSearch(BaseModel):
    """One saved search (an item of ``searches.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="e.g. pubmed-1")
    source: str = Field(min_length=1, description="named on the imports, e.g. PubMed")
    database: str = Field("pubmed", min_length=1, description="pubmed runs through the "
                          "PubMed client; any other is kept as a record")
    query: str = Field(min_length=1)
    date_type: Literal["pdat", "edat", "mdat"] = Field(
        "pdat", description="publication (pdat), entry (edat) or modification (mdat) date")
    mindate: str | None = Field(None, description="YYYY, YYYY/MM or YYYY/MM/DD")
    maxdate: str | None = None
    added_by: str = Field(min_length=1)
    added_on: dt.date
    notes: str | None = None

    @field_validator("query")
    @classmethod
    def _query(cls, v: str) -> str:
        check_query(v)
        return v

    @field_validator("mindate", "maxdate")
    @classmethod
    def _date(cls, v: str | None) -> str | None:
        if v is not None and not _DATE.fullmatch(v):
            raise ValueError(f"{v!r}: expected YYYY, YYYY/MM or YYYY/MM/DD")
        return v

    @model_validator(mode="after")
    def _limits(self) -> SavedSearch:
        if (self.mindate is None) != (self.maxdate is None):
            raise ValueError("give both mindate and maxdate, or neither (PubMed's rule)")
        if self.mindate is not None and self.mindate > self.maxdate:  # type: ignore[operator]
            raise ValueError(f"mindate {self.mindate} is after maxdate {self.maxdate}")
        return self

    @property
    def runnable(self) -> bool:
        """Whether ``metareview update`` runs it."""
        return self.database.lower() in RUNNABLE

    def limits(self) -> str:
        """The date limits in words ('' when none)."""
        if self.mindate is None:
            return ""
        return f"{self.date_type} {self.mindate}-{self.maxdate}"

    def summary(self) -> str:
        """One line for people."""
        lim = f" [{self.limits()}]" if self.mindate else ""
        return (f"{self.id}: {self.source} ({self.database}){lim}: {self.query} "
                f"(added by {self.added_by} on {self.added_on.isoformat()})")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values, as the file holds them."""
        return self.model_dump(mode="json", exclude_none=True)


class _SearchesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    searches: list[SavedSearch] = []

    @model_validator(mode="after")
    def _unique(self) -> _SearchesFile:
        ids = [s.id for s in self.searches]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"search ids repeat: {', '.join(repeated)}")
        return self


def check_query(query: str) -> None:
    """Refuse a query PubMed cannot parse for want of balance: empty, or with parentheses,
    brackets or double quotes left open (PubMed's own errors come back when it runs).

    Raises
    ------
    ValueError
        Saying what is unbalanced (pydantic turns it into a line-precise error; the CLI into
        an :class:`InputError`).
    """
    if not query.strip():
        raise ValueError("the query is empty")
    if query.count('"') % 2:
        raise ValueError("a double quote is left open")
    for open_, close in ("()", "[]"):
        depth = 0
        for ch in query:
            depth += (ch == open_) - (ch == close)
            if depth < 0:
                raise ValueError(f"'{close}' closes nothing")
        if depth:
            raise ValueError(f"'{open_}' is left open")


def searches_path(root: str | Path) -> Path:
    """Where a project folder keeps its saved searches."""
    return Path(root) / SEARCHES_FILE


def load_searches(root: str | Path) -> tuple[SavedSearch, ...]:
    """The saved searches of the project folder ``root`` (none when it has no file).

    Raises
    ------
    InputError
        Naming the file, line and field of a problem in a hand-edited file.
    """
    path = searches_path(root)
    if not path.is_file():
        return ()
    if not path.read_text(encoding="utf-8").strip(" \n#"):
        return ()
    return tuple(load_yaml(path, _SearchesFile).searches)


def _prepare(root: Path, searches: Sequence[SavedSearch]) -> Path:
    """Write the new file beside the old one; the caller renames it over the old one."""
    body = yaml.safe_dump({"searches": [s.to_dict() for s in searches]}, sort_keys=False,
                          allow_unicode=True, width=100)
    path = searches_path(root)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(_HEADER + body, encoding="utf-8")
    return tmp


@contextmanager
def _editing(project: Any) -> Iterator[tuple[Session, list[SavedSearch]]]:
    """The saved searches read under the review's lock (two edits at once would lose one),
    in the write transaction that takes the audit row."""
    with db.write_session(project.engine) as s:
        s.scalars(select(ReviewRow.id).with_for_update()).one()  # PostgreSQL; SQLite is serial
        yield s, list(load_searches(project.root))


def add_search(project: Any, query: str, *, by: str, source: str = "PubMed",
               database: str = "pubmed", search_id: str | None = None,
               mindate: str | None = None, maxdate: str | None = None,
               date_type: str = "pdat", notes: str | None = None,
               today: dt.date | None = None) -> SavedSearch:
    """Save a search in the project's ``searches.yaml`` (and its audit log).

    Parameters
    ----------
    project : Project
        The open project (its folder holds the file).
    query : str
        The query, in the database's syntax.
    by : str
        Who adds it.
    source, database : str
        The source named on its imports, and the database whose client runs it.
    search_id : str, optional
        Default: ``<database>-<n>``, the first number not taken.
    mindate, maxdate, date_type : str, optional
        Date limits (both or neither), as PubMed takes them.
    notes : str, optional
        Anything the methods section should say about it.
    today : date, optional
        The date stored as ``added_on`` (default: today, UTC).

    Raises
    ------
    InputError
        For a bad query or date, or an id already taken.
    """
    root = Path(project.root)
    with _editing(project) as (s, current):
        search = _new_search(root, current, query, by=by, source=source, database=database,
                             search_id=search_id, mindate=mindate, maxdate=maxdate,
                             date_type=date_type, notes=notes, today=today)
        tmp = _prepare(root, [*current, search])
        audit(s, by, "search-add", search.to_dict())
    tmp.replace(searches_path(root))  # after the commit: the file never names an unlogged add
    return search


def _new_search(root: Path, current: Sequence[SavedSearch], query: str, *, by: str,
                source: str, database: str, search_id: str | None, mindate: str | None,
                maxdate: str | None, date_type: str, notes: str | None,
                today: dt.date | None) -> SavedSearch:
    taken = {s.id for s in current}
    if search_id is None:
        stem = re.sub(r"[^a-z0-9]+", "-", database.lower()).strip("-") or "search"
        search_id = next(f"{stem}-{n}" for n in range(1, len(taken) + 2)
                         if f"{stem}-{n}" not in taken)
    if search_id in taken:
        raise InputError(f"{searches_path(root)}: a search {search_id!r} exists already")
    try:
        search = SavedSearch(id=search_id, source=source, database=database, query=query,
                             date_type=date_type,  # type: ignore[arg-type]
                             mindate=mindate, maxdate=maxdate,
                             added_by=by, added_on=today or dt.datetime.now(dt.UTC).date(),
                             notes=notes)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "search"
        raise InputError(f"search {search_id}, {field}: "
                         f"{err['msg'].removeprefix('Value error, ')}") from None
    return search


def remove_search(project: Any, search_id: str, *, by: str) -> SavedSearch:
    """Remove a saved search from ``searches.yaml`` (its imports stay); returns it.

    Raises
    ------
    InputError
        If there is no such search.
    """
    root = Path(project.root)
    with _editing(project) as (s, current):
        gone = next((x for x in current if x.id == search_id), None)
        if gone is None:
            ids = ", ".join(x.id for x in current) or "none saved"
            raise InputError(f"{searches_path(root)}: no search {search_id!r} ({ids})")
        tmp = _prepare(root, [x for x in current if x.id != search_id])
        audit(s, by, "search-remove", gone.to_dict())
    tmp.replace(searches_path(root))
    return gone
