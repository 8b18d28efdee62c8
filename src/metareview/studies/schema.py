"""Schemas of a review's study data: protocol, one YAML per study, outcome and arm CSVs.

Every number carries where it came from (``source``: document and table or section) and how far
it can be trusted (``reliability``: the evidence file's labels). Nothing here names a topic: the
protocol declares the review's questions, its vocabularies (populations, routes, regimens, time
windows), its arm-level outcome categories and its evidence tables, and loading checks every row
against them (see :mod:`metareview.studies.folder`).
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Reliability labels of shared/evidence/sources.md: V verbatim from the primary source,
#: V-2 verbatim from a secondary summary, V-2* from an unverified brief, I inference or
#: arithmetic, NF searched for and not found.
Reliability = Literal["V", "V-2", "V-2*", "I", "NF"]
EvidenceLevel = Literal["I", "II", "III-1", "III-2", "III-3", "IV"]
#: A question id of the protocol: free, e.g. ``Q1`` or ``effectiveness``.
QuestionId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
#: The columns whose values the protocol's vocabularies constrain (rows and studies).
VOCABULARY_FIELDS = ("population", "route", "regimen", "window")
StudyKind = Literal["systematic review", "overview", "primary study", "guideline"]


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
    """A research question. ``answer`` says how the report answers it: from the GRADE
    assessments of its outcomes (``graded``) or by setting uncontrolled results beside
    controlled ones (``reconciliation``)."""

    id: QuestionId
    text: str
    answer: Literal["graded", "reconciliation"] = "graded"


class Vocabulary(Strict):
    """The allowed values of one column, in display order, and its name for people."""

    label: str = Field(description="e.g. 'pain type' for the population column")
    values: list[str] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"values repeat: {v}")
        return v


class ArmCategory(Strict):
    """An outcome category of arm-level data (pooled across trials), e.g. any adverse event."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str
    question: QuestionId
    responder: bool = Field(False, description="counts responders (used by reconciliation)")
    pool: bool = Field(True, description="false: trials are shown without a pooled estimate "
                       "(e.g. definitions too different to pool)")
    min_trials: int = Field(2, ge=2, description="fewest trials pooled; with fewer they are "
                            "shown without a pooled estimate")
    multi_arm: Literal["combine", "split"] = Field(
        "combine", description="several intervention arms sharing one control arm (Cochrane "
        "Handbook 23.3.4): combine them into one arm, or split the control's events and total "
        "between the comparisons")
    scope: str | None = Field(None, description="what a pooled result can and cannot answer")
    benefit: bool = Field(False, description="events are good (e.g. responders): a ratio above "
                          "1 favours the intervention")


class TableSpec(Strict):
    """An evidence table: the studies it lists and the question whose results it shows."""

    title: str
    question: QuestionId
    kinds: list[StudyKind] | None = Field(None, description="study kinds listed (all if unset)")
    any_question: bool = Field(False, description="list studies whatever their questions")
    populations: list[str] | None = Field(None, description="only studies with one of these")
    exclude_populations: list[str] = Field(default_factory=list)
    show_arms: bool = Field(False, description="add the study's arm-level counts")

    def selects(self, study: Study) -> bool:
        """Whether the table lists ``study``."""
        return ((self.kinds is None or study.kind in self.kinds)
                and (self.any_question or self.question in study.questions)
                and (self.populations is None
                     or any(p in self.populations for p in study.populations))
                and not any(p in self.exclude_populations for p in study.populations))


class KeptApart(Strict):
    """Results for some populations are answered separately (e.g. a different setting)."""

    populations: list[str] = Field(min_length=1)
    label: str = Field(description="heading of the separate part, e.g. 'In surgery'")
    rest: str = Field(description="heading of the main part, e.g. 'In adults'")
    name: str = Field(description="adjective for the separate part, e.g. 'surgical'")
    rest_name: str = Field(description="adjective for the main part, e.g. 'adult'")

    def applies(self, populations: str | list[str]) -> bool:
        """Whether a row's population (or any of a study's) is kept apart."""
        pops = [populations] if isinstance(populations, str) else populations
        return any(p in self.populations for p in pops)


