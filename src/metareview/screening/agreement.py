"""Agreement between screening reviewers: percent agreement, kappa, AC1, Krippendorff's alpha.

Dual independent screening is judged by how often the reviewers agree beyond chance. Three
chance-corrected coefficients are reported, because they answer slightly different questions
and behave differently when one decision is rare (most records are excluded, so Cohen's kappa
can be low although the reviewers almost always agree: the "kappa paradox"):

* **Cohen's kappa** (two reviewers), with the large-sample standard error of Fleiss, Cohen &
  Everitt (1969, Psychol Bull 72:323), as R's ``psych::cohen.kappa`` and ``vcd::Kappa``.
  With more than two reviewers (a pool in which each record is screened by any two or three
  of them), ``kappa`` is **Fleiss' kappa** in Gwet's generalisation to a varying number of
  reviewers per record (Gwet, *Handbook of Inter-Rater Reliability*, 4th ed., ch. 2), with
  Gwet's linearised variance; Cohen's kappa of every pair of reviewers is in ``pairwise``.
* **Gwet's AC1** (Gwet 2008, Br J Math Stat Psychol 61:29-48), for any number of reviewers and
  missing ratings, with Gwet's variance ``sum((c_i* - c)^2) / (n (n - 1))``. For two reviewers
  who rated every record this variance is ``n / (n - 1)`` times Gwet's two-rater formula.
* **Krippendorff's alpha**, nominal (Krippendorff 2011, *Computing Krippendorff's
  Alpha-Reliability*), from the coincidence matrix, for any number of reviewers and missing
  values, with Gwet's linearised standard error (as R's ``irrCAC::krippen.alpha.raw``).

**Which records are used.** Every coefficient, and the percent agreement, uses exactly the
records rated by at least two reviewers (``n_records``). A record only one reviewer saw
(``n_single``) carries no information about agreement: kappa and AC1 need a pair of ratings and
Krippendorff's alpha defines such a value as unpairable. These records are counted and reported,
and otherwise ignored; in particular they do not enter the category proportions of AC1 (R's
``irrCAC`` would include them there).

Confidence intervals are ``estimate ± z * SE`` at the requested level (normal quantile, not
truncated to [-1, 1]). Coefficients that are undefined are NaN, and ``null`` in ``to_dict()``:
kappa and alpha when every rating is in one category, AC1 when there is only one category, a
standard error when fewer than two records were rated twice.

Reference values: ``tests/reference/agreement.R`` (psych 2.2.9 and vcd 1.4.11 for Cohen's kappa;
the published formulas in base R for the rest, cross-checked with the Python packages irrCAC
0.4.4 and krippendorff 0.9.0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from metareview._util import html as _html
from metareview._util.jsonable import jsonable
from metareview._util.textfmt import printout_num
from metareview.errors import InputError, where

__all__ = ["Agreement", "PairwiseKappa", "agreement", "stage_agreement"]

_COLUMNS = ("record", "reviewer", "decision")


@dataclass(frozen=True)
class PairwiseKappa:
    """Cohen's kappa of one pair of reviewers on the records both of them rated."""

    reviewer_a: str
    reviewer_b: str
    n: int
    percent_agreement: float
    kappa: float
    se: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable(self.__dict__)


