"""Shared parsing helpers and the project's risk-of-bias mapping across instruments.

Each instrument module (EPHPP, Health Evidence, RoB 2, ROBINS-I, AMSTAR 2) rates a study or a
review on its own scale. GRADE's risk-of-bias domain, downstream, needs one scale; this module
holds that mapping (:data:`ROB_MAPPING`, :func:`risk_of_bias_category`). The mapping is this
project's convention, not part of any instrument: the instruments' developers do not publish
cross-walks between their scales.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from metareview.errors import InputError

RobCategory = Literal["low", "some concerns", "high"]

#: Instrument names as used in results and in ``studies/<id>.yaml`` (``Quality.instrument``).
INSTRUMENTS = ("EPHPP", "Health Evidence", "RoB 2", "ROBINS-I", "AMSTAR 2")

#: The project's convention mapping each instrument's overall rating to a risk-of-bias category
#: for GRADE. Quality ratings run the other way round from risk of bias: a *strong* study (or a
#: review in which confidence is *high*) is at *low* risk of bias.
ROB_MAPPING: dict[str, dict[str, RobCategory]] = {
    # EPHPP global rating (Thomas et al. 2004).
    "EPHPP": {"strong": "low", "moderate": "some concerns", "weak": "high"},
    # Health Evidence quality rating of a review (healthevidence.org).
    "Health Evidence": {"strong": "low", "moderate": "some concerns", "weak": "high"},
    # RoB 2 overall judgement (Sterne et al. 2019): already on this scale.
    "RoB 2": {"low": "low", "some concerns": "some concerns", "high": "high"},
    # ROBINS-I overall judgement (Sterne et al. 2016). "No information" is not evidence of
    # serious bias, but neither is it reassurance: some concerns.
    "ROBINS-I": {
        "low": "low",
        "moderate": "some concerns",
        "serious": "high",
        "critical": "high",
        "no information": "some concerns",
    },
    # AMSTAR 2 overall confidence in the results of a review (Shea et al. 2017).
    "AMSTAR 2": {
        "high": "low",
        "moderate": "some concerns",
        "low": "high",
        "critically low": "high",
    },
}

# Ratings read without an instrument. "low" and "high" are read as risk-of-bias judgements (the
# RoB 2 / ROBINS-I sense); an AMSTAR 2 confidence rating must name its instrument, because
# AMSTAR 2 "high" confidence means *low* risk of bias.
_BARE: dict[str, RobCategory] = {
    "strong": "low",
    "moderate": "some concerns",
    "weak": "high",
    "low": "low",
    "some concerns": "some concerns",
    "high": "high",
    "serious": "high",
    "critical": "high",
    "no information": "some concerns",
    "critically low": "high",
}


def norm(text: Any) -> str:
    """Lower-case, trim, turn ``_`` and ``-`` into spaces and collapse runs of white space."""
    return re.sub(r"\s+", " ", re.sub(r"[_\-]", " ", str(text))).strip().lower()


def _instrument_name(instrument: str) -> str | None:
    key = re.sub(r"[\s_\-]", "", str(instrument)).lower()
    names = {re.sub(r"[\s_\-]", "", n).lower(): n for n in INSTRUMENTS}
    names.update({"he": "Health Evidence", "healthevidencetool": "Health Evidence",
                  "robinsi": "ROBINS-I", "rob2.0": "RoB 2", "none": ""})
    if key not in names:
        raise InputError(
            f"instrument {instrument!r}: unknown; expected one of {', '.join(INSTRUMENTS)}"
        )
    return names[key] or None


def risk_of_bias_category(assessment: Any, instrument: str | None = None) -> RobCategory:
    """Risk-of-bias category ("low", "some concerns", "high") of any instrument's result.

    This is the project's convention for feeding study appraisals into GRADE's risk-of-bias
    domain (see :data:`ROB_MAPPING`):

    ==================  ==============  ===============  ======================
    instrument          low             some concerns    high
    ==================  ==============  ===============  ======================
    EPHPP               strong          moderate         weak
    Health Evidence     strong          moderate         weak
    RoB 2               low             some concerns    high
    ROBINS-I            low             moderate,        serious, critical
                                        no information
    AMSTAR 2            high            moderate         low, critically low
    ==================  ==============  ===============  ======================

    Parameters
    ----------
    assessment : result object or str
        An :class:`EphppAssessment`, :class:`HealthEvidenceAssessment`, :class:`Rob2Assessment`,
        :class:`RobinsIAssessment` or :class:`Amstar2Assessment`; or a bare overall rating such
        as ``"moderate"``.
    instrument : str, optional
        The instrument that gave a bare rating ("EPHPP", "Health Evidence", "RoB 2", "ROBINS-I",
        "AMSTAR 2"; "none" means not given). Without it, "strong/moderate/weak" are read on the
        EPHPP/Health Evidence scale and "low/some concerns/high" as risk-of-bias judgements
        (RoB 2); AMSTAR 2 confidence ratings ("high" confidence = low risk of bias) therefore
        need ``instrument="AMSTAR 2"``.

    Returns
    -------
    {"low", "some concerns", "high"}

    Raises
    ------
    InputError
        Unknown instrument, or a rating that is not on the instrument's scale.
    """
    if not isinstance(assessment, str):
        name = getattr(assessment, "instrument", None)
        rating = getattr(assessment, "rating", None)
        if name not in ROB_MAPPING or not isinstance(rating, str):
            raise InputError(
                f"risk_of_bias_category: cannot read a rating from {type(assessment).__name__}; "
                "pass an appraisal result or a rating string"
            )
        if instrument is not None and _instrument_name(instrument) not in (None, name):
            raise InputError(
                f"risk_of_bias_category: instrument {instrument!r} given for a {name} result"
            )
        return ROB_MAPPING[name][rating]
    rating = norm(assessment)
    rating = {"some concern": "some concerns", "ni": "no information",
              "no info": "no information"}.get(rating, rating)
    rating = re.sub(r" risk( of bias)?$", "", rating)
    name = _instrument_name(instrument) if instrument is not None else None
    table = ROB_MAPPING[name] if name is not None else _BARE
    if rating not in table:
        scale = name or "any instrument"
        raise InputError(
            f"rating {assessment!r}: not a rating of {scale}; expected one of "
            f"{', '.join(table)}"
        )
    return table[rating]


# ---- parsing ---------------------------------------------------------------------------------
def is_int(x: Any) -> bool:
    """An integer that is not a bool (``True`` is an ``int`` in Python)."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def keyed(
    values: Mapping[Any, Any] | Sequence[Any],
    keys: Sequence[str],
    aliases: Mapping[str, str],
    what: str,
) -> dict[str, Any]:
    """Read one value per key from a mapping (keys given by alias) or a sequence in key order.

    Parameters
    ----------
    values : mapping or sequence
        ``{alias: value}`` or ``[value, ...]`` in the order of ``keys``.
    keys : sequence of str
        Canonical keys, in the instrument's order.
    aliases : mapping
        Normalised alias (see :func:`norm`) -> canonical key. Canonical keys map to themselves
        automatically.
    what : str
        What the keys are, for messages, e.g. ``"RoB 2 domain"``.

    Returns
    -------
    dict
        ``{canonical key: value}`` in the order of ``keys``.
    """
    table = {norm(k): k for k in keys}
    table.update(aliases)
    if isinstance(values, Mapping):
        out: dict[str, Any] = {}
        for raw, value in values.items():
            key = table.get(norm(raw))
            if key is None:
                raise InputError(
                    f"{what} {raw!r}: unknown; expected {len(keys)} keys: {', '.join(keys)}"
                )
            if key in out:
                raise InputError(f"{what} {key!r}: given twice (as {raw!r} and another name)")
            out[key] = value
        missing = [k for k in keys if k not in out]
        if missing:
            raise InputError(f"{what}s missing: {', '.join(missing)} (all {len(keys)} needed)")
        return {k: out[k] for k in keys}
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InputError(
            f"{what}s: expected a mapping or a sequence of {len(keys)} values, "
            f"got {type(values).__name__}"
        )
    seq = list(values)
    if len(seq) != len(keys):
        raise InputError(f"{what}s: expected {len(keys)} values in order, got {len(seq)}")
    return dict(zip(keys, seq, strict=True))


