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
class Sensitivity:
    """The risk ratio refitted without some trials (e.g. those with indirect populations)."""

    left_out: tuple[str, ...]  # study ids
    why: tuple[str, ...]  # one reason per study left out
    ratio: MetaAnalysis | None  # None when fewer than two trials remain

    def summary(self) -> str:
        """One line for people."""
        head = "without " + "; ".join(f"{s} ({w})" for s, w in zip(self.left_out, self.why,
                                                                   strict=True))
        if self.ratio is None:
            return f"{head}: too few trials remain to pool"
        bt = self.ratio.back_transformed or {}
        return (f"{head}: RR {bt.get('estimate', self.ratio.estimate):.4g} "
                f"[{bt.get('ci_low', self.ratio.ci_low):.4g}, "
                f"{bt.get('ci_high', self.ratio.ci_high):.4g}], k = {self.ratio.k}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"left_out": list(self.left_out), "why": list(self.why),
                "ratio": None if self.ratio is None else self.ratio.to_dict()}


@dataclass(frozen=True, eq=False)
class PooledOutcome:
    """One outcome pooled from arm-level data.

    ``ratio`` is set only when the category may be pooled and at least its ``min_trials``
    trials have both arms; otherwise ``trials`` holds the trials' own risk ratios (a fixed-effect
    fit used only to draw them, never reported as a pooled result) and ``not_pooled`` says why.
    ``handling`` lists how crossover trials, shared control arms, zero cells and differing
    definitions were dealt with; ``sensitivity`` refits the ratio without indirect trials.
    """

    category: str
    title: str
    question: str
    ratio: MetaAnalysis | None  # RR, intervention vs control, studies with both arms
    proportion: MetaAnalysis | None  # pooled proportion in intervention arms (logit)
    studies: tuple[str, ...]  # study ids contributing
    sources: tuple[str, ...]
    trials: MetaAnalysis | None = None  # the trials' RRs when they are not pooled
    not_pooled: str | None = None
    handling: tuple[str, ...] = ()
    sensitivity: Sensitivity | None = None
    scope: str | None = None
    benefit: bool = False  # events are good: a ratio above 1 favours the intervention

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
        if self.not_pooled:
            lines.append(f"  not pooled: {self.not_pooled}")
        if self.sensitivity is not None:
            lines.append(f"  sensitivity: {self.sensitivity.summary()}")
        lines += [f"  - {h}" for h in self.handling]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"category": self.category, "title": self.title, "question": self.question,
                "studies": list(self.studies), "sources": list(self.sources),
                **{kind: fit.to_dict() for kind, fit in self.fits()},
                "not_pooled": self.not_pooled, "handling": list(self.handling),
                "sensitivity": None if self.sensitivity is None else self.sensitivity.to_dict(),
                "scope": self.scope, "benefit": self.benefit}


def _combine(arms: pd.DataFrame) -> tuple[int, int]:
    """Sum arms of one role in one study (Cochrane Handbook 23.3.4: combine groups)."""
    return int(arms.events.sum()), int(arms.total.sum())


def _comparisons(label: str, sid: str, iv: pd.DataFrame, ct: pd.DataFrame,
                 multi_arm: str) -> list[dict[str, Any]]:
    """A study's 2x2 tables: one with its intervention arms combined, or (``split``) one per
    intervention arm against an equal share of the control's events and total (Handbook
    23.3.4), so the shared control is not counted twice."""
    ce, cn = _combine(ct)
    if multi_arm == "combine" or len(iv) == 1:
        e, n = _combine(iv)
        return [{"study": label, "ai": e, "n1i": n, "ci": ce, "n2i": cn, "id": sid}]
    share = len(iv)
    return [{"study": f"{label} ({arm.arm})", "ai": int(arm.events), "n1i": int(arm.total),
             "ci": ce / share, "n2i": cn / share, "id": sid} for arm in iv.itertuples()]


