"""Risk-of-bias and quality appraisal in a project: two blind appraisers, consensus, history.

What Covidence's quality assessment does, over the project database, with the instruments of
:mod:`metareview.appraisal` (their forms: :mod:`metareview.appraisal.forms`). Per study and
instrument, two **appraisers** answer the form (each answer with free-text support and where in
the report it was read), blind: each sees only their own answers until both have submitted
(:func:`answers`, :func:`history`). The instrument's algorithm gives the domain judgements and
the overall rating (:meth:`Form.judge`); an appraiser who departs from the algorithm's overall
rating records an override with its reason (:func:`set_override`), shown as such.

Then :func:`compare` lays the two sets of answers side by side; the owner settles each
disagreement (:func:`resolve`: A's, B's, or an answer entered with a reason) and may override
the algorithm's overall rating of the agreed answers, with a reason. :func:`apply` writes the
agreed rating into the study's ``quality`` (instrument, rating, EPHPP components, Health
Evidence score, a source naming the appraisal) through the study-data path, so GRADE's
risk-of-bias domain and the report read it. Everything is append-only: a change is a new row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from metareview.appraisal.forms import AgreedAppraisal, Form, Judgement, form
from metareview.errors import InputError
from metareview.store import db
from metareview.store import review_data as study_store
from metareview.store.audit import audit as _audit
from metareview.store.audit import now as _now
from metareview.store.models import AppraisalAnswerRow, AppraisalEventRow, StudyRow
from metareview.studies.schema import Quality, Source, Study

#: The field key of the overall rating (an override of the algorithm's).
OVERALL = "overall"
CHOICES = ("A", "B", "entered")


@dataclass(frozen=True)
class AnswerInput:
    """An answer as a form sends it: the field, the answer (None clears it), the support and
    where in the report it was read."""

    field: str
    value: str | None
    support: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class StoredAnswer:
    """An answer as stored: who, what, why, where, when (and for an agreed one, the choice it
    took and the reason)."""

    field: str
    value: str | None
    support: str | None
    location: str | None
    appraiser: str
    kind: str
    choice: str | None
    reason: str | None
    at: dt.datetime

    def summary(self) -> str:
        """One line: the answer, its location and who gave it."""
        where = f" ({self.location})" if self.location else ""
        return f"{self.field}: {self.value or '(cleared)'}{where}, {self.appraiser}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"field": self.field, "value": self.value, "support": self.support,
                "location": self.location, "appraiser": self.appraiser, "kind": self.kind,
                "choice": self.choice, "reason": self.reason, "at": self.at.isoformat()}


def _stored(r: AppraisalAnswerRow) -> StoredAnswer:
    return StoredAnswer(r.field, r.value, r.support, r.location, r.appraiser, r.kind, r.choice,
                        r.reason, r.created_at)


@dataclass(frozen=True)
class AppraiserState:
    """One appraiser's progress (counts only: never answers)."""

    name: str
    answered: int
    submitted: bool


@dataclass(frozen=True)
class AppraisalState:
    """Where the appraisal of one study on one instrument stands.

    Attributes
    ----------
    study, instrument : str
        Which appraisal.
    appraisers : tuple of AppraiserState
        The (at most two) appraisers, in the order they started.
    resolved : int
        Fields the owner has settled (consensus rows).
    applied_by : str or None
        Who wrote the agreed rating into the study (None: not yet).
    """

    study: str
    instrument: str
    appraisers: tuple[AppraiserState, ...]
    resolved: int
    applied_by: str | None

    @property
    def both_submitted(self) -> bool:
        """Two appraisers, both submitted: the answers are no longer blind."""
        return len(self.appraisers) == 2 and all(a.submitted for a in self.appraisers)

    def of(self, name: str) -> AppraiserState | None:
        """The state of appraiser ``name`` (None: not an appraiser here)."""
        return next((a for a in self.appraisers if a.name == name), None)

    def summary(self) -> str:
        """One line."""
        who = ", ".join(f"{a.name} ({'submitted' if a.submitted else f'{a.answered} answered'})"
                        for a in self.appraisers) or "not started"
        done = f"; applied by {self.applied_by}" if self.applied_by else ""
        return f"{self.study} {self.instrument}: {who}{done}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"study": self.study, "instrument": self.instrument,
                "appraisers": [{"name": a.name, "answered": a.answered,
                                "submitted": a.submitted} for a in self.appraisers],
                "resolved": self.resolved, "applied_by": self.applied_by}


