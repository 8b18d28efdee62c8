"""Data extraction: a form from the protocol, two blind extractors, consensus and history.

What Covidence's Extraction 2 does, over the project database. The **form** comes from the
protocol (:func:`extraction_form`): the study's description, its arms, and for each outcome
(the protocol's arm categories, then its PICO outcomes) and time window (its ``window``
vocabulary) results of a data type: 2×2 counts, single-arm proportions, means/SD/N, change
scores, medians with IQR or range, or an estimate with its CI. Every value is stored with its
unit and where in the report it was read (page, table, figure); a converted value also with the
numbers it came from and the method (``converted_from``, ``method``).

Two **extractors** fill the form for a study, blind: each sees only their own values until both
have submitted (:func:`own_values`, :func:`history`). Then :func:`compare` lays their values
side by side, field by field; the owner settles each disagreement (:func:`resolve`: A's, B's,
or a value typed with a reason when it differs from both), and :func:`apply` writes the agreed
study, arm rows and outcome rows through the study-data paths (:mod:`.review_data`), with their
validation, so the analyses read them. Values are append-only: a change is a new row, so the
history of every value stays.

A form field is named by a key: ``study|<name>`` (the description), ``arm|<i>|name`` and
``arm|<i>|role`` (the study's arms, from 1), ``res|<outcome>|<window>|<slot>|<name>`` (a result
of an outcome at a time window; several results in one window take slots 1, 2 …) and
``res|<outcome>|<window>|<slot>|arm<i>|<name>`` (an arm's numbers in that result).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from metareview.errors import InputError
from metareview.store import db
from metareview.store import review_data as study_store
from metareview.store.audit import audit as _audit
from metareview.store.audit import now as _now
from metareview.store.models import ExtractionEventRow, ExtractionValueRow, StudyRow
from metareview.studies.schema import (
    ArmRow,
    OutcomeRow,
    Protocol,
    Reliability,
    Study,
    StudyKind,
)

#: Most arms a study's form holds, and most results of one outcome in one window.
MAX_ARMS = 8
MAX_SLOTS = 9
SEP = "|"


@dataclass(frozen=True)
class DataType:
    """A way results are reported, and the numbers an extractor enters for each arm."""

    code: str
    label: str
    arm_fields: tuple[str, ...]
    outcome_kind: str  # "dichotomous" or "continuous" (or "any")
    to_arms: bool  # True: arm rows (pooled by category); False: outcome rows


#: The data types, in the order forms offer them.
DATA_TYPES: dict[str, DataType] = {t.code: t for t in (
    DataType("counts", "2×2 counts (events / total per arm)", ("events", "total"),
             "dichotomous", True),
    DataType("proportion", "single-arm proportion (events / total)", ("events", "total"),
             "dichotomous", True),
    DataType("means", "means, SDs and Ns", ("mean", "sd", "n", "se", "ci_low", "ci_high"),
             "continuous", False),
    DataType("change", "change scores (mean change, SD, N)",
             ("mean", "sd", "n", "se", "ci_low", "ci_high"), "continuous", False),
    DataType("medians", "medians with IQR and/or range", ("median", "q1", "q3", "min", "max",
                                                          "n", "mean", "sd"),
             "continuous", False),
    DataType("estimate_ci", "estimate with its CI (as reported)", (), "any", False),
)}

#: Labels of arm-level numbers.
ARM_FIELDS = {"events": "events", "total": "total", "mean": "mean", "sd": "SD", "n": "N",
              "se": "SE", "ci_low": "CI lower", "ci_high": "CI upper", "median": "median",
              "q1": "Q1", "q3": "Q3", "min": "min", "max": "max"}
#: Result-level fields: label and whether they hold a number.
RESULT_FIELDS: dict[str, tuple[str, bool]] = {
    "type": ("data type", False), "timepoint": ("time point as reported", False),
    "population": ("population", False), "definition": ("event definition", False),
    "comparison": ("comparison", False), "measure": ("measure", False),
    "estimate": ("estimate", True), "ci_low": ("CI lower", True), "ci_high": ("CI upper", True),
    "p": ("p-value as reported", False), "se": ("SE", True),
    "direction": ("direction", False), "reported": ("finding in the report's words", False),
}
DIRECTIONS = ("benefit", "no difference", "harm", "unclear")
ROLES = ("intervention", "control")
RATIO_MEASURES = ("RR", "OR", "HR")
RELIABILITY = get_args(Reliability)
STUDY_KINDS = get_args(StudyKind)


@dataclass(frozen=True)
class FormField:
    """A field of the study's description: its key name, label, kind and choices."""

    name: str
    label: str
    kind: str = "text"  # text, long, integer, choice, multi
    choices: tuple[str, ...] = ()
    required: bool = False
    hint: str = ""  # an example, shown in the empty field


@dataclass(frozen=True)
class FormOutcome:
    """An outcome on the form: the protocol's arm category or PICO outcome it comes from,
    its question, the data types it takes and its unit."""

    id: str
    title: str
    question: str
    kind: str  # "dichotomous" or "continuous"
    data_types: tuple[str, ...]
    unit: str | None
    category: str | None  # the arm category its counts are pooled under
    multi_arm: str  # "combine" or "split" (Cochrane Handbook 23.3.4)


@dataclass(frozen=True)
class ExtractionForm:
    """The extraction form of a protocol (:func:`extraction_form`)."""

    protocol: str
    study_fields: tuple[FormField, ...]
    outcomes: tuple[FormOutcome, ...]
    windows: tuple[str, ...]
    documents: tuple[str, ...]

    def outcome(self, oid: str) -> FormOutcome:
        """The outcome with id ``oid``.

        Raises
        ------
        InputError
            No such outcome on the form.
        """
        for o in self.outcomes:
            if o.id == oid:
                return o
        raise InputError(f"outcome {oid!r} is not on the extraction form (outcomes: "
                         f"{', '.join(o.id for o in self.outcomes)})")

    def study_field(self, name: str) -> FormField:
        """The description's field ``name``.

        Raises
        ------
        InputError
            No such field.
        """
        for f in self.study_fields:
            if f.name == name:
                return f
        raise InputError(f"study field {name!r} is not on the extraction form")

    def summary(self) -> str:
        """The form for people: its outcomes, data types and time windows."""
        lines = [f"Extraction form of {self.protocol}: {len(self.study_fields)} study fields, "
                 f"{len(self.outcomes)} outcomes, time windows: {', '.join(self.windows)}"]
        for o in self.outcomes:
            unit = f", unit {o.unit}" if o.unit else ""
            lines.append(f"  {o.title} ({o.question}, {o.kind}{unit}): "
                         + ", ".join(DATA_TYPES[t].label for t in o.data_types))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"protocol": self.protocol, "windows": list(self.windows),
                "documents": list(self.documents),
                "study_fields": [{"name": f.name, "label": f.label, "kind": f.kind,
                                  "choices": list(f.choices), "required": f.required}
                                 for f in self.study_fields],
                "outcomes": [{"id": o.id, "title": o.title, "question": o.question,
                              "kind": o.kind, "data_types": list(o.data_types),
                              "unit": o.unit, "category": o.category,
                              "multi_arm": o.multi_arm} for o in self.outcomes]}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.strip().lower()).strip("-") or "outcome"


