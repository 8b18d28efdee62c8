"""Schemas of a review project kept as data: protocol, one YAML per study, outcome CSVs.

Every number carries where it came from (``source``: document and table or section) and how far
it can be trusted (``reliability``: the evidence file's labels). Loading validates everything
here and reports bad data by file and line (see :mod:`metareview.review.load`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Reliability labels of shared/evidence/sources.md: V verbatim from the primary source,
#: V-2 verbatim from a secondary summary, V-2* from an unverified brief, I inference or
#: arithmetic, NF searched for and not found.
Reliability = Literal["V", "V-2", "V-2*", "I", "NF"]
EvidenceLevel = Literal["I", "II", "III-1", "III-2", "III-3", "IV"]
PainType = Literal[
    "neuropathic", "CRPS", "fibromyalgia", "spinal cord injury", "low back", "mixed",
    "perioperative", "healthy volunteers", "headache", "other",
]
Route = Literal["IV", "oral", "intranasal", "topical", "subcutaneous", "intramuscular",
                "sublingual", "mixed", "unclear"]
Regimen = Literal["single", "multi-day", "mixed", "unclear"]
#: Time windows of the evidence map, in order.
WINDOWS = ("immediate/24-48 h", "1-2 weeks", "1-3 months", "> 3 months", "unclear")
Window = Literal["immediate/24-48 h", "1-2 weeks", "1-3 months", "> 3 months", "unclear"]
Question = Literal["Q1", "Q2", "Q3", "Q4"]


class Strict(BaseModel):
    """Base: unknown keys are errors (a typo must not silently drop data)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """Where a fact comes from."""

    document: str = Field(description="document id from the protocol's sources, e.g. iscrr2021")
    location: str = Field(description="table, section or page, e.g. 'Table 4'")


class Criterion(Strict):
    """One row of the inclusion criteria (the 2021 review's Table 3)."""

    domain: str
    include: str
    exclude: str | None = None


class ResearchQuestion(Strict):
    id: Question
    text: str


class DocumentRef(Strict):
    """A source document of the review."""

    id: str
    citation: str
    file: str | None = Field(None, description="path under shared/, if the text is there")
    kind: str = Field(description="e.g. 'evidence review', 'news', 'press release'")


class Pico(Strict):
    population: str
    intervention: str
    comparator: str
    outcomes: list[str]


class Mid(Strict):
    """A minimal important difference used for imprecision judgements."""

    outcome: str
    value: float
    scale: str
    source: str
    reliability: Reliability


class Protocol(Strict):
    """``protocol.yaml``."""

    id: str
    title: str
    commissioned_by: str | None = None
    pico: Pico
    criteria: list[Criterion]
    questions: list[ResearchQuestion]
    documents: list[DocumentRef]
    mids: list[Mid] = []
    source: Source

    @field_validator("questions")
    @classmethod
    def _four_questions(cls, v: list[ResearchQuestion]) -> list[ResearchQuestion]:
        ids = [q.id for q in v]
        if len(set(ids)) != len(ids):
            raise ValueError(f"research question ids repeat: {ids}")
        return v


class Intervention(Strict):
    drug: str
    route: Route
    dose: str | None = None
    regimen: Regimen
    duration: str | None = None


class Quality(Strict):
    """A quality rating and the instrument that gave it."""

    instrument: Literal["Health Evidence", "EPHPP", "AMSTAR 2", "RoB 2", "ROBINS-I", "none"]
    rating: Literal["strong", "moderate", "weak", "low", "some concerns", "high", "not rated"]
    score: int | None = Field(None, description="Health Evidence total (0-10) where reported")
    components: dict[str, Literal["strong", "moderate", "weak"]] = Field(
        default_factory=dict, description="EPHPP component ratings where reported")
    source: Source