def _rows(s: Session, study: str, instrument: str) -> list[AppraisalAnswerRow]:
    return list(s.scalars(select(AppraisalAnswerRow)
                          .where(AppraisalAnswerRow.study_id == study,
                                 AppraisalAnswerRow.instrument == instrument)
                          .order_by(AppraisalAnswerRow.id)))


def _current(rows: Sequence[AppraisalAnswerRow], kind: str
             ) -> dict[tuple[str, str], AppraisalAnswerRow]:
    """(person, field) → newest row of ``kind``."""
    return {(r.appraiser, r.field): r for r in rows if r.kind == kind}


def _state_in(s: Session, study: str, instrument: str,
              rows: Sequence[AppraisalAnswerRow] | None = None) -> AppraisalState:
    rows = _rows(s, study, instrument) if rows is None else rows
    names = list(dict.fromkeys(r.appraiser for r in rows if r.kind == "answer"))
    counts: dict[str, int] = {}
    for (who, _), r in _current(rows, "answer").items():
        counts[who] = counts.get(who, 0) + (r.value is not None)
    submitted: dict[str, bool] = {}
    applied: str | None = None
    for ev in s.scalars(select(AppraisalEventRow)
                        .where(AppraisalEventRow.study_id == study,
                               AppraisalEventRow.instrument == instrument)
                        .order_by(AppraisalEventRow.id)):
        if ev.action in ("submit", "reopen"):
            submitted[ev.who] = ev.action == "submit"
        elif ev.action == "apply":
            applied = ev.who
    resolved = len({r.field for r in rows if r.kind == "consensus"})
    return AppraisalState(study, instrument,
                          tuple(AppraiserState(n, counts.get(n, 0), submitted.get(n, False))
                                for n in names), resolved, applied)


def appraisal_state(engine: Engine, study: str, instrument: str) -> AppraisalState:
    """Where the appraisal of ``study`` on ``instrument`` stands (never answers)."""
    name = form(instrument).instrument
    with Session(engine) as s:
        return _state_in(s, study, name)


def appraisal_states(engine: Engine) -> dict[tuple[str, str], AppraisalState]:
    """(study, instrument) → state, for every appraisal that has begun."""
    with Session(engine) as s:
        pairs = sorted(set(s.execute(select(AppraisalAnswerRow.study_id,
                                            AppraisalAnswerRow.instrument).distinct()).all()))
        return {(sid, ins): _state_in(s, sid, ins) for sid, ins in pairs}


def _lock(s: Session, study: str) -> StudyRow:
    """The study's row, locked for this write on PostgreSQL, so two appraisers starting at
    once cannot both become the second."""
    row = s.scalars(select(StudyRow).where(StudyRow.id == study).with_for_update()).first()
    if row is None:
        raise InputError(f"study {study!r}: no such study in this project")
    return row


def _clean(text: str | None, most: int, what: str) -> str | None:
    if text is None or not text.strip():
        return None
    text = text.strip()
    if len(text) > most:
        raise InputError(f"{what}: at most {most} characters (got {len(text)})")
    return text


# -- an appraiser's answers ----------------------------------------------------------------


