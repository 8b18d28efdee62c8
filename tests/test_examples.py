"""The worked example that `make demo` runs writes real, complete outputs."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

# The examples live outside the package (examples/); load the script by its path.
_SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "bcg_diagnostics.py"
_spec = importlib.util.spec_from_file_location("bcg_diagnostics", _SCRIPT)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
bcg_example = _module.bcg_example


def test_bcg_example_outputs(tmp_path):
    paths = {p.name: p for p in bcg_example(tmp_path)}
    for svg in ("funnel.svg", "baujat.svg"):
        assert ET.parse(paths[svg]).getroot().tag.endswith("svg")
    inf = pd.read_csv(paths["influence.csv"], index_col=0)
    assert len(inf) == 13 and {"rstudent", "cook_d", "hat"} <= set(inf.columns)
    l1o = pd.read_csv(paths["leave1out.csv"], index_col=0)
    # reference: metafor 3.8-1, metafor_reference.json leave1out "bcg/RR/REML", estimate[7]
    assert l1o.loc["TPT Madras 1980", "estimate"] == pytest.approx(-0.794767604515521, rel=1e-6)
    text = paths["sensitivity.txt"].read_text()
    assert "Q-profile" in text and "0.1197" in text and "1.1115" in text
