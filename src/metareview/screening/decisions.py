"""Screening decisions and how the votes of several reviewers combine into one.

The rules follow Covidence, which most review teams know:

* **Title/abstract stage.** ``include`` and ``maybe`` both send a record on to full text; a
  record is excluded only when every required reviewer votes ``exclude``. Votes of ``exclude``
  against ``include``/``maybe`` are a conflict.
* **Full-text stage.** ``include`` or ``exclude``, and an exclusion needs a reason (PRISMA counts
  reports excluded per reason). ``maybe`` here means "cannot decide" and always needs a
  resolution; so does any disagreement, including two exclusions for different reasons.
* A **resolution** by a third person (or by the pair, recorded under one name) overrides the
  votes; the votes themselves are kept.

Nothing here touches a database: the store hands in the votes and gets back a :class:`Status`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from metareview.errors import InputError

#: Screening stages, in order.
STAGES = ("title_abstract", "full_text")
#: Short names accepted wherever a stage is given.
STAGE_ALIASES = {
    "ta": "title_abstract", "tiab": "title_abstract", "title_abstract": "title_abstract",
    "ft": "full_text", "fulltext": "full_text", "full_text": "full_text",
}
#: Decisions a reviewer can make.
VALUES = ("include", "exclude", "maybe")
#: The spellings accepted for a decision: the words and their documented letters, nothing
#: else. ``yes``/``no`` are refused: ``20=yes`` read as include would be a guess.
VALUE_ALIASES = {"i": "include", "include": "include", "e": "exclude", "exclude": "exclude",
                 "m": "maybe", "maybe": "maybe"}

#: States a record can be in at a stage (``automated``: excluded by an automation tool before
#: screening, which the store decides, not :func:`combine`).
STATES = ("pending", "agreed", "conflict", "resolved", "automated")


def parse_stage(text: str) -> str:
    """Canonical stage name for ``ta``/``title_abstract``/``ft``/``full_text``.

    Raises
    ------
    InputError
        For anything else.
    """
    key = text.strip().lower().replace("-", "_").replace("/", "_")
    if key not in STAGE_ALIASES:
        raise InputError(f"stage {text!r}: expected one of ta, ft ({', '.join(STAGES)})")
    return STAGE_ALIASES[key]


def parse_value(text: str) -> str:
    """Canonical decision for ``i``/``include``, ``e``/``exclude`` or ``m``/``maybe`` (any case).

    Raises
    ------
    InputError
        For anything else (``yes``, ``no``, ``y``, ...).
    """
    key = text.strip().lower()
    if key not in VALUE_ALIASES:
        raise InputError(f"decision {text!r}: expected include, exclude or maybe (i/e/m)")
    return VALUE_ALIASES[key]


def check_decision(stage: str, value: str, reason: str | None) -> None:
    """Validate one decision before it is stored.

    Raises
    ------
    InputError
        If the stage or value is unknown, or a full-text exclusion has no reason.
    """
    if stage not in STAGES:
        raise InputError(f"stage {stage!r}: expected one of {', '.join(STAGES)}")
    if value not in VALUES:
        raise InputError(f"decision {value!r}: expected one of {', '.join(VALUES)}")
    if stage == "full_text" and value == "exclude" and not (reason and reason.strip()):
        raise InputError("full-text exclusion needs a reason (PRISMA counts reports per reason)")


@dataclass(frozen=True)
class Vote:
    """One reviewer's current decision on one record at one stage."""

    reviewer: str
    value: str
    reason: str | None = None


@dataclass(frozen=True)
class Status:
    """Where one record stands at one stage.

    Attributes
    ----------
    state : {'pending', 'agreed', 'conflict', 'resolved'}
        ``pending``: fewer votes than required (or none). ``agreed``: the required votes agree.
        ``conflict``: they disagree and nobody has resolved it. ``resolved``: a resolution
        overrides the votes.
    final : {'include', 'exclude'} or None
        The stage's outcome; at title/abstract ``maybe`` votes count as ``include`` (sent on to
        full text). None while pending or in conflict.
    reason : str or None
        The exclusion reason of a final full-text exclusion.
    votes : tuple of Vote
    """

    state: str
    final: str | None
    reason: str | None
    votes: tuple[Vote, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {
            "state": self.state,
            "final": self.final,
            "reason": self.reason,
            "votes": [{"reviewer": v.reviewer, "value": v.value, "reason": v.reason}
                      for v in self.votes],
        }


def _outcome(stage: str, value: str) -> str | None:
    if stage == "title_abstract":
        return "exclude" if value == "exclude" else "include"
    return None if value == "maybe" else value


def combine(
    stage: str,
    votes: Iterable[Vote],
    *,
    required: int = 2,
    resolution: Vote | None = None,
) -> Status:
    """Combine the reviewers' votes on one record at one stage.

    Parameters
    ----------
    stage : {'title_abstract', 'full_text'}
    votes : iterable of Vote
        Each reviewer's *current* vote (at most one per reviewer).
    required : int
        Votes needed before a record is decided: 2 for dual independent screening, 1 for
        single screening.
    resolution : Vote, optional
        A resolution, which decides the record whatever the votes say.

    Returns
    -------
    Status
    """
    votes = tuple(sorted(votes, key=lambda v: v.reviewer))
    if resolution is not None:
        return Status("resolved", _outcome(stage, resolution.value),
                      resolution.reason if resolution.value == "exclude" else None, votes)
    if not votes:
        return Status("pending", None, None, votes)
    outcomes = {_outcome(stage, v.value) for v in votes}
    reasons = {(v.reason or "").strip().lower() for v in votes if v.value == "exclude"}
    disagree = len(outcomes) > 1 or None in outcomes or (
        stage == "full_text" and len(reasons) > 1)
    if disagree and len(votes) >= 2:
        return Status("conflict", None, None, votes)
    if len(votes) < required:
        return Status("pending", None, None, votes)
    if None in outcomes:  # single screening, full-text 'maybe': needs a decision
        return Status("conflict", None, None, votes)
    final = outcomes.pop()
    reason = next((v.reason for v in votes if v.value == "exclude"), None)
    return Status("agreed", final, reason if final == "exclude" else None, votes)


def count_states(statuses: Mapping[Any, Status]) -> dict[str, int]:
    """Counts of records per state and per final outcome."""
    out = {s: 0 for s in STATES}
    out.update(include=0, exclude=0)
    for st in statuses.values():
        out[st.state] += 1
        if st.final is not None:
            out[st.final] += 1
    return out