def extraction_form(protocol: Protocol) -> ExtractionForm:
    """The extraction form a protocol calls for.

    Outcomes are the protocol's arm categories (dichotomous: 2×2 counts or single-arm
    proportions, pooled under the category, or an estimate with its CI), then its PICO outcomes
    that are not already a category (continuous: means, change scores, medians, or an estimate
    with its CI), each under the question whose critical outcomes name it (else the first
    graded question), with the scale of its first MID as unit. Time points are the protocol's
    ``window`` vocabulary; the description's choices come from its vocabularies, questions and
    documents.

    Parameters
    ----------
    protocol : Protocol

    Returns
    -------
    ExtractionForm
    """
    graded = [q.id for q in protocol.questions if q.answer == "graded"] or [
        protocol.questions[0].id]
    outcomes: list[FormOutcome] = []
    for c in protocol.arm_categories:
        outcomes.append(FormOutcome(c.id, c.title, c.question, "dichotomous",
                                    ("counts", "proportion", "estimate_ci"), "participants",
                                    c.id, c.multi_arm))
    taken = {o.id for o in outcomes} | {o.title.strip().lower() for o in outcomes}
    for name in protocol.pico.outcomes:
        oid = _slug(name)
        if oid in taken or name.strip().lower() in taken:
            continue
        taken.add(oid)
        question = next((c.question for c in protocol.critical_outcomes if c.includes(name)),
                        graded[0])
        unit = next((m.scale for m in protocol.mids
                     if m.outcome.strip().lower() == name.strip().lower()), None)
        outcomes.append(FormOutcome(oid, name, question, "continuous",
                                    ("means", "change", "medians", "estimate_ci"), unit, None,
                                    "combine"))
    windows = tuple(protocol.allowed("window") or ("as reported",))
    if any(SEP in w for w in windows):
        raise InputError(f"protocol {protocol.id}: a time window may not hold {SEP!r}")

    def vocab(col: str) -> tuple[str, ...]:
        return tuple(protocol.allowed(col) or ())

    fields = (
        FormField("document", "source document (from the protocol)", "choice",
                  tuple(d.id for d in protocol.documents), True),
        FormField("location", "where in it", required=True, hint="section, pages"),
        FormField("label", "label", required=True, hint="Smith 2020"),
        FormField("citation", "citation", "long", required=True),
        FormField("year", "publication year", "integer", required=True),
        FormField("kind", "kind of study", "choice", STUDY_KINDS, True),
        FormField("design", "design", required=True, hint="RCT, parallel groups"),
        FormField("arms_design", "arms are", "choice", ("parallel", "crossover"), True),
        FormField("country", "country"),
        FormField("population", "population, as described", "long", required=True),
        FormField("populations", protocol.label("population"),
                  "multi" if vocab("population") else "text", vocab("population"), True),
        FormField("n_participants", "participants (N)", "integer"),
        FormField("drug", "intervention", required=True),
        FormField("route", protocol.label("route"), "choice" if vocab("route") else "text",
                  vocab("route"), True),
        FormField("dose", "dose"),
        FormField("regimen", protocol.label("regimen"),
                  "choice" if vocab("regimen") else "text", vocab("regimen"), True),
        FormField("duration", "duration"),
        FormField("comparator", "comparator", required=True),
        FormField("follow_up", "follow-up"),
        FormField("questions", "research questions", "multi",
                  tuple(q.id for q in protocol.questions), True),
        FormField("reliability", "reliability of the numbers", "choice", RELIABILITY, True),
        FormField("notes", "notes", "long"),
    )
    return ExtractionForm(protocol.id, fields, tuple(outcomes), windows,
                          tuple(d.id for d in protocol.documents))


# -- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldKey:
    """A form field's key, taken apart (see the module's description)."""

    section: str  # "study", "arm" or "res"
    name: str
    arm: int | None = None
    outcome: str | None = None
    window: str | None = None
    slot: int | None = None

    @property
    def result(self) -> str | None:
        """The key prefix of the result this field belongs to (None outside results)."""
        if self.section != "res":
            return None
        return SEP.join(("res", str(self.outcome), str(self.window), str(self.slot)))

    @property
    def numeric(self) -> bool:
        """Whether the field holds a number."""
        if self.section == "study":
            return self.name in ("year", "n_participants")
        if self.section == "res":
            return self.arm is not None or RESULT_FIELDS[self.name][1]
        return False


def result_key(outcome: str, window: str, slot: int = 1) -> str:
    """The key prefix of a result: ``res|<outcome>|<window>|<slot>``."""
    return SEP.join(("res", outcome, window, str(slot)))


def parse_key(key: str, form: ExtractionForm) -> FieldKey:
    """Take a field key apart and check it names a field of ``form``.

    Raises
    ------
    InputError
        A key that names no field of the form.
    """
    parts = key.split(SEP)

    def bad(why: str) -> InputError:
        return InputError(f"form field {key[:80]!r}: {why}")

    def index(text: str, most: int, what: str) -> int:
        if not text.isdigit() or not 1 <= int(text) <= most:
            raise bad(f"{what} must be 1 to {most}")
        return int(text)

    if parts[0] == "study" and len(parts) == 2:
        form.study_field(parts[1])
        return FieldKey("study", parts[1])
    if parts[0] == "arm" and len(parts) == 3:
        if parts[2] not in ("name", "role"):
            raise bad("an arm has a name and a role")
        return FieldKey("arm", parts[2], arm=index(parts[1], MAX_ARMS, "arm"))
    if parts[0] == "res" and len(parts) in (5, 6):
        outcome = form.outcome(parts[1]).id
        if parts[2] not in form.windows:
            raise bad(f"unknown time window (the protocol's: {', '.join(form.windows)})")
        slot = index(parts[3], MAX_SLOTS, "result slot")
        if len(parts) == 5:
            if parts[4] not in RESULT_FIELDS:
                raise bad("not a field of a result")
            return FieldKey("res", parts[4], None, outcome, parts[2], slot)
        if not parts[4].startswith("arm") or parts[5] not in ARM_FIELDS:
            raise bad("not an arm's number")
        arm = index(parts[4][3:], MAX_ARMS, "arm")
        return FieldKey("res", parts[5], arm, outcome, parts[2], slot)
    raise bad("not a field of the extraction form")


