"""Summary of Findings tables in GRADEpro's layout.

One row per outcome: the outcome (with its follow-up), the number of participants (studies),
the certainty of the evidence (symbols, word and footnote letters), the relative effect with
its CI, the anticipated absolute effects (risk with the comparator and risk difference with the
intervention per 1,000 for binary outcomes; the mean difference for continuous ones) and
comments. Layout and wording follow GRADEpro GDT and the GRADE guidance on Summary of Findings
tables (GRADE guidelines 12 and 13: Guyatt GH et al. J Clin Epidemiol 2013;66:158-172 and
173-183; Cochrane Handbook chapter 14).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from metareview._util.jsonable import jsonable
from metareview.effects.measures import is_ratio
from metareview.errors import InputError
from metareview.grade.certainty import (
    RATIO_MEASURES,
    SYMBOLS,
    Certainty,
    _letters,
    _participants,
)
from metareview.models.rma import MetaAnalysis

#: Measures with a risk-based absolute effect (risk with the intervention from the comparator's).
ABSOLUTE_MEASURES: tuple[str, ...] = ("RR", "OR", "HR", "RD")
_CONTINUOUS = ("MD", "SMD")
_ABBREVIATIONS = {
    "RR": "RR: risk ratio", "OR": "OR: odds ratio", "HR": "HR: hazard ratio",
    "RD": "RD: risk difference", "MD": "MD: mean difference",
    "SMD": "SMD: standardised mean difference", "ROM": "ROM: ratio of means",
}
STAR_NOTE = ("*The risk in the intervention group (and its 95% confidence interval) is based on "
             "the assumed risk in the comparison group and the relative effect of the "
             "intervention (and its 95% CI).")
GRADE_NOTE = (
    "GRADE Working Group grades of evidence. High certainty: we are very confident that the "
    "true effect lies close to that of the estimate of the effect. Moderate certainty: we are "
    "moderately confident in the effect estimate: the true effect is likely to be close to the "
    "estimate of the effect, but there is a possibility that it is substantially different. "
    "Low certainty: our confidence in the effect estimate is limited: the true effect may be "
    "substantially different from the estimate of the effect. Very low certainty: we have very "
    "little confidence in the effect estimate: the true effect is likely to be substantially "
    "different from the estimate of effect."
)


# ---- absolute effects ------------------------------------------------------------------------
@dataclass(frozen=True)
class AbsoluteEffect:
    """Anticipated absolute effect per 1,000 from a relative effect and a comparator risk.

    Attributes
    ----------
    measure : str
        ``RR``, ``OR``, ``HR`` or ``RD``.
    comparator_risk : float
        Assumed risk with the comparator (a proportion).
    risk_comparator : float
        The same per 1,000.
    risk_intervention, risk_intervention_low, risk_intervention_high : float
        Risk with the intervention per 1,000, with its CI.
    difference, difference_low, difference_high : float
        Risk difference per 1,000 (intervention minus comparator; negative means fewer), with
        its CI. Unrounded; the text rounds to whole numbers.
    """

    measure: str
    comparator_risk: float
    risk_comparator: float
    risk_intervention: float
    risk_intervention_low: float
    risk_intervention_high: float
    difference: float
    difference_low: float
    difference_high: float

    @property
    def comparator_text(self) -> str:
        """``"200 per 1,000"``."""
        return f"{_round(self.risk_comparator):,} per 1,000"

    @property
    def intervention_text(self) -> str:
        """``"100 per 1,000 (60 to 160)"``."""
        return (f"{_round(self.risk_intervention):,} per 1,000 "
                f"({_round(self.risk_intervention_low):,} to "
                f"{_round(self.risk_intervention_high):,})")

    @property
    def difference_text(self) -> str:
        """GRADEpro's wording: ``"100 fewer per 1,000 (from 140 fewer to 40 fewer)"``."""
        return (f"{_more_fewer(self.difference)} per 1,000 "
                f"(from {_more_fewer(self.difference_low)} to "
                f"{_more_fewer(self.difference_high)})")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values, with the texts."""
        return jsonable({
            "measure": self.measure,
            "comparator_risk": self.comparator_risk,
            "risk_comparator": self.risk_comparator,
            "risk_intervention": self.risk_intervention,
            "risk_intervention_low": self.risk_intervention_low,
            "risk_intervention_high": self.risk_intervention_high,
            "difference": self.difference,
            "difference_low": self.difference_low,
            "difference_high": self.difference_high,
            "comparator_text": self.comparator_text,
            "difference_text": self.difference_text,
        })


def _round(x: float) -> int:
    """Round half away from zero (GRADEpro shows whole numbers per 1,000)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x)) if np.isfinite(x) else 0


