"""Choosing coefficients by number or name (metafor's ``btt``), shared by the models' tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from metareview.errors import InputError


def select_btt(fit: Any, btt: int | str | Sequence[int | str] | None) -> tuple[int, ...]:
    """1-based coefficient numbers as metafor's ``btt``; a name selects every coefficient whose
    name contains it (``"alloc"`` gives each dummy of the factor), as metafor's grep."""
    p = fit.p_coef
    if btt is None:
        if p == 1:
            raise InputError("anova: the model has no moderators to test; give btt")
        return tuple(range(2, p + 1))
    items = [btt] if isinstance(btt, int | str) else list(btt)
    chosen: set[int] = set()
    for b in items:
        if isinstance(b, str):
            hit = [i + 1 for i, n in enumerate(fit.coef_names) if b in n]
            if not hit:
                raise InputError(f"anova: btt {b!r} names no coefficient "
                                 f"(coefficients: {', '.join(fit.coef_names)})")
            chosen.update(hit)
        else:
            if isinstance(b, bool) or int(b) != b or not 1 <= int(b) <= p:
                raise InputError(f"anova: btt {b!r} is not a coefficient number 1 to {p} "
                                 "(1 is the intercept, as in metafor)")
            chosen.add(int(b))
    return tuple(sorted(chosen))


__all__ = ["select_btt"]
