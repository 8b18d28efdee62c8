"""Active-learning order for a reviewer's screening queue, from what a review project holds.

The model learns from this reviewer's own votes at the stage (``include`` and ``maybe`` count
as relevant) and from labels carried by labelled imports; it never sees the other reviewer's
votes, so dual screening stays blind. The TF-IDF matrix is built once per screening session and
only the classifier is refitted after each decision.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from metareview.screening.active import rank_records, record_text, tfidf_features
from metareview.screening.source import ScreeningSource

#: ``rank(project, stage, reviewer, candidates)`` → candidates with a relevance score (or
#: None), highest relevance first.
Ranker = Callable[[ScreeningSource, str, str, list[int]], list[tuple[int, float | None]]]


def model_ranker(*, classifier: str = "svm", query: str = "certainty",
                 seed: int | None = 0) -> Ranker:
    """A ranking function for :func:`metareview.cli.screener.run_screener`.

    Parameters
    ----------
    classifier, query : str
        See :func:`metareview.screening.active.rank_records`.
    seed : int, optional
        Seeds the cold-start order and random queries.
    """
    # The features of a stage's records are the same for every reviewer (only the labels
    # differ), so a team's reviewers share one TF-IDF matrix per stage.
    cache: dict[str, tuple[list[int], object]] = {}

    def rank(review: ScreeningSource, stage: str, reviewer: str,
             candidates: list[int]) -> list[tuple[int, float | None]]:
        key = stage
        if key not in cache:
            stored = review.records(review.eligible(stage))
            ids = list(stored)
            texts = [record_text(stored[i].record.title, stored[i].record.abstract)
                     for i in ids]
            priors = {i: stored[i].record.label for i in ids if stored[i].record.label}
            cache[key] = (ids, tfidf_features(texts), priors)
        ids, features, priors = cache[key]
        index = {r: n for n, r in enumerate(ids)}
        labels = {index[r]: v == "include" for r, v in priors.items()}
        labels.update({index[r]: v != "exclude"
                       for r, v in review.own_labels(stage, reviewer).items() if r in index})
        ranking = rank_records(features, labels, classifier=classifier, query=query, seed=seed)
        wanted = set(candidates)
        out = []
        for n, score in zip(ranking.order.tolist(), ranking.scores.tolist(), strict=True):
            r = ids[n]
            if r in wanted:
                out.append((r, None if not np.isfinite(score) else float(score)))
                wanted.discard(r)
        # records that became eligible after the features were built: import order, last
        out += [(r, None) for r in candidates if r in wanted]
        return out

    return rank