def save_answers(engine: Engine, study: str, instrument: str, appraiser: str,
                 given: Sequence[AnswerInput]) -> int:
    """Store an appraiser's answers; returns how many changed (only those are stored, each as
    a new row; the old one stays in the history).

    The first two people to answer a study's form for an instrument are its appraisers.

    Raises
    ------
    InputError
        An unknown field or an answer that is not one of its options (naming the field), a
        third appraiser, an appraiser who has submitted, or an appraisal already applied.
        Nothing is stored then.
    """
    f = form(instrument)
    if not appraiser.strip():
        raise InputError("an appraiser needs a name")
    checked = []
    for a in given:
        fld = f.field(a.field)
        where = f"study {study}, {f.instrument} {fld.label}"
        value = _clean(a.value, 100, where)
        if value is not None:
            f.check(a.field, value)
        checked.append(AnswerInput(a.field, value, _clean(a.support, 5000, f"{where}, support"),
                                   _clean(a.location, 200, f"{where}, location")))
    with db.write_session(engine) as s:
        _lock(s, study)
        rows = _rows(s, study, f.instrument)
        state = _state_in(s, study, f.instrument, rows)
        _may_write(state, appraiser, f)
        mine = _current(rows, "answer")
        n = 0
        for a in checked:
            old = mine.get((appraiser, a.field))
            if old is None and a.value is None and a.support is None and a.location is None:
                continue
            if old is not None and (old.value, old.support, old.location) == (
                    a.value, a.support, a.location):
                continue
            s.add(AppraisalAnswerRow(study_id=study, instrument=f.instrument, kind="answer",
                                     appraiser=appraiser, field=a.field, value=a.value,
                                     support=a.support, location=a.location,
                                     created_at=_now()))
            n += 1
        if n:
            _audit(s, appraiser, "appraisal-answers",
                   {"study": study, "instrument": f.instrument, "changed": n})
    return n


def _may_write(state: AppraisalState, appraiser: str, f: Form) -> None:
    where = f"study {state.study}, {f.instrument}"
    if state.applied_by is not None:
        raise InputError(f"{where}: the agreed appraisal was applied; answers are closed")
    me = state.of(appraiser)
    if me is None and len(state.appraisers) >= 2:
        raise InputError(f"{where}: already has two appraisers "
                         f"({', '.join(a.name for a in state.appraisers)})")
    if me is not None and me.submitted:
        raise InputError(f"{where}: {appraiser} has submitted; reopen to change an answer")


def _override_checked(f: Form, field: str, value: str | None, reason: str | None,
                      where: str) -> tuple[str | None, str | None]:
    """An override's value and reason, cleaned and checked: ``field`` is ``"overall"`` or a
    column the algorithm gives (RoB 2's domains); a value needs a reason."""
    if field == OVERALL:
        options = f.overall_options
    elif field in f.overridable:
        options = next(c.options for c in f.columns if c.key == field)
    else:
        raise InputError(f"{where}: not a judgement the algorithm gives, so there is nothing "
                         "to override")
    value = _clean(value, 100, where)
    reason = _clean(reason, 5000, f"{where}, reason")
    if value is not None:
        if value not in options:
            raise InputError(f"{where}: {value!r} is not a judgement "
                             f"(options: {', '.join(options)})")
        if reason is None:
            raise InputError(f"{where}: an override of the algorithm needs a reason")
    return value, reason


def set_override(engine: Engine, study: str, instrument: str, appraiser: str,
                 value: str | None, reason: str | None, *, field: str = OVERALL) -> None:
    """Record (or with ``value`` None withdraw) an appraiser's override of the algorithm's
    judgement of a domain (``field`` one of the form's ``overridable``) or of the overall
    rating (``field`` ``"overall"``).

    Raises
    ------
    InputError
        A judgement not on the scale, an override without a reason, a field the algorithm
        does not judge, or one the appraiser may not write (see :func:`save_answers`).
    """
    f = form(instrument)
    where = f"study {study}, {f.instrument} {field}"
    value, reason = _override_checked(f, field, value, reason, where)
    with db.write_session(engine) as s:
        _lock(s, study)
        state = _state_in(s, study, f.instrument)
        _may_write(state, appraiser, f)
        if state.of(appraiser) is None:
            raise InputError(f"{where}: answer the form before overriding its result")
        s.add(AppraisalAnswerRow(study_id=study, instrument=f.instrument, kind="override",
                                 appraiser=appraiser, field=field, value=value,
                                 reason=reason, created_at=_now()))
        _audit(s, appraiser, "appraisal-override", {"study": study, "instrument": f.instrument,
                                                    "field": field, "value": value,
                                                    "reason": reason})


