"""Simulated screening over a labelled dataset, and the metrics of a screening order.

A simulation replays a finished review: the model starts from a few prior records, ranks the
rest, "screens" the top record(s) by looking up their known label, retrains, and repeats. The
order in which records were screened is what every metric is computed from.

Metrics follow **asreview-insights 1.6** (``asreviewcontrib/insights/algorithms.py`` and
``metrics.py``) exactly, so numbers can be compared with published ASReview simulations.
Each is a pure function of ``labels_in_order``: the 0/1 labels of the records in the order they
were screened, **prior records left out** (insights' default ``priors=False``), covering every
non-prior record (insights pads a simulation that stopped early with zeros; a simulation that
stops at the last relevant record loses nothing by it). With ``n`` records and ``n_rel``
relevant ones among them, and ``found(i)`` relevant records in the first ``i``:

* recall curve: ``x_i = i / n``, ``y_i = found(i) / n_rel``, ``i = 1..n``;
* recall at a fraction ``f`` screened: ``y`` at the largest ``x_i <= f`` (0 when ``f < 1/n``);
* WSS at recall ``r``: insights compares the position where the ``j``-th relevant record is
  found with the position where a *random* order, taken as the stepped line
  ``round(linspace(0, n_rel, n))``, finds it: ``(random_j - found_j) / n``, at the largest
  ``j / n_rel <= r``. (This is insights' definition; for ``r = 0.95`` and 43 relevant records
  it is read at ``j = 40``; for ``r < 1 / n_rel`` at ``j = n_rel``.)
* ERF at fraction ``f``: ``(found(i) - random(i)) / n_rel`` at the largest ``i / n <= f``;
* time to discovery (TD) of each relevant record: its 1-based position in the order; ATD is
  their mean;
* loss (Ferdinands, Teijema et al., insights >= 1.4): the area between the optimal recall curve
  and the actual one, over the area between the optimal and the worst, so 0 is perfect and 1
  finds every relevant record last.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metareview._util import html as _html
from metareview.errors import InputError
from metareview.screening.active import (
    Features,
    Learner,
    as_label_array,
    balance_weights,
    fit_scores,
    query_order,
    record_text,
    tfidf_features,
)
from metareview.screening.stopping import order_labels
from metareview.screening.svm import DENSE_MAX, Gram, TopScores, fit_linear_svm, fit_svm_gram

__all__ = [
    "Metrics",
    "SimulationResult",
    "SimulationRun",
    "average_time_to_discovery",
    "erf",
    "loss",
    "metrics",
    "read_labelled",
    "recall_at",
    "recall_curve",
    "simulate",
    "time_to_discovery",
    "wss",
]

#: Default retraining growth of :func:`simulate`: retrain after 5% of the labelled records
#: (or at once after a relevant one). Chosen on the shared labelled datasets (seeds 0-2),
#: where it cuts the retrainings of a 2,500-record review ~15-fold; WSS@95 and recall@10%
#: stay within the spread over seeds of ASReview's on 8 of the 11 (bench/RESULTS-screening.md).
RETRAIN_GROWTH = 0.05
#: Fractions screened at which :func:`metrics` reports recall (insights' defaults).
RECALL_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 0.9)
#: Recall levels at which :func:`metrics` reports WSS.
WSS_RECALLS = (0.95, 1.0)
#: Fractions screened at which :func:`metrics` reports ERF.
ERF_FRACTIONS = (0.1,)


# ---------------------------------------------------------------------------------------------
# Metrics: pure functions of the screening order
def _labels(labels_in_order: Sequence[int] | np.ndarray, need_both: bool = False) -> np.ndarray:
    y = order_labels(labels_in_order)
    n_rel = int(y.sum())
    if n_rel == 0:
        raise InputError("screening order: no relevant record, so recall is undefined")
    if need_both and n_rel == len(y):
        raise InputError("screening order: every record is relevant, so loss is undefined")
    return y


def _slice(x: np.ndarray, y: np.ndarray, at: float) -> float:
    """insights' ``_slice_metric``: ``y`` at the largest ``x <= at``."""
    return float(y[np.searchsorted(x, at, side="right") - 1])


