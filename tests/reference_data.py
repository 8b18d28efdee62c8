"""Access to the metafor reference values committed under tests/reference/.

``metafor_reference.json`` is written by ``tests/reference/metafor_reference.R`` (metafor 3.8-1,
metadat 1.2-0, R 4.2.2); the datasets it used are exported to ``tests/data/``.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import pandas as pd

from metareview import EffectSizes, effect_sizes
from metareview.effects.escalc import DoubleZeroWarning

ROOT = Path(__file__).resolve().parent
REFERENCE = ROOT / "reference" / "metafor_reference.json"


@cache
def reference() -> dict:
    """The whole reference file."""
    return json.loads(REFERENCE.read_text())


def cases(key: str) -> list[dict]:
    """Reference cases of one kind ("rma", "escalc", "mh", ...)."""
    return reference()[key]


@cache
def dataset(name: str) -> pd.DataFrame:
    """A metadat dataset as exported by the R script, with a ``study`` label column."""
    info = reference()["datasets"][name]
    df = pd.read_csv(ROOT.parent / info["csv"])
    if "study" in df.columns:
        df = df.rename(columns={"study": "study_id"})
    df.insert(0, "study", info["labels"])
    return df


def effects(name: str, measure: str, drop00: bool | None = None) -> EffectSizes:
    """Our effect sizes for a reference dataset, with the same column mapping as the R script.

    ``drop00`` defaults to what metafor_reference.R gave escalc: TRUE for RR and OR (not
    metafor's default; tests/test_drop00.py covers the defaults), FALSE otherwise.
    """
    info = reference()["datasets"][name]
    if drop00 is None:
        drop00 = measure in ("RR", "OR")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoubleZeroWarning)
        return effect_sizes(dataset(name), measure, study="study", source=info["csv"],
                            drop00=drop00, **info["columns"])


def rma_case(name: str, measure: str, method: str, test: str, level: int = 95) -> dict:
    """One ``rma`` reference case."""
    for case in cases("rma"):
        if (case["dataset"], case["measure"], case["method"], case["test"], case["level"]) == (
            name, measure, method, test, level
        ):
            return case
    raise KeyError((name, measure, method, test, level))
