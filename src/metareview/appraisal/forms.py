"""Appraisal forms: what an appraiser answers for each instrument, and the judgement it gives.

A form lists the instrument's fields as this library holds them: RoB 2 by its 22 signalling
questions (:mod:`metareview.appraisal.rob2_questions`), ROBINS-I by its domain judgements (the
library has no signalling questions for it), EPHPP by its six component ratings, AMSTAR 2 by its
sixteen items and Health Evidence by its ten items. :meth:`Form.judge` turns a complete set of
answers into the instrument's domain judgements and overall rating by the instrument's own
functions (:func:`rob2_domains` and :func:`rob2_overall`, :func:`robins_i_overall`,
:func:`ephpp_rating`, :func:`amstar2_rating`, :func:`health_evidence_rating`), so no judgement
the algorithm gives is typed by hand; where the algorithm gives a domain's judgement (RoB 2), an
override of it is passed in with its reason and kept apart from the algorithm's.

:class:`AgreedAppraisal` is the agreed result of one study on one instrument, as the
traffic-light plot draws it: each column's judgement on the risk-of-bias scale ("low", "some
concerns", "high", or None where it does not apply).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from metareview.appraisal import amstar2, ephpp, health_evidence, rob2, rob2_questions, robins_i
from metareview.appraisal.common import RobCategory, risk_of_bias_category
from metareview.errors import InputError


@dataclass(frozen=True)
class FormField:
    """One thing an appraiser answers.

    Attributes
    ----------
    key : str
        Stable key stored with the answer (``"D1"``, ``"selection_bias"``, ``"7"`` ...).
    label : str
        Short column label for tables and the plot (``"D1"``, ``"A"``, ``"Q7"``).
    text : str
        The domain's name or the item's question as the instrument words it.
    options : tuple of str
        The response options, best first, as the instrument's function reads them.
    critical : bool
        AMSTAR 2's critical domains (shown as such).
    group : str
        The domain a signalling question belongs to (``"D1"``); empty for other fields.
    """

    key: str
    label: str
    text: str
    options: tuple[str, ...]
    critical: bool = False
    group: str = ""


@dataclass(frozen=True)
class Judgement:
    """What an instrument's algorithm makes of a complete set of answers.

    Attributes
    ----------
    instrument : str
        The instrument's name (``Quality.instrument``).
    columns : dict
        Column key -> judgement on the instrument's scale (the domain judgement, component
        rating or item answer), overrides applied.
    overall : str
        The overall rating on the instrument's scale.
    reason : str
        Which rule gave ``overall``.
    score : int or None
        Health Evidence's total score.
    components : dict
        EPHPP's component ratings (what ``Quality.components`` holds).
    algorithm : dict
        Column key -> the algorithm's own judgement, where it gives one (RoB 2's domains).
    paths : dict
        Column key -> the answers that gave the algorithm's judgement.
    overridden : dict
        Column key -> the reason its judgement overrides the algorithm's.
    """

    instrument: str
    columns: dict[str, str]
    overall: str
    reason: str
    score: int | None = None
    components: dict[str, str] = field(default_factory=dict)
    algorithm: dict[str, str] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    overridden: dict[str, str] = field(default_factory=dict)

    @property
    def risk_of_bias(self) -> RobCategory:
        """The overall rating on the project's risk-of-bias scale (for GRADE)."""
        return risk_of_bias_category(self.overall, instrument=self.instrument)

    def summary(self) -> str:
        """One line: the columns and the overall rating with its rule."""
        cols = ", ".join(f"{k}: {v}" for k, v in self.columns.items())
        return f"{self.instrument}: {self.overall} ({self.reason}); {cols}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"instrument": self.instrument, "columns": dict(self.columns),
                "overall": self.overall, "reason": self.reason, "score": self.score,
                "components": dict(self.components), "algorithm": dict(self.algorithm),
                "paths": dict(self.paths), "overridden": dict(self.overridden),
                "risk_of_bias": self.risk_of_bias}


