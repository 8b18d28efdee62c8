"""Reconcile an uncontrolled (single-arm) responder proportion with randomised control arms.

A single-arm study reports how many treated patients improved; a review of placebo-controlled
trials reports whether the drug beats placebo. The two can reach opposite headlines without
either being wrong, because a responder proportion without a control group also counts placebo
response, the natural course of the condition and regression to the mean (Hrobjartsson &
Gotzsche 2001, N Engl J Med 344:1594; Barnett et al. 2005, Int J Epidemiol 34:215). This module
puts the two on one scale: what proportion of responders would a control arm show (a
random-effects meta-analysis of the control arms' responder proportions), how far the single
arm is above it, and which design differences between the studies can explain the gap.

Nothing here is specific to one drug or condition: the design differences are derived from the
attributes the caller records on :class:`SingleArmResult` and :class:`ControlArm`, and each is
reported as applying, not applying or unknown (``None``: the information is missing).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from metareview._util.figures import new_figure, save_figure
from metareview._util.jsonable import jsonable
from metareview.effects.escalc import effect_sizes, from_arrays
from metareview.effects.measures import back_transform
from metareview.errors import InputError, where
from metareview.models.rma import MetaAnalysis, meta_analysis

__all__ = [
    "ANALYSED",
    "FACTORS",
    "FOLLOW_UP_FACTOR",
    "ArmProportion",
    "Comparison",
    "ControlArm",
    "Explanation",
    "PooledControl",
    "Reconciliation",
    "ReportedProportion",
    "SingleArmResult",
    "clopper_pearson",
    "follow_up_weeks",
    "mover_difference",
    "reconcile_single_arm",
]

#: Who a study analysed: the values accepted for :attr:`SingleArmResult.analysed`.
ANALYSED = ("completers", "all enrolled", "ITT", "unknown")

#: The design differences examined, in the order they are reported.
FACTORS = (
    "no control group",
    "placebo response",
    "regression to the mean",
    "natural course",
    "outcome and MCID definitions differ",
    "follow-up differs",
    "who was analysed",
    "population differs",
)

_PROPORTION_MEASURES = ("PLO", "PFT", "PAS", "PR")


# ------------------------------------------------------------------------------------------------
# Small statistics
# ------------------------------------------------------------------------------------------------
def clopper_pearson(x: float, n: float, level: float = 95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) confidence interval for a binomial proportion.

    Parameters
    ----------
    x : float
        Number of events (responders). A non-integer ``x`` (a reported percentage times ``n``)
        uses the same beta quantiles, a continuous extension of the exact interval.
    n : float
        Number of participants.
    level : float
        Confidence level in percent.

    Returns
    -------
    (low, high) : tuple of float
        ``B(alpha/2; x, n - x + 1)`` and ``B(1 - alpha/2; x + 1, n - x)``, where ``B`` is the
        beta quantile; 0 when ``x = 0`` and 1 when ``x = n``.

    References
    ----------
    Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the case
    of the binomial. Biometrika 1934;26:404-413.

    Examples
    --------
    >>> [round(v, 4) for v in clopper_pearson(0, 10)]
    [0.0, 0.3085]
    """
    alpha = 1 - level / 100
    lo = 0.0 if x <= 0 else float(stats.beta.ppf(alpha / 2, x, n - x + 1))
    hi = 1.0 if x >= n else float(stats.beta.ppf(1 - alpha / 2, x + 1, n - x))
    return lo, hi


def mover_difference(
    p1: float, ci1: tuple[float, float], p2: float, ci2: tuple[float, float]
) -> tuple[float, float, float]:
    """Difference ``p1 - p2`` of two independent estimates, with MOVER confidence limits.

    The method of variance estimates recovery (Zou & Donner 2008) builds the interval for a
    difference from the separate intervals of its two parts:
    ``L = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)`` and ``U = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)``.
    With Wilson intervals it is Newcombe's (1998) method 10 for a difference of proportions;
    here the parts may be any intervals (exact, or back-transformed from a meta-analysis), so
    the limits respect the asymmetry of each part near 0% and 100%.

    Returns
    -------
    (difference, low, high) : tuple of float

    References
    ----------
    Newcombe RG. Interval estimation for the difference between independent proportions:
    comparison of eleven methods. Stat Med 1998;17:873-890.
    Zou GY, Donner A. Construction of confidence limits about some effect measures: a general
    approach. Stat Med 2008;27:1693-1702.
    """
    l1, u1 = ci1
    l2, u2 = ci2
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, lo, hi


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------
def _count(value: Any, what: str, label: str, *, positive: bool = False) -> int:
    """A whole, non-negative (or positive) number, else InputError naming the study."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{label}: {what} is not a number ({value!r})") from None
    if not math.isfinite(x):
        raise InputError(f"{label}: {what} is missing or not finite ({value!r})")
    if x != round(x):
        raise InputError(f"{label}: {what} must be a whole number (got {x:g})")
    if x < 0 or (positive and x == 0):
        raise InputError(f"{label}: {what} must be {'positive' if positive else 'non-negative'} "
                         f"(got {x:g})")
    return round(x)


def _fraction(value: Any, what: str, label: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{label}: {what} is not a number ({value!r})") from None
    if not math.isfinite(x):
        raise InputError(f"{label}: {what} is missing or not finite ({value!r})")
    if x > 1 and x <= 100:
        raise InputError(f"{label}: {what} must be a fraction between 0 and 1 (got {x:g}; "
                         f"for {x:g}% give {x / 100:g})")
    if not 0 <= x <= 1:
        raise InputError(f"{label}: {what} must be between 0 and 1 (got {x:g})")
    return x


def _text(value: Any) -> str | None:
    """Optional text: None, NaN and blank become None."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    s = str(value).strip()
    return s or None


def _follow_up(value: Any, label: str) -> str | float | None:
    if value is None or isinstance(value, str):
        return _text(value)
    if isinstance(value, bool):
        raise InputError(f"{label}: follow_up must be text or a number of weeks (got {value!r})")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{label}: follow_up must be text or a number of weeks "
                         f"(got {value!r})") from None
    if math.isnan(x):
        return None
    if x < 0:
        raise InputError(f"{label}: follow_up must not be negative (got {x:g} weeks)")
    return x