def _event(engine: Engine, study: str, instrument: str, who: str, action: str,
           check: Any) -> None:
    with db.write_session(engine) as s:
        _lock(s, study)
        rows = _rows(s, study, instrument)
        check(_state_in(s, study, instrument, rows), rows)
        s.add(AppraisalEventRow(study_id=study, instrument=instrument, who=who, action=action,
                                created_at=_now()))
        _audit(s, who, f"appraisal-{action}", {"study": study, "instrument": instrument})


def submit(engine: Engine, study: str, instrument: str, appraiser: str) -> None:
    """Mark an appraiser's answers as complete (all fields answered).

    Raises
    ------
    InputError
        Not an appraiser here, already submitted, or fields still unanswered (named).
    """
    f = form(instrument)

    def check(st: AppraisalState, rows: Sequence[AppraisalAnswerRow]) -> None:
        me = st.of(appraiser)
        if me is None:
            raise InputError(f"study {study}, {f.instrument}: {appraiser} has not answered")
        if me.submitted:
            raise InputError(f"study {study}, {f.instrument}: {appraiser} has submitted already")
        mine = {k[1]: r.value for k, r in _current(rows, "answer").items() if k[0] == appraiser}
        missing = f.missing(mine)
        if missing:
            raise InputError(f"study {study}, {f.instrument}: not answered yet: "
                             f"{', '.join(missing)}")

    _event(engine, study, f.instrument, appraiser, "submit", check)


def reopen(engine: Engine, study: str, instrument: str, appraiser: str) -> None:
    """Reopen an appraiser's submitted answers (before the owner has settled any field).

    Raises
    ------
    InputError
        Not submitted, or consensus already begun or applied.
    """
    f = form(instrument)

    def check(st: AppraisalState, rows: Sequence[AppraisalAnswerRow]) -> None:
        me = st.of(appraiser)
        if me is None or not me.submitted:
            raise InputError(f"study {study}, {f.instrument}: {appraiser} has not submitted")
        if st.resolved or st.applied_by:
            raise InputError(f"study {study}, {f.instrument}: consensus has begun; "
                             "answers are closed")

    _event(engine, study, f.instrument, appraiser, "reopen", check)


def _visible_rows(engine: Engine, study: str, f: Form, appraiser: str, viewer: str
                  ) -> list[AppraisalAnswerRow]:
    with Session(engine) as s:
        rows = _rows(s, study, f.instrument)
        if viewer != appraiser and not _state_in(s, study, f.instrument, rows).both_submitted:
            raise InputError(f"study {study}, {f.instrument}: {appraiser}'s answers are hidden "
                             "until both appraisers have submitted")
    return rows


def answers(engine: Engine, study: str, instrument: str, appraiser: str, *, viewer: str
            ) -> dict[str, StoredAnswer]:
    """An appraiser's current answers (field → answer).

    Blind: ``viewer`` sees another appraiser's answers only once both have submitted.

    Raises
    ------
    InputError
        Another appraiser's answers asked for before both have submitted.
    """
    f = form(instrument)
    rows = _visible_rows(engine, study, f, appraiser, viewer)
    return {k[1]: _stored(r) for k, r in _current(rows, "answer").items() if k[0] == appraiser}


def _overrides_of(rows: Sequence[AppraisalAnswerRow], name: str) -> dict[str, StoredAnswer]:
    return {k[1]: _stored(r) for k, r in _current(rows, "override").items()
            if k[0] == name and r.value is not None}


def overrides(engine: Engine, study: str, instrument: str, appraiser: str, *, viewer: str
              ) -> dict[str, StoredAnswer]:
    """An appraiser's standing overrides (domain key or ``"overall"`` → override with its
    reason); blind as :func:`answers`."""
    f = form(instrument)
    return _overrides_of(_visible_rows(engine, study, f, appraiser, viewer), appraiser)


def _domain_overrides(f: Form, over: dict[str, StoredAnswer]) -> dict[str, tuple[str, str]]:
    return {k: (str(o.value), str(o.reason)) for k, o in over.items() if k in f.overridable}