def pool_arms(review: ReviewData, method: str = "REML") -> tuple[PooledOutcome, ...]:
    """Pool ``arms.csv`` by the protocol's arm categories, in the protocol's order.

    For each category, studies with both an intervention and a control arm give a risk ratio;
    several intervention arms sharing a control are combined or split as the category says
    (``multi_arm``). Crossover trials are analysed as if parallel (Cochrane Handbook 23.2);
    zero cells get 0.5 in every cell of that table and double-zero trials are kept (metafor's
    defaults). The ratio is pooled when the category allows it and at least its ``min_trials``
    trials have both arms (fewer: the trials' own ratios are kept to be shown unpooled); it is
    then refitted without trials whose arms are marked ``indirect``. The intervention arms of
    at least ``min_trials`` studies give a pooled proportion (logit scale, back-transformed).
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
                    pairs += _comparisons(label, sid, iv, ct, category.multi_arm)
        n_trials = len({p["id"] for p in pairs})
        ratio = trials = sens = None
        not_pooled = None
        need = category.min_trials
        if n_trials >= need and category.pool:
            ratio = _fit(pd.DataFrame(pairs), "RR", method)
            sens = _sensitivity(sub, pairs, method)
        elif pairs:
            not_pooled = (f"{n_trials} trial{'' if n_trials == 1 else 's'} with both arms "
                          f"(pooling needs {need})" if category.pool else
                          "the protocol does not pool this category")
            # Fixed effect: only the trials' own RRs are drawn from this fit.
            trials = _fit(pd.DataFrame(pairs), "RR", "FE")
        prop = _fit(pd.DataFrame(singles), "PLO", method) if len(singles) >= need else None
        ids = tuple(sorted({p["id"] for p in pairs} | {s["id"] for s in singles}))
        out.append(PooledOutcome(cat, category.title, category.question, ratio, prop, ids,
                                 tuple(sorted(set(sub.source), key=_natural)), trials,
                                 not_pooled, _handling(review, sub, pairs, category.multi_arm),
                                 sens, category.scope, category.benefit))
    return tuple(out)


def _labels(review: ReviewData, ids: Any) -> str:
    return ", ".join(review.studies[s].label for s in sorted(set(ids)))


def _handling(review: ReviewData, sub: pd.DataFrame, pairs: list[dict[str, Any]],
              multi_arm: str) -> tuple[str, ...]:
    """How the category's data were analysed, in words (for the data's readers and the report)."""
    notes = []
    paired = sub[sub.study.isin({p["id"] for p in pairs})]
    cross = paired[paired.design == "crossover"].study
    if not cross.empty:
        notes.append(f"Crossover trials ({_labels(review, cross)}) analysed as if parallel "
                     "groups (Cochrane Handbook 23.2): each period's counts are an arm. This "
                     "ignores the within-patient correlation, so their confidence intervals are "
                     "too wide and their weights too small: conservative. A paired analysis "
                     "needs the paired (discordant) counts, which the sources do not give.")
    multi = [sid for sid, g in paired.groupby("study") if (g.role == "intervention").sum() > 1]
    if multi:
        how = ("intervention arms combined into one (events and totals summed) against the "
               "shared control" if multi_arm == "combine" else
               "one comparison per intervention arm, the shared control's events and total "
               "split equally between them")
        notes.append(f"Several intervention arms sharing one control ({_labels(review, multi)}):"
                     f" {how} (Cochrane Handbook 23.3.4), so the control is counted once.")
    zero = sorted({p["id"] for p in pairs if 0 in (p["ai"], p["ci"], p["n1i"] - p["ai"],
                                                   p["n2i"] - p["ci"])})
    if zero:
        notes.append(f"Zero cells ({_labels(review, zero)}): 0.5 added to every cell of that "
                     "table; trials with no events in either arm would be kept (metafor's "
                     "defaults).")
    defs = paired.dropna(subset=["definition"]).groupby("definition").study.unique()
    if len(defs) > 1:
        notes.append("Definitions differ: " + "; ".join(
            f"{d} ({_labels(review, ids)})" for d, ids in defs.items()) + ".")
    return tuple(notes)


def _sensitivity(sub: pd.DataFrame, pairs: list[dict[str, Any]],
                 method: str) -> Sensitivity | None:
    """The ratio refitted without trials that have an arm marked ``indirect``."""
    ind = sub[sub.indirect.notna() & sub.study.isin({p["id"] for p in pairs})]
    if ind.empty:
        return None
    why = ind.groupby("study").indirect.first()
    left = tuple(why.index)
    rest = [p for p in pairs if p["id"] not in left]
    fit = (_fit(pd.DataFrame(rest), "RR", method)
           if len({p["id"] for p in rest}) >= 2 else None)
    return Sensitivity(left, tuple(why.values), fit)


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
