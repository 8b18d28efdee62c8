"""What screening reads from a review project, as a structural type.

Screening sits below the store (the store imports :mod:`metareview.screening.decisions` for its
vote rules), so the functions here that read a whole project (PRISMA counts, stopping aids,
ranking) take any object with the methods of :class:`ScreeningSource`.
:class:`metareview.store.project.Project` has them without importing this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from metareview.records.model import Record
from metareview.screening.decisions import Status

#: Source kinds whose records are screened on title and abstract (PRISMA's left column).
DBR_KINDS = ("database", "register")
#: Source kinds of PRISMA's "other methods" column (straight to full-text retrieval).
OTHER_KINDS = ("website", "organisation", "citation", "other")
KINDS = DBR_KINDS + OTHER_KINDS


class SourceRecord(Protocol):
    """A stored record: the kind and name of the source it came from, and the record."""

    @property
    def kind(self) -> str:
        """One of :data:`KINDS`."""

    @property
    def source(self) -> str:
        """The database, register or other source searched."""

    @property
    def record(self) -> Record:
        """The bibliographic record."""


class ScreeningSource(Protocol):
    """The read side of a review project that screening needs."""

    def records(self, ids: Iterable[int] | None = None) -> Mapping[int, SourceRecord]:
        """Stored records by id (all, or those in ``ids``), in import order."""

    def duplicates(self) -> Mapping[int, int]:
        """Record id → canonical record id, for every duplicate of the active run."""

    def settings(self) -> Mapping[str, Any]:
        """At least ``previous_studies`` and ``previous_reports`` (None when not an update)."""

    def eligible(self, stage: str) -> list[int]:
        """Record ids up for screening at ``stage``, in import order."""

    def status(self, stage: str) -> Mapping[int, Status]:
        """Where every record up for ``stage`` stands."""

    def queue(self, stage: str, reviewer: str) -> list[int]:
        """Records still waiting for this reviewer's vote."""

    def own_labels(self, stage: str, reviewer: str) -> Mapping[int, str]:
        """This reviewer's current votes at ``stage``."""

    def screening_order(self, stage: str, reviewer: str) -> list[tuple[int, str]]:
        """This reviewer's screened records in the order first voted on, with the vote."""

    def retrieval(self) -> Mapping[int, bool]:
        """Record id → whether its full text was obtained."""

    def studies(self) -> Mapping[int, str]:
        """Record id → study it belongs to."""