def judgement(f: Form, given: dict[str, StoredAnswer],
              over: dict[str, StoredAnswer] | None = None) -> Judgement | None:
    """The algorithm's judgement of a set of stored answers, with the domain overrides among
    ``over`` applied (None while incomplete). An overall override is the caller's to show."""
    return f.judge({k: a.value for k, a in given.items()},
                   _domain_overrides(f, over or {}))


def history(engine: Engine, study: str, instrument: str, field: str, *, viewer: str
            ) -> list[StoredAnswer]:
    """Every row ever stored for one field, oldest first: the viewer's own only until both
    appraisers have submitted, everyone's (and the agreed ones) after."""
    f = form(instrument)
    with Session(engine) as s:
        rows = _rows(s, study, f.instrument)
        open_ = _state_in(s, study, f.instrument, rows).both_submitted
    mine = [r for r in rows if r.appraiser == viewer and r.kind != "consensus"]
    return [_stored(r) for r in (rows if open_ else mine) if r.field == field]


# -- comparison and consensus ---------------------------------------------------------------


def _value(a: StoredAnswer | None) -> str:
    return (a.value if a is not None else None) or "NA"


@dataclass(frozen=True)
class FieldComparison:
    """One field's two answers and the agreed one, if settled."""

    field: str
    label: str
    text: str
    a: StoredAnswer | None
    b: StoredAnswer | None
    consensus: StoredAnswer | None
    applies: bool = True

    @property
    def same(self) -> bool:
        """Both appraisers gave the same answer (a question left unanswered because it did not
        apply counts as NA)."""
        return _value(self.a) == _value(self.b)

    @property
    def agreed_value(self) -> str | None:
        """The owner's settlement, else the shared answer, else None (to settle)."""
        if self.consensus is not None:
            return self.consensus.value
        return _value(self.a) if self.same else None

    @property
    def status(self) -> str:
        """``agree``, ``settled``, ``disagree``, or ``not applicable`` (a question the agreed
        answers so far do not ask)."""
        if self.consensus is not None:
            return "settled"
        if self.same:
            return "agree"
        return "disagree" if self.applies else "not applicable"


@dataclass(frozen=True)
class Comparison:
    """Two appraisers' answers side by side, with what the algorithm makes of each set and
    of the agreed answers.

    Attributes
    ----------
    appraisers : (str, str)
        A and B, in the order they started.
    fields : tuple of FieldComparison
        One per form field, in the instrument's order.
    judged_a, judged_b : Judgement
        The algorithm's judgement of each appraiser's answers.
    overrides_a, overrides_b : dict
        Each appraiser's overrides (domain key or ``"overall"`` → override with its reason).
    agreed : AgreedAppraisal or None
        The agreed appraisal, once every field is agreed.
    owner_overrides : dict
        The owner's overrides of the agreed judgements (domain key or ``"overall"``), with
        their reasons.
    """

    study: str
    instrument: str
    appraisers: tuple[str, str]
    fields: tuple[FieldComparison, ...]
    judged_a: Judgement | None
    judged_b: Judgement | None
    overrides_a: dict[str, StoredAnswer]
    overrides_b: dict[str, StoredAnswer]
    agreed: AgreedAppraisal | None
    owner_overrides: dict[str, StoredAnswer]

    @property
    def owner_override(self) -> StoredAnswer | None:
        """The owner's override of the agreed overall rating, if any."""
        return self.owner_overrides.get(OVERALL)

    @property
    def disagreements(self) -> tuple[FieldComparison, ...]:
        """Fields whose answers differ and are not settled yet."""
        return tuple(c for c in self.fields if c.status == "disagree")

    def summary(self) -> str:
        """One line per field."""
        a, b = self.appraisers
        lines = [f"{self.study} {self.instrument}: {a} vs {b}"]
        for c in self.fields:
            lines.append(f"  {c.label}: {c.a.value if c.a else '-'} | "
                         f"{c.b.value if c.b else '-'} -> {c.agreed_value or '?'} ({c.status})")
        if self.agreed is not None:
            lines.append(f"  overall: {self.agreed.overall}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"study": self.study, "instrument": self.instrument,
                "appraisers": list(self.appraisers),
                "fields": [{"field": c.field, "a": c.a.value if c.a else None,
                            "b": c.b.value if c.b else None, "agreed": c.agreed_value,
                            "status": c.status} for c in self.fields],
                "agreed": self.agreed.to_dict() if self.agreed else None}


