"""Case diagnostics: leave-one-out, influence measures, cumulative and Baujat analyses.

Each function takes a fitted :class:`~metareview.models.MetaAnalysis` and refits the same model
(same tau^2 estimator, test and level) on subsets of the studies with
:func:`~metareview.models.refit`, exactly as metafor 3.8's ``leave1out.rma.uni``,
``influence.rma.uni``, ``cumul.rma.uni`` and ``baujat.rma`` call ``rma.uni(..., subset = ...)``.
Mantel-Haenszel and Peto fits are refitted by their own method, as metafor's ``rma.mh`` and
``rma.peto`` methods do.

References
----------
Viechtbauer W, Cheung MWL (2010). Outlier and influence diagnostics for meta-analysis.
Research Synthesis Methods 1:112-125.
Baujat B, Mahe C, Pignon JP, Hill C (2002). A graphical method for exploring heterogeneity in
meta-analyses: application to a meta-analysis of 65 trials. Statistics in Medicine 21:2641-2652.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from metareview._util.textfmt import printout_num, printout_p
from metareview.models.kinds import require_univariate
from metareview.models.rma import MetaAnalysis, meta_analysis, refit
from metareview.models.tau2 import estimator

_EPS = np.finfo(float).eps


# ---- shared helpers (also used by bias.py and heterogeneity.py) ---------------------------------
def _num(x: Any) -> float | None:
    """A float for JSON: ``None`` for NaN, missing or infinite values."""
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def _nums(a: np.ndarray) -> list[float | None]:
    return [_num(x) for x in np.asarray(a, dtype=float).ravel()]


def _table(labels: Sequence[str], columns: dict[str, np.ndarray], formats: dict[str, Any]) -> str:
    """Fixed-width table like metafor's ``print.list.rma``."""
    cells = {}
    for name, values in columns.items():
        fmt = formats.get(name, printout_num)
        cells[name] = [fmt(v) for v in values]
    width = max([len(s) for s in labels] + [0])
    colw = {n: max(len(n), *(len(c) for c in cells[n])) if len(cells[n]) else len(n)
            for n in columns}
    lines = [" " * width + " " + " ".join(f"{n:>{colw[n]}}" for n in columns)]
    for i, lab in enumerate(labels):
        lines.append(f"{lab:<{width}} " + " ".join(f"{cells[n][i]:>{colw[n]}}" for n in columns))
    return "\n".join(lines)


def _require_effects(fit: MetaAnalysis, what: str, name: str | None = None) -> None:
    """Refuse a fit that cannot be refitted; ``name`` is the public function's (``what``, as
    the messages call it, by default)."""
    require_univariate(fit, what if name is None else name)
    if fit.effects is None:
        raise ValueError(f"{what}: this result does not carry its effect sizes; cannot refit")
    if fit.k < 2:
        raise ValueError(f"{what}: stopped because k = 1")


def _require_uni(fit: MetaAnalysis, what: str) -> None:
    if not fit.is_inverse_variance:
        raise ValueError(f"{what} is only available for models fitted with a tau^2 estimator "
                         f"or FE (metafor's rma.uni), not method {fit.method}")


def _require_intercept_only(fit: MetaAnalysis, what: str) -> None:
    if not fit.intercept_only:
        raise ValueError(f"{what} is only applicable to models without moderators")


def _fixed_tau2(fit: MetaAnalysis) -> float | None:
    """tau^2 if it was held fixed in ``fit`` (metafor's ``tau2.fix``), else None."""
    if fit.tau2_fit is not None and fit.tau2_fit.solver == "fixed":
        return fit.tau2
    return None


