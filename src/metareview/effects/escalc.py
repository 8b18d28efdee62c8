"""Effect sizes and their sampling variances from study-level data (metafor's ``escalc``).

This is the boundary where user data become validated arrays: every check on the input
happens here, once, and raises :class:`~metareview.errors.InputError` naming the file, row,
study and column. The models downstream trust what they are given.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import gammaln

from metareview.effects.measures import (
    INPUTS,
    MEASURES,
    RATIO,
    family,
    is_reported_only,
    measure_label,
)
from metareview.errors import InputError, where


@dataclass(frozen=True, eq=False)
class EffectSizes:
    """Study effect sizes ready for a model: ``yi`` with sampling variances ``vi``.

    Attributes
    ----------
    yi, vi : ndarray
        Effect sizes (log scale for ratio measures) and sampling variances.
    measure : str
        metafor measure code.
    study : tuple of str
        Study labels, aligned with ``yi``.
    data : DataFrame
        The input rows kept, aligned with ``yi`` (moderators come from here).
    arms : dict of str to ndarray
        Raw per-arm inputs as given (``ai``, ``bi``, ``ci``, ``di``, ``n1i``, ``n2i``, ``m1i`` …),
        without continuity corrections; used by Mantel-Haenszel, Peto and the forest plot.
    rows : ndarray of int
        Row number of each study in the source (header is row 1, first data row is row 2).
    dropped : tuple of str
        Studies removed (double-zero studies, when ``drop00=True``).
    warnings : tuple of str
        Messages for the user (which studies were dropped or corrected, and why).
    source : str or None
        Where the data came from (file name), for error messages downstream.
    """

    yi: np.ndarray
    vi: np.ndarray
    measure: str
    study: tuple[str, ...]
    data: pd.DataFrame
    arms: dict[str, np.ndarray] = field(default_factory=dict)
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    dropped: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    source: str | None = None

    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.yi)

    @property
    def double_zero(self) -> np.ndarray:
        """Boolean mask of double-zero studies: 2x2 tables with no events, or only events, in
        both arms (metafor's ``drop00`` criterion). All False for other data."""
        if not {"ai", "bi", "ci", "di"} <= self.arms.keys():
            return np.zeros(self.k, dtype=bool)
        a, b, c, d = (self.arms[x] for x in ("ai", "bi", "ci", "di"))
        return ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))

    @property
    def sei(self) -> np.ndarray:
        """Standard errors, ``sqrt(vi)``."""
        return np.sqrt(self.vi)

    def subset(self, mask: np.ndarray) -> EffectSizes:
        """Return the studies selected by a boolean mask or an index array."""
        idx = np.arange(self.k)[np.asarray(mask)]
        return EffectSizes(
            yi=self.yi[idx],
            vi=self.vi[idx],
            measure=self.measure,
            study=tuple(self.study[i] for i in idx),
            data=self.data.iloc[idx].reset_index(drop=True),
            arms={k: v[idx] for k, v in self.arms.items()},
            rows=self.rows[idx] if len(self.rows) == self.k else self.rows,
            dropped=self.dropped,
            warnings=self.warnings,
            source=self.source,
        )

    def to_frame(self) -> pd.DataFrame:
        """Return a DataFrame with ``study``, ``yi``, ``vi`` and the input columns."""
        out = self.data.copy()
        out.insert(0, "vi", self.vi)
        out.insert(0, "yi", self.yi)
        out.insert(0, "study", list(self.study))
        return out.loc[:, ~out.columns.duplicated()]


def _numeric(
    df: pd.DataFrame, col: str, source: str | None, labels: list[str], rows: np.ndarray
) -> np.ndarray:
    """Column as floats; a missing or non-numeric cell is an error naming the cell."""
    raw = df[col]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        i = bad[0]
        cell = raw.iloc[i]
        empty = pd.isna(cell) or str(cell).strip() == ""
        why = "empty cell" if empty else f"not a number ({cell!r})"
        raise InputError(f"{where(source, int(rows[i]), labels[i], col)}: {why}")
    return values


