"""Subgroup analysis: a model per subgroup and the test for subgroup differences (RevMan's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from metareview._util import html as _html
from metareview._util.textfmt import printout_num, printout_p
from metareview.effects.escalc import EffectSizes
from metareview.errors import InputError
from metareview.models.rma import MetaAnalysis, meta_analysis
from metareview.models.tau2 import check_method


@dataclass(frozen=True, eq=False)
class SubgroupAnalysis:
    """Per-subgroup fits, the overall fit, and the test for subgroup differences.

    The test is Cochran's Q across the subgroup estimates, each weighted by the inverse of its
    squared standard error (each subgroup with its own tau^2), as in RevMan and in metafor's
    ``rma(estimate, sei = se, mods = ~ group, method = "FE")``. ``i2`` is the I^2 of that test.
    """

    by: str
    groups: dict[str, MetaAnalysis]
    overall: MetaAnalysis
    q: float
    df: int
    p: float
    i2: float
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {
            "by": self.by,
            "groups": {name: fit.to_dict() for name, fit in self.groups.items()},
            "overall": self.overall.to_dict(),
            "test_for_subgroup_differences": {
                "q": self.q, "df": self.df, "p": self.p, "i2": self.i2,
            },
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """Readable summary: one block per subgroup, the overall model, then the test."""
        parts = []
        for name, fit in self.groups.items():
            parts += [f"== Subgroup {self.by} = {name} ==", fit.summary(), ""]
        parts += ["== Overall ==", self.overall.summary(), ""]
        p = "< .0001" if self.p < 1e-4 else f"= {self.p:.4f}"
        parts.append(f"Test for subgroup differences: Q(df = {self.df}) = {self.q:.4f}, "
                     f"p-val {p}; I^2 = {self.i2:.1f}%")
        parts += [f"Note: {w}" for w in self.warnings]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        """One row per subgroup and the overall model, then the test for subgroup differences,
        as HTML tables for notebooks (numbers as :meth:`summary`)."""
        o = self.overall
        head = [f"Subgroup analysis by {self.by} ({len(self.groups)} subgroups)",
                f"Measure: {o.measure}; method: {o.method}"]
        rows = [[name, str(f.k), *(printout_num(x) for x in (f.estimate, f.se, f.ci_low,
                                                             f.ci_high)),
                 printout_p(f.p), printout_num(f.tau2), printout_num(f.i2, 2)]
                for name, f in [*self.groups.items(), ("Overall", o)]]
        parts = [
            _html.table([self.by, "k", "estimate", "se", "ci.lb", "ci.ub", "pval", "tau²",
                         "I² (%)"], rows, caption="Subgroups"),
            _html.table(["Q", "df", "pval", "I² (%)"],
                        [[printout_num(self.q), str(self.df), printout_p(self.p),
                          printout_num(self.i2, 1)]],
                        row_labels=False, caption="Test for subgroup differences"),
        ]
        return _html.block(head, parts, [f"Note: {w}" for w in self.warnings])


def subgroup_analysis(
    es: EffectSizes, by: str, method: str = "REML", test: str = "z", level: float = 95
) -> SubgroupAnalysis:
    """Fit the model within each level of ``by`` and test whether the subgroups differ.

    Parameters
    ----------
    es : EffectSizes
        Effect sizes; ``by`` must be a column of ``es.data``.
    by : str
        Column defining the subgroups (levels in order of first appearance, as RevMan lists them).
    method, test, level
        As :func:`~metareview.meta_analysis`. A subgroup with too few studies for the chosen
        method and test (a single study, say) is fitted as a fixed-effect model with a z test,
        and a warning says so.
    """
    if by not in es.data.columns:
        raise InputError(f"{es.source or 'data'}: missing column {by} (named as the subgroup)")
    raw = es.data[by]
    missing = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
    warnings: list[str] = []
    if missing.any():
        gone = [es.study[i] for i in np.flatnonzero(missing)]
        warnings.append(f"studies with no {by} left out: {'; '.join(gone)}")
    labels = raw.astype(str).to_numpy()
    levels = list(pd.unique(labels[~missing]))
    if len(levels) < 2:
        raise InputError(f"{es.source or 'data'}, column {by}: subgroup analysis needs at least "
                         f"two subgroups (found {len(levels)})")
    groups: dict[str, MetaAnalysis] = {}
    for lev in levels:
        sub = es.subset(labels == lev)
        try:
            groups[lev] = meta_analysis(sub, method=method, test=test, level=level)
        except InputError:
            if not check_method(method).random_effects:
                raise
            groups[lev] = meta_analysis(sub, method="FE", test="z", level=level)
            warnings.append(f"subgroup {by} = {lev} has k = {sub.k}: fitted as fixed-effect")
    overall = meta_analysis(es.subset(~missing), method=method, test=test, level=level)
    q, df, p, i2 = difference_test(list(groups.values()))
    return SubgroupAnalysis(by, groups, overall, q, df, p, i2, tuple(warnings))


def difference_test(fits: Sequence[MetaAnalysis]) -> tuple[float, int, float, float]:
    """Test for subgroup differences from fitted subgroup models.

    Cochran's Q of the subgroup estimates with inverse-variance weights ``1/se^2`` (RevMan's
    test; metafor's ``rma(est, sei=se, mods=~group, method="FE")``), its df, p-value and I^2.
    """
    est = np.array([g.estimate for g in fits])
    w = 1 / np.array([g.se for g in fits]) ** 2
    pooled = np.sum(w * est) / np.sum(w)
    q = float(np.sum(w * (est - pooled) ** 2))
    df = len(fits) - 1
    p = float(special.chdtrc(df, q)) if df > 0 else float("nan")  # scipy.stats.chi2.sf(q, df)
    i2 = max(0.0, 100 * (q - df) / q) if q > 0 else 0.0
    return q, df, p, i2
