"""Fit statistics from a model's log-likelihoods (metafor's ``fitstats``), for univariate and
multilevel fits alike."""

from __future__ import annotations

import numpy as np


def fit_criteria(ll_ml: float, ll_reml: float, ll_saturated: float, k: int, p: int,
                 parms: int, reml: bool) -> dict[str, float]:
    """logLik, deviance, AIC, BIC and AICc as metafor's ``fitstats``.

    ML: ``deviance = -2 (ll - ll_saturated)``, and BIC and AICc with ``k``. REML (metafor's
    likelihood, which includes ``log|X'X| / 2``): ``deviance = -2 ll``, and ``k - p`` in place
    of ``k``. AICc uses ``max(n, parms + 2)`` for ``n``, as metafor.

    Parameters
    ----------
    ll_ml, ll_reml : float
        The fit's ML and REML log-likelihoods.
    ll_saturated : float
        ML log-likelihood of the saturated model (each estimate its own mean).
    k, p : int
        Number of estimates and of coefficients.
    parms : int
        Number of estimated parameters (coefficients and variance components).
    reml : bool
        Which likelihood.

    Returns
    -------
    dict
        ``logLik``, ``deviance``, ``AIC``, ``BIC``, ``AICc``.
    """
    if reml:
        ll, n, dev = ll_reml, k - p, -2 * ll_reml
    else:
        ll, n, dev = ll_ml, k, -2 * (ll_ml - ll_saturated)
    nn = max(n, parms + 2)
    return {"logLik": float(ll), "deviance": float(dev), "AIC": float(-2 * ll + 2 * parms),
            "BIC": float(-2 * ll + parms * np.log(n)),
            "AICc": float(-2 * ll + 2 * parms * nn / (nn - parms - 1))}


__all__ = ["fit_criteria"]
