"""Pooling a review's arm-level data with the engine: risk ratios and pooled proportions."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from metareview.effects.escalc import effect_sizes
from metareview.errors import InputError
from metareview.models.rma import MetaAnalysis, meta_analysis
from metareview.review.load import Review

CATEGORY_TITLES = {
    "any": "Any adverse event",
    "psychotomimetic": "Psychotomimetic effects",
    "gastrointestinal": "Gastrointestinal effects",
    "cardiovascular": "Cardiovascular effects",
    "responder": "Responders",
    "other": "Other adverse effects",
}


@dataclass(frozen=True, eq=False)
class PooledOutcome:
    """One outcome pooled from arm-level data."""

    category: str
    title: str
    ratio: MetaAnalysis | None  # RR, intervention vs control, studies with both arms
    proportion: MetaAnalysis | None  # pooled proportion in intervention arms (logit)
    studies: tuple[str, ...]  # study ids contributing
    sources: tuple[str, ...]


def _combine(arms: pd.DataFrame) -> tuple[int, int]:
    """Sum arms of one role in one study (Cochrane Handbook 23.3.4: combine groups)."""
    return int(arms.events.sum()), int(arms.total.sum())


def pool_arms(review: Review, method: str = "REML") -> list[PooledOutcome]:
    """Pool ``arms.csv`` by outcome category.

    For each category, studies with both an intervention and a control arm give a risk ratio
    (several arms of one role in a study are combined); the intervention arms of all studies
    give a pooled proportion (logit scale, back-transformed). A pooled estimate needs at least
    two studies; with fewer the outcome is still listed with its numbers.
    """
    if not review.arms:
        return []
    df = pd.DataFrame([a.model_dump() for a in review.arms])
    out = []
    for cat in CATEGORY_TITLES:
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
        out.append(PooledOutcome(cat, CATEGORY_TITLES[cat], ratio, prop, ids,
                                 tuple(sorted(set(sub.source)))))
    return out


def _fit(df: pd.DataFrame, measure: str, method: str) -> MetaAnalysis | None:
    try:
        es = effect_sizes(df.drop(columns=["id"]), measure, source="arms.csv")
        return meta_analysis(es, method=method)
    except InputError:
        # e.g. every study double-zero: nothing to pool; the numbers stay in the tables.
        return None
