"""Resampling for one meta-analysis, fitted as one batch: permutation tests, bootstrap, GOSH.

Every method here turns one fitted model into thousands of refits: permuted moderators,
flipped signs, simulated or resampled studies, or subsets of studies. Instead of refitting in a
loop (as metafor does), each is built as a batch of groups and fitted with
:func:`~metareview.models.fit.fit_groups` a few million rows at a time, so 1,000 permutations
cost about as much as a handful of single fits.

* :func:`permutest` is metafor 3.8's ``permutest.rma.uni``: exact when the number of distinct
  permutations is at most ``iter``, approximate otherwise.
* :func:`bootstrap` draws parametric or non-parametric bootstrap samples and gives percentile,
  basic and normal intervals for every coefficient and tau^2.
* :func:`gosh` is metafor's ``gosh.rma``: the model fitted to every subset of studies (or to a
  random sample of subsets), as in Olkin, Dahabreh & Trikalinos (2012).

References
----------
Higgins JPT, Thompson SG (2004). Controlling the risk of spurious findings from
meta-regression. Statistics in Medicine 23:1663-1682.
Viechtbauer W, López-López JA, Sánchez-Meca J, Marín-Martínez F (2015). A comparison of
procedures to test for moderators in mixed-effects meta-regression models. Psychological
Methods 20:360-374.
Olkin I, Dahabreh IJ, Trikalinos TA (2012). GOSH - a graphical display of study
heterogeneity. Research Synthesis Methods 3:214-223.
Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap. Chapman & Hall.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from metareview._util.jsonable import jsonable
from metareview._util.textfmt import printout_num, printout_p, signif_stars
from metareview.models.fit import fit_groups
from metareview.models.kinds import require_univariate
from metareview.models.rma import MetaAnalysis

__all__ = [
    "Bootstrap",
    "Gosh",
    "PermutationTest",
    "bootstrap",
    "gosh",
    "permutest",
]

#: Rows (studies) fitted per call of the engine: bounds the memory of its work arrays.
CHUNK_ROWS = 1_000_000

#: metafor's ``comptol``: ``sqrt(.Machine$double.eps)``.
COMPTOL = float(np.sqrt(np.finfo(float).eps))

#: Largest exact enumeration accepted (metafor would stop with "Too many iterations").
MAX_EXACT = 10**9

#: Largest number of GOSH subsets enumerated (their inclusion matrix is held in memory).
MAX_SUBSETS = 2**27


def _seed_value(seed: Any) -> int | None:
    """The seed as an int for the record (None for a Generator or no seed)."""
    return int(seed) if isinstance(seed, (int, np.integer)) else None


# ---- shared helpers -------------------------------------------------------------------------
def _check_fit(fit: MetaAnalysis, what: str) -> None:
    """Refuse a fit ``what`` (the public function's name) cannot resample."""
    require_univariate(fit, what)
    if not fit.is_inverse_variance:
        raise ValueError(f"{what} needs a model fitted by a tau^2 estimator or FE (metafor's "
                         f"rma.uni), not method {fit.method}")


def _fixed_tau2(fit: MetaAnalysis) -> float | None:
    """tau^2 if the fit held it fixed (metafor's ``tau2.fix``), else None."""
    if fit.tau2_fit is not None and fit.tau2_fit.solver == "fixed":
        return float(fit.tau2)
    return None


def _design(fit: MetaAnalysis) -> np.ndarray:
    X = np.asarray(fit.X, dtype=float)
    if X.size == 0:  # a result built without its design: intercept only
        X = np.ones((fit.k, 1))
    return X


def _chunks(sizes: np.ndarray, rows: int = CHUNK_ROWS) -> Iterator[tuple[int, int]]:
    """Consecutive ranges of groups whose total size is about ``rows`` (at least one group)."""
    n = len(sizes)
    if n == 0:
        return
    ends = np.cumsum(sizes, dtype=np.int64)
    lo = 0
    while lo < n:
        base = ends[lo - 1] if lo else 0
        hi = int(np.searchsorted(ends, base + rows, side="right"))
        hi = max(hi, lo + 1)
        yield lo, min(hi, n)
        lo = hi


def _fit_batch(fit: MetaAnalysis, y: np.ndarray, v: np.ndarray, k: np.ndarray,
               X: np.ndarray | None, *, test: str | None = None,
               tau2: float | None = None) -> dict[str, np.ndarray]:
    """Refit the model of ``fit`` to groups of studies: the fields the resampling methods use.

    A group the engine cannot fit has NaN results and ``ok`` False (metafor's failed refit).
    """
    res = fit_groups(y, v, k, X, method=fit.method, test=test or fit.test, level=fit.level,
                     coef_names=fit.coef_names, tau2=tau2, r2=False)
    return {"beta": res.beta, "se": res.se, "stat": res.stat, "qm": res.qm, "tau2": res.tau2,
            "q": res.q, "i2": res.i2, "h2": res.h2, "ok": res.status == ""}


def _stack(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _rows_table(labels: list[str], header: list[str], rows: list[list[str]]) -> list[str]:
    width = max([len(s) for s in labels] + [0])
    colw = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(header)]
    lines = [" " * width + "  " + "  ".join(f"{h:>{w}}" for h, w in zip(header, colw,
                                                                         strict=True))]
    for lab, row in zip(labels, rows, strict=True):
        lines.append(f"{lab:<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(row, colw,
                                                                                strict=True)))
    return lines