def _subfit(fit: MetaAnalysis, idx: np.ndarray) -> MetaAnalysis | None:
    """Refit ``fit`` on the studies ``idx`` as metafor's ``rma.*(..., subset = idx)``.

    Returns None where metafor's ``try()`` would fail or a coefficient is not estimable (the
    diagnostics then report NA). With a single study metafor fixes tau^2 at 0 and switches to
    the z-test; so does this.
    """
    idx = np.asarray(idx)
    if not fit.is_inverse_variance:
        es = replace(fit.effects.subset(idx), warnings=())
        try:
            return meta_analysis(es, method=fit.method, level=fit.level)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            return None
    X = fit.X[idx]
    if len(idx) == 0 or np.linalg.matrix_rank(X) < X.shape[1]:
        return None
    try:
        with np.errstate(all="ignore"):
            if len(idx) == 1:
                return refit(replace(fit, test="z"), idx, tau2=0.0)
            return refit(fit, idx, tau2=_fixed_tau2(fit))
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
        return None


_STEP_FIELDS = ("estimate", "se", "stat", "p", "ci_low", "ci_high", "q", "q_p", "tau2", "i2", "h2")


def _collect(fits: Sequence[MetaAnalysis | None]) -> dict[str, np.ndarray]:
    """Per-fit pooled estimate and heterogeneity statistics (NaN where a fit failed)."""
    out = {name: np.full(len(fits), np.nan) for name in _STEP_FIELDS}
    for i, r in enumerate(fits):
        if r is None:
            continue
        for name in _STEP_FIELDS:
            out[name][i] = getattr(r, name)
    return out


