"""Choosing coefficients by number or name (metafor's ``btt``), shared by the models' tests."""

from __future__ import annotations

from collections.abc import Sequence

from metareview.errors import InputError


def select_btt(coef_names: Sequence[str], btt: int | str | Sequence[int | str] | None, *,
               intercept: bool = True, what: str = "anova") -> tuple[int, ...]:
    """1-based coefficient numbers as metafor's ``btt``.

    Parameters
    ----------
    coef_names : sequence of str
        The model's coefficient names, in order.
    btt : int, str, sequence or None
        Numbers from 1, or names: a name selects every coefficient whose name contains it
        (``"alloc"`` gives each dummy of the factor), as metafor's grep. ``None`` gives every
        coefficient but the intercept (all of them in a model without one), as metafor's
        ``.set.btt``.
    intercept : bool
        Whether the first coefficient is an intercept.
    what : str
        The function asking, named in error messages.

    Returns
    -------
    tuple of int
        The chosen numbers, sorted.
    """
    p = len(coef_names)
    if btt is None:
        if not intercept:
            return tuple(range(1, p + 1))
        if p == 1:
            raise InputError(f"{what}: the model has no moderators to test; give btt")
        return tuple(range(2, p + 1))
    items = [btt] if isinstance(btt, int | str) else list(btt)
    chosen: set[int] = set()
    for b in items:
        if isinstance(b, str):
            hit = [i + 1 for i, n in enumerate(coef_names) if b in n]
            if not hit:
                raise InputError(f"{what}: btt {b!r} names no coefficient "
                                 f"(coefficients: {', '.join(coef_names)})")
            chosen.update(hit)
        else:
            if isinstance(b, bool) or int(b) != b or not 1 <= int(b) <= p:
                raise InputError(f"{what}: btt {b!r} is not a coefficient number 1 to {p} "
                                 "(1 is the intercept, as in metafor)")
            chosen.add(int(b))
    return tuple(sorted(chosen))


def btt_label(btt: Sequence[int]) -> str:
    """``coefficients 2:4`` for a run of numbers, ``coefficients 2,4`` otherwise, ``coefficient
    4`` for one, as metafor prints its test of moderators (``.format.btt``)."""
    if len(btt) == 1:
        return f"coefficient {btt[0]}"
    if list(btt) == list(range(btt[0], btt[-1] + 1)):
        return f"coefficients {btt[0]}:{btt[-1]}"
    return "coefficients " + ",".join(str(b) for b in btt)


__all__ = ["btt_label", "select_btt"]