# ---- enumerating permutations ---------------------------------------------------------------
def _multinomial(counts: np.ndarray) -> int:
    """``n! / prod(c_j!)``, exactly (Python integers)."""
    out, n = 1, 0
    for c in (int(c) for c in counts):
        n += c
        out *= math.comb(n, c)
    return out


def multiset_permutations(counts: np.ndarray, start: int = 0, stop: int | None = None
                          ) -> np.ndarray:
    """Distinct permutations of a multiset, in lexicographic order (rows ``start:stop``).

    The multiset holds ``counts[j]`` copies of the value ``j``. Rows are computed directly from
    their rank (lexicographic unranking), all at once: at each position the block of
    permutations that continue with value ``j`` has ``M c_j / n`` members, where ``M`` is the
    number of completions of the current prefix, ``c_j`` the copies of ``j`` left and ``n`` the
    positions left; the rank picks the block. Any range of ranks can be produced on its own, so
    long enumerations are made in chunks.

    Parameters
    ----------
    counts : array of int
        Copies of each value ``0 .. m-1``.
    start, stop : int
        The ranks to produce (default: all ``n! / prod(c_j!)``).

    Returns
    -------
    ndarray of int
        ``(stop - start) x n``; row ``r`` is the permutation of rank ``start + r``. This is the
        order of metafor's ``.genuperms``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    total = _multinomial(counts)
    stop = total if stop is None else min(stop, total)
    if total * max(n, 1) >= 2**62:
        raise ValueError(f"too many permutations to enumerate ({total})")
    r = np.arange(start, stop, dtype=np.int64)
    N = len(r)
    rows = np.arange(N)
    C = np.broadcast_to(counts, (N, len(counts))).copy()
    M = np.full(N, total, dtype=np.int64)
    out = np.empty((N, n), dtype=np.int64)
    for pos in range(n):
        blocks = M[:, None] * C // (n - pos)
        cum = np.cumsum(blocks, axis=1)
        j = (r[:, None] >= cum).sum(axis=1)
        r = r - np.where(j > 0, cum[rows, np.maximum(j - 1, 0)], 0)
        M = blocks[rows, j]
        C[rows, j] -= 1
        out[:, pos] = j
    return out


def _sorted_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``X`` sorted by its columns left to right (R's ``order``) and counts."""
    order = np.lexsort(X.T[::-1])
    Xs = X[order]
    new = np.ones(len(Xs), dtype=bool)
    new[1:] = np.any(Xs[1:] != Xs[:-1], axis=1)
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, len(Xs)))
    return Xs[starts], counts


def _exact_count(fit: MetaAnalysis) -> int:
    """Number of distinct permutations: ``2^k`` sign vectors, or ``k! / prod(n_j!)``."""
    if fit.intercept_only:
        return 2**fit.k
    return _multinomial(_sorted_rows(_design(fit))[1])


