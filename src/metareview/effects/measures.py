"""Effect-size measures, defined once in :data:`MEASURE_TABLE`: what each is, which input columns
it needs, and how results are back-transformed.

The codes and column names are metafor's (``escalc``), so a metafor script translates line by
line; the table also knows measures that only appear in reported results (HR, WMD).
Back-transformations follow metafor's ``transf.*`` functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the table is read by the command line's help: numpy only when computing
    import numpy as np


@dataclass(frozen=True)
class Measure:
    """One effect measure: what it is and what data it takes.

    Attributes
    ----------
    code : str
        metafor's code (``measure=``), or the usual abbreviation for a reported-only measure.
    label : str
        Name for people.
    family : str or None
        Input family for :func:`~metareview.effects.escalc.effect_sizes` (``"binary"``,
        ``"continuous"``, ``"change"``, ``"incidence"``, ``"rate"``, ``"mean"``,
        ``"proportion"``, ``"correlation"``, ``"partial"``, ``"generic"``; the columns are in
        :data:`INPUTS`, or :data:`MEASURE_INPUTS` for a measure needing fewer); None for a
        reported-only measure, which ``effect_sizes`` cannot compute but reviews report (a
        hazard ratio, a weighted mean difference).
    ratio : bool
        Analysed on the log scale and back-transformed with ``exp`` (no effect = 1).
    comparative : bool
        Compares two groups (an intervention with a comparator), so it has a no-effect value.
    single_group : bool
        Describes one group (a proportion): no no-effect value.
    """

    code: str
    label: str
    family: str | None
    ratio: bool = False
    comparative: bool = False
    single_group: bool = False

    @property
    def reported_only(self) -> bool:
        """Whether it appears only in reported results (not computable by ``effect_sizes``)."""
        return self.family is None


#: Every measure code with what it is: escalc's first, then the reported-only ones.
MEASURE_TABLE: dict[str, Measure] = {m.code: m for m in (
    Measure("RR", "Risk ratio", "binary", ratio=True, comparative=True),
    Measure("OR", "Odds ratio", "binary", ratio=True, comparative=True),
    Measure("RD", "Risk difference", "binary", comparative=True),
    Measure("MD", "Mean difference", "continuous", comparative=True),
    Measure("SMD", "Standardised mean difference (Hedges' g)", "continuous", comparative=True),
    Measure("ROM", "Ratio of means", "continuous", ratio=True, comparative=True),
    Measure("PLO", "Proportion (logit)", "proportion", single_group=True),
    Measure("PR", "Proportion", "proportion", single_group=True),
    Measure("PFT", "Proportion (Freeman-Tukey double arcsine)", "proportion", single_group=True),
    Measure("PAS", "Proportion (arcsine square root)", "proportion", single_group=True),
    Measure("ZCOR", "Correlation (Fisher's z)", "correlation"),
    Measure("COR", "Correlation", "correlation"),
    Measure("GEN", "Effect size", "generic"),
    # Pre-post change in one group (metafor's "change" measures).
    Measure("MC", "Mean change", "change"),
    Measure("SMCC", "Standardised mean change (change-score SD)", "change"),
    Measure("SMCR", "Standardised mean change (raw-score SD)", "change"),
    Measure("SMCRH", "Standardised mean change (raw-score SD, heteroscedastic)", "change"),
    # Person-time: events x over person-time t.
    Measure("IRR", "Incidence rate ratio", "incidence", ratio=True, comparative=True),
    Measure("IRD", "Incidence rate difference", "incidence", comparative=True),
    Measure("IRSD", "Incidence rate difference (square root)", "incidence", comparative=True),
    Measure("IR", "Incidence rate", "rate", single_group=True),
    Measure("IRLN", "Incidence rate (log)", "rate", single_group=True),
    Measure("IRS", "Incidence rate (square root)", "rate", single_group=True),
    Measure("IRFT", "Incidence rate (Freeman-Tukey)", "rate", single_group=True),
    # More 2x2-table measures.
    Measure("PETO", "Odds ratio (Peto)", "binary", ratio=True, comparative=True),
    Measure("AS", "Risk difference (arcsine square root)", "binary", comparative=True),
    Measure("PHI", "Phi coefficient", "binary"),
    Measure("YUQ", "Yule's Q", "binary"),
    Measure("YUY", "Yule's Y", "binary"),
    Measure("OR2DN", "Standardised mean difference from an odds ratio (normal)", "binary",
            comparative=True),
    Measure("OR2DL", "Standardised mean difference from an odds ratio (logistic)", "binary",
            comparative=True),
    Measure("OR2D", "Standardised mean difference from an odds ratio (logistic; = OR2DL)",
            "binary", comparative=True),
    # More measures from two groups' means.
    Measure("SMDH", "Standardised mean difference (heteroscedastic)", "continuous",
            comparative=True),
    Measure("SMD1", "Standardised mean difference (SD of group 2)", "continuous",
            comparative=True),
    Measure("CVR", "Coefficient of variation ratio", "continuous", ratio=True, comparative=True),
    Measure("VR", "Variability ratio", "continuous", ratio=True, comparative=True),
    Measure("RPB", "Point-biserial correlation", "continuous"),
    Measure("RBIS", "Biserial correlation", "continuous"),
    Measure("D2ORN", "Log odds ratio from a standardised mean difference (normal)",
            "continuous", comparative=True),
    Measure("D2ORL", "Log odds ratio from a standardised mean difference (logistic)",
            "continuous", comparative=True),
    Measure("D2OR", "Log odds ratio from a standardised mean difference (logistic; = D2ORL)",
            "continuous", comparative=True),
    # One group's mean or spread.
    Measure("MN", "Mean", "mean", single_group=True),
    Measure("MNLN", "Mean (log)", "mean", single_group=True),
    Measure("CVLN", "Coefficient of variation (log)", "mean", single_group=True),
    Measure("SDLN", "Standard deviation (log)", "mean", single_group=True),
    Measure("PLN", "Proportion (log)", "proportion", single_group=True),
    # Correlations.
    Measure("UCOR", "Correlation (bias-corrected)", "correlation"),
    Measure("PCOR", "Partial correlation", "partial"),
    Measure("ZPCOR", "Partial correlation (Fisher's z)", "partial"),
    Measure("SPCOR", "Semi-partial correlation", "partial"),
    # Reported-only: in published results (a review's outcome rows), not computed here.
    Measure("HR", "Hazard ratio", None, ratio=True, comparative=True),
    Measure("WMD", "Weighted mean difference", None, comparative=True),
)}


def _codes(**want: object) -> tuple[str, ...]:
    return tuple(c for c, m in MEASURE_TABLE.items()
                 if all(getattr(m, k) == v for k, v in want.items()))


BINARY = _codes(family="binary")
CONTINUOUS = _codes(family="continuous")
PROPORTION = _codes(family="proportion")
CORRELATION = _codes(family="correlation")
GENERIC = _codes(family="generic")
#: The measures :func:`~metareview.effects.escalc.effect_sizes` computes.
MEASURES = tuple(c for c, m in MEASURE_TABLE.items() if not m.reported_only)
#: Measures analysed on the log scale (computable and reported-only).
RATIO = _codes(ratio=True)
#: One group's quantity analysed on the log scale: back-transformed with ``exp``, no null.
LOG_SINGLE = ("IRLN", "MNLN", "CVLN", "SDLN", "PLN")
#: Labels for people, by code.
LABELS = {c: m.label for c, m in MEASURE_TABLE.items()}

#: Input column sets each family accepts, in the order they are tried.
INPUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "binary": (("ai", "bi", "ci", "di"), ("ai", "n1i", "ci", "n2i")),
    "continuous": (("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),),
    "proportion": (("xi", "ni"),),
    "correlation": (("ri", "ni"),),
    "generic": (("yi", "vi"), ("yi", "sei")),
    "change": (("m1i", "m2i", "sd1i", "sd2i", "ni", "ri"),),
    "incidence": (("x1i", "t1i", "x2i", "t2i"),),
    "rate": (("xi", "ti"),),
    "mean": (("mi", "sdi", "ni"),),
    "partial": (("ti", "ni", "mi"),),
}

#: Measures that need fewer (or other) columns than their family's first set, as metafor.
MEASURE_INPUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "SMCR": (("m1i", "m2i", "sd1i", "ni", "ri"),),
    "SMD1": (("m1i", "sd2i", "n1i", "m2i", "n2i"),),
    "VR": (("sd1i", "n1i", "sd2i", "n2i"),),
    "SDLN": (("sdi", "ni"),),
    "SPCOR": (("ti", "ni", "mi", "r2i"),),
}


def measure_inputs(measure: str) -> tuple[tuple[str, ...], ...]:
    """The input column sets a measure accepts, in the order they are tried.

    Parameters
    ----------
    measure : str
        Measure code (case-insensitive).

    Returns
    -------
    tuple of tuple of str
        metafor's argument names, e.g. ``(("x1i", "t1i", "x2i", "t2i"),)`` for IRR.
    """
    return MEASURE_INPUTS.get(_key(measure), INPUTS[family(measure)])


def _key(measure: str) -> str:
    return str(measure).strip().upper()


def measure_info(measure: str) -> Measure | None:
    """The table entry of a measure code (case-insensitive), or None if it is not known."""
    return MEASURE_TABLE.get(_key(measure))


def is_ratio(measure: str) -> bool:
    """Whether a measure is a ratio, analysed on the log scale (RR, OR, ROM, HR, IRR, PETO …).

    Unknown codes are not ratios.
    """
    m = measure_info(measure)
    return m is not None and m.ratio


def is_comparative(measure: str) -> bool:
    """Whether a measure compares two groups (RR, OR, RD, MD, SMD, ROM, HR, IRR, WMD)."""
    m = measure_info(measure)
    return m is not None and m.comparative


def is_reported_only(measure: str) -> bool:
    """Whether a measure appears only in reported results (HR, WMD): known, but not
    computable by :func:`~metareview.effects.escalc.effect_sizes`."""
    m = measure_info(measure)
    return m is not None and m.reported_only


def measure_label(measure: str) -> str:
    """The name of a measure for people (``"Risk ratio"``); the code itself if unknown."""
    m = measure_info(measure)
    return m.label if m is not None else str(measure)


def family(measure: str) -> str:
    """Return the input family ("binary", "continuous", ...) of a measure code."""
    m = measure_info(measure)
    return m.family if m is not None and m.family is not None else "generic"


def ilogit(x: np.ndarray) -> np.ndarray:
    """Inverse logit (metafor ``transf.ilogit``)."""
    import numpy as np

    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def iarcsin(x: np.ndarray) -> np.ndarray:
    """Inverse arcsine square-root transform (metafor ``transf.iarcsin``), clipped to [0, 1]."""
    import numpy as np

    x = np.clip(np.asarray(x, dtype=float), 0.0, np.pi / 2)
    return np.sin(x) ** 2


def ztor(x: np.ndarray) -> np.ndarray:
    """Fisher's z back to a correlation (metafor ``transf.ztor``)."""
    import numpy as np

    return np.tanh(np.asarray(x, dtype=float))