class IndirectnessRule(Strict):
    """A GRADE indirectness rule: rows whose columns match are rated down, for the reason given.

    Vocabulary columns (``population``, ``route``, ``regimen``, ``window``) match a row's value
    exactly; ``comparison`` and ``outcome`` match when their text occurs in the row's
    (case-insensitive). Every criterion given must match.
    """

    population: str | None = None
    route: str | None = None
    regimen: str | None = None
    window: str | None = None
    comparison: str | None = Field(None, description="text the row's comparison contains")
    outcome: str | None = Field(None, description="text the row's outcome contains")
    change: Literal[-1, -2] = Field(description="-1 serious, -2 very serious indirectness")
    reason: str = Field(min_length=1, description="why, printed as the domain's rationale")

    @model_validator(mode="after")
    def _criterion(self) -> IndirectnessRule:
        if not self.criteria():
            raise ValueError("an indirectness rule needs at least one of population, route, "
                             "regimen, window, comparison or outcome")
        return self

    def criteria(self) -> dict[str, str]:
        """The columns this rule matches on, with their values."""
        return {c: v for c in (*VOCABULARY_FIELDS, "comparison", "outcome")
                if (v := getattr(self, c)) is not None}

    def matches(self, row: dict[str, str | None]) -> bool:
        """Whether a row (column -> value) matches every criterion of the rule."""
        for col, want in self.criteria().items():
            have = row.get(col)
            if have is None:
                return False
            if col in VOCABULARY_FIELDS:
                if have != want:
                    return False
            elif want.lower() not in have.lower():
                return False
        return True


class Indirectness(Strict):
    """How indirectness is judged from the data (GRADE guidelines 8).

    ``rules`` rate matching rows down; a row matching no rule is direct ("no change") when its
    population is one of ``direct`` (the populations the protocol's PICO is about), and is left
    "not assessable" otherwise (a reviewer must judge it).
    """

    direct: list[str] = Field(default_factory=list,
                              description="populations that answer the PICO directly")
    rules: list[IndirectnessRule] = []


class CriticalOutcome(Strict):
    """An outcome critical for a decision on a question (GRADE guidelines 2)."""

    question: QuestionId
    outcomes: list[str] = Field(min_length=1, description="outcome names as rows give them")
    reason: str | None = None

    def includes(self, outcome: str) -> bool:
        """Whether ``outcome`` (a row's outcome or an arm category's title) is critical."""
        return outcome.strip().lower() in {o.strip().lower() for o in self.outcomes}


class SearchMethods(Strict):
    """How the studies were searched for (the methods section reports it)."""

    databases: list[str] = Field(min_length=1, description="bibliographic databases searched")
    other_sources: list[str] = Field(default_factory=list,
                                     description="grey literature, hand searching, reference lists")
    dates: str | None = Field(None, description="publication dates covered, as reported")
    searched: str | None = Field(None, description="when the search was run, as reported")
    limits: str | None = Field(None, description="language, design or other limits")
    terms: list[str] = Field(default_factory=list, description="search terms, as reported")
    note: str | None = None
    source: Source


class ReportedPrisma(Strict):
    """PRISMA flow counts as a source review reports them (for a review rebuilt from its report
    rather than screened here). A count left out is not reported: never zero."""

    database_results: int | None = Field(None, ge=0)
    other_results: int | None = Field(None, ge=0)
    duplicates: int | None = Field(None, ge=0)
    records_screened: int | None = Field(None, ge=0)
    records_excluded: int | None = Field(None, ge=0)
    reports_assessed: int | None = Field(None, ge=0)
    reports_excluded: int | None = Field(None, ge=0)
    studies_included: int | None = Field(None, ge=0)
    reports_included: int | None = Field(None, ge=0)
    note: str | None = Field(None, description="what the counts cover, what is missing and why")
    source: Source
    reliability: Reliability


