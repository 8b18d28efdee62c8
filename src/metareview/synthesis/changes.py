"""What an update changed: a review's analyses before and after, and the protocol's triggers.

:func:`compare_reviews` synthesises two versions of a review's study data (a snapshot saved by
``metareview update`` and the current data, or any two review folders or projects) and sets
each graded analysis side by side: the estimate with its confidence interval, tau² and I²,
the number of studies and participants, and the GRADE certainty. It then evaluates the
protocol's ``triggers`` (:class:`~metareview.studies.schema.Trigger`, the newer version's) on
each analysis they name, saying which fired and why, with the numbers.

The rules of a trigger (:func:`trigger_holds`): a condition on the interval fires when it holds
after and did not hold before (an analysis that did not exist before did not meet it);
``certainty_changes`` when the certainty after differs from the one before; and
``estimate_moves_by`` when both estimates exist and differ by at least ``by``. The report layer
renders the :class:`ChangeReport`; nothing there computes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from metareview._util.textfmt import printout_num
from metareview.effects.measures import is_ratio
from metareview.grade import Thresholds
from metareview.studies import ReviewData
from metareview.studies.schema import Protocol, Trigger
from metareview.synthesis.grading import GradedOutcome, GradeKey
from metareview.synthesis.review import ReviewSynthesis, synthesize


@dataclass(frozen=True)
class AnalysisState:
    """One analysis in one version of the review.

    Estimates and interval bounds are on the scale they are reported (the risk ratio, not
    its log). ``mid`` holds the thresholds of an important effect on that scale, below and
    above the null (GRADE's 0.75 and 1.25 for ratios, the protocol's MID either side of 0
    otherwise), or None when the protocol gives none for the outcome's scale.
    """

    measure: str | None
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    tau2: float | None
    i2: float | None
    studies: int | None
    participants: int | None
    certainty: str | None
    null: float
    mid: tuple[float, float] | None = None
    mid_source: str | None = None

    @property
    def has_interval(self) -> bool:
        """Whether the estimate and both bounds are known."""
        return None not in (self.estimate, self.ci_low, self.ci_high)

    def excludes_null(self) -> bool | None:
        """Whether the interval lies wholly on one side of the null (None without one)."""
        if not self.has_interval:
            return None
        return self.ci_high < self.null or self.ci_low > self.null  # type: ignore[operator]

    def includes_mid(self) -> bool | None:
        """Whether the interval contains a MID threshold (None without an interval or MID)."""
        if not self.has_interval or self.mid is None:
            return None
        return any(self.ci_low <= m <= self.ci_high for m in self.mid)  # type: ignore[operator]

    def interval_text(self) -> str:
        """``0.4894 [0.3441, 0.6962]``, or ``not estimated``."""
        if not self.has_interval:
            return "not estimated"
        return (f"{printout_num(self.estimate)} [{printout_num(self.ci_low)}, "
                f"{printout_num(self.ci_high)}]")

    def summary(self) -> str:
        """One line: measure, estimate, CI, heterogeneity, studies, participants, certainty."""
        het = []
        if self.tau2 is not None:
            het.append(f"tau² {printout_num(self.tau2)}")
        if self.i2 is not None:
            het.append(f"I² {self.i2:.1f}%")
        parts = [f"{self.measure or ''} {self.interval_text()}".strip(), *het,
                 f"k = {self.studies if self.studies is not None else 'NA'}",
                 f"n = {self.participants if self.participants is not None else 'NA'}",
                 f"certainty {self.certainty or 'not graded'}"]
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"measure": self.measure, "estimate": self.estimate, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "tau2": self.tau2, "i2": self.i2,
                "studies": self.studies, "participants": self.participants,
                "certainty": self.certainty, "null": self.null,
                "mid": None if self.mid is None else list(self.mid),
                "mid_source": self.mid_source}


@dataclass(frozen=True)
class AnalysisChange:
    """One analysis before and after (either may be None: new, or gone)."""

    key: GradeKey
    name: str
    category: str | None
    before: AnalysisState | None
    after: AnalysisState | None

    @property
    def status(self) -> str:
        """``new``, ``gone``, ``changed`` or ``unchanged``."""
        if self.before is None:
            return "new"
        if self.after is None:
            return "gone"
        return "unchanged" if self.before == self.after else "changed"

    def summary(self) -> str:
        """The analysis's name, then a line for before and one for after."""
        return "\n".join([
            f"{self.name} ({self.key[0]}): {self.status}",
            f"  before: {self.before.summary() if self.before else 'no analysis'}",
            f"  after:  {self.after.summary() if self.after else 'no analysis'}"])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        q, outcome, comparison, window = self.key
        return {"question": q, "outcome": outcome, "comparison": comparison, "window": window,
                "name": self.name, "category": self.category, "status": self.status,
                "before": None if self.before is None else self.before.to_dict(),
                "after": None if self.after is None else self.after.to_dict()}


