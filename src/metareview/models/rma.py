"""Fixed- and random-effects meta-analysis and meta-regression (metafor's ``rma.uni``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from metareview._util.jsonable import jsonable
from metareview._util.textfmt import printout_num as fmt_num
from metareview._util.textfmt import printout_p as fmt_p
from metareview._util.textfmt import signif_stars as stars
from metareview.effects.escalc import EffectSizes
from metareview.effects.measures import LABELS, back_transform
from metareview.errors import InputError, where
from metareview.models.core import METHODS, TESTS, fit_groups
from metareview.models.tau2 import Tau2Estimate


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
    def is_random(self) -> bool:
        """Whether the model has a between-study variance component."""
        return self.method not in ("FE", "MH", "PETO")

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
        kind = {
            "FE": "Fixed-Effects",
            "MH": "Fixed-Effects (Mantel-Haenszel)",
            "PETO": "Fixed-Effects (Peto)",
        }.get(self.method, "Random-Effects")
        if not self.intercept_only:
            kind = "Mixed-Effects" if self.is_random else "Fixed-Effects with Moderators"
        head = f"{kind} Model (k = {self.k}"
        head += f"; tau^2 estimator: {self.method})" if self.is_random else ")"
        lines += [head, f"Measure: {self.measure} ({LABELS.get(self.measure, self.measure)})", ""]
        resid = "" if self.intercept_only else "residual "
        if self.is_random:
            lines += [
                f"tau^2 (estimated amount of {resid}heterogeneity): "
                f"{fmt_num(self.tau2)} (SE = {fmt_num(self.se_tau2)})",
                f"tau (square root of estimated tau^2 value):  {fmt_num(self.tau)}",
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
            cells = [f"{fmt_num(x):>9}" for x in row] + [f"{fmt_p(self.coef_p[i]):>9}"]
            cells += [f"{fmt_num(self.coef_ci_low[i]):>9}", f"{fmt_num(self.coef_ci_high[i]):>9}"]
            lines.append(f"{label:<{width}} " + " ".join(cells) + " " + stars(self.coef_p[i]))
        if self.intercept_only and self.is_random:
            lines += ["", f"Prediction interval ({self.level:g}%): "
                      f"{fmt_num(self.pi_low)} to {fmt_num(self.pi_high)}"]
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


def _p_eq(p: float) -> str:
    return fmt_p(p, bare=False)


# ---------------------------------------------------------------------------------------------
def design_matrix(
    data: pd.DataFrame, mods: Sequence[str], *, source: str | None = None,
    categorical: Sequence[str] = (),
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Model matrix for moderators: intercept, numeric columns, and dummies for categories.

    A column is categorical if named in ``categorical`` or not numeric. Levels are sorted
    (as R's ``factor``) and the first is the reference, so coefficients match metafor's
    ``mods = ~ factor(x)``.

    Returns
    -------
    X, names, complete
        The matrix (rows with a missing moderator excluded), coefficient names, and the
        boolean mask of rows used.
    """
    k = len(data)
    cols = [np.ones(k)]
    names = ["intrcpt"]
    complete = np.ones(k, dtype=bool)
    for m in mods:
        if m not in data.columns:
            raise InputError(f"{source or 'data'}: missing column {m} (named as a moderator)")
        raw = data[m]
        missing = raw.isna() | (raw.astype(str).str.strip() == "")
        complete &= ~missing.to_numpy()
        numeric = pd.to_numeric(raw, errors="coerce")
        is_cat = m in categorical or bool(((numeric.isna()) & ~missing).any())
        if is_cat:
            levels = sorted({str(v) for v, miss in zip(raw, missing, strict=True) if not miss})
            if len(levels) < 2:
                raise InputError(f"{source or 'data'}, column {m}: a categorical moderator needs "
                                 f"at least two levels (found {len(levels)})")
            for lev in levels[1:]:
                cols.append((raw.astype(str) == lev).to_numpy(dtype=float))
                names.append(f"{m}[{lev}]")
        else:
            cols.append(numeric.to_numpy(dtype=float))
            names.append(m)
    X = np.column_stack(cols)[complete]
    return X, tuple(names), complete


def _check_vi(es: EffectSizes, method: str) -> None:
    bad = np.flatnonzero(~(es.vi > 0))
    if len(bad):
        i = bad[0]
        row = int(es.rows[i]) if len(es.rows) == es.k else None
        raise InputError(f"{where(es.source, row, es.study[i], 'vi')}: sampling variance must be "
                         f"positive for method {method} (got {es.vi[i]:g})")