class IndirectPopulations(Strict):
    """Populations whose results are only indirect evidence for the question (e.g. healthy
    volunteers in experimental models): shown in their own, labelled Summary of Findings table."""

    populations: list[str] = Field(min_length=1)
    label: str = Field(description="heading of their table, e.g. 'Experimental pain models'")


class DocumentRef(Strict):
    """A source document of the review: its citation, where it can be found and its stored text.

    ``file`` is the document's text inside the review folder (a relative path such as
    ``sources/report.txt``), so every cited location can be opened; ``sha256`` pins that text,
    so a changed copy is noticed (:func:`metareview.studies.folder.check_documents`). ``doi``
    and ``address`` are given only where the document itself (or the review's evidence file)
    states them: never guessed.
    """

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    citation: str
    doi: str | None = Field(None, pattern=r"^10\.\d{4,9}/\S+$",
                            description="the DOI as a source states it, e.g. 10.1000/xyz")
    address: str | None = Field(None, description="web address as the text states it")
    file: str | None = Field(None, description="the text, relative to the review folder")
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$",
                               description="SHA-256 of file's bytes")
    kind: str = Field(description="e.g. 'evidence review', 'news', 'press release'")

    @field_validator("file")
    @classmethod
    def _inside(cls, v: str | None) -> str | None:
        if v is not None:
            parts = v.replace("\\", "/").split("/")
            if v.startswith("/") or ".." in parts or ":" in parts[0]:
                raise ValueError(f"file {v!r} must be a relative path inside the review folder")
        return v

    @model_validator(mode="after")
    def _pinned(self) -> DocumentRef:
        if self.sha256 is not None and self.file is None:
            raise ValueError("sha256 without file")
        return self


class Pico(Strict):
    population: str
    intervention: str
    comparator: str
    outcomes: list[str]
    intervention_name: str = Field(description="short subject of statements, e.g. 'Aspirin'")
    comparator_name: str = Field("control", description="short name, e.g. 'placebo'")


class Mid(Strict):
    """A minimal important difference used for imprecision judgements."""

    outcome: str
    value: float
    scale: str
    source: str
    reliability: Reliability


#: The conditions a protocol's trigger may name (see :class:`Trigger`).
TriggerCondition = Literal["ci_excludes_mid", "ci_includes_mid", "ci_excludes_null",
                           "ci_includes_null", "certainty_changes", "estimate_moves_by"]
TRIGGER_CONDITIONS: tuple[str, ...] = get_args(TriggerCondition)


class Trigger(Strict):
    """A condition written in the protocol that calls for action when an update meets it
    (e.g. the confidence interval no longer includes the minimal important difference).

    ``outcome`` names the analyses it watches: an arm category (id or title) or an outcome of
    ``outcomes.csv``; ``question``, ``comparison`` and ``window`` narrow it. Conditions on the
    interval fire when they hold after an update and did not before: ``ci_includes_mid`` (the
    interval contains a MID threshold: the protocol's MID either side of the null, or GRADE's
    0.75 and 1.25 for ratios), ``ci_excludes_mid`` (it contains neither), ``ci_excludes_null``,
    ``ci_includes_null``. ``certainty_changes`` fires when the GRADE certainty differs;
    ``estimate_moves_by`` when the estimate moves by at least ``by``, on the scale it is
    reported (the risk ratio itself for ratios, points of the scale for differences).
    """

    outcome: str = Field(min_length=1)
    when: TriggerCondition
    by: float | None = Field(None, gt=0, description="the distance estimate_moves_by watches")
    question: QuestionId | None = None
    comparison: str | None = None
    window: str | None = None
    action: str | None = Field(None, description="what the protocol says to do when it fires")

    @model_validator(mode="after")
    def _distance(self) -> Trigger:
        if self.when == "estimate_moves_by" and self.by is None:
            raise ValueError("estimate_moves_by needs by: the distance the estimate must move "
                             "(e.g. by: 0.1)")
        if self.when != "estimate_moves_by" and self.by is not None:
            raise ValueError(f"by is only read with when: estimate_moves_by, not {self.when}")
        return self