def _psort(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.fmin(lo, hi), np.fmax(lo, hi)


# ---- leave-one-out -----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _SequentialFits:
    """Per-row refits of a model: the fields and output shared by leave-one-out and cumulative."""

    study: tuple[str, ...]
    estimate: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    p: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    q: np.ndarray
    q_p: np.ndarray
    tau2: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    method: str = "REML"
    test: str = "z"
    level: float = 95.0
    measure: str = "GEN"

    @property
    def stat_name(self) -> str:
        """``"z"`` or ``"t"``."""
        return "t" if self.test in ("t", "knha") else "z"

    def _extra(self) -> dict[str, Any]:
        return {}

    def _title(self) -> str:
        raise NotImplementedError

    def _labels(self) -> list[str]:
        return list(self.study)

    def to_frame(self) -> pd.DataFrame:
        """One row per refit."""
        cols = {**self._extra(), **{n: getattr(self, n) for n in _STEP_FIELDS}}
        return pd.DataFrame(cols, index=pd.Index(list(self.study), name="study"))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        out: dict[str, Any] = {"method": self.method, "test": self.test, "level": self.level,
                               "measure": self.measure,
                               **{k: [int(i) for i in v] for k, v in self._extra().items()},
                               "study": list(self.study)}
        out.update({n: _nums(getattr(self, n)) for n in _STEP_FIELDS})
        return out

    def summary(self) -> str:
        """A table in the layout of metafor's ``print(leave1out(res))`` / ``print(cumul(res))``."""
        cols = {"estimate": self.estimate, "se": self.se, f"{self.stat_name}val": self.stat,
                "pval": self.p, "ci.lb": self.ci_low, "ci.ub": self.ci_high, "Q": self.q,
                "Qp": self.q_p}
        if estimator(self.method).random_effects:
            cols["tau2"] = self.tau2
        cols.update({"I2": self.i2, "H2": self.h2})
        fmts = {"pval": printout_p, "Qp": printout_p, "I2": lambda x: printout_num(x, 2),
                "H2": lambda x: printout_num(x, 2)}
        return self._title() + "\n\n" + _table(self._labels(), cols, fmts)

    def __str__(self) -> str:
        return self.summary()


@dataclass(frozen=True, eq=False)
class LeaveOneOut(_SequentialFits):
    """Leave-one-out results (metafor's ``leave1out``): row ``i`` is the model without study i.

    Attributes
    ----------
    study : tuple of str
        The study left out.
    estimate, se, stat, p, ci_low, ci_high : ndarray
        Pooled estimate, its standard error, z (or t) statistic, p-value and CI.
    q, q_p : ndarray
        Cochran's Q and its p-value.
    tau2, i2, h2 : ndarray
        tau^2 (0 for fixed-effect models), I^2 (%) and H^2.
    """

    def _title(self) -> str:
        return f"Leave-one-out analysis ({self.method}; each row omits one study)"


def leave_one_out(fit: MetaAnalysis) -> LeaveOneOut:
    """Refit the model k times, each time leaving out one study (metafor ``leave1out``).

    Parameters
    ----------
    fit : MetaAnalysis
        An intercept-only model (any tau^2 estimator, FE, MH or Peto).

    Returns
    -------
    LeaveOneOut

    Notes
    -----
    Each row is the same model (estimator, test, level, and tau^2 if it was held fixed) fitted
    to the other k - 1 studies; a refit that fails gives NaN, as metafor's NA. CI bounds are
    sorted (metafor's ``.psort``).
    """
    _require_effects(fit, "leave-one-out", "leave_one_out")
    _require_intercept_only(fit, "leave-one-out analysis")
    fits = [_subfit(fit, np.delete(np.arange(fit.k), i)) for i in range(fit.k)]
    vals = _collect(fits)
    vals["ci_low"], vals["ci_high"] = _psort(vals["ci_low"], vals["ci_high"])
    return LeaveOneOut(study=tuple(fit.study), method=fit.method, test=fit.test,
                       level=fit.level, measure=fit.measure, **vals)


# ---- influence ----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Influence:
    """Case-deletion influence diagnostics (metafor's ``influence.rma.uni``).

    Attributes
    ----------
    study : tuple of str
    rstudent : ndarray
        Externally studentized residuals: ``(y_i - x_i'b_(-i)) / sqrt(s2w_(-i) (v_i +
        tau2_(-i)) + x_i' Var(b_(-i)) x_i)``.
    dffits : ndarray
        ``(x_i'b - x_i'b_(-i)) / sqrt(s2w_(-i) h_i (tau2_(-i) + v_i))``.
    cook_d : ndarray
        Cook's distance ``(b - b_(-i))' Var(b)^-1 (b - b_(-i))`` over all coefficients.
    cov_r : ndarray
        Covariance ratio ``det Var(b_(-i)) / det Var(b)``.
    tau2_del, qe_del : ndarray
        tau^2 and the (residual) Q statistic without study i.
    hat : ndarray
        Leverages, the diagonal of ``X (X'WX)^-1 X'W``.
    weight : ndarray
        Weights in percent.
    dfbetas : ndarray
        k x p: ``(b - b_(-i)) / sqrt(s2w_(-i) diag((X'W_(-i)X)^-1))`` with
        ``W_(-i) = diag(1 / (v + tau2_(-i)))`` over all k studies.
    coef_names : tuple of str
    is_infl : ndarray of bool
        metafor's ``*`` flag: ``|dffits| > 3 sqrt(p / (k - p))``, or
        ``pchisq(cook_d, p) > 0.5``, or ``hat > 3 p / k``, or any ``|dfbetas| > 1``.
    """

    study: tuple[str, ...]
    rstudent: np.ndarray
    dffits: np.ndarray
    cook_d: np.ndarray
    cov_r: np.ndarray
    tau2_del: np.ndarray
    qe_del: np.ndarray
    hat: np.ndarray
    weight: np.ndarray
    dfbetas: np.ndarray
    coef_names: tuple[str, ...]
    is_infl: np.ndarray
    method: str = "REML"
    test: str = "z"

    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.study)

    @property
    def p(self) -> int:
        """Number of coefficients."""
        return len(self.coef_names)

    def to_frame(self) -> pd.DataFrame:
        """One row per study; dfbetas columns are named ``dfbetas_<coefficient>``."""
        df = pd.DataFrame(
            {"rstudent": self.rstudent, "dffits": self.dffits, "cook_d": self.cook_d,
             "cov_r": self.cov_r, "tau2_del": self.tau2_del, "qe_del": self.qe_del,
             "hat": self.hat, "weight": self.weight},
            index=pd.Index(list(self.study), name="study"))
        for j, name in enumerate(self.coef_names):
            df[f"dfbetas_{name}"] = self.dfbetas[:, j]
        df["is_infl"] = self.is_infl
        return df

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {
            "method": self.method, "test": self.test, "study": list(self.study),
            "rstudent": _nums(self.rstudent), "dffits": _nums(self.dffits),
            "cook_d": _nums(self.cook_d), "cov_r": _nums(self.cov_r),
            "tau2_del": _nums(self.tau2_del), "qe_del": _nums(self.qe_del),
            "hat": _nums(self.hat), "weight": _nums(self.weight),
            "dfbetas": {n: _nums(self.dfbetas[:, j]) for j, n in enumerate(self.coef_names)},
            "is_infl": [bool(x) for x in self.is_infl],
        }

    def summary(self) -> str:
        """A table in the layout of metafor's ``print(influence(res))``."""
        cols = {"rstudent": self.rstudent, "dffits": self.dffits, "cook.d": self.cook_d,
                "cov.r": self.cov_r, "tau2.del": self.tau2_del, "QE.del": self.qe_del,
                "hat": self.hat, "weight": self.weight}
        fmts = {"weight": lambda x: printout_num(x, 2)}
        labels = list(self.study)
        table = _table(labels, cols, fmts).split("\n")
        table = [table[0]] + [row + (" *" if f else "") for row, f in
                              zip(table[1:], self.is_infl, strict=True)]
        n = int(np.sum(self.is_infl))
        foot = (f"\n\n{n} influential stud{'y' if n == 1 else 'ies'} (*): "
                "|dffits| > 3 sqrt(p/(k-p)), P(chi2_p <= cook.d) > 0.5, hat > 3p/k, "
                "or |dfbetas| > 1")
        return "Influence diagnostics\n\n" + "\n".join(table) + foot

    def __str__(self) -> str:
        return self.summary()


