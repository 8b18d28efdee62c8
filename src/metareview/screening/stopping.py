"""When to stop screening: a heuristic, a statistical test, and an estimate of what is left.

* :func:`consecutive_irrelevant` — stop after ``n`` irrelevant records in a row (the common
  "data-driven" heuristic; no guarantee on recall).
* :func:`buscar_stop` — BUSCAR, the hypergeometric stopping criterion of Callaghan &
  Müller-Hansen (2020, *Statistical stopping criteria for automated screening in systematic
  reviews*, Syst Rev 9:273), as implemented in their ``buscarpy`` package (``calculate_h0``).
  It tests H0 "recall is below the target". For every ``i = 1..n_seen``, the last ``i`` screened
  records are treated as a random sample ("urn") drawn from themselves plus every unseen record.
  With ``r`` relevant records seen in all, ``k_i`` of them in the urn, the smallest total that
  would make recall fall short is ``R = floor(r / target + 1)``, so under H0 the urn's
  population of ``N - n_seen + i`` records holds at least ``K_i = R - (r - k_i)`` relevant
  ones, and ``p_i = P(X <= k_i)`` for ``X ~ Hypergeometric(N - n_seen + i, K_i, i)``. The p-value
  is ``min_i p_i``; stop when it is below ``alpha``. Because prioritised screening finds
  relevant records *faster* than random sampling, treating the urn as random is conservative.
  With ``bias != 1`` the urn is drawn with Wallenius' noncentral hypergeometric distribution
  (relevant records ``bias`` times as likely to be drawn), as in ``buscarpy``.
  When even an all-relevant remainder could not bring recall below the target
  (``R - r > N - n_seen``), H0 is impossible and the p-value is 0 (``buscarpy`` returns NaN or
  None there).
* :func:`estimate_remaining` — how many relevant records may still be unseen, by inverting the
  same test: for ``m`` missing records the urn ``i`` has ``K = k_i + m`` relevant records in
  its population, and ``p(m) = min_i P(X <= k_i)`` falls as ``m`` grows. The upper confidence
  bound is the largest ``m`` with ``p(m) > alpha``, and the point estimate the largest ``m``
  with ``p(m) >= 0.5`` (a median-type estimate: the most missing records that the screened
  sequence does not make less likely than not). Both inherit BUSCAR's conservatism.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from metareview.errors import InputError

if TYPE_CHECKING:
    from metareview.screening.source import ScreeningSource

__all__ = [
    "RemainingEstimate",
    "StopDecision",
    "buscar_p_value",
    "buscar_stop",
    "consecutive_irrelevant",
    "estimate_remaining",
    "recall_frontier",
]


@dataclass(frozen=True)
class StopDecision:
    """The verdict of a stopping rule.

    Attributes
    ----------
    rule : str
        ``"consecutive_irrelevant"`` or ``"buscar"``.
    stop : bool
        Whether the rule says screening may stop.
    statistic : float
        The run of irrelevant records at the end (heuristic) or the p-value of H0 "recall is
        below the target" (BUSCAR).
    threshold : float
        ``n`` (stop when the run reaches it) or ``alpha`` (stop when p is below it).
    n_screened, n_relevant : int
        Records screened and relevant records among them.
    n_total : int or None
        Records in the whole set (BUSCAR).
    recall_target : float or None
    """

    rule: str
    stop: bool
    statistic: float
    threshold: float
    n_screened: int
    n_relevant: int
    n_total: int | None = None
    recall_target: float | None = None

    def summary(self) -> str:
        """One line for people."""
        verdict = "stop" if self.stop else "continue"
        if self.rule == "consecutive_irrelevant":
            return (f"{verdict}: the last {int(self.statistic)} screened records were irrelevant "
                    f"(threshold {int(self.threshold)}); {self.n_relevant} relevant in "
                    f"{self.n_screened:,} screened")
        return (f"{verdict}: BUSCAR p = {self.statistic:.4g} for H0 'recall < "
                f"{self.recall_target:.0%}' (alpha {self.threshold:g}); {self.n_relevant} "
                f"relevant in {self.n_screened:,} of {self.n_total:,} screened")

    def to_dict(self) -> dict[str, Any]:
        """Plain values."""
        return {"rule": self.rule, "stop": self.stop, "statistic": self.statistic,
                "threshold": self.threshold, "n_screened": self.n_screened,
                "n_relevant": self.n_relevant, "n_total": self.n_total,
                "recall_target": self.recall_target}


def order_labels(labels_in_order: Sequence[int] | np.ndarray,
                 allow_empty: bool = False) -> np.ndarray:
    """A screening order's labels as an int64 array of 0/1, checked once for every rule and
    metric (:mod:`.simulate` uses it too).

    Raises
    ------
    InputError
        Not one-dimensional, empty (unless ``allow_empty``), or a label other than 0 and 1.
    """
    y = np.asarray(labels_in_order)
    if y.ndim != 1 or (len(y) == 0 and not allow_empty):
        raise InputError("screening order: expected a non-empty 1-D sequence of 0/1 labels")
    if not np.all((y == 0) | (y == 1)):
        raise InputError("screening order: labels must be 0 (irrelevant) or 1 (relevant)")
    return y.astype(np.int64)


def consecutive_irrelevant(labels_in_order: Sequence[int] | np.ndarray, n: int) -> StopDecision:
    """Stop once the last ``n`` screened records were all irrelevant.

    Parameters
    ----------
    labels_in_order : array_like of 0/1
        Labels of the screened records, in screening order.
    n : int
        Length of the run of irrelevant records that ends screening.
    """
    if n < 1:
        raise InputError(f"consecutive irrelevant: n = {n}; expected at least 1")
    y = order_labels(labels_in_order, allow_empty=True)
    hits = np.flatnonzero(y)
    run = len(y) - (int(hits[-1]) + 1 if len(hits) else 0)
    return StopDecision("consecutive_irrelevant", run >= n, float(run), float(n), len(y),
                        int(y.sum()))


def _check_total(y: np.ndarray, n_total: int) -> None:
    if n_total < len(y):
        raise InputError(f"BUSCAR: {len(y):,} records screened but only {n_total:,} in total")


def _urn_cdf(k: np.ndarray, M: np.ndarray, K: np.ndarray, draws: np.ndarray,
             bias: float) -> np.ndarray:
    # Imported here: scipy.stats takes longer to import than a small simulation takes to run,
    # and only BUSCAR needs it.
    from scipy import stats

    if bias == 1:
        return stats.hypergeom.cdf(k, M, K, draws)
    return stats.nchypergeom_wallenius.cdf(k, M, K, draws, bias)


def buscar_p_value(labels_in_order: Sequence[int] | np.ndarray, n_total: int,
                   recall_target: float = 0.95, bias: float = 1.0) -> float:
    """BUSCAR's p-value for H0 "recall is below ``recall_target``" (``buscarpy.calculate_h0``).

    Parameters
    ----------
    labels_in_order : array_like of 0/1
        Labels of the screened records, in screening order.
    n_total : int
        Records in the whole set, screened or not.
    recall_target : float
        Target recall, in (0, 1).
    bias : float
        How much likelier a relevant record is to be drawn into the urns than an irrelevant one
        (1: plain hypergeometric, the published default).

    Returns
    -------
    float
        The smallest p over the urns of the last 1, 2, ..., n_seen records; 0 when H0 is
        impossible.
    """
    if not 0 < recall_target < 1:
        raise InputError(f"BUSCAR: recall target {recall_target!r}; expected 0 < target < 1")
    if not (math.isfinite(bias) and bias > 0):
        raise InputError(f"BUSCAR: bias {bias!r}; expected a positive number")
    y = order_labels(labels_in_order)
    _check_total(y, n_total)
    n_seen = len(y)
    r_seen = int(y.sum())
    k = np.cumsum(y[::-1])  # relevant records among the last 1, 2, ... screened
    sizes = np.arange(1, n_seen + 1)
    # Same arithmetic, in the same order, as buscarpy: floor(r / target + 1 - (r - k)).
    K = np.floor(r_seen / recall_target + 1 - (r_seen - k))
    if np.floor(r_seen / recall_target + 1) - r_seen > n_total - n_seen:
        return 0.0  # even if every unseen record were relevant, recall would reach the target
    return float(np.min(_urn_cdf(k, n_total - (n_seen - sizes), K, sizes, bias)))


def buscar_stop(labels_in_order: Sequence[int] | np.ndarray, n_total: int,
                recall_target: float = 0.95, alpha: float = 0.05,
                bias: float = 1.0) -> StopDecision:
    """BUSCAR stopping decision: stop when H0 "recall < target" is rejected at ``alpha``.

    See :func:`buscar_p_value` for the parameters; ``alpha = 1 - confidence``.
    """
    if not 0 < alpha < 1:
        raise InputError(f"BUSCAR: alpha {alpha!r}; expected 0 < alpha < 1")
    p = buscar_p_value(labels_in_order, n_total, recall_target, bias)
    y = np.asarray(labels_in_order)
    return StopDecision("buscar", p < alpha, p, alpha, len(y), int(y.sum()), n_total,
                        recall_target)


def recall_frontier(labels_in_order: Sequence[int] | np.ndarray, n_total: int,
                    targets: Sequence[float] | np.ndarray | None = None,
                    bias: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """BUSCAR p-values over a range of recall targets (``buscarpy.recall_frontier``).

    Parameters
    ----------
    targets : array_like, optional
        Recall targets; by default 0.99, 0.985, ..., 0.5.

    Returns
    -------
    targets, p : numpy.ndarray
        The recall targets and the p-value for H0 "recall is below the target" at each. Small
        p at a target means the screened sequence makes a recall below it implausible.
    """
    t = np.round(np.arange(0.99, 0.4999, -0.005), 3) if targets is None else np.asarray(targets)
    return t, np.array([buscar_p_value(labels_in_order, n_total, float(x), bias) for x in t])


@dataclass(frozen=True)
class RemainingEstimate:
    """Relevant records that may remain unseen.

    Attributes
    ----------
    estimate : int
        Point estimate (median-type, see the module docstring).
    lower, upper : int
        Confidence interval; ``lower`` is 0 (the test cannot exclude that nothing is left).
    confidence : float
    n_screened, n_relevant, n_total : int
    """

    estimate: int
    lower: int
    upper: int
    confidence: float
    n_screened: int
    n_relevant: int
    n_total: int

    @property
    def recall_estimate(self) -> float:
        """Recall if ``estimate`` relevant records remain."""
        return _recall(self.n_relevant, self.estimate)

    @property
    def recall_lower(self) -> float:
        """Recall if ``upper`` relevant records remain: the lower confidence bound on recall."""
        return _recall(self.n_relevant, self.upper)

    def summary(self) -> str:
        """One line for people."""
        return (f"about {self.estimate} relevant record(s) left among "
                f"{self.n_total - self.n_screened:,} unseen ({self.confidence:.0%} interval "
                f"{self.lower}–{self.upper}); recall so far about {self.recall_estimate:.1%} "
                f"(at least {self.recall_lower:.1%})")

    def to_dict(self) -> dict[str, Any]:
        """Plain values."""
        return {"estimate": self.estimate, "lower": self.lower, "upper": self.upper,
                "confidence": self.confidence, "n_screened": self.n_screened,
                "n_relevant": self.n_relevant, "n_total": self.n_total,
                "recall_estimate": self.recall_estimate, "recall_lower": self.recall_lower}


def _recall(found: int, missing: int) -> float:
    return found / (found + missing) if found + missing else math.nan


def estimate_remaining(labels_in_order: Sequence[int] | np.ndarray, n_total: int,
                       confidence: float = 0.95, bias: float = 1.0) -> RemainingEstimate:
    """Estimate how many relevant records remain unseen, with an upper confidence bound.

    Parameters
    ----------
    labels_in_order : array_like of 0/1
        Labels of the screened records, in screening order.
    n_total : int
        Records in the whole set.
    confidence : float
        Level of the interval (``alpha = 1 - confidence`` for the upper bound).
    bias : float
        As in :func:`buscar_p_value`.
    """
    if not 0 < confidence < 1:
        raise InputError(f"estimate remaining: confidence {confidence!r}; expected 0..1")
    y = order_labels(labels_in_order)
    _check_total(y, n_total)
    n_seen = len(y)
    unseen = n_total - n_seen
    k = np.cumsum(y[::-1])
    sizes = np.arange(1, n_seen + 1)
    M = unseen + sizes

    def p(m: int) -> float:
        return float(np.min(_urn_cdf(k, M, k + m, sizes, bias)))

    def largest(level: float, strict: bool) -> int:
        # p(m) falls as m grows and p(0) = 1: bisect for the largest m still above the level.
        lo, hi = 0, unseen
        while lo < hi:
            mid = (lo + hi + 1) // 2
            v = p(mid)
            if v > level or (not strict and v == level):
                lo = mid
            else:
                hi = mid - 1
        return lo

    alpha = 1 - confidence
    return RemainingEstimate(estimate=largest(0.5, strict=False), lower=0,
                             upper=largest(alpha, strict=True), confidence=confidence,
                             n_screened=n_seen, n_relevant=int(y.sum()), n_total=n_total)


#: Default run of irrelevant records for :func:`stopping_report` (a common, user-set heuristic).
DEFAULT_RUN = 50


@dataclass(frozen=True)
class StoppingReport:
    """The three stopping aids for one screening order, side by side.

    BUSCAR is the recommendation (it alone says something about recall); the run of irrelevant
    records and the estimate of what is left are there to read beside it.

    Attributes
    ----------
    n_total, n_screened, n_relevant : int
        Records up for screening, screened, and relevant among the screened.
    consecutive : StopDecision
        :func:`consecutive_irrelevant` with the report's ``run``.
    buscar : StopDecision or None
        :func:`buscar_stop`; None before anything is screened.
    remaining : RemainingEstimate or None
        :func:`estimate_remaining` at ``1 - alpha``; None before anything is screened.
    """

    n_total: int
    n_screened: int
    n_relevant: int
    consecutive: StopDecision
    buscar: StopDecision | None
    remaining: RemainingEstimate | None

    @property
    def stop(self) -> bool:
        """Whether BUSCAR rejects "recall is below the target" (always stop when all are seen)."""
        if self.n_screened >= self.n_total:
            return True
        return self.buscar is not None and self.buscar.stop

    @property
    def complete(self) -> bool:
        """Whether every record up for screening has been screened (none unseen)."""
        return self.n_total > 0 and self.n_screened >= self.n_total

    def summary(self) -> str:
        """Lines for people."""
        lines = [f"{self.n_screened:,} of {self.n_total:,} records screened, "
                 f"{self.n_relevant:,} relevant; {self.n_total - self.n_screened:,} unseen"]
        if self.n_total == 0:
            lines.append("no records are up for screening")
            return "\n".join(lines)
        if self.complete:
            # nothing left: a rule about when to stop has nothing to say
            lines.append("screening is complete: every record has been screened")
            return "\n".join(lines)
        if self.buscar is None:
            lines.append("nothing screened yet: no stopping rule can speak")
            return "\n".join(lines)
        lines.append(f"  statistical rule  {self.buscar.summary()}")
        lines.append(f"  heuristic         {self.consecutive.summary()}")
        if self.remaining is not None:
            lines.append(f"  estimate          {self.remaining.summary()}")
        lines.append("recommendation: " + ("stop screening" if self.stop
                                           else "keep screening"))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain values."""
        return {"n_total": self.n_total, "n_screened": self.n_screened,
                "n_relevant": self.n_relevant, "stop": self.stop, "complete": self.complete,
                "consecutive": self.consecutive.to_dict(),
                "buscar": None if self.buscar is None else self.buscar.to_dict(),
                "remaining": None if self.remaining is None else self.remaining.to_dict()}