def field_label(key: str, form: ExtractionForm) -> str:
    """A field's name for people: ``Any adverse event, 1-2 weeks: arm 1 events``."""
    k = parse_key(key, form)
    if k.section == "study":
        return f"study: {form.study_field(k.name).label}"
    if k.section == "arm":
        return f"arm {k.arm}: {k.name}"
    head = f"{form.outcome(str(k.outcome)).title}, {k.window}" + (
        f" (result {k.slot})" if k.slot != 1 else "")
    if k.arm is not None:
        return f"{head}: arm {k.arm} {ARM_FIELDS[k.name]}"
    return f"{head}: {RESULT_FIELDS[k.name][0]}"


def field_group(key: str, form: ExtractionForm) -> tuple[str, str]:
    """A field's part of the form and its name within it: ``("Study", "label")``,
    ``("Arms", "arm 1 name")``, ``("Any adverse event, 1-2 weeks", "arm 2 events")``."""
    k = parse_key(key, form)
    if k.section == "study":
        return "Study", form.study_field(k.name).label
    if k.section == "arm":
        return "Arms", f"arm {k.arm} {k.name}"
    head, _, short = field_label(key, form).partition(": ")
    return head, short


def sort_key(key: str, form: ExtractionForm) -> tuple[Any, ...]:
    """Where a field comes on the form: description, arms, then results in form order."""
    k = parse_key(key, form)
    if k.section == "study":
        return (0, [f.name for f in form.study_fields].index(k.name))
    if k.section == "arm":
        return (1, k.arm, k.name != "name")
    order = [o.id for o in form.outcomes].index(str(k.outcome))
    inner = ((0, list(RESULT_FIELDS).index(k.name)) if k.arm is None
             else (1, k.arm, list(ARM_FIELDS).index(k.name)))
    return (2, order, form.windows.index(str(k.window)), k.slot, inner)


# -- values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueInput:
    """A value to store: as typed, with its unit, where it was read and, when converted, what
    it came from and how."""

    value: str | None
    unit: str | None = None
    page: str | None = None
    table: str | None = None
    figure: str | None = None
    converted_from: dict[str, Any] | None = None
    method: str | None = None


@dataclass(frozen=True)
class StoredValue:
    """A value as stored: one row of a field's history."""

    id: int
    study: str
    field: str
    kind: str  # "value" (an extractor's) or "consensus" (agreed)
    by: str
    value: str | None
    unit: str | None
    page: str | None
    table: str | None
    figure: str | None
    converted_from: dict[str, Any] | None
    method: str | None
    choice: str | None
    reason: str | None
    at: dt.datetime

    @property
    def location(self) -> str:
        """Where in the report: ``p. 5, Table 2, Figure 1`` (empty when not given)."""
        parts = [f"p. {self.page}" if self.page else "", self.table or "", self.figure or ""]
        return ", ".join(p for p in parts if p)

    def summary(self) -> str:
        """One line for people."""
        unit = f" {self.unit}" if self.unit else ""
        where = f" ({self.location})" if self.location else ""
        how = f"; {self.method}" if self.method else ""
        return f"{self.value if self.value is not None else '(cleared)'}{unit}{where}{how}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"id": self.id, "study": self.study, "field": self.field, "kind": self.kind,
                "by": self.by, "value": self.value, "unit": self.unit, "page": self.page,
                "table": self.table, "figure": self.figure,
                "converted_from": self.converted_from, "method": self.method,
                "choice": self.choice, "reason": self.reason, "at": self.at.isoformat()}


def _stored(r: ExtractionValueRow) -> StoredValue:
    at = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=dt.UTC)
    return StoredValue(r.id, r.study_id, r.field, r.kind, r.extractor, r.value, r.unit, r.page,
                       r.table_ref, r.figure, r.converted_from, r.method, r.choice, r.reason, at)


def _clean(text: str | None, most: int, what: str) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) > most:
        raise InputError(f"{what}: at most {most} characters")
    return text or None


def _number(text: str) -> float | None:
    try:
        x = float(text.replace("\u2212", "-"))  # a minus sign pasted from a PDF
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _normal(key: FieldKey, value: str | None) -> str | None:
    """A value as compared: numbers by value (``2`` is ``2.0``), text without outer spaces."""
    if value is None or not value.strip():
        return None
    if key.numeric:
        x = _number(value)
        return repr(x) if x is not None else value.strip()
    return value.strip()


def _unit(u: str | None) -> str:
    return (u or "").strip().lower()


def same_value(key: FieldKey, a: StoredValue | ValueInput | None,
               b: StoredValue | ValueInput | None) -> bool:
    """Whether two values of one field agree: the same value and unit (where a number was read
    is not part of the value)."""
    va = _normal(key, a.value) if a is not None else None
    vb = _normal(key, b.value) if b is not None else None
    if va is None and vb is None:
        return True
    return va == vb and _unit(a.unit if a else None) == _unit(b.unit if b else None)