def _or_na(*conds: np.ndarray) -> np.ndarray:
    """R's three-valued ``|``: True if any is True, else NA (NaN) if any is NA, else False."""
    true = np.zeros(len(conds[0]), dtype=bool)
    na = np.zeros(len(conds[0]), dtype=bool)
    for c in conds:
        c = np.asarray(c, dtype=float)
        true |= c == 1
        na |= np.isnan(c)
    return np.where(true, 1.0, np.where(na, np.nan, 0.0))


def _gt(a: np.ndarray, b: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(a), np.nan, (a > b).astype(float))


def influence(fit: MetaAnalysis) -> Influence:
    """Outlier and influence diagnostics by case deletion (metafor ``influence.rma.uni``).

    Parameters
    ----------
    fit : MetaAnalysis
        Any model fitted by a tau^2 estimator or FE, with or without moderators.

    Returns
    -------
    Influence

    Notes
    -----
    Follows metafor 3.8 line by line (Viechtbauer & Cheung 2010): the deleted fits re-estimate
    tau^2 (unless it was held fixed) and carry the Knapp-Hartung factor ``s2w`` of the deleted
    fit; residuals below ``100 eps`` in absolute value are set to 0 and leverages above
    ``1 - 10 eps`` to 1, as metafor does. Cook's distance and the covariance ratio use all p
    coefficients (metafor's default ``btt``), and the influence flag uses ``m = p`` degrees of
    freedom for Cook's distance. A deletion that leaves a coefficient inestimable gives NaN.
    """
    _require_effects(fit, "influence")
    _require_uni(fit, "influence()")
    k, p = fit.X.shape
    y, v, X, beta = fit.yi, fit.vi, fit.X, fit.coef
    w = 1.0 / (v + fit.tau2)
    XtWX_inv = np.linalg.inv(X.T @ (X * w[:, None]))
    hat = w * np.einsum("ij,jk,ik->i", X, XtWX_inv, X)
    hat[hat > 1 - 10 * _EPS] = 1.0
    pred_full = X @ beta
    svb = np.linalg.inv(fit.vcov)
    det_full = np.linalg.det(fit.vcov)

    nan = lambda: np.full(k, np.nan)  # noqa: E731
    tau2_del, qe_del, delpred, vdelpred, s2w_del = nan(), nan(), nan(), nan(), nan()
    dffits, cook_d, cov_r = nan(), nan(), nan()
    dfbs = np.full((k, p), np.nan)
    for i in range(k):
        res = _subfit(fit, np.delete(np.arange(k), i))
        if res is None:
            continue
        xi = X[i]
        tau2_del[i] = res.tau2
        qe_del[i] = res.q
        delpred[i] = xi @ res.coef
        vdelpred[i] = xi @ res.vcov @ xi
        s2w_del[i] = res.s2w
        dffits[i] = (pred_full[i] - delpred[i]) / np.sqrt(res.s2w * hat[i] * (tau2_del[i] + v[i]))
        wd = 1.0 / (v + tau2_del[i])
        vb_del = np.linalg.inv(X.T @ (X * wd[:, None]))
        dfb = beta - res.coef
        dfbs[i] = dfb / np.sqrt(res.s2w * np.diag(vb_del))
        cook_d[i] = dfb @ svb @ dfb
        cov_r[i] = np.linalg.det(res.vcov) / det_full

    resid = y - delpred
    resid[np.abs(resid) < 100 * _EPS] = 0.0
    seresid = np.sqrt(v * s2w_del + vdelpred + tau2_del * s2w_del)
    rstudent = resid / seresid

    with np.errstate(divide="ignore", invalid="ignore"):
        cut_dffits = 3 * np.sqrt(p / (k - p)) if k > p else np.nan
        dfb_any = _or_na(*(_gt(np.abs(dfbs[:, j]), 1.0) for j in range(p)))
        flag = _or_na(
            _gt(np.abs(dffits), cut_dffits),
            _gt(stats.chi2.cdf(cook_d, p), 0.5),
            _gt(hat, 3 * p / k),
            dfb_any,
        )
    return Influence(
        study=tuple(fit.study), rstudent=rstudent, dffits=dffits, cook_d=cook_d, cov_r=cov_r,
        tau2_del=tau2_del, qe_del=qe_del, hat=hat, weight=np.asarray(fit.weights, dtype=float),
        dfbetas=dfbs, coef_names=tuple(fit.coef_names), is_infl=flag == 1, method=fit.method,
        test=fit.test,
    )