def _more_fewer(x: float) -> str:
    r = _round(x)
    return f"{abs(r):,} more" if r > 0 or (r == 0 and x > 0) else f"{abs(r):,} fewer"


def _risk_with(measure: str, effect: float, r0: float) -> float:
    if measure == "RR":
        r1 = effect * r0
    elif measure == "OR":
        r1 = effect * r0 / (1 - r0 + effect * r0)
    elif measure == "HR":
        r1 = 1 - (1 - r0) ** effect
    else:  # RD
        r1 = r0 + effect
    return min(1.0, max(0.0, r1))


def absolute_effect_per_1000(
    measure: str,
    estimate: float,
    ci_low: float,
    ci_high: float,
    comparator_risk: float,
) -> AbsoluteEffect:
    """Anticipated absolute effect per 1,000, computed as GRADEpro does.

    With comparator risk ``r0`` and relative effect ``x`` (and likewise for each CI limit):

    * RR: ``r1 = x r0``
    * OR: ``r1 = x r0 / (1 - r0 + x r0)``
    * HR: ``r1 = 1 - (1 - r0)^x`` (risks over the same time window)
    * RD: ``r1 = r0 + x``

    Risks are clipped to [0, 1]; the risk difference per 1,000 is ``1000 (r1 - r0)`` and its CI
    comes from the CI of the relative effect (Cochrane Handbook 14.1.5.1).

    Parameters
    ----------
    measure : {"RR", "OR", "HR", "RD"}
        The relative (or risk-difference) measure.
    estimate, ci_low, ci_high : float
        The effect and its CI on the natural scale (RR 0.5, not log RR).
    comparator_risk : float
        Assumed risk with the comparator, a proportion in [0, 1].

    Returns
    -------
    AbsoluteEffect

    Examples
    --------
    RR 0.5 (0.3 to 0.8) at a comparator risk of 0.2: 200 per 1,000 with the comparator,
    0.5 x 200 = 100 per 1,000 with the intervention, so 100 fewer (from 140 fewer to 40 fewer).

    >>> a = absolute_effect_per_1000("RR", 0.5, 0.3, 0.8, 0.2)
    >>> a.difference_text
    '100 fewer per 1,000 (from 140 fewer to 40 fewer)'
    """
    m = str(measure).upper()
    if m not in ABSOLUTE_MEASURES:
        raise InputError(f"absolute effects per 1,000 need RR, OR, HR or RD (got {measure!r})")
    vals = []
    for name, v in (("estimate", estimate), ("ci_low", ci_low), ("ci_high", ci_high)):
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be a number (got {v!r})") from None
        if not np.isfinite(x):
            raise InputError(f"{name} must be finite (got {v!r})")
        if m != "RD" and x <= 0:
            raise InputError(f"{name} must be positive for {m} (give the ratio, not its log; "
                             f"got {x:g})")
        vals.append(x)
    est, lo, hi = vals
    if not lo <= est <= hi:
        raise InputError(f"the estimate {est:g} lies outside its CI [{lo:g}, {hi:g}]")
    try:
        r0 = float(comparator_risk)
    except (TypeError, ValueError):
        raise InputError(f"comparator_risk must be a number (got {comparator_risk!r})") from None
    if not 0 <= r0 <= 1:
        raise InputError(f"comparator_risk is a proportion, so must be in [0, 1] (got {r0:g}; "
                         "give 0.2 for 200 per 1,000)")
    if m == "HR" and r0 == 1:
        raise InputError("comparator_risk must be below 1 for a hazard ratio")
    r1, r1lo, r1hi = (_risk_with(m, x, r0) for x in (est, lo, hi))
    return AbsoluteEffect(
        measure=m, comparator_risk=r0, risk_comparator=1000 * r0,
        risk_intervention=1000 * r1, risk_intervention_low=1000 * r1lo,
        risk_intervention_high=1000 * r1hi, difference=1000 * (r1 - r0),
        difference_low=1000 * (r1lo - r0), difference_high=1000 * (r1hi - r0),
    )


