"""Mantel-Haenszel and Peto methods for 2x2 tables (metafor's ``rma.mh`` and ``rma.peto``).

Both pool the raw tables without continuity corrections (metafor's ``add = c(1/2, 0)``): the
correction only enters the per-study effect sizes shown in forest plots and used for Cochran's Q.
As metafor's ``rma.mh`` and ``rma.peto``, ``drop00=True`` by default: double-zero tables stay in
the pooled estimate (where they carry no weight for OR and RR) but their effect sizes are left
out of Cochran's Q, I^2 and H^2.
"""

from __future__ import annotations

import warnings as _warnings

import numpy as np

# scipy.special, not scipy.stats: the same functions (stats' chi2.sf is chdtrc, norm.sf is ndtr
# of -x) without the second of import time scipy.stats costs the command line.
from scipy import special

from metareview.effects.escalc import DoubleZeroWarning, EffectSizes, all_double_zero_message
from metareview.effects.measures import family
from metareview.errors import InputError
from metareview.models.result import MetaAnalysis


def _tables(es: EffectSizes, method: str) -> tuple[np.ndarray, ...]:
    if not {"ai", "bi", "ci", "di"} <= es.arms.keys():
        raise InputError(f"{es.source or 'data'}: method {method} needs 2x2 table columns "
                         "(ai,bi,ci,di or ai,n1i,ci,n2i)")
    a, b, c, d = (es.arms[x].astype(float) for x in ("ai", "bi", "ci", "di"))
    if es.k == 0:
        why = all_double_zero_message(es)
        raise InputError(f"{es.source or 'data'}: no studies to analyse"
                         + (f": {why}" if why else ""))
    return a, b, c, d


def _undefined(es: EffectSizes, what: str, otherwise: str) -> InputError:
    """The error for a pooled ratio with no information; when every table is double-zero it says
    so, and that a risk difference is defined."""
    both = es.double_zero
    if both.all():
        zero = bool(((es.arms["ai"] == 0) & (es.arms["ci"] == 0)).all())
        kind = "zero events in both arms" if zero else "no events, or only events, in both arms"
        n = es.k
        return InputError(f"{es.source or 'data'}: {what} is undefined: "
                          f"{'the study has' if n == 1 else f'all {n} studies have'} {kind} "
                          "(double-zero), which carry no information on a ratio; use measure RD, "
                          "which such studies inform")
    return InputError(f"{es.source or 'data'}: {what} is undefined ({otherwise})")


def _heterogeneity(q: float, k: int) -> tuple[float, float, float]:
    if k > 1:
        i2 = max(0.0, 100 * (q - (k - 1)) / q) if q > 0 else 0.0
        return float(special.chdtrc(k - 1, q)), i2, q / (k - 1)
    return 1.0, 0.0, 1.0


def _q_studies(es: EffectSizes, method: str, drop00: bool) -> tuple[np.ndarray, tuple[str, ...]]:
    """Which studies' effect sizes enter Q (all but double-zero ones under ``drop00``), and the
    warning saying so."""
    both = es.double_zero
    if not drop00 or not both.any():
        return np.ones(es.k, dtype=bool), ()
    names = [es.study[i] for i in np.flatnonzero(both)]
    n = len(names)
    msg = (f"{n} double-zero stud{'y' if n == 1 else 'ies'} kept in the {method} estimate but left "
           f"out of Q, I^2 and H^2 (drop00=True): {'; '.join(names)}")
    _warnings.warn(msg, DoubleZeroWarning, stacklevel=3)
    return ~both, (msg,)


