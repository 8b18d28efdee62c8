"""Numbers as text, one formatter per purpose.

* Printouts in metafor's style (the ``summary()`` of models and diagnostics):
  :func:`printout_num`, :func:`printout_p`, :func:`signif_stars`.
* Figures: :func:`figure_estimate` (estimates and interval bounds drawn beside a plot) and
  :func:`figure_data` (data values as entered, in a plot's data columns).
* Prose (reports, GRADE rationales, messages): :func:`prose_num`, :func:`prose_p`, and
  :func:`source_num` for numbers quoted from the sources.
"""

from __future__ import annotations

import math

import numpy as np

# -- printouts in metafor's style ------------------------------------------------------------

def printout_num(x: float | None, digits: int = 4) -> str:
    """``x`` with ``digits`` decimals; ``NA`` for missing, ``Inf``/``-Inf`` as R prints them."""
    if x is None or np.isnan(x):
        return "NA"
    if not np.isfinite(x):
        return "Inf" if x > 0 else "-Inf"
    return f"{x:.{digits}f}"


def printout_p(p: float | None, bare: bool = True) -> str:
    """A p-value as metafor prints it: ``<.0001`` below 1e-4, else four decimals.

    ``bare=False`` gives the form used after a statistic: ``= 0.1234`` or ``< .0001``.
    """
    if p is None or np.isnan(p):
        return "NA"
    if p < 1e-4:
        return "<.0001" if bare else "< .0001"
    return f"{p:.4f}" if bare else f"= {p:.4f}"


def signif_stars(p: float | None) -> str:
    """R's significance codes: ``***`` < 0.001 < ``**`` < 0.01 < ``*`` < 0.05 < ``.`` < 0.1."""
    if p is None or np.isnan(p):
        return ""
    for cut, s in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return s
    return ""


# -- figures ---------------------------------------------------------------------------------

def figure_estimate(x: float, digits: int = 2) -> str:
    """An estimate or interval bound beside a plot (RevMan's two decimals); ``NA`` if not
    finite, and never ``-0.00`` (a rounded zero has no sign on a figure)."""
    if not np.isfinite(x):
        return "NA"
    s = f"{x:.{digits}f}"
    return "0.00"[: len(s)] if s in ("-0.00", "-0.0") else s


def figure_data(x: float) -> str:
    """A data value as entered, in a plot's data columns: integers plain, others with up to
    four significant digits (at most four decimals); empty if not finite."""
    if not np.isfinite(x):
        return ""
    if float(x).is_integer() and abs(x) < 1e12:
        return f"{int(x)}"
    mag = math.floor(math.log10(abs(x))) if x != 0 else 0
    dec = min(4, max(1, 3 - mag))
    s = f"{x:.{dec}f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


# -- prose -----------------------------------------------------------------------------------

def prose_num(x: float | None) -> str:
    """A number in a sentence: three significant digits, an exponent only below 0.001;
    ``NA`` if missing or not finite."""
    if x is None or not np.isfinite(x):
        return "NA"
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def prose_p(p: float) -> str:
    """A p-value in a sentence: ``p < 0.001`` or ``p = 0.123``."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def source_num(x: float | None) -> str:
    """A number as the sources write it: no trailing zeros, no float noise (four significant
    digits; whole numbers from 100,000 with thousands separators); empty if missing."""
    if x is None:
        return ""
    return f"{x:.4g}" if abs(x) < 1e5 else f"{x:,.0f}"


def in_sentence(name: str) -> str:
    """A name as it reads inside a sentence: each word lower-cased unless it is an acronym or
    a code (a word with a capital or digit after its first letter: "HIV", "IgG", "5-HT3").

    >>> in_sentence("Oral aspirin"), in_sentence("HPV vaccine"), in_sentence("Any AE")
    ('oral aspirin', 'HPV vaccine', 'any AE')
    """
    return " ".join(w if any(c.isupper() or c.isdigit() for c in w[1:]) else w.lower()
                    for w in name.split(" "))