def stopping_report(labels_in_order: Sequence[int] | np.ndarray, n_total: int, *,
                    recall_target: float = 0.95, alpha: float = 0.05,
                    run: int = DEFAULT_RUN, bias: float = 1.0) -> StoppingReport:
    """All stopping aids for a screening order: BUSCAR, the irrelevant run, what is left.

    Parameters
    ----------
    labels_in_order : array_like of 0/1
        Labels of the screened records, in screening order (may be empty).
    n_total : int
        Records up for screening, screened or not.
    recall_target, alpha, bias
        As in :func:`buscar_stop`; the remaining-records interval is at ``1 - alpha``.
    run : int
        Irrelevant records in a row that the heuristic stops at.
    """
    y = order_labels(labels_in_order, allow_empty=True)
    _check_total(y, n_total)
    consecutive = consecutive_irrelevant(y, run)
    if len(y) == 0:
        return StoppingReport(n_total, 0, 0, consecutive, None, None)
    return StoppingReport(
        n_total, len(y), int(y.sum()), consecutive,
        buscar_stop(y, n_total, recall_target=recall_target, alpha=alpha, bias=bias),
        estimate_remaining(y, n_total, confidence=1 - alpha, bias=bias))


def stopping_aids(review: ScreeningSource, stage: str, reviewer: str, *,
                  recall_target: float = 0.95, alpha: float = 0.05,
                  run: int = DEFAULT_RUN) -> StoppingReport:
    """The stopping aids for one reviewer's screening so far (blinded: their own votes only).

    The order is the project's ``screening_order``; ``include`` and ``maybe`` count as
    relevant, as for the ranking model. The records up for screening are those this reviewer
    screened plus those still in their queue.

    Parameters
    ----------
    review : ScreeningSource
        A review project (:class:`~metareview.store.project.Project`).
    stage : {'title_abstract', 'full_text'}
    reviewer : str
    recall_target, alpha, run
        See :func:`stopping_report`.
    """
    order = review.screening_order(stage, reviewer)
    labels = [int(v != "exclude") for _, v in order]
    n_total = len(order) + len(review.queue(stage, reviewer))
    return stopping_report(labels, n_total, recall_target=recall_target, alpha=alpha, run=run)