# ---- permutation test -----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PermutationTest:
    """A permutation test of a meta-analysis or meta-regression (metafor's ``permutest``).

    Attributes
    ----------
    coef_names : tuple of str
        Coefficient names, intercept first.
    beta, se, stat : ndarray
        The model's coefficients, standard errors and z (or t) statistics.
    pval : ndarray
        Permutation p-values of the coefficients.
    ci_low, ci_high : ndarray
        The model's confidence intervals (not permutation based).
    qm : float
        Omnibus statistic of the moderators (QM, or F with ``test="knha"``/``"t"``); for an
        intercept-only model the test of the intercept (``stat**2``).
    qm_df : tuple
        ``(m, None)`` for QM, ``(m, k - p)`` for F.
    qm_p : float
        Permutation p-value of the omnibus test.
    exact : bool
        Whether all distinct permutations were enumerated.
    iter : int
        Number of permutations (the exact count when ``exact``).
    n_failed : int
        Refits that failed (dropped from the p-values, as metafor's ``na.rm = TRUE``).
    beta_perm, stat_perm : ndarray
        Permutation distributions, ``iter x p``; row order as metafor's.
    qm_perm : ndarray
        Permutation distribution of ``qm``.
    """

    method: str
    test: str
    level: float
    k: int
    coef_names: tuple[str, ...]
    beta: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    qm: float
    qm_df: tuple[int, int | None]
    qm_p: float
    exact: bool
    iter: int
    n_failed: int
    alternative: str
    p2defn: str
    stat_kind: str
    beta_perm: np.ndarray
    stat_perm: np.ndarray
    qm_perm: np.ndarray
    seed: int | None = None

    @property
    def intercept_only(self) -> bool:
        """Whether the model has no moderators (signs were flipped instead of rows permuted)."""
        return len(self.coef_names) == 1

    @property
    def stat_name(self) -> str:
        """``"z"`` or ``"t"``."""
        return "t" if self.test in ("t", "knha") else "z"

    def coefficients(self) -> pd.DataFrame:
        """Coefficient table with permutation p-values (metafor's ``pval*``)."""
        return pd.DataFrame(
            {"estimate": self.beta, "se": self.se, f"{self.stat_name}val": self.stat,
             "pval": self.pval, "ci_low": self.ci_low, "ci_high": self.ci_high},
            index=list(self.coef_names))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (the permutation distributions included)."""
        return jsonable({
            "method": self.method, "test": self.test, "level": self.level, "k": self.k,
            "exact": self.exact, "iter": self.iter, "n_failed": self.n_failed,
            "alternative": self.alternative, "p2defn": self.p2defn, "stat": self.stat_kind,
            "seed": self.seed,
            "coefficients": [
                {"name": n, "estimate": b, "se": s, "stat": z, "pval": p, "ci_low": lo,
                 "ci_high": hi}
                for n, b, s, z, p, lo, hi in zip(self.coef_names, self.beta, self.se,
                                                 self.stat, self.pval, self.ci_low,
                                                 self.ci_high, strict=True)],
            "qm": self.qm, "qm_df": list(self.qm_df), "qm_p": self.qm_p,
            "qm_perm": self.qm_perm,
            "beta_perm": {n: self.beta_perm[:, j] for j, n in enumerate(self.coef_names)},
            "stat_perm": {n: self.stat_perm[:, j] for j, n in enumerate(self.coef_names)},
        })

    def summary(self) -> str:
        """Readable text in the layout of metafor's ``print(permutest(res))``."""
        kind = ("exact" if self.exact else "approximate")
        what = "sign flips" if self.intercept_only else "permutations of the model matrix rows"
        lines = [f"Permutation test ({kind}; {self.iter} {what}"
                 + (f", {self.n_failed} failed refits)" if self.n_failed else ")"), ""]
        if not self.intercept_only:
            p = len(self.coef_names)
            m, ddf = self.qm_df
            lines.append(f"Test of Moderators (coefficients 2:{p}):¹")
            if ddf is None:
                lines.append(f"QM(df = {m}) = {self.qm:.4f}, p-val* = {printout_p(self.qm_p)}")
            else:
                lines.append(f"F(df1 = {m}, df2 = {ddf}) = {self.qm:.4f}, "
                             f"p-val* = {printout_p(self.qm_p)}")
            lines.append("")
        lines += ["Model Results:", ""]
        header = ["estimate", "se", f"{self.stat_name}val", "pval*", "ci.lb", "ci.ub", ""]
        rows = [[printout_num(b), printout_num(s), printout_num(z), printout_p(pv),
                 printout_num(lo), printout_num(hi), signif_stars(pv)]
                for b, s, z, pv, lo, hi in zip(self.beta, self.se, self.stat, self.pval,
                                               self.ci_low, self.ci_high, strict=True)]
        labels = [""] if self.intercept_only else list(self.coef_names)
        lines += _rows_table(labels, header, rows)
        lines += ["", "---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
                  "", "¹ p-value based on permutation testing"
                  + ("" if self.alternative == "two.sided" else f" ({self.alternative})")]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _perm_pvalues(obs: np.ndarray, perm: np.ndarray, alternative: str, p2defn: str
                  ) -> np.ndarray:
    """metafor's p-values: share of permutations at least as extreme (NaN rows dropped)."""
    tol = COMPTOL
    with np.errstate(invalid="ignore"):
        valid = ~np.isnan(perm)
        if alternative == "less":
            hit = perm <= obs + tol
        elif alternative == "greater":
            hit = perm >= obs - tol
        elif p2defn == "abs":
            hit = np.abs(perm) >= np.abs(obs) - tol
        else:  # "px2": twice the tail on the side of the observed value
            med = np.nanmedian(perm, axis=0)
            hit = np.where(obs > med, perm >= obs - tol, perm <= obs + tol)
        n = valid.sum(axis=0)
        p = (hit & valid).sum(axis=0) / np.where(n > 0, n, np.nan)
    if alternative == "two.sided" and p2defn == "px2":
        p = 2 * p
    return np.minimum(p, 1.0)