@dataclass(frozen=True)
class ArmProportion:
    """A responder proportion with its exact (Clopper-Pearson) confidence interval.

    Attributes
    ----------
    label : str
        Study or outcome label.
    events : float
        Responders (``proportion * n`` when the study reported a percentage).
    n : int
        Participants.
    proportion, ci_low, ci_high : float
        Estimate and confidence limits, as fractions (0-1).
    """

    label: str
    events: float
    n: int
    proportion: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable(asdict(self))


@dataclass(frozen=True)
class SingleArmResult:
    """An uncontrolled result: responders in one treated group, and how the study was designed.

    Give exactly one of ``responders``, ``proportion`` or ``proportion_range``, with ``n``.
    Every design attribute is optional; a missing one makes the matching explanation in
    :func:`reconcile_single_arm` unknown (``applies=None``) rather than assumed.

    Parameters
    ----------
    label : str
        Study label, e.g. ``"Infusion cohort 2025"``.
    n : int
        Participants analysed.
    responders : int, optional
        Number of responders.
    proportion : float, optional
        Proportion of responders (0-1) when only a percentage is reported.
    proportion_range : (float, float), optional
        Lowest and highest proportion of responders across several outcomes (e.g. 0.203 and
        0.464 across PROMIS domains); each bound gets its own exact interval.
    range_labels : (str, str)
        Names of the outcomes at the two bounds of ``proportion_range``.
    has_control : bool, optional
        Whether the study had a control group (``False`` for a single-arm cohort).
    outcome : str, optional
        Outcome definition and responder threshold, e.g. ``"PROMIS pain interference
        improved by >= MCID"``; compared with the control arms' responder definitions.
    mcid_definition : str, optional
        How the minimal clinically important difference was set, e.g. ``"distribution-based,
        half a standard deviation"``.
    follow_up : str or float, optional
        When the outcome was measured: text (``"12 weeks"``, ``"24-48 h"``, ``"3 months"``) or
        a number of weeks.
    analysed : {"completers", "all enrolled", "ITT", "unknown"}, optional
        Who is in the denominator. ``"unknown"`` means the report does not say; ``None`` means
        it was not recorded.
    baseline_selection : str or bool, optional
        Entry criterion on baseline severity, e.g. ``"PROMIS T-score >= 60 required"``;
        ``False`` (or ``"none"``) when patients were not selected on severity.
    change_from_baseline : bool, optional
        Whether the outcome is a change from the baseline value.
    natural_course : str or bool, optional
        Note on the condition's natural course, e.g. ``"CRPS often improves spontaneously"``;
        ``False`` when the condition is known not to improve on its own.
    condition : str, optional
        Condition or population, compared with the control arms' conditions.
    """

    label: str
    n: int
    responders: int | None = None
    proportion: float | None = None
    proportion_range: tuple[float, float] | None = None
    range_labels: tuple[str, str] = ("lowest outcome", "highest outcome")
    has_control: bool | None = None
    outcome: str | None = None
    mcid_definition: str | None = None
    follow_up: str | float | None = None
    analysed: str | None = None
    baseline_selection: str | bool | None = None
    change_from_baseline: bool | None = None
    natural_course: str | bool | None = None
    condition: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        label = _text(self.label) or "single arm"
        set_(self, "label", label)
        who = f"single arm {label}"
        set_(self, "n", _count(self.n, "n", who, positive=True))
        given = [x is not None for x in (self.responders, self.proportion,
                                         self.proportion_range)]
        if sum(given) != 1:
            raise InputError(f"{who}: give exactly one of responders, proportion or "
                             f"proportion_range (got {sum(given)})")
        if self.responders is not None:
            r = _count(self.responders, "responders", who)
            if r > self.n:
                raise InputError(f"{who}: responders ({r}) larger than n ({self.n})")
            set_(self, "responders", r)
        if self.proportion is not None:
            set_(self, "proportion", _fraction(self.proportion, "proportion", who))
        if self.proportion_range is not None:
            try:
                lo, hi = self.proportion_range
            except (TypeError, ValueError):
                raise InputError(f"{who}: proportion_range must be a pair (low, high)") from None
            lo = _fraction(lo, "proportion_range low", who)
            hi = _fraction(hi, "proportion_range high", who)
            if lo > hi:
                raise InputError(f"{who}: proportion_range low ({lo:g}) above high ({hi:g})")
            set_(self, "proportion_range", (lo, hi))
        try:
            a, b = self.range_labels
        except (TypeError, ValueError):
            raise InputError(f"{who}: range_labels must be a pair of names") from None
        set_(self, "range_labels", (str(a), str(b)))
        for name in ("has_control", "change_from_baseline"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, (bool, np.bool_)):
                raise InputError(f"{who}: {name} must be True, False or None (got {v!r})")
            set_(self, name, None if v is None else bool(v))
        for name in ("outcome", "mcid_definition", "condition"):
            set_(self, name, _text(getattr(self, name)))
        set_(self, "follow_up", _follow_up(self.follow_up, who))
        set_(self, "analysed", _analysed(self.analysed, who))
        for name in ("baseline_selection", "natural_course"):
            v = getattr(self, name)
            if not isinstance(v, (bool, np.bool_)):
                v = _text(v)
            set_(self, name, bool(v) if isinstance(v, np.bool_) else v)

    def proportions(self, level: float = 95) -> tuple[ArmProportion, ...]:
        """The single-arm proportion(s) with exact confidence intervals.

        One entry for ``responders`` or ``proportion``, two (low and high bound) for
        ``proportion_range``.
        """
        if self.proportion_range is not None:
            pairs = [(f"{self.label}: {name}", p)
                     for name, p in zip(self.range_labels, self.proportion_range, strict=True)]
        else:
            p = (self.responders / self.n if self.responders is not None
                 else float(self.proportion))  # type: ignore[arg-type]
            pairs = [(self.label, p)]
        out = []
        for lab, p in pairs:
            x = p * self.n
            lo, hi = clopper_pearson(x, self.n, level)
            out.append(ArmProportion(lab, float(x), self.n, float(p), lo, hi))
        return tuple(out)


def _analysed(value: Any, who: str) -> str | None:
    s = _text(value)
    if s is None:
        return None
    key = re.sub(r"[\s_\-]+", " ", s.lower()).strip()
    aliases = {
        "completers": "completers", "completer": "completers", "completers only": "completers",
        "per protocol": "completers", "pp": "completers",
        "all enrolled": "all enrolled", "all": "all enrolled", "enrolled": "all enrolled",
        "itt": "ITT", "intention to treat": "ITT", "intent to treat": "ITT",
        "unknown": "unknown", "unclear": "unknown", "not reported": "unknown",
    }
    if key not in aliases:
        raise InputError(f"{who}: analysed must be one of {', '.join(ANALYSED)} or None "
                         f"(got {s!r})")
    return aliases[key]


