"""Multilevel and multivariate meta-analysis (metafor's ``rma.mv``).

``meta_analysis_mv(es, random="~ 1 | district/school")`` fits
``y = X b + sum of random effects + e`` with ``e ~ N(0, V)``, ``V`` the known sampling
covariance (``diag(vi)`` unless given; see :func:`metareview.effects.covariance.vcalc`), by REML or
ML, in the block algebra of :mod:`metareview.models.blocks`. The result carries metafor's
numbers: coefficients with z or t tests (``dfs`` "residual" or "contain"), the variance
components (``sigma2`` per ``~ 1 | f`` term, ``tau2``/``rho`` and ``gamma2``/``phi`` for
``~ inner | outer`` terms), the Q-test for residual heterogeneity ``QE = r' V^-1 r`` from the
model fitted with ``V`` alone, the test of moderators, fit statistics and I^2 per level
(metafor's method for multilevel models: ``I2_l = sigma2_l / (sum sigma2 + (k - p) / tr(P))``
with ``P = W - W X (X'WX)^-1 X'W``, ``W = V^-1``; Cheung 2014).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from metareview._util import html as _html
from metareview._util.jsonable import jsonable
from metareview._util.textfmt import printout_num, printout_p, signif_stars
from metareview.effects.escalc import EffectSizes
from metareview.errors import InputError
from metareview.models import blocks
from metareview.models.blocks import trace_p0
from metareview.models.coefficients import btt_label, select_btt
from metareview.models.criteria import fit_criteria
from metareview.models.random_terms import Term, parse_random

METHODS = ("REML", "ML")
DFS = ("residual", "contain")


@dataclass(frozen=True)
class Component:
    """One variance component (or correlation) of a fitted model."""

    name: str
    kind: str  # "sigma2", "tau2", "rho", "gamma2", "phi"
    value: float
    term: str  # the formula
    level: str  # the factor (``district/school``) or the inner level (``AL``)
    nlevels: int
    fixed: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable({"name": self.name, "kind": self.kind, "value": self.value,
                         "term": self.term, "level": self.level, "nlevels": self.nlevels,
                         "fixed": self.fixed})


@dataclass(frozen=True, eq=False)
class MultilevelMetaAnalysis:
    """A fitted multilevel / multivariate model (metafor's ``rma.mv`` object).

    The ``coef_*`` arrays hold every coefficient; ``coef_df`` their degrees of freedom for t
    tests (None for z). ``components`` lists the variance components in metafor's order;
    :attr:`sigma2`, :attr:`tau2`, :attr:`rho`, :attr:`gamma2`, :attr:`phi` pick them out.
    """

    measure: str
    method: str
    test: str
    dfs: str
    level: float
    k: int
    coef_names: tuple[str, ...]
    coef: np.ndarray
    coef_se: np.ndarray
    coef_stat: np.ndarray
    coef_p: np.ndarray
    coef_ci_low: np.ndarray
    coef_ci_high: np.ndarray
    coef_df: np.ndarray | None
    vcov: np.ndarray
    components: tuple[Component, ...]
    qe: float
    qe_df: int
    qe_p: float
    qm: float
    qm_df: tuple[int, float | None]
    qm_p: float
    ll: float
    ll_ml: float
    ll_reml: float
    ll_saturated: float  # ML log-likelihood of the saturated model, for the ML deviance
    i2: np.ndarray
    i2_total: float
    converged: bool
    iterations: int
    yi: np.ndarray
    vi: np.ndarray
    study: tuple[str, ...]
    X: np.ndarray
    terms: tuple[Term, ...]
    theta: np.ndarray
    fitted: np.ndarray
    intercept: bool = True
    mods: tuple[str, ...] = ()
    effects: EffectSizes | None = None
    warnings: tuple[str, ...] = ()
    problem: Any = field(default=None, repr=False)
    V: Any = field(default=None, repr=False)
    information: np.ndarray | None = None
    btt: tuple[int, ...] = ()

    # ---- components ------------------------------------------------------------------------
    def _values(self, kind: str) -> np.ndarray:
        return np.array([c.value for c in self.components if c.kind == kind])

    @property
    def sigma2(self) -> np.ndarray:
        """Variances of the ``~ 1 | f`` terms, in the order of the formulas (nested outermost
        first)."""
        return self._values("sigma2")

    @property
    def tau2(self) -> np.ndarray:
        """Variance(s) of the first ``~ inner | outer`` term."""
        return self._values("tau2")

    @property
    def rho(self) -> np.ndarray:
        """Correlation(s) of the first ``~ inner | outer`` term."""
        return self._values("rho")

    @property
    def gamma2(self) -> np.ndarray:
        """Variance(s) of the second ``~ inner | outer`` term."""
        return self._values("gamma2")

    @property
    def phi(self) -> np.ndarray:
        """Correlation(s) of the second ``~ inner | outer`` term."""
        return self._values("phi")

    @property
    def p_coef(self) -> int:
        """Number of coefficients."""
        return len(self.coef)

    #: every multilevel model weighs estimates by the inverse of their covariance
    is_inverse_variance = True
    is_random_effects = True

    @property
    def parms(self) -> int:
        """Parameters counted by the fit statistics: coefficients and estimated components."""
        return self.p_coef + sum(not c.fixed for c in self.components)

    @property
    def residuals(self) -> np.ndarray:
        """``y - X b``."""
        return self.yi - self.fitted

    @property
    def stat_name(self) -> str:
        """``"t"`` or ``"z"``."""
        return "t" if self.test == "t" else "z"

    def G(self, which: int = 0) -> np.ndarray:
        """The covariance matrix of the inner levels of the ``which``-th ``~ inner | outer``
        term (metafor's ``res$G``, ``res$H``)."""
        st = [i for i, t in enumerate(self.terms) if t.kind == "struct"]
        ti = st[which]
        off = sum(len(t.params) for t in self.terms[:ti])
        return self.terms[ti].G(self.theta[off:off + len(self.terms[ti].params)])

    def fitstats(self, reml: bool | None = None) -> dict[str, float]:
        """logLik, deviance, AIC, BIC and AICc (metafor's ``fitstats``)."""
        reml = self.method == "REML" if reml is None else reml
        return fit_criteria(self.ll_ml, self.ll_reml, self.ll_saturated, self.k, self.p_coef,
                            self.parms, reml)

    def _struct_lines(self, t: Term) -> list[str]:
        return _struct_table(self, t)

    def coefficients(self) -> pd.DataFrame:
        """Coefficient table like metafor's ``coef(summary(res))``."""
        cols = {"estimate": self.coef, "se": self.coef_se, self.stat_name + "val": self.coef_stat}
        if self.coef_df is not None:
            cols["df"] = self.coef_df
        cols |= {"pval": self.coef_p, "ci_low": self.coef_ci_low, "ci_high": self.coef_ci_high}
        return pd.DataFrame(cols, index=list(self.coef_names))

    # ---- output --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values; the CLI's ``--json`` prints exactly this."""
        structured = [c for c in self.components if c.kind in ("tau2", "rho", "gamma2", "phi")]
        out: dict[str, Any] = {
            "model": "rma.mv",
            "measure": self.measure,
            "method": self.method,
            "test": self.test,
            "dfs": self.dfs if self.test == "t" else None,
            "level": self.level,
            "k": self.k,
            "random": list(dict.fromkeys(t.formula for t in self.terms)),
            "sigma2": list(self.sigma2),
            "sigma2_names": [c.level for c in self.components if c.kind == "sigma2"],
            "sigma2_nlevels": [c.nlevels for c in self.components if c.kind == "sigma2"],
            "i2": list(self.i2),
            "i2_total": self.i2_total,
            "components": [c.to_dict() for c in self.components],
            "coefficients": [
                {"name": n, "estimate": b, "se": s, "stat": z, "df": None if d is None else d,
                 "p": pv, "ci_low": lo, "ci_high": hi}
                for n, b, s, z, d, pv, lo, hi in zip(
                    self.coef_names, self.coef, self.coef_se, self.coef_stat,
                    [None] * self.p_coef if self.coef_df is None else self.coef_df,
                    self.coef_p, self.coef_ci_low, self.coef_ci_high, strict=True)
            ],
            "qe": self.qe, "qe_df": self.qe_df, "qe_p": self.qe_p,
            "qm": self.qm, "qm_df": list(self.qm_df), "qm_p": self.qm_p, "btt": list(self.btt),
            "fitstats": self.fitstats(),
            "converged": self.converged,
            "iterations": self.iterations,
            "warnings": list(self.warnings),
        }
        if structured:
            for kind in ("tau2", "rho", "gamma2", "phi"):
                vals = [c.value for c in structured if c.kind == kind]
                if vals:
                    out[kind] = vals
            out["struct"] = [t.struct for t in self.terms if t.kind == "struct"]
        return jsonable(out)

    def summary(self) -> str:
        """A readable summary in the layout of metafor's ``print(res)`` for ``rma.mv``."""
        kind = "Multivariate Meta-Analysis Model"
        fs = self.fitstats()
        lines = [f"{kind} (k = {self.k}; method: {self.method})", ""]
        lab = "REML" if self.method == "REML" else "ML"
        lines.append("  logLik  Deviance       AIC       BIC      AICc   ")
        lines.append(" ".join(f"{fs[h]:>9.4f}" for h in ("logLik", "deviance", "AIC", "BIC",
                                                          "AICc")) + f"   ({lab})")
        lines.append("")
        sig = [c for c in self.components if c.kind == "sigma2"]
        lines += ["Variance Components:", ""]
        if sig:
            w = max(len(c.level) for c in sig)
            lines.append(f"{'':<10}{'estim':>8}{'sqrt':>8}{'nlvls':>7}{'fixed':>7}  "
                         f"{'factor':>{w}}")
            for i, c in enumerate(sig):
                lines.append(f"{'sigma^2.' + str(i + 1):<10}{printout_num(c.value):>8}"
                             f"{printout_num(np.sqrt(c.value)):>8}{c.nlevels:>7}"
                             f"{'yes' if c.fixed else 'no':>7}  {c.level:>{w}}")
            lines.append("")
        for t in self.terms:
            if t.kind == "struct":
                lines += self._struct_lines(t)
        if sig:
            lines.append("I^2 by level: " + ", ".join(
                f"{c.level} {v:.2f}%" for c, v in zip(sig, self.i2, strict=True))
                + f"; total {self.i2_total:.2f}%")
            lines.append("")
        resid = "Residual " if self.p_coef > 1 or not self.intercept else ""
        lines.append(f"Test for {resid}Heterogeneity:")
        lines.append(f"Q{'E' if resid else ''}(df = {self.qe_df}) = {self.qe:.4f}, "
                     f"p-val {printout_p(self.qe_p, bare=False)}")
        lines.append("")
        if self.p_coef > 1 or not self.intercept:
            m, ddf = self.qm_df
            lines.append(f"Test of Moderators ({btt_label(self.btt)}):")
            if ddf is None:
                lines.append(f"QM(df = {m}) = {self.qm:.4f}, p-val "
                             f"{printout_p(self.qm_p, bare=False)}")
            else:
                lines.append(f"F(df1 = {m}, df2 = {ddf:g}) = {self.qm:.4f}, p-val "
                             f"{printout_p(self.qm_p, bare=False)}")
            lines.append("")
        lines += ["Model Results:", ""]
        single = self.p_coef == 1 and self.intercept
        names = [""] if single else [str(n) for n in self.coef_names]
        width = max(len(n) for n in names)
        head = ["estimate", "se", f"{self.stat_name}val"]
        head += ["df"] if self.coef_df is not None else []
        head += ["pval", "ci.lb", "ci.ub"]
        lines.append(" " * width + " " + " ".join(f"{h:>9}" for h in head))
        for i, name in enumerate(names):
            cells = [f"{printout_num(x):>9}" for x in (self.coef[i], self.coef_se[i],
                                                      self.coef_stat[i])]
            if self.coef_df is not None:
                cells.append(f"{self.coef_df[i]:>9g}")
            cells += [f"{printout_p(self.coef_p[i]):>9}", f"{printout_num(self.coef_ci_low[i]):>9}",
                      f"{printout_num(self.coef_ci_high[i]):>9}"]
            lines.append(f"{name:<{width}} " + " ".join(cells) + " " + signif_stars(self.coef_p[i]))
        lines += ["", "---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
        if not self.converged:
            lines.append("Note: the optimiser did not converge.")
        for w_ in self.warnings:
            lines.append(f"Note: {w_}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """The summary as compact HTML tables, for notebooks (numbers as :meth:`summary`)."""
        fs = self.fitstats()
        head = [f"Multivariate Meta-Analysis Model (k = {self.k}; method: {self.method})"]
        if self.measure:
            head.append(f"Measure: {self.measure}")
        parts = [_html.table(["logLik", "Deviance", "AIC", "BIC", "AICc"],
                             [[printout_num(fs[h]) for h in ("logLik", "deviance", "AIC", "BIC",
                                                             "AICc")]],
                             row_labels=False, caption=f"Fit statistics ({self.method})")]
        sig = [c for c in self.components if c.kind == "sigma2"]
        if sig:
            parts.append(_html.table(
                ["", "estim", "sqrt", "nlvls", "fixed", "factor", "I² (%)"],
                [[f"sigma².{i + 1}", printout_num(c.value), printout_num(np.sqrt(c.value)),
                  str(c.nlevels), "yes" if c.fixed else "no", c.level, printout_num(v, 2)]
                 for i, (c, v) in enumerate(zip(sig, self.i2, strict=True))],
                caption="Variance components"))
        for t in dict.fromkeys(c.term for c in self.components if c.kind != "sigma2"):
            mine = [c for c in self.components if c.term == t]
            parts.append(_html.table(
                ["", "level", "estim", "sqrt", "fixed"],
                [[c.name.replace("2", "²", 1) if c.kind in ("tau2", "gamma2") else c.name,
                  c.level, printout_num(c.value),
                  printout_num(np.sqrt(c.value)) if c.kind in ("tau2", "gamma2") else "",
                  "yes" if c.fixed else "no"] for c in mine],
                caption=f"Structured term {t}"))
        moderators = self.p_coef > 1 or not self.intercept
        cols = ["QE" if moderators else "Q", "df", "pval"]
        row = [printout_num(self.qe), str(self.qe_df), printout_p(self.qe_p)]
        if sig:
            cols.append("I² total (%)")
            row.append(printout_num(self.i2_total, 2))
        parts.append(_html.table(cols, [row], row_labels=False,
                                 caption=f"{'Residual h' if moderators else 'H'}eterogeneity"))
        if moderators:
            m, ddf = self.qm_df
            name, dfs = ("QM", [str(m)]) if ddf is None else ("F", [str(m), f"{ddf:g}"])
            parts.append(_html.table(
                [name, *(["df"] if ddf is None else ["df1", "df2"]), "pval"],
                [[printout_num(self.qm), *dfs, printout_p(self.qm_p)]], row_labels=False,
                caption=f"Test of moderators ({btt_label(self.btt)})"))
        header = ["", "estimate", "se", f"{self.stat_name}val"]
        header += ["df"] if self.coef_df is not None else []
        header += ["pval", "ci.lb", "ci.ub", ""]
        rows = []
        for i, name in enumerate(self.coef_names):
            rows.append([name, *(printout_num(x) for x in (self.coef[i], self.coef_se[i],
                                                           self.coef_stat[i])),
                         *([f"{self.coef_df[i]:g}"] if self.coef_df is not None else []),
                         printout_p(self.coef_p[i]), printout_num(self.coef_ci_low[i]),
                         printout_num(self.coef_ci_high[i]), signif_stars(self.coef_p[i])])
        parts.append(_html.table(header, rows, caption="Model results"))
        notes = [] if self.converged else ["Note: the optimiser did not converge."]
        notes += [f"Note: {w}" for w in self.warnings]
        return _html.block(head, parts, notes)


def _struct_table(fit: MultilevelMetaAnalysis, t: Term) -> list[str]:
    """metafor's block for an ``~ inner | outer`` term: its factors, variances and
    correlations."""
    on, inn = t.extra["outer_name"], t.extra["inner_name"]
    w = max(len(on), len(inn))
    lines = [f"outer factor: {on:<{w}} (nlvls = {len(set(t.outer.tolist()))})",
             f"inner factor: {inn:<{w}} (nlvls = {len(t.inner_levels)})", ""]
    mine = [c for c in fit.components if c.term == t.formula
            and c.kind in ("tau2", "rho", "gamma2", "phi")]
    var = [c for c in mine if c.kind in ("tau2", "gamma2")]
    cor = [c for c in mine if c.kind in ("rho", "phi")]
    root = var[0].kind[:-1] if var else "tau"
    if len(var) == 1:
        lines.append(f"{'':<10}{'estim':>8}{'sqrt':>8}{'fixed':>7}")
        lines.append(f"{root + '^2':<10}{printout_num(var[0].value):>8}"
                     f"{printout_num(np.sqrt(var[0].value)):>8}"
                     f"{'yes' if var[0].fixed else 'no':>7}")
        for c in cor:
            lines.append(f"{c.kind:<10}{printout_num(c.value):>8}{'':>8}"
                         f"{'yes' if c.fixed else 'no':>7}")
        return [*lines, ""]
    counts = {lv: int(np.sum(t.inner == i)) for i, lv in enumerate(t.inner_levels)}
    lw = max(len(c.level) for c in var)
    lines.append(f"{'':<10}{'estim':>8}{'sqrt':>8}{'k.lvl':>7}{'fixed':>7}  {'level':>{lw}}")
    for i, c in enumerate(var):
        lines.append(f"{root + '^2.' + str(i + 1):<10}{printout_num(c.value):>8}"
                     f"{printout_num(np.sqrt(c.value)):>8}{counts[c.level]:>7}"
                     f"{'yes' if c.fixed else 'no':>7}  {c.level:>{lw}}")
    if cor:
        G = fit.G(0 if t is next(x for x in fit.terms if x.kind == "struct") else 1)
        sd = np.sqrt(np.diag(G))
        with np.errstate(divide="ignore", invalid="ignore"):
            R = G / np.outer(sd, sd)
        levels = t.inner_levels
        cw = max(8, *(len(lv) + 4 for lv in levels))
        lines += ["", " " * lw + "".join(f"{cor[0].kind + '.' + lv:>{cw}}" for lv in levels)]
        for i, lv in enumerate(levels):
            cells = [printout_num(R[i, j]) if j < i else ("1" if j == i else "")
                     for j in range(len(levels))]
            lines.append(f"{lv:<{lw}}" + "".join(f"{x:>{cw}}" for x in cells))
    return [*lines, ""]


def _ll_saturated(prob: blocks.Problem) -> float:
    """ML log-likelihood of the saturated model (every estimate its own mean): ``-1/2 (k log
    2 pi + log |V|)``."""
    return -0.5 * (prob.n * np.log(2 * np.pi) + float(prob.logdet_v()[0]))


# ---------------------------------------------------------------------------------------------
def _sampling_matrix(V: Any, k: int, source: str | None) -> sp.csr_matrix:
    if sp.issparse(V):
        M = sp.csr_matrix(V, dtype=float)
    else:
        arr = np.asarray(V, dtype=float)
        if arr.ndim != 2:
            raise InputError(f"{source or 'data'}: V must be a k x k matrix (got {arr.ndim} "
                             "dimensions)")
        M = sp.csr_matrix(arr)
    if M.shape != (k, k):
        raise InputError(f"{source or 'data'}: V is {M.shape[0]} x {M.shape[1]} but there are "
                         f"{k} estimates")
    asym = abs(M - M.T)
    if asym.nnz and asym.max() > 1e-10 * max(abs(M).max(), 1e-300):
        raise InputError(f"{source or 'data'}: V is not symmetric")
    d = M.diagonal()
    bad = np.flatnonzero(~(d > 0))
    if len(bad):
        raise InputError(f"{source or 'data'}, estimate {bad[0] + 1}: sampling variance on the "
                         f"diagonal of V must be positive (got {d[bad[0]]:g})")
    return M


def meta_analysis_mv(
    es: EffectSizes,
    random: str | Sequence[str],
    *,
    V: Any = None,
    struct: str | Sequence[str] = "CS",
    method: str = "REML",
    test: str = "z",
    dfs: str = "residual",
    level: float = 95,
    mods: Sequence[str] | np.ndarray | None = None,
    categorical: Sequence[str] = (),
    intercept: bool = True,
    coef_names: Sequence[str] | None = None,
    btt: Any = None,
    sigma2: Any = None,
    tau2: Any = None,
    rho: Any = None,
    gamma2: Any = None,
    phi: Any = None,
) -> MultilevelMetaAnalysis:
    """Fit a multilevel or multivariate meta-analysis (metafor's ``rma.mv``).

    Parameters
    ----------
    es : EffectSizes
        Estimates and sampling variances; ``es.data`` holds the columns the random-effects
        formulas and moderators name.
    random : str or list of str
        Random-effects formulas: ``"~ 1 | study"``, ``"~ 1 | district/school"``,
        ``"~ outcome | trial"`` (see :mod:`metareview.models.random_terms`).
    V : ndarray or scipy.sparse matrix, optional
        The k x k sampling covariance matrix (default ``diag(es.vi)``); block-diagonal by
        cluster, e.g. from :func:`~metareview.effects.covariance.vcalc`.
    struct : str or list of str
        Structure of ``~ inner | outer`` terms: ``CS, HCS, UN, AR, HAR, ID, DIAG``.
    method : str
        ``REML`` or ``ML``.
    test : str
        ``z`` or ``t``.
    dfs : str
        Degrees of freedom of t tests: ``residual`` (k - p) or ``contain`` (metafor's
        containment rule).
    level : float
        Confidence level in percent.
    mods : list of str or ndarray, optional
        Moderator columns (non-numeric ones become dummies; see ``categorical``), or a model
        matrix (k x m; metafor's ``mods = X``) whose columns ``coef_names`` names.
    intercept : bool
        Include an intercept (metafor's ``- 1`` in ``mods`` is ``intercept=False``: the first
        categorical moderator then gets a column for every level).
    btt : int, str or list, optional
        Coefficients for the test of moderators, numbered from 1 or named (metafor's
        ``btt``); by default every coefficient but the intercept.
    sigma2, tau2, rho, gamma2, phi : float or list, optional
        Hold components at values (``None``/NaN entries are estimated).

    Returns
    -------
    MultilevelMetaAnalysis
    """
    from metareview.models.rma import design_matrix

    method = str(method).upper()
    if method not in METHODS:
        raise InputError(f"method {method!r}: multilevel models are fitted by REML or ML")
    if test not in ("z", "t"):
        raise InputError(f"test {test!r}: multilevel models use z or t tests")
    if dfs not in DFS:
        raise InputError(f"dfs {dfs!r}: use residual or contain")
    src = es.source
    data = es.data.reset_index(drop=True)
    if isinstance(mods, np.ndarray):
        X, names, complete = _matrix_mods(mods, es.k, intercept, coef_names, src)
        mods = ()
    else:
        X, names, complete = design_matrix(data, list(mods or ()), source=src,
                                           categorical=categorical, intercept=intercept)
    keep = np.flatnonzero(complete)
    warnings: list[str] = []
    if len(keep) < es.k:
        warnings.append(f"{es.k - len(keep)} estimate(s) with a missing moderator were left out")
    Vm = None
    if V is not None:
        Vm = _sampling_matrix(V, es.k, src)[keep][:, keep]
    es_k = es.subset(keep) if len(keep) < es.k else es
    data = es_k.data.reset_index(drop=True)
    k, p = X.shape
    if np.linalg.matrix_rank(X) < p:
        raise InputError(f"{src or 'data'}: the moderators are collinear (the model matrix has "
                         f"rank {np.linalg.matrix_rank(X)} < {p} columns)")
    if k <= p:
        raise InputError(f"{src or 'data'}: {k} estimates cannot fit {p} coefficients")
    bad = np.flatnonzero(~np.isfinite(es_k.yi))
    if len(bad):
        raise InputError(f"{src or 'data'}, estimate {bad[0] + 1}: the effect size is missing")
    if Vm is None:
        bad = np.flatnonzero(~(es_k.vi > 0))
        if len(bad):
            raise InputError(f"{src or 'data'}, estimate {bad[0] + 1}: sampling variance must be "
                             f"positive (got {es_k.vi[bad[0]]:g})")
    terms = parse_random(data, random, struct, sigma2=sigma2, tau2=tau2, rho=rho, gamma2=gamma2,
                         phi=phi, source=src)
    prob = blocks.Problem(es_k.yi, es_k.vi, X, terms, V=Vm)
    # the model with V alone, once: the check of V, the starting values, QE and tr(P) use it
    e0 = prob.evaluate(np.zeros((1, prob.R)), reml=True, need=0)
    if e0["bad"][0]:
        raise InputError(f"{src or 'data'}: V is not positive definite")
    sol = blocks.fit(prob, reml=method == "REML", theta0=blocks.start_values(prob, e0))
    return _result(es_k, prob, sol, method, test, dfs, level, names, tuple(mods or ()),
                   tuple(warnings), Vm, btt, e0)


def _matrix_mods(mods: np.ndarray, k: int, intercept: bool, names: Sequence[str] | None,
                 src: str | None) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    X = np.asarray(mods, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.shape[0] != k:
        raise InputError(f"{src or 'data'}: the moderator matrix has {X.shape[0]} rows for {k} "
                         "estimates")
    names = list(names) if names is not None else [f"X{j + 1}" for j in range(X.shape[1])]
    if len(names) != X.shape[1]:
        raise InputError(f"{src or 'data'}: {len(names)} coefficient names for {X.shape[1]} "
                         "moderator columns")
    if intercept:
        X = np.column_stack([np.ones(k), X])
        names = ["intrcpt", *names]
    complete = np.isfinite(X).all(axis=1)
    return X[complete], tuple(names), complete


def _result(es, prob: blocks.Problem, sol: blocks.Solution, method, test, dfs, level, names,
            mods, warnings, Vm, btt_spec=None, e0=None) -> MultilevelMetaAnalysis:
    k, p = prob.n, prob.p
    theta = sol.theta[0]
    beta = sol.beta[0]
    is_var = np.array([q.kind == "var" for q in prob.params])
    theta = np.where(is_var & (theta <= 10 * np.finfo(float).eps), 0.0, theta)
    vb = sol.A[0]
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    if test == "t":
        df = (np.full(p, float(k - p)) if dfs == "residual" else containment_df(prob))
        crit = stats.t.ppf(0.5 + level / 200, df)
        pval = 2 * stats.t.sf(np.abs(stat), df)
    else:
        df = None
        crit = np.full(p, stats.norm.ppf(0.5 + level / 200))
        pval = 2 * stats.norm.sf(np.abs(stat))
    # QE from the model with V alone
    if e0 is None:
        e0 = prob.evaluate(np.zeros((1, prob.R)), reml=True, need=0)
    qe = float(e0["rss"][0])
    qe_p = float(stats.chi2.sf(qe, k - p)) if k > p else np.nan
    # as metafor, a first column of ones is the intercept, however the matrix was given
    intercept = bool(np.all(prob.X[:, 0] == 1.0))
    btt_1 = ((1,) if p == 1 and btt_spec is None else
             select_btt(names, btt_spec, intercept=intercept, what="meta_analysis_mv"))
    btt = np.array(btt_1) - 1
    bsub = beta[btt]
    qm = float(bsub @ np.linalg.solve(vb[np.ix_(btt, btt)], bsub))
    m = len(btt)
    if test == "t":
        ddf = float(df[btt].min()) if dfs == "contain" else float(k - p)
        qm /= m
        qm_p = float(stats.f.sf(qm, m, ddf))
        qm_df: tuple[int, float | None] = (m, ddf)
    else:
        qm_p = float(stats.chi2.sf(qm, m))
        qm_df = (m, None)
    # log-likelihoods: the fitted one, and the other at the same components
    other = prob.evaluate(sol.theta, reml=method != "REML", need=0)["ll"][0]
    ll = float(sol.ll[0])
    ll_reml, ll_ml = (ll, float(other)) if method == "REML" else (float(other), ll)
    # components and I^2 per level
    comps: list[Component] = []
    for t in prob.terms:
        for prm in t.params:
            r = prob.params.index(prm)
            if t.kind == "sigma":
                comps.append(Component(prm.name, "sigma2", float(theta[r]), t.formula, t.name,
                                       len(set(t.outer.tolist())), prm.fixed is not None))
            else:
                kind = prm.name.split(".")[0]
                lvl = _param_level(t, prm)
                comps.append(Component(prm.name, kind, float(theta[r]), t.formula, lvl,
                                       len(t.inner_levels) if prm.kind == "var" else 0,
                                       prm.fixed is not None))
    sig = np.array([c.value for c in comps if c.kind == "sigma2"])
    trp = float(trace_p0(prob, e0["A"])[0])
    typical = (k - p) / trp
    i2 = 100 * sig / (sig.sum() + typical) if len(sig) else np.zeros(0)
    fitted = prob.X @ beta
    return MultilevelMetaAnalysis(
        measure=es.measure, method=method, test=test, dfs=dfs, level=float(level), k=k,
        coef_names=tuple(names), coef=beta, coef_se=se, coef_stat=stat, coef_p=pval,
        coef_ci_low=beta - crit * se, coef_ci_high=beta + crit * se,
        coef_df=None if df is None else np.asarray(df, float), vcov=vb, components=tuple(comps),
        qe=qe, qe_df=k - p, qe_p=qe_p, qm=qm, qm_df=qm_df, qm_p=qm_p, ll=ll, ll_ml=ll_ml,
        ll_reml=ll_reml, ll_saturated=_ll_saturated(prob), i2=i2,
        i2_total=float(i2.sum()) if len(i2) else np.nan,
        converged=bool(sol.converged[0]), iterations=int(sol.iterations[0]), yi=prob.y,
        vi=prob.vi, study=tuple(es.study), X=prob.X, terms=prob.terms, theta=theta,
        fitted=fitted, intercept=intercept, mods=mods, effects=es, warnings=warnings,
        problem=prob, V=Vm, information=sol.info[0], btt=btt_1,
    )


@dataclass(frozen=True, eq=False)
class GroupFitsMV:
    """Many multilevel models fitted at once (one per group), as arrays.

    ``theta`` holds the variance components (G x R) in the order of ``param_names``;
    ``beta``/``se``/``stat``/``pval``/``ci_low``/``ci_high`` are G x p (z tests);
    ``status`` is "" for a fitted group, else why it was not fitted.
    """

    groups: np.ndarray
    k: np.ndarray
    param_names: tuple[str, ...]
    coef_names: tuple[str, ...]
    theta: np.ndarray
    beta: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    ll: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    status: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """One row per group: k, the components, each coefficient's estimate/se/z/p/CI."""
        out = {"group": self.groups, "k": self.k}
        for r, n in enumerate(self.param_names):
            out[n] = self.theta[:, r]
        for j, n in enumerate(self.coef_names):
            pre = "" if len(self.coef_names) == 1 else f"{n}."
            for key, arr in (("estimate", self.beta), ("se", self.se), ("zval", self.stat),
                             ("pval", self.pval), ("ci_low", self.ci_low),
                             ("ci_high", self.ci_high)):
                out[pre + key] = arr[:, j]
        out |= {"loglik": self.ll, "converged": self.converged, "iterations": self.iterations,
                "status": self.status}
        return pd.DataFrame(out)


def fit_mv_groups(
    data: pd.DataFrame,
    group: str | np.ndarray,
    random: str | Sequence[str],
    *,
    yi: str = "yi",
    vi: str = "vi",
    struct: str | Sequence[str] = "CS",
    method: str = "REML",
    level: float = 95,
    mods: Sequence[str] = (),
) -> GroupFitsMV:
    """Fit one multilevel model per group of rows, all at once (the engine under ``batch``).

    Every group has the same random-effects terms and moderators (numeric columns); the
    blocks of all groups are stacked, so G small models cost about as much as one model of
    their total size.

    Parameters
    ----------
    data : DataFrame
        Long format: ``yi``, ``vi``, the random factors' columns, moderators and ``group``.
    group : str or array
        Column (or array) naming each row's model; the result lists the groups (as text) in
        the order they first appear.
    random, struct, method, level, mods
        As :func:`meta_analysis_mv`.
    """
    method = str(method).upper()
    if method not in METHODS:
        raise InputError(f"method {method!r}: multilevel models are fitted by REML or ML")
    keys = data[group].to_numpy() if isinstance(group, str) else np.asarray(group)
    # groups in order of first appearance (sorting their text would put "10" before "2")
    gid, uniq = pd.factorize(keys.astype(str), sort=False)
    uniq = np.asarray(uniq, dtype=str)
    y = pd.to_numeric(data[yi], errors="coerce").to_numpy(float)
    v = pd.to_numeric(data[vi], errors="coerce").to_numpy(float)
    G = len(uniq)
    cols = [np.ones(len(data))] + [pd.to_numeric(data[m], errors="coerce").to_numpy(float)
                                   for m in mods]
    X = np.column_stack(cols)
    p = X.shape[1]
    status = np.array([""] * G, dtype=object)
    bad_row = ~(np.isfinite(y) & (v > 0) & np.isfinite(X).all(axis=1))
    for g in np.unique(gid[bad_row]):
        status[g] = "missing or invalid yi, vi or moderator"
    k = np.bincount(gid, minlength=G)
    status[(k <= p) & (status == "")] = "too few estimates"
    ok_g = status == ""
    rows = np.flatnonzero(ok_g[gid])
    # refer groups to 0..G'-1 for the engine
    remap = -np.ones(G, dtype=np.int64)
    remap[ok_g] = np.arange(int(ok_g.sum()))
    sub = data.iloc[rows].reset_index(drop=True)
    terms = parse_random(sub, random, struct)
    names = ("intrcpt", *mods)
    R = sum(len(t.params) for t in terms)
    theta = np.full((G, R), np.nan)
    beta = np.full((G, p), np.nan)
    A = np.full((G, p, p), np.nan)
    ll = np.full(G, np.nan)
    conv = np.zeros(G, dtype=bool)
    its = np.zeros(G, dtype=np.int64)
    if len(rows):
        prob = blocks.Problem(y[rows], v[rows], X[rows], terms, group=remap[gid[rows]])
        sol = blocks.fit(prob, reml=method == "REML")
        theta[ok_g], beta[ok_g], A[ok_g] = sol.theta, sol.beta, sol.A
        ll[ok_g], conv[ok_g], its[ok_g] = sol.ll, sol.converged, sol.iterations
        _absent_levels(theta, terms, gid[rows], G)
    se = np.sqrt(np.diagonal(A, axis1=1, axis2=2))
    stat = beta / se
    crit = stats.norm.ppf(0.5 + level / 200)
    return GroupFitsMV(
        groups=uniq, k=k, param_names=tuple(p_.name for t in terms for p_ in t.params),
        coef_names=names, theta=theta, beta=beta, se=se, stat=stat,
        pval=2 * stats.norm.sf(np.abs(stat)), ci_low=beta - crit * se, ci_high=beta + crit * se,
        ll=ll, converged=conv, iterations=its, status=status)


def _absent_levels(theta: np.ndarray, terms: tuple[Term, ...], gid: np.ndarray, G: int) -> None:
    """NaN for the components of inner levels a group does not have (one variance per level:
    HCS, UN, DIAG, HAR): the terms' levels are those of all groups together, and a model
    says nothing about a level it has no estimate of."""
    off = 0
    for t in terms:
        r = len(t.params)
        m = len(t.inner_levels)
        if t.kind == "struct" and t.struct in ("HCS", "UN", "DIAG", "HAR"):
            have = np.zeros((G, m), dtype=bool)
            have[gid, t.inner] = True
            theta[:, off:off + m] = np.where(have, theta[:, off:off + m], np.nan)
            if t.struct == "UN":
                pairs = [(a, b) for a in range(m) for b in range(a + 1, m)]
                for q, (a, b) in enumerate(pairs):
                    col = off + m + q
                    theta[:, col] = np.where(have[:, a] & have[:, b], theta[:, col], np.nan)
        off += r


def _param_level(t: Term, prm) -> str:
    parts = prm.name.split(".")
    if len(parts) == 1:
        return t.extra.get("inner_name", "")
    i = int(parts[1]) - 1
    m = len(t.inner_levels)
    if prm.kind == "var":
        return t.inner_levels[i]
    pairs = [(a, b) for a in range(m) for b in range(a + 1, m)]
    a, b = pairs[i]
    return f"{t.inner_levels[a]}-{t.inner_levels[b]}"


def containment_df(prob: blocks.Problem) -> np.ndarray:
    """Degrees of freedom per coefficient by metafor's containment rule (``dfs = "contain"``).

    A random factor *contains* a column of X when the column is constant within each of the
    factor's levels. A coefficient's df is the number of levels of the smallest factor that
    contains its column (k if none does), minus p, and at least 1 (metafor 3.8's
    ``.ddf.calc``: each ``~ 1 | f`` factor, and the inner and outer factors of
    ``~ inner | outer`` terms, are candidates).
    """
    k, p = prob.n, prob.p
    factors = []
    for t in prob.terms:
        factors.append(t.outer)
        if t.kind == "struct":
            factors.append(np.asarray(t.inner).astype(str))
    df = np.full(p, float(k))
    for f in factors:
        _, code = np.unique(np.asarray(f).astype(str), return_inverse=True)
        n_f = int(code.max()) + 1
        for j in range(p):
            x = prob.X[:, j]
            lo = np.full(n_f, np.inf)
            hi = np.full(n_f, -np.inf)
            np.minimum.at(lo, code, x)
            np.maximum.at(hi, code, x)
            if np.all(lo == hi):
                df[j] = min(df[j], n_f)
    return np.maximum(df - p, 1.0)


__all__ = ["Component", "GroupFitsMV", "MultilevelMetaAnalysis", "containment_df",
           "fit_mv_groups", "meta_analysis_mv", "trace_p0"]
