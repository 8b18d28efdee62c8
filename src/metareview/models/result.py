"""The result of a meta-analysis (:class:`MetaAnalysis`), shared by every method.

Inverse-variance fits (:mod:`metareview.models.rma`) and Mantel-Haenszel / Peto fits
(:mod:`metareview.models.mh`) both return it; what kind of model a result is comes from the
method's entry in :data:`metareview.models.tau2.ESTIMATORS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from metareview._util import html as _html
from metareview._util.jsonable import jsonable
from metareview._util.textfmt import printout_num, printout_p, signif_stars
from metareview.effects.escalc import EffectSizes
from metareview.effects.measures import back_transform, measure_label
from metareview.models.tau2 import Estimator, Tau2Estimate, estimator


@dataclass(frozen=True, eq=False)
class MetaAnalysis:
    """A fitted meta-analysis or meta-regression.

    Scalar fields describe the first coefficient (the pooled effect, or the intercept of a
    meta-regression); the ``coef_*`` arrays hold every coefficient, intercept first. Effects are
    on the analysis scale (log scale for ratios); :attr:`back_transformed` gives the natural
    scale. Heterogeneity statistics follow metafor: ``q`` is Cochran's Q (QE, the residual
    heterogeneity with moderators), ``i2`` and ``h2`` are computed from tau^2 for random-effects
    models and from Q for the fixed-effect model.
    """

    measure: str
    method: str
    test: str
    level: float
    k: int
    estimate: float
    se: float
    stat: float
    p: float
    ci_low: float
    ci_high: float
    tau2: float
    se_tau2: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_p: float
    pi_low: float
    pi_high: float
    weights: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    study: tuple[str, ...]
    coef_names: tuple[str, ...] = ("intrcpt",)
    coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef_se: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef_stat: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef_p: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef_ci_low: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef_ci_high: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vcov: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    X: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    qm: float = np.nan
    qm_df: tuple[int, int | None] = (0, None)
    qm_p: float = np.nan
    r2: float = np.nan
    df: int | None = None
    ll_ml: float = np.nan
    ll_reml: float = np.nan
    vt: float = np.nan
    s2w: float = 1.0
    tau2_fit: Tau2Estimate | None = None
    effects: EffectSizes | None = None
    mods: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    # ---- derived -------------------------------------------------------------------------
    @property
    def p_coef(self) -> int:
        """Number of coefficients."""
        return len(self.coef)

    @property
    def tau(self) -> float:
        """Square root of tau^2."""
        return float(np.sqrt(self.tau2))

    @property
    def estimator(self) -> Estimator:
        """The method's entry in the registry :data:`~metareview.models.tau2.ESTIMATORS`."""
        return estimator(self.method)

    @property
    def is_inverse_variance(self) -> bool:
        """Whether studies are pooled with inverse-variance weights (FE and the tau^2
        estimators: metafor's ``rma.uni``), not from the 2x2 tables (MH, Peto)."""
        return self.estimator.inverse_variance

    @property
    def is_random_effects(self) -> bool:
        """Whether the model has a between-study variance component tau^2."""
        return self.estimator.random_effects

    @property
    def is_random(self) -> bool:
        """Alias of :attr:`is_random_effects`."""
        return self.is_random_effects

    @property
    def intercept_only(self) -> bool:
        """Whether the model has no moderators."""
        return self.p_coef == 1

    @property
    def stat_name(self) -> str:
        """``"z"`` for normal-theory tests, ``"t"`` for t and Knapp-Hartung."""
        return "t" if self.test in ("t", "knha") else "z"

    @property
    def back_transformed(self) -> dict[str, float] | None:
        """Estimate, CI and PI on the natural scale (exp for ratios; metafor's transf.*)."""
        ni = None
        if self.measure == "PFT" and self.effects is not None:
            ni = self.effects.arms.get("ni")
        if self.measure == "PFT" and ni is None:
            return None
        bt = back_transform(self.measure, ni)
        if bt is None or not self.intercept_only:
            return None
        vals = {
            "estimate": self.estimate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "pi_low": self.pi_low,
            "pi_high": self.pi_high,
        }
        out: dict[str, float] = {"scale": bt.label}  # type: ignore[dict-item]
        out.update({k: float(bt.func(np.array([v]))[0]) for k, v in vals.items()})
        return out

    def coefficients(self) -> pd.DataFrame:
        """Coefficient table like metafor's ``coef(summary(res))``."""
        return pd.DataFrame(
            {
                "estimate": self.coef,
                "se": self.coef_se,
                self.stat_name + "val": self.coef_stat,
                "pval": self.coef_p,
                "ci_low": self.coef_ci_low,
                "ci_high": self.coef_ci_high,
            },
            index=list(self.coef_names),
        )

    # ---- output --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values; the CLI's ``--json`` prints exactly this."""

        def num(x):
            if x is None:
                return None
            x = float(x)
            return None if np.isnan(x) else x

        out: dict[str, Any] = {
            "measure": self.measure,
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "k": self.k,
            "estimate": num(self.estimate),
            "se": num(self.se),
            "stat": num(self.stat),
            "p": num(self.p),
            "ci_low": num(self.ci_low),
            "ci_high": num(self.ci_high),
            "tau2": num(self.tau2),
            "se_tau2": num(self.se_tau2),
            "tau": num(self.tau),
            "i2": num(self.i2),
            "h2": num(self.h2),
            "q": num(self.q),
            "q_df": self.q_df,
            "q_p": num(self.q_p),
            "pi_low": num(self.pi_low),
            "pi_high": num(self.pi_high),
            "df": self.df,
            "back_transformed": self.back_transformed,
            "studies": [
                {"study": s, "yi": num(y), "vi": num(v), "weight": num(w)}
                for s, y, v, w in zip(self.study, self.yi, self.vi, self.weights, strict=True)
            ],
            "warnings": list(self.warnings),
        }
        if not self.intercept_only:
            out["coefficients"] = [
                {
                    "name": n,
                    "estimate": num(b),
                    "se": num(s),
                    "stat": num(z),
                    "p": num(pv),
                    "ci_low": num(lo),
                    "ci_high": num(hi),
                }
                for n, b, s, z, pv, lo, hi in zip(
                    self.coef_names, self.coef, self.coef_se, self.coef_stat, self.coef_p,
                    self.coef_ci_low, self.coef_ci_high, strict=True,
                )
            ]
            out["qm"] = num(self.qm)
            out["qm_df"] = list(self.qm_df)
            out["qm_p"] = num(self.qm_p)
            out["r2"] = num(self.r2)
        out.update({k: v for k, v in self.extra.items() if not k.startswith("_")})
        return jsonable(out)

    def summary(self) -> str:
        """A readable summary in the layout of metafor's ``print(res)``."""
        lines: list[str] = []
        kind = self.estimator.model_label
        if not self.intercept_only:
            kind = "Mixed-Effects" if self.is_random else "Fixed-Effects with Moderators"
        head = f"{kind} Model (k = {self.k}"
        head += f"; tau^2 estimator: {self.method})" if self.is_random else ")"
        lines += [head, f"Measure: {self.measure} ({measure_label(self.measure)})", ""]
        resid = "" if self.intercept_only else "residual "
        if self.is_random:
            lines += [
                f"tau^2 (estimated amount of {resid}heterogeneity): "
                f"{printout_num(self.tau2)} (SE = {printout_num(self.se_tau2)})",
                f"tau (square root of estimated tau^2 value):  {printout_num(self.tau)}",
            ]
        lines += [
            f"I^2 ({resid}heterogeneity / unaccounted variability): {self.i2:.2f}%",
            f"H^2 (unaccounted variability / sampling variability): {self.h2:.2f}",
        ]
        if not self.intercept_only and self.is_random and not np.isnan(self.r2):
            lines.append(f"R^2 (amount of heterogeneity accounted for): {self.r2:.2f}%")
        lines += ["", f"Test for {'Residual ' if resid else ''}Heterogeneity:",
                  f"Q{'E' if resid else ''}(df = {self.q_df}) = {self.q:.4f}, "
                  f"p-val {_p_eq(self.q_p)}", ""]
        if not self.intercept_only:
            m, ddf = self.qm_df
            if ddf is None:
                lines.append(f"Test of Moderators (coefficients 2:{self.p_coef}):")
                lines.append(f"QM(df = {m}) = {self.qm:.4f}, p-val {_p_eq(self.qm_p)}")
            else:
                lines.append(f"Test of Moderators (coefficients 2:{self.p_coef}):")
                lines.append(f"F(df1 = {m}, df2 = {ddf}) = {self.qm:.4f}, p-val {_p_eq(self.qm_p)}")
            lines.append("")
        lines.append("Model Results:")
        lines.append("")
        table = self.coefficients()
        names = [""] + [str(n) for n in table.index] if not self.intercept_only else [""]
        header = ["estimate", "se", f"{self.stat_name}val", "pval", "ci.lb", "ci.ub"]
        width = max(len(n) for n in names)
        lines.append(" " * width + " " + " ".join(f"{h:>9}" for h in header))
        for i in range(self.p_coef):
            label = names[i + 1] if not self.intercept_only else ""
            row = [self.coef[i], self.coef_se[i], self.coef_stat[i]]
            cells = [f"{printout_num(x):>9}" for x in row] + [f"{printout_p(self.coef_p[i]):>9}"]
            cells += [f"{printout_num(self.coef_ci_low[i]):>9}",
                      f"{printout_num(self.coef_ci_high[i]):>9}"]
            lines.append(f"{label:<{width}} " + " ".join(cells) + " "
                         + signif_stars(self.coef_p[i]))
        if self.intercept_only and self.is_random:
            lines += ["", f"Prediction interval ({self.level:g}%): "
                      f"{printout_num(self.pi_low)} to {printout_num(self.pi_high)}"]
        bt = self.back_transformed
        if bt is not None:
            lines += ["", f"Back-transformed ({bt['scale']}): {bt['estimate']:.4f} "
                      f"[{bt['ci_low']:.4f}, {bt['ci_high']:.4f}]"
                      + (f"; prediction interval {bt['pi_low']:.4f} to {bt['pi_high']:.4f}"
                         if self.is_random else "")]
        tests = (("mh_stat", "Cochran-Mantel-Haenszel test"), ("tarone", "Tarone's test"))
        for key, label in tests:
            if key in self.extra and self.extra[key] is not None:
                val, pv = self.extra[key], self.extra[key + "_p"]
                lines.append(f"{label}: {val:.4f}, p-val {_p_eq(pv)}")
        lines += ["", "---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
        for w in self.warnings:
            lines.append(f"Note: {w}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """The summary as compact HTML tables, for notebooks (numbers as :meth:`summary`)."""
        kind = self.estimator.model_label
        if not self.intercept_only:
            kind = "Mixed-Effects" if self.is_random else "Fixed-Effects with Moderators"
        head = [f"{kind} Model (k = {self.k}"
                + (f"; tau² estimator: {self.method})" if self.is_random else ")"),
                f"Measure: {self.measure} ({measure_label(self.measure)})"]
        resid = "" if self.intercept_only else "E"
        cols, row = [], []
        if self.is_random:
            cols += ["tau²", "SE(tau²)", "tau"]
            row += [printout_num(self.tau2), printout_num(self.se_tau2), printout_num(self.tau)]
        cols += ["I² (%)", "H²"]
        row += [printout_num(self.i2, 2), printout_num(self.h2, 2)]
        if not self.intercept_only and self.is_random and not np.isnan(self.r2):
            cols.append("R² (%)")
            row.append(printout_num(self.r2, 2))
        cols += [f"Q{resid}", "df", "pval"]
        row += [printout_num(self.q), str(self.q_df), printout_p(self.q_p)]
        parts = [_html.table(cols, [row], row_labels=False,
                             caption=f"{'Residual h' if resid else 'H'}eterogeneity")]
        if not self.intercept_only:
            m, ddf = self.qm_df
            name, dfs = ("QM", [str(m)]) if ddf is None else ("F", [str(m), str(ddf)])
            parts.append(_html.table(
                [name, *(["df"] if ddf is None else ["df1", "df2"]), "pval"],
                [[printout_num(self.qm), *dfs, printout_p(self.qm_p)]], row_labels=False,
                caption=f"Test of moderators (coefficients 2:{self.p_coef})"))
        pi = self.intercept_only and self.is_random
        header = ["", "estimate", "se", f"{self.stat_name}val", "pval", "ci.lb", "ci.ub"]
        header += ["pi.lb", "pi.ub"] if pi else []
        rows = []
        for i in range(self.p_coef):
            rows.append([self.coef_names[i], *(printout_num(x) for x in (
                self.coef[i], self.coef_se[i], self.coef_stat[i])),
                printout_p(self.coef_p[i]), printout_num(self.coef_ci_low[i]),
                printout_num(self.coef_ci_high[i]),
                *((printout_num(self.pi_low), printout_num(self.pi_high)) if pi else ()),
                signif_stars(self.coef_p[i])])
        parts.append(_html.table([*header, ""], rows, caption="Model results"))
        bt = self.back_transformed
        if bt is not None:
            keys = ["estimate", "ci_low", "ci_high"] + (["pi_low", "pi_high"] if pi else [])
            parts.append(_html.table(
                ["estimate", "ci.lb", "ci.ub", "pi.lb", "pi.ub"][:len(keys)],
                [[printout_num(bt[k]) for k in keys]], row_labels=False,
                caption=f"Back-transformed ({bt['scale']})"))
        parts.append(_html.details(f"Studies (k = {self.k}): yi, vi, weight (%)", _html.table(
            ["study", "yi", "vi", "weight (%)"],
            ([s, printout_num(y), printout_num(v), printout_num(w, 2)] for s, y, v, w in zip(
                self.study, self.yi, self.vi, self.weights, strict=True)),
            max_rows=_html.MAX_ROWS, what="studies")))
        notes = [f"{label}: {printout_num(self.extra[key])}, pval "
                 f"{printout_p(self.extra[key + '_p'])}"
                 for key, label in (("mh_stat", "Cochran-Mantel-Haenszel test"),
                                    ("tarone", "Tarone's test"))
                 if self.extra.get(key) is not None]
        notes += [f"Note: {w}" for w in self.warnings]
        return _html.block(head, parts, notes)


def _p_eq(p: float) -> str:
    return printout_p(p, bare=False)


__all__ = ["MetaAnalysis"]