def _resolve(
    measure: str, df: pd.DataFrame, columns: dict[str, str], source: str | None
) -> tuple[str, ...]:
    """Pick the input column set for the measure from what the caller mapped or the data has."""
    fam = family(measure)
    options = INPUTS[fam]
    for names in options:
        if all(columns.get(n, n) in df.columns for n in names):
            return names
    # Report the first option's missing columns: the most common layout for the family.
    best = min(options, key=lambda ns: sum(columns.get(n, n) not in df.columns for n in ns))
    missing = [columns.get(n, n) for n in best if columns.get(n, n) not in df.columns]
    alternatives = " or ".join(",".join(ns) for ns in options)
    raise InputError(
        f"{source or 'data'}: missing column {', '.join(missing)} "
        f"(measure {measure} needs columns {alternatives})"
    )


def _fail(msg: str, source, rows, labels, col, i) -> InputError:
    return InputError(f"{where(source, int(rows[i]), labels[i], col)}: {msg}")


def _check(cond: np.ndarray, msg: str, values, source, rows, labels, col) -> None:
    """Raise for the first row where ``cond`` holds, quoting its value."""
    bad = np.flatnonzero(cond)
    if len(bad):
        i = bad[0]
        raise _fail(f"{msg} ({values[i]:g})", source, rows, labels, col, i)


