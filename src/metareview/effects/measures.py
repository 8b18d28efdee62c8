"""Effect-size measures: which input columns each needs, and how results are back-transformed.

The codes and column names are metafor's (``escalc``), so a metafor script translates line by
line. Back-transformations follow metafor's ``transf.*`` functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BINARY = ("RR", "OR", "RD")
CONTINUOUS = ("MD", "SMD", "ROM")
PROPORTION = ("PLO", "PR", "PFT", "PAS")
CORRELATION = ("ZCOR", "COR")
GENERIC = ("GEN",)
MEASURES = BINARY + CONTINUOUS + PROPORTION + CORRELATION + GENERIC

#: Measures analysed on the log scale; double-zero studies are dropped for these.
RATIO = ("RR", "OR", "ROM")

#: Input column sets each family accepts, in the order they are tried.
INPUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "binary": (("ai", "bi", "ci", "di"), ("ai", "n1i", "ci", "n2i")),
    "continuous": (("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),),
    "proportion": (("xi", "ni"),),
    "correlation": (("ri", "ni"),),
    "generic": (("yi", "vi"), ("yi", "sei")),
}

LABELS = {
    "RR": "Risk ratio",
    "OR": "Odds ratio",
    "RD": "Risk difference",
    "MD": "Mean difference",
    "SMD": "Standardised mean difference (Hedges' g)",
    "ROM": "Ratio of means",
    "PLO": "Proportion (logit)",
    "PR": "Proportion",
    "PFT": "Proportion (Freeman-Tukey double arcsine)",
    "PAS": "Proportion (arcsine square root)",
    "ZCOR": "Correlation (Fisher's z)",
    "COR": "Correlation",
    "GEN": "Effect size",
}


def family(measure: str) -> str:
    """Return the input family ("binary", "continuous", ...) of a measure code."""
    if measure in BINARY:
        return "binary"
    if measure in CONTINUOUS:
        return "continuous"
    if measure in PROPORTION:
        return "proportion"
    if measure in CORRELATION:
        return "correlation"
    return "generic"


def ilogit(x: np.ndarray) -> np.ndarray:
    """Inverse logit (metafor ``transf.ilogit``)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def iarcsin(x: np.ndarray) -> np.ndarray:
    """Inverse arcsine square-root transform (metafor ``transf.iarcsin``), clipped to [0, 1]."""
    x = np.clip(np.asarray(x, dtype=float), 0.0, np.pi / 2)
    return np.sin(x) ** 2


def ztor(x: np.ndarray) -> np.ndarray:
    """Fisher's z back to a correlation (metafor ``transf.ztor``)."""
    return np.tanh(np.asarray(x, dtype=float))


def pft(p: np.ndarray, n: float) -> np.ndarray:
    """Freeman-Tukey double arcsine of a proportion ``p`` at sample size ``n`` (``transf.pft``)."""
    x = np.asarray(p, dtype=float) * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def ipft(x: np.ndarray, n: float) -> np.ndarray:
    """Invert the Freeman-Tukey double arcsine transform for sample size ``n``.

    Miller (1978), The inverse of the Freeman-Tukey double arcsine transformation, Am Stat 32:138,
    in metafor's form (``transf.ipft``): yi there is half the sum of the two arcsines, hence
    the ``2 x``. Values beyond the transforms of 0 and 1 map to 0 and 1, as in metafor.
    """
    x = np.asarray(x, dtype=float)
    s = np.sin(2 * x)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 0.5 * (1 - np.sign(np.cos(2 * x)) * np.sqrt(1 - (s + (s - 1 / s) / n) ** 2))
    p = np.where(x > pft(1.0, n), 1.0, p)
    return np.where(x < pft(0.0, n), 0.0, p)


def ipft_hm(x: np.ndarray, ni: np.ndarray) -> np.ndarray:
    """Inverse Freeman-Tukey using the harmonic mean of the sample sizes (``transf.ipft.hm``)."""
    ni = np.asarray(ni, dtype=float)
    hm = 1.0 / np.mean(1.0 / ni)
    return ipft(x, hm)


@dataclass(frozen=True)
class BackTransform:
    """How to present a measure on its natural scale."""

    label: str
    func: Callable[[np.ndarray], np.ndarray]
    null: float  # the no-effect value on the natural scale (for "favours" labels and axes)


def back_transform(measure: str, ni: np.ndarray | None = None) -> BackTransform | None:
    """Return the back-transformation for a measure, or ``None`` if it is analysed as is.

    Parameters
    ----------
    measure : str
        Measure code.
    ni : array, optional
        Study sample sizes; needed for ``PFT`` (harmonic-mean inverse, as metafor's
        ``transf.ipft.hm``).
    """
    if measure in RATIO:
        return BackTransform(measure, np.exp, 1.0)
    if measure == "PLO":
        return BackTransform("proportion", ilogit, np.nan)
    if measure == "PAS":
        return BackTransform("proportion", iarcsin, np.nan)
    if measure == "PFT":
        if ni is None:
            raise ValueError("PFT back-transformation needs the sample sizes")
        sizes = np.asarray(ni, dtype=float)
        return BackTransform("proportion", lambda x: ipft_hm(x, sizes), np.nan)
    if measure == "ZCOR":
        return BackTransform("correlation", ztor, 0.0)
    return None


#: Measures that appear only in reported results (no escalc formula here): hazard ratio,
#: weighted mean difference.
REPORTED_ONLY = {"HR": "Hazard ratio", "WMD": "Weighted mean difference"}
_REPORTED_RATIO = ("HR",)


def is_comparative(measure: str) -> bool:
    """Whether a (reported) measure compares two groups (RR, MD, HR, ...), not one group."""
    code = measure.upper()
    return code in BINARY or code in ("MD", "SMD") or code in REPORTED_ONLY


def is_ratio(measure: str) -> bool:
    """Whether a measure is a ratio (analysed on the log scale; no effect at 1)."""
    code = measure.upper()
    return code in RATIO or code in _REPORTED_RATIO
