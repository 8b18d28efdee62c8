"""The review project's tables (SQLAlchemy 2 declarative models).

What reviewers enter is append-only. A changed decision is a new ``decision`` row, an undo is a
row too, and database triggers (created by the first migration) refuse ``UPDATE`` and
``DELETE`` on ``decision``, ``retrieval``, ``study_link`` and ``audit_log``. The current state is
always the newest row, so the whole history stays and can be audited. Every write also adds an
``audit_log`` row in the same transaction.

The schema is created and upgraded only by the Alembic migrations in
``metareview/store/migrations``; these models must describe exactly what the migrations build
(``tests/test_store.py`` compares the two).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Tables whose rows are never updated or deleted.
APPEND_ONLY = ("record", "decision", "retrieval", "study_link", "audit_log")


class Base(DeclarativeBase):
    """Declarative base of the store's tables."""


class ReviewRow(Base):
    """The review itself (one row)."""

    __tablename__ = "review"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    criteria: Mapped[str] = mapped_column(Text, default="")
    reviewers_required: Mapped[int] = mapped_column(Integer, default=2)
    previous_studies: Mapped[int | None] = mapped_column(Integer, nullable=True)
    previous_reports: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Ask for an exclusion reason at title/abstract as well (after the vote is stored).
    ta_reasons: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Terms highlighted in records for screeners, one per line (inclusion, exclusion).
    include_terms: Mapped[str] = mapped_column(Text, default="", server_default="")
    exclude_terms: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: Who screens a record: "everyone", or "pairs" (only until it has the votes it needs).
    assignment: Mapped[str] = mapped_column(String(20), default="everyone",
                                            server_default="everyone")
    #: The full-text exclusion reasons reviewers choose from, one per line (None: the
    #: defaults, ``store.project.DEFAULT_EXCLUSION_REASONS``).
    exclusion_reasons: Mapped[str | None] = mapped_column(Text, nullable=True)


class ReviewerRow(Base):
    """A person who screens or resolves."""

    __tablename__ = "reviewer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ImportRow(Base):
    """One imported file (a search of one source), for PRISMA's per-source counts."""

    __tablename__ = "import_batch"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    format: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    searched_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    imported_by: Mapped[str] = mapped_column(String(200))
    n_records: Mapped[int] = mapped_column(Integer)
    warnings: Mapped[list] = mapped_column(JSON)


class RecordRow(Base):
    """One imported record, exactly as imported (never changed)."""

    __tablename__ = "record"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text)
    authors: Mapped[list] = mapped_column(JSON)
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    journal: Mapped[str] = mapped_column(Text)
    volume: Mapped[str] = mapped_column(String(100))
    issue: Mapped[str] = mapped_column(String(100))
    pages: Mapped[str] = mapped_column(String(100))
    doi: Mapped[str] = mapped_column(String(300), index=True)
    pmid: Mapped[str] = mapped_column(String(20), index=True)
    keywords: Mapped[list] = mapped_column(JSON)
    url: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(20))
    source_key: Mapped[str] = mapped_column(String(300))
    line: Mapped[int | None] = mapped_column(Integer, nullable=True)
    label: Mapped[str | None] = mapped_column(String(10), nullable=True)
    extra: Mapped[dict] = mapped_column(JSON)


class DedupeRunRow(Base):
    """One de-duplication run; undoing it sets ``undone_at`` (the run itself stays)."""

    __tablename__ = "dedupe_run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict] = mapped_column(JSON)
    n_records: Mapped[int] = mapped_column(Integer)
    n_clusters: Mapped[int] = mapped_column(Integer)
    n_duplicates: Mapped[int] = mapped_column(Integer)
    undone_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    undone_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class DedupeMemberRow(Base):
    """A record's membership of a duplicate cluster in one run."""

    __tablename__ = "dedupe_member"
    run_id: Mapped[int] = mapped_column(ForeignKey("dedupe_run.id"), primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"), primary_key=True)
    cluster: Mapped[int] = mapped_column(Integer)
    canonical: Mapped[bool] = mapped_column(Boolean)


class DecisionRow(Base):
    """One screening event (append-only; the newest per record, stage and reviewer counts).

    ``kind`` is ``vote`` (a reviewer's decision), ``undo`` (restores that reviewer's previous
    value, which is copied into the row; NULL when there was none), ``resolve`` (overrides the
    votes) or ``automation`` (excluded by a stopping rule or other tool).
    """

    __tablename__ = "decision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"))
    stage: Mapped[str] = mapped_column(String(20))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewer.id"))
    kind: Mapped[str] = mapped_column(String(12))
    value: Mapped[str | None] = mapped_column(String(10), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    supersedes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # A vote supersedes the reviewer's previous row for the record and stage; an undo
    # supersedes the vote it undoes. Each row is superseded at most once by a vote and at
    # most once by an undo (a vote that was changed can later be undone as well).
    __table_args__ = (Index("ix_decision_record_stage", "record_id", "stage"),
                      Index("ux_decision_supersedes", "kind", "supersedes", unique=True))


class RetrievalRow(Base):
    """Whether a report's full text was obtained (append-only; the newest counts)."""

    __tablename__ = "retrieval"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"), index=True)
    retrieved: Mapped[bool] = mapped_column(Boolean)
    by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class StudyLinkRow(Base):
    """Which study a report belongs to (append-only; the newest counts).

    A report with no link is its own study; PRISMA counts studies and reports separately.
    """

    __tablename__ = "study_link"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"), index=True)
    study: Mapped[str] = mapped_column(String(200))
    by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class FullTextRow(Base):
    """A full-text PDF attached to a record (migration 0007).

    The bytes are in the project folder, ``fulltext/<sha256>.pdf``: identical files are kept
    once, whichever records they are attached to. ``filename`` is the uploader's name for the
    file, for display only. A removed attachment keeps its row (``removed_at`` set).
    """

    __tablename__ = "fulltext"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                           nullable=True)
    removed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class AuditRow(Base):
    """Every write, who made it and what it was (append-only)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict] = mapped_column(JSON)


# ---- the review's study data (migration 0002) -------------------------------------------------
# What extraction produces is edited as the review goes on (a corrected count, a new judgement),
# so these rows are not append-only; every write is in the audit log. Each row keeps the
# validated model as JSON (the same fields as the review folder's YAML and CSV), plus the keys
# that queries and foreign keys need.


class ProtocolRow(Base):
    """The review's protocol (one row): PICO, questions, vocabularies, criteria."""

    __tablename__ = "protocol"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))