class Protocol(Strict):
    """``protocol.yaml``."""

    id: str
    title: str
    commissioned_by: str | None = None
    notes: str | None = None
    pico: Pico
    criteria: list[Criterion]
    questions: list[ResearchQuestion] = Field(min_length=1)
    documents: list[DocumentRef]
    mids: list[Mid] = []
    vocabularies: dict[Literal["population", "route", "regimen", "window"], Vocabulary] = Field(
        default_factory=dict)
    arm_categories: list[ArmCategory] = []
    tables: list[TableSpec] = []
    kept_apart: KeptApart | None = None
    source_review: str | None = Field(
        None, description="id of the study holding the rebuilt review's own conclusions; "
        "each answer quotes them")
    indirect: IndirectPopulations | None = None
    search: SearchMethods | None = None
    prisma: ReportedPrisma | None = None
    indirectness: Indirectness | None = None
    critical_outcomes: list[CriticalOutcome] = []
    triggers: list[Trigger] = Field(default_factory=list, description="conditions that call "
                                    "for action when an update meets them")
    source: Source

    @model_validator(mode="after")
    def _references(self) -> Protocol:
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"research question ids repeat: {ids}")
        cats = [c.id for c in self.arm_categories]
        if len(set(cats)) != len(cats):
            raise ValueError(f"arm category ids repeat: {cats}")
        for where, q in ([("arm_categories", c.question) for c in self.arm_categories]
                         + [("tables", t.question) for t in self.tables]
                         + [("critical_outcomes", c.question) for c in self.critical_outcomes]):
            if q not in ids:
                raise ValueError(f"{where}: unknown question {q!r} (questions: {', '.join(ids)})")
        pops = self.vocabularies.get("population")
        named = [p for t in self.tables for p in (t.populations or []) + t.exclude_populations]
        named += self.kept_apart.populations if self.kept_apart else []
        named += self.indirect.populations if self.indirect else []
        if self.indirectness is not None:
            named += self.indirectness.direct
        if pops is not None:
            for p in named:
                if p not in pops.values:
                    raise ValueError(f"unknown population {p!r} (vocabularies.population: "
                                     f"{', '.join(pops.values)})")
        for rule in self.indirectness.rules if self.indirectness is not None else []:
            for col in VOCABULARY_FIELDS:
                value, voc = getattr(rule, col), self.vocabularies.get(col)  # type: ignore
                if value is not None and voc is not None and value not in voc.values:
                    raise ValueError(f"indirectness rule: unknown {col} {value!r} "
                                     f"(vocabularies.{col}: {', '.join(voc.values)})")
        qc = [c.question for c in self.critical_outcomes]
        if len(set(qc)) != len(qc):
            raise ValueError(f"critical_outcomes: a question is listed twice ({qc})")
        return self

    def critical(self, qid: str) -> CriticalOutcome | None:
        """The critical outcomes declared for question ``qid`` (None when none are)."""
        return next((c for c in self.critical_outcomes if c.question == qid), None)

    def question(self, qid: str) -> ResearchQuestion:
        """The question with id ``qid``."""
        return next(q for q in self.questions if q.id == qid)

    def allowed(self, field: str) -> list[str] | None:
        """The values the protocol allows in ``field``, or None when it declares none."""
        voc = self.vocabularies.get(field)  # type: ignore[call-overload]
        return list(voc.values) if voc is not None else None

    def label(self, field: str) -> str:
        """The protocol's name for a vocabulary column (the column name if none)."""
        voc = self.vocabularies.get(field)  # type: ignore[call-overload]
        return voc.label if voc is not None else field


