"""Estimators of the between-study variance tau^2 for one analysis.

These are the one-group case of :mod:`metareview.models.core`, which holds the only
implementation (formulas of metafor 3.8 ``rma.uni``: Viechtbauer 2005, J Educ Behav Stat
30:261; Viechtbauer 2010, J Stat Softw 36(3)), including metafor's standard errors of tau^2.

ML, REML, EB and PM are iterative. metafor solves ML/REML/EB by Fisher scoring, which on a few
datasets in a thousand fails to converge or stops at a local maximum below the boundary value.
Here Fisher scoring is only the fast path: whenever it does not converge, or the likelihood at
tau^2 = 0 is higher, the score equation is solved by bracketing (Brent's method) over every
sign change on a grid, and the candidate with the highest likelihood wins. EB and PM solve the
generalised Q equation ``Q(tau^2) = k - p``, monotone and convex, by Newton's method from 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metareview.models import core
from metareview.models.core import METHODS, RANDOM

__all__ = ["METHODS", "RANDOM", "Tau2Estimate", "estimate_tau2", "generalized_q", "loglik"]


@dataclass(frozen=True)
class Tau2Estimate:
    """An estimate of tau^2 with its standard error and how it was reached."""

    tau2: float
    se: float
    method: str
    converged: bool = True
    iterations: int = 0
    solver: str = "closed form"


def _one(y: np.ndarray, v: np.ndarray, X: np.ndarray | None) -> core.Data:
    y = np.asarray(y, dtype=float)
    if X is not None and X.shape[1] == 1:
        X = None
    return core.Data(y, np.asarray(v, dtype=float), X, core.Groups([len(y)]))


def loglik(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, reml: bool) -> float:
    """(Restricted) log-likelihood of the random-effects model at ``tau2``, as metafor.

    The REML version includes metafor's ``+ 1/2 log|X'X|`` term (``REMLf=TRUE``).
    """
    return float(core.log_likelihood(_one(y, v, X), np.array([tau2]), reml)[0])


def generalized_q(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """The generalised Q statistic ``sum w_i (y_i - x_i'b)^2`` with ``w_i = 1/(v_i + tau2)``."""
    return float(core.generalized_q(_one(y, v, X), np.array([tau2]))[0])


def estimate_tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> Tau2Estimate:
    """Estimate tau^2 by one of metafor's methods.

    Parameters
    ----------
    y, v : ndarray
        Effect sizes and sampling variances (``v > 0``).
    X : ndarray
        k x p model matrix with an intercept column.
    method : str
        ``FE``, ``DL``, ``HE``, ``HS``, ``SJ``, ``ML``, ``REML``, ``EB`` or ``PM``
        (see :func:`metareview.models.core.estimate_tau2`).

    Returns
    -------
    Tau2Estimate
        Truncated at zero, with metafor's standard error for that estimator.
    """
    est = core.estimate_tau2(_one(y, v, X), method)
    return Tau2Estimate(float(est.tau2[0]), float(est.se[0]), method, bool(est.converged[0]),
                        int(est.iterations[0]), str(est.solver[0]))
