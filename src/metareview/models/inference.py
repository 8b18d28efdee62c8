"""Inference on a fitted model: predictions, Wald and likelihood-ratio tests, fit statistics.

metafor's ``predict.rma``, ``anova.rma``, ``fitstats``, ``weights``, ``residuals`` and
``rstandard`` for :class:`~metareview.models.result.MetaAnalysis` results of inverse-variance
models (``rma.uni``: FE and the tau^2 estimators, with or without moderators). Formulas follow
metafor 3.8-1 (Viechtbauer, 2010, J Stat Softw 36(3)); the reference values are in
``tests/reference/inference.R``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from metareview._util import html as _html
from metareview._util.jsonable import jsonable
from metareview._util.textfmt import printout_num, printout_p
from metareview.effects.measures import back_transform
from metareview.errors import InputError
from metareview.models.coefficients import select_btt as _btt
from metareview.models.criteria import fit_criteria
from metareview.models.kinds import is_multilevel, require_univariate
from metareview.models.result import MetaAnalysis

_LOG2PI = float(np.log(2 * np.pi))

Transform = str | Callable[[np.ndarray], np.ndarray] | None


def _check_iv(fit: MetaAnalysis, what: str) -> None:
    if not fit.is_inverse_variance:
        raise InputError(f"{what} needs an inverse-variance model (FE or a tau^2 estimator), "
                         f"not {fit.method}")


def _crit(fit: MetaAnalysis, level: float) -> float:
    """The two-sided critical value of the fit's test (t for t and knha, with k - p df, or a
    multilevel fit's smallest coefficient df, as metafor's predict)."""
    alpha = 1 - level / 100
    if fit.test in ("t", "knha"):
        coef_df = getattr(fit, "coef_df", None)
        ddf = fit.k - fit.p_coef if coef_df is None else float(np.min(coef_df))
        return float(-special.stdtrit(ddf, alpha / 2))
    return float(-special.ndtri(alpha / 2))


def _pvalue(fit: MetaAnalysis, stat: np.ndarray, ddf: np.ndarray) -> np.ndarray:
    if fit.test in ("t", "knha"):
        return 2 * special.stdtr(ddf, -np.abs(stat))
    return 2 * special.ndtr(-np.abs(stat))


# ---- predict ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Predictions:
    """Predicted effects at chosen moderator values (metafor's ``predict.rma``).

    ``pred`` with its standard error ``se`` (``NaN`` when ``transf`` is applied, as metafor),
    the confidence interval ``ci_low, ci_high`` and the prediction interval ``pi_low, pi_high``
    (which adds tau^2; NaN for a fixed-effect model). ``X`` holds the rows of the
    model matrix the predictions are for, ``labels`` one name per row.
    """

    pred: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    X: np.ndarray
    coef_names: tuple[str, ...]
    labels: tuple[str, ...]
    level: float
    test: str
    transf: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values: one entry per prediction with its moderator values."""
        rows = []
        for i, lab in enumerate(self.labels):
            row: dict[str, Any] = {"label": lab}
            row.update({n: self.X[i, j] for j, n in enumerate(self.coef_names)
                        if n != "intrcpt"})
            row.update(pred=self.pred[i], se=self.se[i], ci_low=self.ci_low[i],
                       ci_high=self.ci_high[i], pi_low=self.pi_low[i], pi_high=self.pi_high[i])
            rows.append(row)
        return jsonable({"level": self.level, "test": self.test, "transf": self.transf,
                         "predictions": rows})

    def summary(self) -> str:
        """The table metafor prints for ``predict(res, newmods=...)``."""
        mods = [(j, n) for j, n in enumerate(self.coef_names) if n != "intrcpt"]
        cols: list[tuple[str, list[str]]] = [("", list(self.labels))]
        cols += [(h, [printout_num(x) for x in v]) for h, v in (
            ("pred", self.pred), ("se", self.se), ("ci.lb", self.ci_low),
            ("ci.ub", self.ci_high), ("pi.lb", self.pi_low), ("pi.ub", self.pi_high))
            if not (h == "se" and self.transf is not None)
            and not (h.startswith("pi") and np.isnan(v).all())]
        cols += [(f"X.{n}", [f"{x:g}" for x in self.X[:, j]]) for j, n in mods]
        widths = [max(len(h), *(len(c) for c in cells)) for h, cells in cols]
        lines = [" ".join(f"{h:>{w}}" for (h, _), w in zip(cols, widths, strict=True))]
        for i in range(len(self.labels)):
            lines.append(" ".join(f"{cells[i]:>{w}}" if j else f"{cells[i]:<{w}}"
                                  for j, ((_, cells), w) in enumerate(zip(cols, widths,
                                                                          strict=True))))
        if self.transf is not None:
            lines.append(f"(back-transformed: {self.transf}; se not shown)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """The table of :meth:`summary` in HTML, for notebooks."""
        mods = [(j, n) for j, n in enumerate(self.coef_names) if n != "intrcpt"]
        cols = [(h, v) for h, v in (("pred", self.pred), ("se", self.se), ("ci.lb", self.ci_low),
                                    ("ci.ub", self.ci_high), ("pi.lb", self.pi_low),
                                    ("pi.ub", self.pi_high))
                if not (h == "se" and self.transf is not None)
                and not (h.startswith("pi") and np.isnan(v).all())]
        rows = [[lab, *(printout_num(v[i]) for _, v in cols),
                 *(f"{self.X[i, j]:g}" for j, _ in mods)] for i, lab in enumerate(self.labels)]
        notes = ([f"Back-transformed: {self.transf}; se not shown."]
                 if self.transf is not None else [])
        return _html.block([f"Predicted values ({self.level:g}% intervals)"], [_html.table(
            ["", *(h for h, _ in cols), *(f"X.{n}" for _, n in mods)], rows,
            caption="Predictions")], notes)


def _transform(fit: MetaAnalysis, transf: Transform) -> tuple[Callable | None, str | None]:
    if transf is None:
        return None, None
    if callable(transf):
        return transf, getattr(transf, "__name__", "function")
    if transf == "exp":
        return np.exp, "exp"
    if transf == "auto":
        ni = fit.effects.arms.get("ni") if fit.effects is not None else None
        try:
            bt = back_transform(fit.measure, ni)
        except ValueError as exc:
            raise InputError(f"transf='auto': {exc}") from None
        if bt is None:
            return None, None
        return bt.func, bt.label
    raise InputError(f"unknown transf {transf!r}; give 'exp', 'auto' (the measure's "
                     "back-transformation) or a function")


def _newmods_rows(fit: MetaAnalysis, newmods: Any, intercept: bool) -> np.ndarray:
    """Model-matrix rows for predictions at ``newmods``: one value per moderator, and the
    intercept column (1, or 0 with ``intercept=False``) added when the model has one."""
    p = fit.p_coef
    has_intercept = getattr(fit, "intercept", True)
    want = p - 1 if has_intercept else p
    if want == 0:
        raise InputError("newmods given but the model has no moderators")
    nm = np.asarray(newmods, dtype=float)
    if nm.ndim == 1:
        nm = nm[:, None] if want == 1 else nm[None, :]
    # metafor's rma.mv also takes rows that include the intercept column
    whole = is_multilevel(fit) and has_intercept and nm.ndim == 2 and nm.shape[1] == p
    if not whole and (nm.ndim != 2 or nm.shape[1] != want):
        names = fit.coef_names[1:] if has_intercept else fit.coef_names
        raise InputError(f"newmods: give {want} value{'s' if want != 1 else ''} per prediction "
                         f"({', '.join(names)}); got {nm.shape[-1]}")
    if not np.isfinite(nm).all():
        raise InputError("newmods: every moderator value must be a finite number")
    if has_intercept and not whole:
        nm = np.column_stack([np.full(len(nm), 1.0 if intercept else 0.0), nm])
    return nm


def predict(
    fit: MetaAnalysis,
    newmods: Sequence[float] | Sequence[Sequence[float]] | np.ndarray | None = None,
    *,
    intercept: bool = True,
    transf: Transform = None,
    level: float | None = None,
    **mv_levels: Any,
) -> Predictions:
    """Predicted effects with confidence and prediction intervals (metafor's ``predict.rma``).

    ``pred = x'b`` with ``se = sqrt(x' V_b x)``; the CI is ``pred +/- c se`` and the PI
    ``pred +/- c sqrt(se^2 + tau^2)``, where ``c`` is the normal quantile for ``test="z"`` and
    the t quantile with k - p df for ``t`` and ``knha`` (whose ``V_b`` carries the
    Knapp-Hartung factor).

    Parameters
    ----------
    fit : MetaAnalysis
        An inverse-variance fit from :func:`~metareview.meta_analysis`.
    newmods : array-like, optional
        Moderator values, one row per prediction and one column per moderator (the model's
        coefficients without the intercept, dummies for categories); a flat sequence is one
        value per prediction for a model with one moderator. Omitted: the pooled estimate of an
        intercept-only model, the fitted value of each study for a meta-regression.
    intercept : bool
        Whether the predictions include the intercept (metafor's ``intercept``).
    transf : {'exp', 'auto'} or callable, optional
        Applied to ``pred`` and the interval bounds (``se`` becomes NaN): ``'auto'`` is the
        measure's back-transformation (exp for ratios), as :attr:`MetaAnalysis.back_transformed`.
    level : float, optional
        Confidence level in percent; the fit's by default.
    **mv_levels
        For multilevel fits (:func:`~metareview.models.multilevel_tools.pi_variance`):
        ``tau2_levels`` / ``gamma2_levels``, the inner level of each prediction.

    Returns
    -------
    Predictions
    """
    multilevel = is_multilevel(fit)
    if multilevel:
        if transf is not None:
            raise InputError("predict: transf is not available for multilevel models yet")
    else:
        _check_iv(fit, "predict")
    level = fit.level if level is None else float(level)
    if not 0 < level < 100:
        raise InputError(f"level must be between 0 and 100 (got {level:g})")
    if newmods is not None:
        X = _newmods_rows(fit, newmods, intercept)
        labels = tuple(str(i + 1) for i in range(len(X)))
    elif not multilevel and fit.intercept_only:
        X, labels = np.ones((1, 1)), ("pooled",)
    else:
        X, labels = fit.X, fit.study
    pred = X @ fit.coef
    se = np.sqrt(np.einsum("ij,jk,ik->i", X, fit.vcov, X))
    c = _crit(fit, level)
    ci_lo, ci_hi = pred - c * se, pred + c * se
    if multilevel:
        from metareview.models.multilevel_tools import pi_variance

        extra: np.ndarray | float | None = pi_variance(fit, len(pred), **mv_levels)
    else:  # no tau^2, no prediction interval (metafor prints none for FE models)
        extra = fit.tau2 if fit.is_random_effects else None
    if extra is None:
        pi_lo = pi_hi = np.full(len(pred), np.nan)
    else:
        half = c * np.sqrt(se**2 + extra)
        pi_lo, pi_hi = pred - half, pred + half
    func, label = _transform(fit, transf)
    if func is not None:
        pred, ci_lo, ci_hi, pi_lo, pi_hi = (np.asarray(func(a), dtype=float)
                                            for a in (pred, ci_lo, ci_hi, pi_lo, pi_hi))
        se = np.full(len(pred), np.nan)
    return Predictions(pred, se, ci_lo, ci_hi, pi_lo, pi_hi, X, fit.coef_names, labels, level,
                       fit.test, label)


# ---- Wald tests --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class WaldTest:
    """A Wald test of a set of coefficients or of linear combinations (``anova(res, btt=)``,
    ``anova(res, X=)``).

    ``qm`` is the chi-square statistic on ``qm_df[0]`` df, or for t and Knapp-Hartung fits the
    F statistic (chi-square over m) on ``qm_df = (m, k - p)``. With a contrast matrix ``X``,
    ``hypotheses`` names each row and ``estimate, se, stat, p`` test each on its own; ``qm`` is
    the omnibus test of all rows (NaN if ``X`` is not of full row rank).
    """

    qm: float
    qm_df: tuple[int, int | None]
    qm_p: float
    test: str
    btt: tuple[int, ...] = ()
    coef_names: tuple[str, ...] = ()
    hypotheses: tuple[str, ...] = ()
    estimate: np.ndarray | None = None
    se: np.ndarray | None = None
    stat: np.ndarray | None = None
    p: np.ndarray | None = None

    @property
    def stat_name(self) -> str:
        """``"z"`` or ``"t"`` for the single hypotheses."""
        return "t" if self.test in ("t", "knha") else "z"

    def _omnibus(self) -> str:
        m, ddf = self.qm_df
        if np.isnan(self.qm):
            return "(X is not of full row rank: no omnibus test)"
        if ddf is None:
            return f"QM(df = {m}) = {self.qm:.4f}, p-val {printout_p(self.qm_p, bare=False)}"
        return (f"F(df1 = {m}, df2 = {ddf}) = {self.qm:.4f}, "
                f"p-val {printout_p(self.qm_p, bare=False)}")

    def summary(self) -> str:
        """The text of metafor's ``print(anova(res, ...))``."""
        if not self.hypotheses:
            idx = ",".join(str(b) for b in self.btt)
            word = "coefficient" if len(self.btt) == 1 else "coefficients"
            names = ", ".join(self.coef_names[b - 1] for b in self.btt)
            return f"Test of Moderators ({word} {idx}: {names}):\n{self._omnibus()}"
        assert self.estimate is not None and self.se is not None
        assert self.stat is not None and self.p is not None
        lines = ["Hypotheses:"]
        lines += [f"{i + 1}: {h}" for i, h in enumerate(self.hypotheses)]
        lines += ["", "Results:",
                  "    " + " ".join(f"{h:>9}" for h in ("estimate", "se", f"{self.stat_name}val",
                                                         "pval"))]
        for i in range(len(self.hypotheses)):
            cells = [printout_num(self.estimate[i]), printout_num(self.se[i]),
                     printout_num(self.stat[i]), printout_p(self.p[i])]
            lines.append(f"{i + 1:>2}: " + " ".join(f"{c:>9}" for c in cells))
        if len(self.hypotheses) > 1:
            lines += ["", "Omnibus Test of Hypotheses:", self._omnibus()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        out: dict[str, Any] = {"test": "Wald", "qm": self.qm, "qm_df": list(self.qm_df),
                               "qm_p": self.qm_p, "statistic": "F" if self.qm_df[1] else "chi2"}
        if self.btt:
            out["btt"] = list(self.btt)
            out["coefficients"] = [self.coef_names[b - 1] for b in self.btt]
        if self.hypotheses:
            assert self.estimate is not None and self.se is not None
            assert self.stat is not None and self.p is not None
            out["hypotheses"] = [
                {"hypothesis": h, "estimate": b, "se": s, "stat": z, "p": pv}
                for h, b, s, z, pv in zip(self.hypotheses, self.estimate, self.se, self.stat,
                                          self.p, strict=True)]
        return jsonable(out)

    def __str__(self) -> str:
        return self.summary()


def _wald_stat(fit: MetaAnalysis, est: np.ndarray, V: np.ndarray, m: int,
               ddf: float | None) -> tuple[float, tuple[int, float | None], float]:
    """Wald statistic of ``est`` with covariance ``V``: chi-square on m df, or for t and
    Knapp-Hartung fits F on (m, ddf)."""
    qm = float(est @ np.linalg.solve(V, est))
    if fit.test in ("t", "knha"):
        assert ddf is not None
        qm /= m
        return qm, (m, ddf), float(special.fdtrc(m, ddf, qm))
    return qm, (m, None), float(special.chdtrc(m, qm))


def _row_ddf(fit: MetaAnalysis, L: np.ndarray) -> np.ndarray:
    """Each contrast row's t df: k - p, or with per-coefficient df (a multilevel fit's
    containment df) the smallest over the coefficients the row uses, as metafor's anova."""
    coef_df = getattr(fit, "coef_df", None)
    if coef_df is None:
        return np.full(len(L), fit.k - fit.p_coef)
    return np.array([float(np.min(coef_df[row != 0])) if (row != 0).any() else np.nan
                     for row in L])


def _hypothesis(row: np.ndarray, names: tuple[str, ...]) -> str:
    terms = []
    for c, n in zip(row, names, strict=True):
        if c == 0:
            continue
        mag = abs(c)
        body = n if mag == 1 else f"{mag:g}*{n}"
        sign = "-" if c < 0 else "+"
        terms.append((sign, body))
    if not terms:
        return "0 = 0"
    text = ("-" if terms[0][0] == "-" else "") + terms[0][1]
    text += "".join(f" {s} {b}" for s, b in terms[1:])
    return text + " = 0"


# ---- fit statistics ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FitStatistics:
    """Log-likelihood, deviance, AIC, BIC and AICc (metafor's ``fitstats``).

    ``reml`` says which likelihood: the restricted one (metafor's default for REML fits) or the
    full one. ``parms`` counts the coefficients and, for a random-effects model, tau^2.
    """

    loglik: float
    deviance: float
    aic: float
    bic: float
    aicc: float
    reml: bool
    parms: int
    k: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable({"loglik": self.loglik, "deviance": self.deviance, "aic": self.aic,
                         "bic": self.bic, "aicc": self.aicc, "reml": self.reml,
                         "parms": self.parms, "k": self.k})

    def summary(self) -> str:
        """The two lines of metafor's ``fitstats(res)``."""
        lab = "REML" if self.reml else "ML"
        heads = ("logLik", "deviance", "AIC", "BIC", "AICc")
        vals = (self.loglik, self.deviance, self.aic, self.bic, self.aicc)
        cells = [printout_num(v) for v in vals]
        w = max(10, *(len(c) for c in cells))
        return (f"{'':<9}{lab:>{w}}\n"
                + "\n".join(f"{h + ':':<9}{c:>{w}}" for h, c in zip(heads, cells, strict=True)))

    def __str__(self) -> str:
        return self.summary()


def fitstats(fit: MetaAnalysis, reml: bool | None = None) -> FitStatistics:
    """Log-likelihood, deviance, AIC, BIC and AICc of a fit (metafor's ``fitstats``).

    ML: ``deviance = -2 (ll - sum log N(y_i; y_i, v_i))`` (against the saturated model),
    ``BIC = -2 ll + q log k``, ``AICc`` with ``k``. REML (metafor's ``REMLf`` likelihood, which
    includes ``log|X'X| / 2``): ``deviance = -2 ll``, and ``k - p`` in place of ``k`` in BIC and
    AICc. ``q`` is ``parms``.

    Parameters
    ----------
    fit : MetaAnalysis
        An inverse-variance fit.
    reml : bool, optional
        Which likelihood; by default the restricted one for REML fits (as metafor).

    Returns
    -------
    FitStatistics
    """
    reml = fit.method == "REML" if reml is None else bool(reml)
    if is_multilevel(fit):
        parms, saturated = fit.parms, fit.ll_saturated
    else:
        _check_iv(fit, "fitstats")
        parms = fit.p_coef + (1 if fit.is_random_effects else 0)
        saturated = -0.5 * float(np.sum(_LOG2PI + np.log(fit.vi)))
    fs = fit_criteria(fit.ll_ml, fit.ll_reml, saturated, fit.k, fit.p_coef, parms, reml)
    return FitStatistics(loglik=fs["logLik"], deviance=fs["deviance"], aic=fs["AIC"],
                         bic=fs["BIC"], aicc=fs["AICc"], reml=reml, parms=parms, k=fit.k)


# ---- likelihood-ratio test ------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LikelihoodRatioTest:
    """The comparison of nested models by ``anova(full, reduced)``.

    ``lrt`` is the difference in deviance on ``parms_full - parms_reduced`` df; ``r2`` is the
    pseudo-R^2, the proportional reduction of tau^2 from the reduced to the full model in
    percent (NaN when the full model is fixed-effect or the reduced tau^2 is 0). metafor rounds
    it to two decimals; here it is not rounded.
    """

    full: FitStatistics
    reduced: FitStatistics
    lrt: float
    df: int
    p: float
    qe_full: float
    qe_reduced: float
    tau2_full: float
    tau2_reduced: float
    r2: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable({"test": "LRT", "lrt": self.lrt, "df": self.df, "p": self.p,
                         "full": {**self.full.to_dict(), "qe": self.qe_full,
                                  "tau2": self.tau2_full},
                         "reduced": {**self.reduced.to_dict(), "qe": self.qe_reduced,
                                     "tau2": self.tau2_reduced},
                         "r2": self.r2, "method": self.method})

    def summary(self) -> str:
        """The table of metafor's ``print(anova(full, reduced))``."""
        heads = ["df", "AIC", "BIC", "AICc", "logLik", "LRT", "pval", "QE", "tau^2", "R^2"]
        f, r = self.full, self.reduced
        rows = [
            ["Full", str(f.parms), *(printout_num(x) for x in (f.aic, f.bic, f.aicc, f.loglik)),
             "", "", printout_num(self.qe_full), printout_num(self.tau2_full), ""],
            ["Reduced", str(r.parms),
             *(printout_num(x) for x in (r.aic, r.bic, r.aicc, r.loglik)),
             printout_num(self.lrt), printout_p(self.p), printout_num(self.qe_reduced),
             printout_num(self.tau2_reduced),
             "" if np.isnan(self.r2) else f"{self.r2:.4f}%"],
        ]
        if np.isnan(self.tau2_full) and np.isnan(self.tau2_reduced):  # multilevel models
            heads = heads[:-2]
            rows = [row[:-2] for row in rows]
        widths = [max(len(h), *(len(row[i + 1]) for row in rows)) for i, h in enumerate(heads)]
        out = ["        " + " ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True))]
        for row in rows:
            out.append(f"{row[0]:<8}" + " ".join(f"{c:>{w}}" for c, w in
                                                 zip(row[1:], widths, strict=True)))
        return "\n".join(out)

    def __str__(self) -> str:
        return self.summary()


def pseudo_r2(full: MetaAnalysis, reduced: MetaAnalysis) -> float:
    """Proportional reduction of tau^2 in percent, ``100 max(0, (tau2_r - tau2_f) / tau2_r)``.

    NaN when the full model is fixed-effect or the reduced model's tau^2 is 0 (as metafor's
    ``anova``).
    """
    if not full.is_random_effects or reduced.tau2 == 0:
        return float("nan")
    return float(100 * max(0.0, (reduced.tau2 - full.tau2) / reduced.tau2))


def _parms(fit: Any) -> int:
    """Parameters counted by the fit statistics (coefficients and variance components)."""
    return fit.parms if is_multilevel(fit) else fit.p_coef + (1 if fit.is_random_effects else 0)


def _lrt(a: Any, b: Any) -> LikelihoodRatioTest:
    mv = is_multilevel(a)
    if mv != is_multilevel(b):
        raise InputError("anova: compare a multilevel model with another multilevel model")
    if not mv:
        _check_iv(b, "anova")
    pa, pb = _parms(a), _parms(b)
    if pa == pb:
        raise InputError("anova: the models have the same number of parameters "
                         f"({pa}), so they are not nested and a likelihood-ratio test means "
                         "nothing")
    full, reduced = (a, b) if pa > pb else (b, a)
    if not (np.array_equal(a.yi, b.yi) and np.array_equal(a.vi, b.vi)):
        raise InputError("anova: the models are not fitted to the same effect sizes "
                         "(yi and vi differ), so they cannot be compared")
    if not mv and not full.is_random_effects and reduced.is_random_effects:
        raise InputError("anova: the full model is fixed-effect and the reduced model has "
                         "tau^2, so they are not nested")
    reml = full.method == "REML"
    if reml and not (full.X.shape == reduced.X.shape and np.array_equal(full.X, reduced.X)):
        raise InputError(
            "anova: REML likelihoods of models with different fixed effects (moderators) "
            "cannot be compared; refit both models with method='ML' for a likelihood-ratio "
            "test of moderators (metafor warns and reports a meaningless LRT)")
    fs_f, fs_r = fitstats(full, reml=reml), fitstats(reduced, reml=reml)
    lrt = max(0.0, fs_r.deviance - fs_f.deviance)
    df = fs_f.parms - fs_r.parms
    return LikelihoodRatioTest(
        full=fs_f, reduced=fs_r, lrt=lrt, df=df, p=float(special.chdtrc(df, lrt)),
        qe_full=full.qe if mv else full.q, qe_reduced=reduced.qe if mv else reduced.q,
        tau2_full=float("nan") if mv else full.tau2,
        tau2_reduced=float("nan") if mv else reduced.tau2,
        r2=float("nan") if mv else pseudo_r2(full, reduced), method=full.method,
    )


def anova(
    fit: MetaAnalysis,
    other: MetaAnalysis | None = None,
    *,
    btt: int | str | Sequence[int | str] | None = None,
    X: Sequence[Sequence[float]] | np.ndarray | None = None,
) -> WaldTest | LikelihoodRatioTest:
    """Wald tests of coefficients, or a likelihood-ratio test of two models (``anova.rma``).

    With one model: the Wald test that the coefficients ``btt`` are all 0 (by default every
    coefficient but the intercept), or, with a contrast matrix ``X``, a test of each linear
    combination ``X b = 0`` and their omnibus test. For ``t`` and Knapp-Hartung fits the
    statistic is F on (m, k - p) df. With two models: the likelihood-ratio test of the nested
    models (either order), with both models' fit statistics and the pseudo-R^2.

    Parameters
    ----------
    fit : MetaAnalysis
        An inverse-variance fit.
    other : MetaAnalysis, optional
        The second model for a likelihood-ratio test, fitted to the same effect sizes. REML
        fits are compared only when they have the same moderators (ML otherwise).
    btt : int, str or sequence, optional
        Coefficients to test, numbered from 1 (the intercept) as in metafor, or by name: a
        name selects every coefficient whose name contains it.
    X : array-like, optional
        Contrast matrix, one row per hypothesis and one column per coefficient; with one
        column fewer, a column of 1s for the intercept is added (as metafor).

    Returns
    -------
    WaldTest or LikelihoodRatioTest
    """
    _check_iv(fit, "anova")
    if other is not None:
        if btt is not None or X is not None:
            raise InputError("anova: give either a second model or btt/X, not both")
        return _lrt(fit, other)
    if btt is not None and X is not None:
        raise InputError("anova: give either btt or X, not both")
    b, V, names = fit.coef, fit.vcov, fit.coef_names
    if X is None:
        if btt is None and is_multilevel(fit):
            idx = fit.btt  # as metafor: the fit's own btt
        else:
            idx = _btt(names, btt, intercept=getattr(fit, "intercept", True))
        sel = np.array(idx) - 1
        # t df: those of the fit's own test of moderators (metafor's QMdf[2]), whichever btt
        ddf = fit.qm_df[1] if is_multilevel(fit) else fit.k - fit.p_coef
        qm, qdf, qp = _wald_stat(fit, b[sel], V[np.ix_(sel, sel)], len(idx), ddf)
        return WaldTest(qm, qdf, qp, fit.test, btt=idx, coef_names=names)
    L = np.asarray(X, dtype=float)
    if L.ndim == 1:
        L = L[None, :]
    p = fit.p_coef
    if L.ndim == 2 and L.shape[1] == p - 1 and p > 1:
        L = np.column_stack([np.ones(len(L)), L])
    if L.ndim != 2 or L.shape[1] != p or len(L) == 0:
        raise InputError(f"anova: X needs {p} columns, one per coefficient "
                         f"({', '.join(names)}); got {L.shape[-1]}")
    if not np.isfinite(L).all():
        raise InputError("anova: every entry of X must be a finite number")
    est = L @ b
    VL = L @ V @ L.T
    se = np.sqrt(np.diag(VL))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    m = len(L)
    row_ddf = _row_ddf(fit, L)
    if np.linalg.matrix_rank(L) == m:
        qm, qdf, qp = _wald_stat(fit, est, VL, m, np.min(row_ddf).item())
    else:
        qm, qdf, qp = float("nan"), (m, None), float("nan")
    return WaldTest(qm, qdf, qp, fit.test, coef_names=names,
                    hypotheses=tuple(_hypothesis(r, names) for r in L),
                    estimate=est, se=se, stat=stat, p=_pvalue(fit, stat, row_ddf))


# ---- weights and residuals ------------------------------------------------------------------
def weights(fit: MetaAnalysis) -> np.ndarray:
    """Each study's weight in percent, ``100 w_i / sum w`` with ``w_i = 1/(v_i + tau^2)``
    (metafor's ``weights``)."""
    require_univariate(fit, "weights")
    _check_iv(fit, "weights")
    return np.asarray(fit.weights, dtype=float).copy()


def residuals(fit: MetaAnalysis) -> np.ndarray:
    """Raw residuals ``y_i - x_i'b`` (metafor's ``residuals``, type ``"response"``)."""
    _check_iv(fit, "residuals")
    return fit.yi - fit.X @ fit.coef


@dataclass(frozen=True, eq=False)
class StandardizedResiduals:
    """Internally standardized residuals (metafor's ``rstandard``): ``resid`` over its
    standard error ``se``, giving ``z``; one entry per study."""

    study: tuple[str, ...]
    resid: np.ndarray
    se: np.ndarray
    z: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values, one entry per study."""
        return jsonable({"residuals": [
            {"study": s, "resid": r, "se": e, "z": z}
            for s, r, e, z in zip(self.study, self.resid, self.se, self.z, strict=True)]})

    def summary(self) -> str:
        """The table of metafor's ``print(rstandard(res))``."""
        w = max(len(s) for s in self.study)
        lines = [" " * w + " " + " ".join(f"{h:>8}" for h in ("resid", "se", "z"))]
        for s, r, e, z in zip(self.study, self.resid, self.se, self.z, strict=True):
            lines.append(f"{s:<{w}} " + " ".join(f"{printout_num(x):>8}" for x in (r, e, z)))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def rstandard(fit: MetaAnalysis) -> StandardizedResiduals:
    """Standardized residuals ``e_i / sqrt(var(e_i))`` (metafor's ``rstandard.rma.uni``).

    ``var(e) = (I - H) M (I - H)'`` with ``M = diag(v_i + tau^2)`` and the hat matrix
    ``H = X A X' W`` (``A = (X'WX)^-1``, ``W = M^-1``); its diagonal is
    ``v_i + tau^2 - x_i' A x_i``, O(k p^2) without the k x k matrix. The Knapp-Hartung factor
    is not applied (as metafor).
    """
    if is_multilevel(fit):  # rstandard.rma.mv: e / sqrt(diag(M - X A X'))
        from metareview.models.multilevel_tools import marginal_diagonal

        e = fit.residuals
        e = np.where(np.abs(e) < 100 * np.finfo(float).eps, 0.0, e)
        ve = marginal_diagonal(fit) - np.einsum("ij,jk,ik->i", fit.X, fit.vcov, fit.X)
        se = np.sqrt(np.maximum(ve, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            return StandardizedResiduals(fit.study, e, se, e / se)
    _check_iv(fit, "rstandard")
    tau2 = fit.tau2 if fit.is_random_effects else 0.0
    m = fit.vi + tau2
    Xw = fit.X / m[:, None]
    A = np.linalg.inv(fit.X.T @ Xw)
    e = residuals(fit)
    # metafor zeroes residuals below 100 eps (a study exactly on the fitted line)
    e = np.where(np.abs(e) < 100 * np.finfo(float).eps, 0.0, e)
    ve = m - np.einsum("ij,jk,ik->i", fit.X, A, fit.X)
    se = np.sqrt(np.maximum(ve, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = e / se
    return StandardizedResiduals(fit.study, e, se, z)


# ---- BLUPs --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class StudyPredictions:
    """Per-study predictions with standard errors and intervals (metafor's ``blup`` and
    ``ranef`` tables for ``rma.uni``)."""

    study: tuple[str, ...]
    pred: np.ndarray
    se: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    what: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values, one entry per study."""
        return jsonable({"what": self.what, "studies": [
            {"study": s, "pred": p, "se": e, "pi_low": lo, "pi_high": hi}
            for s, p, e, lo, hi in zip(self.study, self.pred, self.se, self.pi_low,
                                       self.pi_high, strict=True)]})

    def summary(self) -> str:
        """The table as metafor prints it."""
        w = max(len(s) for s in self.study)
        lines = [" " * w + " " + " ".join(f"{h:>8}" for h in ("pred", "se", "pi.lb", "pi.ub"))]
        for row in zip(self.study, self.pred, self.se, self.pi_low, self.pi_high, strict=True):
            lines.append(f"{row[0]:<{w}} " + " ".join(f"{printout_num(x):>8}" for x in row[1:]))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _shrinkage(fit: MetaAnalysis, what: str) -> tuple[np.ndarray, np.ndarray, float]:
    _check_iv(fit, what)
    tau2 = fit.tau2 if fit.is_random_effects else 0.0
    li = tau2 / (tau2 + fit.vi)
    xvx = np.einsum("ij,jk,ik->i", fit.X, fit.vcov, fit.X)
    return li, xvx, _crit(fit, fit.level)


def blup(fit: MetaAnalysis) -> StudyPredictions:
    """Best linear unbiased predictions of each study's true effect (metafor's
    ``blup.rma.uni``): ``l_i y_i + (1 - l_i) x_i'b`` with ``l_i = tau^2 / (tau^2 + v_i)`` and
    variance ``l_i v_i + (1 - l_i)^2 x_i' V_b x_i``; a multilevel fit's are
    :func:`~metareview.models.multilevel_tools.ranef`."""
    if is_multilevel(fit):
        raise InputError("blup: a multilevel model's predictions of its random effects are "
                         "ranef(fit)")
    li, xvx, c = _shrinkage(fit, "blup")
    fitted = fit.X @ fit.coef
    pred = li * fit.yi + (1 - li) * fitted
    se = np.sqrt(li * fit.vi + (1 - li) ** 2 * xvx)
    return StudyPredictions(fit.study, pred, se, pred - c * se, pred + c * se, "blup")


def ranef(fit: Any) -> Any:
    """Predicted random effects (metafor's ``ranef``): for a univariate fit, each study's
    ``l_i (y_i - x_i'b)`` with variance ``l_i v_i + l_i^2 x_i' V_b x_i`` (0 for a fixed-effect
    model); for a multilevel fit, the BLUPs of every random-effects term
    (:func:`~metareview.models.multilevel_tools.ranef`)."""
    if is_multilevel(fit):
        from metareview.models.multilevel_tools import ranef as ranef_mv

        return ranef_mv(fit)
    li, xvx, c = _shrinkage(fit, "ranef")
    pred = li * (fit.yi - fit.X @ fit.coef)
    se = np.sqrt(li * fit.vi + li ** 2 * xvx)
    return StudyPredictions(fit.study, pred, se, pred - c * se, pred + c * se, "ranef")


__all__ = [
    "FitStatistics",
    "LikelihoodRatioTest",
    "Predictions",
    "StandardizedResiduals",
    "StudyPredictions",
    "WaldTest",
    "anova",
    "blup",
    "fitstats",
    "predict",
    "pseudo_r2",
    "ranef",
    "residuals",
    "rstandard",
    "weights",
]