def hedges_correction(m: np.ndarray) -> np.ndarray:
    """Exact small-sample correction factor ``c(m)`` for Hedges' g.

    ``c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))`` (Hedges 1981, J Educ Stat 6:107), as
    metafor's ``.cmicalc``; ``m`` is the degrees of freedom ``n1 + n2 - 2``.
    """
    m = np.asarray(m, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(
            m <= 1, np.nan, np.exp(gammaln(m / 2) - 0.5 * np.log(m / 2) - gammaln((m - 1) / 2))
        )


def effect_sizes(
    df: pd.DataFrame,
    measure: str,
    *,
    study: str | None = None,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool = False,
    source: str | None = None,
    first_row: int = 2,
    **columns: str,
) -> EffectSizes:
    """Compute effect sizes and sampling variances, like metafor's ``escalc``.

    Parameters
    ----------
    df : DataFrame
        One row per study.
    measure : str
        One of ``RR, OR, RD`` (2x2 tables), ``MD, SMD, ROM`` (means), ``PLO, PR, PFT, PAS``
        (single proportions), ``ZCOR, COR`` (correlations), ``GEN`` (precomputed ``yi`` with
        ``vi`` or ``sei``).
    study : str, optional
        Column holding study labels. Defaults to ``study`` if present, else ``Study 1`` ….
    add, to : float, str
        Continuity correction, as metafor: ``to="only0"`` adds ``add`` to every cell of a study
        with a zero cell; ``"all"`` to every study; ``"if0all"`` to every study if any has a
        zero; ``"none"`` never. It applies to RR, OR, RD, PLO and PR (PFT and PAS need none).
    drop00 : bool
        Drop double-zero studies (no events, or only events, in both arms) of 2x2 measures.
        False by default, as metafor's ``escalc`` (and ``rma.uni``): such a study is kept and,
        with ``to="only0"``, gets ``add`` in every cell. Either way a
        :class:`DoubleZeroWarning` names the studies and says whether they were kept or dropped.
    source : str, optional
        File name used in error messages.
    first_row : int
        File row number of ``df``'s first row (the header is row 1), so error messages name
        file rows when ``df`` is a chunk of a larger file.
    **columns : str
        metafor argument name to column name, e.g. ``ai="tpos"``. Unmapped arguments are looked
        up under their own name.

    Returns
    -------
    EffectSizes

    Raises
    ------
    InputError
        For a missing column, an empty or non-numeric cell, a negative SD or variance, events
        larger than the group size, a correlation outside [-1, 1], and the like.

    Notes
    -----
    Formulas are metafor 3.8's (``vtype="LS"``): e.g. SMD is Hedges' g with the exact gamma
    correction and ``vi = 1/n1 + 1/n2 + g^2 / (2 (n1 + n2))``; PFT is
    ``(asin(sqrt(x/(n+1))) + asin(sqrt((x+1)/(n+1)))) / 2`` with ``vi = 1 / (4 n + 2)``.
    """
    measure = measure.upper()
    if is_reported_only(measure):
        raise InputError(f"measure {measure!r} ({measure_label(measure)}) is only taken from "
                         "reported results; effect_sizes computes "
                         f"{', '.join(MEASURES)}")
    if measure not in MEASURES:
        raise InputError(f"unknown measure {measure!r}; choose one of {', '.join(MEASURES)}")
    if to not in ("only0", "all", "if0all", "none"):
        raise InputError(f"to must be only0, all, if0all or none, not {to!r}")
    if df.shape[0] == 0:
        raise InputError(f"{source or 'data'}: no studies (the table has no rows)")
    df = df.reset_index(drop=True)
    rows = np.arange(len(df)) + first_row

    label_col = study if study is not None else ("study" if "study" in df.columns else None)
    if label_col is not None and label_col not in df.columns:
        raise InputError(f"{source or 'data'}: missing column {label_col} (study labels)")
    if label_col is None:
        labels = [f"Study {i + 1}" for i in range(len(df))]
    else:
        labels = [str(x) if pd.notna(x) else f"Study {i + 1}" for i, x in enumerate(df[label_col])]

    names = _resolve(measure, df, columns, source)
    raw = {n: _numeric(df, columns.get(n, n), source, labels, rows) for n in names}
    col = {n: columns.get(n, n) for n in names}

    def chk(cond, msg, n):
        _check(cond, msg, raw[n], source, rows, labels, col[n])

    fam = family(measure)
    warnings: list[str] = []
    keep = np.ones(len(df), dtype=bool)
    arms: dict[str, np.ndarray] = {}

    if fam == "binary":
        ai, ci = raw["ai"], raw["ci"]
        for n in names:
            chk(raw[n] < 0, "negative count", n)
        if "n1i" in raw:
            chk(raw["n1i"] <= 0, "group size must be positive", "n1i")
            chk(raw["n2i"] <= 0, "group size must be positive", "n2i")
            for e, n in (("ai", "n1i"), ("ci", "n2i")):
                bad = np.flatnonzero(raw[e] > raw[n])
                if len(bad):
                    i = bad[0]
                    msg = f"events ({raw[e][i]:g}) larger than group size {col[n]} ({raw[n][i]:g})"
                    raise _fail(msg, source, rows, labels, col[e], i)
            bi, di = raw["n1i"] - ai, raw["n2i"] - ci
        else:
            bi, di = raw["bi"], raw["di"]
            for a, b in (("ai", "bi"), ("ci", "di")):
                bad = np.flatnonzero(raw[a] + raw[b] <= 0)
                if len(bad):
                    raise _fail("group has no participants", source, rows, labels, col[b], bad[0])
        arms = {"ai": ai, "bi": bi, "ci": ci, "di": di, "n1i": ai + bi, "n2i": ci + di}
        both = ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))
        if both.any():
            msg = double_zero_message(measure, [labels[i] for i in np.flatnonzero(both)],
                                       drop00, add, to)
            warnings.append(msg)
            _warnings.warn(msg, DoubleZeroWarning, stacklevel=2)
            if drop00:
                keep &= ~both
        cells = [ai.copy(), bi.copy(), ci.copy(), di.copy()]
        zero = ((ai == 0) | (bi == 0) | (ci == 0) | (di == 0)) & keep
        corrected = _continuity(cells, zero, add, to)
        if corrected.any():
            names0 = [labels[i] for i in np.flatnonzero(corrected)]
            warnings.append(f"added {add:g} to each cell of studies with a zero cell: "
                            + "; ".join(names0))
        a, b, c, d = cells
        n1, n2 = a + b, c + d
        p1, p2 = a / n1, c / n2
        with np.errstate(divide="ignore", invalid="ignore"):
            if measure == "RR":
                yi = np.log(p1) - np.log(p2)
                vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
            elif measure == "OR":
                yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
                vi = 1 / a + 1 / b + 1 / c + 1 / d
            else:  # RD
                yi = p1 - p2
                vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2

    elif fam == "continuous":
        m1, sd1, n1, m2, sd2, n2 = (raw[n] for n in names)
        chk(sd1 < 0, "negative standard deviation", "sd1i")
        chk(sd2 < 0, "negative standard deviation", "sd2i")
        chk(n1 <= 0, "group size must be positive", "n1i")
        chk(n2 <= 0, "group size must be positive", "n2i")
        arms = {"m1i": m1, "sd1i": sd1, "n1i": n1, "m2i": m2, "sd2i": sd2, "n2i": n2}
        if measure == "MD":
            yi = m1 - m2
            vi = sd1**2 / n1 + sd2**2 / n2
        elif measure == "SMD":
            mi = n1 + n2 - 2
            chk(mi <= 1, "too few participants for an SMD (n1i + n2i must exceed 3)", "n1i")
            sdp = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / mi)
            bad = np.flatnonzero(sdp == 0)
            if len(bad):
                raise _fail("both SDs are zero; the SMD is undefined", source, rows, labels,
                            col["sd1i"], bad[0])
            yi = hedges_correction(mi) * (m1 - m2) / sdp
            vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
        else:  # ROM
            chk(m1 <= 0, "ratio of means needs positive means", "m1i")
            chk(m2 <= 0, "ratio of means needs positive means", "m2i")
            yi = np.log(m1 / m2)
            vi = sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2)

    elif fam == "proportion":
        xi, ni = raw["xi"], raw["ni"]
        chk(xi < 0, "negative count", "xi")
        chk(ni <= 0, "sample size must be positive", "ni")
        bad = np.flatnonzero(xi > ni)
        if len(bad):
            i = bad[0]
            raise _fail(f"events ({xi[i]:g}) larger than sample size ni ({ni[i]:g})", source,
                        rows, labels, col["xi"], i)
        arms = {"xi": xi, "ni": ni}
        x, m = xi.copy(), ni - xi
        if measure in ("PLO", "PR"):
            cells = [x, m]
            corrected = _continuity(cells, (xi == 0) | (m == 0), add, to)
            if corrected.any() and measure == "PLO":
                warnings.append(f"added {add:g} to events and non-events of studies with 0% or "
                                "100%: " + "; ".join(labels[i] for i in np.flatnonzero(corrected)))
            x, m = cells
        n = x + m
        p = x / n
        with np.errstate(divide="ignore"):
            if measure == "PLO":
                yi = np.log(p / (1 - p))
                vi = 1 / x + 1 / m
            elif measure == "PR":
                yi = p
                vi = p * (1 - p) / n
            elif measure == "PAS":
                yi = np.arcsin(np.sqrt(p))
                vi = 1 / (4 * n)
            else:  # PFT
                yi = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
                vi = 1 / (4 * n + 2)

    elif fam == "correlation":
        ri, ni = raw["ri"], raw["ni"]
        chk(np.abs(ri) > 1, "correlation outside [-1, 1]", "ri")
        chk(ni <= 3 if measure == "ZCOR" else ni <= 1,
            "sample size too small for a correlation's variance", "ni")
        arms = {"ri": ri, "ni": ni}
        if measure == "ZCOR":
            chk(np.abs(ri) == 1, "correlation of exactly +-1 has no Fisher z", "ri")
            yi = np.arctanh(ri)
            vi = 1 / (ni - 3)
        else:
            yi = ri.copy()
            vi = (1 - ri**2) ** 2 / (ni - 1)

    else:  # generic
        yi = raw["yi"]
        if "vi" in raw:
            chk(raw["vi"] < 0, "negative sampling variance", "vi")
            vi = raw["vi"]
        else:
            chk(raw["sei"] < 0, "negative standard error", "sei")
            vi = raw["sei"] ** 2
        arms = {}

    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    idx = np.flatnonzero(keep)
    bad = [i for i in idx if not (np.isfinite(yi[i]) and np.isfinite(vi[i]))]
    if bad:
        i = bad[0]
        raise InputError(f"{where(source, int(rows[i]), labels[i])}: the {measure} effect size "
                         "cannot be computed from this row (check for zero counts or SDs)")
    dropped = tuple(labels[i] for i in np.flatnonzero(~keep))
    return EffectSizes(
        yi=yi[idx],
        vi=vi[idx],
        measure=measure,
        study=tuple(labels[i] for i in idx),
        data=df.iloc[idx].reset_index(drop=True),
        arms={k: v[idx] for k, v in arms.items()},
        rows=rows[idx],
        dropped=dropped,
        warnings=tuple(warnings),
        source=source,
    )


