"""Analyses a review team defines itself: an arm-level outcome, its measure, model, test and
subgroups, with a sensitivity analysis that leaves out the studies at high risk of bias.

The 2×2 tables are built as :func:`~metareview.synthesis.pooling.pool_arms` builds them
(several intervention arms against one control combined or split as the protocol's category
says, Cochrane Handbook 23.3.4), and fitted by the same engine (:func:`meta_analysis`,
:func:`subgroup_analysis`), so an analysis defined here with the protocol's own settings gives
the report's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from metareview.effects.escalc import effect_sizes
from metareview.errors import InputError
from metareview.grade.certainty import ROB_CATEGORIES
from metareview.models.rma import MetaAnalysis, meta_analysis
from metareview.models.subgroup import SubgroupAnalysis, subgroup_analysis
from metareview.studies import ReviewData
from metareview.synthesis.pooling import _comparisons

#: Effect measures for 2×2 tables that an analysis may use.
MEASURES = ("RR", "OR", "RD")
#: Models (metafor's ``method``) and tests offered.
METHODS = ("REML", "DL", "PM", "ML", "HS", "SJ", "FE")
TESTS = ("z", "knha")
#: Arm fields a subgroup analysis may split by (the intervention arms' values per study).
SUBGROUPS = ("route", "population", "regimen", "window", "timepoint", "design")


@dataclass(frozen=True)
class AnalysisSpec:
    """What to pool: an arm category of the protocol and how.

    Raises
    ------
    InputError
        A measure, method, test or subgroup not offered.
    """

    category: str
    measure: str = "RR"
    method: str = "REML"
    test: str = "z"
    subgroup: str | None = None
    exclude_high_rob: bool = False

    def __post_init__(self) -> None:
        for name, value, allowed in (("measure", self.measure, MEASURES),
                                     ("method", self.method, METHODS),
                                     ("test", self.test, TESTS)):
            if value not in allowed:
                raise InputError(f"{name} {value!r}: one of {', '.join(allowed)}")
        if self.subgroup is not None and self.subgroup not in SUBGROUPS:
            raise InputError(f"subgroup {self.subgroup!r}: one of {', '.join(SUBGROUPS)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"category": self.category, "measure": self.measure, "method": self.method,
                "test": self.test, "subgroup": self.subgroup,
                "exclude_high_rob": self.exclude_high_rob}


@dataclass(frozen=True, eq=False)
class CustomAnalysis:
    """The result of an :class:`AnalysisSpec` on a review's data.

    Attributes
    ----------
    fit : MetaAnalysis or None
        The pooled model (None when fewer than two studies have both arms).
    subgroups : SubgroupAnalysis or None
        Fits per subgroup and the test of their difference, when a subgroup was asked for
        and there are two subgroups or more.
    left_out : tuple of (str, str)
        Studies left out by the sensitivity analysis, with their rating.
    risk_of_bias : dict
        Each pooled study's risk-of-bias category (``not rated`` when the data hold none).
    """

    spec: AnalysisSpec
    title: str
    fit: MetaAnalysis | None
    subgroups: SubgroupAnalysis | None
    studies: tuple[str, ...]
    left_out: tuple[tuple[str, str], ...]
    risk_of_bias: dict[str, str]
    not_pooled: str | None = None
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """A few lines for people."""
        s = self.spec
        head = (f"{self.title}: {s.measure}, {s.method}, test {s.test}"
                + (f", by {s.subgroup}" if s.subgroup else "")
                + (", without studies at high risk of bias" if s.exclude_high_rob else ""))
        lines = [head]
        if self.fit is None:
            lines.append(f"  not pooled: {self.not_pooled}")
        else:
            bt = self.fit.back_transformed or {}
            lines.append(f"  {s.measure} {bt.get('estimate', self.fit.estimate):.4g} "
                         f"[{bt.get('ci_low', self.fit.ci_low):.4g}, "
                         f"{bt.get('ci_high', self.fit.ci_high):.4g}], k = {self.fit.k}, "
                         f"tau² = {self.fit.tau2:.4g}, I² = {self.fit.i2:.1f}%")
        lines += [f"  left out: {who} ({why})" for who, why in self.left_out]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"spec": self.spec.to_dict(), "title": self.title,
                "fit": None if self.fit is None else self.fit.to_dict(),
                "subgroups": None if self.subgroups is None else self.subgroups.to_dict(),
                "studies": list(self.studies),
                "left_out": [{"study": w, "why": y} for w, y in self.left_out],
                "risk_of_bias": dict(self.risk_of_bias), "not_pooled": self.not_pooled,
                "notes": list(self.notes)}


def rob_category(review: ReviewData, study: str) -> str:
    """A study's risk of bias as ``low``, ``some concerns``, ``high`` or ``not rated``, from
    its quality rating where the instrument rates risk of bias (RoB 2, ROBINS-I)."""
    q = review.studies[study].quality
    if q is None or q.instrument not in ("RoB 2", "ROBINS-I"):
        return "not rated"
    return ROB_CATEGORIES.get(q.rating, "not rated")


def run_analysis(review: ReviewData, spec: AnalysisSpec) -> CustomAnalysis:
    """Fit ``spec`` on the review's arm-level data.

    Raises
    ------
    InputError
        The category is not one of the protocol's, or no study has arms in it.
    """
    cats = {c.id: c for c in review.protocol.arm_categories}
    if spec.category not in cats:
        raise InputError(f"outcome {spec.category!r}: not an arm category of the protocol "
                         f"({', '.join(cats) or 'none'})")
    category = cats[spec.category]
    rows = [a.model_dump() for a in review.arms if a.category == spec.category]
    if not rows:
        raise InputError(f"{category.title}: no study has arm-level data for it yet")
    df = pd.DataFrame(rows)
    pairs: list[dict[str, Any]] = []
    left_out: list[tuple[str, str]] = []
    rob: dict[str, str] = {}
    notes: list[str] = []
    for sid, g in df.groupby("study", sort=True):
        label = review.studies[sid].label
        iv, ct = g[g.role == "intervention"], g[g.role == "control"]
        if iv.empty or ct.empty:
            continue
        rob[label] = rob_category(review, sid)
        if spec.exclude_high_rob and rob[label] == "high":
            q = review.studies[sid].quality
            left_out.append((label, f"{q.instrument}: {q.rating}" if q else "high"))
            continue
        made = _comparisons(label, sid, iv, ct, category.multi_arm)
        if spec.subgroup is not None:
            values = sorted({str(v) for v in iv[spec.subgroup]})
            for m in made:
                m["subgroup"] = " / ".join(values)
        pairs += made
    if spec.exclude_high_rob and "not rated" in rob.values():
        unrated = sorted(k for k, v in rob.items() if v == "not rated")
        notes.append(f"kept, with no risk-of-bias rating: {', '.join(unrated)}")
    studies = tuple(dict.fromkeys(p["study"] for p in pairs))
    n_trials = len({p["id"] for p in pairs})
    if n_trials < 2:
        return CustomAnalysis(spec, category.title, None, None, studies, tuple(left_out), rob,
                              f"{n_trials} stud{'y' if n_trials == 1 else 'ies'} with both arms "
                              "(pooling needs 2)", tuple(notes))
    data = pd.DataFrame(pairs).drop(columns=["id"])
    es = effect_sizes(data, spec.measure, source=f"arms ({category.title})")
    fit = meta_analysis(es, method=spec.method, test=spec.test)
    sub = None
    if spec.subgroup is not None:
        if data["subgroup"].nunique() >= 2:
            sub = subgroup_analysis(es, "subgroup", method=spec.method, test=spec.test)
        else:
            notes.append(f"one {spec.subgroup} only ({data['subgroup'].iloc[0]}): "
                         "no subgroups to compare")
    return CustomAnalysis(spec, category.title, fit, sub, studies, tuple(left_out), rob,
                          None, tuple(notes))


__all__ = ["MEASURES", "METHODS", "SUBGROUPS", "TESTS", "AnalysisSpec", "CustomAnalysis",
           "rob_category", "run_analysis"]