def choice(value: Any, options: Mapping[str, str], what: str) -> str:
    """Read a judgement given in words: normalised ``value`` looked up in ``options``."""
    if not isinstance(value, str):
        raise InputError(
            f"{what}: {value!r} is not a judgement; expected one of "
            f"{', '.join(dict.fromkeys(options.values()))}"
        )
    got = options.get(norm(value))
    if got is None:
        raise InputError(
            f"{what}: {value!r} is not a judgement; expected one of "
            f"{', '.join(dict.fromkeys(options.values()))}"
        )
    return got


def worst(ratings: Iterable[str], order: Sequence[str]) -> str:
    """The rating latest in ``order`` (``order`` runs from best to worst)."""
    return max(ratings, key=order.index)


@dataclass(frozen=True)
class Domain:
    """One domain of a domain-based tool.

    Attributes
    ----------
    key : str
        Short key as the tool numbers it, e.g. ``"D1"``.
    name : str
        The domain's name as published, e.g. ``"Bias arising from the randomisation process"``.
    short : str
        Short name for tables, e.g. ``"randomisation process"``.
    aliases : tuple of str
        Further accepted names (matched after :func:`norm`).
    """

    key: str
    name: str
    short: str
    aliases: tuple[str, ...] = ()


def domain_aliases(domains: Sequence[Domain]) -> dict[str, str]:
    """Normalised alias -> domain key, for :func:`keyed`."""
    out: dict[str, str] = {}
    for d in domains:
        for alias in (d.key, d.name, d.short, *d.aliases):
            out[norm(alias)] = d.key
    return out