def pft(p: np.ndarray, n: float) -> np.ndarray:
    """Freeman-Tukey double arcsine of a proportion ``p`` at sample size ``n`` (``transf.pft``)."""
    import numpy as np

    x = np.asarray(p, dtype=float) * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def ipft(x: np.ndarray, n: float) -> np.ndarray:
    """Invert the Freeman-Tukey double arcsine transform for sample size ``n``.

    Miller (1978), The inverse of the Freeman-Tukey double arcsine transformation, Am Stat 32:138,
    in metafor's form (``transf.ipft``): yi there is half the sum of the two arcsines, hence
    the ``2 x``. Values beyond the transforms of 0 and 1 map to 0 and 1, as in metafor.
    """
    import numpy as np

    x = np.asarray(x, dtype=float)
    s = np.sin(2 * x)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 0.5 * (1 - np.sign(np.cos(2 * x)) * np.sqrt(1 - (s + (s - 1 / s) / n) ** 2))
    p = np.where(x > pft(1.0, n), 1.0, p)
    return np.where(x < pft(0.0, n), 0.0, p)


def ipft_hm(x: np.ndarray, ni: np.ndarray) -> np.ndarray:
    """Inverse Freeman-Tukey using the harmonic mean of the sample sizes (``transf.ipft.hm``)."""
    import numpy as np

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
    import numpy as np

    if is_ratio(measure):
        return BackTransform(_key(measure), np.exp, 1.0)
    if measure == "PLO":
        return BackTransform("proportion", ilogit, np.nan)
    if measure == "PAS":
        return BackTransform("proportion", iarcsin, np.nan)
    if measure == "PFT":
        if ni is None:
            raise ValueError("PFT back-transformation needs the sample sizes")
        sizes = np.asarray(ni, dtype=float)
        return BackTransform("proportion", lambda x: ipft_hm(x, sizes), np.nan)
    if measure in ("ZCOR", "ZPCOR"):
        return BackTransform("correlation", ztor, 0.0)
    if measure in LOG_SINGLE:
        return BackTransform(measure_label(measure).split(" (")[0].lower(), np.exp, np.nan)
    return None