def _result(es, method, level, beta, se, q, k_q, weights, extra, yi=None, vi=None,
            notes=()) -> MetaAnalysis:
    crit = -special.ndtri((1 - level / 100) / 2)
    # No events anywhere gives an RD with SE 0; metafor reports z and p as NA then.
    z = float(np.divide(beta, se)) if se > 0 else np.nan
    p = float(2 * special.ndtr(-abs(z)))
    q_p, i2, h2 = _heterogeneity(q, k_q)
    lo, hi = beta - crit * se, beta + crit * se
    arr = lambda x: np.array([x], dtype=float)  # noqa: E731
    return MetaAnalysis(
        measure=es.measure if method == "MH" else "OR", method=method, test="z",
        level=float(level), k=es.k, estimate=float(beta), se=float(se), stat=float(z), p=p,
        ci_low=float(lo), ci_high=float(hi), tau2=0.0, se_tau2=np.nan, i2=float(i2),
        h2=float(h2), q=float(q), q_df=k_q - 1, q_p=q_p, pi_low=np.nan, pi_high=np.nan,
        weights=weights, yi=es.yi if yi is None else yi, vi=es.vi if vi is None else vi,
        study=es.study, coef=arr(beta), coef_se=arr(se), coef_stat=arr(z), coef_p=arr(p),
        coef_ci_low=arr(lo), coef_ci_high=arr(hi), vcov=np.array([[se**2]]),
        X=np.ones((es.k, 1)), effects=es, extra=extra, warnings=(*es.warnings, *notes),
    )


def mantel_haenszel(es: EffectSizes, level: float = 95, *, drop00: bool = True) -> MetaAnalysis:
    """Mantel-Haenszel pooled OR, RR or RD.

    Variances: Robins, Breslow and Greenland (1986) for the OR; Greenland and Robins (1985) for
    the RR and RD, as in metafor's ``rma.mh`` and RevMan. For the OR it also reports the
    Cochran-Mantel-Haenszel test (without continuity correction) and Tarone's test for
    heterogeneity of the odds ratios. Cochran's Q uses the per-study effect sizes (with their
    continuity corrections) about the MH estimate.

    Parameters
    ----------
    es : EffectSizes
        Effect sizes with measure OR, RR or RD computed from 2x2 tables.
    level : float
        Confidence level in percent.
    drop00 : bool
        Leave double-zero studies out of Q, I^2 and H^2 (metafor's ``rma.mh`` default, True).
    """
    # Not family == "binary": PETO, AS, PHI … come from 2x2 tables too but have no MH estimator.
    if es.measure not in ("OR", "RR", "RD"):
        raise InputError(f"Mantel-Haenszel needs measure OR, RR or RD (got {es.measure})")
    a, b, c, d = _tables(es, "MH")
    n1, n2 = a + b, c + d
    N = n1 + n2
    extra: dict = {}
    if es.measure == "OR":
        P, Q = (a + d) / N, (b + c) / N
        Ri, Si = a * d / N, b * c / N
        R, S = Ri.sum(), Si.sum()
        if R == 0 or S == 0:
            raise _undefined(es, "the Mantel-Haenszel odds ratio",
                             "no discordant information: every table has a zero product")
        est = R / S
        beta = np.log(est)
        se = np.sqrt(0.5 * ((P * Ri).sum() / R**2 + (P * Si + Q * Ri).sum() / (R * S)
                            + (Q * Si).sum() / S**2))
        xt, yt = a + c, b + d
        # metafor's default correct=TRUE: continuity-corrected CMH statistic.
        dev = abs(np.sum(a - n1 / N * xt)) - 0.5
        mh = dev**2 / np.sum(n1 / N * n2 / N * xt * yt / (N - 1))
        extra["mh_stat"] = float(mh)
        extra["mh_stat_p"] = float(special.chdtrc(1, mh))
        extra.update(_tarone(a, n1, n2, N, xt, yt, est))
        w = Si
    elif es.measure == "RR":
        R, S = np.sum(a * n2 / N), np.sum(c * n1 / N)
        if a.sum() == 0 or c.sum() == 0:
            raise _undefined(es, "the Mantel-Haenszel risk ratio",
                             "no events in one arm across all studies")
        beta = np.log(R / S)
        se = np.sqrt(np.sum(n1 / N * n2 / N * (a + c) - a / N * c) / (R * S))
        w = c * n1 / N
    else:
        den = np.sum(n1 * n2 / N)
        beta = np.sum(a * n2 / N - c * n1 / N) / den
        se = np.sqrt((beta * np.sum(c * (n1 / N) ** 2 - a * (n2 / N) ** 2
                                    + n1 / N * n2 / N * (n2 - n1) / 2)
                      + np.sum(a * (n2 - c) / N + c * (n1 - a) / N) / 2) / den**2)
        w = n1 * n2 / N
    # Cochran's Q from the per-study effects (without double-zero studies under drop00).
    in_q, notes = _q_studies(es, "MH", drop00)
    yi, vi = es.yi[in_q], es.vi[in_q]
    q = max(0.0, float(np.sum((yi - beta) ** 2 / vi)))
    weights = 100 * w / w.sum()
    k_q = int(in_q.sum())
    return _result(es, "MH", level, float(beta), float(se), q, k_q, weights, extra, notes=notes)