# ---- rows ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SoFRow:
    """One outcome of a Summary of Findings table.

    Attributes
    ----------
    outcome : str
        Outcome name.
    follow_up : str or None
        Time window (e.g. ``"30 days"``).
    participants, studies : int or None
        Number of participants and of studies.
    design : str or None
        ``"randomised"`` or ``"observational"`` (labels the studies as RCTs or observational).
    certainty : str or None
        ``"high"``, ``"moderate"``, ``"low"`` or ``"very low"``; None if not graded.
    certainty_notes : tuple of str
        Footnote texts on the certainty (one per downgrade, from :class:`Certainty`).
    measure : str or None
        Effect measure.
    estimate, ci_low, ci_high : float or None
        Pooled effect on the natural scale (RR, not log RR).
    level : float
        Confidence level, percent.
    absolute : AbsoluteEffect or None
        Absolute effects per 1,000 (binary outcomes with a comparator risk).
    comparator_note : str or None
        Footnote text on where the comparator risk comes from.
    comparator_text_override : str or None
        Text for the "risk with comparator" cell of continuous outcomes (e.g. "The mean pain
        score was 5.1 points").
    scale : str or None
        Units or scale of a continuous outcome (e.g. ``"points (0-10 VAS)"``).
    comments : str
        Free text for the Comments column.
    digits : int
        Decimals for effects.
    """

    outcome: str
    follow_up: str | None = None
    participants: int | None = None
    studies: int | None = None
    design: str | None = None
    certainty: str | None = None
    certainty_notes: tuple[str, ...] = ()
    measure: str | None = None
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    level: float = 95.0
    absolute: AbsoluteEffect | None = None
    comparator_note: str | None = None
    comparator_text_override: str | None = None
    scale: str | None = None
    comments: str = ""
    digits: int = 2
    absolute_missing: str | None = None

    # -- cell texts (without footnote letters)
    @property
    def outcome_text(self) -> str:
        """Outcome name with its follow-up (and its scale when that is not a plain unit)."""
        extra = [f"scale: {self.scale}"] if self.scale and not self.unit else []
        if self.follow_up:
            extra.append(f"follow-up: {self.follow_up}")
        return self.outcome + (f" ({'; '.join(extra)})" if extra else "")

    @property
    def unit(self) -> str | None:
        """The scale when it is a plain unit ("points", "minutes") that reads after a number;
        a range or annotated scale ("0-100 (inferred)", "not stated") is not one and is shown
        with the outcome instead."""
        sc = (self.scale or "").strip()
        if not sc or any(ch.isdigit() for ch in sc) or "(" in sc or sc.lower() in (
                "not stated", "not reported", "unclear"):
            return None
        return sc

    @property
    def participants_text(self) -> str:
        """``"1,200 (5 RCTs)"``."""
        n = f"{self.participants:,}" if self.participants is not None else "—"
        if self.studies is None:
            return n
        s = self.studies
        if self.design == "randomised":
            kind = "RCT" if s == 1 else "RCTs"
        elif self.design == "observational":
            kind = "observational study" if s == 1 else "observational studies"
        else:
            kind = "study" if s == 1 else "studies"
        return f"{n} ({s} {kind})"

    @property
    def certainty_text(self) -> str:
        """``"⊕⊕◯◯ LOW"``, or ``"not graded"``."""
        if self.certainty is None:
            return "not graded"
        return f"{SYMBOLS[self.certainty]} {self.certainty.upper()}"

    def _has_effect(self) -> bool:
        return self.measure is not None and self.estimate is not None

    def _ci(self) -> str:
        d = self.digits
        if self.ci_low is None or self.ci_high is None:
            return ""
        return f" ({self.ci_low:.{d}f} to {self.ci_high:.{d}f})"

    @property
    def relative_text(self) -> str:
        """``"RR 0.50 (0.30 to 0.80)"`` for ratio measures, else ``"—"``."""
        if not self._has_effect() or self.measure not in RATIO_MEASURES:
            return "—"
        return f"{self.measure} {self.estimate:.{self.digits}f}{self._ci()}"

    @property
    def comparator_text(self) -> str:
        """The "risk with comparator" cell."""
        if self.absolute is not None:
            return self.absolute.comparator_text
        if self.comparator_text_override:
            return self.comparator_text_override
        if self.absolute_missing and self.measure in ABSOLUTE_MEASURES:
            return "not estimable"
        return "—"

    @property
    def effect_text(self) -> str:
        """The "risk difference with intervention" cell (or the mean difference)."""
        if self.absolute is not None:
            return self.absolute.difference_text
        if self.absolute_missing and self._has_effect() and self.measure in ABSOLUTE_MEASURES:
            return f"not estimable: {self.absolute_missing}"
        if not self._has_effect() or is_ratio(self.measure):
            return "—"
        if self.measure in _CONTINUOUS:
            unit = f" {self.unit}" if self.unit and self.measure == "MD" else ""
            est = _higher_lower(self.estimate, self.digits, unit)
            if self.ci_low is None or self.ci_high is None:
                return f"{self.measure} {est}"
            return (f"{self.measure} {est} ({_higher_lower(self.ci_low, self.digits)} to "
                    f"{_higher_lower(self.ci_high, self.digits)})")
        return f"{self.measure} {self.estimate:.{self.digits}f}{self._ci()}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values, with the cell texts."""
        return jsonable({
            "outcome": self.outcome,
            "follow_up": self.follow_up,
            "participants": self.participants,
            "studies": self.studies,
            "design": self.design,
            "certainty": self.certainty,
            "certainty_notes": list(self.certainty_notes),
            "measure": self.measure,
            "estimate": self.estimate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "level": self.level,
            "absolute": self.absolute.to_dict() if self.absolute is not None else None,
            "comparator_note": self.comparator_note,
            "scale": self.scale,
            "comments": self.comments,
            "cells": {
                "outcome": self.outcome_text,
                "participants": self.participants_text,
                "certainty": self.certainty_text,
                "relative": self.relative_text,
                "comparator": self.comparator_text,
                "effect": self.effect_text,
            },
        })