def _check_value(key: FieldKey, raw: str, form: ExtractionForm, where: str) -> str:
    """A typed value checked against its field (numbers, counts, choices); returns it
    cleaned."""
    value = raw.strip()
    if key.numeric:
        x = _number(value)
        if x is None:
            raise InputError(f"{where}: not a number ({value[:40]!r})")
        whole = key.name in ("events", "total", "year", "n_participants")
        if whole and x != int(x):
            raise InputError(f"{where}: a count is a whole number ({value[:40]!r})")
        if key.name in ("events", "total", "n", "sd", "se", "n_participants") and x < 0:
            raise InputError(f"{where}: cannot be negative ({value[:40]!r})")
        return value.replace("\u2212", "-")
    choices: tuple[str, ...] = ()
    if key.section == "study":
        f = form.study_field(key.name)
        if f.kind in ("choice", "multi"):
            choices = f.choices
        if f.kind == "multi" and choices:
            picked = [v.strip() for v in value.split("\n") if v.strip()]
            unknown = [v for v in picked if v not in choices]
            if unknown:
                raise InputError(f"{where}: {unknown[0][:40]!r} is not one of "
                                 f"{', '.join(choices)}")
            return "\n".join(c for c in choices if c in picked)  # the protocol's order
        if len(value) > 5000:
            raise InputError(f"{where}: at most 5000 characters")
    elif key.section == "arm" and key.name == "role":
        choices = ROLES
    elif key.section == "res" and key.name == "type":
        choices = form.outcome(str(key.outcome)).data_types
    elif key.section == "res" and key.name == "direction":
        choices = DIRECTIONS
    elif len(value) > 2000:
        raise InputError(f"{where}: at most 2000 characters")
    if choices and value not in choices:
        raise InputError(f"{where}: {value[:40]!r} is not one of {', '.join(choices)}")
    return value


def _lock(s: Session, study: str) -> StudyRow:
    """The study's row, locked for this write on PostgreSQL (SQLite's write lock is already
    held), so two extractors starting at once cannot both become the second."""
    row = s.scalars(select(StudyRow).where(StudyRow.id == study).with_for_update()).first()
    if row is None:
        raise InputError(f"study {study!r}: no such study in this project")
    return row


def _rows(s: Session, study: str, kind: str | None = None) -> list[ExtractionValueRow]:
    q = (select(ExtractionValueRow).where(ExtractionValueRow.study_id == study)
         .order_by(ExtractionValueRow.id))
    if kind is not None:
        q = q.where(ExtractionValueRow.kind == kind)
    return list(s.scalars(q))


def _current(rows: Sequence[ExtractionValueRow]) -> dict[tuple[str, str], ExtractionValueRow]:
    """(person, field) → newest row."""
    return {(r.extractor, r.field): r for r in rows}


# -- state -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtractorState:
    """One extractor's progress on a study."""

    name: str
    values: int
    submitted: bool
    last: dt.datetime | None


@dataclass(frozen=True)
class ExtractionState:
    """Where a study's extraction stands: its extractors (at most two), the agreed values so
    far and whether the agreed data were written into the study."""

    study: str
    extractors: tuple[ExtractorState, ...]
    agreed: int
    applied_by: str | None
    applied_at: dt.datetime | None

    @property
    def both_submitted(self) -> bool:
        """Two extractors have submitted: the comparison is open."""
        return len(self.extractors) == 2 and all(e.submitted for e in self.extractors)

    def of(self, name: str) -> ExtractorState | None:
        """The state of extractor ``name`` (None if they have not started)."""
        return next((e for e in self.extractors if e.name == name), None)

    def may_extract(self, name: str) -> bool:
        """Whether ``name`` may enter values: one of the two, not submitted, not applied."""
        if self.applied_at is not None:
            return False
        mine = self.of(name)
        return (not mine.submitted) if mine is not None else len(self.extractors) < 2

    def summary(self) -> str:
        """One line for people."""
        if self.applied_at is not None:
            return f"{self.study}: agreed data written by {self.applied_by}"
        who = ", ".join(f"{e.name} ({'submitted' if e.submitted else 'in progress'}, "
                        f"{e.values} values)" for e in self.extractors) or "not started"
        return f"{self.study}: {who}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"study": self.study, "agreed": self.agreed, "applied_by": self.applied_by,
                "applied_at": self.applied_at.isoformat() if self.applied_at else None,
                "extractors": [{"name": e.name, "values": e.values, "submitted": e.submitted,
                                "last": e.last.isoformat() if e.last else None}
                               for e in self.extractors]}


def _state_in(s: Session, study: str, rows: Sequence[ExtractionValueRow] | None = None
              ) -> ExtractionState:
    rows = _rows(s, study) if rows is None else rows
    names: list[str] = []
    counts: dict[str, int] = {}
    last: dict[str, dt.datetime] = {}
    for r in rows:
        if r.kind != "value":
            continue
        if r.extractor not in counts:
            names.append(r.extractor)
        last[r.extractor] = r.created_at
    for (who, _), r in _current([r for r in rows if r.kind == "value"]).items():
        counts[who] = counts.get(who, 0) + (r.value is not None)
    submitted: dict[str, bool] = {}
    applied: ExtractionEventRow | None = None
    for ev in s.scalars(select(ExtractionEventRow).where(ExtractionEventRow.study_id == study)
                        .order_by(ExtractionEventRow.id)):
        if ev.action in ("submit", "reopen"):
            submitted[ev.who] = ev.action == "submit"
        elif ev.action == "apply":
            applied = ev
    order = list(dict.fromkeys(names))
    agreed = len({r.field for r in rows if r.kind == "consensus"})
    return ExtractionState(
        study, tuple(ExtractorState(n, counts.get(n, 0), submitted.get(n, False), last.get(n))
                     for n in order),
        agreed, applied.who if applied else None, applied.created_at if applied else None)


def extraction_state(engine: Engine, study: str) -> ExtractionState:
    """Where the extraction of ``study`` stands (names and counts only: never values)."""
    with Session(engine) as s:
        return _state_in(s, study)


def extraction_states(engine: Engine) -> dict[str, ExtractionState]:
    """The extraction state of every study that has one (started, submitted or agreed)."""
    with Session(engine) as s:
        ids = sorted(set(s.scalars(select(ExtractionValueRow.study_id).distinct())))
        return {sid: _state_in(s, sid) for sid in ids}


# -- writing ----------------------------------------------------------------------------------


