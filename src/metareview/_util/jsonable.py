"""Plain JSON values from results: the one place NaN becomes null."""

from __future__ import annotations

from typing import Any

import numpy as np


def jsonable(x: Any) -> Any:
    """Recursively turn numpy scalars and arrays into Python values, and NaN/inf into None.

    ``to_dict()`` methods return this so that ``json.dumps(..., allow_nan=False)`` always works:
    JSON has no NaN, and a missing value (a prediction interval of a fixed-effect model, say)
    is ``null``.
    """
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    return x