def _random_found(n: int, n_rel: int) -> np.ndarray:
    """Relevant records a random order is credited with after each record (insights)."""
    return np.round(np.linspace(0, n_rel, n))


def recall_curve(labels_in_order: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall after each screened record.

    Returns
    -------
    x, y : numpy.ndarray
        ``x_i = i / n`` (fraction screened) and ``y_i`` = recall after ``i`` records,
        ``i = 1..n``.
    """
    y = _labels(labels_in_order)
    n = len(y)
    return np.arange(1, n + 1) / n, np.cumsum(y) / y.sum()


def recall_at(labels_in_order: Sequence[int] | np.ndarray, fraction: float) -> float:
    """Recall after screening ``fraction`` of the records (insights ``recall``)."""
    x, y = recall_curve(labels_in_order)
    if fraction < x[0]:
        return 0.0
    return _slice(x, y, fraction)


def wss(labels_in_order: Sequence[int] | np.ndarray, recall: float = 0.95) -> float:
    """Work saved over sampling at a recall level (insights ``wss``).

    See the module docstring for the definition. Below the first step (``recall <
    1 / n_rel``) insights' index wraps round to the last element, i.e. WSS at 100% recall, and
    so does this (with one relevant record, every recall level needs that record).
    """
    y = _labels(labels_in_order)
    n, n_rel = len(y), int(y.sum())
    targets = np.arange(1, n_rel + 1)
    when = np.searchsorted(np.cumsum(y), targets)
    when_random = np.searchsorted(_random_found(n, n_rel), targets)
    return _slice(targets / n_rel, (when_random - when) / n, recall)


def erf(labels_in_order: Sequence[int] | np.ndarray, fraction: float = 0.1) -> float:
    """Extra relevant records found after screening ``fraction`` of the records, as a
    fraction of all relevant records (insights ``erf``); 0 below the first step (where
    insights wraps round to the last value, which is always 0)."""
    y = _labels(labels_in_order)
    n, n_rel = len(y), int(y.sum())
    x = np.arange(1, n + 1) / n
    if fraction < x[0]:
        return 0.0
    return _slice(x, (np.cumsum(y) - _random_found(n, n_rel)) / n_rel, fraction)


def time_to_discovery(labels_in_order: Sequence[int] | np.ndarray) -> np.ndarray:
    """1-based position at which each relevant record was screened (insights TD)."""
    y = _labels(labels_in_order)
    return np.flatnonzero(y) + 1


def average_time_to_discovery(labels_in_order: Sequence[int] | np.ndarray) -> float:
    """Mean of :func:`time_to_discovery` (insights ATD), in records screened."""
    return float(np.mean(time_to_discovery(labels_in_order)))


def loss(labels_in_order: Sequence[int] | np.ndarray) -> float:
    """Normalised loss of the recall curve (insights/ASReview ``loss``), 0 best, 1 worst.

    ``(n_rel * (n - (n_rel - 1) / 2) - sum(cumsum(y))) / (n_rel * (n - n_rel))``: the optimal
    area minus the actual one, over the optimal minus the worst.
    """
    y = _labels(labels_in_order, need_both=True)
    n, n_rel = len(y), int(y.sum())
    return float((n_rel * (n - (n_rel - 1) / 2) - np.cumsum(y).sum()) / (n_rel * (n - n_rel)))


@dataclass(frozen=True)
class Metrics:
    """Screening metrics of one order (insights definitions; priors excluded).

    Attributes
    ----------
    n_records, n_relevant : int
        Records in the order, and relevant ones among them.
    recall : dict
        Fraction screened -> recall.
    wss : dict
        Recall level -> work saved over sampling.
    erf : dict
        Fraction screened -> extra relevant records found.
    loss : float
    atd : float
        Average time to discovery (records).
    td : tuple of int
        Time to discovery of each relevant record, in order of discovery.
    """

    n_records: int
    n_relevant: int
    recall: Mapping[float, float]
    wss: Mapping[float, float]
    erf: Mapping[float, float]
    loss: float
    atd: float
    td: tuple[int, ...]

    def summary(self) -> str:
        """Lines for people."""
        rec = ", ".join(f"{k:.0%}: {v:.3f}" for k, v in self.recall.items())
        w = ", ".join(f"WSS@{k:.0%} {v:.3f}" for k, v in self.wss.items())
        e = ", ".join(f"ERF@{k:.0%} {v:.3f}" for k, v in self.erf.items())
        return (f"{self.n_relevant} relevant of {self.n_records:,} records (priors excluded)\n"
                f"  recall after screening {rec}\n  {w}; {e}\n"
                f"  loss {self.loss:.3f}; ATD {self.atd:.1f} records")

    def to_dict(self) -> dict[str, Any]:
        """Plain values; mapping keys become strings such as ``"0.95"``."""
        return {"n_records": self.n_records, "n_relevant": self.n_relevant,
                "recall": {f"{k:g}": v for k, v in self.recall.items()},
                "wss": {f"{k:g}": v for k, v in self.wss.items()},
                "erf": {f"{k:g}": v for k, v in self.erf.items()},
                "loss": self.loss, "atd": self.atd, "td": list(self.td)}


def metrics(
    labels_in_order: Sequence[int] | np.ndarray,
    *,
    recall_fractions: Sequence[float] = RECALL_FRACTIONS,
    wss_recalls: Sequence[float] = WSS_RECALLS,
    erf_fractions: Sequence[float] = ERF_FRACTIONS,
) -> Metrics:
    """All metrics of one screening order (priors excluded), as asreview-insights reports them.

    Loss needs at least one irrelevant record; with none it is NaN.
    """
    y = _labels(labels_in_order)
    n_rel = int(y.sum())
    return Metrics(
        n_records=len(y),
        n_relevant=n_rel,
        recall={float(f): recall_at(y, f) for f in recall_fractions},
        wss={float(r): wss(y, r) for r in wss_recalls},
        erf={float(f): erf(y, f) for f in erf_fractions},
        loss=loss(y) if n_rel < len(y) else math.nan,
        atd=average_time_to_discovery(y),
        td=tuple(time_to_discovery(y).tolist()),
    )


# ---------------------------------------------------------------------------------------------
# Simulation
@dataclass(frozen=True, eq=False)
class SimulationRun:
    """One seed's simulated screening.

    Attributes
    ----------
    seed : int
    prior : tuple of int
        Record indices labelled before the model started (relevant ones first).
    order : numpy.ndarray
        Every other record, in the order screened. Records after ``n_screened`` were not
        screened (the simulation stopped at the last relevant record); they follow in the
        last ranking's order and are all irrelevant.
    labels_in_order : numpy.ndarray
        Their labels (0/1), what the metrics are computed from.
    n_screened : int
        Records screened before the simulation stopped.
    n_retrains : int
        Times the model was fitted (0 for the random baseline).
    seconds : float
        Wall time of the run (features excluded).
    metrics : Metrics
    """

    seed: int
    prior: tuple[int, ...]
    order: np.ndarray
    labels_in_order: np.ndarray
    n_screened: int
    n_retrains: int
    seconds: float
    metrics: Metrics

    def to_dict(self) -> dict[str, Any]:
        """Plain values."""
        return {"seed": self.seed, "prior": list(self.prior), "order": self.order.tolist(),
                "n_screened": self.n_screened, "n_retrains": self.n_retrains,
                "seconds": self.seconds, "metrics": self.metrics.to_dict()}


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Simulations of one dataset over several seeds.

    Attributes
    ----------
    runs : tuple of SimulationRun
    learner : Learner
    n_records, n_relevant : int
        Size of the dataset and number of relevant records (priors included).
    batch_size : int
        Records screened between retrainings.
    n_prior_included, n_prior_excluded : int
    features : dict
        The TF-IDF settings and matrix shape.
    growth : float
        Retraining growth (see :func:`simulate`); 0 retrains after every batch.
    """

    runs: tuple[SimulationRun, ...]
    learner: Learner
    n_records: int
    n_relevant: int
    batch_size: int
    n_prior_included: int
    n_prior_excluded: int
    features: Mapping[str, Any] = field(default_factory=dict)
    growth: float = 0.0

    def metric_values(self, name: str, key: float | None = None) -> np.ndarray:
        """One metric over the seeds, e.g. ``metric_values("wss", 0.95)`` or ``("loss")``."""
        vals = []
        for run in self.runs:
            v = getattr(run.metrics, name)
            vals.append(v[key] if isinstance(v, Mapping) else v)
        return np.asarray(vals, dtype=float)

    def mean_metrics(self) -> dict[str, Any]:
        """Mean, SD, min and max over the seeds of each scalar metric."""
        out: dict[str, Any] = {}
        first = self.runs[0].metrics
        names: list[tuple[str, float | None]] = [("loss", None), ("atd", None)]
        for name in ("recall", "wss", "erf"):
            names += [(name, k) for k in getattr(first, name)]
        for name, key in names:
            v = self.metric_values(name, key)
            label = name if key is None else f"{name}@{key:g}"
            out[label] = {"mean": float(np.mean(v)),
                          "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                          "min": float(np.min(v)), "max": float(np.max(v))}
        return out

    def retraining(self) -> str:
        """When the model was retrained, in words."""
        every = f"retrain every {self.batch_size} record(s)"
        if not self.growth:
            return every
        return (f"{every} or {self.growth:.0%} of those labelled, whichever is more, and "
                "after each relevant record")

    def _heading(self) -> tuple[str, str]:
        """The settings line and the model's description heading the report."""
        return (f"Simulation: {self.n_records:,} records, {self.n_relevant} relevant; "
                f"{len(self.runs)} seed(s); priors {self.n_prior_included} relevant + "
                f"{self.n_prior_excluded} irrelevant",
                f"{self.learner.summary()}, {self.retraining()}")

    def summary(self) -> str:
        """Lines for people: settings and mean (SD) of the metrics over the seeds."""
        settings, model = self._heading()
        lines = [settings, f"  model: {model}"]
        for label, s in self.mean_metrics().items():
            lines.append(f"  {label:<12} {s['mean']:.3f} (SD {s['sd']:.3f}, "
                         f"{s['min']:.3f}–{s['max']:.3f})")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The metrics of :meth:`summary` as an HTML table, for notebooks."""
        settings, model = self._heading()
        head = [settings, f"Model: {model}"]
        rows = [[label, *(f"{s[k]:.3f}" for k in ("mean", "sd", "min", "max"))]
                for label, s in self.mean_metrics().items()]
        return _html.block(head, [_html.table(["metric", "mean", "SD", "min", "max"], rows,
                                              caption=f"Metrics over {len(self.runs)} seed(s)")])

    def to_dict(self) -> dict[str, Any]:
        """Plain values."""
        return {"n_records": self.n_records, "n_relevant": self.n_relevant,
                "learner": self.learner.to_dict(), "batch_size": self.batch_size,
                "growth": self.growth,
                "n_prior_included": self.n_prior_included,
                "n_prior_excluded": self.n_prior_excluded, "features": dict(self.features),
                "mean": self.mean_metrics(), "runs": [r.to_dict() for r in self.runs]}


def read_labelled(path: str | Path, *, label: str = "label_included",
                  warnings: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Texts and 0/1 labels of a labelled dataset, for :func:`simulate`.

    Any format :func:`metareview.records.readers.read_records` reads: a spreadsheet (CSV, TSV,
    XLSX) with title, abstract and the ``label`` column (ASReview's datasets: ``1``/``0``,
    also ``include``/``exclude``), or RIS and the other reference formats with our export's
    labels. Only title, abstract and label are read: an unreadable cell in another column (a
    malformed DOI or year) is a warning, added to ``warnings`` when a list is given.

    Raises
    ------
    InputError
        A file the readers refuse, or a record without a label (naming its row or line).
    """
    from metareview.records.readers import detect_format, read_records

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: no such file")
    fmt = detect_format(p.name, p.read_bytes()[:65536])
    mapping = {"label": label} if fmt in ("csv", "tsv", "xlsx") else None
    # The source is named so that the reader does not warn that the file does not say it.
    batch = read_records(p, format=fmt, mapping=mapping, source=p.name,
                         fields_used=("title", "abstract", "label"))
    if warnings is not None:
        warnings.extend(batch.warnings)
    where = "row" if mapping else "line"
    for rec in batch.records:
        if rec.label is None:
            column = f", column {label}" if mapping else ""
            raise InputError(f"{p.name} {where} {rec.line}{column}: no label (a simulation "
                             "needs every record labelled 0 or 1)")
    texts = [record_text(r.title, r.abstract) for r in batch.records]
    return texts, np.array([int(r.label == "include") for r in batch.records], dtype=np.int64)


#: ``progress(done, total)``: label steps done so far over all seeds, and the most there are.
Progress = Callable[[int, int], None]


def simulate(
    texts: Sequence[str] | Features,
    labels: Sequence[Any] | np.ndarray,
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_prior_included: int = 1,
    n_prior_excluded: int = 1,
    classifier: str = "svm",
    query: str = "certainty",
    balance: bool | float = True,
    regularisation: float | None = None,
    batch_size: int = 1,
    growth: float = RETRAIN_GROWTH,
    stop_at_last_relevant: bool = True,
    progress: Progress | None = None,
) -> SimulationResult:
    """Simulate active-learning screening of a labelled dataset, once per seed.

    Each seed draws its prior records (``n_prior_included`` relevant and ``n_prior_excluded``
    irrelevant, uniformly at random), then repeats: fit on everything labelled so far, rank the
    rest, label the top ``batch_size`` records. ``batch_size > 1`` retrains less often (faster
    on large datasets; ASReview's ``--n-query``).

    Parameters
    ----------
    texts : sequence of str or Features
        Record texts (title + abstract), or prebuilt :func:`tfidf_features`.
    labels : array_like of 0/1
        The true label of every record.
    seeds : sequence of int
        One run per seed; the seed fixes the priors, the model and the random query parts.
    n_prior_included, n_prior_excluded : int
        Prior knowledge per run (ASReview's ``--n-prior-included/--n-prior-excluded``).
    classifier, query, balance, regularisation
        See :class:`~metareview.screening.active.Learner`.
    batch_size : int
        Records labelled between retrainings.
    growth : float
        Retrain less often as the labelled set grows: after ``max(batch_size, ceil(growth *
        labelled))`` records, or at once after a relevant one. ``0`` (the default) retrains
        after every batch, as ASReview does.
    stop_at_last_relevant : bool
        Stop when every relevant record is found (ASReview's default); the remaining records,
        all irrelevant, follow in the last ranking's order. Metrics are the same either way.
    progress : callable, optional
        ``progress(done, total)`` after each retraining; ``total`` is seeds x non-prior
        records, and a run that stops early jumps ``done`` to its end.

    Returns
    -------
    SimulationResult

    Raises
    ------
    InputError
        If labels are not all 0/1, there are too few relevant or irrelevant records for the
        priors (at least one relevant record must remain to be found), or a setting is invalid.
    """
    learner = Learner(classifier=classifier, query=query, balance=balance,
                      regularisation=regularisation)
    features = texts if isinstance(texts, Features) else tfidf_features(texts)
    y = as_label_array(labels, features.n_records)
    if np.any(y < 0):
        raise InputError(f"simulation labels: record {int(np.argmax(y < 0))} has no label; a "
                         "simulation needs every record labelled")
    y = y.astype(np.int64)
    if batch_size < 1:
        raise InputError(f"batch size {batch_size}: expected at least 1")
    if not (math.isfinite(growth) and 0.0 <= growth < 1.0):
        raise InputError(f"retraining growth {growth!r}: expected a share from 0 up to 1")
    if n_prior_included < 1 or n_prior_excluded < 1:
        # Without both classes the model cannot start; random screening is query="random".
        raise InputError("simulation priors: need at least 1 relevant and 1 irrelevant prior")
    rel = np.flatnonzero(y == 1)
    irr = np.flatnonzero(y == 0)
    if len(rel) <= n_prior_included:
        raise InputError(f"simulation labels: {len(rel)} relevant record(s); need more than the "
                         f"{n_prior_included} prior one(s)")
    if len(irr) < n_prior_excluded:
        raise InputError(f"simulation labels: {len(irr)} irrelevant record(s); need at least "
                         f"{n_prior_excluded} for the priors")
    if not seeds:
        raise InputError("simulation: no seeds given")

    n = features.n_records
    n_rest = n - n_prior_included - n_prior_excluded
    total = len(seeds) * n_rest
    runs = []
    for s, seed in enumerate(seeds):
        def step(done: int, s: int = s) -> None:
            if progress is not None:
                progress(s * n_rest + done, total)

        runs.append(_run(features, y, int(seed), learner, rel, irr, n_prior_included,
                         n_prior_excluded, batch_size, stop_at_last_relevant, step, growth))
    return SimulationResult(tuple(runs), learner, n, len(rel), batch_size, n_prior_included,
                            n_prior_excluded, features.to_dict(), growth)


def _run(features: Features, y: np.ndarray, seed: int, learner: Learner, rel: np.ndarray,
         irr: np.ndarray, n_inc: int, n_exc: int, batch_size: int, stop_early: bool,
         step: Callable[[int], None], growth: float = 0.0) -> SimulationRun:
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    prior = np.concatenate([rng.choice(rel, n_inc, replace=False),
                            rng.choice(irr, n_exc, replace=False)])
    n = len(y)
    X = features.matrix
    labelled = np.zeros(n, dtype=bool)
    labelled[prior] = True
    sequence = [prior]  # labelled rows in labelling order (kept as chunks)
    screened: list[np.ndarray] = []
    n_found = int(y[prior].sum())
    n_rel = int(y.sum())
    n_done = 0
    n_retrains = 0
    n_rest = n - len(prior)
    # The svm refits from its last solution and the certainty query re-scores only records
    # that could reach the top (screening/svm.py); the others refit from scratch.
    fast = learner.classifier == "svm" and learner.query == "certainty"
    top = TopScores(X) if fast else None
    gram = Gram(X) if fast else None
    wb: np.ndarray | None = None
    theta: np.ndarray | None = None
    scores = np.zeros(n)
    while n_done < n_rest:
        idx = np.concatenate(sequence)
        pool_mask = ~labelled
        quota = batch_size
        if growth > 0:
            quota = max(batch_size, math.ceil(growth * len(idx)))
        quota = min(quota, n_rest - n_done)
        if learner.query == "random":
            take = np.flatnonzero(pool_mask)[query_order(scores[pool_mask], "random", rng)]
        elif top is not None:
            yl = y[idx]
            w = balance_weights(yl, learner.ratio)
            cost = learner.strength * (np.ones(len(yl)) if w is None else w)
            if len(idx) <= DENSE_MAX:
                # Few labelled records: exact Newton steps through their inner products.
                gram.extend(idx[len(gram.rows):])
                theta = fit_svm_gram(gram.matrix, yl, cost, start=theta)
                wb = np.append(gram.labelled.T @ theta, theta.sum())
            else:
                wb = fit_linear_svm(X[idx], yl, cost, start=wb)
            n_retrains += 1
            take = top.top(wb, pool_mask, quota)
        else:
            scores = fit_scores(X, idx, y[idx], learner, seed)
            n_retrains += 1
            pool = np.flatnonzero(pool_mask)
            take = pool[query_order(scores[pool], learner.query, rng, learner.mix_probability)]
        take = take[:quota]
        if growth > 0 and quota > batch_size:
            # Beyond the batch, a relevant record ends the stretch: retrain on it at once.
            hits = np.flatnonzero(y[take[batch_size:]] == 1)
            if len(hits):
                take = take[: batch_size + hits[0] + 1]
        labelled[take] = True
        sequence.append(take)
        screened.append(take)
        n_found += int(y[take].sum())
        n_done += len(take)
        step(n_done)
        if stop_early and n_found == n_rel and n_done < n_rest:
            # Every relevant record is found: the rest follow in this ranking's order.
            rest = np.flatnonzero(~labelled)
            if top is not None and wb is not None:
                scores = top.full(wb)
            screened.append(rest[np.argsort(-scores[rest], kind="stable")])
            step(n_rest)
            break
    order = np.concatenate(screened)
    labels_in_order = y[order]
    return SimulationRun(
        seed=seed,
        prior=tuple(int(i) for i in prior),
        order=order,
        labels_in_order=labels_in_order,
        n_screened=n_done,
        n_retrains=n_retrains,
        seconds=time.perf_counter() - t0,
        metrics=metrics(labels_in_order),
    )
