"""Leave-one-out and cumulative analyses of many meta-analyses at once.

:func:`leave_one_out_many` and :func:`cumulative_many` give, for every analysis of a batch,
what :func:`~metareview.diagnostics.leave_one_out` and :func:`~metareview.diagnostics.cumulative`
give for one: the analysis with ``k`` studies becomes ``k`` subsets (each study left out in
turn, or the first 1, 2, ..., k studies), and all subsets of all analyses are fitted together
by :func:`~metareview.models.fit.fit_groups`, a few million rows at a time. The conventions
are those of the one-analysis functions (metafor's ``leave1out`` and ``cumul``): the same
estimator, test and level in every refit, a single study fitted with tau^2 = 0 and the z-test,
and CI bounds sorted.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from metareview.models.fit import fit_groups

__all__ = ["cumulative_many", "leave_one_out_many"]

#: Rows (studies, after expansion into subsets) fitted per call of the engine.
CHUNK_ROWS = 1_000_000

_FIELDS = ("estimate", "se", "stat", "p", "ci_low", "ci_high", "q", "q_p", "tau2", "i2", "h2")


def _check(y: np.ndarray, v: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, ...]:
    y = np.asarray(y, dtype=float).reshape(-1)
    v = np.asarray(v, dtype=float).reshape(-1)
    k = np.asarray(k, dtype=np.int64).reshape(-1)
    if len(v) != len(y):
        raise ValueError(f"y has {len(y)} values but v has {len(v)}")
    if (k < 1).any():
        raise ValueError("every analysis needs at least one study")
    if int(k.sum()) != len(y):
        raise ValueError(f"analysis sizes sum to {int(k.sum())} but there are {len(y)} effects")
    return y, v, k


def _analysis_chunks(rows_per_analysis: np.ndarray) -> Iterator[tuple[int, int]]:
    """Ranges of analyses whose expanded rows total about ``CHUNK_ROWS`` (at least one)."""
    ends = np.cumsum(rows_per_analysis, dtype=np.int64)
    n, lo = len(ends), 0
    while lo < n:
        base = ends[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(ends, base + CHUNK_ROWS, side="right")), lo + 1)
        yield lo, min(hi, n)
        lo = hi


def _fit_subsets(y: np.ndarray, v: np.ndarray, rows: np.ndarray, sizes: np.ndarray, *,
                 method: str, test: str, level: float) -> dict[str, np.ndarray]:
    """Fit every subset (``rows`` concatenated, ``sizes`` studies each) as ``_subfit`` does.

    Subsets of one study are fitted with tau^2 fixed at 0 and the z-test (metafor's rule for
    k = 1); empty subsets give NaN.
    """
    G = len(sizes)
    out = {f: np.full(G, np.nan) for f in _FIELDS}
    status = np.full(G, "", dtype=object)
    starts = np.zeros(G, dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    for sel, kw in (((sizes >= 2), {"test": test, "tau2": None}),
                    ((sizes == 1), {"test": "z", "tau2": 0.0})):
        ids = np.flatnonzero(sel)
        if len(ids) == 0:
            continue
        sub = sizes[ids]
        take = np.repeat(starts[ids] - np.concatenate([[0], np.cumsum(sub)[:-1]]), sub)
        r = rows[np.arange(int(sub.sum()), dtype=np.int64) + take]
        res = fit_groups(y[r], v[r], sub, None, method=method, level=level, r2=False, **kw)
        for name, arr in (("estimate", res.beta[:, 0]), ("se", res.se[:, 0]),
                          ("stat", res.stat[:, 0]), ("p", res.pval[:, 0]),
                          ("ci_low", res.ci_low[:, 0]), ("ci_high", res.ci_high[:, 0]),
                          ("q", res.q), ("q_p", res.q_p), ("tau2", res.tau2), ("i2", res.i2),
                          ("h2", res.h2)):
            out[name][ids] = arr
        status[ids] = res.status
    status[sizes == 0] = "no studies left"
    out["ci_low"], out["ci_high"] = (np.fmin(out["ci_low"], out["ci_high"]),
                                     np.fmax(out["ci_low"], out["ci_high"]))
    out["status"] = status
    return out


def _frame(parts: list[dict[str, np.ndarray]], lead: list[str]) -> pd.DataFrame:
    if not parts:
        cols = {c: [] for c in (*lead, "k", *_FIELDS, "status")}
        return pd.DataFrame(cols)
    data = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    order = [*lead, "k", *_FIELDS, "status"]
    return pd.DataFrame({c: data[c] for c in order})


def leave_one_out_many(
    y: np.ndarray,
    v: np.ndarray,
    k: np.ndarray | list[int],
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
) -> pd.DataFrame:
    """Leave-one-out analyses of many intercept-only meta-analyses (metafor ``leave1out``).

    Parameters
    ----------
    y, v : ndarray
        Effect sizes and sampling variances of all analyses, each analysis's studies
        contiguous.
    k : array of int
        Studies in each analysis, in storage order (sums to ``len(y)``).
    method : str
        ``FE`` or a tau^2 estimator (``DL, REML, ML, PM, HS, SJ, HE, EB``).
    test : str
        ``z``, ``t`` or ``knha``.
    level : float
        Confidence level in percent.

    Returns
    -------
    DataFrame
        One row per analysis and study left out: ``analysis`` (position in ``k``),
        ``omitted`` (position of the study within its analysis), ``k`` (studies in the refit),
        ``estimate, se, stat, p, ci_low, ci_high, q, q_p, tau2, i2, h2`` and ``status`` (why a
        refit failed; empty if fitted). Rows equal
        :func:`~metareview.diagnostics.leave_one_out` of each analysis; an analysis of one
        study (which that function refuses) gives a NaN row.
    """
    y, v, k = _check(y, v, k)
    starts = np.zeros(len(k), dtype=np.int64)
    np.cumsum(k[:-1], out=starts[1:])
    parts = []
    for lo, hi in _analysis_chunks(k * np.maximum(k - 1, 1)):
        kk, st = k[lo:hi], starts[lo:hi]
        analysis = np.repeat(np.arange(lo, hi), kk)  # one subset per (analysis, omitted)
        omitted = np.arange(int(kk.sum())) - np.repeat(np.cumsum(kk) - kk, kk)
        size = np.repeat(kk - 1, kk)
        # rows of each subset: positions 0..k-2 of its analysis, skipping the omitted one
        t = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
        rows = np.repeat(st[analysis - lo], size) + t + (t >= np.repeat(omitted, size))
        out = _fit_subsets(y, v, rows, size, method=method, test=test, level=level)
        out["status"][size == 0] = "k = 1: nothing to leave out"
        parts.append({"analysis": analysis, "omitted": omitted, "k": size, **out})
    return _frame(parts, ["analysis", "omitted"])


def cumulative_many(
    y: np.ndarray,
    v: np.ndarray,
    k: np.ndarray | list[int],
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
) -> pd.DataFrame:
    """Cumulative meta-analyses of many intercept-only analyses, in the given study order
    (metafor ``cumul``).

    Parameters
    ----------
    y, v : ndarray
        Effect sizes and sampling variances of all analyses, each analysis's studies
        contiguous and in the order they are to be added.
    k : array of int
        Studies in each analysis, in storage order (sums to ``len(y)``).
    method : str
        ``FE`` or a tau^2 estimator (``DL, REML, ML, PM, HS, SJ, HE, EB``).
    test : str
        ``z``, ``t`` or ``knha``.
    level : float
        Confidence level in percent.

    Returns
    -------
    DataFrame
        One row per analysis and step: ``analysis`` (position in ``k``), ``step`` (1-based;
        the model pools the first ``step`` studies), ``added`` (position of the study added
        within its analysis), ``k``, ``estimate, se, stat, p, ci_low, ci_high, q, q_p, tau2,
        i2, h2`` and ``status``. Rows equal :func:`~metareview.diagnostics.cumulative` of
        each analysis: step 1 is a single study, with tau^2 = 0 and the z-test.
    """
    y, v, k = _check(y, v, k)
    starts = np.zeros(len(k), dtype=np.int64)
    np.cumsum(k[:-1], out=starts[1:])
    parts = []
    for lo, hi in _analysis_chunks(k * (k + 1) // 2):
        kk, st = k[lo:hi], starts[lo:hi]
        analysis = np.repeat(np.arange(lo, hi), kk)
        added = np.arange(int(kk.sum())) - np.repeat(np.cumsum(kk) - kk, kk)
        size = added + 1
        t = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
        rows = np.repeat(st[analysis - lo], size) + t
        out = _fit_subsets(y, v, rows, size, method=method, test=test, level=level)
        parts.append({"analysis": analysis, "step": size, "added": added, "k": size, **out})
    return _frame(parts, ["analysis", "step", "added"])