class StudyRow(Base):
    """A study: one or more reports (records) of it, and its extracted description.

    ``data`` is None until the study is extracted (a study just identified at full text).
    """

    __tablename__ = "study"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    # SQL NULL, not JSON null, for a study awaiting extraction (so SQL can select on it).
    data: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))


class StudyDataRow(Base):
    """One extracted row of a study-data table (outcomes, arms, placebo responses, GRADE
    judgements), in the table's order."""

    __tablename__ = "study_data"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    position: Mapped[int] = mapped_column(Integer)
    study_id: Mapped[str | None] = mapped_column(ForeignKey("study.id"), nullable=True)
    data: Mapped[dict] = mapped_column(JSON)
    __table_args__ = (Index("ix_study_data_kind_position", "kind", "position"),)


# ---- data extraction (migration 0008) ---------------------------------------------------------
# Append-only like the screening history (triggers made by 0008): a changed value is a new row,
# the newest per study, extractor and field counts, and the agreed values are rows too.


class ExtractionValueRow(Base):
    """One value entered on a study's extraction form, or an agreed one (``kind``
    ``consensus``, with the ``choice`` it took and the ``reason``)."""

    __tablename__ = "extraction_value"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("study.id"))
    kind: Mapped[str] = mapped_column(String(12))
    extractor: Mapped[str] = mapped_column(String(200))
    field: Mapped[str] = mapped_column(String(300))
    value: Mapped[str | None] = mapped_column(Text, nullable=True)
    unit: Mapped[str | None] = mapped_column(String(100), nullable=True)
    page: Mapped[str | None] = mapped_column(String(50), nullable=True)
    table_ref: Mapped[str | None] = mapped_column(String(100), nullable=True)
    figure: Mapped[str | None] = mapped_column(String(100), nullable=True)
    converted_from: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    method: Mapped[str | None] = mapped_column(Text, nullable=True)
    choice: Mapped[str | None] = mapped_column(String(10), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_extraction_value_study", "study_id", "field"),)


class ExtractionEventRow(Base):
    """A step of a study's extraction: ``submit``, ``reopen`` (an extractor's) or ``apply``
    (the agreed data written into the study)."""

    __tablename__ = "extraction_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("study.id"))
    who: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_extraction_event_study", "study_id"),)


# ---- risk-of-bias appraisal (migration 0009) --------------------------------------------------
# Append-only (triggers made by 0009): a changed answer is a new row, the newest per study,
# instrument, appraiser and field counts; overrides and agreed answers are rows too.


class AppraisalAnswerRow(Base):
    """One answer on a study's appraisal form (``kind`` ``answer``), an override of the
    algorithm's overall rating with its reason (``override``), or an agreed answer
    (``consensus``, with the ``choice`` it took and the ``reason``)."""

    __tablename__ = "appraisal_answer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("study.id"))
    instrument: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))
    appraiser: Mapped[str] = mapped_column(String(200))
    field: Mapped[str] = mapped_column(String(100))
    value: Mapped[str | None] = mapped_column(String(100), nullable=True)
    support: Mapped[str | None] = mapped_column(Text, nullable=True)
    location: Mapped[str | None] = mapped_column(String(200), nullable=True)
    choice: Mapped[str | None] = mapped_column(String(10), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_appraisal_answer_study", "study_id", "instrument"),)


class AppraisalEventRow(Base):
    """A step of a study's appraisal on one instrument: ``submit``, ``reopen`` (an
    appraiser's) or ``apply`` (the agreed rating written into the study's quality)."""

    __tablename__ = "appraisal_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("study.id"))
    instrument: Mapped[str] = mapped_column(String(40))
    who: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_appraisal_event_study", "study_id", "instrument"),)
