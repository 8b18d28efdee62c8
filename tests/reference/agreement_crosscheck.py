"""Cross-check agreement.json against two independent Python implementations.

Not part of the test suite (it needs packages that metareview does not depend on). Run with

    python -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install irrCAC==0.4.4 krippendorff==0.9.0
    cd tests/reference
    /tmp/refvenv/bin/python agreement_crosscheck.py > agreement_crosscheck.out

irrCAC's raw-data functions use every record with at least one rating when they estimate the
category proportions; agreement.R (and metareview) use only the records rated by two or more
reviewers, so only those records are passed in. irrCAC gives t-based intervals; the standard
errors and point estimates are compared.
"""

import json
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
from irrCAC.raw import CAC

ref = json.loads((Path(__file__).with_name("agreement.json")).read_text())
worst = 0.0
for name, ds in ref["datasets"].items():
    long = pd.DataFrame(ds["rows"], columns=ds["columns"])
    wide = long.pivot(index="record", columns="reviewer", values="decision")
    wide = wide[wide.notna().sum(axis=1) >= 2]
    res = ref["results"][name]
    cats = res["categories"]
    cac = CAC(wide.copy(), categories=cats, digits=15)
    checks = []
    ac1 = cac.gwet()["est"]
    checks += [("ac1", ac1["coefficient_value"], res["ac1"]["estimate"]),
               ("ac1 se", ac1["se"], res["ac1"]["se"])]
    fl = cac.fleiss()["est"]
    checks += [("fleiss", fl["coefficient_value"], res["fleiss"]["estimate"]),
               ("fleiss se", fl["se"], res["fleiss"]["se"])]
    ka = cac.krippendorff()["est"]
    checks += [("alpha (irrCAC)", ka["coefficient_value"], res["alpha"]["estimate"]),
               ("alpha se (irrCAC)", ka["se"], res["alpha"]["se"])]
    code = {c: i for i, c in enumerate(cats)}
    codes = wide.apply(lambda col, code=code: col.map(code)).T
    alpha = krippendorff.alpha(reliability_data=codes.to_numpy(dtype=float),
                               level_of_measurement="nominal")
    checks.append(("alpha (krippendorff)", alpha, res["alpha"]["estimate"]))
    for what, theirs, ours in checks:
        rel = abs(float(theirs) - ours) / max(abs(ours), 1e-300)
        worst = max(worst, rel)
        print(f"{name:18s} {what:22s} package {float(theirs): .15f}  R {ours: .15f}  "
              f"rel.diff {rel:.1e}")
print(f"largest relative difference: {worst:.1e}")
assert worst < 1e-12, worst
print("irrCAC", __import__("importlib.metadata").metadata.version("irrCAC"),
      "krippendorff", __import__("importlib.metadata").metadata.version("krippendorff"),
      "numpy", np.__version__, "pandas", pd.__version__)
