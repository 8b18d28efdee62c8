"""The per-chunk step of ``metareview batch --random``: one multilevel model per analysis.

:func:`fit_mv_runs` validates a block of rows against the file (every error names the file's
row, the analysis and the column), then hands all of the block's analyses to the vectorised
engine :func:`~metareview.models.multilevel.fit_mv_groups` at once, and returns one row per
analysis in input order, as :func:`~metareview.batch.frame.fit_runs` does for ``rma``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from metareview.batch.frame import _generic, _keyed, _numeric
from metareview.errors import InputError, where
from metareview.models.random_terms import formula_columns


def random_list(random: str | Sequence[str]) -> tuple[str, ...]:
    """The random-effects formulas as a tuple (one string or several), each checked as
    :func:`~metareview.models.random_terms.formula_columns` checks it."""
    return tuple(f for f, _, _ in formula_columns(random))


def random_columns(random: str | Sequence[str]) -> dict[str, str]:
    """Column name -> the formula naming it, for every factor the formulas use.

    ``factor(x)`` names column ``x``, as in
    :func:`~metareview.models.multilevel.meta_analysis_mv`.

    Raises
    ------
    InputError
        For a formula that is not ``~ inner | outer`` or a side that is not a column name.
    """
    out: dict[str, str] = {}
    for f, inner, outer in formula_columns(random):
        for n in (*outer, *(() if inner is None else (inner,))):
            out.setdefault(n, f)
    return out


def check_mv_options(measure: str, method: str, test: str) -> None:
    """The options a multilevel batch run takes: GEN data, REML or ML, z tests."""
    if measure != "GEN":
        raise InputError(f"multilevel batch runs (random effects) fit yi with vi or sei as "
                         f"given (measure GEN), not {measure}; compute the effect sizes first")
    if method not in ("REML", "ML"):
        raise InputError(f"random effects: multilevel models are fitted by REML or ML, not "
                         f"{method}")
    if test != "z":
        raise InputError(f"random effects: batch multilevel models use z tests, not {test}")


def fit_mv_runs(
    df: pd.DataFrame,
    starts: np.ndarray,
    uniques: pd.Index,
    *,
    group: str,
    random: str | Sequence[str],
    struct: str | Sequence[str] = "CS",
    method: str = "REML",
    level: float = 95.0,
    mods: Sequence[str] = (),
    source: str | None = None,
    first_row: int = 2,
    **columns: str,
) -> pd.DataFrame:
    """Fit one multilevel model per run of contiguous rows (one analysis each).

    Parameters
    ----------
    df : DataFrame
        One row per estimate: ``yi`` with ``vi`` or ``sei`` (renamed by ``columns``), the
        random factors' columns, moderators and ``group``.
    starts : ndarray of int
        Position of each analysis's first row (from :func:`~metareview.batch.frame.group_runs`).
    uniques : Index
        Each analysis's key, in order.
    group : str
        The key column (for messages and the output's first column).
    random, struct, method, level, mods
        As :func:`~metareview.models.multilevel.meta_analysis_mv` (z tests).
    source : str, optional
        File name used in error messages.
    first_row : int
        File row number of ``df``'s first row (the header is row 1).
    **columns : str
        ``yi``, ``vi`` or ``sei`` to column name.

    Returns
    -------
    DataFrame
        One row per analysis in input order: the key, ``k``, the variance components, each
        coefficient's ``estimate, se, zval, pval, ci_low, ci_high``, ``loglik``, ``converged``,
        ``iterations`` and ``status`` ("" when fitted, else why not, with NaN results).

    Raises
    ------
    InputError
        For a missing column, an empty random-factor cell, an empty or non-numeric number or a
        negative variance; the message names the file, row, analysis and column.
    """
    from metareview.models.multilevel import fit_mv_groups

    keys = df[group]
    yi, vi = _generic(df, keys, source, first_row, columns)
    # Private names, so a factor or moderator column called yi or vi cannot clash.
    body: dict[str, np.ndarray] = {"__yi": yi, "__vi": vi}
    for col, formula in random_columns(random).items():
        if col not in df.columns:
            raise InputError(f"{source or 'data'}: missing column {col} (named in the random "
                             f"effects {formula!r})")
        cells = df[col]
        empty = cells.isna().to_numpy()
        if not pd.api.types.is_numeric_dtype(cells.dtype):  # numbers cannot be blank text
            empty = empty | (cells.astype(str).str.strip() == "").to_numpy()
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            raise InputError(f"{where(source, first_row + i, str(keys.iloc[i]), col)}: empty "
                             f"cell (a factor of the random effects {formula!r})")
        body[col] = cells.to_numpy()
    for m in mods:
        if m not in df.columns:
            raise InputError(f"{source or 'data'}: missing column {m} (named as a moderator)")
        body[m] = _numeric(df, m, keys, source, first_row)
    n = len(df)
    run = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n)))
    fits = fit_mv_groups(pd.DataFrame(body), run, random, yi="__yi", vi="__vi", struct=struct,
                         method=method, level=level, mods=tuple(mods))
    # the engine keeps the runs' order, so its rows are the input's analyses in order
    out = fits.to_frame().drop(columns="group")
    return _keyed(out, group, uniques, source)


__all__ = ["check_mv_options", "fit_mv_runs", "random_columns", "random_list"]