def save_values(engine: Engine, form: ExtractionForm, study: str, extractor: str,
                values: Mapping[str, ValueInput]) -> int:
    """Store an extractor's values for a study; returns how many changed (only those are
    stored: each is a new row, the old one stays in the history).

    A field left empty that had a value is stored as cleared. The first two people to save
    values for a study are its extractors.

    Raises
    ------
    InputError
        An unknown field, a value that is not what its field takes (naming the field), a third
        extractor, an extractor who has submitted, or a study whose agreed data were written.
        Nothing is stored then.
    """
    if not extractor.strip():
        raise InputError("an extractor needs a name")
    checked: dict[str, tuple[FieldKey, ValueInput]] = {}
    for key, v in values.items():
        k = parse_key(key, form)
        where = f"study {study}, {field_label(key, form)}"
        raw = _clean(v.value, 5000, where)
        value = _check_value(k, raw, form, where) if raw is not None else None
        checked[key] = (k, replace(
            v, value=value,
            # a unit belongs to a number (a form sends its result's unit with every field)
            unit=_clean(v.unit, 100, f"{where}, unit") if k.numeric else None,
            page=_clean(v.page, 50, f"{where}, page"),
            table=_clean(v.table, 100, f"{where}, table"),
            figure=_clean(v.figure, 100, f"{where}, figure"),
            method=_clean(v.method, 2000, f"{where}, method")))
    with db.write_session(engine) as s:
        described = _lock(s, study).data is not None
        rows = _rows(s, study)
        state = _state_in(s, study, rows)
        mine = state.of(extractor)
        if state.applied_at is not None:
            raise InputError(f"study {study}: its agreed data were written on "
                             f"{state.applied_at:%Y-%m-%d}; extraction is closed")
        if described:  # e.g. from a review folder: extracting again would add its rows twice
            raise InputError(f"study {study} is in the study data already (extracted "
                             "elsewhere); correct it in the review folder")
        if mine is None and len(state.extractors) >= 2:
            raise InputError(f"study {study}: already extracted by "
                             f"{' and '.join(e.name for e in state.extractors)} (two per study)")
        if mine is not None and mine.submitted:
            raise InputError(f"study {study}: you submitted your extraction; reopen it to "
                             "change a value")
        current = _current([r for r in rows if r.kind == "value"])
        added = []
        for key, (k, v) in checked.items():
            old = current.get((extractor, key))
            if old is None and v.value is None:
                continue
            if old is not None and same_value(k, _stored(old), v) and (
                    (old.page, old.table_ref, old.figure, old.method)
                    == (v.page, v.table, v.figure, v.method)):
                continue
            if (old is not None and v.method is None and v.converted_from is None
                    and same_value(k, _stored(old), v)):
                # the converted number saved again with the form: it keeps how it was made
                v = replace(v, method=old.method, converted_from=old.converted_from)
                if (old.page, old.table_ref, old.figure) == (v.page, v.table, v.figure):
                    continue
            added.append(key)
            s.add(ExtractionValueRow(
                study_id=study, kind="value", extractor=extractor, field=key, value=v.value,
                unit=v.unit, page=v.page, table_ref=v.table, figure=v.figure,
                converted_from=v.converted_from, method=v.method, created_at=_now()))
        if added:
            _audit(s, extractor, "extraction-save", {"study": study, "fields": len(added)})
    return len(added)


def _event(engine: Engine, study: str, who: str, action: str,
           check: Any) -> None:
    with db.write_session(engine) as s:
        _lock(s, study)
        check(_state_in(s, study))
        s.add(ExtractionEventRow(study_id=study, who=who, action=action, created_at=_now()))
        _audit(s, who, f"extraction-{action}", {"study": study})


def submit(engine: Engine, study: str, extractor: str) -> None:
    """An extractor hands in their extraction of ``study`` (their values are then fixed).

    Raises
    ------
    InputError
        Nothing entered yet, or already submitted.
    """
    def check(st: ExtractionState) -> None:
        mine = st.of(extractor)
        if mine is None or mine.values == 0:
            raise InputError(f"study {study}: enter values before submitting")
        if mine.submitted:
            raise InputError(f"study {study}: you have submitted already")
    _event(engine, study, extractor, "submit", check)


def reopen(engine: Engine, study: str, extractor: str) -> None:
    """An extractor takes back their submission, to change values; only while the other
    extractor has not submitted (after that both have seen the comparison).

    Raises
    ------
    InputError
        Not submitted, or both have submitted.
    """
    def check(st: ExtractionState) -> None:
        mine = st.of(extractor)
        if mine is None or not mine.submitted:
            raise InputError(f"study {study}: your extraction is open already")
        if st.both_submitted:
            raise InputError(f"study {study}: both extractors have submitted; the owner "
                             "settles the differences at consensus")
    _event(engine, study, extractor, "reopen", check)


# -- reading: blind until both have submitted ---------------------------------------------------


def own_values(engine: Engine, study: str, extractor: str) -> dict[str, StoredValue]:
    """``extractor``'s current values for ``study`` (never anyone else's), cleared ones left
    out."""
    with Session(engine) as s:
        q = (select(ExtractionValueRow).where(ExtractionValueRow.study_id == study,
                                              ExtractionValueRow.kind == "value",
                                              ExtractionValueRow.extractor == extractor)
             .order_by(ExtractionValueRow.id))
        current = {r.field: r for r in s.scalars(q)}
    return {k: _stored(r) for k, r in current.items() if r.value is not None}


def history(engine: Engine, study: str, key: str, *, viewer: str) -> list[StoredValue]:
    """Every value ``key`` has had for ``study``, oldest first: each extractor's and the agreed
    ones. Until both extractors have submitted, ``viewer`` sees only their own (blind).
    """
    with Session(engine) as s:
        state = _state_in(s, study)
        q = (select(ExtractionValueRow).where(ExtractionValueRow.study_id == study,
                                              ExtractionValueRow.field == key)
             .order_by(ExtractionValueRow.id))
        rows = [_stored(r) for r in s.scalars(q)]
    if state.both_submitted:
        return rows
    return [r for r in rows if r.kind == "value" and r.by == viewer]


@dataclass(frozen=True)
class FieldComparison:
    """One field of the two extractions side by side, and the agreed value if settled."""

    key: str
    label: str
    a: StoredValue | None
    b: StoredValue | None
    consensus: StoredValue | None
    numeric: bool = False

    @property
    def status(self) -> str:
        """``agree``, ``differ`` or ``resolved`` (an agreed value was chosen)."""
        if self.consensus is not None:
            return "resolved"
        kind = FieldKey("res", "estimate") if self.numeric else FieldKey("study", "notes")
        return "agree" if same_value(kind, self.a, self.b) else "differ"

    @property
    def agreed(self) -> StoredValue | None:
        """The agreed value: the consensus, else the value both entered (None if they
        differ)."""
        if self.consensus is not None:
            return self.consensus
        return self.a if self.status == "agree" else None