def _label(s: Session, study: str) -> str:
    row = s.get(StudyRow, study)
    return row.label if row is not None else study


def _compare_in(s: Session, study: str, f: Form) -> Comparison:
    rows = _rows(s, study, f.instrument)
    state = _state_in(s, study, f.instrument, rows)
    if not state.both_submitted:
        raise InputError(f"study {study}, {f.instrument}: both appraisers must submit before "
                         "their answers are compared")
    a, b = (x.name for x in state.appraisers)
    cur = _current(rows, "answer")
    # whoever settled it (an owner), the newest agreed row per field counts
    agreed_rows = {r.field: r for r in rows if r.kind == "consensus"}
    fields = []
    for fld in f.fields:
        ra, rb = cur.get((a, fld.key)), cur.get((b, fld.key))
        rc = agreed_rows.get(fld.key)
        fields.append(FieldComparison(fld.key, fld.label, fld.text,
                                      _stored(ra) if ra else None, _stored(rb) if rb else None,
                                      _stored(rc) if rc else None))
    asked = set(f.applicable({c.field: c.agreed_value for c in fields}))
    fields = [replace(c, applies=c.field in asked) for c in fields]
    over_a, over_b = _overrides_of(rows, a), _overrides_of(rows, b)

    def judged(name: str, over: dict[str, StoredAnswer]) -> Judgement | None:
        return f.judge({k[1]: r.value for k, r in cur.items() if k[0] == name},
                       _domain_overrides(f, over))

    owner = {k: _stored(r) for k, r in agreed_rows.items()
             if (k == OVERALL or k in f.overridable) and r.value is not None}
    agreed = None
    values = {c.field: c.agreed_value for c in fields}
    if not f.missing(values):
        j = f.judge(values, _domain_overrides(f, owner))
        assert j is not None  # every applicable field has a value
        top = owner.get(OVERALL)
        agreed = AgreedAppraisal(_label(s, study), j,
                                 str(top.value) if top else j.overall,
                                 top.reason if top else None)
    return Comparison(study, f.instrument, (a, b), tuple(fields), judged(a, over_a),
                      judged(b, over_b), over_a, over_b, agreed, owner)


def compare(engine: Engine, study: str, instrument: str) -> Comparison:
    """The two appraisers' answers field by field, once both have submitted.

    Raises
    ------
    InputError
        Fewer than two appraisers, or one has not submitted.
    """
    f = form(instrument)
    with Session(engine) as s:
        return _compare_in(s, study, f)


def resolve(engine: Engine, study: str, instrument: str, field: str, *, by: str, choice: str,
            value: str | None = None, reason: str | None = None) -> None:
    """Settle one field: take A's answer, B's, or enter one with a reason.

    ``field`` ``"overall"`` (or a domain the algorithm judges, RoB 2's ``"D1"`` ...)
    overrides the algorithm's judgement of the agreed answers (``choice`` ``"entered"``, a
    judgement and a reason); ``value`` None there withdraws the override.

    Raises
    ------
    InputError
        Answers not both submitted, an unknown choice or field, an entered answer without a
        reason or not among the field's options, or an appraisal already applied.
    """
    f = form(instrument)
    if choice not in CHOICES:
        raise InputError(f"study {study}, {f.instrument} {field}: choice {choice!r} unknown; "
                         f"expected {', '.join(CHOICES)}")
    where = f"study {study}, {f.instrument} {field}"
    value = _clean(value, 100, where)
    reason = _clean(reason, 5000, f"{where}, reason")
    with db.write_session(engine) as s:
        _lock(s, study)
        cmp = _compare_in(s, study, f)
        if _state_in(s, study, f.instrument).applied_by is not None:
            raise InputError(f"study {study}, {f.instrument}: the agreed appraisal was applied")
        support = location = None
        if field == OVERALL or field in f.overridable:
            if choice != "entered":
                raise InputError(f"{where}: the judgement is the algorithm's unless "
                                 "entered with a reason")
            value, reason = _override_checked(f, field, value, reason, where)
        else:
            fc = next((c for c in cmp.fields if c.field == field), None)
            if fc is None:
                f.field(field)  # raises: no such field
                raise AssertionError(field)
            if choice in ("A", "B"):
                taken = fc.a if choice == "A" else fc.b
                if taken is None or taken.value is None:
                    raise InputError(f"{where}: {choice} gave no answer")
                value, support, location = taken.value, taken.support, taken.location
            else:
                if value is None:
                    raise InputError(f"{where}: enter the agreed answer")
                f.check(field, value)
                if reason is None:
                    raise InputError(f"{where}: an entered answer needs a reason")
        s.add(AppraisalAnswerRow(study_id=study, instrument=f.instrument, kind="consensus",
                                 appraiser=by, field=field, value=value, support=support,
                                 location=location, choice=choice, reason=reason,
                                 created_at=_now()))
        _audit(s, by, "appraisal-resolve", {"study": study, "instrument": f.instrument,
                                            "field": field, "choice": choice, "value": value,
                                            "reason": reason})