# ---- cumulative ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Cumulative(_SequentialFits):
    """Cumulative meta-analysis (metafor's ``cumul``): row ``j`` pools the first j studies.

    Attributes
    ----------
    order : ndarray of int
        Indices of the studies (into the fitted model) in the order they were added.
    study : tuple of str
        The study added at each step.
    estimate, se, stat, p, ci_low, ci_high, q, q_p, tau2, i2, h2 : ndarray
        As in :class:`LeaveOneOut`, for the model on the first j studies.
    """

    order: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    def _extra(self) -> dict[str, Any]:
        return {"order": self.order}

    def _title(self) -> str:
        return f"Cumulative meta-analysis ({self.method}; each row adds one study)"

    def _labels(self) -> list[str]:
        return [f"+ {s}" for s in self.study]


def _order(fit: MetaAnalysis, order: str | Sequence[Any] | np.ndarray | None,
           decreasing: bool) -> np.ndarray:
    k = fit.k
    if order is None:
        return np.arange(k)
    if isinstance(order, str):
        data = fit.effects.data
        if order not in data.columns:
            raise ValueError(f"cumulative: no column {order!r} in the data "
                             f"(columns: {', '.join(map(str, data.columns))})")
        key = data[order]
    else:
        key = pd.Series(np.asarray(order))
        if len(key) != k:
            raise ValueError(f"cumulative: the order key has length {len(key)}, but the model "
                             f"has {k} studies")
    # R's order(): stable, missing values last, ties in their original order.
    ranks = pd.Series(key).reset_index(drop=True).rank(method="dense", na_option="keep")
    r = ranks.to_numpy(dtype=float)
    if decreasing:
        r = -r
    r = np.where(np.isnan(r), np.inf, r)
    return np.lexsort((np.arange(k), r))