@dataclass(frozen=True)
class Agreement:
    """Inter-rater agreement of screening decisions.

    Attributes
    ----------
    reviewers : tuple of str
        Reviewers in order of first appearance in the input.
    categories : tuple of str
        The decision categories (``q`` = their number enters Gwet's AC1).
    n_records : int
        Records rated by at least two reviewers: the records every statistic uses.
    n_single : int
        Records rated by exactly one reviewer (not used by any statistic).
    n_ratings : int
        Ratings on the ``n_records`` records.
    percent_agreement : float
        Mean over records of the share of agreeing reviewer pairs, in percent (for two
        reviewers: the percentage of records on which they agree).
    kappa, kappa_se, kappa_ci_low, kappa_ci_high : float
        Cohen's kappa (two reviewers) or generalised Fleiss' kappa (more), see ``kappa_method``.
    kappa_method : str
        ``"cohen"`` or ``"fleiss"``.
    ac1, ac1_se, ac1_ci_low, ac1_ci_high : float
        Gwet's AC1.
    alpha, alpha_se, alpha_ci_low, alpha_ci_high : float
        Krippendorff's alpha (nominal).
    level : float
        Confidence level in percent.
    table : tuple of tuple of int, optional
        For two reviewers: counts with rows = ``reviewers[0]``'s decision and columns =
        ``reviewers[1]``'s, both in ``categories`` order. ``None`` for more reviewers.
    pairwise : tuple of PairwiseKappa
        With three or more reviewers: Cohen's kappa of each pair that shares a record.
    """

    reviewers: tuple[str, ...]
    categories: tuple[str, ...]
    n_records: int
    n_single: int
    n_ratings: int
    percent_agreement: float
    kappa: float
    kappa_method: str
    kappa_se: float
    kappa_ci_low: float
    kappa_ci_high: float
    ac1: float
    ac1_se: float
    ac1_ci_low: float
    ac1_ci_high: float
    alpha: float
    alpha_se: float
    alpha_ci_low: float
    alpha_ci_high: float
    level: float = 95.0
    table: tuple[tuple[int, ...], ...] | None = None
    pairwise: tuple[PairwiseKappa, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (NaN becomes ``null``)."""
        d = {k: v for k, v in self.__dict__.items() if k != "pairwise"}
        d["pairwise"] = [p.to_dict() for p in self.pairwise]
        return jsonable(d)

    def _heading(self) -> list[str]:
        """The reviewers, categories and record counts heading the report."""
        return [
            f"Inter-rater agreement ({len(self.reviewers)} reviewers: "
            f"{', '.join(self.reviewers)}; categories: {', '.join(self.categories)})",
            f"Records rated by two or more reviewers: {self.n_records} "
            f"({self.n_ratings} ratings); seen by one reviewer only: {self.n_single} (not used)",
        ]

    def summary(self) -> str:
        """A readable report of the agreement statistics."""
        kname = "Cohen's kappa" if self.kappa_method == "cohen" else "Fleiss' kappa"
        lines = [
            *self._heading(),
            "",
            f"{'':22s}{'estimate':>9s}{'SE':>9s}   {self.level:g}% CI",
            f"{'Percent agreement':22s}{printout_num(self.percent_agreement, 2):>8s}%",
        ]
        for name, est, se, lo, hi in (
            (kname, self.kappa, self.kappa_se, self.kappa_ci_low, self.kappa_ci_high),
            ("Gwet's AC1", self.ac1, self.ac1_se, self.ac1_ci_low, self.ac1_ci_high),
            ("Krippendorff's alpha", self.alpha, self.alpha_se, self.alpha_ci_low,
             self.alpha_ci_high),
        ):
            lines.append(f"{name:22s}{printout_num(est):>9s}{printout_num(se):>9s}   "
                         f"[{printout_num(lo)}, {printout_num(hi)}]")
        if self.table is not None:
            a, b = self.reviewers
            w = max(7, *(len(c) for c in self.categories), *(len(str(x)) for r in self.table
                                                               for x in r))
            lines += ["", f"{'':{w + 2}s}{b}", f"{a:{w + 2}s}"
                      + " ".join(f"{c:>{w}s}" for c in self.categories)]
            for cat, row in zip(self.categories, self.table, strict=True):
                lines.append(f"  {cat:{w}s}" + " ".join(f"{x:>{w}d}" for x in row))
        if self.pairwise:
            lines += ["", "Cohen's kappa by pair of reviewers:"]
            for p in self.pairwise:
                lines.append(f"  {p.reviewer_a} / {p.reviewer_b}: n = {p.n}, agreement "
                             f"{printout_num(p.percent_agreement, 1)}%, "
                             f"kappa = {printout_num(p.kappa)} "
                             f"(SE {printout_num(p.se)})")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The statistics of :meth:`summary` as HTML tables, for notebooks."""
        kname = "Cohen's kappa" if self.kappa_method == "cohen" else "Fleiss' kappa"
        head = self._heading()
        rows = [["Percent agreement (%)", printout_num(self.percent_agreement, 2), "", "", ""]]
        for name, est, se, lo, hi in (
            (kname, self.kappa, self.kappa_se, self.kappa_ci_low, self.kappa_ci_high),
            ("Gwet's AC1", self.ac1, self.ac1_se, self.ac1_ci_low, self.ac1_ci_high),
            ("Krippendorff's alpha", self.alpha, self.alpha_se, self.alpha_ci_low,
             self.alpha_ci_high),
        ):
            rows.append([name, *(printout_num(x) for x in (est, se, lo, hi))])
        parts = [_html.table(["", "estimate", "se", "ci.lb", "ci.ub"], rows,
                             caption=f"Agreement ({self.level:g}% CI)")]
        if self.table is not None:
            a, b = self.reviewers
            parts.append(_html.table(
                [f"{a} \\ {b}", *self.categories],
                [[cat, *(str(x) for x in row)] for cat, row in zip(self.categories, self.table,
                                                                   strict=True)],
                caption="Decisions (rows: first reviewer, columns: second)"))
        if self.pairwise:
            parts.append(_html.table(
                ["reviewer A", "reviewer B", "n", "agreement (%)", "kappa", "se"],
                [[p.reviewer_a, p.reviewer_b, str(p.n), printout_num(p.percent_agreement, 1),
                  printout_num(p.kappa), printout_num(p.se)] for p in self.pairwise],
                caption="Cohen's kappa by pair of reviewers"))
        return _html.block(head, parts)


# -- input --------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _triples(ratings: Any) -> list[tuple[str, str, str, str]]:
    """``(record, reviewer, decision, where)`` for every non-missing rating."""
    out: list[tuple[str, str, str, str]] = []
    if isinstance(ratings, Mapping):
        for reviewer, decisions in ratings.items():
            if not isinstance(decisions, Mapping):
                raise InputError(f"ratings of reviewer {reviewer!r}: expected a mapping of "
                                 f"record id to decision, got {type(decisions).__name__}")
            for record, value in decisions.items():
                if not _missing(value):
                    out.append((str(record), str(reviewer), str(value).strip(),
                                f"ratings, reviewer {reviewer}, record {record}"))
        return out
    if hasattr(ratings, "columns") and hasattr(ratings, "itertuples"):  # a pandas DataFrame
        missing = [c for c in _COLUMNS if c not in ratings.columns]
        if missing:
            raise InputError(f"ratings table: missing column(s) {', '.join(missing)} "
                             f"(expected {', '.join(_COLUMNS)})")
        rows: Iterable[Sequence[Any]] = ratings.loc[:, list(_COLUMNS)].itertuples(index=False)
    else:
        rows = ratings
    for i, row in enumerate(rows):
        loc = where("ratings", row=i + 2)
        if isinstance(row, str) or len(row) != 3:
            raise InputError(f"{loc}: expected (record, reviewer, decision)")
        record, reviewer, value = row
        if _missing(record) or _missing(reviewer):
            raise InputError(f"{loc}: record and reviewer must not be empty")
        if not _missing(value):
            out.append((str(record), str(reviewer), str(value).strip(), loc))
    return out


# -- statistics ---------------------------------------------------------------------------------


def _gwet(counts: np.ndarray, kind: str) -> tuple[float, float]:
    """Gwet's AC1 (``kind="ac1"``) or generalised Fleiss' kappa (``"fleiss"``) and SE.

    ``counts`` is records x categories, every row summing to at least 2. Gwet (2008) / Gwet's
    Handbook: pa_i = sum_k n_ik (n_ik - 1) / (r_i (r_i - 1)), pi_k = mean_i n_ik / r_i;
    AC1: pe = sum_k pi_k (1 - pi_k) / (q - 1); Fleiss: pe = sum_k pi_k^2.
    var = sum_i (c_i* - c)^2 / (n (n - 1)), c_i* = c_i - 2 (1 - c) (pe_i - pe) / (1 - pe).
    """
    n, q = counts.shape
    r = counts.sum(axis=1)
    pa_i = (counts * (counts - 1)).sum(axis=1) / (r * (r - 1))
    pa = pa_i.mean()
    pk = (counts / r[:, None]).mean(axis=0)
    if kind == "ac1":
        if q < 2:
            return math.nan, math.nan
        pe = float(np.sum(pk * (1 - pk)) / (q - 1))
        pe_i = counts @ (1 - pk) / r / (q - 1)
    else:
        pe = float(np.sum(pk**2))
        pe_i = counts @ pk / r
    if not pe < 1:
        return math.nan, math.nan
    est = (pa - pe) / (1 - pe)
    c_i = (pa_i - pe) / (1 - pe)
    c_x = c_i - 2 * (1 - est) * (pe_i - pe) / (1 - pe)
    se = math.sqrt(np.sum((c_x - est) ** 2) / (n * (n - 1))) if n > 1 else math.nan
    return float(est), se


def _alpha(counts: np.ndarray) -> tuple[float, float]:
    """Krippendorff's nominal alpha from the coincidence matrix, and Gwet's SE.

    o_ck = sum_u (n_uc n_uk - [c = k] n_uc) / (m_u - 1), n_c = sum_k o_ck, n = sum_c n_c;
    alpha = 1 - (n - 1) sum_{c != k} o_ck / sum_{c != k} n_c n_k. The SE linearises Gwet's
    equivalent form alpha = (pa - pe) / (1 - pe) (Handbook, 4th ed.; irrCAC's
    krippen.alpha.raw).
    """
    n_units = counts.shape[0]
    m = counts.sum(axis=1)
    w = counts / (m - 1)[:, None]
    coinc = counts.T @ w - np.diag(w.sum(axis=0))
    nc = coinc.sum(axis=1)
    ntot = nc.sum()
    expected = ntot**2 - np.sum(nc**2)
    if expected <= 0:
        return math.nan, math.nan
    alpha = 1 - (ntot - 1) * (ntot - np.trace(coinc)) / expected
    if n_units < 2:
        return float(alpha), math.nan
    rbar = m.mean()
    eps = 1 / m.sum()
    sq = (counts * (counts - 1)).sum(axis=1)
    pa1_i = sq / (rbar * (m - 1))
    pa1 = pa1_i.mean()
    pa = (1 - eps) * pa1 + eps
    pk = counts.sum(axis=0) / m.sum()
    pe = float(np.sum(pk**2))
    alpha1 = (pa1 - pe) / (1 - pe)
    a_i = (pa1_i - pa * (m - rbar) / rbar - pe) / (1 - pe)
    pe_i = counts @ pk / rbar - pe * (m - rbar) / rbar
    a_x = a_i - 2 * (1 - alpha1) * (pe_i - pe) / (1 - pe)
    se = math.sqrt(np.sum((a_x - alpha1) ** 2) / (n_units * (n_units - 1)))
    return float(alpha), se


def _cohen(table: np.ndarray) -> tuple[float, float]:
    """Cohen's kappa of a q x q table and its SE (Fleiss, Cohen & Everitt 1969).

    var = [sum_i p_ii ((1 - pe) - (p_i. + p_.i)(1 - po))^2
           + (1 - po)^2 sum_{i != j} p_ij (p_.i + p_j.)^2 - (po pe - 2 pe + po)^2]
          / (n (1 - pe)^4)
    """
    n = table.sum()
    if n == 0:
        return math.nan, math.nan
    p = table / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    po = float(np.trace(p))
    pe = float(rows @ cols)
    if not pe < 1:
        return math.nan, math.nan
    kappa = (po - pe) / (1 - pe)
    diag = np.diag(p) * ((1 - pe) - (rows + cols) * (1 - po)) ** 2
    cross = cols[:, None] + rows[None, :]
    off = p * cross**2
    np.fill_diagonal(off, 0.0)
    num = diag.sum() + (1 - po) ** 2 * off.sum() - (po * pe - 2 * pe + po) ** 2
    var = max(num, 0.0) / (n * (1 - pe) ** 4)
    return float(kappa), math.sqrt(var)


def _ci(est: float, se: float, z: float) -> tuple[float, float]:
    return est - z * se, est + z * se


def agreement(
    ratings: Mapping[str, Mapping[Any, Any]] | Any,
    *,
    categories: Sequence[str] | None = None,
    level: float = 95.0,
) -> Agreement:
    """Agreement statistics of screening decisions made by two or more reviewers.

    Parameters
    ----------
    ratings : mapping, DataFrame or iterable of triples
        Either ``{reviewer: {record_id: decision}}``, or a long table (a pandas DataFrame with
        columns ``record``, ``reviewer``, ``decision``, or an iterable of such triples). A
        decision that is ``None``, NaN or empty means "not rated". Decisions are any labels
        (``"include"``/``"exclude"``/``"maybe"``, exclusion reasons, ...), compared as
        stripped strings.
    categories : sequence of str, optional
        All possible decisions. Default: the decisions that occur (sorted). The number of
        categories enters Gwet's AC1, so pass e.g. ``("include", "exclude", "maybe")`` to
        count a category nobody used.
    level : float
        Confidence level in percent for the intervals.

    Returns
    -------
    Agreement

    Raises
    ------
    InputError
        If a reviewer rated a record twice with different decisions, a decision is not one of
        ``categories``, the table lacks a column, or ``level`` is not in (0, 100).

    Notes
    -----
    See the module docstring for the formulas and for which records each statistic uses
    (exactly those rated by at least two reviewers).

    Examples
    --------
    >>> res = agreement({"anna": {"r1": "include", "r2": "exclude", "r3": "exclude"},
    ...                  "ben": {"r1": "include", "r2": "exclude", "r3": "include"}})
    >>> res.n_records, round(res.percent_agreement, 2)
    (3, 66.67)
    """
    if not 0 < level < 100:
        raise InputError(f"level {level!r}: expected a confidence level in percent, in (0, 100)")
    triples = _triples(ratings)
    reviewers: dict[str, int] = {}
    records: dict[str, int] = {}
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    for record, reviewer, value, loc in triples:
        key = (record, reviewer)
        if key in seen and seen[key][0] != value:
            raise InputError(f"{loc}: reviewer {reviewer!r} rated record {record!r} twice "
                             f"({seen[key][0]!r} at {seen[key][1]}, now {value!r})")
        seen.setdefault(key, (value, loc))
        reviewers.setdefault(reviewer, len(reviewers))
        records.setdefault(record, len(records))
    observed = sorted({v for v, _ in seen.values()})
    if categories is None:
        cats = tuple(observed)
    else:
        cats = tuple(str(c).strip() for c in categories)
        if len(set(cats)) != len(cats):
            raise InputError(f"categories {list(categories)!r}: repeated category")
        unknown = [v for v in observed if v not in cats]
        if unknown:
            value = unknown[0]
            loc = next(lc for (_, _), (v, lc) in seen.items() if v == value)
            raise InputError(f"{loc}: decision {value!r} is not one of the categories "
                             f"({', '.join(cats)})")
    code = {c: i for i, c in enumerate(cats)}
    q = len(cats)
    # records x reviewers matrix of category codes, -1 = not rated
    mat = np.full((len(records), len(reviewers)), -1, dtype=np.int64)
    for (record, reviewer), (value, _) in seen.items():
        mat[records[record], reviewers[reviewer]] = code[value]
    n_rated = (mat >= 0).sum(axis=1)
    used = mat[n_rated >= 2]
    counts = np.stack([(used == k).sum(axis=1) for k in range(q)], axis=1) if q else \
        np.zeros((used.shape[0], 0), dtype=np.int64)
    z = float(stats.norm.ppf(0.5 + level / 200))
    names = tuple(reviewers)
    nan = math.nan

    if used.shape[0]:
        m = counts.sum(axis=1)
        pa = float(np.mean((counts * (counts - 1)).sum(axis=1) / (m * (m - 1)))) * 100
        ac1, ac1_se = _gwet(counts, "ac1")
        alpha, alpha_se = _alpha(counts)
    else:
        pa = ac1 = ac1_se = alpha = alpha_se = nan

    table = None
    pairwise: list[PairwiseKappa] = []
    if len(names) == 2:
        tab = _pair_table(mat[:, 0], mat[:, 1], q)
        kappa, kappa_se = _cohen(tab)
        method = "cohen"
        table = tuple(tuple(int(x) for x in row) for row in tab)
    else:
        kappa, kappa_se = _gwet(counts, "fleiss") if used.shape[0] else (nan, nan)
        method = "fleiss"
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                tab = _pair_table(mat[:, i], mat[:, j], q)
                if tab.sum() == 0:
                    continue
                k, se = _cohen(tab)
                pairwise.append(PairwiseKappa(names[i], names[j], int(tab.sum()),
                                              float(np.trace(tab) / tab.sum() * 100), k, se))
    return Agreement(
        reviewers=names, categories=cats, n_records=int(used.shape[0]),
        n_single=int(np.sum(n_rated == 1)), n_ratings=int(counts.sum()),
        percent_agreement=pa,
        kappa=kappa, kappa_method=method, kappa_se=kappa_se,
        kappa_ci_low=_ci(kappa, kappa_se, z)[0], kappa_ci_high=_ci(kappa, kappa_se, z)[1],
        ac1=ac1, ac1_se=ac1_se,
        ac1_ci_low=_ci(ac1, ac1_se, z)[0], ac1_ci_high=_ci(ac1, ac1_se, z)[1],
        alpha=alpha, alpha_se=alpha_se,
        alpha_ci_low=_ci(alpha, alpha_se, z)[0], alpha_ci_high=_ci(alpha, alpha_se, z)[1],
        level=float(level), table=table, pairwise=tuple(pairwise),
    )


def _pair_table(a: np.ndarray, b: np.ndarray, q: int) -> np.ndarray:
    """q x q counts of the records both codes rate (rows: ``a``)."""
    both = (a >= 0) & (b >= 0)
    tab = np.zeros((q, q), dtype=np.int64)
    np.add.at(tab, (a[both], b[both]), 1)
    return tab


def stage_agreement(history: Iterable[Mapping[str, Any]], stage: str) -> Agreement | None:
    """Agreement between the reviewers' current votes at ``stage``, from a project's decision
    history (``Project.history()``: events with ``stage``, ``kind``, ``reviewer``, ``record``,
    ``value``); None while fewer than two reviewers have votes.

    A later vote or undo replaces a reviewer's earlier one; resolutions are not votes.
    """
    ratings: dict[str, dict[str, str]] = {}
    for h in history:
        if h["stage"] == stage and h["kind"] in ("vote", "undo"):
            ratings.setdefault(h["reviewer"], {})[str(h["record"])] = h["value"]
    ratings = {k: {r: v for r, v in d.items() if v is not None} for k, d in ratings.items()}
    if len([d for d in ratings.values() if d]) < 2:
        return None
    return agreement(ratings)