@dataclass(frozen=True)
class ControlArm:
    """The control (placebo) arm of a randomised trial: responders out of n.

    Parameters
    ----------
    study : str
        Study label.
    responders, n : int
        Responders and participants in the control arm.
    responder_definition : str, optional
        How the trial defined a responder, e.g. ``">= 30% reduction in pain NRS"``.
    follow_up : str or float, optional
        Text or a number of weeks, as :attr:`SingleArmResult.follow_up`.
    condition : str, optional
        Condition or population studied.
    """

    study: str
    responders: int
    n: int
    responder_definition: str | None = None
    follow_up: str | float | None = None
    condition: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        study = _text(self.study) or "control arm"
        set_(self, "study", study)
        who = f"control arm {study}"
        n = _count(self.n, "n", who, positive=True)
        r = _count(self.responders, "responders", who)
        if r > n:
            raise InputError(f"{who}: responders ({r}) larger than n ({n})")
        set_(self, "n", n)
        set_(self, "responders", r)
        set_(self, "responder_definition", _text(self.responder_definition))
        set_(self, "condition", _text(self.condition))
        set_(self, "follow_up", _follow_up(self.follow_up, who))


@dataclass(frozen=True)
class ReportedProportion:
    """A control-group responder proportion known only as reported: a proportion with its CI.

    Pooled analyses of placebo arms often give a pooled proportion and CI without counts. It
    enters the pooling on the logit scale with its variance taken from the CI,
    ``vi = ((logit(hi) - logit(lo)) / (2 z))^2`` (Cochrane Handbook 6.3.1); no counts are
    invented from it.

    Parameters
    ----------
    study : str
        Source label.
    proportion, ci_low, ci_high : float
        Proportion and its confidence limits, in (0, 1).
    n : int, optional
        Participants behind it, if reported (for display only).
    level : float
        Confidence level of the reported CI, in percent.
    responder_definition, follow_up, condition
        As :class:`ControlArm`.
    """

    study: str
    proportion: float
    ci_low: float
    ci_high: float
    n: int | None = None
    level: float = 95.0
    responder_definition: str | None = None
    follow_up: str | float | None = None
    condition: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        study = _text(self.study) or "control group"
        set_(self, "study", study)
        who = f"control group {study}"
        vals = (self.ci_low, self.proportion, self.ci_high)
        if not all(isinstance(v, (int, float)) and 0 < v < 1 for v in vals):
            raise InputError(f"{who}: proportion and CI must lie strictly between 0 and 1 "
                             f"(got {self.proportion}, {self.ci_low} to {self.ci_high})")
        if not self.ci_low <= self.proportion <= self.ci_high or self.ci_low == self.ci_high:
            raise InputError(f"{who}: the CI {self.ci_low} to {self.ci_high} does not contain "
                             f"the proportion {self.proportion} or has no width")
        set_(self, "responder_definition", _text(self.responder_definition))
        set_(self, "condition", _text(self.condition))
        set_(self, "follow_up", _follow_up(self.follow_up, who))

    @property
    def responders(self) -> None:
        """Not reported (a proportion with a CI)."""
        return None

    def logit(self) -> tuple[float, float]:
        """``(yi, vi)`` on the logit scale, the variance from the CI."""
        z = float(stats.norm.isf((1 - self.level / 100) / 2))
        lg = lambda p: math.log(p / (1 - p))  # noqa: E731
        se = (lg(self.ci_high) - lg(self.ci_low)) / (2 * z)
        return lg(self.proportion), se**2


_FRAME_COLUMNS = {
    "responders": ("events", "xi", "responders"),
    "n": ("n", "ni"),
    "responder_definition": ("responder_definition", "definition"),
    "follow_up": ("follow_up",),
    "condition": ("condition",),
}


def _arms_from_frame(df: pd.DataFrame) -> tuple[ControlArm, ...]:
    """Control arms from a table with columns study, events (or xi), n (or ni) and optional
    responder_definition (or definition), follow_up and condition."""
    if len(df) == 0:
        raise InputError("control arms: the table has no rows")
    pick: dict[str, str | None] = {}
    for key, names in _FRAME_COLUMNS.items():
        pick[key] = next((c for c in names if c in df.columns), None)
    for key in ("responders", "n"):
        if pick[key] is None:
            raise InputError(f"control arms: missing column {' or '.join(_FRAME_COLUMNS[key])}")
    df = df.reset_index(drop=True)
    arms = []
    for i in range(len(df)):
        row = df.iloc[i]
        study = (_text(row["study"]) if "study" in df.columns else None) or f"Control arm {i + 1}"

        def at(key: str, i: int = i, study: str = study) -> str:
            return where("control arms", i + 2, study, pick[key])

        n = _count(row[pick["n"]], "n", at("n"), positive=True)
        r = _count(row[pick["responders"]], "responders", at("responders"))
        if r > n:
            raise InputError(f"{at('responders')}: responders ({r}) larger than n ({n})")
        fu = _follow_up(row[pick["follow_up"]], at("follow_up")) if pick["follow_up"] else None
        arms.append(ControlArm(
            study=study, responders=r, n=n, follow_up=fu,
            responder_definition=(row[pick["responder_definition"]]
                                  if pick["responder_definition"] else None),
            condition=row[pick["condition"]] if pick["condition"] else None,
        ))
    return tuple(arms)


def _as_arms(control_arms: Any) -> tuple[ControlArm, ...]:
    if isinstance(control_arms, pd.DataFrame):
        return _arms_from_frame(control_arms)
    if isinstance(control_arms, (str, bytes)) or not isinstance(control_arms, Sequence):
        raise InputError("control_arms must be a list of ControlArm (or mappings) or a DataFrame")
    arms = []
    for i, a in enumerate(control_arms):
        if isinstance(a, (ControlArm, ReportedProportion)):
            arms.append(a)
        elif isinstance(a, Mapping):
            frame = pd.DataFrame([dict(a)])
            if "study" not in frame.columns:
                frame["study"] = f"Control arm {i + 1}"
            arms.extend(_arms_from_frame(frame))
        else:
            raise InputError(f"control arm {i + 1}: expected a ControlArm or a mapping, "
                             f"not {type(a).__name__}")
    if not arms:
        raise InputError("control arms: none given (need at least one)")
    return tuple(arms)


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Explanation:
    """A design difference that can explain why a single arm and the trials disagree.

    Attributes
    ----------
    factor : str
        One of :data:`FACTORS`.
    applies : bool or None
        Whether it applies here; ``None`` when the information needed is missing.
    why : str
        The reason, from the recorded attributes (or what is missing).
    """

    factor: str
    applies: bool | None
    why: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return asdict(self)