@dataclass(frozen=True)
class Comparison:
    """Two extractions of a study compared field by field (:func:`compare`)."""

    study: str
    a: str
    b: str
    fields: tuple[FieldComparison, ...]

    @property
    def disagreements(self) -> tuple[FieldComparison, ...]:
        """The fields where the extractors differ and no agreed value is chosen yet."""
        return tuple(f for f in self.fields if f.status == "differ")

    def agreed_values(self) -> dict[str, StoredValue]:
        """Field key → agreed value, for every settled field holding a value."""
        out = {}
        for f in self.fields:
            v = f.agreed
            if v is not None and v.value is not None:
                out[f.key] = v
        return out

    def summary(self) -> str:
        """The fields that differ, one per line."""
        head = (f"{self.study}: {len(self.fields)} fields, {len(self.disagreements)} to settle "
                f"({self.a} vs {self.b})")
        return "\n".join([head] + [f"  {f.label}: {f.a.summary() if f.a else '—'} | "
                                   f"{f.b.summary() if f.b else '—'}"
                                   for f in self.disagreements])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        def one(v: StoredValue | None) -> dict[str, Any] | None:
            return v.to_dict() if v is not None else None
        return {"study": self.study, "a": self.a, "b": self.b,
                "fields": [{"key": f.key, "label": f.label, "status": f.status,
                            "a": one(f.a), "b": one(f.b), "consensus": one(f.consensus)}
                           for f in self.fields]}


def compare(engine: Engine, form: ExtractionForm, study: str) -> Comparison:
    """The two extractions of ``study`` side by side, field by field, in form order.

    Raises
    ------
    InputError
        Unless two extractors have submitted (before that the extractions are blind).
    """
    with Session(engine) as s:
        rows = _rows(s, study)
        state = _state_in(s, study, rows)
    if not state.both_submitted:
        done = [e.name for e in state.extractors if e.submitted]
        raise InputError(f"study {study}: the comparison opens when two extractors have "
                         f"submitted (submitted: {', '.join(done) or 'nobody yet'})")
    a, b = (e.name for e in state.extractors)
    values = _current([r for r in rows if r.kind == "value"])
    agreed = {r.field: r for r in rows if r.kind == "consensus"}
    keys = {k for (_, k) in values} | set(agreed)
    out = []
    for key in sorted(keys, key=lambda k: sort_key(k, form)):
        va, vb = values.get((a, key)), values.get((b, key))
        sa = _stored(va) if va is not None and va.value is not None else None
        sb = _stored(vb) if vb is not None and vb.value is not None else None
        cons = _stored(agreed[key]) if key in agreed else None
        if sa is None and sb is None and cons is None:
            continue
        out.append(FieldComparison(key, field_label(key, form), sa, sb, cons,
                                   parse_key(key, form).numeric))
    return Comparison(study, a, b, tuple(out))


def resolve(engine: Engine, form: ExtractionForm, study: str, key: str, *, by: str,
            choice: str, entered: ValueInput | None = None, reason: str | None = None
            ) -> StoredValue:
    """Settle one field: take extractor A's value, B's, or one typed (``entered``).

    A typed value that differs from both extractors' needs a reason. The agreed value is a new
    row (the extractors' stay), with the unit, location and conversion of the value chosen.

    Raises
    ------
    InputError
        Before both have submitted, after the agreed data were written, an unknown choice, a
        choice of a value that does not exist, or a typed value without its reason.
    """
    k = parse_key(key, form)
    label = field_label(key, form)
    comparison = compare(engine, form, study)
    found = next((f for f in comparison.fields if f.key == key), None)
    a, b = (found.a, found.b) if found is not None else (None, None)
    reason = _clean(reason, 2000, f"{label}, reason")
    if choice in ("A", "B"):
        src = a if choice == "A" else b
        if src is None:
            raise InputError(f"{label}: extractor {choice} gave no value to choose")
        v = ValueInput(src.value, src.unit, src.page, src.table, src.figure,
                       src.converted_from, src.method)
    elif choice == "entered":
        if entered is None or entered.value is None or not entered.value.strip():
            raise InputError(f"{label}: type the agreed value")
        value = _check_value(k, entered.value, form, f"study {study}, {label}")
        # no unit typed: the extractors' unit (they differ in value, not in what it counts)
        unit = (_clean(entered.unit, 100, f"{label}, unit")
                or next((x.unit for x in (a, b) if x is not None and x.unit), None))
        v = replace(entered, value=value, unit=unit)
        for x in (a, b):  # typed as one of them read it: where and how it was read too
            if (x is not None and same_value(k, v, x)
                    and not (v.page or v.table or v.figure)):
                v = replace(v, page=x.page, table=x.table, figure=x.figure,
                            converted_from=x.converted_from, method=x.method)
                break
        if not (same_value(k, v, a) or same_value(k, v, b)) and not reason:
            raise InputError(f"{label}: the agreed value differs from both extractors'; "
                             "say why")
    else:
        raise InputError(f"{label}: choose A, B or a typed value, not {choice!r}")
    with db.write_session(engine) as s:
        _lock(s, study)
        state = _state_in(s, study)
        if state.applied_at is not None:
            raise InputError(f"study {study}: its agreed data were written already")
        row = ExtractionValueRow(
            study_id=study, kind="consensus", extractor=by, field=key, value=v.value,
            unit=v.unit, page=v.page, table_ref=v.table, figure=v.figure,
            converted_from=v.converted_from, method=v.method, choice=choice, reason=reason,
            created_at=_now())
        s.add(row)
        s.flush()
        _audit(s, by, "extraction-consensus", {"study": study, "field": key,
                                                "choice": choice})
        return _stored(row)


# -- from agreed values to the study's data -------------------------------------------------------


@dataclass(frozen=True)
class DerivedEffect:
    """An effect computed from a result's agreed arms (by the effects layer), written as an
    outcome row: the comparison, measure, estimate with its CI, N and the method named."""

    comparison: str
    measure: str
    estimate: float
    ci_low: float
    ci_high: float
    n_participants: float
    method: str


@dataclass(frozen=True)
class ExtractedData:
    """What a study's agreed extraction becomes: its description and its rows (checked by the
    studies layer's models), and the results that give no row, with why."""

    study: Study
    arms: tuple[ArmRow, ...]
    outcomes: tuple[OutcomeRow, ...]
    left_out: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        """One line per part, for people."""
        lines = [f"study {self.study.id} ({self.study.label}): {len(self.arms)} arm rows, "
                 f"{len(self.outcomes)} outcome rows"]
        lines += [f"  left out: {w}" for w in self.left_out]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"study": self.study.model_dump(mode="json", exclude_none=True),
                "arms": [r.model_dump(mode="json", exclude_none=True) for r in self.arms],
                "outcomes": [r.model_dump(mode="json", exclude_none=True)
                             for r in self.outcomes],
                "left_out": list(self.left_out)}