@dataclass(frozen=True)
class TriggerResult:
    """One trigger of the protocol on one analysis: whether it fired, and why."""

    index: int  # the trigger's place in the protocol's list, from 0
    trigger: Trigger
    analysis: str | None  # the analysis's name; None when the trigger matched none
    fired: bool
    why: str

    def summary(self) -> str:
        """One line for people."""
        head = "FIRED" if self.fired else "not fired"
        on = f" on {self.analysis}" if self.analysis else ""
        by = f" {self.trigger.by:g}" if self.trigger.by is not None else ""
        act = f" Action: {self.trigger.action}" if self.fired and self.trigger.action else ""
        return f"[{head}] trigger {self.index + 1}, {self.trigger.when}{by}{on}: {self.why}{act}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"trigger": self.index + 1,
                **self.trigger.model_dump(mode="json", exclude_none=True),
                "analysis": self.analysis, "fired": self.fired, "why": self.why}


@dataclass(frozen=True)
class ChangeReport:
    """A review's analyses before and after an update, and the triggers that fired."""

    before_label: str
    after_label: str
    before_fingerprint: str
    after_fingerprint: str
    studies_added: tuple[str, ...]
    studies_removed: tuple[str, ...]
    analyses: tuple[AnalysisChange, ...]
    triggers: tuple[TriggerResult, ...]

    @property
    def fired(self) -> tuple[TriggerResult, ...]:
        """The triggers that fired."""
        return tuple(t for t in self.triggers if t.fired)

    def summary(self) -> str:
        """The analyses side by side and every trigger, for people."""
        lines = [f"changes from {self.before_label} ({self.before_fingerprint}) to "
                 f"{self.after_label} ({self.after_fingerprint})",
                 f"studies added: {', '.join(self.studies_added) or 'none'}; removed: "
                 f"{', '.join(self.studies_removed) or 'none'}"]
        lines += [a.summary() for a in self.analyses] or ["no graded analysis in either version"]
        if self.triggers:
            n = len(self.fired)
            lines.append(f"triggers: {n} of {len(self.triggers)} fired")
            lines += [f"  {t.summary()}" for t in self.triggers]
        else:
            lines.append("triggers: none in the protocol")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (``metareview changes --json`` prints this)."""
        return {"before": self.before_label, "after": self.after_label,
                "before_fingerprint": self.before_fingerprint,
                "after_fingerprint": self.after_fingerprint,
                "studies_added": list(self.studies_added),
                "studies_removed": list(self.studies_removed),
                "analyses": [a.to_dict() for a in self.analyses],
                "triggers": [t.to_dict() for t in self.triggers],
                "fired": len(self.fired)}


# ---- the analyses of one version ---------------------------------------------------------------
def _mid(protocol: Protocol, g: GradedOutcome) -> tuple[tuple[float, float] | None, str | None]:
    """The thresholds of an important effect for a graded outcome, and where they come from."""
    row = g.sof_row
    measure = row.measure or ""
    if is_ratio(measure):
        lo, hi = Thresholds().ratio_mid
        return (lo, hi), f"GRADE's default for ratios ({lo:g} and {hi:g})"
    for m in protocol.mids:  # as grading does: same outcome, same scale
        if m.outcome == g.key[1] and row.scale and m.scale == row.scale:
            return (-m.value, m.value), f"protocol MID {m.value:g} on {m.scale} ({m.source})"
    return None, None


def analysis_states(syn: ReviewSynthesis) -> dict[GradeKey, tuple[GradedOutcome, str | None,
                                                               AnalysisState]]:
    """Every graded analysis of a synthesis: key → (graded outcome, arm category id or None,
    state)."""
    proto = syn.data.protocol
    pooled = {(p.question, p.title): p for p in syn.pooled}
    rows = {(r.study, r.question, r.outcome, r.comparison, r.window): r
            for r in syn.data.outcomes}
    out = {}
    for g in syn.grades:
        row = g.sof_row
        measure = row.measure
        tau2 = i2 = None
        category = None
        p = pooled.get((g.key[0], g.key[1])) if g.row_key is None else None
        if p is not None and p.ratio is not None:
            tau2, i2, category = p.ratio.tau2, p.ratio.i2, p.category
            measure = p.ratio.measure
        elif g.row_key is not None and g.row_key in rows:
            i2 = rows[g.row_key].i2
        mid, mid_source = _mid(proto, g)
        null = 1.0 if is_ratio(measure or "") else 0.0
        out[g.key] = (g, category, AnalysisState(
            measure, row.estimate, row.ci_low, row.ci_high, tau2, i2, row.studies,
            row.participants, g.level, null, mid, mid_source))
    return out


# ---- triggers ----------------------------------------------------------------------------------
def trigger_holds(trigger: Trigger, before: AnalysisState | None,
                  after: AnalysisState | None) -> bool:
    """Whether ``trigger`` fires on an analysis that went from ``before`` to ``after``.

    An interval condition fires when it holds after and did not hold before (a missing
    analysis, interval or MID meets no condition); ``certainty_changes`` when the certainty
    after differs from the one before (a missing analysis has none); ``estimate_moves_by``
    when both estimates exist and ``|after - before| >= by`` (to 1e-9 relative).
    """
    when = trigger.when
    if when == "certainty_changes":
        return (None if before is None else before.certainty) != (
            None if after is None else after.certainty)
    if when == "estimate_moves_by":
        if before is None or after is None or before.estimate is None or after.estimate is None:
            return False
        return _moved(abs(after.estimate - before.estimate), trigger.by)  # type: ignore[arg-type]

    def meets(state: AnalysisState | None) -> bool:
        if state is None:
            return False
        if when in ("ci_excludes_null", "ci_includes_null"):
            ex = state.excludes_null()
            return ex is not None and ex == (when == "ci_excludes_null")
        inc = state.includes_mid()
        return inc is not None and inc == (when == "ci_includes_mid")

    return meets(after) and not meets(before)


def _moved(distance: float, by: float) -> bool:
    """``distance >= by``, equal to 1e-9 relative counting as reached (0.6 - 0.5 is
    0.09999999999999998 in binary floating point: a move of 0.1 reaches ``by: 0.1``)."""
    return distance >= by or math.isclose(distance, by, rel_tol=1e-9)


def _state_words(when: str, s: AnalysisState | None) -> str:
    """What a version shows for an interval condition, with its numbers."""
    if s is None:
        return "no analysis"
    if not s.has_interval:
        return "no interval"
    ci = f"95% CI {printout_num(s.ci_low)} to {printout_num(s.ci_high)}"
    if "null" in when:
        return f"{ci} {'excludes' if s.excludes_null() else 'includes'} {s.null:g}"
    if s.mid is None:
        return f"{ci}, no MID for this outcome's scale"
    inside = [m for m in s.mid if s.ci_low <= m <= s.ci_high]  # type: ignore[operator]
    what = (f"includes {' and '.join(f'{m:g}' for m in inside)}" if inside
            else f"excludes {s.mid[0]:g} and {s.mid[1]:g}")
    return f"{ci} {what}"


def _why(trigger: Trigger, before: AnalysisState | None, after: AnalysisState | None,
         fired: bool) -> str:
    when = trigger.when
    if when == "certainty_changes":
        b = "no analysis" if before is None else (before.certainty or "not graded")
        a = "no analysis" if after is None else (after.certainty or "not graded")
        return f"certainty {b} → {a}" + ("" if fired else " (no change)")
    if when == "estimate_moves_by":
        if before is None or after is None or before.estimate is None or after.estimate is None:
            return "needs an estimate before and after"
        d = after.estimate - before.estimate
        return (f"estimate {printout_num(before.estimate)} → {printout_num(after.estimate)}, "
                f"moved by {printout_num(abs(d))} ({'at least' if fired else 'less than'} "
                f"{trigger.by:g})")
    text = f"before: {_state_words(when, before)}; after: {_state_words(when, after)}"
    if not fired:
        held = trigger_holds(trigger, None, after)  # does the condition hold after at all?
        text += " (held before too)" if held else " (does not hold after)"
    mid = next((s.mid_source for s in (after, before) if s is not None and s.mid_source), None)
    if "mid" in when and mid:
        text += f" (MID: {mid})"
    return text


def _matches(trigger: Trigger, key: GradeKey, category: str | None) -> bool:
    q, outcome, comparison, window = key
    name = trigger.outcome.strip().lower()
    if name != outcome.strip().lower() and (category is None or name != category.lower()):
        return False
    return ((trigger.question is None or trigger.question == q)
            and (trigger.comparison is None or trigger.comparison == comparison)
            and (trigger.window is None or trigger.window == window))


def evaluate_triggers(triggers: Sequence[Trigger], analyses: Sequence[AnalysisChange]
                      ) -> tuple[TriggerResult, ...]:
    """Each trigger on each analysis it names (one result saying so when it names none)."""
    out = []
    for i, t in enumerate(triggers):
        hits = [a for a in analyses if _matches(t, a.key, a.category)]
        if not hits:
            out.append(TriggerResult(i, t, None, False,
                                     f"no graded analysis of {t.outcome!r} in either version"))
        for a in hits:
            fired = trigger_holds(t, a.before, a.after)
            out.append(TriggerResult(i, t, a.name, fired, _why(t, a.before, a.after, fired)))
    return tuple(out)


# ---- the comparison ----------------------------------------------------------------------------
def compare_syntheses(before: ReviewSynthesis, after: ReviewSynthesis, *,
                      before_label: str = "before", after_label: str = "after") -> ChangeReport:
    """Set two syntheses of a review side by side and evaluate the newer protocol's triggers.

    Parameters
    ----------
    before, after : ReviewSynthesis
        The older and the newer version.
    before_label, after_label : str
        How the report names them (e.g. a snapshot's folder and the project).

    Returns
    -------
    ChangeReport
        Analyses in the newer version's order, then those only the older one has.
    """
    old, new = analysis_states(before), analysis_states(after)
    analyses = []
    for key in [*new, *(k for k in old if k not in new)]:
        g, category, _ = new.get(key) or old[key]
        analyses.append(AnalysisChange(
            key, g.name, category, old[key][2] if key in old else None,
            new[key][2] if key in new else None))
    b_ids, a_ids = set(before.data.studies), set(after.data.studies)
    return ChangeReport(
        before_label, after_label, before.data.fingerprint(), after.data.fingerprint(),
        tuple(sorted(a_ids - b_ids)), tuple(sorted(b_ids - a_ids)), tuple(analyses),
        evaluate_triggers(after.data.protocol.triggers, analyses))


def compare_reviews(before: ReviewData, after: ReviewData, *, method: str = "REML",
                    before_label: str | None = None,
                    after_label: str | None = None) -> ChangeReport:
    """Synthesise two versions of a review's study data and compare them.

    Parameters
    ----------
    before, after : ReviewData
        The older version (e.g. the snapshot an update saved) and the newer one.
    method : str
        tau² estimator for pooling arm-level data (as :func:`synthesize`).
    before_label, after_label : str, optional
        Names in the report (default: each version's origin).

    Raises
    ------
    InputError
        As :func:`~metareview.synthesis.review.synthesize`.
    """
    return compare_syntheses(synthesize(before, method=method), synthesize(after, method=method),
                             before_label=before_label or before.origin,
                             after_label=after_label or after.origin)