@dataclass(frozen=True)
class PooledControl:
    """Responder proportion a control arm would show: random-effects pooled control arms.

    All proportions are fractions (0-1), back-transformed from the analysis scale
    (``measure``). ``pi_low``/``pi_high`` is the prediction interval for a new control arm
    (NaN with a single arm).
    """

    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    k: int
    events: int
    n: int
    tau2: float
    i2: float
    measure: str
    method: str

    @property
    def range_low(self) -> float:
        """Lower end of what a control arm would show: the PI, or the CI without one."""
        return self.pi_low if math.isfinite(self.pi_low) else self.ci_low

    @property
    def range_high(self) -> float:
        """Upper end of what a control arm would show: the PI, or the CI without one."""
        return self.pi_high if math.isfinite(self.pi_high) else self.ci_high

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable(asdict(self))


@dataclass(frozen=True)
class Comparison:
    """One single-arm proportion against the pooled control proportion.

    Attributes
    ----------
    label : str
        The single-arm proportion compared.
    proportion : float
        Single-arm proportion.
    difference, diff_ci_low, diff_ci_high : float
        Single arm minus pooled control, in proportion units, with MOVER confidence limits
        (:func:`mover_difference`) from the exact single-arm CI and the pooled control's CI.
    diff_pi_low, diff_pi_high : float
        The same with the control's prediction interval in place of its CI: the range of
        differences against a new control arm like those pooled (NaN without a PI).
    share, share_low, share_high : float
        Share of the observed response a control arm would also show: pooled control /
        single-arm proportion, and the same at the ends of the prediction interval (the CI
        when there is no PI). NaN when the single-arm proportion is 0.
    position : {"above", "within", "below"}
        ``"above"`` when the difference's CI lies above 0, ``"below"`` when below it, else
        ``"within"``.
    inside_prediction : bool or None
        Whether the single-arm proportion lies inside the control's prediction interval.
    """

    label: str
    proportion: float
    difference: float
    diff_ci_low: float
    diff_ci_high: float
    diff_pi_low: float
    diff_pi_high: float
    share: float
    share_low: float
    share_high: float
    position: str
    inside_prediction: bool | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable(asdict(self))


@dataclass(frozen=True, eq=False)
class Reconciliation:
    """A single-arm result set against pooled control arms, with the design differences.

    Attributes
    ----------
    single_arm : SingleArmResult
        The input single-arm result.
    control_arms : tuple of ControlArm
        The input control arms.
    level : float
        Confidence level in percent (for every interval).
    single : tuple of ArmProportion
        Single-arm proportion(s) with exact CIs.
    arms : tuple of ArmProportion
        Each control arm's proportion with its exact CI.
    pooled : PooledControl
        The pooled control proportion with CI and prediction interval.
    comparisons : tuple of Comparison
        Each single-arm proportion against the pooled control.
    explanations : tuple of Explanation
        Design differences, in the order of :data:`FACTORS`.
    fit : MetaAnalysis
        The meta-analysis of the control arms (analysis scale).
    warnings : tuple of str
        Notes for the reader (a single control arm, continuity corrections …).
    """

    single_arm: SingleArmResult
    control_arms: tuple[ControlArm, ...]
    level: float
    single: tuple[ArmProportion, ...]
    arms: tuple[ArmProportion, ...]
    pooled: PooledControl
    comparisons: tuple[Comparison, ...]
    explanations: tuple[Explanation, ...]
    fit: MetaAnalysis
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def position(self) -> str:
        """Where the single arm lies against the pooled control: ``"above"``, ``"within"``,
        ``"below"``, ``"partly above"``, ``"partly below"`` or ``"spans"`` (a range that is
        below at one end and above at the other)."""
        pos = {c.position for c in self.comparisons}
        if len(pos) == 1:
            return pos.pop()
        if pos == {"within", "above"}:
            return "partly above"
        if pos == {"within", "below"}:
            return "partly below"
        return "spans"

    def explanation(self, factor: str) -> Explanation:
        """The explanation for one factor of :data:`FACTORS`."""
        for e in self.explanations:
            if e.factor == factor:
                return e
        raise KeyError(factor)

    def summary(self) -> str:
        """A plain-language account: the expected control proportion, where the single arm
        lies against it, and which design differences apply."""
        pc = self.pooled
        lev = f"{self.level:g}%"
        sa = self.single_arm
        lines = [
            f"{sa.label}: single arm, n = {sa.n}; control arms: k = {pc.k}"
            + (f", N = {pc.n} ({pc.events} responders)." if pc.events else
               (f", N = {pc.n} (proportions as reported)." if pc.n else
                " (proportions as reported)."))
        ]
        pi = (f"; {lev} prediction interval {_pct(pc.pi_low)} to {_pct(pc.pi_high)}"
              if math.isfinite(pc.pi_low) else "")
        lines.append(f"A control arm would be expected to show {_pct(pc.estimate)} responders "
                     f"({lev} CI {_pct(pc.ci_low)} to {_pct(pc.ci_high)}{pi}).")
        pos = {
            "above": "above that",
            "within": "within that (the difference is compatible with none)",
            "below": "below that",
            "partly above": "partly above that (above at one end of the range, within at the "
                            "other)",
            "partly below": "partly below that",
            "spans": "below that at one end and above it at the other",
        }[self.position]
        lines.append(f"The single-arm {_single_text(self.single)} is {pos}.")
        for c, s in zip(self.comparisons, self.single, strict=True):
            share = ("" if not math.isfinite(c.share) else
                     f"; a control arm would also show {_share(c.share)} of this response"
                     + (f" ({_share(c.share_low)} to {_share(c.share_high)} across the "
                        f"{'prediction' if math.isfinite(pc.pi_low) else 'confidence'} interval)"
                        if math.isfinite(c.share_low) else ""))
            lines.append(
                f"  {s.label}: {_pct(s.proportion)} ({lev} CI {_pct(s.ci_low)} to "
                f"{_pct(s.ci_high)}); difference {_pp(c.difference)} percentage points "
                f"({lev} CI {_pp(c.diff_ci_low)} to {_pp(c.diff_ci_high)}){share}."
            )
        lines.append("Design differences that can explain the gap:")
        tag = {True: "applies", False: "does not apply", None: "unknown"}
        for e in self.explanations:
            lines.append(f"  [{tag[e.applies]}] {e.factor}: {e.why}")
        for w in self.warnings:
            lines.append(f"Note: {w}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (NaN becomes None)."""
        return jsonable({
            "single_arm": asdict(self.single_arm),
            "control_arms": [asdict(a) for a in self.control_arms],
            "level": self.level,
            "single": [s.to_dict() for s in self.single],
            "arms": [a.to_dict() for a in self.arms],
            "pooled": self.pooled.to_dict(),
            "comparisons": [c.to_dict() for c in self.comparisons],
            "position": self.position,
            "explanations": [e.to_dict() for e in self.explanations],
            "meta_analysis": self.fit.to_dict(),
            "warnings": list(self.warnings),
        })

    def plot(self, path: str | PathLike[str] | None = None) -> Figure:
        """Dot-and-whisker chart on a 0-100% axis: the single-arm proportion(s), each control
        arm, and the pooled control proportion (diamond) with its prediction-interval band.

        Parameters
        ----------
        path : str or path-like, optional
            Write the figure there as SVG, PNG or PDF (by extension).

        Returns
        -------
        Figure
            Built on the Agg canvas, not registered with pyplot.
        """
        return _plot(self, path)


def _pct(x: float, digits: int = 1) -> str:
    return "NA" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}%"