def cumulative(
    fit: MetaAnalysis,
    order: str | Sequence[Any] | np.ndarray | None = None,
    *,
    decreasing: bool = False,
) -> Cumulative:
    """Cumulative meta-analysis, adding one study at a time (metafor ``cumul.rma.uni``).

    Parameters
    ----------
    fit : MetaAnalysis
        An intercept-only model (any tau^2 estimator, FE, MH or Peto).
    order : str or array-like, optional
        A column of ``fit.effects.data`` or a sort key with one value per study. Studies are
        added in increasing order of the key (stable: ties keep their order, missing values
        last, as R's ``order``). Default: the order of the data.
    decreasing : bool
        Sort the key in decreasing order (metafor's ``decreasing = TRUE``).

    Returns
    -------
    Cumulative

    Notes
    -----
    Step 1 is a single study: as metafor, tau^2 is 0 and the z-test is used there.
    """
    require_univariate(fit, "cumulative")
    if fit.effects is None:
        raise ValueError("cumulative: this result does not carry its effect sizes; cannot refit")
    _require_intercept_only(fit, "cumulative meta-analysis")
    idx = _order(fit, order, decreasing)
    fits = [_subfit(fit, idx[: j + 1]) for j in range(fit.k)]
    vals = _collect(fits)
    vals["ci_low"], vals["ci_high"] = _psort(vals["ci_low"], vals["ci_high"])
    return Cumulative(order=idx, study=tuple(fit.study[i] for i in idx), method=fit.method,
                      test=fit.test, level=fit.level, measure=fit.measure, **vals)


# ---- Baujat -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Baujat:
    """Coordinates of the Baujat plot (metafor's ``baujat``).

    Attributes
    ----------
    study : tuple of str
    x : ndarray
        Contribution to the heterogeneity statistic: the squared Pearson residual
        ``(y_i - x_i'b)^2 / (v_i + tau^2)`` (for FE models the study's term of Q).
    y : ndarray
        Influence on the fitted value: ``(x_i'b_(-i) - x_i'b)^2 / x_i' Var(b_(-i)) x_i``.
    """

    study: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    method: str = "REML"

    def to_frame(self) -> pd.DataFrame:
        """Columns ``x`` and ``y``, one row per study."""
        return pd.DataFrame({"x": self.x, "y": self.y},
                            index=pd.Index(list(self.study), name="study"))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"method": self.method, "study": list(self.study), "x": _nums(self.x),
                "y": _nums(self.y)}

    def summary(self) -> str:
        """The plot's coordinates as a table."""
        xl = ("Squared Pearson residual" if estimator(self.method).random_effects
              else "Contribution to Q")
        return (f"Baujat plot coordinates (x: {xl}; y: influence on the pooled result)\n\n"
                + _table(list(self.study), {"x": self.x, "y": self.y}, {}))

    def __str__(self) -> str:
        return self.summary()


def baujat(fit: MetaAnalysis) -> Baujat:
    """Baujat et al. (2002) diagnostics: heterogeneity contribution vs. influence (metafor
    ``baujat.rma``).

    Parameters
    ----------
    fit : MetaAnalysis
        Any model (with or without moderators; MH and Peto too).

    Returns
    -------
    Baujat

    Notes
    -----
    As metafor 3.8: ``x_i = e_i^2 / (tau^2 + v_i)`` with ``e_i = y_i - x_i'b`` (residuals below
    ``100 eps`` set to 0), and ``y_i = (x_i'b_(-i) - x_i'b)^2 / x_i' Var(b_(-i)) x_i`` from the
    model refitted without study i (tau^2 re-estimated; Knapp-Hartung scaling included in
    ``Var(b_(-i))``).
    """
    _require_effects(fit, "Baujat", "baujat")
    k = fit.k
    X = fit.X
    pred_full = X @ fit.coef
    delpred, vdelpred = np.full(k, np.nan), np.full(k, np.nan)
    for i in range(k):
        res = _subfit(fit, np.delete(np.arange(k), i))
        if res is None:
            continue
        delpred[i] = X[i] @ res.coef
        vdelpred[i] = X[i] @ res.vcov @ X[i]
    resid = fit.yi - pred_full
    resid[np.abs(resid) < 100 * _EPS] = 0.0
    x = resid**2 / (fit.tau2 + fit.vi)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = (delpred - pred_full) ** 2 / vdelpred
    return Baujat(study=tuple(fit.study), x=x, y=y, method=fit.method)