def meta_analysis(
    es: EffectSizes,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    mods: Sequence[str] | None = None,
    *,
    categorical: Sequence[str] = (),
) -> MetaAnalysis:
    """Fit a fixed- or random-effects meta-analysis, or a meta-regression (``rma``).

    Parameters
    ----------
    es : EffectSizes
        From :func:`~metareview.effect_sizes`.
    method : str
        ``FE`` or a tau^2 estimator: ``DL, REML, ML, PM, HS, SJ, HE, EB``; or ``MH`` /
        ``PETO`` (Mantel-Haenszel and Peto, for 2x2 data; see :mod:`metareview.models.mh`).
    test : str
        ``z`` (normal), ``t`` (t with k - p df) or ``knha`` (Knapp-Hartung).
    level : float
        Confidence level in percent.
    mods : list of str, optional
        Moderator columns of ``es.data``; non-numeric columns become dummy variables.
    categorical : list of str
        Moderators to treat as categorical even if numeric.

    Returns
    -------
    MetaAnalysis
    """
    method = method.upper()
    if method in ("MH", "PETO"):
        from metareview.models.mh import mantel_haenszel, peto

        if mods:
            raise InputError(f"method {method} does not take moderators")
        fn = mantel_haenszel if method == "MH" else peto
        return fn(es, level=level)
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of "
                         f"{', '.join((*METHODS, 'MH', 'PETO'))}")
    test = test.lower()
    if test not in TESTS:
        raise InputError(f"unknown test {test!r}; choose z, t or knha")
    if not 0 < level < 100:
        raise InputError(f"level must be between 0 and 100 (got {level:g})")
    warnings = list(es.warnings)
    mods = tuple(mods or ())
    if mods:
        X, names, complete = design_matrix(es.data, mods, source=es.source,
                                           categorical=categorical)
        if not complete.all():
            gone = [es.study[i] for i in np.flatnonzero(~complete)]
            warnings.append(f"{len(gone)} stud{'y' if len(gone) == 1 else 'ies'} with a missing "
                            f"moderator left out of the model: {'; '.join(gone)}")
            es = es.subset(complete)
    else:
        X, names = np.ones((es.k, 1)), ("intrcpt",)
    if es.k == 0:
        raise InputError(f"{es.source or 'data'}: no studies to analyse")
    _check_vi(es, method)
    k, p = X.shape
    if np.linalg.matrix_rank(X) < p:
        raise InputError(f"{es.source or 'data'}: moderators {', '.join(mods)} are collinear "
                         "(the model matrix is not of full rank)")
    need = p + (1 if (method != "FE" or test != "z") else 0)
    if k < need:
        raise InputError(
            f"{es.source or 'data'}: k = {k} stud{'y' if k == 1 else 'ies'} is too few for "
            f"method {method} with test {test} and {p} coefficient{'s' if p > 1 else ''} "
            f"(needs at least {need})"
        )
    return fit_design(es, X, names, method, test, level, mods, tuple(warnings))


def fit_design(
    es: EffectSizes,
    X: np.ndarray,
    names: tuple[str, ...],
    method: str,
    test: str,
    level: float,
    mods: tuple[str, ...],
    warnings: tuple[str, ...],
    tau2_fixed: float | None = None,
) -> MetaAnalysis:
    """Fit a model with an explicit design matrix: the numerical core of :func:`meta_analysis`.

    It trusts its inputs (validated effect sizes, a full-rank ``X`` whose first column is the
    intercept, k large enough); diagnostics use it to refit with an added column (Egger's test)
    or on augmented data (trim-and-fill). ``tau2_fixed`` holds tau^2 at a value.
    """
    k, p = X.shape
    res = fit_groups(es.yi, es.vi, [k], X, method=method, test=test, level=level,
                     coef_names=names, tau2=tau2_fixed)
    if res.status[0]:
        raise InputError(f"{es.source or 'data'}: {res.status[0]}")
    t2 = Tau2Estimate(float(res.tau2[0]), float(res.se_tau2[0]), method,
                      bool(res.converged[0]), int(res.iterations[0]), str(res.solver[0]))
    df = None if test == "z" else k - p
    first = {f: float(getattr(res, f)[0, 0]) for f in ("se", "stat", "ci_low", "ci_high")}
    return MetaAnalysis(
        measure=es.measure, method=method, test=test, level=float(level), k=k,
        estimate=float(res.beta[0, 0]), se=first["se"], stat=first["stat"],
        p=float(res.pval[0, 0]), ci_low=first["ci_low"], ci_high=first["ci_high"],
        tau2=t2.tau2, se_tau2=t2.se, i2=float(res.i2[0]), h2=float(res.h2[0]),
        q=float(res.q[0]), q_df=k - p, q_p=float(res.q_p[0]), pi_low=float(res.pi_low[0]),
        pi_high=float(res.pi_high[0]), weights=res.weights, yi=es.yi, vi=es.vi,
        study=es.study, coef_names=names, coef=res.beta[0], coef_se=res.se[0],
        coef_stat=res.stat[0], coef_p=res.pval[0], coef_ci_low=res.ci_low[0],
        coef_ci_high=res.ci_high[0], vcov=res.vcov[0], X=X, qm=float(res.qm[0]),
        qm_df=(p - 1, df), qm_p=float(res.qm_p[0]), r2=float(res.r2[0]), df=df,
        ll_ml=float(res.ll_ml[0]), ll_reml=float(res.ll_reml[0]), vt=float(res.vt[0]),
        s2w=float(res.s2w[0]), tau2_fit=t2, effects=es, mods=mods, warnings=warnings,
    )


def refit(fit: MetaAnalysis, keep: np.ndarray, *, tau2: float | None = None) -> MetaAnalysis:
    """Refit the same model on a subset of studies (used by diagnostics).

    Parameters
    ----------
    fit : MetaAnalysis
        The model to refit.
    keep : ndarray
        Boolean mask or index array of the studies to keep.
    tau2 : float, optional
        Hold tau^2 fixed at this value instead of re-estimating it.
    """
    if fit.effects is None:
        raise ValueError("this result does not carry its effect sizes; cannot refit")
    idx = np.arange(fit.k)[np.asarray(keep)]
    es = fit.effects.subset(idx)
    es = replace(es, warnings=())
    return fit_design(es, fit.X[idx], fit.coef_names, fit.method, fit.test, fit.level, fit.mods, (),
                tau2_fixed=tau2)