def _pp(x: float) -> str:
    return "NA" if not math.isfinite(x) else f"{100 * x:+.1f}"


def _share(x: float) -> str:
    return "NA" if not math.isfinite(x) else f"{100 * x:.0f}%"


def _single_text(single: Sequence[ArmProportion]) -> str:
    if len(single) == 1:
        return _pct(single[0].proportion)
    return f"{100 * single[0].proportion:.1f}–{_pct(single[-1].proportion)}"


# ------------------------------------------------------------------------------------------------
# The reconciliation
# ------------------------------------------------------------------------------------------------
def reconcile_single_arm(
    single_arm: SingleArmResult,
    control_arms: Sequence[ControlArm] | Sequence[Mapping[str, Any]] | pd.DataFrame,
    *,
    method: str = "REML",
    level: float = 95,
    measure: str = "PLO",
) -> Reconciliation:
    """Set an uncontrolled responder proportion against the control arms of randomised trials.

    Parameters
    ----------
    single_arm : SingleArmResult
        Responders in the treated group, and the study's design attributes.
    control_arms : sequence of ControlArm or of mappings, or DataFrame
        Control (placebo) arms. A DataFrame (or mapping) has columns ``study``, ``events`` (or
        ``xi``), ``n`` (or ``ni``), and optionally ``responder_definition``, ``follow_up``
        and ``condition``.
    method : str
        tau^2 estimator for the random-effects model of the control arms (see
        :func:`~metareview.meta_analysis`). With a single control arm its own proportion is
        used (no prediction interval).
    level : float
        Confidence level in percent, for every interval.
    measure : {"PLO", "PFT", "PAS", "PR"}
        Scale on which the control arms are pooled; the logit (``PLO``) by default.

    Returns
    -------
    Reconciliation

    Notes
    -----
    - Single-arm proportions get exact Clopper-Pearson intervals (:func:`clopper_pearson`).
    - The control arms are pooled by :func:`~metareview.effect_sizes` and
      :func:`~metareview.meta_analysis` and back-transformed to proportions, with the CI
      and the prediction interval for a new control arm (Riley et al. 2011, BMJ 342:d549).
    - The difference (single arm minus pooled control) has MOVER limits
      (:func:`mover_difference`; Newcombe 1998, Zou & Donner 2008), combining the single
      arm's exact CI with the pooled control's CI; with the PI instead of the CI it gives
      the range of differences against a new control arm.
    - The share of the observed response a control arm would also show is pooled control /
      single-arm proportion (the "placebo response ratio" of Hrobjartsson & Gotzsche's
      argument), with its range across the prediction interval.
    - The explanations are derived from the attributes; see :class:`Explanation`.

    Raises
    ------
    InputError
        For bad counts or proportions, no control arms, or an unknown method or measure.
    """
    if not isinstance(single_arm, SingleArmResult):
        raise InputError("single_arm must be a SingleArmResult")
    measure = str(measure).upper()
    if measure not in _PROPORTION_MEASURES:
        raise InputError(f"measure must be one of {', '.join(_PROPORTION_MEASURES)} for "
                         f"pooling control-arm proportions (got {measure!r})")
    if not 0 < level < 100:
        raise InputError(f"level must be between 0 and 100 (got {level:g})")
    arms = _as_arms(control_arms)
    warnings: list[str] = []

    reported = [a for a in arms if isinstance(a, ReportedProportion)]
    if reported and measure != "PLO":
        raise InputError("control groups reported as a proportion with a CI are pooled on the "
                         "logit scale: use measure='PLO'")
    counted = [a for a in arms if isinstance(a, ControlArm)]
    if counted:
        frame = pd.DataFrame({"study": [a.study for a in counted],
                              "xi": [a.responders for a in counted],
                              "ni": [a.n for a in counted]})
        es = effect_sizes(frame, measure, study="study", source="control arms")
    if reported:
        # Keep the caller's order: counted arms first, then reported proportions.
        yi = [*(es.yi if counted else []), *(r.logit()[0] for r in reported)]
        vi = [*(es.vi if counted else []), *(r.logit()[1] for r in reported)]
        arms = (*counted, *reported)
        es = from_arrays(np.array(yi), np.array(vi), measure="PLO",
                         study=[a.study for a in arms])
    if len(arms) == 1:
        fit = meta_analysis(es, "FE", level=level)
        warnings.append("only one control arm: its own proportion is used; there is no "
                        "prediction interval, so the confidence interval stands in for the "
                        "range a control arm would show")
    else:
        fit = meta_analysis(es, method, level=level)
    warnings.extend(fit.warnings)
    pooled = _pooled(fit, arms)

    single = single_arm.proportions(level)
    control_props = tuple(
        ArmProportion(a.study, float(a.responders), a.n, a.responders / a.n,
                      *clopper_pearson(a.responders, a.n, level))
        if isinstance(a, ControlArm) else
        ArmProportion(a.study, math.nan, a.n or 0, a.proportion, a.ci_low, a.ci_high)
        for a in arms
    )
    comparisons = tuple(_compare(s, pooled) for s in single)
    explanations = _explain(single_arm, arms, single, pooled, level)
    return Reconciliation(
        single_arm=single_arm, control_arms=arms, level=float(level), single=single,
        arms=control_props, pooled=pooled, comparisons=comparisons,
        explanations=explanations, fit=fit, warnings=tuple(dict.fromkeys(warnings)),
    )


