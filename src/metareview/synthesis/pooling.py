"""Pooling a review's arm-level data with the engine: risk ratios and pooled proportions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from metareview.effects.escalc import effect_sizes
from metareview.errors import InputError
from metareview.models.rma import MetaAnalysis, meta_analysis
from metareview.studies import ReviewData


@dataclass(frozen=True, eq=False)
class PooledOutcome:
    """One outcome pooled from arm-level data."""

    category: str
    title: str
    question: str
    ratio: MetaAnalysis | None  # RR, intervention vs control, studies with both arms
    proportion: MetaAnalysis | None  # pooled proportion in intervention arms (logit)
    studies: tuple[str, ...]  # study ids contributing
    sources: tuple[str, ...]

    def fits(self) -> tuple[tuple[str, MetaAnalysis], ...]:
        """The pooled fits there are: ``("ratio", fit)`` and ``("proportion", fit)``."""
        return tuple((kind, fit) for kind, fit in (("ratio", self.ratio),
                                                   ("proportion", self.proportion))
                     if fit is not None)

    def summary(self) -> str:
        """One line per pooled fit, for people."""
        lines = [f"{self.title} ({self.category}, question {self.question}): "
                 f"{len(self.studies)} studies"]
        for kind, fit in self.fits():
            bt = fit.back_transformed or {}
            lines.append(f"  {kind}: {fit.measure} {bt.get('estimate', fit.estimate):.4g} "
                         f"[{bt.get('ci_low', fit.ci_low):.4g}, "
                         f"{bt.get('ci_high', fit.ci_high):.4g}], k = {fit.k}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"category": self.category, "title": self.title, "question": self.question,
                "studies": list(self.studies), "sources": list(self.sources),
                **{kind: fit.to_dict() for kind, fit in self.fits()}}


def _combine(arms: pd.DataFrame) -> tuple[int, int]:
    """Sum arms of one role in one study (Cochrane Handbook 23.3.4: combine groups)."""
    return int(arms.events.sum()), int(arms.total.sum())


def pool_arms(review: ReviewData, method: str = "REML") -> tuple[PooledOutcome, ...]:
    """Pool ``arms.csv`` by the protocol's arm categories, in the protocol's order.

    For each category, studies with both an intervention and a control arm give a risk ratio
    (several arms of one role in a study are combined); the intervention arms of all studies
    give a pooled proportion (logit scale, back-transformed). A pooled estimate needs at least
    two studies; with fewer the outcome is still listed with its numbers.
    """
    if not review.arms:
        return ()
    df = pd.DataFrame([a.model_dump() for a in review.arms])
    out = []
    for category in review.protocol.arm_categories:
        cat = category.id
        sub = df[df.category == cat]
        if sub.empty:
            continue
        pairs, singles = [], []
        for sid, g in sub.groupby("study", sort=True):
            label = review.studies[sid].label
            iv, ct = g[g.role == "intervention"], g[g.role == "control"]
            if not iv.empty:
                e, n = _combine(iv)
                singles.append({"study": label, "xi": e, "ni": n, "id": sid})
                if not ct.empty:
                    ce, cn = _combine(ct)
                    pairs.append({"study": label, "ai": e, "n1i": n, "ci": ce, "n2i": cn,
                                  "id": sid})
        ratio = _fit(pd.DataFrame(pairs), "RR", method) if len(pairs) >= 2 else None
        prop = _fit(pd.DataFrame(singles), "PLO", method) if len(singles) >= 2 else None
        ids = tuple(sorted({p["id"] for p in pairs} | {s["id"] for s in singles}))
        out.append(PooledOutcome(cat, category.title, category.question, ratio, prop, ids,
                                 tuple(sorted(set(sub.source), key=_natural))))
    return tuple(out)


def _natural(text: str) -> list[tuple[int, int | str]]:
    """Sort key reading digit runs as numbers: 'row 2' before 'row 10'."""
    return [(0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", text)]


def _fit(df: pd.DataFrame, measure: str, method: str) -> MetaAnalysis | None:
    try:
        es = effect_sizes(df.drop(columns=["id"]), measure, source="arms.csv")
        return meta_analysis(es, method=method)
    except InputError:
        # e.g. every study double-zero: nothing to pool; the numbers stay in the tables.
        return None
