"""Sampling covariance of dependent estimates (metafor's ``vcalc``).

Estimates from the same cluster (study) are correlated when they come from the same people.
``vcalc`` builds the block-diagonal ``V = S R S`` (``S = diag(sqrt(vi))``) from what is known
about each estimate, with metafor 3.8's rule for rows i, j of one cluster::

    R_ij = [type_i == type_j ? (obs_i == obs_j ? 1 : rho_obs) : rho_type] * g_ij

where ``g_ij`` is the correlation due to shared groups: each estimate contrasts group
``grp1`` with ``grp2`` (sizes ``w1``, ``w2``; time points ``time1``, ``time2`` with
autocorrelation ``phi``), and two contrasts that share a group (a multi-arm trial's common
control) are correlated as the difference of group means is (Gleser & Olkin 2009). Without
groups ``g_ij = 1``. Rows of different clusters are uncorrelated. The result is a scipy
sparse matrix: no k x k dense matrix is formed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from metareview.errors import InputError


def _col(data: pd.DataFrame | None, x: Any, name: str, k: int | None) -> np.ndarray | None:
    if x is None:
        return None
    if isinstance(x, str):
        if data is None or x not in data.columns:
            raise InputError(f"vcalc: no column {x} (given as {name})")
        arr = data[x].to_numpy()
    else:
        arr = np.asarray(x)
    if k is not None and len(arr) != k:
        raise InputError(f"vcalc: {name} has {len(arr)} values for {k} estimates")
    if pd.isna(arr).any():
        i = int(np.flatnonzero(pd.isna(arr))[0])
        raise InputError(f"vcalc, estimate {i + 1}, {name}: missing value")
    return arr


def _same_or_phi(a: np.ndarray, b: np.ndarray, ga: np.ndarray, gb: np.ndarray,
                 phi: float) -> np.ndarray:
    """``[ga == gb] * phi^|a - b|`` (1 when the time points are equal)."""
    with np.errstate(invalid="ignore"):
        lag = np.abs(a - b)
        val = np.where(lag == 0, 1.0, np.power(phi, lag))
    return np.where(ga == gb, val, 0.0)


def pairs_within(labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair of rows (``i[n]``, ``j[n]``) with the same label, each row with
    itself included, enumerated cluster size by cluster size (no k x k array)."""
    codes, _ = pd.factorize(pd.Series(np.asarray(labels)).astype(str))
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ii, jj = [], []
    for s in np.unique(sizes):
        st = starts[sizes == s]
        a, b = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
        ii.append(order[(st[:, None] + a.ravel()[None, :]).ravel()])
        jj.append(order[(st[:, None] + b.ravel()[None, :]).ravel()])
    return np.concatenate(ii), np.concatenate(jj)


def vcalc(
    vi: np.ndarray | Sequence[float] | str,
    cluster: Any,
    *,
    data: pd.DataFrame | None = None,
    obs: Any = None,
    type: Any = None,
    rho: float | Sequence[float] | None = None,
    grp1: Any = None,
    grp2: Any = None,
    w1: Any = None,
    w2: Any = None,
    time1: Any = None,
    time2: Any = None,
    phi: float | None = None,
) -> sp.csr_matrix:
    """Build the sampling covariance matrix of dependent estimates (metafor's ``vcalc``).

    Parameters
    ----------
    vi : array or column name
        Sampling variances.
    cluster : array or column name
        Estimates of different clusters are independent.
    data : DataFrame, optional
        Where column names are looked up.
    obs, type : array or column name, optional
        Observation (sample) and construct of each estimate: different observations of one
        construct correlate ``rho`` (``rho[0]`` with ``type`` too), different constructs
        ``rho`` (``rho[1]``).
    rho : float or pair of floats
        The correlations (needed with ``obs`` or ``type``).
    grp1, grp2, w1, w2 : array or column name, optional
        The groups each estimate contrasts and their sizes (shared control groups).
    time1, time2, phi : optional
        Time points of the groups and their autocorrelation.

    Returns
    -------
    scipy.sparse.csr_matrix
        The k x k covariance matrix.
    """
    v = np.asarray(_col(data, vi, "vi", None), dtype=float)
    k = len(v)
    cl = _col(data, cluster, "cluster", k)
    ob = _col(data, obs, "obs", k)
    ty = _col(data, type, "type", k)
    if (ob is not None or ty is not None) and rho is None:
        raise InputError("vcalc: give rho when obs or type is given")
    rhos = [rho] if rho is None or np.isscalar(rho) else list(rho)
    if ob is not None and ty is not None:
        if len(rhos) != 2:
            raise InputError("vcalc: with obs and type give two correlations (within and "
                             "between constructs)")
        r_obs, r_type = float(rhos[0]), float(rhos[1])
    elif ty is not None:
        r_obs, r_type = 0.0, float(rhos[0])
    elif ob is not None:
        r_obs, r_type = float(rhos[0]), 0.0
    else:
        r_obs = r_type = 0.0
    if max(abs(r_obs), abs(r_type)) > 1:
        raise InputError("vcalc: correlations must be in [-1, 1]")
    ob = np.ones(k) if ob is None else ob
    ty = np.ones(k) if ty is None else ty
    if grp2 is not None and grp1 is None:
        raise InputError("vcalc: give grp1 with grp2")
    g1 = np.ones(k) if grp1 is None else _col(data, grp1, "grp1", k)
    g2 = np.full(k, 2.0) if grp2 is None else _col(data, grp2, "grp2", k)
    t1 = np.ones(k) if time1 is None else np.asarray(_col(data, time1, "time1", k), float)
    t2 = t1 if time2 is None else np.asarray(_col(data, time2, "time2", k), float)
    if (time1 is not None or time2 is not None) and phi is None:
        raise InputError("vcalc: give phi with time1/time2")
    ph = 1.0 if phi is None else float(phi)
    a1 = np.ones(k) if w1 is None else np.asarray(_col(data, w1, "w1", k), float)
    a2 = a1 if w2 is None else np.asarray(_col(data, w2, "w2", k), float)
    i, j = pairs_within(cl)
    base = np.where(ty[i] == ty[j], np.where(ob[i] == ob[j], 1.0, r_obs), r_type)
    s11 = np.sqrt(1 / a1[i] / a1[j])
    s12 = np.sqrt(1 / a1[i] / a2[j])
    s21 = np.sqrt(1 / a2[i] / a1[j])
    s22 = np.sqrt(1 / a2[i] / a2[j])
    num = (_same_or_phi(t1[i], t1[j], g1[i], g1[j], ph) * s11
           - _same_or_phi(t1[i], t2[j], g1[i], g2[j], ph) * s12
           - _same_or_phi(t2[i], t1[j], g2[i], g1[j], ph) * s21
           + _same_or_phi(t2[i], t2[j], g2[i], g2[j], ph) * s22)

    def sd(x):
        return np.sqrt(1 / a1[x] + 1 / a2[x]
                       - 2 * _same_or_phi(t1[x], t2[x], g1[x], g2[x], ph)
                       * np.sqrt(1 / a1[x] / a2[x]))

    R = base * num / (sd(i) * sd(j))
    R[i == j] = 1.0
    vals = R * np.sqrt(v[i] * v[j])
    keep = vals != 0
    return sp.csr_matrix((vals[keep], (i[keep], j[keep])), shape=(k, k))


__all__ = ["pairs_within", "vcalc"]