def _higher_lower(x: float, digits: int, unit: str = "") -> str:
    v = f"{abs(x):.{digits}f}"
    if float(v) == 0:
        return f"{v}{unit}"
    return f"{v}{unit} {'higher' if x > 0 else 'lower'}"


def _num(x: Any, name: str) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number (got {x!r})") from None
    if not np.isfinite(v):
        return None
    return v


def sof_row(
    outcome: str | None = None,
    *,
    certainty: Certainty | None = None,
    fit: MetaAnalysis | None = None,
    follow_up: str | None = None,
    measure: str | None = None,
    estimate: float | None = None,
    ci_low: float | None = None,
    ci_high: float | None = None,
    level: float | None = None,
    k: int | None = None,
    n_participants: int | None = None,
    design: str | None = None,
    comparator_risk: float | str | None = "pooled",
    comparator_source: str | None = None,
    comparator_mean: float | None = None,
    scale: str | None = None,
    comments: str = "",
    digits: int = 2,
) -> SoFRow:
    """Build one Summary of Findings row from a fit and/or a :class:`Certainty`.

    Values come from the explicit arguments first, then the fit, then the certainty.

    Parameters
    ----------
    outcome : str, optional
        Outcome name (default: the certainty's).
    certainty : Certainty, optional
        Gives the certainty cell and its footnotes, and the effect if there is no fit.
    fit : MetaAnalysis, optional
        The pooled analysis (effect, CI, k, participants, control-group risks).
    follow_up : str, optional
        Time window shown with the outcome.
    measure, estimate, ci_low, ci_high, level, k, n_participants
        For review-level estimates; effects on the natural scale (RR, not log RR).
    design : {"randomised", "observational"}, optional
        Default: the certainty's design.
    comparator_risk : float, "pooled", "median" or None
        Assumed risk with the comparator for binary outcomes: a proportion, or from the fit's
        control arms: ``"pooled"`` (total events / total participants in the control groups,
        GRADEpro's study-population risk) or ``"median"`` (median control-group risk).
    comparator_source : str, optional
        Where an assumed comparator risk comes from (becomes its footnote).
    comparator_mean : float, optional
        Mean with the comparator for continuous outcomes (default: the range of the
        control-group means in the fit, if it has them).
    scale : str, optional
        Units of a continuous outcome, e.g. ``"points (0-10)"``.
    comments : str
        Comments column.
    digits : int
        Decimals for effects.

    Returns
    -------
    SoFRow
    """
    name = outcome if outcome is not None else (certainty.outcome if certainty else None)
    if not name or not str(name).strip():
        raise InputError("sof_row needs an outcome name (outcome= or a certainty)")
    if certainty is not None and not isinstance(certainty, Certainty):
        raise InputError(f"certainty must be a Certainty (got {type(certainty).__name__})")
    if fit is not None and not isinstance(fit, MetaAnalysis):
        raise InputError(f"fit must be a MetaAnalysis (got {type(fit).__name__})")
    if fit is not None and not fit.intercept_only:
        raise InputError("a Summary of Findings row needs a pooled estimate, not a "
                         "meta-regression")
    m = measure.upper() if measure else (fit.measure if fit is not None else
                                         (certainty.measure if certainty else None))
    ratio = m in RATIO_MEASURES

    def from_fit(x: float) -> float | None:
        v = _num(x, "fit value")
        return None if v is None else (math.exp(v) if ratio else v)

    vals: dict[str, float | None] = {}
    for key, given in (("estimate", estimate), ("ci_low", ci_low), ("ci_high", ci_high)):
        v = _num(given, key)
        if v is None and fit is not None:
            v = from_fit(getattr(fit, key))
        if v is None and certainty is not None and fit is None:
            v = getattr(certainty, key)
        vals[key] = v
    if any(v is not None for v in vals.values()) and m is None:
        raise InputError("measure is required with estimate, ci_low or ci_high")
    if ratio:
        for key, v in vals.items():
            if v is not None and v <= 0:
                raise InputError(f"{key} must be positive for {m} (give the ratio, not its log; "
                                 f"got {v:g})")
    lvl = (_num(level, "level") or (fit.level if fit is not None else
                                    (certainty.level if certainty is not None else 95.0)))
    studies = k if k is not None else (fit.k if fit is not None else
                                       (certainty.k if certainty is not None else None))
    n = n_participants
    if n is None and fit is not None:
        n = _participants(fit)
    if n is None and certainty is not None:
        n = certainty.n_participants
    des = design if design is not None else (certainty.design if certainty is not None else None)
    if des is not None:
        d = str(des).strip().lower()
        des = {"randomized": "randomised", "rct": "randomised", "rcts": "randomised"}.get(d, d)
        if des not in ("randomised", "observational"):
            raise InputError(f"design must be 'randomised' or 'observational' (got {design!r})")

    absolute = None
    note = None
    comp_text = None
    if m in ABSOLUTE_MEASURES and vals["estimate"] is not None:
        r0, note = _comparator_risk(comparator_risk, comparator_source, fit)
        if r0 is not None:
            lo = vals["ci_low"] if vals["ci_low"] is not None else vals["estimate"]
            hi = vals["ci_high"] if vals["ci_high"] is not None else vals["estimate"]
            absolute = absolute_effect_per_1000(m, vals["estimate"], lo, hi, r0)
    elif m in ("MD", "SMD", "ROM"):
        comp_text = _comparator_mean(str(name), comparator_mean, fit, scale, m)

    return SoFRow(
        outcome=str(name).strip(), follow_up=follow_up,
        participants=int(n) if n is not None else None,
        studies=int(studies) if studies is not None else None, design=des,
        certainty=certainty.final if certainty is not None else None,
        certainty_notes=tuple(certainty.footnotes) if certainty is not None else (),
        measure=m, estimate=vals["estimate"], ci_low=vals["ci_low"], ci_high=vals["ci_high"],
        level=float(lvl), absolute=absolute, comparator_note=note,
        comparator_text_override=comp_text, scale=scale, comments=comments or "",
        digits=int(digits),
    )