class Intervention(Strict):
    drug: str
    route: str
    dose: str | None = None
    regimen: str
    duration: str | None = None


class Quality(Strict):
    """A quality rating and the instrument that gave it."""

    instrument: Literal["Health Evidence", "EPHPP", "AMSTAR 2", "RoB 2", "ROBINS-I", "none"]
    rating: Literal["strong", "moderate", "weak", "low", "some concerns", "high", "not rated",
                    # ROBINS-I's and AMSTAR 2's further ratings
                    "serious", "critical", "no information", "critically low"]
    score: int | None = Field(None, description="Health Evidence total (0-10) where reported")
    components: dict[str, Literal["strong", "moderate", "weak"]] = Field(
        default_factory=dict, description="EPHPP component ratings where reported")
    source: Source


class Study(Strict):
    """``studies/<id>.yaml``: one included study, review, overview or guideline."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    label: str = Field(description="short label for tables and plots, e.g. 'Orhurhu 2019'")
    citation: str
    year: int = Field(ge=1700, le=2100, description="publication year")
    kind: StudyKind
    design: str
    country: str | None = None
    evidence_level: EvidenceLevel | None = None
    population: str
    populations: list[str] = Field(min_length=1)
    setting: str | None = None
    n_participants: int | None = Field(None, ge=1)
    n_studies: int | None = Field(None, ge=1)
    intervention: Intervention
    comparator: str
    follow_up: str | None = None
    quality: Quality | None = None
    included_studies: list[str] | None = Field(
        None, description="for reviews: labels of included primary studies where known")
    questions: list[QuestionId]
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
    question: QuestionId
    outcome: str
    comparison: str
    population: str
    route: str
    regimen: str
    window: str
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
    outcome: str = Field(description="e.g. 'any adverse event'")
    category: str = Field(description="an arm category id of the protocol")
    arm: str = Field(description="e.g. 'vaccine', 'placebo'")
    role: Literal["intervention", "control"]
    events: int = Field(ge=0)
    total: int = Field(ge=1)
    population: str
    route: str
    regimen: str
    window: str
    timepoint: str
    definition: str | None = Field(None, description="responder or event definition")
    design: Literal["parallel", "crossover"] = Field(
        "parallel", description="crossover: the arms are periods of the same patients")
    indirect: str | None = Field(None, description="why this arm's population or setting is "
                                 "indirect (left out of the sensitivity analysis)")
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


class JudgementRow(Strict):
    """One row of ``judgements.csv``: a reviewer's GRADE judgement that replaces the proposal.

    It names the graded outcome as the report does: question, outcome and, for review-level
    results, comparison and window (both empty for an outcome pooled from arm-level data,
    whose ``outcome`` is the arm category's title).

    ``domain`` is a GRADE domain, or ``source_certainty``: a review-level estimate is never
    graded above the certainty its source review reported unless such a row (``change`` 0)
    says why; the reason is printed beside the grade.
    """

    question: QuestionId
    outcome: str
    comparison: str | None = None
    window: str | None = None
    domain: str = Field(description="a GRADE domain, e.g. risk_of_bias, imprecision")
    change: int = Field(ge=-3, le=2, description="levels: -1 serious, -2 very serious, +1 up")
    reason: str = Field(min_length=1)
    by: str = Field(description="who judged, e.g. a reviewer's initials")
    date: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$",
                             description="when, as an ISO date (YYYY-MM-DD)")
    source: str | None = Field(None, description="where the reason's facts come from")
    reliability: Reliability | None = None

    @field_validator("date")
    @classmethod
    def _iso_date(cls, v: str | None) -> str | None:
        if v is not None:
            datetime.date.fromisoformat(v)  # a real calendar date, not only its shape
        return v
