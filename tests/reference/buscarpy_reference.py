"""Reference p-values for the BUSCAR stopping criterion, from ``buscarpy`` 0.0.2.

buscarpy is Callaghan & Müller-Hansen's own implementation of their 2020 criterion
(Syst Rev 9:273). Run with a Python that has it, never from the test suite:

    python -m venv /tmp/buscar-venv
    /tmp/buscar-venv/bin/pip install buscarpy==0.0.2
    /tmp/buscar-venv/bin/python tests/reference/buscarpy_reference.py \
        > tests/reference/buscarpy_reference.json

It prints JSON: for each screening sequence, ``buscarpy.calculate_h0(labels, N,
recall_target, bias)`` at several recall targets (and a biased urn for one). The sequences are
the first ``n_seen`` labels of orders made by ``buscarpy.generate_dataset(N, prevalence, bias,
random_seed)`` (a prioritised-screening simulator) plus a few written out by hand; all are
stored in full so the tests do not need buscarpy. Cases where H0 is impossible (fewer unseen
records than the relevant records still missing under H0) are left out: buscarpy's ``min()``
over an array holding NaN gives an order-dependent answer there.
"""

import json
import sys
from importlib.metadata import version

import numpy as np
from buscarpy import calculate_h0, generate_dataset

TARGETS = [0.8, 0.9, 0.95, 0.99]

HAND = [
    # (name, labels, N)
    ("early_then_quiet", [1, 1, 0, 1, 1, 0, 0, 1] + [0] * 60, 300),
    ("steady", ([1] + [0] * 9) * 12, 400),
    ("none_found", [0] * 50, 1000),
    ("all_relevant_so_far", [1] * 10, 100),
    ("long_quiet_tail", [1, 0, 1, 1, 0, 1, 1] + [0] * 250, 300),
]


def main():
    cases = []
    for name, labels, n_total in HAND:
        cases.append((name, labels, n_total))
    for seed, n_total, prevalence, bias, n_seen in [(1, 1000, 0.05, 10, 300),
                                                    (2, 1000, 0.05, 10, 600),
                                                    (3, 2000, 0.02, 20, 700),
                                                    (4, 500, 0.1, 5, 250),
                                                    (5, 1000, 0.05, 10, 800)]:
        df = generate_dataset(N=n_total, prevalence=prevalence, bias=bias, random_seed=seed)
        labels = df["relevant"].to_numpy()[:n_seen].astype(int).tolist()
        cases.append((f"generated_{seed}", labels, n_total))

    out = []
    for name, labels, n_total in cases:
        arr = np.asarray(labels, dtype=np.int64)
        p = {}
        for t in TARGETS:
            r = int(arr.sum())
            if np.floor(r / t + 1) - r > n_total - len(arr):
                continue  # H0 impossible: see the docstring
            p[str(t)] = float(calculate_h0(arr, n_total, recall_target=t))
        case = {"name": name, "n_total": n_total, "labels": labels, "p": p}
        if name == "generated_1":
            case["p_bias_2_target_0.95"] = float(calculate_h0(arr, n_total, 0.95, bias=2))
        out.append(case)
    json.dump({"generator": "tests/reference/buscarpy_reference.py",
               "buscarpy": version("buscarpy"), "scipy": version("scipy"), "cases": out},
              sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