def _pooled(fit: MetaAnalysis, arms: Sequence[ControlArm]) -> PooledControl:
    bt = fit.back_transformed
    vals = {"estimate": fit.estimate, "ci_low": fit.ci_low, "ci_high": fit.ci_high,
            "pi_low": fit.pi_low, "pi_high": fit.pi_high}
    if bt is not None:
        vals = {k: float(bt[k]) for k in vals}
    elif back_transform(fit.measure) is None:  # PR: already proportions
        vals = {k: float(np.clip(v, 0, 1)) if math.isfinite(v) else v for k, v in vals.items()}
    return PooledControl(
        # Counts only when every arm has them; reported proportions have none to add.
        **vals, k=fit.k, events=(int(sum(a.responders for a in arms))
                                 if all(a.responders is not None for a in arms) else 0),
        n=int(sum(a.n or 0 for a in arms)), tau2=float(fit.tau2), i2=float(fit.i2),
        measure=fit.measure, method=fit.method,
    )


def _compare(s: ArmProportion, pc: PooledControl) -> Comparison:
    ci1 = (s.ci_low, s.ci_high)
    d, lo, hi = mover_difference(s.proportion, ci1, pc.estimate, (pc.ci_low, pc.ci_high))
    if math.isfinite(pc.pi_low):
        _, plo, phi = mover_difference(s.proportion, ci1, pc.estimate, (pc.pi_low, pc.pi_high))
        inside: bool | None = bool(pc.pi_low <= s.proportion <= pc.pi_high)
    else:
        plo = phi = math.nan
        inside = None
    if s.proportion > 0:
        share = pc.estimate / s.proportion
        share_lo, share_hi = pc.range_low / s.proportion, pc.range_high / s.proportion
    else:
        share = share_lo = share_hi = math.nan
    position = "above" if lo > 0 else ("below" if hi < 0 else "within")
    return Comparison(s.label, s.proportion, d, lo, hi, plo, phi, share, share_lo, share_hi,
                      position, inside)


# ---- explanations -------------------------------------------------------------------------------
def _norm(s: str) -> str:
    s = s.lower().replace("≥", ">=").replace("≤", "<=").replace("–", "-").replace("—", "-")
    s = re.sub(r"\s+", " ", s).strip(" .;:")
    return re.sub(r"\s*([^\w\s])\s*", r"\1", s)  # ">= 30 %" and ">=30%" are the same


_UNITS = {
    "h": 1 / 168, "hr": 1 / 168, "hrs": 1 / 168, "hour": 1 / 168, "hours": 1 / 168,
    "d": 1 / 7, "day": 1 / 7, "days": 1 / 7,
    "w": 1.0, "wk": 1.0, "wks": 1.0, "week": 1.0, "weeks": 1.0,
    "mo": 365.25 / 12 / 7, "mos": 365.25 / 12 / 7, "month": 365.25 / 12 / 7,
    "months": 365.25 / 12 / 7,
    "y": 365.25 / 7, "yr": 365.25 / 7, "yrs": 365.25 / 7, "year": 365.25 / 7,
    "years": 365.25 / 7,
}
_DURATION = re.compile(
    r"(\d+(?:\.\d+)?)\s*(?:(?:-|–|to)\s*(\d+(?:\.\d+)?))?\s*([a-z]+)", re.IGNORECASE
)

#: Follow-ups within this factor of each other count as the same.
FOLLOW_UP_FACTOR = 1.5


