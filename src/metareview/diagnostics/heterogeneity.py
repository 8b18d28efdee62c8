"""Confidence intervals for the amount of heterogeneity (tau^2, I^2, H^2).

The Q-profile method (Viechtbauer 2007) inverts the generalised Q statistic
``Q(tau^2) = sum_i w_i(tau^2) (y_i - x_i'b(tau^2))^2`` with ``w_i = 1/(v_i + tau^2)``, which is
chi^2 with k - p degrees of freedom at the true tau^2 and decreasing in tau^2: the bounds solve
``Q(tau2_lb) = chi2_{1-alpha/2; k-p}`` and ``Q(tau2_ub) = chi2_{alpha/2; k-p}``. The bounds for
I^2 and H^2 follow by the monotone maps ``I^2 = 100 tau^2 / (vt + tau^2)`` and
``H^2 = tau^2 / vt + 1`` with the model's typical sampling variance ``vt`` (metafor's
``confint.rma.uni``, ``type = "QP"``).

References
----------
Viechtbauer W (2007). Confidence intervals for the amount of heterogeneity in meta-analysis.
Statistics in Medicine 26:37-52.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.optimize import brentq

from metareview._util.textfmt import printout_num
from metareview.diagnostics.influence import _fixed_tau2, _num
from metareview.models.kinds import require_univariate
from metareview.models.rma import MetaAnalysis
from metareview.models.tau2 import generalized_q


@dataclass(frozen=True, eq=False)
class Tau2CI:
    """Q-profile confidence intervals for tau^2, tau, I^2 and H^2.

    Each of ``tau2``, ``tau``, ``i2``, ``h2`` is ``(estimate, ci_low, ci_high)``.

    Attributes
    ----------
    level : float
        Confidence level in percent.
    lb_sign, ub_sign : str
        ``""`` for an exact bound; ``"<"`` when the bound is at the lower search limit
        ``tau2_min`` with Q there still below its critical value (the true bound is lower);
        ``">"`` when it is at the upper search limit ``tau2_max`` (the true bound is higher:
        the interval is open-ended at the precision searched). As metafor.
    ci_null : bool
        Both bounds fall below ``tau2_min <= 0``: Q is smaller than even the lower critical
        value, so the interval is empty ("the upper and lower CI bounds both fall below 0").
    tau2_min, tau2_max : float
        The interval searched (metafor: ``min(0, tau2)`` and ``max(100, 10 tau2)``).
    q_lower_crit, q_upper_crit : float
        ``chi2_{alpha/2; k-p}`` and ``chi2_{1-alpha/2; k-p}``.
    """

    level: float
    tau2: tuple[float, float, float]
    tau: tuple[float, float, float]
    i2: tuple[float, float, float]
    h2: tuple[float, float, float]
    lb_sign: str
    ub_sign: str
    ci_null: bool
    tau2_min: float
    tau2_max: float
    q_lower_crit: float
    q_upper_crit: float
    df: int
    method: str = "REML"

    @property
    def lb_at_limit(self) -> bool:
        """Whether the lower bound is a search limit rather than a solution of the Q equation."""
        return self.lb_sign != ""

    @property
    def ub_at_limit(self) -> bool:
        """Whether the upper bound is a search limit (``">"``: the interval is open-ended)."""
        return self.ub_sign != ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (bounds at a search limit are reported with their sign)."""
        def triple(t):
            return {"estimate": _num(t[0]), "ci_low": _num(t[1]), "ci_high": _num(t[2])}

        return {
            "method": self.method, "level": self.level, "type": "QP", "df": self.df,
            "tau2": triple(self.tau2), "tau": triple(self.tau), "i2": triple(self.i2),
            "h2": triple(self.h2), "lb_sign": self.lb_sign, "ub_sign": self.ub_sign,
            "ci_null": self.ci_null, "tau2_min": _num(self.tau2_min),
            "tau2_max": _num(self.tau2_max),
        }

    def summary(self) -> str:
        """A table in the layout of metafor's ``print(confint(res))``."""
        rows = (("tau^2", self.tau2, 4), ("tau", self.tau, 4), ("I^2(%)", self.i2, 4),
                ("H^2", self.h2, 4))
        cells = [(n, printout_num(t[0], d), self.lb_sign + printout_num(t[1], d),
                  self.ub_sign + printout_num(t[2], d)) for n, t, d in rows]
        w = [max(len(c[j]) for c in cells) for j in range(4)]
        w[1:] = [max(x, len(h)) for x, h in zip(w[1:], ("estimate", "ci.lb", "ci.ub"),
                                                 strict=True)]
        lines = [f"Q-profile {self.level:g}% confidence intervals for the heterogeneity "
                 f"({self.method}):", "",
                 " " * w[0] + " " + " ".join(f"{h:>{x}}" for h, x in
                                             zip(("estimate", "ci.lb", "ci.ub"), w[1:],
                                                 strict=True))]
        for c in cells:
            lines.append(f"{c[0]:<{w[0]}} " + " ".join(f"{s:>{x}}" for s, x in
                                                        zip(c[1:], w[1:], strict=True)))
        if self.ci_null:
            lines += ["", "The upper and lower CI bounds for tau^2 both fall below "
                      f"{self.tau2_min:g}.", "The CIs are therefore equal to the null/empty set."]
        elif self.ub_sign == ">":
            lines += ["", f"The upper bound is beyond the search limit tau^2 = "
                      f"{self.tau2_max:g} (pass a larger tau2_max)."]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def tau2_confint(
    fit: MetaAnalysis,
    level: float | None = None,
    *,
    tau2_min: float | None = None,
    tau2_max: float | None = None,
) -> Tau2CI:
    """Q-profile confidence interval for tau^2 and the derived I^2 and H^2 intervals.

    Parameters
    ----------
    fit : MetaAnalysis
        A random- or mixed-effects model (any tau^2 estimator; the interval itself does not
        depend on the estimator, only the reported point estimates do).
    level : float, optional
        Confidence level in percent; defaults to the model's.
    tau2_min, tau2_max : float, optional
        Search interval, as metafor's ``control = list(tau2.min, tau2.max)``; defaults
        ``min(0, tau2)`` and ``max(100, 10 tau2, 10 tau2_min)``.

    Returns
    -------
    Tau2CI

    Notes
    -----
    Mirrors metafor 3.8 ``confint.rma.uni(type = "QP")`` case by case, with ``Q`` evaluated at
    the search limits:

    * ``Q(tau2_min) < chi2_{alpha/2}``: both bounds are ``tau2_min`` (sign ``"<"``); the
      interval is null if ``tau2_min <= 0``.
    * otherwise the upper bound solves ``Q = chi2_{alpha/2}``, or is ``tau2_max`` (sign ``">"``)
      if ``Q(tau2_max)`` is still above it;
    * ``Q(tau2_max) > chi2_{1-alpha/2}``: both bounds are ``tau2_max`` (sign ``">"``);
    * otherwise the lower bound solves ``Q = chi2_{1-alpha/2}``, or is ``tau2_min`` if
      ``Q(tau2_min)`` is already below it (truncated at 0, so no sign when ``tau2_min = 0``).

    metafor finds the roots with ``uniroot`` at tolerance ``eps^0.25`` (about 1e-4) by
    default; here they are solved to machine precision (metafor agrees to 1e-10 with
    ``control = list(tol = 1e-13)``).
    """
    require_univariate(fit, "tau2_confint")
    if not fit.is_random_effects:
        raise ValueError("tau2_confint: the model does not contain a random-effects component")
    if _fixed_tau2(fit) is not None:
        raise ValueError("tau2_confint: the model does not contain an estimated tau^2")
    k, p = fit.X.shape
    if k - p < 1:
        raise ValueError(f"tau2_confint: needs k > p (k = {k}, p = {p})")
    if not np.all(fit.vi > 0):
        raise ValueError("tau2_confint: cannot compute the CI with non-positive sampling "
                         "variances")
    level = fit.level if level is None else float(level)
    if not 0 < level < 100:
        raise ValueError(f"level must be between 0 and 100 (got {level:g})")
    alpha = 1 - level / 100
    lo_lim = min(0.0, fit.tau2) if tau2_min is None else float(tau2_min)
    hi_lim = max(100.0, 10 * fit.tau2, 10 * lo_lim) if tau2_max is None else float(tau2_max)
    if not lo_lim < hi_lim:
        raise ValueError(f"tau2_confint: tau2_min ({lo_lim:g}) must be below tau2_max "
                         f"({hi_lim:g})")
    if np.any(fit.vi + lo_lim < 0):
        raise ValueError("tau2_confint: some marginal variances are negative at tau2_min")
    df = k - p
    crit_u = float(stats.chi2.isf(alpha / 2, df))
    crit_l = float(stats.chi2.ppf(alpha / 2, df))

    def q(t: float) -> float:
        return generalized_q(fit.yi, fit.vi, fit.X, t)

    def root(target: float) -> float:
        return float(brentq(lambda t: q(t) - target, lo_lim, hi_lim, xtol=1e-300,
                            rtol=4 * np.finfo(float).eps, maxiter=1000))

    q_min, q_max = q(lo_lim), q(hi_lim)
    lb_sign = ub_sign = ""
    ci_null = False
    if q_min < crit_l:
        lb = ub = lo_lim
        lb_sign = ub_sign = "<"
        ci_null = lo_lim <= 0
    elif q_max > crit_l:
        ub, ub_sign = hi_lim, ">"
    else:
        ub = root(crit_l)
    if q_max > crit_u:
        lb = ub = hi_lim
        lb_sign = ub_sign = ">"
    elif q_min < crit_u:
        lb = lo_lim
        if lo_lim > 0:
            lb_sign = "<"
    else:
        lb = root(crit_u)

    vt = fit.vt
    tau2 = (fit.tau2, lb, ub)
    tau = tuple(float(np.sqrt(t)) if t >= 0 else np.nan for t in tau2)
    i2 = (fit.i2, 100 * lb / (vt + lb), 100 * ub / (vt + ub))
    h2 = (fit.h2, lb / vt + 1, ub / vt + 1)
    as_float = lambda t: tuple(float(x) for x in t)  # noqa: E731
    return Tau2CI(
        level=level, tau2=as_float(tau2), tau=as_float(tau), i2=as_float(i2), h2=as_float(h2),
        lb_sign=lb_sign, ub_sign=ub_sign, ci_null=bool(ci_null), tau2_min=lo_lim,
        tau2_max=hi_lim, q_lower_crit=crit_l, q_upper_crit=crit_u, df=df, method=fit.method,
    )