@dataclass(frozen=True)
class Form:
    """An instrument's appraisal form.

    Attributes
    ----------
    instrument : str
        Name as in ``Quality.instrument`` (``"RoB 2"`` ...).
    slug : str
        Name in web addresses (``"rob2"`` ...).
    fields : tuple of FormField
        What is answered, in the instrument's order.
    overall_options : tuple of str
        The overall ratings, best first (what an override may choose).
    note : str
        What the form holds, for the page.
    columns : tuple of FormField
        The judgements the plot shows (RoB 2's domains; the fields themselves otherwise), with
        the options an override of one may choose.
    overridable : tuple of str
        Columns whose judgement the algorithm gives from several answers, so that an
        appraiser may override it with a reason (RoB 2's domains).
    """

    instrument: str
    slug: str
    fields: tuple[FormField, ...]
    overall_options: tuple[str, ...]
    note: str
    _judge: Callable[[dict[str, str], dict[str, tuple[str, str]]], Judgement] = field(
        repr=False, compare=False)
    columns: tuple[FormField, ...] = ()
    overridable: tuple[str, ...] = ()
    _applicable: Callable[[Mapping[str, str | None]], tuple[str, ...]] | None = field(
        default=None, repr=False, compare=False)

    def plot_columns(self) -> tuple[FormField, ...]:
        """The plot's columns: :attr:`columns`, or the fields when the form has none."""
        return self.columns or self.fields

    def applicable(self, answers: Mapping[str, str | None]) -> tuple[str, ...]:
        """Keys of the fields to answer given the answers so far (RoB 2 asks some questions
        only after certain answers); every field for the other instruments."""
        if self._applicable is None:
            return tuple(f.key for f in self.fields)
        return self._applicable(answers)

    def field(self, key: str) -> FormField:
        """The field with ``key``; InputError when the instrument has none."""
        for f in self.fields:
            if f.key == key:
                return f
        raise InputError(f"{self.instrument}: no field {key!r} on the form "
                         f"(fields: {', '.join(f.key for f in self.fields)})")

    def check(self, key: str, value: str) -> str:
        """``value`` if it is one of the field's options; InputError saying which otherwise."""
        f = self.field(key)
        if value not in f.options:
            raise InputError(f"{self.instrument} {f.label}: {value!r} is not an option "
                             f"(options: {', '.join(f.options)})")
        return value

    def missing(self, answers: Mapping[str, str | None]) -> tuple[str, ...]:
        """Labels of the applicable fields not answered yet (or answered NA)."""
        asked = set(self.applicable(answers))
        return tuple(f.label for f in self.fields
                     if f.key in asked and answers.get(f.key) in (None, "", "NA"))

    def judge(self, answers: Mapping[str, str | None],
              overrides: Mapping[str, tuple[str, str]] | None = None) -> Judgement | None:
        """The algorithm's judgement of a complete set of answers; None while any is missing.

        Parameters
        ----------
        answers : mapping
            Field key -> answer.
        overrides : mapping, optional
            Column key (one of :attr:`overridable`) -> (judgement, reason): a domain judgement
            that replaces the algorithm's, the overall judgement then following from it.

        Raises
        ------
        InputError
            An answer that is not one of its field's options; an override of a column the
            algorithm does not give, or not among the column's options.
        """
        for k, v in answers.items():
            if v:
                self.check(k, v)
        over = dict(overrides or {})
        cols = {c.key: c for c in self.columns}
        for k, (v, _) in over.items():
            if k not in self.overridable:
                raise InputError(f"{self.instrument} {k}: not a judgement the algorithm gives, "
                                 "so there is nothing to override")
            if v not in cols[k].options:
                raise InputError(f"{self.instrument} {k}: {v!r} is not a judgement "
                                 f"(options: {', '.join(cols[k].options)})")
        if self.missing(answers):
            return None
        asked = set(self.applicable(answers))
        return self._judge({f.key: str(answers.get(f.key) or "NA") if f.key in asked else "NA"
                            for f in self.fields}, over)


def _rob2(a: dict[str, str], over: dict[str, tuple[str, str]]) -> Judgement:
    found = rob2_questions.rob2_domains(a)
    algorithm = {k: d.judgement for k, d in found.items()}
    columns = {k: over[k][0] if k in over else v for k, v in algorithm.items()}
    r = rob2.rob2_overall(columns)
    return Judgement("RoB 2", columns, r.overall, r.reason, algorithm=algorithm,
                     paths={k: d.path for k, d in found.items()},
                     overridden={k: reason for k, (_, reason) in over.items()})


def _robins(a: dict[str, str], _: dict[str, tuple[str, str]]) -> Judgement:
    r = robins_i.robins_i_overall(a)
    return Judgement("ROBINS-I", dict(r.domains), r.overall, r.reason)


def _ephpp(a: dict[str, str], _: dict[str, tuple[str, str]]) -> Judgement:
    r = ephpp.ephpp_rating(a)
    reason = (f"{r.n_weak} component{'s' if r.n_weak != 1 else ''} rated weak "
              "(none: strong; one: moderate; two or more: weak)")
    return Judgement("EPHPP", dict(r.components), r.global_rating, reason,
                     components=dict(r.components))


def _amstar(a: dict[str, str], _: dict[str, tuple[str, str]]) -> Judgement:
    r = amstar2.amstar2_rating({int(k): v for k, v in a.items()})
    flaws = ", ".join(map(str, r.critical_flaws)) or "none"
    weak = ", ".join(map(str, r.noncritical_weaknesses)) or "none"
    return Judgement("AMSTAR 2", {str(k): v for k, v in r.items.items()}, r.confidence,
                     f"critical flaws: items {flaws}; non-critical weaknesses: items {weak}")


def _he(a: dict[str, str], _: dict[str, tuple[str, str]]) -> Judgement:
    r = health_evidence.health_evidence_rating(a)
    return Judgement("Health Evidence", dict(a), r.rating,
                     f"score {r.score}/10 (8-10 strong, 5-7 moderate, 0-4 weak)", score=r.score)


def _amstar_options(i: int) -> tuple[str, ...]:
    opts = ["yes"]
    if i in amstar2.PARTIAL_YES_ITEMS:
        opts.append("partial yes")
    opts.append("no")
    if i in amstar2.META_ANALYSIS_ITEMS:
        opts.append("no meta-analysis")
    return tuple(opts)