def with_comparator_risk(row: SoFRow, risk: float | None, source: str | None = None,
                         missing: str = "no control risk in the data") -> SoFRow:
    """The row with its absolute effects from an assumed comparator risk.

    Parameters
    ----------
    row : SoFRow
        A row with a ratio (or risk-difference) effect.
    risk : float or None
        Risk with the comparator, a proportion; ``None`` when there is none, and the absolute
        cells then say "not estimable" with ``missing`` as the reason (never a bare dash).
    source : str, optional
        Where the risk comes from (the footnote on the comparator cell).
    missing : str
        Why no absolute effect can be given.

    Returns
    -------
    SoFRow
    """
    if row.absolute is not None or row.measure not in ABSOLUTE_MEASURES or row.estimate is None:
        return row
    if risk is None:
        return replace(row, absolute_missing=missing)
    lo = row.ci_low if row.ci_low is not None else row.estimate
    hi = row.ci_high if row.ci_high is not None else row.estimate
    ab = absolute_effect_per_1000(row.measure, row.estimate, lo, hi, risk)
    return replace(row, absolute=ab, comparator_note=source
                   or f"Assumed comparator risk of {1000 * risk:g} per 1,000.")


def _comparator_risk(
    how: float | str | None, source: str | None, fit: MetaAnalysis | None
) -> tuple[float | None, str | None]:
    if how is None:
        return None, None
    if isinstance(how, str):
        key = how.strip().lower()
        if key not in ("pooled", "median"):
            raise InputError(f"comparator_risk must be a proportion, 'pooled' or 'median' "
                             f"(got {how!r})")
        arms = fit.effects.arms if fit is not None and fit.effects is not None else {}
        if "ci" not in arms or "n2i" not in arms:
            return None, None
        ev, n = np.asarray(arms["ci"], float), np.asarray(arms["n2i"], float)
        if key == "pooled":
            r0 = float(ev.sum() / n.sum())
            text = (f"The risk with the comparator is the pooled control-group risk of the "
                    f"included studies ({ev.sum():,g} events among {n.sum():,g} participants).")
        else:
            r0 = float(np.median(ev / n))
            text = (f"The risk with the comparator is the median control-group risk of the "
                    f"{len(n)} included studies.")
        if source:
            text = source
        return r0, text
    r0 = _num(how, "comparator_risk")
    if r0 is None or not 0 <= r0 <= 1:
        raise InputError(f"comparator_risk is a proportion, so must be in [0, 1] (got {how!r})")
    text = source or f"Assumed comparator risk of {1000 * r0:g} per 1,000."
    return r0, text