class DoubleZeroWarning(UserWarning):
    """Double-zero studies (no events, or only events, in both arms) were kept or dropped."""


class DuplicateLabelWarning(UserWarning):
    """Two or more rows of one analysis carry the same study label."""


def duplicate_labels_message(es: EffectSizes) -> str | None:
    """The warning naming study labels that repeat within ``es``, with their rows; or None.

    One row is one study, so a repeated label is a row pasted twice, two arms of a multi-arm
    trial sharing a control group (counted twice), or two studies that need telling apart
    (dat.bangertdrowns2004 has two "Pellegrini & Hicks 1972"). metafor makes such labels unique
    without a word (``.make.unique``); here they are kept as given and named.

    Parameters
    ----------
    es : EffectSizes
        The studies of one analysis.

    Returns
    -------
    str or None
        E.g. ``repeated study labels (a row entered twice? tell distinct studies apart, e.g.
        2004a, 2004b): A (rows 2, 3)``.
    """
    seen: dict[str, list[int]] = {}
    for i, label in enumerate(es.study):
        seen.setdefault(label, []).append(i)
    repeats = {label: idx for label, idx in seen.items() if len(idx) > 1}
    if not repeats:
        return None
    have_rows = len(es.rows) == es.k
    parts = []
    for label, idx in repeats.items():
        where_ = (f"rows {', '.join(str(int(es.rows[i])) for i in idx)}" if have_rows
                  else f"{len(idx)} times")
        parts.append(f"{label} ({where_})")
    return ("repeated study labels (a row entered twice? tell distinct studies apart, e.g. "
            f"2004a, 2004b): {'; '.join(parts)}")