class Study(Strict):
    """``studies/<id>.yaml``: one included study, review, overview or guideline."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    label: str = Field(description="short label for tables and plots, e.g. 'Orhurhu 2019'")
    citation: str
    year: int = Field(ge=1950, le=2100)
    kind: Literal["systematic review", "overview", "primary study", "guideline"]
    design: str
    country: str | None = None
    evidence_level: EvidenceLevel | None = None
    population: str
    pain_types: list[PainType]
    setting: str | None = None
    n_participants: int | None = Field(None, ge=1)
    n_studies: int | None = Field(None, ge=1)
    intervention: Intervention
    comparator: str
    follow_up: str | None = None
    quality: Quality | None = None
    included_studies: list[str] | None = Field(
        None, description="for reviews: labels of included primary studies where known")
    questions: list[Question]
    key_findings: str | None = None
    source: Source
    reliability: Reliability
    notes: str | None = None

    @model_validator(mode="after")
    def _level(self) -> Study:
        if self.kind == "primary study" and self.included_studies:
            raise ValueError("a primary study has no included_studies")
        return self


class OutcomeRow(Strict):
    """One row of ``outcomes.csv``: a result as reported (review-level or study-level)."""

    study: str
    question: Question
    outcome: str
    comparison: str
    pain_type: PainType
    route: Route
    regimen: Regimen
    window: Window
    timepoint: str = Field(description="the follow-up as reported")
    measure: str = Field(description="MD, SMD, RR, OR, proportion, count, p-value, text …")
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p: str | None = Field(None, description="p-value as reported, e.g. '<0.001'")
    events: int | None = Field(None, ge=0)
    total: int | None = Field(None, ge=1)
    denominator_note: str | None = Field(None, description="say so where a denominator is unclear")
    n_studies: int | None = Field(None, ge=1)
    n_participants: int | None = Field(None, ge=1)
    scale: str | None = None
    i2: float | None = Field(None, ge=0, le=100)
    certainty_reported: str | None = None
    direction: Literal["benefit", "no difference", "harm", "unclear"]
    reported: str = Field(description="the finding in the source's words (short quote)")
    source: str = Field(description="document and table/section, e.g. 'iscrr2021 Table 4'")
    reliability: Reliability
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> OutcomeRow:
        if self.ci_low is not None and self.ci_high is not None and self.ci_low > self.ci_high:
            raise ValueError(f"ci_low {self.ci_low} is above ci_high {self.ci_high}")
        if self.events is not None and self.total is not None and self.events > self.total:
            raise ValueError(f"events {self.events} exceed total {self.total}")
        if (self.events is None) != (self.total is None) and self.denominator_note is None:
            raise ValueError("events without total (or total without events) needs "
                             "denominator_note saying why")
        return self


class ArmRow(Strict):
    """One row of ``arms.csv``: event counts in one arm of one trial (for pooling)."""

    study: str
    outcome: str = Field(description="e.g. 'any adverse event', 'psychotomimetic effects'")
    category: Literal["any", "psychotomimetic", "gastrointestinal", "cardiovascular",
                      "responder", "other"]
    arm: str = Field(description="e.g. 'ketamine', 'placebo', 'midazolam'")
    role: Literal["intervention", "control"]
    events: int = Field(ge=0)
    total: int = Field(ge=1)
    pain_type: PainType
    route: Route
    regimen: Regimen
    window: Window
    timepoint: str
    definition: str | None = Field(None, description="responder or event definition")
    source: str
    reliability: Reliability
    notes: str | None = None

    @model_validator(mode="after")
    def _events(self) -> ArmRow:
        if self.events > self.total:
            raise ValueError(f"events {self.events} exceed total {self.total}")
        return self


class PlaceboResponseRow(Strict):
    """One row of ``placebo_response.csv``: responder proportions in placebo arms of RCTs,
    as reported by pooled analyses of placebo arms (for the reconciliation)."""

    study: str
    condition: str
    responder_definition: str
    proportion: float | None = Field(None, ge=0, le=1)
    ci_low: float | None = Field(None, ge=0, le=1)
    ci_high: float | None = Field(None, ge=0, le=1)
    events: int | None = Field(None, ge=0)
    total: int | None = Field(None, ge=1)
    n_trials: int | None = Field(None, ge=1)
    follow_up: str
    source: str
    reliability: Reliability
    notes: str | None = None
