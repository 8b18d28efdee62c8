"""A project's study data in its database: protocol, studies, extracted rows, GRADE judgements.

The database holds what the review folder holds (:mod:`metareview.studies.folder`), validated
by the same models and cross-checked by the same :func:`~metareview.studies.check_review`, so a
folder read into a project and written back out gives the same files. A study can also exist
before it is extracted: a report linked to a new study at full text creates it, and its
description and rows come later. Every write is one transaction with its audit-log row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from metareview.errors import InputError
from metareview.store import db
from metareview.store.audit import audit as _audit
from metareview.store.audit import now as _now
from metareview.store.models import ProtocolRow, StudyDataRow, StudyRow
from metareview.studies import DATA_FILES, Protocol, ReviewData, Study, check_review

_MODELS: dict[str, type[BaseModel]] = {attr: model for attr, _, model in DATA_FILES}
_FILES: dict[str, str] = {attr: name for attr, name, _ in DATA_FILES}


@dataclass(frozen=True)
class StudyEntry:
    """A study as the project lists it: its reports and whether it has been extracted."""

    id: str
    label: str
    extracted: bool
    reports: tuple[int, ...]
    rows: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"id": self.id, "label": self.label, "extracted": self.extracted,
                "reports": list(self.reports), "rows": self.rows}




def _dump_row(row: BaseModel) -> dict[str, Any]:
    # As a CSV cell can: an empty cell is a missing value, so None is not kept.
    return row.model_dump(mode="json", exclude_none=True)


def _dump_doc(model: BaseModel) -> dict[str, Any]:
    # As the YAML file holds it: only the fields that were given.
    return model.model_dump(mode="json", exclude_unset=True)


def write_review_data(engine: Engine, data: ReviewData, *, actor: str) -> dict[str, int]:
    """Replace the project's study data with ``data`` (after cross-checking it).

    Studies the data do not hold but that reports are linked to stay, as studies awaiting
    extraction. Returns counts of what was written.

    Raises
    ------
    InputError
        If the data do not cross-check (see :func:`~metareview.studies.check_review`).
    """
    check_review(data)
    with db.write_session(engine) as s:
        s.execute(delete(StudyDataRow))
        s.execute(delete(ProtocolRow))
        s.add(ProtocolRow(key=data.protocol.id, data=_dump_doc(data.protocol), updated_at=_now(),
                          updated_by=actor))
        existing = {r.id: r for r in s.scalars(select(StudyRow))}
        for sid, st in data.studies.items():
            row = existing.get(sid)
            if row is None:
                s.add(StudyRow(id=sid, label=st.label, data=_dump_doc(st), created_at=_now(),
                               created_by=actor))
            else:
                row.label, row.data = st.label, _dump_doc(st)
        for sid, row in existing.items():
            if sid not in data.studies:
                row.data = None
        s.flush()
        counts = {"studies": len(data.studies)}
        for attr, _, _ in DATA_FILES:
            rows = getattr(data, attr)
            s.add_all(StudyDataRow(kind=attr, position=i, study_id=_study_of(attr, r),
                                   data=_dump_row(r)) for i, r in enumerate(rows))
            counts[attr] = len(rows)
        _audit(s, actor, "review-import", {"review": data.protocol.id, **counts})
    return counts


def _study_of(attr: str, row: BaseModel) -> str | None:
    # Placebo-response rows cite a document, not one of the review's studies.
    return getattr(row, "study", None) if attr in ("outcomes", "arms") else None


def _validate(model: type[BaseModel], raw: dict[str, Any], where: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:  # data written by another version, or edited by hand
        err = exc.errors()[0]
        col = ".".join(str(x) for x in err["loc"])
        raise InputError(f"{where}, field {col}: {err['msg']}") from None


def read_review_data(engine: Engine, origin: str = "project") -> ReviewData:
    """The project's study data (extracted studies only) as :class:`ReviewData`.

    Raises
    ------
    InputError
        If the project has no protocol yet.
    """
    with Session(engine) as s:
        proto = s.scalars(select(ProtocolRow)).one_or_none()
        if proto is None:
            raise InputError(f"{origin}: no study data yet (import a review folder first)")
        protocol = _validate(Protocol, proto.data, f"{origin} protocol")
        studies = {r.id: _validate(Study, r.data, f"{origin} study {r.id}")
                   for r in s.scalars(select(StudyRow).where(StudyRow.data.is_not(None))
                                      .order_by(StudyRow.id))}
        tables: dict[str, tuple[Any, ...]] = {}
        for attr, model in _MODELS.items():
            rows = s.scalars(select(StudyDataRow).where(StudyDataRow.kind == attr)
                             .order_by(StudyDataRow.position))
            tables[attr] = tuple(_validate(model, r.data, f"{origin} {_FILES[attr]} row "
                                           f"{r.position + 2}") for r in rows)
    return ReviewData(protocol, studies, **tables, origin=origin)


def add_study(s: Session, study_id: str, label: str, *, actor: str) -> bool:
    """Create a study awaiting extraction unless it exists; True when created."""
    if s.get(StudyRow, study_id) is not None:
        return False
    added = s.execute(db.insert_new(s, StudyRow).values(
        id=study_id, label=label, data=None, created_at=_now(), created_by=actor))
    if not added.rowcount:  # another process added it meanwhile
        return False
    _audit(s, actor, "study-new", {"study": study_id, "label": label})
    return True


def set_study(engine: Engine, study: Study, *, actor: str) -> None:
    """Store a study's extracted description (creating the study if it is new).

    Raises
    ------
    InputError
        If the study does not cross-check against the protocol.
    """
    current = read_review_data(engine)
    check_review(ReviewData(current.protocol, {**current.studies, study.id: study},
                            origin=f"study {study.id}"))
    with db.write_session(engine) as s:
        row = s.get(StudyRow, study.id)
        if row is None:
            s.add(StudyRow(id=study.id, label=study.label, data=_dump_doc(study),
                           created_at=_now(), created_by=actor))
        else:
            row.label, row.data = study.label, _dump_doc(study)
        _audit(s, actor, "study-extract", {"study": study.id})


def add_rows(engine: Engine, attr: str, rows: Sequence[BaseModel], *, actor: str) -> int:
    """Append extracted rows (``outcomes``, ``arms``, ``placebo_response`` or ``judgements``).

    The rows are cross-checked with everything already stored: their studies must be
    extracted, their values in the protocol's vocabularies. Returns how many were added.

    Raises
    ------
    InputError
        Naming the first row that does not cross-check.
    """
    if attr not in _MODELS:
        raise InputError(f"unknown study-data table {attr!r} (one of {', '.join(_MODELS)})")
    current = read_review_data(engine)
    old = getattr(current, attr)
    combined = ReviewData(**{**{a: getattr(current, a) for a in ("protocol", "studies",
                                                                  *_MODELS)},
                             attr: (*old, *rows)}, origin="project")
    check_review(combined)
    with db.write_session(engine) as s:
        start = s.scalar(select(func.count()).select_from(StudyDataRow)
                         .where(StudyDataRow.kind == attr)) or 0
        s.add_all(StudyDataRow(kind=attr, position=start + i, study_id=_study_of(attr, r),
                               data=_dump_row(r)) for i, r in enumerate(rows))
        detail: dict[str, Any] = {"table": attr, "rows": len(rows)}
        if len(rows) <= 20:  # a judgement or a few values entered by hand: the log shows them
            detail["values"] = [_dump_row(r) for r in rows]
        _audit(s, actor, "study-rows", detail)
    return len(rows)


def list_studies(engine: Engine, links: dict[int, str]) -> list[StudyEntry]:
    """Every study of the project with its linked reports (record ids) and row counts."""
    reports: dict[str, list[int]] = {}
    for record, sid in sorted(links.items()):
        reports.setdefault(sid, []).append(record)
    with Session(engine) as s:
        counts = dict(s.execute(select(StudyDataRow.study_id, func.count())
                                .group_by(StudyDataRow.study_id)).all())
        rows = list(s.scalars(select(StudyRow).order_by(StudyRow.id)))
        known = {r.id for r in rows}
        out = [StudyEntry(r.id, r.label, r.data is not None, tuple(reports.get(r.id, ())),
                          counts.get(r.id, 0)) for r in rows]
    # Links made before studies were kept (a free study name) still count as studies.
    out += [StudyEntry(sid, sid, False, tuple(recs), 0) for sid, recs in sorted(reports.items())
            if sid not in known]
    return out