def follow_up_weeks(value: str | float | None) -> tuple[float, float] | None:
    """A follow-up as an interval of weeks: ``12`` -> (12, 12); ``"1-3 months"`` ->
    (4.35, 13.0); ``"24-48 h"`` -> (0.14, 0.29). ``None`` if it cannot be read."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return (float(value), float(value))
    for m in _DURATION.finditer(str(value)):
        unit = _UNITS.get(m.group(3).lower())
        if unit is None:
            continue
        lo = float(m.group(1)) * unit
        hi = float(m.group(2)) * unit if m.group(2) else lo
        return (lo, hi)
    return None


def _same_follow_up(a: tuple[float, float], b: tuple[float, float]) -> bool:
    if a[0] <= b[1] and b[0] <= a[1]:
        return True  # the intervals overlap
    near, far = (a[1], b[0]) if a[1] < b[0] else (b[1], a[0])
    return near > 0 and far / near <= FOLLOW_UP_FACTOR


def _fu_text(v: str | float) -> str:
    return f"{v:g} weeks" if isinstance(v, (int, float)) else str(v)


def _split_by(arms: Sequence[Any], attr: str, mine: str
              ) -> tuple[dict[str, list[str]], list[str], bool]:
    """Control arms whose ``attr`` differs from ``mine`` (value -> studies), the studies that
    do not record it, and whether any arm records it."""
    differ: dict[str, list[str]] = {}
    unknown = []
    for a in arms:
        value = getattr(a, attr)
        if value is None:
            unknown.append(a.study)
        elif _norm(value) != _norm(mine):
            differ.setdefault(value, []).append(a.study)
    return differ, unknown, len(unknown) < len(arms)


def _names(studies: Sequence[str]) -> str:
    return ", ".join(studies) if len(studies) <= 4 else f"{', '.join(studies[:4])} and " \
        f"{len(studies) - 4} more"


def _explain(
    sa: SingleArmResult, arms: Sequence[ControlArm], single: Sequence[ArmProportion],
    pc: PooledControl, level: float,
) -> tuple[Explanation, ...]:
    return (
        _no_control(sa, single),
        _placebo(single, pc, level),
        _regression(sa),
        _natural_course(sa),
        _definitions(sa, arms),
        _follow_up_diff(sa, arms),
        _analysed_expl(sa),
        _population(sa, arms),
    )


def _no_control(sa: SingleArmResult, single: Sequence[ArmProportion]) -> Explanation:
    f = FACTORS[0]
    if sa.has_control is None:
        return Explanation(f, None, "whether the study had a control group is not recorded "
                                    "(has_control)")
    if sa.has_control:
        return Explanation(f, False, "the study had a control group; its own between-arm "
                                     "comparison is the fairer estimate of the drug effect")
    return Explanation(f, True, f"with no control group the {_single_text(single)} responders "
                                "combine any drug effect with placebo response, natural course "
                                "and regression to the mean, which the study cannot separate")


def _placebo(single: Sequence[ArmProportion], pc: PooledControl, level: float) -> Explanation:
    f = FACTORS[1]
    lo_s, hi_s = min(s.proportion for s in single), max(s.proportion for s in single)
    has_pi = math.isfinite(pc.pi_low)
    band = "prediction interval" if has_pi else "confidence interval"
    head = (f"control arms (k = {pc.k}, N = {pc.n}) show {_pct(pc.estimate)} responders "
            f"({level:g}% {band} {_pct(pc.range_low)} to {_pct(pc.range_high)})")
    single_txt = _single_text(single)
    if pc.range_low <= lo_s and hi_s <= pc.range_high:
        return Explanation(f, True, f"{head}, which contains the single-arm {single_txt}: "
                                    "placebo response alone could produce responder proportions "
                                    "like these")
    if pc.range_low <= hi_s and lo_s <= pc.range_high:
        end = "lower" if pc.range_high < hi_s else "upper"
        far = hi_s if end == "lower" else lo_s
        share = f"; at {_pct(far)} it would account for about {_share(pc.estimate / far)}" \
            if far > 0 else ""
        return Explanation(f, True, f"{head}, which overlaps the {end} end of the single-arm "
                                    f"{single_txt}: placebo response alone could produce the "
                                    f"{end} proportions{share}")
    if pc.range_high < lo_s:
        share = pc.estimate / hi_s if hi_s > 0 else math.nan
        lo_share = pc.estimate / lo_s if lo_s > 0 else math.nan
        part = (f"about {_share(share)}" if len(single) == 1 or not math.isfinite(lo_share)
                else f"about {_share(share)} to {_share(lo_share)}")
        return Explanation(f, False, f"{head}, below the single-arm {single_txt}: placebo "
                                     f"response would account for {part} of the observed "
                                     "response, not all of it")
    return Explanation(f, False, f"{head}, above the single-arm {single_txt}: the single arm "
                                 "shows fewer responders than a control arm would")


_NO = {"no", "none", "false", "not selected", "unselected", "no selection", "n/a", "na"}


def _regression(sa: SingleArmResult) -> Explanation:
    f = FACTORS[2]
    sel = sa.baseline_selection
    if isinstance(sel, str) and _norm(sel) in _NO:
        sel = False
    change = sa.change_from_baseline
    if sel is None:
        if change:
            return Explanation(f, None, "the outcome is a change from baseline, but whether "
                                        "patients were selected on baseline severity is not "
                                        "recorded (baseline_selection)")
        return Explanation(f, None, "whether patients were selected on baseline severity is not "
                                    "recorded (baseline_selection)")
    if sel is False:
        return Explanation(f, False, "patients were not selected on baseline severity, so "
                                     "regression to the mean should not inflate the change")
    what = f" ({sel})" if isinstance(sel, str) else ""
    tail = ("the outcome is change from that selected baseline, so " if change else "")
    return Explanation(f, True, f"entry required high baseline severity{what}; {tail}scores "
                                "measured at a high point tend to fall at the next measurement "
                                "whatever the treatment")


def _natural_course(sa: SingleArmResult) -> Explanation:
    f = FACTORS[3]
    note = sa.natural_course
    if note is None:
        return Explanation(f, None, "the natural course of the condition is not recorded "
                                    "(natural_course)")
    if note is False or (isinstance(note, str) and _norm(note) in _NO):
        return Explanation(f, False, "the condition is recorded as not improving on its own")
    what = note if isinstance(note, str) else "the condition can improve on its own"
    if sa.has_control is False:
        tail = ("without a control group, spontaneous improvement is counted as response to "
                "treatment; in a trial it is in both arms and cancels out")
    else:
        tail = ("spontaneous improvement raises every arm's responder proportion; only a "
                "between-arm comparison removes it")
    return Explanation(f, True, f"{what}; {tail}")


def _definitions(sa: SingleArmResult, arms: Sequence[ControlArm]) -> Explanation:
    f = FACTORS[4]
    mine = sa.outcome or sa.mcid_definition
    if mine is None:
        return Explanation(f, None, "the single arm's responder definition (outcome and "
                                    "threshold/MCID) is not recorded (outcome, mcid_definition)")
    differ, unknown, any_known = _split_by(arms, "responder_definition", mine)
    mcid = (f" (MCID: {sa.mcid_definition})" if sa.outcome and sa.mcid_definition else "")
    if not any_known:
        return Explanation(f, None, f"the single arm counts responders as '{mine}'{mcid}; the "
                                    "control arms' responder definitions are not recorded")
    if differ:
        theirs = "; ".join(f"'{d}' ({_names(s)})" for d, s in differ.items())
        return Explanation(f, True, f"the single arm counts responders as '{mine}'{mcid}; "
                                    f"control arms use {theirs}; a responder proportion depends "
                                    "on its threshold, so the proportions are not like for like")
    if unknown:
        return Explanation(f, None, f"responder definition '{mine}' matches the control arms "
                                    f"that record one; not recorded for {_names(unknown)}")
    return Explanation(f, False, f"all arms count responders as '{mine}'")


def _follow_up_diff(sa: SingleArmResult, arms: Sequence[ControlArm]) -> Explanation:
    f = FACTORS[5]
    if sa.follow_up is None:
        return Explanation(f, None, "the single arm's follow-up is not recorded (follow_up)")
    mine = follow_up_weeks(sa.follow_up)
    if mine is None:
        return Explanation(f, None, f"the single arm's follow-up '{sa.follow_up}' cannot be read "
                                    "as a duration")
    differ, unknown = [], []
    for a in arms:
        theirs = follow_up_weeks(a.follow_up)
        if theirs is None:
            unknown.append(a.study)
        elif not _same_follow_up(mine, theirs):
            differ.append(f"{a.study} {_fu_text(a.follow_up)}")  # type: ignore[arg-type]
    me = _fu_text(sa.follow_up)
    if differ:
        return Explanation(f, True, f"the single arm measured response at {me}, the control "
                                    f"arms at {_names(differ)}; response and placebo response "
                                    "change with time")
    if unknown:
        return Explanation(f, None, f"the single arm measured response at {me}; the control "
                                    f"arms' follow-up is not recorded or unreadable for "
                                    f"{_names(unknown)}")
    return Explanation(f, False, f"follow-up is similar in all arms (single arm {me}; within a "
                                 f"factor of {FOLLOW_UP_FACTOR:g})")


def _analysed_expl(sa: SingleArmResult) -> Explanation:
    f = FACTORS[6]
    a = sa.analysed
    if a is None:
        return Explanation(f, None, "who was analysed (completers, all enrolled, ITT) is not "
                                    "recorded (analysed)")
    if a == "completers":
        return Explanation(f, True, "only completers were analysed: patients who stopped, often "
                                    "for lack of benefit or side effects, are not in the "
                                    "denominator, which inflates the responder proportion; "
                                    "trials usually count every randomised patient")
    if a == "unknown":
        return Explanation(f, True, "the report does not say who was analysed; if only "
                                    "completers or patients with follow-up data were counted, "
                                    "the responder proportion is inflated")
    return Explanation(f, False, f"the single arm analysed {a}, like an intention-to-treat "
                                 "analysis")


def _population(sa: SingleArmResult, arms: Sequence[ControlArm]) -> Explanation:
    f = FACTORS[7]
    if sa.condition is None:
        return Explanation(f, None, "the single arm's condition or population is not recorded "
                                    "(condition)")
    differ, unknown, any_known = _split_by(arms, "condition", sa.condition)
    if not any_known:
        return Explanation(f, None, f"the single arm studied '{sa.condition}'; the control "
                                    "arms' conditions are not recorded")
    if differ:
        theirs = "; ".join(f"'{c}' ({_names(s)})" for c, s in differ.items())
        return Explanation(f, True, f"the single arm studied '{sa.condition}', the control arms "
                                    f"{theirs}; placebo response and natural course vary by "
                                    "condition")
    if unknown:
        return Explanation(f, None, f"condition '{sa.condition}' matches the control arms that "
                                    f"record one; not recorded for {_names(unknown)}")
    return Explanation(f, False, f"all arms studied '{sa.condition}'")




SINGLE_COLOUR = "#c0392b"
CONTROL_COLOUR = "#1f4e9c"
BAND_COLOUR = "#d6e2f3"


def _plot(rec: Reconciliation, path: str | PathLike[str] | None) -> Figure:
    from matplotlib.patches import Polygon

    rows: list[tuple[str, float, float, float, str]] = []  # label, est, lo, hi, kind
    for s in rec.single:
        rows.append((s.label, s.proportion, s.ci_low, s.ci_high, "single"))
    rows.append(("Control arms", math.nan, math.nan, math.nan, "gap"))
    for a in rec.arms:
        count = f"{a.events:.0f}/{a.n}" if math.isfinite(a.events) else (
            f"N = {a.n}" if a.n else "as reported")
        rows.append((f"{a.label} ({count})", a.proportion, a.ci_low, a.ci_high, "arm"))
    pc = rec.pooled
    rows.append((f"Pooled control ({pc.method}, k = {pc.k})", pc.estimate, pc.ci_low,
                 pc.ci_high, "pooled"))
    n = len(rows)
    longest = max(len(r[0]) for r in rows)
    left = min(5.5, 0.3 + 0.065 * longest)
    width = left + 4.2 + 1.6
    height = 0.9 + 0.28 * n
    fig = new_figure(width, height)
    ax = fig.add_axes((left / width, 0.55 / height, 4.2 / width, (height - 0.85) / height))
    ys = np.arange(n)[::-1].astype(float)
    lo_band, hi_band = pc.range_low, pc.range_high
    if math.isfinite(lo_band):
        ax.axvspan(100 * lo_band, 100 * hi_band, color=BAND_COLOUR, zorder=0, lw=0,
                   label="prediction interval" if math.isfinite(pc.pi_low) else "CI")
    ax.axvline(100 * pc.estimate, color=CONTROL_COLOUR, lw=0.8, ls="--", zorder=1)
    w = np.asarray(rec.fit.weights, dtype=float)
    wmax = float(np.nanmax(w)) if len(w) else 1.0
    arm_i = 0
    for y, (_label, est, lo, hi, kind) in zip(ys, rows, strict=True):
        if kind == "gap":
            continue
        colour = SINGLE_COLOUR if kind == "single" else CONTROL_COLOUR
        if kind == "pooled":
            h = 0.32
            diamond = [(100 * lo, y), (100 * est, y + h), (100 * hi, y), (100 * est, y - h)]
            ax.add_patch(Polygon(diamond, closed=True, facecolor=colour, edgecolor=colour,
                                 zorder=3, gid="pooled-diamond"))
            if math.isfinite(pc.pi_low):
                ax.plot([100 * pc.pi_low, 100 * pc.pi_high], [y - 0.42, y - 0.42],
                        color=colour, lw=2.0, solid_capstyle="butt", zorder=3)
        else:
            ax.plot([100 * lo, 100 * hi], [y, y], color=colour, lw=1.2, zorder=2)
            if kind == "arm":
                size = 20 + 60 * (w[arm_i] / wmax if wmax > 0 else 1.0)
                arm_i += 1
                ax.scatter([100 * est], [y], marker="s", s=size, color=colour, zorder=3)
            else:
                ax.scatter([100 * est], [y], marker="o", s=40, color=colour, zorder=3)
        ax.text(1.03, y, f"{100 * est:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]",
                transform=ax.get_yaxis_transform(), va="center", ha="left", fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels([r[0] for r in rows], fontsize=8)
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(-0.9, n - 0.4)
    ax.set_xlim(0, 100)
    ax.set_xticks(np.arange(0, 101, 20))
    ax.set_xticklabels([f"{v}%" for v in range(0, 101, 20)], fontsize=8)
    ax.set_xlabel("Responders", fontsize=8)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.text(1.03, n - 0.4, f"% [{rec.level:g}% CI]", transform=ax.get_yaxis_transform(),
            va="bottom", ha="left", fontsize=8, fontweight="bold")
    note = ("Band: prediction interval for a new control arm" if math.isfinite(pc.pi_low)
            else "Band: confidence interval of the control proportion")
    ax.set_title(f"Single arm vs control arms. {note}", fontsize=8, loc="left")
    save_figure(fig, path)
    return fig
