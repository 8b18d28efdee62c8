"""How closely the free multilevel fits agree with metafor's ``rma.mv`` (the README's figures).

Fits every case of tests/reference/multilevel.json freely, exactly as
``tests/test_multilevel.py::test_free_fit_reaches_metafors_optimum`` does (its case loader and
fit helper are imported), and prints, per kind of case and per case:

* the largest relative difference of the estimated variance components above 1e-6 (smaller
  ones, where metafor stops at ~1e-10 for an optimum of 0, as an absolute difference);
  components given as fixed (rho = 0.5 in the networks, sigma2 = 0) are left out;
* the largest relative difference of the coefficients and of their SEs;
* the log-likelihood: the largest amount by which ours is below metafor's, the largest by which
  it is above, and in how many cases it is above / equal / below;
* metafor's own spread: the relative difference between its nlminb fit and a BFGS refit
  (``check.max_rel_diff`` as recorded by tests/reference/multilevel.R).

Prints Markdown; run without R (the reference numbers are in the JSON):

    .venv/bin/python bench/agreement_multilevel.py > bench/RESULTS-multilevel-agreement.md
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import md_table  # noqa: E402

import metareview  # noqa: E402
from test_multilevel import CASES, COMPONENTS, _fit  # noqa: E402

KINDS = (
    ("three-level (k11, assink: `~ 1 \\| a/b`, `~ 1 \\| study`)",
     lambda n: n.startswith(("k11/ml", "assink/"))),
    ("structured (k11 CS/ID, berkey UN/CS/HCS/DIAG/ID, AR/HAR/HCS)",
     lambda n: n in ("k11/CS", "k11/ID") or n.startswith(("berkey/", "ar/"))),
    ("networks (senn, hasselblad)", lambda n: n.startswith(("senn/", "hasselblad/"))),
    ("simulated three-level (sim/01-07)", lambda n: n.startswith("sim/") and int(n[4:]) <= 7),
    ("simulated structured (sim/08-09 UN, sim/10 CS)",
     lambda n: n.startswith("sim/") and int(n[4:]) > 7),
)


@dataclass
class Row:
    """One case's differences from metafor (relative unless named abs)."""

    name: str
    model: str  # the random formulas, with struct where it matters
    comp_rel: float
    comp_abs_small: float
    coef_rel: float
    se_rel: float
    ll_diff: float  # ours - metafor's
    spread: float
    spread_abs: float  # the same as an absolute difference


def _rel(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.max(np.abs(ours - theirs) / np.abs(theirs), initial=0.0))


def case_row(name: str) -> Row:
    """Fit one case freely and measure its differences from metafor's numbers."""
    c, fit = _fit(name)
    fixed = c["fixed"] or {}
    comp_rel = comp_abs = 0.0
    for kind in COMPONENTS:
        theirs = np.array(c.get(kind) or [], dtype=float)
        ours = np.asarray(getattr(fit, kind), dtype=float)
        if not len(ours):  # ID/DIAG: metafor reports rho = 0, which is not estimated
            continue
        free = np.array([v is None for v in (fixed.get(kind) or [None] * len(theirs))])
        big = free & (np.abs(theirs) > 1e-6)
        small = free & ~big
        comp_rel = max(comp_rel, _rel(ours[big], theirs[big]))
        comp_abs = max(comp_abs, float(np.max(np.abs(ours[small] - theirs[small]), initial=0.0)))
    check = c.get("check")
    return Row(
        name=name, model=_model(c), comp_rel=comp_rel, comp_abs_small=comp_abs,
        coef_rel=_rel(np.asarray(fit.coef), np.array(c["beta"], dtype=float)),
        se_rel=_rel(np.asarray(fit.coef_se), np.array(c["se"], dtype=float)),
        ll_diff=float(fit.ll - c["fitstats"]["logLik"]),
        spread=check["max_rel_diff"] if isinstance(check, dict) else float("nan"),
        spread_abs=check["max_abs_diff"] if isinstance(check, dict) else float("nan"))