#: The forms, by instrument name.
FORMS: dict[str, Form] = {f.instrument: f for f in (
    Form("RoB 2", "rob2",
         tuple(FormField(q.key, q.key, q.text, q.options, group=q.domain)
               for q in rob2_questions.QUESTIONS),
         rob2.JUDGEMENTS,
         "The signalling questions for the effect of assignment to intervention; each "
         "domain's judgement follows by the guidance's algorithm (22 August 2019), the overall "
         "judgement from the domains (Sterne et al. 2019, Table 2).", _rob2,
         columns=tuple(FormField(d.key, d.key, d.name, rob2.JUDGEMENTS) for d in rob2.DOMAINS),
         overridable=rob2.KEYS, _applicable=rob2_questions.applicable),
    Form("ROBINS-I", "robins-i",
         tuple(FormField(d.key, d.key, d.name, robins_i.JUDGEMENTS) for d in robins_i.DOMAINS),
         robins_i.JUDGEMENTS,
         "Domain judgements (the library has no signalling questions for ROBINS-I); the "
         "overall judgement follows from them (Sterne et al. 2016).", _robins),
    Form("EPHPP", "ephpp",
         tuple(FormField(k, letter, name, ephpp.RATINGS) for k, letter, name in ephpp.COMPONENTS),
         ephpp.RATINGS,
         "Component ratings A-F; the global rating follows from the number rated weak "
         "(Thomas et al. 2004).", _ephpp),
    Form("AMSTAR 2", "amstar2",
         tuple(FormField(str(i), f"Q{i}", text, _amstar_options(i),
                         critical=i in amstar2.CRITICAL_ITEMS)
               for i, text in amstar2.ITEMS.items()),
         amstar2.CONFIDENCE,
         "The sixteen items; the overall confidence follows from critical flaws and "
         "non-critical weaknesses (Shea et al. 2017, Box 2).", _amstar),
    Form("Health Evidence", "health-evidence",
         tuple(FormField(k, f"Q{i}", text, ("yes", "no"))
               for i, (k, text) in enumerate(health_evidence.ITEMS["current"], 1)),
         ("strong", "moderate", "weak"),
         "The ten items, one point per yes; the rating follows from the score.", _he),
)}
#: Slug -> instrument name.
SLUGS: dict[str, str] = {f.slug: f.instrument for f in FORMS.values()}


def form(instrument: str) -> Form:
    """The form of an instrument, by name or slug.

    Raises
    ------
    InputError
        No such instrument.
    """
    name = SLUGS.get(instrument, instrument)
    if name not in FORMS:
        raise InputError(f"instrument {instrument!r}: no appraisal form; expected one of "
                         f"{', '.join(FORMS)}")
    return FORMS[name]


#: Each instrument's column judgements on the risk-of-bias scale, for the plot. AMSTAR 2 and
#: Health Evidence items: "yes" low, "partial yes" some concerns, "no" high, "no
#: meta-analysis" does not apply (None).
_COLUMN_CATEGORY: dict[str, dict[str, RobCategory | None]] = {
    "RoB 2": {"low": "low", "some concerns": "some concerns", "high": "high"},
    "ROBINS-I": {"low": "low", "moderate": "some concerns", "no information": "some concerns",
                 "serious": "high", "critical": "high"},
    "EPHPP": {"strong": "low", "moderate": "some concerns", "weak": "high"},
    "AMSTAR 2": {"yes": "low", "partial yes": "some concerns", "no": "high",
                 "no meta-analysis": None},
    "Health Evidence": {"yes": "low", "no": "high"},
}


@dataclass(frozen=True)
class AgreedAppraisal:
    """One study's agreed appraisal on one instrument, as the traffic-light plot draws it.

    Attributes
    ----------
    study : str
        The study's label (the plot's row).
    judgement : Judgement
        The agreed answers and what the algorithm made of them.
    overall : str
        The overall rating used: the algorithm's, or the owner's override.
    override_reason : str or None
        Why the owner overrode the algorithm's overall rating (None: not overridden). Domain
        overrides are in ``judgement.overridden``.
    """

    study: str
    judgement: Judgement
    overall: str
    override_reason: str | None = None

    def categories(self) -> dict[str, RobCategory | None]:
        """Column key -> risk-of-bias category (None where the column does not apply)."""
        table = _COLUMN_CATEGORY[self.judgement.instrument]
        return {k: table[v] for k, v in self.judgement.columns.items()}

    @property
    def risk_of_bias(self) -> RobCategory:
        """The overall rating used, on the risk-of-bias scale."""
        return risk_of_bias_category(self.overall, instrument=self.judgement.instrument)

    def summary(self) -> str:
        """One line per study."""
        extra = f"; overridden: {self.override_reason}" if self.override_reason else ""
        return f"{self.study}: {self.judgement.summary()} -> {self.overall}{extra}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"study": self.study, "judgement": self.judgement.to_dict(),
                "overall": self.overall, "override_reason": self.override_reason,
                "risk_of_bias": self.risk_of_bias}
