"""Overlap of primary studies between systematic reviews: the corrected covered area (CCA).

An overview of reviews that counts the same trial once per review that includes it gives that
trial too much weight. Pieper et al. (2014) measure how much the reviews overlap with the
corrected covered area,

    CCA = (N - r) / (r c - r),

where ``N`` is the number of inclusions (the sum of the reviews' sizes, counting a study once
per review that includes it), ``r`` the number of distinct primary studies and ``c`` the number
of reviews: 0 when no study appears twice, 1 when every review includes every study.

Reference: Pieper D, Antoine SL, Mathes T, Neugebauer EAM, Eikermann M. Systematic review
finds overlapping reviews were not mentioned in every other overview. J Clin Epidemiol
2014;67:368-375.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from metareview._util.jsonable import jsonable
from metareview.errors import InputError

__all__ = ["BANDS", "Overlap", "cca", "cca_band", "corrected_covered_area"]

#: Pieper et al.'s interpretation of the CCA (percent): upper bound of each band, inclusive.
BANDS = ((5.0, "slight"), (10.0, "moderate"), (15.0, "high"), (math.inf, "very high"))


def cca(n_inclusions: int, r: int, c: int) -> float:
    """The corrected covered area, in percent: ``100 (N - r) / (r c - r)``.

    Parameters
    ----------
    n_inclusions : int
        ``N``, total inclusions (sum of the reviews' sizes).
    r : int
        Distinct primary studies.
    c : int
        Reviews.

    Returns
    -------
    float
        NaN when undefined (``r = 0`` or ``c < 2``).
    """
    denom = r * c - r
    return math.nan if denom <= 0 else 100.0 * (n_inclusions - r) / denom


def cca_band(value: float) -> str | None:
    """Pieper et al.'s band for a CCA in percent: slight (0-5), moderate (6-10), high (11-15)
    or very high (> 15). The bands are read with inclusive upper bounds (5.5% is moderate).
    ``None`` for NaN."""
    if value is None or not math.isfinite(value):
        return None
    for upper, name in BANDS:
        if value <= upper + 1e-9:
            return name
    return "very high"  # pragma: no cover


@dataclass(frozen=True, eq=False)
class Overlap:
    """Overlap between systematic reviews.

    Attributes
    ----------
    cca : float
        Corrected covered area in percent.
    interpretation : str
        Pieper et al.'s band: ``"slight"``, ``"moderate"``, ``"high"`` or ``"very high"``.
    n_inclusions : int
        ``N``: total inclusions.
    r : int
        Distinct primary studies.
    c : int
        Reviews in the calculation.
    reviews : tuple of str
        Reviews in the calculation, in input order.
    excluded : tuple of str
        Reviews left out because their included studies are unknown (``None``).
    citation_matrix : DataFrame
        Primary studies (rows, first-seen order) x reviews (columns): True where the review
        includes the study.
    pairwise : DataFrame
        CCA (percent) for each pair of reviews; the diagonal is NaN. For two reviews the CCA
        is the number of shared studies over the number of distinct studies.
    warnings : tuple of str
        Notes, e.g. a study listed twice by one review (counted once).
    """

    cca: float
    interpretation: str
    n_inclusions: int
    r: int
    c: int
    reviews: tuple[str, ...]
    excluded: tuple[str, ...]
    citation_matrix: pd.DataFrame
    pairwise: pd.DataFrame
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def shared_studies(self) -> tuple[str, ...]:
        """Primary studies included by more than one review."""
        counts = self.citation_matrix.sum(axis=1)
        return tuple(str(s) for s in counts.index[counts.to_numpy() > 1])

    def pairwise_interpretation(self) -> pd.DataFrame:
        """The pairwise CCA as Pieper et al.'s bands (None on the diagonal)."""
        return self.pairwise.map(cca_band)

    def summary(self) -> str:
        """Plain-language summary."""
        lines = [
            f"Corrected covered area (Pieper et al. 2014): CCA = {self.cca:.1f}% "
            f"({self.interpretation} overlap).",
            f"N = {self.n_inclusions} inclusions of r = {self.r} distinct primary studies in "
            f"c = {self.c} reviews: CCA = (N - r) / (r c - r) = ({self.n_inclusions} - {self.r}) "
            f"/ ({self.r * self.c} - {self.r}).",
            f"{len(self.shared_studies)} of {self.r} primary studies are included by more than "
            "one review.",
        ]
        pairs = []
        for a, b in combinations(self.reviews, 2):
            v = float(self.pairwise.loc[a, b])
            pairs.append(f"  {a} / {b}: {v:.1f}% ({cca_band(v)})")
        if pairs:
            lines.append("Pairwise CCA:")
            lines.extend(pairs)
        if self.excluded:
            lines.append("Excluded (included studies unknown): " + "; ".join(self.excluded))
        for w in self.warnings:
            lines.append(f"Note: {w}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values: the pairwise matrix as nested dicts (None on the diagonal)
        and the citation matrix as, per primary study, the reviews that include it."""
        return jsonable({
            "cca": self.cca,
            "interpretation": self.interpretation,
            "n_inclusions": self.n_inclusions,
            "r": self.r,
            "c": self.c,
            "reviews": list(self.reviews),
            "excluded": list(self.excluded),
            "pairwise": {a: {b: float(self.pairwise.loc[a, b]) for b in self.reviews}
                         for a in self.reviews},
            "citations": {str(s): [r for r in self.reviews if bool(self.citation_matrix.loc[s, r])]
                          for s in self.citation_matrix.index},
            "warnings": list(self.warnings),
        })


def _unknown(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, float) and math.isnan(value)


def corrected_covered_area(reviews: Mapping[str, Iterable[str] | None]) -> Overlap:
    """Overlap of primary studies between systematic reviews (Pieper et al. 2014).

    Parameters
    ----------
    reviews : mapping of str to iterable of str
        Review label to the identifiers of the primary studies it includes (e.g. PMIDs,
        DOIs or ``"Author Year"`` labels; compared after stripping surrounding whitespace).
        ``None`` (or NaN) marks a review whose included studies are unknown: it is listed in
        :attr:`Overlap.excluded` and left out of the calculation. An empty list is a review
        that included no studies and stays in.

    Returns
    -------
    Overlap

    Raises
    ------
    InputError
        Fewer than two reviews with known studies, no primary studies at all, or a review
        whose studies are given as one string instead of a list.

    Notes
    -----
    ``N`` counts each review's distinct studies (a study listed twice by one review counts
    once, with a warning); ``r`` counts distinct studies over all reviews; ``c`` counts the
    reviews kept. The pairwise CCA of two reviews is ``|A & B| / |A | B|``.

    Examples
    --------
    >>> res = corrected_covered_area({"R1": ["a", "b", "c"], "R2": ["b", "c", "d"],
    ...                               "R3": ["c", "d", "e"]})
    >>> res.n_inclusions, res.r, res.c, round(res.cca, 1), res.interpretation
    (9, 5, 3, 40.0, 'very high')
    """
    if not isinstance(reviews, Mapping):
        raise InputError("reviews must be a mapping of review label to included study IDs")
    kept: dict[str, list[str]] = {}
    excluded: list[str] = []
    warnings: list[str] = []
    for name, studies in reviews.items():
        label = str(name)
        if label in kept or label in excluded:
            raise InputError(f"review {label!r} is given twice")
        if _unknown(studies):
            excluded.append(label)
            continue
        if isinstance(studies, (str, bytes)):
            raise InputError(f"review {label}: give the included studies as a list of "
                             f"identifiers, not one string ({studies!r})")
        try:
            items = list(studies)  # type: ignore[arg-type]
        except TypeError:
            raise InputError(f"review {label}: included studies must be a list of identifiers "
                             f"(got {type(studies).__name__})") from None
        ids: list[str] = []
        for s in items:
            if _unknown(s) or str(s).strip() == "":
                raise InputError(f"review {label}: empty study identifier")
            ids.append(str(s).strip())
        unique = list(dict.fromkeys(ids))
        if len(unique) < len(ids):
            dup = sorted({s for s in ids if ids.count(s) > 1})
            warnings.append(f"review {label} lists {', '.join(dup)} more than once; counted once")
        kept[label] = unique
    if len(kept) < 2:
        gone = f" ({len(excluded)} excluded with unknown studies)" if excluded else ""
        raise InputError(f"the corrected covered area needs at least two reviews with known "
                         f"included studies (got {len(kept)}{gone})")
    names = tuple(kept)
    studies_all = list(dict.fromkeys(s for ids in kept.values() for s in ids))
    if not studies_all:
        raise InputError("the reviews include no primary studies; the overlap is undefined")
    matrix = pd.DataFrame(
        {r: [s in set(kept[r]) for s in studies_all] for r in names},
        index=pd.Index(studies_all, name="study"), dtype=bool,
    )
    matrix.columns.name = "review"
    n_incl = int(sum(len(v) for v in kept.values()))
    r = len(studies_all)
    c = len(names)
    value = cca(n_incl, r, c)
    pair = np.full((c, c), np.nan)
    for i, j in combinations(range(c), 2):
        a, b = set(kept[names[i]]), set(kept[names[j]])
        union = len(a | b)
        pair[i, j] = pair[j, i] = cca(len(a) + len(b), union, 2) if union else math.nan
    pairwise = pd.DataFrame(pair, index=pd.Index(names, name="review"), columns=list(names))
    return Overlap(
        cca=value, interpretation=cca_band(value) or "undefined", n_inclusions=n_incl, r=r, c=c,
        reviews=names, excluded=tuple(excluded), citation_matrix=matrix, pairwise=pairwise,
        warnings=tuple(warnings),
    )