def _comparator_mean(name: str, mean: float | None, fit: MetaAnalysis | None,
                     scale: str | None, measure: str | None) -> str | None:
    unit = f" {scale}" if scale else ""
    v = _num(mean, "comparator_mean")
    if v is not None:
        return f"The mean {name.lower()} was {v:g}{unit}"
    arms = fit.effects.arms if fit is not None and fit.effects is not None else {}
    if measure == "SMD":  # control means in their own units say nothing about an SMD
        return None
    if "m2i" in arms and len(arms["m2i"]):
        lo, hi = float(np.min(arms["m2i"])), float(np.max(arms["m2i"]))
        if lo == hi:
            return f"The mean {name.lower()} was {lo:.3g}{unit}"
        return (f"The mean {name.lower()} ranged across control groups from {lo:.3g} to "
                f"{hi:.3g}{unit}")
    return None


# ---- the table -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SummaryOfFindings:
    """A Summary of Findings table (GRADEpro layout).

    Attributes
    ----------
    title : str
        E.g. "Aspirin compared to placebo for the prevention of stroke".
    population, setting, intervention, comparison : str or None
        GRADEpro's header fields.
    rows : tuple of SoFRow
        One per outcome.
    notes : tuple of str
        Further footnotes (lettered after those from the rows).
    footnotes : tuple of str
        All footnote texts in letter order (derived: the rows' certainty notes and
        comparator-risk notes, deduplicated, then ``notes``).
    """

    title: str
    rows: tuple[SoFRow, ...] = ()
    population: str | None = None
    setting: str | None = None
    intervention: str | None = None
    comparison: str | None = None
    notes: tuple[str, ...] = ()
    footnotes: tuple[str, ...] = field(init=False)
    general: tuple[str, ...] = field(init=False)
    _marks: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rows = tuple(self.rows)
        bad = [r for r in rows if not isinstance(r, SoFRow)]
        if bad:
            raise InputError(f"rows must be SoFRow (from sof_row()), got {type(bad[0]).__name__}")
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "notes", tuple(self.notes))
        texts: list[str] = []
        # A note on every row (of two or more) is said once for the table, not lettered on
        # each row: a mark that repeats everywhere tells the reader nothing about a row.
        per_row = [set(r.certainty_notes) | ({r.comparator_note} if r.comparator_note
                                             and r.absolute else set()) for r in rows]
        shared = set.intersection(*per_row) if len(rows) > 1 else set()
        general = tuple(dict.fromkeys(t for r in rows for t in
                                      (*r.certainty_notes, r.comparator_note) if t in shared))

        def letter(t: str) -> str:
            if t not in texts:
                texts.append(t)
            return _letters(len(texts))[texts.index(t)]

        marks = []
        for r in rows:
            cert = tuple(dict.fromkeys(letter(t) for t in r.certainty_notes if t not in shared))
            comp = ((letter(r.comparator_note),) if r.comparator_note and r.absolute
                    and r.comparator_note not in shared else ())
            marks.append((cert, comp))
        for t in self.notes:
            letter(t)
        object.__setattr__(self, "footnotes", tuple(texts))
        object.__setattr__(self, "general", general)
        object.__setattr__(self, "_marks", tuple(marks))

    @property
    def abbreviations(self) -> str:
        """``"CI: confidence interval; RR: risk ratio"``: the abbreviations the table uses."""
        return "; ".join(["CI: confidence interval"] + [
            _ABBREVIATIONS[m] for m in dict.fromkeys(r.measure for r in self.rows)
            if m in _ABBREVIATIONS])

    @property
    def lettered_footnotes(self) -> list[tuple[str, str]]:
        """``[("a", text), ...]``."""
        return list(zip(_letters(len(self.footnotes)), self.footnotes, strict=True))

    def _headings(self) -> dict[str, str]:
        levels = {r.level for r in self.rows}
        ci = f"{levels.pop():g}% CI" if len(levels) == 1 else "CI"
        return {
            "outcome": "Outcomes",
            "participants": "№ of participants (studies)",
            "certainty": "Certainty of the evidence (GRADE)",
            "relative": f"Relative effect ({ci})",
            "comparator": f"Risk with {self.comparison or 'comparator'}",
            "effect": f"Risk difference with {self.intervention or 'intervention'}",
            "comments": "Comments",
        }

    def _cells(self, i: int) -> dict[str, str]:
        r = self.rows[i]
        cert, comp = self._marks[i]
        return {
            "outcome": r.outcome_text,
            "participants": r.participants_text,
            "certainty": r.certainty_text + (" " + ",".join(cert) if cert else ""),
            "relative": r.relative_text,
            "comparator": r.comparator_text + (" " + ",".join(comp) if comp else ""),
            "effect": r.effect_text,
            "comments": r.comments,
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per outcome with GRADEpro's column headings (footnote letters appended)."""
        heads = self._headings()
        data = [self._cells(i) for i in range(len(self.rows))]
        return pd.DataFrame([[c[k] for k in heads] for c in data], columns=list(heads.values()))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values: header, rows (with cell texts and letters) and footnotes."""
        rows = []
        for i, r in enumerate(self.rows):
            d = r.to_dict()
            d["footnote_letters"] = {"certainty": list(self._marks[i][0]),
                                     "comparator": list(self._marks[i][1])}
            rows.append(d)
        return jsonable({
            "title": self.title,
            "population": self.population,
            "setting": self.setting,
            "intervention": self.intervention,
            "comparison": self.comparison,
            "headings": self._headings(),
            "rows": rows,
            "footnotes": [{"letter": a, "text": t} for a, t in self.lettered_footnotes],
            "general_notes": list(self.general),
        })

    def to_html(self, standard_notes: bool = True) -> str:
        """A self-contained HTML ``<table>`` (inline styles only; all text escaped).

        ``standard_notes=False`` leaves out the notes every table shares (the asterisk note and
        GRADE's grades), for all but one of several tables on a page.
        """
        e = html.escape
        h = self._headings()
        ci = h["relative"][len("Relative effect ("):-1]
        cell = 'style="border:1px solid #888;padding:4px 6px;vertical-align:top;text-align:left"'
        out = ['<table class="sof" style="border-collapse:collapse;font-size:90%">']
        cap = [f"<strong>{e(self.title)}</strong>"]
        for label, val in (("Patient or population", self.population),
                           ("Setting", self.setting), ("Intervention", self.intervention),
                           ("Comparison", self.comparison)):
            if val:
                cap.append(f"<strong>{e(label)}:</strong> {e(val)}")
        out.append('<caption style="text-align:left;caption-side:top">'
                   + "<br>".join(cap) + "</caption>")
        out.append("<thead>")
        out.append(
            f'<tr><th rowspan="2" {cell}>{e(h["outcome"])}</th>'
            f'<th rowspan="2" {cell}>{e(h["participants"])}</th>'
            f'<th rowspan="2" {cell}>{e(h["certainty"])}</th>'
            f'<th rowspan="2" {cell}>{e(h["relative"])}</th>'
            f'<th colspan="2" {cell}>Anticipated absolute effects* ({e(ci)})</th>'
            f'<th rowspan="2" {cell}>{e(h["comments"])}</th></tr>')
        out.append(f'<tr><th {cell}>{e(h["comparator"])}</th>'
                   f'<th {cell}>{e(h["effect"])}</th></tr>')
        out.append("</thead>")
        out.append("<tbody>")
        for i, r in enumerate(self.rows):
            cert, comp = self._marks[i]
            small = ([f"scale: {r.scale}"] if r.scale and not r.unit else []) + (
                [f"follow-up: {r.follow_up}"] if r.follow_up else [])
            outcome = e(r.outcome) + (f"<br><small>{e('; '.join(small))}</small>"
                                      if small else "")
            cert_html = e(r.certainty_text) + (f"<sup>{e(','.join(cert))}</sup>" if cert else "")
            comp_html = e(r.comparator_text) + (f"<sup>{e(','.join(comp))}</sup>"
                                                if comp else "")
            out.append(
                f"<tr><td {cell}>{outcome}</td><td {cell}>{e(r.participants_text)}</td>"
                f"<td {cell}>{cert_html}</td><td {cell}>{e(r.relative_text)}</td>"
                f"<td {cell}>{comp_html}</td><td {cell}>{e(r.effect_text)}</td>"
                f"<td {cell}>{e(r.comments)}</td></tr>")
        out.append("</tbody>")
        foot = ([e(STAR_NOTE), e(self.abbreviations), e(GRADE_NOTE)] if standard_notes
                else [e(self.abbreviations)])
        if self.general:
            foot.append("<strong>All outcomes in this table</strong>: "
                        + " ".join(e(t) for t in self.general))
        if self.footnotes:
            items = "".join(f"<li><sup>{e(a)}</sup> {e(t)}</li>"
                            for a, t in self.lettered_footnotes)
            foot.append('<strong>Explanations</strong><ul style="list-style:none;padding-left:0;'
                        f'margin:0">{items}</ul>')
        out.append("<tfoot>")
        for f in foot:
            out.append(f'<tr><td colspan="7" {cell}>{f}</td></tr>')
        out.append("</tfoot>")
        out.append("</table>")
        return "\n".join(out)

    def summary(self) -> str:
        """The table as plain text (one block per outcome), with its footnotes."""
        heads = self._headings()
        lines = [self.title]
        for label, val in (("Population", self.population), ("Setting", self.setting),
                           ("Intervention", self.intervention),
                           ("Comparison", self.comparison)):
            if val:
                lines.append(f"{label}: {val}")
        for i in range(len(self.rows)):
            c = self._cells(i)
            lines.append("")
            lines.append(c["outcome"])
            for key in ("participants", "certainty", "relative", "comparator", "effect",
                        "comments"):
                if c[key]:
                    lines.append(f"  {heads[key]}: {c[key]}")
        if self.general:
            lines.append("")
            lines += [f"All outcomes: {t}" for t in self.general]
        if self.footnotes:
            lines.append("")
            lines += [f"{a}. {t}" for a, t in self.lettered_footnotes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """The table of :meth:`to_html`, for notebooks."""
        return self.to_html()


def summary_of_findings(
    rows: list[SoFRow] | tuple[SoFRow, ...],
    *,
    title: str,
    population: str | None = None,
    setting: str | None = None,
    intervention: str | None = None,
    comparison: str | None = None,
    notes: tuple[str, ...] | list[str] = (),
) -> SummaryOfFindings:
    """Assemble a :class:`SummaryOfFindings` (footnotes are lettered in order of appearance)."""
    if not isinstance(title, str) or not title.strip():
        raise InputError("a Summary of Findings table needs a title")
    return SummaryOfFindings(title=title.strip(), rows=tuple(rows), population=population,
                             setting=setting, intervention=intervention, comparison=comparison,
                             notes=tuple(notes))