def permutest(
    fit: MetaAnalysis,
    iter: int = 1000,
    *,
    exact: bool | None = None,
    seed: int | np.random.Generator | None = None,
    alternative: str = "two.sided",
    p2defn: str = "abs",
    stat: str = "test",
) -> PermutationTest:
    """Permutation test of the coefficients and moderators (metafor 3.8 ``permutest``).

    Parameters
    ----------
    fit : MetaAnalysis
        A model fitted by a tau^2 estimator or FE, with or without moderators, any test; a
        fixed tau^2 stays fixed in every refit.
    iter : int
        Number of random permutations (at least 2).
    exact : bool, optional
        ``True``: enumerate every distinct permutation. ``None`` (default, metafor's
        ``exact = FALSE``): enumerate when there are at most ``iter`` of them, else draw
        ``iter`` at random. ``False``: always draw at random.
    seed : int or Generator, optional
        Seeds the random permutations (NumPy's generator; the draws cannot match R's).
    alternative : {"two.sided", "less", "greater"}
        Direction of the coefficient tests.
    p2defn : {"abs", "px2"}
        Two-sided p-value: share of ``|stat*| >= |stat|`` (default), or twice the one-sided
        p-value on the side of the observed value.
    stat : {"test", "coef"}
        Permute the test statistics (default) or the coefficients.

    Returns
    -------
    PermutationTest

    Notes
    -----
    As metafor: an intercept-only model flips the signs of ``yi`` (``2^k`` sign vectors, the
    first study varying fastest, so the first is the observed data); a meta-regression permutes
    the rows of the model matrix against the fixed ``(yi, vi)`` pairs. An exact test lists the
    distinct permutations of the rows of ``X`` sorted by its columns, in lexicographic order:
    there are ``k! / prod(n_j!)``, where ``n_j`` counts identical rows. An approximate test
    draws ``iter`` random sign vectors or permutations, redraws failed refits, and replaces the
    first with the observed statistics. Every p-value is the share of permutations at least as
    extreme as the observed one, up to ``comptol = sqrt(eps)``; the omnibus p-value is the
    share with ``QM* >= QM - comptol`` (with the t/Knapp-Hartung tests, the F statistic).
    """
    _check_fit(fit, "permutest")
    iter = int(np.round(iter))
    if iter < 2:
        raise ValueError("iter must be at least 2")
    if alternative not in ("two.sided", "less", "greater"):
        raise ValueError(f"alternative must be two.sided, less or greater (got {alternative!r})")
    if p2defn not in ("abs", "px2"):
        raise ValueError(f"p2defn must be abs or px2 (got {p2defn!r})")
    if stat not in ("test", "coef"):
        raise ValueError(f"stat must be test or coef (got {stat!r})")
    k = fit.k
    X = _design(fit)
    p = X.shape[1]
    int_only = p == 1
    n_exact = _exact_count(fit)
    use_exact = bool(exact) or (exact is None and n_exact <= iter)
    if use_exact and n_exact > MAX_EXACT:
        raise ValueError(f"too many permutations for an exact test ({n_exact:.3g}); "
                         "use exact=False or None")
    tau2 = _fixed_tau2(fit)
    y, v = np.asarray(fit.yi, dtype=float), np.asarray(fit.vi, dtype=float)

    def refit(arrangement: np.ndarray, Xs: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Fit the permuted data sets (rows of ``arrangement``), in chunks."""
        N = len(arrangement)
        parts = []
        for lo, hi in _chunks(np.full(N, k)):
            a = arrangement[lo:hi]
            n = hi - lo
            if int_only:
                yy = (a * y).ravel()
                XX = None
            else:
                yy = np.tile(y, n)
                XX = Xs[a.ravel()]
            parts.append(_fit_batch(fit, yy, np.tile(v, n), np.full(n, k), XX, tau2=tau2))
        return _stack(parts)

    seed_out = _seed_value(seed)
    if use_exact:
        N = n_exact
        parts = []
        if int_only:
            bits = np.arange(k)
            step = max(1, CHUNK_ROWS // k)
            for lo in range(0, N, step):
                codes = np.arange(lo, min(N, lo + step), dtype=np.int64)
                signs = 1.0 - 2.0 * ((codes[:, None] >> bits) & 1)
                parts.append(refit(signs))
        else:
            U, counts = _sorted_rows(X)
            step = max(1, CHUNK_ROWS // k)
            for lo in range(0, N, step):
                parts.append(refit(multiset_permutations(counts, lo, lo + step), U))
        res = _stack(parts)
        n_failed = int((~res["ok"]).sum())
    else:
        N = iter
        rng = np.random.default_rng(seed)
        if int_only:
            def draw(n: int) -> np.ndarray:
                return rng.choice(np.array([-1.0, 1.0]), size=(n, k))
        else:
            def draw(n: int) -> np.ndarray:
                return rng.permuted(np.tile(np.arange(k), (n, 1)), axis=1)
        arr = draw(N)
        res = refit(arr, X)
        # metafor draws again until a refit succeeds (it does not count failures).
        for _ in range(100):
            bad = np.flatnonzero(~res["ok"])
            if len(bad) == 0:
                break
            again = refit(draw(len(bad)), X)
            for name in res:
                res[name][bad] = again[name]
        n_failed = int((~res["ok"]).sum())

    beta_perm, stat_perm = res["beta"], res["stat"]
    qm_perm = stat_perm[:, 0] ** 2 if int_only else res["qm"]
    obs_beta = np.asarray(fit.coef, dtype=float)
    obs_stat = np.asarray(fit.coef_stat, dtype=float)
    obs_qm = float(obs_stat[0] ** 2) if int_only else float(fit.qm)
    if not use_exact:  # the first permutation is the observed data
        beta_perm[0], stat_perm[0], qm_perm[0] = obs_beta, obs_stat, obs_qm
    if stat == "test":
        pval = _perm_pvalues(obs_stat, stat_perm, alternative, p2defn)
    else:
        pval = _perm_pvalues(obs_beta, beta_perm, alternative, p2defn)
    with np.errstate(invalid="ignore"):
        valid = ~np.isnan(qm_perm)
        qm_p = float(np.sum(qm_perm[valid] >= obs_qm - COMPTOL) / max(valid.sum(), 1))
    df = None if fit.test == "z" else k - p
    return PermutationTest(
        method=fit.method, test=fit.test, level=fit.level, k=k,
        coef_names=tuple(fit.coef_names), beta=obs_beta,
        se=np.asarray(fit.coef_se, dtype=float), stat=obs_stat, pval=pval,
        ci_low=np.asarray(fit.coef_ci_low, dtype=float),
        ci_high=np.asarray(fit.coef_ci_high, dtype=float), qm=obs_qm,
        qm_df=(max(p - 1, 1), df), qm_p=qm_p, exact=use_exact, iter=int(N),
        n_failed=n_failed, alternative=alternative, p2defn=p2defn, stat_kind=stat,
        beta_perm=beta_perm, stat_perm=stat_perm, qm_perm=qm_perm, seed=seed_out)


# ---- bootstrap ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Bootstrap:
    """Bootstrap distribution and confidence intervals of the coefficients and tau^2.

    Attributes
    ----------
    kind : str
        ``"parametric"`` or ``"nonparametric"``.
    names : tuple of str
        The parameters: the coefficient names, then ``"tau2"``.
    observed : ndarray
        The fitted values of the parameters.
    replicates : ndarray
        ``n_ok x len(names)``: the parameters in every successful bootstrap sample.
    n : int
        Bootstrap samples drawn.
    n_dropped : int
        Samples that could not be fitted (non-parametric: the resampled moderators were
        collinear) and are left out.
    level : float
        Confidence level (percent).
    bias, se : ndarray
        Mean of the replicates minus the observed value, and their standard deviation.
    percentile, basic, normal : ndarray
        ``len(names) x 2`` interval bounds (see :func:`bootstrap`).
    """

    kind: str
    method: str
    test: str
    level: float
    k: int
    names: tuple[str, ...]
    observed: np.ndarray
    replicates: np.ndarray
    n: int
    n_dropped: int
    bias: np.ndarray
    se: np.ndarray
    percentile: np.ndarray
    basic: np.ndarray
    normal: np.ndarray
    seed: int | None = None

    @property
    def n_ok(self) -> int:
        """Samples fitted."""
        return len(self.replicates)

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: estimate, bootstrap bias and SE, and the three intervals."""
        return pd.DataFrame(
            {"estimate": self.observed, "bias": self.bias, "se": self.se,
             "pct_low": self.percentile[:, 0], "pct_high": self.percentile[:, 1],
             "basic_low": self.basic[:, 0], "basic_high": self.basic[:, 1],
             "normal_low": self.normal[:, 0], "normal_high": self.normal[:, 1]},
            index=pd.Index(list(self.names), name="parameter"))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values, the replicates included."""
        return jsonable({
            "kind": self.kind, "method": self.method, "test": self.test, "level": self.level,
            "k": self.k, "n": self.n, "n_ok": self.n_ok, "n_dropped": self.n_dropped,
            "seed": self.seed,
            "parameters": [{"name": name, **row}
                           for name, row in self.to_frame().to_dict(orient="index").items()],
            "replicates": {name: self.replicates[:, j] for j, name in enumerate(self.names)},
        })

    def summary(self) -> str:
        """Readable table of the bootstrap intervals."""
        head = (f"{self.kind.capitalize()} bootstrap ({self.method}, k = {self.k}): "
                f"{self.n_ok} of {self.n} samples fitted"
                + (f", {self.n_dropped} dropped" if self.n_dropped else ""))
        pct = f"{self.level:g}%"
        header = ["estimate", "bias", "se", f"{pct} percentile", f"{pct} basic",
                  f"{pct} normal"]
        rows = [[printout_num(self.observed[j]), printout_num(self.bias[j]),
                 printout_num(self.se[j])]
                + [f"[{printout_num(ci[j, 0])}, {printout_num(ci[j, 1])}]"
                   for ci in (self.percentile, self.basic, self.normal)]
                for j in range(len(self.names))]
        return "\n".join([head, "", *_rows_table(list(self.names), header, rows)])

    def __str__(self) -> str:
        return self.summary()


def _boot_intervals(observed: np.ndarray, reps: np.ndarray, level: float
                    ) -> tuple[np.ndarray, ...]:
    alpha = 1 - level / 100
    if len(reps) < 2:
        nan = np.full((len(observed), 2), np.nan)
        return np.full(len(observed), np.nan), np.full(len(observed), np.nan), nan, nan, nan
    q = np.quantile(reps, [alpha / 2, 1 - alpha / 2], axis=0).T
    bias = reps.mean(axis=0) - observed
    se = reps.std(axis=0, ddof=1)
    basic = np.column_stack([2 * observed - q[:, 1], 2 * observed - q[:, 0]])
    z = -special.ndtri(alpha / 2)
    normal = np.column_stack([observed - bias - z * se, observed - bias + z * se])
    return bias, se, q, basic, normal


def bootstrap(
    fit: MetaAnalysis,
    n: int = 1000,
    *,
    kind: str = "parametric",
    seed: int | np.random.Generator | None = None,
    level: float | None = None,
) -> Bootstrap:
    """Bootstrap the coefficients and tau^2 of a model.

    Parameters
    ----------
    fit : MetaAnalysis
        A model fitted by a tau^2 estimator or FE, with or without moderators.
    n : int
        Bootstrap samples.
    kind : {"parametric", "nonparametric"}
        ``parametric``: ``y* ~ N(X b, v + tau^2)`` with the studies' own ``v`` and ``X``.
        ``nonparametric``: ``k`` studies (rows ``y, v, x``) drawn with replacement.
    seed : int or Generator, optional
        Seeds NumPy's generator.
    level : float, optional
        Confidence level in percent (default: the fit's).

    Returns
    -------
    Bootstrap

    Notes
    -----
    Every sample is refitted with the fit's estimator (and a fixed tau^2 stays fixed).
    Non-parametric samples whose model matrix is rank-deficient cannot be fitted; they are
    dropped and counted in ``n_dropped``. The intervals are, with ``q_a`` the ``a`` quantile of
    the replicates (linear interpolation, ``numpy.quantile``'s default):
    percentile ``[q_{a/2}, q_{1-a/2}]``; basic ``[2 t - q_{1-a/2}, 2 t - q_{a/2}]``; normal
    ``t - bias -/+ z_{1-a/2} se`` (bias-corrected, as ``boot.ci``'s "norm"). Basic and normal
    bounds for tau^2 are not truncated at 0.
    """
    _check_fit(fit, "bootstrap")
    if kind not in ("parametric", "nonparametric"):
        raise ValueError(f"kind must be parametric or nonparametric (got {kind!r})")
    if n < 1:
        raise ValueError("n must be at least 1")
    level = fit.level if level is None else float(level)
    if not 0 < level < 100:
        raise ValueError(f"level must be between 0 and 100 (got {level:g})")
    rng = np.random.default_rng(seed)
    k = fit.k
    X = _design(fit)
    p = X.shape[1]
    y, v = np.asarray(fit.yi, dtype=float), np.asarray(fit.vi, dtype=float)
    tau2_fixed = _fixed_tau2(fit)
    mu = X @ np.asarray(fit.coef, dtype=float)
    sd = np.sqrt(v + fit.tau2)
    parts = []
    for lo, hi in _chunks(np.full(n, k)):
        m = hi - lo
        if kind == "parametric":
            yy = (mu + sd * rng.standard_normal((m, k))).ravel()
            vv, XX = np.tile(v, m), (None if p == 1 else np.tile(X, (m, 1)))
        else:
            idx = rng.integers(0, k, size=(m, k)).ravel()
            yy, vv, XX = y[idx], v[idx], (None if p == 1 else X[idx])
        parts.append(_fit_batch(fit, yy, vv, np.full(m, k), XX, tau2=tau2_fixed))
    res = _stack(parts)
    ok = res["ok"]
    reps = np.column_stack([res["beta"][ok], res["tau2"][ok]])
    observed = np.append(np.asarray(fit.coef, dtype=float), fit.tau2)
    bias, se, pct, basic, normal = _boot_intervals(observed, reps, level)
    return Bootstrap(kind=kind, method=fit.method, test=fit.test, level=level, k=k,
                     names=(*fit.coef_names, "tau2"), observed=observed, replicates=reps, n=n,
                     n_dropped=int((~ok).sum()), bias=bias, se=se, percentile=pct,
                     basic=basic, normal=normal, seed=_seed_value(seed))


# ---- GOSH -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Gosh:
    """The model fitted to subsets of the studies (metafor's ``gosh``).

    Attributes
    ----------
    n_studies : int
        Studies in the full model.
    exact : bool
        Whether every subset of at least ``p`` studies was fitted (else a random sample).
    coef_names : tuple of str
        Coefficient names (``("estimate",)`` for an intercept-only model, as metafor's column).
    k : ndarray of int
        Studies in each subset (subsets are sorted by size).
    qe, i2, h2, tau2 : ndarray
        Heterogeneity statistics of each subset's fit.
    beta : ndarray
        ``subsets x p`` coefficients.
    incl : ndarray of bool
        ``subsets x n_studies``: which studies each subset includes.
    fit : ndarray of bool
        Which subsets were fitted (no missing value).
    """

    method: str
    n_studies: int
    exact: bool
    coef_names: tuple[str, ...]
    k: np.ndarray
    qe: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    tau2: np.ndarray
    beta: np.ndarray
    incl: np.ndarray
    fit: np.ndarray
    seed: int | None = None

    @property
    def n_subsets(self) -> int:
        """Subsets fitted (attempted)."""
        return len(self.k)

    def to_frame(self) -> pd.DataFrame:
        """metafor's ``res``: columns ``k, QE, I2, H2, tau2`` and the coefficients."""
        cols: dict[str, Any] = {"k": self.k, "QE": self.qe, "I2": self.i2, "H2": self.h2,
                                "tau2": self.tau2}
        for j, name in enumerate(self.coef_names):
            cols[name] = self.beta[:, j]
        return pd.DataFrame(cols)

    def to_dict(self, include_subsets: bool = True) -> dict[str, Any]:
        """Plain JSON-able values; ``incl`` as rows of 0/1 unless ``include_subsets=False``."""
        out: dict[str, Any] = {
            "method": self.method, "n_studies": self.n_studies, "exact": self.exact,
            "n_subsets": self.n_subsets, "n_fitted": int(self.fit.sum()), "seed": self.seed,
            "res": self.to_frame().to_dict(orient="list"),
            "fit": self.fit,
        }
        if include_subsets:
            out["incl"] = self.incl.astype(np.int8)
        return jsonable(out)

    def summary(self) -> str:
        """Counts and the distribution of each column (metafor's ``print(gosh(res))``)."""
        lines = [f"GOSH ({self.method}; {'all' if self.exact else 'random'} subsets of "
                 f"{self.n_studies} studies)", "",
                 f"Model fits attempted: {self.n_subsets}",
                 f"Model fits succeeded: {int(self.fit.sum())}", ""]
        frame = self.to_frame()
        labels, rows = [], []
        for name in frame.columns:
            x = frame[name].to_numpy(dtype=float)
            x = x[~np.isnan(x)]
            if len(x) == 0:
                stats_ = [np.nan] * 6
            else:
                q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
                stats_ = [x.mean(), x.min(), q1, med, q3, x.max()]
            labels.append(name)
            rows.append([printout_num(s) for s in stats_])
        lines += _rows_table(labels, ["mean", "min", "q1", "median", "q3", "max"], rows)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _popcount(codes: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros(len(codes), dtype=np.int64)
    for j in range(k):
        out += (codes >> j) & 1
    return out


def _all_subsets(k: int, p: int) -> np.ndarray:
    """Every subset of at least ``p`` of ``k`` studies, in metafor's order, as a bool matrix.

    ``expand.grid`` order is binary counting with study 1 as the lowest bit; rows are then
    stably sorted by size.
    """
    codes = np.arange(2**k, dtype=np.int64)
    size = _popcount(codes, k)
    keep = size >= p
    codes, size = codes[keep], size[keep]
    codes = codes[np.argsort(size, kind="stable")]
    incl = np.empty((len(codes), k), dtype=bool)
    for j in range(k):
        incl[:, j] = (codes >> j) & 1
    return incl


def _random_subsets(k: int, p: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random subsets as metafor: size ~ Binomial(k, 1/2) restricted to ``p..k``, then
    a random set of that many studies; sorted (stably) by size."""
    sizes = np.arange(p, k + 1)
    prob = stats.binom.pmf(sizes, k, 0.5)
    size = rng.choice(sizes, size=n, p=prob / prob.sum())
    incl = np.empty((n, k), dtype=bool)
    step = max(1, CHUNK_ROWS // k)
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        keys = rng.random((hi - lo, k))
        rank = np.argsort(np.argsort(keys, axis=1), axis=1)
        incl[lo:hi] = rank < size[lo:hi, None]
    return incl[np.argsort(size, kind="stable")]


def gosh(
    fit: MetaAnalysis,
    subsets: int = 1_000_000,
    *,
    seed: int | np.random.Generator | None = None,
) -> Gosh:
    """GOSH: fit the model to subsets of the studies (metafor 3.8 ``gosh``).

    Parameters
    ----------
    fit : MetaAnalysis
        A model fitted by a tau^2 estimator or FE, with or without moderators (k >= 2).
    subsets : int
        If the number of subsets with at least ``p`` studies, ``sum_{j>=p} C(k, j)``, is at
        most this, all are fitted; otherwise this many random subsets (they may repeat). The
        default fits every subset of an intercept-only model up to k = 19.
    seed : int or Generator, optional
        Seeds the random subsets.

    Returns
    -------
    Gosh

    Notes
    -----
    As metafor: the fixed-effect intercept-only model and the DerSimonian-Laird intercept-only
    model use closed forms (``Q``, ``I^2 = max(0, 100 (Q - (k-1))/Q)`` and ``H^2 = Q/(k-1)``
    from the inverse-variance fit, and for DL ``tau^2 = max(0, (Q-(k-1)) / (S1 - S2/S1))``
    with the estimate at that tau^2; a single study gives ``Q = 0, I^2 = 0, H^2 = 1``). Like
    metafor, the DL closed form is used even if the fit held tau^2 fixed. Every other model
    is refitted as ``rma.uni(..., subset = ...)`` (QE about the fixed-effect fit; ``I^2`` and
    ``H^2`` from tau^2 for random-effects models; a fixed tau^2 stays fixed), a single study
    with tau^2 = 0. Subsets the model cannot be fitted to
    (too few studies for an estimated tau^2, collinear moderators) are NaN except ``k``.
    """
    _check_fit(fit, "gosh")
    if fit.k < 2:
        raise ValueError("gosh: stopped because k = 1")
    k = fit.k
    X = _design(fit)
    p = X.shape[1]
    int_only = p == 1
    total = sum(math.comb(k, j) for j in range(p, k + 1))
    exact = total <= subsets
    if exact:
        if total > MAX_SUBSETS:
            raise ValueError(f"too many subsets to enumerate ({total}); pass a smaller "
                             "`subsets` to fit a random sample of them")
        incl = _all_subsets(k, p)
    else:
        incl = _random_subsets(k, p, int(subsets), np.random.default_rng(seed))
    size = incl.sum(axis=1)
    S = len(size)
    y, v = np.asarray(fit.yi, dtype=float), np.asarray(fit.vi, dtype=float)
    closed = int_only and fit.method in ("FE", "DL")
    tau2_fixed = _fixed_tau2(fit)

    qe, i2, h2, tau2 = (np.full(S, np.nan) for _ in range(4))
    beta = np.full((S, p), np.nan)
    one = (size == 1) & (int_only and not closed)
    if one.any():  # rma.uni with k = 1: FE with the z-test
        j = np.argmax(incl[one], axis=1)
        beta[one, 0] = y[j]
        qe[one], i2[one], h2[one], tau2[one] = 0.0, 0.0, 1.0, 0.0
    todo = np.flatnonzero(~one)
    for lo, hi in _chunks(size[todo]):
        ids = todo[lo:hi]
        col = np.nonzero(incl[ids])[1]
        sizes = size[ids]
        if closed:
            out = _closed_gosh(y[col], v[col], sizes, dl=fit.method == "DL")
            beta[ids, 0] = out["beta"]
        else:
            out = _fit_batch(fit, y[col], v[col], sizes, None if int_only else X[col],
                             test="z", tau2=tau2_fixed)
            beta[ids] = out["beta"]
            out = {**out, "qe": out["q"]}
        qe[ids], i2[ids], h2[ids], tau2[ids] = out["qe"], out["i2"], out["h2"], out["tau2"]
    ok = ~(np.isnan(qe) | np.isnan(i2) | np.isnan(h2) | np.isnan(tau2)
           | np.isnan(beta).any(axis=1))
    names = ("estimate",) if int_only else tuple(fit.coef_names)
    return Gosh(method=fit.method, n_studies=k, exact=exact, coef_names=names, k=size,
                qe=qe, i2=i2, h2=h2, tau2=tau2, beta=beta, incl=incl, fit=ok,
                seed=_seed_value(seed))


def _closed_gosh(y: np.ndarray, v: np.ndarray, k: np.ndarray, dl: bool
                 ) -> dict[str, np.ndarray]:
    """metafor's closed forms for FE (``model = 1``) and DL (``model = 2``) in ``gosh``."""
    starts = np.zeros(len(k), dtype=np.int64)
    np.cumsum(k[:-1], out=starts[1:])

    def gsum(a: np.ndarray) -> np.ndarray:
        return np.add.reduceat(a, starts)

    w = 1.0 / v
    sw = gsum(w)
    est = gsum(w * y) / sw
    q = gsum(w * (y - np.repeat(est, k)) ** 2)
    kf = k.astype(float)
    multi = k > 1
    with np.errstate(divide="ignore", invalid="ignore"):
        # Q = 0 with k > 1 gives -Inf inside max(), hence 0, as in R.
        i2 = np.where(multi & (q > 0), np.maximum(0.0, 100 * (q - (kf - 1)) / q), 0.0)
        h2 = np.where(multi, q / (kf - 1), 1.0)
        q = np.where(multi, q, 0.0)
        tau2 = np.zeros(len(k))
        if dl:
            tau2 = np.where(multi, np.maximum(0.0, (q - (kf - 1)) / (sw - gsum(w * w) / sw)),
                            0.0)
            wr = 1.0 / (v + np.repeat(tau2, k))
            est = np.where(multi, gsum(wr * y) / gsum(wr), est)
    return {"beta": est, "qe": q, "i2": i2, "h2": h2, "tau2": tau2}
