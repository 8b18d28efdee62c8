"""Reference values for the screening metrics, from asreview-insights 1.6.1 (ASReview 2.2).

Run with a Python that has ``asreview-insights==1.6.1`` (it pins ``asreview<3``), never from
the test suite:

    python -m venv /tmp/asr-insights
    /tmp/asr-insights/bin/pip install asreview-insights==1.6.1
    /tmp/asr-insights/bin/python tests/reference/asreview_insights.py \
        > tests/reference/asreview_insights.json

It prints JSON with two parts.

``orders``: insights' metric functions (``asreviewcontrib.insights.metrics._recall``, ``_wss``,
``_erf``, ``_loss_value``, ``_time_to_discovery``, ``_average_time_to_discovery`` and
``algorithms._recall_values``) on fixed 0/1 screening orders. The first ones are written out
here by hand; the ``random_*`` ones are drawn by ``numpy.random.default_rng(seed)`` below so they
can be long, and are stored in the JSON in full.

``simulation``: an ASReview 2.2 simulation (``asreview simulate``, default model) of the
Cohen et al. (2006) urinary incontinence dataset (``../shared/data/screening``; 327 records,
40 included), with one relevant and one irrelevant prior (``--prior-seed 1 --seed 1``), and
``insights.metrics.get_metrics`` of the project file: it shows how insights treats the prior
records (left out) and a simulation that stopped at the last relevant record (padded with 0).
The screening order (record ids, 0-based rows), the priors and the dataset's ``label_included``
column are stored, so the test suite can rebuild the label sequence as the simulation code does.
"""

import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from asreview import open_state
from asreviewcontrib.insights import algorithms, metrics
from asreviewcontrib.insights.utils import get_simulation_labels

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT.parent / "shared" / "data" / "screening" / "Cohen_2006_UrinaryIncontinence.csv"

RECALL_AT = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
WSS_AT = [0.3, 0.5, 0.8, 0.9, 0.95, 1.0]
ERF_AT = [0.1, 0.25, 0.5, 0.9]

# Hand-written orders: typical, best, worst, one relevant record, ties with the random line.
HAND = {
    "typical_10": [1, 0, 1, 0, 0, 0, 1, 0, 0, 0],
    "perfect_20": [1] * 5 + [0] * 15,
    "worst_20": [0] * 15 + [1] * 5,
    "single_relevant_7": [0, 0, 1, 0, 0, 0, 0],
    "alternating_12": [1, 0] * 6,
    "late_tail_30": [1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
                     0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    "n_rel_43_of_100": [1] * 30 + [0, 1] * 10 + [0] * 47 + [1, 1, 1],
}


def random_order(seed, n, n_rel, tilt):
    """A prioritised-looking order: relevant records drawn ``tilt`` times as likely."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    y[:n_rel] = 1
    w = np.where(y == 1, tilt, 1.0)
    return y[rng.choice(n, n, replace=False, p=w / w.sum())].tolist()


def order_values(labels):
    """Every insights metric of one order."""
    labels = [int(v) for v in labels]
    x, y = algorithms._recall_values(labels)
    td = metrics._time_to_discovery(list(range(len(labels))), labels)
    curve = {"recall_curve_x": x, "recall_curve_y": y} if len(labels) <= 100 else {}
    return {
        "labels": labels,
        "recall": {str(f): metrics._recall(labels, f) for f in RECALL_AT},
        "wss": {str(r): metrics._wss(labels, r) for r in WSS_AT},
        "erf": {str(f): metrics._erf(labels, f) for f in ERF_AT},
        "loss": metrics._loss_value(labels) if 0 < sum(labels) < len(labels) else None,
        "td": [pos for _, pos in td],
        "atd": metrics._average_time_to_discovery(td),
        **curve,
    }


def simulation():
    """An ASReview 2.2 simulation and insights' metrics of its project file."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sim.asreview"
        cmd = [sys.executable, "-m", "asreview", "simulate", str(DATASET),
               "--n-prior-included", "1", "--n-prior-excluded", "1",
               "--prior-seed", "1", "--seed", "1", "-o", str(out)]
        subprocess.run(cmd, check=True, capture_output=True)
        stats = metrics.get_metrics(out)
        labels = get_simulation_labels(out)
        with open_state(out) as state:
            table = state.get_results_table(columns=["record_id", "label"], priors=True)
            priors = state.get_priors()["record_id"].tolist()
    items = {item["id"]: item["value"] for item in stats["data"]["items"]}
    with open(DATASET, newline="", encoding="utf-8") as fh:
        included = [int(row["label_included"]) for row in csv.DictReader(fh)]
    return {
        "command": "asreview simulate Cohen_2006_UrinaryIncontinence.csv --n-prior-included 1 "
                   "--n-prior-excluded 1 --prior-seed 1 --seed 1 -o sim.asreview",
        "asreview_version": stats["asreviewVersion"],
        "dataset_label_included": included,
        "priors": [int(i) for i in priors],
        "record_ids_in_order": [int(i) for i in table["record_id"]],
        "labels_in_order_insights": [int(v) for v in labels],
        "metrics": {
            "recall": {str(k): v for k, v in items["recall"]},
            "wss": {str(k): v for k, v in items["wss"]},
            "erf": {str(k): v for k, v in items["erf"]},
            "loss": items["loss"],
            "atd": items["atd"],
            "td": [[int(r), int(p)] for r, p in items["td"]],
        },
    }


def main():
    from importlib.metadata import version

    orders = {name: order_values(v) for name, v in HAND.items()}
    for seed, n, n_rel, tilt in [(1, 200, 10, 8.0), (2, 500, 23, 15.0), (3, 1000, 43, 30.0),
                                 (4, 333, 50, 3.0)]:
        orders[f"random_{seed}_{n}_{n_rel}"] = order_values(random_order(seed, n, n_rel, tilt))
    result = {
        "generator": "tests/reference/asreview_insights.py",
        "asreview": version("asreview"),
        "asreview_insights": version("asreview-insights"),
        "orders": orders,
        "simulation": simulation() if DATASET.exists() else None,
    }
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