def all_double_zero_message(es: EffectSizes) -> str | None:
    """Why an analysis of 2x2 data is empty when every study was dropped as double-zero; or None.

    Parameters
    ----------
    es : EffectSizes
        Effect sizes from :func:`effect_sizes`, with ``dropped`` naming the studies removed.

    Returns
    -------
    str or None
        The reason and what to do, when ``es`` has no studies left and some were dropped.
    """
    if es.k or not es.dropped:
        return None
    n = len(es.dropped)
    return (f"all {n} stud{'y' if n == 1 else 'ies'} had zero events in both arms (or only "
            f"events in both) and were dropped as double-zero (drop00=True, metafor's rule for "
            f"RR and OR), so no {es.measure} can be estimated; use measure RD, which such "
            "studies inform, or drop00=False to keep them with 0.5 added to each cell")


def double_zero_message(measure: str, names: list[str], dropped: bool, add: float, to: str
                         ) -> str:
    """The warning naming double-zero studies and what was done with them."""
    n = len(names)
    what = f"{n} double-zero stud{'y' if n == 1 else 'ies'} (no events or all events in both arms)"
    if dropped:
        return f"dropped {what} for {measure} (drop00=True): {'; '.join(names)}"
    how = (f"{add:g} added to each cell" if to in ("only0", "all", "if0all") and add > 0
           else "no continuity correction")
    return f"kept {what} for {measure} (drop00=False, {how}): {'; '.join(names)}"


def _continuity(cells: list[np.ndarray], zero: np.ndarray, add: float, to: str) -> np.ndarray:
    """Add ``add`` to the cells in place per metafor's ``to`` rule; return the studies changed."""
    if to == "none" or add == 0:
        return np.zeros(len(zero), dtype=bool)
    if to == "all":
        which = np.ones(len(zero), dtype=bool)
    elif to == "if0all":
        which = np.full(len(zero), bool(zero.any()))
    else:
        which = zero
    for c in cells:
        c[which] += add
    return which


def from_arrays(
    yi: np.ndarray,
    vi: np.ndarray,
    *,
    measure: str = "GEN",
    study: list[str] | tuple[str, ...] | None = None,
    data: pd.DataFrame | None = None,
) -> EffectSizes:
    """Wrap precomputed ``yi``/``vi`` arrays (already validated by the caller) as EffectSizes."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    k = len(yi)
    labels = tuple(study) if study is not None else tuple(f"Study {i + 1}" for i in range(k))
    frame = data.reset_index(drop=True) if data is not None else pd.DataFrame(index=range(k))
    return EffectSizes(yi=yi, vi=vi, measure=measure, study=labels, data=frame,
                       rows=np.arange(k) + 2)


__all__ = [
    "RATIO",
    "DoubleZeroWarning",
    "DuplicateLabelWarning",
    "EffectSizes",
    "all_double_zero_message",
    "double_zero_message",
    "duplicate_labels_message",
    "effect_sizes",
    "from_arrays",
    "hedges_correction",
]