def apply(engine: Engine, study: str, instrument: str, *, by: str) -> Study:
    """Write the agreed appraisal into the study's ``quality``; returns the updated study.

    The source names the appraisal (instrument, appraisers, who applied it and when), in the
    study's own source document.

    Raises
    ------
    InputError
        Fields still to settle, a study not yet extracted, or one applied already.
    """
    f = form(instrument)
    with Session(engine) as s:
        cmp = _compare_in(s, study, f)
        state = _state_in(s, study, f.instrument)
    if state.applied_by is not None:
        raise InputError(f"study {study}, {f.instrument}: applied already by {state.applied_by}")
    if cmp.agreed is None:
        left = ", ".join(f.missing({c.field: c.agreed_value for c in cmp.fields}))
        raise InputError(f"study {study}, {f.instrument}: settle {left} first")
    data = study_store.read_review_data(engine)
    current = data.studies.get(study)
    if current is None:
        raise InputError(f"study {study}: not extracted yet; its quality has nowhere to go")
    j, ag = cmp.agreed.judgement, cmp.agreed
    a, b = cmp.appraisers
    note = "".join(f", {k} overridden by {by}: {why}" for k, why in j.overridden.items())
    if ag.override_reason:
        note += f", overall overridden by {by}: {ag.override_reason}"
    location = (f"appraisal {f.instrument}: consensus of {a} and {b}, applied by {by} on "
                f"{_now().date().isoformat()}{note}")
    quality = Quality(instrument=f.instrument, rating=ag.overall,  # type: ignore[arg-type]
                      score=j.score, components=dict(j.components),  # type: ignore[arg-type]
                      source=Source(document=current.source.document, location=location[:500]))
    updated = current.model_copy(update={"quality": quality})
    study_store.set_study(engine, updated, actor=by)
    with db.write_session(engine) as s:
        _lock(s, study)
        if _state_in(s, study, f.instrument).applied_by is not None:
            raise InputError(f"study {study}, {f.instrument}: applied already")
        s.add(AppraisalEventRow(study_id=study, instrument=f.instrument, who=by, action="apply",
                                created_at=_now()))
        _audit(s, by, "appraisal-apply", {"study": study, "instrument": f.instrument,
                                          "rating": ag.overall})
    return updated


def agreed_appraisals(engine: Engine, instrument: str) -> list[AgreedAppraisal]:
    """Every study's agreed appraisal on ``instrument`` (studies whose fields are all agreed),
    in the order of the studies' labels: what the traffic-light plot draws."""
    f = form(instrument)
    out = []
    with Session(engine) as s:
        ids = sorted(set(s.scalars(select(AppraisalAnswerRow.study_id)
                                   .where(AppraisalAnswerRow.instrument == f.instrument))))
        for sid in ids:
            if not _state_in(s, sid, f.instrument).both_submitted:
                continue
            ag = _compare_in(s, sid, f).agreed
            if ag is not None:
                out.append(ag)
    return sorted(out, key=lambda x: x.study.lower())