def _model(c: dict) -> str:
    """The random formulas as metafor's call has them; struct only for ``~ inner | outer``."""
    terms = []
    for formula, struct in zip(c["random"], c["struct"], strict=False):
        inner = formula.lstrip("~").split("|")[0].strip()
        terms.append(formula if inner == "1" else f"{formula} ({struct})")
    return ", ".join(terms).replace("|", "\\|")


def _e(x: float) -> str:
    return "0" if x == 0 else f"{x:.2g}"


def _worst(rows: list[Row], attr: str) -> str:
    r = max(rows, key=lambda r: getattr(r, attr))
    v = getattr(r, attr)
    return _e(v) if v == 0 else f"{_e(v)} ({r.name})"


def summary_row(label: str, rows: list[Row]) -> list[str]:
    """The largest differences over a group of cases."""
    below = max((-r.ll_diff for r in rows if r.ll_diff < 0), default=0.0)
    above = max((r.ll_diff for r in rows if r.ll_diff > 0), default=0.0)
    counts = (sum(r.ll_diff > 0 for r in rows), sum(r.ll_diff == 0 for r in rows),
              sum(r.ll_diff < 0 for r in rows))
    return [label, str(len(rows)), _worst(rows, "comp_rel"), _worst(rows, "comp_abs_small"),
            _worst(rows, "coef_rel"), _worst(rows, "se_rel"), _e(below), _e(above),
            " / ".join(map(str, counts)), _worst(rows, "spread")]


def main() -> None:
    """Fit every case and print the tables."""
    rows = [case_row(n) for n in CASES]
    meta = json.loads((HERE.parent / "tests" / "reference" / "multilevel.json")
                      .read_text())["meta"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False, cwd=HERE).stdout.strip() or "unknown"
    print("# Multilevel models: agreement of the free fits with metafor's rma.mv\n")
    print("Written by `bench/agreement_multilevel.py` (`.venv/bin/python "
          "bench/agreement_multilevel.py > bench/RESULTS-multilevel-agreement.md`); "
          f"metareview {metareview.__version__} at commit {commit}. Reference: "
          f"`tests/reference/multilevel.json` ({meta['R'].split(' (')[0]}, metafor "
          f"{meta['metafor']}; nlminb with rel.tol = x.tol = 1e-12, and a BFGS refit at reltol "
          "1e-15 for metafor's spread). The same cases and fits as "
          "`tests/test_multilevel.py::test_free_fit_reaches_metafors_optimum`.\n")
    print("Components: the largest relative difference over the estimated components above "
          "1e-6 in metafor's fit, and the largest absolute difference over those at or below "
          "1e-6 (where the optimum is 0). Coefficients and SEs: the largest relative "
          "difference. log-lik: ours minus metafor's, the largest amount below and above, and "
          "the number of cases above / equal / below. metafor's spread: the largest relative "
          "difference between its nlminb and BFGS fits (`check.max_rel_diff`, over all its "
          "components, near-zero ones included; per case also as an absolute difference, "
          "`check.max_abs_diff`).\n")
    headers = ["cases", "n", "components rel", "components <= 1e-6 abs", "coef rel", "SE rel",
               "log-lik below by", "log-lik above by", "above / equal / below",
               "metafor's spread"]
    table = [summary_row(label, [r for r in rows if pick(r.name)]) for label, pick in KINDS]
    assert sum(int(t[1]) for t in table) == len(rows), "every case in one kind"
    table.append(summary_row("**all**", rows))
    print("## By kind of case\n")
    print(md_table(headers, table))
    print("\n## Per case\n")
    print(md_table(
        ["case", "random (struct)", "components rel", "components <= 1e-6 abs", "coef rel",
         "SE rel", "log-lik ours - metafor's", "metafor's spread", "metafor's spread abs"],
        [[r.name, f"`{r.model}`", _e(r.comp_rel), _e(r.comp_abs_small), _e(r.coef_rel),
          _e(r.se_rel), _e(r.ll_diff), _e(r.spread), _e(r.spread_abs)] for r in rows]))

if __name__ == "__main__":
    main()
