"""Formatting for printed summaries and report text: numbers in metafor's style (NA, Inf, <.0001,
stars), numbers as sources write them, names inside sentences."""

from __future__ import annotations

import numpy as np


def fmt_num(x: float | None, digits: int = 4) -> str:
    """``x`` with ``digits`` decimals; ``NA`` for missing, ``Inf``/``-Inf`` as R prints them."""
    if x is None or np.isnan(x):
        return "NA"
    if not np.isfinite(x):
        return "Inf" if x > 0 else "-Inf"
    return f"{x:.{digits}f}"


def fmt_p(p: float | None, bare: bool = True) -> str:
    """A p-value as metafor prints it: ``<.0001`` below 1e-4, else four decimals.

    ``bare=False`` gives the form used after a statistic: ``= 0.1234`` or ``< .0001``.
    """
    if p is None or np.isnan(p):
        return "NA"
    if p < 1e-4:
        return "<.0001" if bare else "< .0001"
    return f"{p:.4f}" if bare else f"= {p:.4f}"


def stars(p: float | None) -> str:
    """R's significance codes: ``***`` < 0.001 < ``**`` < 0.01 < ``*`` < 0.05 < ``.`` < 0.1."""
    if p is None or np.isnan(p):
        return ""
    for cut, s in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return s
    return ""


def source_number(x: float | None) -> str:
    """A number as sources write it in prose and tables: at most 4 significant digits, no
    trailing zeros, no float noise; thousands separated above 100,000; empty when missing."""
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
