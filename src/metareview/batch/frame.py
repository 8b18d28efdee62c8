"""Many meta-analyses from one long-format table: one row per study, a column naming its analysis.

:func:`fit_frame` is the per-chunk step of ``metareview batch``: it validates a block of rows
(the boundary, as :func:`~metareview.effects.escalc.effect_sizes` is for one analysis), finds
each analysis's rows from run lengths of the group column, and hands the flat arrays to the
vectorised engine :func:`~metareview.models.fit.fit_groups`. Nothing loops over rows or groups
in Python, so a chunk of a million studies is a handful of array operations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from metareview.effects.escalc import effect_sizes
from metareview.effects.measures import MEASURES
from metareview.errors import InputError, where
from metareview.models.core import TESTS
from metareview.models.fit import fit_groups
from metareview.models.tau2 import check_method


def check_options(measure: str, method: str, test: str, level: float) -> tuple[str, str, str]:
    """Validate and normalise the model options of a batch run.

    Returns
    -------
    measure, method, test
        Upper-cased measure and method codes, lower-cased test.

    Raises
    ------
    InputError
        For an unknown code or a level outside (0, 100). MH and Peto are not available in
        batch mode: they need the 2x2 tables, which the vectorised engine does not take.
    """
    measure, method, test = measure.upper(), method.upper(), test.lower()
    if measure not in MEASURES:
        raise InputError(f"unknown measure {measure!r}; choose one of {', '.join(MEASURES)}")
    method = check_method(method, inverse_variance=True).code
    if test not in TESTS:
        raise InputError(f"unknown test {test!r}; choose z, t or knha")
    if not 0 < level < 100:
        raise InputError(f"level must be between 0 and 100 (got {level:g})")
    return measure, method, test


def group_runs(
    keys: pd.Series, *, source: str | None = None, first_row: int = 2
) -> tuple[np.ndarray, pd.Index, np.ndarray]:
    """Find the runs of equal keys: where each analysis's rows start.

    Parameters
    ----------
    keys : Series
        The group column of a block of rows.
    source : str, optional
        File name for error messages.
    first_row : int
        File row number of the block's first row (the header is row 1).

    Returns
    -------
    starts : ndarray of int
        Position of the first row of each run.
    uniques : Index
        The key of each run, in order of appearance.
    repeat : ndarray of int
        Positions (into ``starts``) of runs whose key already had an earlier run: empty when
        every analysis's rows are contiguous. The caller decides whether that is an error.

    Raises
    ------
    InputError
        For an empty key cell.
    """
    codes, uniques = pd.factorize(keys, sort=False, use_na_sentinel=True)
    if len(codes) == 0:
        return np.zeros(0, dtype=np.intp), pd.Index(uniques), np.zeros(0, dtype=np.intp)
    missing = np.flatnonzero(codes < 0)
    if len(missing):
        raise InputError(f"{where(source, first_row + int(missing[0]), None, keys.name)}: empty "
                         "cell (every row needs the key of its analysis)")
    starts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.concatenate(([0], starts))
    # factorize numbers keys in order of first appearance, so run j starts a new analysis
    # exactly when its code is j's count of new keys so far; any other run is a repeat.
    run_codes = codes[starts]
    if len(starts) == len(uniques):
        repeat = np.zeros(0, dtype=np.intp)
    else:
        seen_max = np.maximum.accumulate(run_codes)
        is_new = np.ones(len(starts), dtype=bool)
        is_new[1:] = run_codes[1:] > seen_max[:-1]
        repeat = np.flatnonzero(~is_new)
    return starts, pd.Index(uniques), repeat


def repeat_error(
    key: object, row: int, column: str, source: str | None, ended: int | None = None
) -> InputError:
    """The error for an analysis whose rows are not contiguous."""
    earlier = f"at row {ended}" if ended is not None else "earlier in the file"
    return InputError(
        f"{where(source, row, str(key), column)}: analysis {key} appears again after its rows "
        f"ended {earlier}; each analysis's rows must be contiguous (sort the file by {column})"
    )


def _numeric(
    df: pd.DataFrame, col: str, keys: pd.Series, source: str | None, first_row: int
) -> np.ndarray:
    """A column as floats; the first missing, non-numeric or infinite cell is an error."""
    raw = df[col]
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        i = int(bad[0])
        cell = raw.iloc[i]
        empty = pd.isna(cell) or str(cell).strip() == ""
        why = "empty cell" if empty else f"not a number ({cell!r})"
        raise InputError(f"{where(source, first_row + i, str(keys.iloc[i]), col)}: {why}")
    return values


def _generic(
    df: pd.DataFrame, keys: pd.Series, source: str | None, first_row: int,
    columns: dict[str, str],
) -> tuple[np.ndarray, np.ndarray]:
    """``yi`` with ``vi`` (or ``sei``) read as they are, as ``effect_sizes(measure="GEN")``."""
    yi_col = columns.get("yi", "yi")
    vi_col, sei_col = columns.get("vi", "vi"), columns.get("sei", "sei")
    if yi_col not in df.columns or (vi_col not in df.columns and sei_col not in df.columns):
        missing = [c for c in (yi_col, vi_col) if c not in df.columns]
        raise InputError(f"{source or 'data'}: missing column {', '.join(missing)} "
                         "(measure GEN needs columns yi,vi or yi,sei)")
    yi = _numeric(df, yi_col, keys, source, first_row)
    use_vi = vi_col in df.columns
    col = vi_col if use_vi else sei_col
    spread = _numeric(df, col, keys, source, first_row)
    bad = np.flatnonzero(spread < 0)
    if len(bad):
        i = int(bad[0])
        what = "sampling variance" if use_vi else "standard error"
        raise InputError(f"{where(source, first_row + i, str(keys.iloc[i]), col)}: negative "
                         f"{what} ({spread[i]:g})")
    return yi, (spread if use_vi else spread**2)


def fit_frame(
    df: pd.DataFrame,
    *,
    group: str,
    measure: str = "GEN",
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    mods: Sequence[str] = (),
    source: str | None = None,
    first_row: int = 2,
    drop00: bool = False,
    **columns: str,
) -> pd.DataFrame:
    """Fit one meta-analysis per group of a long-format table.

    Parameters
    ----------
    df : DataFrame
        One row per study; ``group`` names each study's analysis, and each analysis's rows are
        contiguous.
    group : str
        Column holding the analysis key.
    measure : str
        Effect measure as :func:`~metareview.effects.escalc.effect_sizes`. ``GEN`` reads
        ``yi`` with ``vi`` or ``sei`` as they are; other measures compute them from the arm
        data.
    method, test, level
        As :func:`~metareview.models.rma.meta_analysis` (MH and PETO are not available).
    mods : sequence of str
        Numeric moderator columns; the model matrix is ``[1, mods...]`` in every analysis.
    source : str, optional
        File name used in error messages.
    first_row : int
        File row number of ``df``'s first row (the header is row 1), so errors in a chunk of a
        file name the file's row.
    drop00 : bool
        Drop double-zero studies of 2x2 data (as ``effect_sizes``; metafor's default False).
    **columns : str
        metafor argument name to column name, e.g. ``yi="effect"`` or ``ai="tpos"``.

    Returns
    -------
    DataFrame
        One row per analysis in order of appearance: the key under ``group``, then the columns
        of :meth:`~metareview.models.fit.GroupFits.to_frame` (``k, estimate, se, ...,
        converged, status``). An analysis that cannot be fitted (too few studies, a zero
        variance) has NaN results and says why in ``status``.

    Raises
    ------
    InputError
        For a missing column, an empty or non-numeric cell, a negative variance, an analysis
        whose rows are not contiguous, or an unknown option; the message names the file, the
        row, the analysis and the column.
    """
    measure, method, test = check_options(measure, method, test, level)
    if group not in df.columns:
        raise InputError(f"{source or 'data'}: missing column {group} (the analysis key)")
    if len(df) == 0:
        raise InputError(f"{source or 'data'}: no studies (the table has no rows)")
    keys = df[group]
    starts, uniques, repeat = group_runs(keys, source=source, first_row=first_row)
    if len(repeat):
        j = int(repeat[0])
        key = keys.iloc[int(starts[j])]
        ended = int(np.flatnonzero((keys.iloc[: starts[j]] == key).to_numpy())[-1])
        raise repeat_error(key, first_row + int(starts[j]), group, source, first_row + ended)
    return fit_runs(df, starts, uniques, group=group, measure=measure, method=method, test=test,
                    level=level, mods=mods, source=source, first_row=first_row, drop00=drop00,
                    **columns)


def fit_runs(
    df: pd.DataFrame,
    starts: np.ndarray,
    uniques: pd.Index,
    *,
    group: str,
    measure: str,
    method: str,
    test: str,
    level: float,
    mods: Sequence[str],
    source: str | None,
    first_row: int,
    drop00: bool = False,
    **columns: str,
) -> pd.DataFrame:
    """:func:`fit_frame` once the runs are known and contiguous (options already checked)."""
    n = len(df)
    k = np.diff(np.append(starts, n))
    keys = df[group]
    if measure == "GEN":
        yi, vi = _generic(df, keys, source, first_row, columns)
        kept = None
    else:
        label = "study" if "study" in df.columns else group
        es = effect_sizes(df, measure, study=label, source=source, first_row=first_row,
                          drop00=drop00, **columns)
        yi, vi = es.yi, es.vi
        kept = es.rows - first_row
        if len(kept) < n:
            # Double-zero studies dropped (drop00) leave their analysis smaller (maybe empty).
            run_of_row = np.repeat(np.arange(len(starts)), k)
            k = np.bincount(run_of_row[kept], minlength=len(starts))
    X = None
    names = ("intrcpt", *mods)
    if mods:
        for m in mods:
            if m not in df.columns:
                raise InputError(f"{source or 'data'}: missing column {m} (named as a moderator)")
        cols = [_numeric(df, m, keys, source, first_row) for m in mods]
        X = np.column_stack([np.ones(n), *cols])
        if kept is not None:
            X = X[kept]
    empty = k == 0
    # r2=False: the result table has no pseudo-R^2 column, so it would be wasted work.
    fits = fit_groups(yi, vi, k[~empty], X, method=method, test=test, level=level,
                      coef_names=names, r2=False)
    out = fits.to_frame()
    if empty.any():
        # Every study of these analyses was dropped (double-zero for RR/OR): keep their row.
        out.index = np.flatnonzero(~empty)
        out = out.reindex(np.arange(len(k)))
        out["k"] = k
        out["converged"] = out["converged"].fillna(False).astype(bool)
        out.loc[empty, "status"] = "no studies left (all double-zero, dropped)"
    return _keyed(out, group, uniques, source)


def _keyed(out: pd.DataFrame, group: str, uniques: pd.Index, source: str | None) -> pd.DataFrame:
    """``out`` with the analyses' keys as its first column, named as the input's key column."""
    if group in out.columns:
        raise InputError(f"{source or 'data'}: the key column {group!r} has the name of a result "
                         "column; rename it")
    out.insert(0, group, uniques)
    return out


__all__ = ["check_options", "fit_frame", "fit_runs", "group_runs"]
