"""Fixed- and random-effects meta-analysis and meta-regression (metafor's ``rma.uni``)."""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from metareview.effects.escalc import (
    DoubleZeroWarning,
    DuplicateLabelWarning,
    EffectSizes,
    all_double_zero_message,
    double_zero_message,
    duplicate_labels_message,
)
from metareview.errors import InputError, where
from metareview.models.core import TESTS
from metareview.models.fit import fit_groups
from metareview.models.mh import mantel_haenszel, peto
from metareview.models.result import MetaAnalysis
from metareview.models.tau2 import Tau2Estimate, check_method

#: The methods that pool 2x2 tables rather than effect sizes (registry entries with
#: ``inverse_variance=False``).
_TABLES = {"MH": mantel_haenszel, "PETO": peto}


class KnappHartungWarning(UserWarning):
    """The Knapp-Hartung scale factor is 0, so every SE is 0 and every interval has no width."""


# ---------------------------------------------------------------------------------------------
def design_matrix(
    data: pd.DataFrame, mods: Sequence[str], *, source: str | None = None,
    categorical: Sequence[str] = (), intercept: bool = True,
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Model matrix for moderators: intercept, numeric columns, and dummies for categories.

    A column is categorical if named in ``categorical`` or not numeric. Levels are sorted
    (as R's ``factor``) and the first is the reference, so coefficients match metafor's
    ``mods = ~ factor(x)``. Without an intercept (``mods = ~ x - 1``), the first categorical
    moderator has a column for every level, as in R.

    Returns
    -------
    X, names, complete
        The matrix (rows with a missing moderator excluded), coefficient names, and the
        boolean mask of rows used.
    """
    k = len(data)
    cols = [np.ones(k)] if intercept else []
    names = ["intrcpt"] if intercept else []
    complete = np.ones(k, dtype=bool)
    full = not intercept  # the next categorical moderator gets every level
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
            for lev in levels if full else levels[1:]:
                cols.append((raw.astype(str) == lev).to_numpy(dtype=float))
                names.append(f"{m}[{lev}]")
            full = False
        else:
            cols.append(numeric.to_numpy(dtype=float))
            names.append(m)
    if not cols:
        raise InputError(f"{source or 'data'}: a model without an intercept needs a moderator")
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
    drop00: bool | None = None,
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
    drop00 : bool, optional
        Leave out double-zero studies of 2x2 data (no events, or only events, in both arms).
        The default is metafor's: False for the inverse-variance methods (``rma.uni``), which
        keep them with the continuity correction ``effect_sizes`` applied; True for MH and Peto
        (``rma.mh``, ``rma.peto``), which keep the table in the pooled estimate but leave it
        out of Q, I^2 and H^2. Studies dropped or left out are named in a
        :class:`~metareview.effects.escalc.DoubleZeroWarning`.

    Returns
    -------
    MetaAnalysis
    """
    est = check_method(method)
    method = est.code
    repeated = duplicate_labels_message(es)
    if repeated is not None:
        _warnings.warn(repeated, DuplicateLabelWarning, stacklevel=2)
        es = replace(es, warnings=(*es.warnings, repeated))
    if not est.inverse_variance:
        if mods:
            raise InputError(f"method {method} does not take moderators")
        return _TABLES[method](es, level=level, drop00=True if drop00 is None else drop00)
    test = test.lower()
    if test not in TESTS:
        raise InputError(f"unknown test {test!r}; choose z, t or knha")
    if not 0 < level < 100:
        raise InputError(f"level must be between 0 and 100 (got {level:g})")
    warnings = list(es.warnings)
    if drop00 and es.double_zero.any():
        both = es.double_zero
        names00 = [es.study[i] for i in np.flatnonzero(both)]
        msg = double_zero_message(es.measure, names00, True, 0.0, "none")
        _warnings.warn(msg, DoubleZeroWarning, stacklevel=2)
        warnings.append(msg)
        es = es.subset(~both)
        es = replace(es, dropped=(*es.dropped, *names00))
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
        why = all_double_zero_message(es)
        raise InputError(f"{es.source or 'data'}: no studies to analyse"
                         + (f": {why}" if why else ""))
    _check_vi(es, method)
    k, p = X.shape
    if np.linalg.matrix_rank(X) < p:
        raise InputError(f"{es.source or 'data'}: moderators {', '.join(mods)} are collinear "
                         "(the model matrix is not of full rank)")
    need = p + (1 if (est.random_effects or test != "z") else 0)
    if k < need:
        raise InputError(
            f"{es.source or 'data'}: k = {k} stud{'y' if k == 1 else 'ies'} is too few for "
            f"method {method} with test {test} and {p} coefficient{'s' if p > 1 else ''} "
            f"(needs at least {need})"
        )
    fit = fit_design(es, X, names, method, test, level, mods, tuple(warnings))
    if test == "knha" and fit.s2w == 0:
        # metafor 3.8 does the same (s2w = 0 when the weighted RSS <= machine epsilon), silently.
        msg = knha_zero_message(fit)
        _warnings.warn(msg, KnappHartungWarning, stacklevel=2)
        fit = replace(fit, warnings=(*fit.warnings, msg))
    return fit


def knha_zero_message(fit: MetaAnalysis) -> str:
    """The warning for a Knapp-Hartung fit whose scale factor ``s2w`` is 0.

    Parameters
    ----------
    fit : MetaAnalysis
        A fit with ``test="knha"`` and ``s2w == 0``.

    Returns
    -------
    str
        Why the SE is 0 and what to do.
    """
    why = (f"the {fit.k} estimates are identical" if fit.intercept_only
           else "the estimates lie exactly on the fitted meta-regression")
    return (f"Knapp-Hartung SE is 0: {why}, so the residual heterogeneity is 0 (s2w = 0) and "
            "the confidence interval has no width and p = 0 (as metafor 3.8 reports); use test "
            "z or t for an interval from the sampling variances")


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