def results(values: Mapping[str, Any], form: ExtractionForm) -> dict[str, str]:
    """Result key prefix → its data type, for the results among ``values`` (field key →
    value with ``.value``), in form order; a result without its type is left out."""
    out = {}
    for key in sorted(values, key=lambda k: sort_key(k, form)):
        k = parse_key(key, form)
        if k.section == "res" and k.arm is None and k.name == "type":
            t = values[key].value
            if t in DATA_TYPES:
                out[str(k.result)] = t
    return out


def study_arms(values: Mapping[str, Any]) -> dict[int, tuple[str, str]]:
    """Arm number → (name, role), for the arms named among ``values``."""
    names: dict[int, str] = {}
    roles: dict[int, str] = {}
    for key, v in values.items():
        parts = key.split(SEP)
        if parts[0] == "arm" and len(parts) == 3 and v.value:
            (names if parts[2] == "name" else roles)[int(parts[1])] = v.value
    return {i: (names[i], roles.get(i, "intervention")) for i in sorted(names)}


def _validated(model: type[BaseModel], data: dict[str, Any], where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        col = ".".join(str(x) for x in err["loc"]) or "value"
        raise InputError(f"{where}, {col}: {err['msg']}") from None


def build_study_data(form: ExtractionForm, study: str, values: Mapping[str, StoredValue],
                     effects: Mapping[str, Sequence[DerivedEffect]] | None = None,
                     *, agreed_by: str = "") -> ExtractedData:
    """The study description and rows the agreed ``values`` give.

    Counts and proportions become arm rows under the outcome's arm category; estimates with
    their CI become outcome rows as reported; continuous arms (means, change scores, medians
    converted to means) become outcome rows through ``effects`` (computed from the agreed arms by
    :func:`metareview.effects.extraction.derived_effects`). Each row's ``source`` is the study's
    document with the locations of its numbers; a row with a converted or computed number has
    reliability ``I`` and names the methods in its notes.

    Raises
    ------
    InputError
        A required field missing or a value the schema refuses, naming the field.
    """
    effects = effects or {}

    def get(key: str) -> str | None:
        v = values.get(key)
        return v.value if v is not None else None

    def need(name: str) -> str:
        value = get(f"study{SEP}{name}")
        if value is None:
            raise InputError(f"study {study}: no agreed value for "
                             f"{form.study_field(name).label}")
        return value

    def lines(name: str) -> list[str]:
        return [x for x in need(name).split("\n") if x.strip()]

    document = need("document")
    populations = lines("populations")
    route, regimen = need("route"), need("regimen")
    desc = {
        "id": study, "label": need("label"), "citation": need("citation"),
        "year": int(float(need("year"))), "kind": need("kind"), "design": need("design"),
        "population": need("population"), "populations": populations,
        "intervention": {k: v for k, v in (("drug", need("drug")), ("route", route),
                                           ("dose", get("study|dose")),
                                           ("regimen", regimen),
                                           ("duration", get("study|duration")))
                         if v is not None},
        "comparator": need("comparator"), "questions": lines("questions"),
        "source": {"document": document, "location": need("location")},
        "reliability": need("reliability"),
    }
    for opt in ("country", "follow_up", "notes"):
        if get(f"study{SEP}{opt}") is not None:
            desc[opt] = get(f"study{SEP}{opt}")
    if get("study|n_participants") is not None:
        desc["n_participants"] = int(float(str(get("study|n_participants"))))
    described = _validated(Study, desc, f"study {study}")
    arms = study_arms(values)
    design = get("study|arms_design") or "parallel"
    who = f"agreed by {agreed_by}" if agreed_by else "agreed at consensus"
    arm_rows: list[ArmRow] = []
    outcome_rows: list[OutcomeRow] = []
    left_out: list[str] = []
    for prefix, dtype in results(values, form).items():
        _, oid, window, slot = prefix.split(SEP)
        outcome = form.outcome(oid)
        where = f"study {study}, {outcome.title}, {window}" + (f" (result {slot})"
                                                              if slot != "1" else "")
        mine = {k: v for k, v in values.items() if k.startswith(prefix + SEP)}

        def res(name: str, mine: dict[str, StoredValue] = mine, prefix: str = prefix
                ) -> str | None:
            v = mine.get(f"{prefix}{SEP}{name}")
            return v.value if v is not None else None

        population = res("population") or populations[0]
        timepoint = res("timepoint") or window
        unit = next((v.unit for v in mine.values() if v.unit), None)
        source = _source(document, mine.values())
        methods = sorted({v.method for v in mine.values() if v.method})
        converted = bool(methods)
        common = {"study": study, "population": population, "route": route,
                  "regimen": regimen, "window": window, "timepoint": timepoint,
                  "source": source}
        if DATA_TYPES[dtype].to_arms:
            if outcome.category is None:
                left_out.append(f"{where}: counts are pooled under an arm category; this "
                                "outcome has none")
                continue
            for i, (name, role) in arms.items():
                ev, tot = res(f"arm{i}{SEP}events"), res(f"arm{i}{SEP}total")
                if ev is None and tot is None:
                    continue
                if ev is None or tot is None:
                    raise InputError(f"{where}: arm {i} ({name}) needs both events and total")
                note = "; ".join([f"extracted in duplicate, {who}", *methods])
                arm_rows.append(_validated(ArmRow, {
                    **common, "outcome": outcome.title.lower(), "category": outcome.category,
                    "arm": name, "role": role, "events": int(float(ev)),
                    "total": int(float(tot)), "definition": res("definition"),
                    "design": design, "reliability": "I" if converted else "V",
                    "notes": note}, f"{where}, arm {i}"))
            continue
        direction = res("direction") or "unclear"
        if dtype == "estimate_ci":
            est, lo, hi = res("estimate"), res("ci_low"), res("ci_high")
            if est is None and res("p") is None:
                left_out.append(f"{where}: no estimate or p-value")
                continue
            outcome_rows.append(_validated(OutcomeRow, {
                **common, "question": outcome.question, "outcome": outcome.title.lower(),
                "comparison": res("comparison") or _comparison(arms),
                "measure": res("measure") or "estimate",
                "estimate": _float(est), "ci_low": _float(lo), "ci_high": _float(hi),
                "p": res("p"), "scale": unit, "direction": direction,
                "reported": res("reported") or _reported_estimate(res),
                "reliability": "I" if converted else "V",
                "notes": "; ".join([f"extracted in duplicate, {who}", *methods])},
                where))
            continue
        found = effects.get(prefix, ())
        if not found:
            left_out.append(f"{where}: no effect from the arms (an intervention and a control "
                            "arm with mean, SD and N are needed)")
            continue
        change = " (change from baseline)" if dtype == "change" else ""
        for eff in found:
            outcome_rows.append(_validated(OutcomeRow, {
                **common, "question": outcome.question,
                "outcome": outcome.title.lower() + change,
                "comparison": eff.comparison, "measure": eff.measure,
                "estimate": eff.estimate, "ci_low": eff.ci_low, "ci_high": eff.ci_high,
                "n_participants": max(1, round(eff.n_participants)), "scale": unit,
                "direction": direction,
                "reported": res("reported") or _reported_arms(mine, prefix, arms),
                "reliability": "I",
                "notes": "; ".join([f"extracted in duplicate, {who}", eff.method, *methods])},
                where))
    return ExtractedData(described, tuple(arm_rows), tuple(outcome_rows), tuple(left_out))


def _float(text: str | None) -> float | None:
    return None if text is None else _number(text)


def _source(document: str, values: Any) -> str:
    """``document`` and the distinct locations of the numbers, e.g. ``smith2020 p. 5, Table 2``."""
    where = list(dict.fromkeys(v.location for v in values if v.location))
    return f"{document} {'; '.join(where)}".strip() if where else document


def _comparison(arms: Mapping[int, tuple[str, str]]) -> str:
    iv = [n for n, r in arms.values() if r == "intervention"]
    ct = [n for n, r in arms.values() if r == "control"]
    return f"{' + '.join(iv) or 'intervention'} vs {' + '.join(ct) or 'control'}"


def _reported_estimate(res: Any) -> str:
    parts = [f"{res('measure') or 'estimate'} {res('estimate') or ''}".strip()]
    if res("ci_low") is not None and res("ci_high") is not None:
        parts.append(f"(95% CI {res('ci_low')} to {res('ci_high')})")
    if res("p") is not None:
        parts.append(f"p {res('p')}")
    return " ".join(parts)


def _reported_arms(mine: Mapping[str, StoredValue], prefix: str,
                   arms: Mapping[int, tuple[str, str]]) -> str:
    """The arms' numbers as extracted (what the row's effect was computed from)."""
    out = []
    for i, (name, _) in arms.items():
        nums = [f"{ARM_FIELDS[f]} {mine[k].value}" for f in ARM_FIELDS
                if (k := f"{prefix}{SEP}arm{i}{SEP}{f}") in mine]
        if nums:
            out.append(f"{name}: {', '.join(nums)}")
    return "; ".join(out)


def prepare_apply(engine: Engine, form: ExtractionForm, study: str, *, by: str,
                  effects: Mapping[str, Sequence[DerivedEffect]] | None = None
                  ) -> ExtractedData:
    """The agreed extraction of ``study``, built and cross-checked with the project's study
    data, ready to be written (:meth:`metareview.store.project.Project.apply_extraction`
    writes it through ``extract_study`` and ``add_study_rows``, then :func:`mark_applied`).

    Raises
    ------
    InputError
        Fields still to settle, already written, or data the studies layer refuses (checked
        all together here, so a refused row leaves nothing written).
    """
    from metareview.studies import ReviewData, check_review

    state = extraction_state(engine, study)
    if state.applied_at is not None:
        raise InputError(f"study {study}: its agreed data were written already "
                         f"({state.applied_at:%Y-%m-%d}, by {state.applied_by})")
    current = study_store.read_review_data(engine)
    if study in current.studies:
        raise InputError(f"study {study} is in the study data already (extracted elsewhere)")
    comparison = compare(engine, form, study)
    open_ = comparison.disagreements
    if open_:
        listed = "; ".join(f.label for f in open_[:3]) + (" …" if len(open_) > 3 else "")
        raise InputError(f"study {study}: {len(open_)} field(s) still differ between "
                         f"{comparison.a} and {comparison.b}: {listed}")
    data = build_study_data(form, study, comparison.agreed_values(), effects, agreed_by=by)
    check_review(ReviewData(protocol=current.protocol,
                            studies={**current.studies, study: data.study},
                            outcomes=current.outcomes + data.outcomes,
                            arms=current.arms + data.arms,
                            placebo_response=current.placebo_response,
                            judgements=current.judgements,
                            origin=f"study {study} (agreed extraction)"))
    return data


def mark_applied(engine: Engine, study: str, data: ExtractedData, *, by: str) -> None:
    """Record that the agreed data of ``study`` were written: its extraction closes."""
    with db.write_session(engine) as s:
        _lock(s, study)
        s.add(ExtractionEventRow(study_id=study, who=by, action="apply", created_at=_now()))
        _audit(s, by, "extraction-apply", {"study": study, "arms": len(data.arms),
                                           "outcomes": len(data.outcomes)})


def free_slot(values: Mapping[str, Any], outcome: str, window: str) -> int:
    """The first result slot of ``outcome`` at ``window`` that ``values`` leave free.

    Raises
    ------
    InputError
        All :data:`MAX_SLOTS` are taken.
    """
    taken = {int(k.split(SEP)[3]) for k, v in values.items()
             if k.startswith(f"res{SEP}{outcome}{SEP}{window}{SEP}") and k.endswith(
                 f"{SEP}type") and v.value}
    free = [i for i in range(1, MAX_SLOTS + 1) if i not in taken]
    if not free:
        raise InputError(f"{outcome}, {window}: at most {MAX_SLOTS} results")
    return free[0]


def cleared(values: Mapping[str, Any], prefix: str) -> dict[str, ValueInput]:
    """Every value of the result ``prefix`` among ``values``, cleared (to remove the result:
    its history stays)."""
    return {k: ValueInput(None) for k in values if k.startswith(prefix + SEP)}


def ratio_measure(measure: str | None) -> bool:
    """Whether a reported measure is a ratio (analysed on the log scale)."""
    return (measure or "").strip().upper() in RATIO_MEASURES
