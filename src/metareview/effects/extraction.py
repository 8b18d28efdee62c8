"""Conversions on an extraction form: what its Convert buttons store, and the effects its
continuous results give.

The form itself (fields, values, blind extractors, consensus) is the store's
(:mod:`metareview.store.extraction`); the arithmetic is here, in the effects layer, so a value
converted in the form and an effect computed from a study's arms come from the same functions
as every other analysis (:mod:`.conversions`, :func:`~.escalc.effect_sizes`), with the method
named beside the number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metareview.effects.conversions import (
    CONVERSIONS,
    ArmSummary,
    arm_contrasts,
    convert,
)
from metareview.errors import InputError
from metareview.store.extraction import (
    DATA_TYPES,
    SEP,
    DerivedEffect,
    ExtractionForm,
    ValueInput,
    ratio_measure,
    results,
    study_arms,
)


def conversion_values(form: ExtractionForm, values: Mapping[str, Any], result: str,
                      name: str, target: int | None, typed: Mapping[str, str | None], *,
                      unit: str | None = None, page: str | None = None,
                      table: str | None = None, figure: str | None = None
                      ) -> dict[str, ValueInput]:
    """The values a conversion gives, keyed by the form fields they go to.

    Its inputs are the target's values of the same name (an arm's ``n``, ``median``, ``se`` …,
    or the result's ``estimate``, ``ci_low``, ``p`` …), unless typed beside the conversion
    (``typed``: e.g. the two subgroups' numbers, or a t statistic).

    Parameters
    ----------
    form : ExtractionForm
    values : mapping
        The extractor's values (field key → a value with ``.value``).
    result : str
        The result's key prefix (``res|<outcome>|<window>|<slot>``).
    name : str
        A conversion of :data:`~.conversions.CONVERSIONS`.
    target : int or None
        The arm (1, 2 …) an arm-level conversion reads and fills; None for the result's
        effect.
    typed : mapping
        Inputs typed beside the conversion, by name (empty ones are not given).
    unit, page, table, figure : str, optional
        Stored with each value given (where its inputs were read).

    Returns
    -------
    dict
        Field key → value, each with ``converted_from`` (the inputs) and ``method``.

    Raises
    ------
    InputError
        An unknown conversion, an arm-level conversion without its arm (or the reverse), a
        typed input that is not a number, or inputs the conversion refuses.
    """
    spec = CONVERSIONS.get(name)
    if spec is None:
        raise InputError(f"unknown conversion {name!r} (one of {', '.join(CONVERSIONS)})")
    if (spec.level == "arm") != (target is not None):
        raise InputError(f"{spec.title}: " + ("choose the arm it fills" if spec.level == "arm"
                                              else "it fills the result's effect, not an arm"))
    where = f"{result}{SEP}arm{target}" if target is not None else result
    inputs: dict[str, float | None] = {}
    for key in (*spec.inputs, *spec.optional):
        text = (typed.get(key) or "").strip()
        stored = values.get(f"{where}{SEP}{key}")
        if not text and stored is not None:
            text = stored.value or ""
        if text:
            number = _num(text)
            if number is None:
                raise InputError(f"{spec.title}: {key} is not a number ({text[:40]!r})")
            inputs[key] = number
    measure = values.get(f"{result}{SEP}measure")
    done = convert(name, inputs, ratio=ratio_measure(measure.value if measure else None))
    method = f"{done.method} ({done.reference})"
    return {f"{where}{SEP}{key}": ValueInput(f"{value:.10g}", unit, page, table, figure,
                                             dict(done.inputs), method)
            for key, value in done.outputs.items()}


def derived_effects(form: ExtractionForm, values: Mapping[str, Any]
                    ) -> dict[str, tuple[DerivedEffect, ...]]:
    """The effects the continuous results among ``values`` give, by result key prefix.

    For each result of means, change scores or medians (once converted to means), the arms
    with a mean, SD and N are compared, intervention against control, as mean differences (or
    Hedges' g when the result's measure is SMD) with :func:`~.conversions.arm_contrasts`;
    several intervention arms are combined or split as the outcome says (Cochrane Handbook
    23.3.4). Results whose arms are incomplete give nothing.

    Parameters
    ----------
    form : ExtractionForm
    values : mapping
        Field key → a value with ``.value`` (an extractor's own, or the agreed ones).

    Returns
    -------
    dict
        Result key prefix → its effects.
    """
    arms = study_arms(values)
    out: dict[str, tuple[DerivedEffect, ...]] = {}
    for prefix, dtype in results(values, form).items():
        if DATA_TYPES[dtype].to_arms or dtype == "estimate_ci":
            continue
        summaries = []
        for i, (name, role) in arms.items():
            got = {}
            for f in ("mean", "sd", "n"):
                v = values.get(f"{prefix}{SEP}arm{i}{SEP}{f}")
                got[f] = _num(v.value) if v is not None else None
            if all(x is not None for x in got.values()):
                summaries.append(ArmSummary(name, role, got["mean"], got["sd"], got["n"]))
        roles = {a.role for a in summaries}
        if roles != {"intervention", "control"}:
            continue
        mv = values.get(f"{prefix}{SEP}measure")
        measure = "SMD" if mv is not None and (mv.value or "").upper() == "SMD" else "MD"
        outcome = form.outcome(prefix.split(SEP)[1])
        out[prefix] = tuple(
            DerivedEffect(c.comparison, c.measure, c.estimate, c.ci_low, c.ci_high,
                          c.n_participants, c.method)
            for c in arm_contrasts(summaries, measure=measure, multi_arm=outcome.multi_arm))
    return out


def _num(text: str | None) -> float | None:
    try:
        return float(str(text).replace("\u2212", "-")) if text is not None else None
    except ValueError:
        return None