def _tarone(a, n1, n2, N, xt, yt, est) -> dict:
    """Breslow-Day statistic with Tarone's correction, as metafor's ``rma.mh``."""
    if est == 1:
        n11 = n1 / N * xt
    else:
        A = est * (n1 + xt) + (n2 - xt)
        B = np.sqrt(A**2 - 4 * n1 * xt * est * (est - 1))
        n11 = (A - B) / (2 * (est - 1))
    pos = (n11 > 0) & (xt > 0) & (yt > 0)
    n11 = n11[pos]
    n12, n21 = n1[pos] - n11, xt[pos] - n11
    n22 = n11 - n1[pos] - xt[pos] + N[pos]
    var = 1 / (1 / n11 + 1 / n12 + 1 / n21 + 1 / n22)  # variance of a under the common OR
    bd = max(0.0, float(np.sum((a[pos] - n11) ** 2 / var)))
    ta = max(0.0, bd - float(np.sum(a[pos] - n11) ** 2 / np.sum(var)))
    kp = int(pos.sum())
    ok = kp > 1
    return {
        "breslow_day": bd,
        "breslow_day_p": float(special.chdtrc(kp - 1, bd)) if ok else None,
        "tarone": ta,
        "tarone_p": float(special.chdtrc(kp - 1, ta)) if ok else None,
    }


def peto(es: EffectSizes, level: float = 95, *, drop00: bool = True) -> MetaAnalysis:
    """Peto's one-step odds ratio (Yusuf et al. 1985), as metafor's ``rma.peto``.

    The pooled log OR is ``sum(O - E) / sum(V)`` over the raw tables, with SE ``1/sqrt(sum V)``;
    per-study log ORs ``(O - E) / V`` (with metafor's continuity correction for zero cells) are
    kept for display. Q is ``sum (O-E)^2/V - (sum (O-E))^2 / sum V`` over the tables with
    ``V > 0``; its degrees of freedom count the studies with an effect size, which leaves out
    double-zero studies under ``drop00`` (metafor's ``rma.peto`` default, True).

    Parameters
    ----------
    es : EffectSizes
        Effect sizes computed from 2x2 tables.
    level : float
        Confidence level in percent.
    drop00 : bool
        Leave double-zero studies out of the degrees of freedom of Q, I^2 and H^2.
    """
    if family(es.measure) != "binary" or es.measure not in ("OR", "RR", "RD", "PETO"):
        raise InputError(f"Peto's method needs 2x2 tables (measure OR); got {es.measure}")
    a, b, c, d = _tables(es, "PETO")
    n1, n2 = a + b, c + d
    N = n1 + n2
    xt, yt = a + c, b + d
    E = xt * n1 / N
    V = xt * yt * (n1 / N) * (n2 / N) / (N - 1)
    if V.sum() == 0:
        raise _undefined(es, "Peto's odds ratio", "no events")
    beta = float(np.sum(a - E) / V.sum())
    se = float(np.sqrt(1 / V.sum()))
    pos = V > 0
    q = max(0.0, float(np.sum((a[pos] - E[pos]) ** 2 / V[pos]) - np.sum(a - E) ** 2 / V.sum()))
    # Per-study Peto log ORs with metafor's escalc(measure="PETO") zero-cell correction.
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    ac, bc, cc, dc = (x + 0.5 * zero for x in (a, b, c, d))
    n1c, n2c = ac + bc, cc + dc
    Nc = n1c + n2c
    Ec = (ac + cc) * n1c / Nc
    Vc = (ac + cc) * (bc + dc) * (n1c / Nc) * (n2c / Nc) / (Nc - 1)
    yi, vi = (ac - Ec) / Vc, 1 / Vc
    weights = 100 * V / V.sum()
    in_q, notes = _q_studies(es, "PETO", drop00)
    k_q = int(in_q.sum()) if int(pos.sum()) > 1 else 1
    return _result(es, "PETO", level, beta, se, q, k_q, weights, {}, yi=yi, vi=vi, notes=notes)
