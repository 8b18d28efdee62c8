"""Random-effects terms of multilevel and multivariate models, in metafor's formula notation.

``rma.mv``'s ``random`` argument is a list of one-sided formulas:

* ``~ 1 | a`` -- a random intercept for each level of ``a`` (variance ``sigma2``);
* ``~ 1 | a/b/c`` -- nested intercepts: one term each for ``a``, ``a/b`` and ``a/b/c``;
* ``~ inner | outer`` -- correlated effects of the levels of ``inner`` within each level of
  ``outer``, with a covariance matrix ``G`` of the structure ``struct``: ``CS``, ``HCS``,
  ``UN``, ``AR``, ``ID`` or ``DIAG`` (parameters ``tau2``/``rho``; a second such term has
  ``gamma2``/``phi``, as in metafor).

Every term adds ``sum_b c_b(theta) D_b`` to the marginal covariance, where each ``D_b`` is a
0/1 matrix ("rows i and j share this kind of pair") and ``c_b`` a known function of the
term's parameters ``theta`` (variances and correlations). The engine
(:mod:`metareview.models.blocks`) needs only the ``D_b`` within each independent block of rows,
the ``c_b`` and their Jacobian.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metareview.errors import InputError

#: metafor's variance structures for ``~ inner | outer`` terms.
STRUCTS = ("CS", "HCS", "UN", "AR", "HAR", "ID", "DIAG")

_FORMULA = re.compile(r"^\s*~\s*(?P<inner>[^|]+?)\s*\|\s*(?P<outer>.+?)\s*$")
_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


@dataclass(frozen=True)
class Param:
    """One variance-component parameter: its name, kind and bounds.

    ``kind`` is ``"var"`` (a variance, at least 0) or ``"cor"`` (a correlation, -1 to 1).
    ``fixed`` holds it at a value (metafor's ``sigma2 = c(NA, 0)``, ``rho = 1/2``).
    """

    name: str
    kind: str
    term: int
    fixed: float | None = None

    @property
    def lower(self) -> float:
        """Lower bound."""
        return 0.0 if self.kind == "var" else -1.0

    @property
    def upper(self) -> float:
        """Upper bound."""
        return np.inf if self.kind == "var" else 1.0


@dataclass(frozen=True, eq=False)
class Term:
    """A parsed random-effects term.

    ``kind`` is ``"sigma"`` for ``~ 1 | f`` (``levels`` are the factor's labels per row) or
    ``"struct"`` for ``~ inner | outer`` (``outer`` labels per row, ``inner`` the index of each
    row's inner level in ``inner_levels``).
    """

    kind: str
    formula: str
    name: str
    outer: np.ndarray
    inner: np.ndarray | None = None
    inner_levels: tuple[str, ...] = ()
    struct: str | None = None
    params: tuple[Param, ...] = ()
    #: basis "pair kinds" of this term (see :meth:`basis`)
    n_basis: int = 1
    extra: dict = field(default_factory=dict)

    # ---- the basis: which pairs of rows share which covariance coefficient ---------------
    def pair_basis(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Basis index of each row pair ``(i[n], j[n])`` (-1: the term adds nothing)."""
        same = self.outer[i] == self.outer[j]
        if self.kind == "sigma":
            return np.where(same, 0, -1)
        idx = _struct_index(self.struct, self.inner[i], self.inner[j], len(self.inner_levels))
        return np.where(same, idx, -1)

    def coefficients(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Basis coefficients ``c`` and Jacobian ``dc/dtheta`` for parameter rows ``theta``.

        ``theta`` is (G, r) for G models; returns ``c`` (G, n_basis) and ``J``
        (G, n_basis, r).
        """
        G = theta.shape[0]
        nb, r = self.n_basis, len(self.params)
        c = np.zeros((G, nb))
        J = np.zeros((G, nb, r))
        if self.kind == "sigma" or self.struct == "ID":
            c[:, 0] = theta[:, 0]
            J[:, 0, 0] = 1.0
            return c, J
        m = len(self.inner_levels)
        s = self.struct
        if s == "CS":
            t2, rho = theta[:, 0], theta[:, 1]
            c[:, 0], c[:, 1] = t2, t2 * rho
            J[:, 0, 0] = 1.0
            J[:, 1, 0], J[:, 1, 1] = rho, t2
        elif s == "AR":
            t2, rho = theta[:, 0], theta[:, 1]
            for d in range(nb):
                c[:, d] = t2 * rho ** d
                J[:, d, 0] = rho ** d
                J[:, d, 1] = d * t2 * rho ** (d - 1) if d else 0.0
        elif s == "DIAG":
            c[:] = theta
            J[:, np.arange(m), np.arange(m)] = 1.0
        else:  # HCS, UN, HAR: c_ab = r_ab sqrt(ta tb)
            t2 = theta[:, :m]
            c[:, :m] = t2
            J[:, np.arange(m), np.arange(m)] = 1.0
            sd = np.sqrt(np.maximum(t2, 0.0))
            for a in range(m):
                for b in range(a + 1, m):
                    q = m + int(_pair_index(np.array(a), np.array(b), m))
                    ri = q if s == "UN" else m
                    r, dr = _cor(s, theta[:, ri], b - a)
                    c[:, q] = r * sd[:, a] * sd[:, b]
                    J[:, q, ri] = dr * sd[:, a] * sd[:, b]
                    # d(sqrt(ta tb))/dta = sqrt(tb) / (2 sqrt(ta)); 0 at the boundary ta = 0
                    with np.errstate(divide="ignore", invalid="ignore"):
                        J[:, q, a] = np.where(sd[:, a] > 0, r * sd[:, b] / (2 * sd[:, a]), 0.0)
                        J[:, q, b] = np.where(sd[:, b] > 0, r * sd[:, a] / (2 * sd[:, b]), 0.0)
        return c, J

    def curvature(self, theta: np.ndarray) -> np.ndarray:
        """Second derivatives ``d2 c_b / dtheta_r dtheta_s``: (G, n_basis, r, r)."""
        G = theta.shape[0]
        nb, r = self.n_basis, len(self.params)
        H = np.zeros((G, nb, r, r))
        s = self.struct
        if self.kind == "sigma" or s in ("ID", "DIAG"):
            return H
        if s == "CS":
            H[:, 1, 0, 1] = H[:, 1, 1, 0] = 1.0
        elif s == "AR":
            t2, rho = theta[:, 0], theta[:, 1]
            for d in range(1, nb):
                H[:, d, 0, 1] = H[:, d, 1, 0] = d * rho ** (d - 1)
                H[:, d, 1, 1] = t2 * d * (d - 1) * rho ** (d - 2) if d > 1 else 0.0
        else:  # HCS, UN, HAR: c = r(rho) sqrt(ta tb)
            m = len(self.inner_levels)
            sd = np.sqrt(np.maximum(theta[:, :m], 0.0))
            with np.errstate(divide="ignore", invalid="ignore"):
                for a in range(m):
                    for b in range(a + 1, m):
                        q = m + int(_pair_index(np.array(a), np.array(b), m))
                        ri = q if s == "UN" else m
                        rho, drho = _cor(s, theta[:, ri], b - a)
                        d2 = (b - a) * (b - a - 1) * theta[:, ri] ** max(b - a - 2, 0) \
                            if s == "HAR" else 0.0
                        H[:, q, ri, ri] = d2 * sd[:, a] * sd[:, b]
                        pos = (sd[:, a] > 0) & (sd[:, b] > 0)
                        H[:, q, a, a] = np.where(pos, -rho * sd[:, b] / (4 * sd[:, a] ** 3), 0)
                        H[:, q, b, b] = np.where(pos, -rho * sd[:, a] / (4 * sd[:, b] ** 3), 0)
                        H[:, q, a, b] = H[:, q, b, a] = np.where(
                            pos, rho / (4 * sd[:, a] * sd[:, b]), 0)
                        H[:, q, a, ri] = H[:, q, ri, a] = np.where(
                            pos, drho * sd[:, b] / (2 * sd[:, a]), 0)
                        H[:, q, b, ri] = H[:, q, ri, b] = np.where(
                            pos, drho * sd[:, a] / (2 * sd[:, b]), 0)
        return H

    def G(self, theta: np.ndarray) -> np.ndarray:
        """The inner levels' covariance matrix ``G`` at parameters ``theta`` (one model)."""
        m = len(self.inner_levels)
        c, _ = self.coefficients(np.asarray(theta, dtype=float)[None, :])
        a, b = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
        idx = _struct_index(self.struct, a.ravel(), b.ravel(), m)
        out = np.where(idx >= 0, c[0][np.maximum(idx, 0)], 0.0)
        return out.reshape(m, m)


def _cor(struct: str | None, rho: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """The correlation of two inner levels ``lag`` apart and its derivative in ``rho``
    (``rho^lag`` for HAR, ``rho`` itself for HCS and UN)."""
    if struct == "HAR":
        return rho ** lag, lag * rho ** (lag - 1)
    return rho, np.ones_like(rho)


def _pair_index(lo: np.ndarray, hi: np.ndarray, m: int) -> np.ndarray:
    """Index of the pair ``lo < hi`` among the m (m - 1) / 2 pairs in R's ``lower.tri`` order
    (column by column: (1,2), (1,3), ..., (2,3), ...)."""
    lo = np.asarray(lo)
    hi = np.asarray(hi)
    return lo * m - lo * (lo + 1) // 2 + (hi - lo - 1)


def _struct_index(struct: str | None, a: np.ndarray, b: np.ndarray, m: int) -> np.ndarray:
    """Basis index of each pair of inner levels ``(a, b)`` under ``struct`` (-1: none): CS one
    for equal and one for different levels, AR one per lag, DIAG one per level, HCS/UN/HAR
    one per level and one per unordered pair."""
    if struct in ("CS", "ID"):
        return np.where(a == b, 0, 1 if struct == "CS" else -1)
    if struct == "AR":
        return np.abs(a - b)
    if struct == "DIAG":
        return np.where(a == b, a, -1)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return np.where(lo == hi, lo, m + _pair_index(lo, hi, m))


# ---------------------------------------------------------------------------------------------
def _unfactor(name: str) -> str:
    """``factor(x)`` is ``x``: random-effects factors are factors already."""
    m = re.fullmatch(r"(?:as\.)?factor\(\s*([^()]+?)\s*\)", name)
    return m.group(1) if m else name


def _column(data: pd.DataFrame, name: str, formula: str, source: str | None) -> pd.Series:
    if name not in data.columns:
        raise InputError(f"{source or 'data'}: random effects {formula!r} name column {name}, "
                         "which the data do not have")
    col = data[name]
    missing = col.isna() | (col.astype(str).str.strip() == "")
    if missing.any():
        i = int(np.flatnonzero(missing.to_numpy())[0])
        raise InputError(f"{source or 'data'}, estimate {i + 1}, column {name}: missing value "
                         f"in a random-effects factor ({formula!r})")
    return col


def _labels(col: pd.Series) -> np.ndarray:
    """Factor labels as text, with whole numbers written without a decimal point (so a
    numeric id column read as float prints as R prints it)."""
    num = pd.to_numeric(col, errors="coerce")
    if num.notna().all() and np.all(np.mod(num.to_numpy(dtype=float), 1) == 0):
        return num.to_numpy(dtype=np.int64).astype(str).astype(object)
    return col.astype(str).str.strip().to_numpy(dtype=object)


def _sort_levels(values: np.ndarray) -> tuple[str, ...]:
    """Levels in R's ``factor`` order: numeric if every label is a number, else text."""
    uniq = sorted(set(values.tolist()))
    try:
        return tuple(sorted(uniq, key=float))
    except ValueError:
        return tuple(uniq)


def formula_columns(
    random: str | list[str] | tuple[str, ...],
) -> tuple[tuple[str, str | None, tuple[str, ...]], ...]:
    """The columns that random-effects formulas name, read from their text alone (no data).

    The one reader of the formulas' text: :func:`parse_random` and the batch runs (which check
    the columns of a file before reading it) both use it.

    Parameters
    ----------
    random : str or list of str
        ``"~ 1 | a/b"``, ``"~ inner | outer"`` ...; ``factor(x)`` or ``as.factor(x)`` around a
        whole side is ``x``.

    Returns
    -------
    tuple of (formula, inner, outer)
        One per formula, in order: the formula as given, its inner column (``None`` for ``1``)
        and its outer columns (``~ 1 | a/b`` gives ``("a", "b")``, outermost first; a
        ``~ inner | outer`` term has one).

    Raises
    ------
    InputError
        For no formula, a formula not of the form ``~ inner | outer``, or a side that is not a
        column name.
    """
    forms = [random] if isinstance(random, str) else list(random)
    if not forms:
        raise InputError("random effects: give at least one formula such as '~ 1 | study'")
    out: list[tuple[str, str | None, tuple[str, ...]]] = []
    for f in forms:
        m = _FORMULA.match(f)
        if not m:
            raise InputError(f"random effects {f!r}: expected a formula like '~ 1 | study', "
                             "'~ 1 | district/school' or '~ outcome | study'")
        inner, outer = (_unfactor(m.group(g).strip()) for g in ("inner", "outer"))
        if inner == "1":
            parts = tuple(p.strip() for p in outer.split("/"))
            for p in parts:
                if not _NAME.match(p):
                    raise InputError(f"random effects {f!r}: {p!r} is not a column name")
            out.append((f, None, parts))
        else:
            for p in (inner, outer):
                if not _NAME.match(p):
                    raise InputError(f"random effects {f!r}: {p!r} is not a column name (nested "
                                     "outer factors are written as one column)")
            out.append((f, inner, (outer,)))
    return tuple(out)


def parse_random(
    data: pd.DataFrame,
    random: str | list[str] | tuple[str, ...],
    struct: str | list[str] | tuple[str, ...] = "CS",
    *,
    sigma2: float | list[float | None] | None = None,
    tau2: float | list[float | None] | None = None,
    rho: float | list[float | None] | None = None,
    gamma2: float | list[float | None] | None = None,
    phi: float | list[float | None] | None = None,
    source: str | None = None,
) -> tuple[Term, ...]:
    """Parse metafor-style random-effects formulas into terms, in metafor's order.

    Parameters
    ----------
    data : DataFrame
        The estimates' rows (the columns the formulas name).
    random : str or list of str
        ``"~ 1 | a/b"``, ``"~ inner | outer"`` ...
    struct : str or list of str
        Structure of each ``~ inner | outer`` term (one for all, or one per such term).
    sigma2, tau2, rho, gamma2, phi : float or list, optional
        Values at which to hold components fixed (``None`` entries are estimated), as
        metafor's arguments of the same names.

    Returns
    -------
    tuple of Term
        The ``~ 1 | ...`` terms first (``sigma2`` in formula order, nested terms expanded
        outermost first), then the structured terms.
    """
    sigma_terms: list[Term] = []
    struct_specs: list[tuple[str, str, str]] = []
    for f, inner, parts in formula_columns(random):
        if inner is None:
            labels = None
            for depth, p in enumerate(parts):
                col = _labels(_column(data, p, f, source))
                labels = col if labels is None else np.array(
                    [f"{a}/{b}" for a, b in zip(labels, col, strict=True)], dtype=object)
                sigma_terms.append(Term(kind="sigma", formula=f, name="/".join(parts[:depth + 1]),
                                        outer=labels))
        else:
            struct_specs.append((f, inner, parts[0]))
    if len(struct_specs) > 2:
        raise InputError("random effects: at most two '~ inner | outer' terms (as metafor)")
    structs = [struct] if isinstance(struct, str) else list(struct)
    if len(structs) == 1:
        structs = structs * max(len(struct_specs), 1)
    if struct_specs and len(structs) < len(struct_specs):
        raise InputError(f"random effects: {len(struct_specs)} '~ inner | outer' terms but "
                         f"{len(structs)} struct values")
    sig_fixed = _fixed_list(sigma2, len(sigma_terms), "sigma2")
    terms: list[Term] = []
    for t, fx in zip(sigma_terms, sig_fixed, strict=True):
        terms.append(Term(kind=t.kind, formula=t.formula, name=t.name, outer=t.outer,
                          params=(Param(f"sigma2.{len(terms) + 1}", "var", len(terms), fx),)))
    for n, (f, inner, outer) in enumerate(struct_specs):
        s = structs[n].upper()
        if s not in STRUCTS:
            raise InputError(f"random effects {f!r}: struct {structs[n]!r} is not one of "
                             f"{', '.join(STRUCTS)}")
        o = _labels(_column(data, outer, f, source))
        inn = _labels(_column(data, inner, f, source))
        levels = _sort_levels(inn)
        index = {lv: i for i, lv in enumerate(levels)}
        a = np.array([index[x] for x in inn], dtype=np.int64)
        m = len(levels)
        vname, cname = ("tau2", "rho") if n == 0 else ("gamma2", "phi")
        var_fixed = _fixed_list(tau2 if n == 0 else gamma2, _n_vars(s, m), vname)
        cor_fixed = _fixed_list(rho if n == 0 else phi, _n_cors(s, m), cname)
        ti = len(terms)
        params = [Param(f"{vname}" if _n_vars(s, m) == 1 else f"{vname}.{i + 1}", "var", ti, fx)
                  for i, fx in enumerate(var_fixed)]
        params += [Param(f"{cname}" if _n_cors(s, m) == 1 else f"{cname}.{i + 1}", "cor", ti, fx)
                   for i, fx in enumerate(cor_fixed)]
        n_basis = {"CS": 2, "ID": 1, "AR": m, "DIAG": m}.get(s, m + m * (m - 1) // 2)
        if s not in ("DIAG", "ID") and m < 2:
            raise InputError(f"random effects {f!r}: struct {s} needs at least two levels of "
                             f"{inner} (found {m})")
        terms.append(Term(kind="struct", formula=f, name=f"{inner} | {outer}", outer=o, inner=a,
                          inner_levels=levels, struct=s, params=tuple(params), n_basis=n_basis,
                          extra={"inner_name": inner, "outer_name": outer}))
    return tuple(terms)


def _n_vars(s: str, m: int) -> int:
    return m if s in ("HCS", "UN", "DIAG", "HAR") else 1


def _n_cors(s: str, m: int) -> int:
    return {"CS": 1, "HCS": 1, "AR": 1, "HAR": 1, "UN": m * (m - 1) // 2}.get(s, 0)


def _fixed_list(value, n: int, name: str) -> list[float | None]:
    if value is None:
        return [None] * n
    vals = [value] if np.isscalar(value) else list(value)
    if len(vals) == 1 and n > 1:
        vals = vals * n
    if len(vals) != n:
        raise InputError(f"random effects: {name} has {len(vals)} values but the model has {n}")
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)
            for v in vals]


__all__ = ["STRUCTS", "Param", "Term", "parse_random"]
