"""De-duplication accuracy and speed, against simple and published peers in the same run.

Accuracy is measured on labelled sets built by ``bench/dedupe_labelled.py`` from real titles
and abstracts. The weights, vetoes and threshold were set looking at the failures on the
seed-1 set (the *tuning* set) and the seed-3 set (the speed set); the table reports the seed-2
set (the *test* set), whose failures were not looked at while tuning. Speed is measured on
the 100,000-record seed-3 set.

Peers, run on the same records:

* **exact DOI or title**: records with the same DOI, or the same title after lower-casing and
  dropping everything but letters and digits, are duplicates (what a spreadsheet or
  ``pandas.drop_duplicates`` gives).
* **bib-dedupe** 0.11.0 (CoLRev; ranked first on false positives in its authors' continuous
  evaluation against ASySD), when importable. Install it outside the project's environment::

      .venv/bin/python -m pip install --target /tmp/peer-bibdedupe --no-deps \\
          bib-dedupe==0.11.0 number-parser requests urllib3 charset-normalizer idna certifi tqdm
      BIB_DEDUPE_PATH=/tmp/peer-bibdedupe .venv/bin/python bench/bench_dedupe.py

  Its 'maybe' pairs (for manual review) are not merged, as in its own benchmark.

Usage::

    .venv/bin/python bench/bench_dedupe.py [--entities 5000] [--speed-records 100000]
        [--repeats 3] [--peer-speed-records 20000] [--out bench/RESULTS-dedupe.md]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import machine, md_table, ratio, timed  # noqa: E402
from dedupe_labelled import HARD_KINDS, LabelledSet, build, load_bases  # noqa: E402

from metareview.records.dedupe import (  # noqa: E402
    DEFAULT_THRESHOLD,
    candidate_pairs,
    canonical_priority,
    find_duplicates,
)
from metareview.records.fields import clean_doi  # noqa: E402
from metareview.records.model import Record  # noqa: E402
from metareview.records.normalize import match_keys  # noqa: E402

TARGET_SENS, TARGET_SPEC, TARGET_SECONDS = 0.97, 0.995, 60.0


# ---------------------------------------------------------------------------------------------
# Peers: each returns the representative (kept record) of every record
def _representative(n: int, clusters: Sequence[Sequence[int]]) -> np.ndarray:
    rep = np.arange(n)
    for c in clusters:
        c = sorted(c)
        rep[c] = c[0]
    return rep


def exact_doi_or_title(records: Sequence[Record]) -> np.ndarray:
    """Same DOI or same simplified title (lower case, letters and digits only)."""
    n = len(records)
    df = pd.DataFrame({
        "doi": [clean_doi(r.doi) for r in records],
        "title": pd.Series([r.title for r in records]).str.lower()
        .str.replace(r"[^a-z0-9]+", "", regex=True),
    })
    parent = np.arange(n)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for col in ("doi", "title"):
        sub = df[df[col] != ""]
        for idx in sub.groupby(col).indices.values():
            idx = sub.index[idx]
            for k in idx[1:]:
                a, b = find(int(idx[0])), find(int(k))
                if a != b:
                    parent[max(a, b)] = min(a, b)
    roots = np.array([find(k) for k in range(n)])
    groups: dict[int, list[int]] = {}
    for k, r in enumerate(roots.tolist()):
        groups.setdefault(r, []).append(k)
    return _representative(n, [g for g in groups.values() if len(g) > 1])


def _bib_dedupe_module():
    path = os.environ.get("BIB_DEDUPE_PATH", "/tmp/peer-bibdedupe")
    if path and Path(path).is_dir() and path not in sys.path:
        sys.path.append(path)
    try:
        from importlib.metadata import version

        import bib_dedupe.bib_dedupe as bd
    except ImportError:
        return None, None
    try:
        ver = version("bib-dedupe")
    except Exception:
        ver = "?"
    return bd, ver


def bib_dedupe_peer(records: Sequence[Record]) -> np.ndarray:
    """bib-dedupe's prep → block → match → cluster on the same records."""
    bd, _ = _bib_dedupe_module()
    n = len(records)
    df = pd.DataFrame({
        "ID": [f"r{k}" for k in range(n)], "ENTRYTYPE": "article",
        "title": [r.title for r in records],
        "author": [" and ".join(r.authors) for r in records],
        "year": [str(r.year) if r.year is not None else "" for r in records],
        "journal": [r.journal for r in records], "volume": [r.volume for r in records],
        "number": [r.issue for r in records], "pages": [r.pages for r in records],
        "doi": [r.doi for r in records], "abstract": [r.abstract for r in records],
    })
    prepped = bd.prep(df, verbosity_level=0, cpu=2)
    blocked = bd.block(prepped, verbosity_level=0, cpu=2)
    matched = bd.match(blocked, verbosity_level=0, cpu=2)
    clusters = bd.cluster(matched, verbosity_level=0)
    return _representative(n, [[int(x[1:]) for x in c] for c in clusters])


# ---------------------------------------------------------------------------------------------
# Formatting
def _f(x: float, d: int = 4) -> str:
    return "–" if x != x else f"{x:.{d}f}"


def _candidates(ls: LabelledSet) -> np.ndarray:
    keys = match_keys(ls.records)
    cand = candidate_pairs(keys, canonical_priority(ls.records, keys))
    return cand[:, 0] * len(ls) + cand[:, 1]


def _describe(ls: LabelledSet) -> list[list[str]]:
    kinds = pd.Series(ls.kind).value_counts()
    ek = pd.Series(ls.entity_kind).value_counts()
    rows = [["records", f"{len(ls):,}"],
            ["entities (distinct articles)", f"{len(set(ls.entity.tolist())):,}"],
            ["records to remove (true duplicates)",
             f"{len(ls) - len(set(ls.entity.tolist())):,}"],
            ["duplicate pairs", f"{len(ls.true_pairs()):,}"],
            ["later exports (copies) / preprints",
             f"{kinds.get('copy', 0):,} / {kinds.get('preprint', 0):,}"],
            ["hard-negative records / pairs",
             f"{sum(v for k, v in ek.items() if k.startswith('hard:')):,} / "
             f"{len(ls.hard_pairs()):,}"],
            ["generic-title records", f"{ek.get('generic', 0):,}"]]
    if ek.get("recombined", 0):
        rows.append(["records of recombined-title entities", f"{ek.get('recombined', 0):,}"])
    return rows


def _accuracy_row(name: str, ev: dict, seconds: float) -> list[str]:
    return [name, _f(ev["sensitivity"]), _f(ev["specificity"]), _f(ev["precision"]),
            _f(ev["f1"]), f"{ev['FN']} / {ev['FP']}", _f(ev["pair_sensitivity"]),
            _f(ev["pair_precision"]), _f(ev["hard_specificity"]),
            _f(ev.get("candidate_specificity", float("nan"))), f"{seconds:.2f} s"]


def share_rows(evals: dict[str, dict], part: str, keys: Sequence[str]) -> list[list[str]]:
    """One row per key: ``hits/total = share`` for each method's ``part`` of its evaluation."""
    rows = []
    for key in keys:
        cells = [key]
        for ev in evals.values():
            h, t = ev[part].get(key, (0, 0))
            cells.append(f"{h}/{t} = {h / t:.3f}" if t else "–")
        rows.append(cells)
    return rows


ACC_HEAD = ["method", "sensitivity", "specificity", "precision", "F1", "FN / FP (records)",
            "pair sensitivity", "pair precision", "hard-negative pair specificity",
            "candidate-pair specificity", "time"]


def _run(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    rep = fn()
    return rep, time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entities", type=int, default=5000)
    ap.add_argument("--speed-records", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peer-speed-records", type=int, default=20_000,
                    help="time bib-dedupe on the first N records of the speed set (0: skip; "
                         "on the whole 100,000 it ran out of 23.5 GiB of memory)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS-dedupe.md")
    args = ap.parse_args()
    cmd = "  ".join(["`.venv/bin/python bench/bench_dedupe.py", *sys.argv[1:]]) + "`"
    bd, bd_ver = _bib_dedupe_module()
    out: list[str] = []
    say = out.append

    say("# Benchmark: de-duplication (issue 5)\n")
    say(f"Written by `bench/bench_dedupe.py`; reproduce with {cmd.replace('  ', ' ')}"
        + (" (with `BIB_DEDUPE_PATH` set to where bib-dedupe is installed, see the script's "
           "docstring)" if bd else "") + ".\n")
    say("Targets (issue 5): sensitivity ≥ 0.97 and specificity ≥ 0.995 (ASySD reports "
        "0.95–0.99 and > 0.99, Hair et al. 2023, BMC Biol 21:189), and 100,000 records in "
        "under a minute.\n")
    say("## Machine\n")
    say(md_table(["", ""], list(machine().items())) + "\n")

    # -- accuracy ---------------------------------------------------------------------------
    print("building labelled sets …", flush=True)
    tune = build(args.entities, seed=1)
    test = build(args.entities, seed=2)
    say("## Labelled sets\n")
    say("Built by `bench/dedupe_labelled.py` (its docstring gives every rule): real titles "
        "and abstracts from the screening datasets in `shared/data/screening` (van de Schoot "
        "et al. 2017; Kwok et al. 2020; Nagtegaal et al. 2019; Bannach-Brown et al. 2019; "
        "Cohen et al. 2006; Kitchenham et al. 2010), synthetic bibliographic metadata, each "
        "article exported 1–4 times in the style of a database with further variations, "
        "preprints, and hard negatives. The weights, vetoes and threshold were set looking "
        "at the failures on the tuning set and the speed set below, not on the test set.\n")
    rows_t, rows_s = _describe(tune), _describe(test)
    say(md_table(["", f"tuning set (seed 1, {args.entities:,} base entities)",
                  f"test set (seed 2, {args.entities:,} base entities)"],
                 [[a, b, d] for (a, b), (_, d) in zip(rows_t, rows_s, strict=True)]) + "\n")

    say("## Accuracy on the test set\n")
    say("Record level, as ASySD and bib-dedupe count (a record of an article with no duplicate "
        "is a true negative when kept, a false positive when removed; of an article's *s* "
        "records of which *k* are kept, *s − k* are true positives and *k − 1* false "
        "negatives, and one is a true negative, or a false positive when none is kept): "
        "sensitivity = TP / (TP + FN), specificity = TN / (TN + FP), precision = "
        "TP / (TP + FP). Pair level: predicted pairs are all pairs inside a predicted "
        "cluster. Specificity over *all* non-duplicate pairs would be trivially ≈ 1, so "
        "two harder denominators are given: the pairs of each hard negative with the "
        "article it imitates, and the non-duplicate pairs among our blocking's candidate "
        "pairs (the pairs similar enough on some key to be compared) plus any a method "
        "merged.\n")
    cand = _candidates(test)
    rows = []
    evals: dict[str, dict] = {}
    print("metareview …", flush=True)
    res_holder = {}

    def ours() -> np.ndarray:
        res_holder["r"] = find_duplicates(test.records)
        return res_holder["r"].representative()

    t_ours, _ = timed(ours, repeats=args.repeats)
    rep = res_holder["r"].representative()
    evals["metareview"] = test.evaluate(rep, cand)
    rows.append(_accuracy_row(f"metareview `find_duplicates` (threshold {DEFAULT_THRESHOLD:g})",
                              evals["metareview"], t_ours.median))
    rep_b, t_b = _run(lambda: exact_doi_or_title(test.records))
    evals["exact DOI/title"] = test.evaluate(rep_b, cand)
    rows.append(_accuracy_row("exact DOI or title (pandas)", evals["exact DOI/title"], t_b))
    t_p = float("nan")
    if bd is not None:
        print("bib-dedupe …", flush=True)
        rep_p, t_p = _run(lambda: bib_dedupe_peer(test.records))
        evals["bib-dedupe"] = test.evaluate(rep_p, cand)
        rows.append(_accuracy_row(f"bib-dedupe {bd_ver} (`prep/block/match/cluster`, cpu=2)",
                                  evals["bib-dedupe"], t_p))
    ev_tune = tune.evaluate(find_duplicates(tune.records).representative(), _candidates(tune))
    rows.append(_accuracy_row("metareview on the tuning set (for comparison)", ev_tune,
                              float("nan")).copy())
    rows[-1][-1] = "–"
    say(md_table(ACC_HEAD, rows) + "\n")
    ev = evals["metareview"]
    say(f"metareview time is the median of {args.repeats} runs after a warm-up "
        f"({t_ours.fmt()}); peers ran once. Test set: {ev['TP'] + ev['FN']:,} records to "
        f"remove, {ev['TN'] + ev['FP']:,} to keep; {ev['candidate_negatives']:,} candidate "
        f"non-duplicate pairs, {ev['hard_pairs']:,} hard-negative pairs.\n")

    # by variation
    say("### Sensitivity by variation (test set)\n")
    say("Share of later exports carrying each variation that end in the same cluster as the "
        "article's first export (an export usually carries its database style and 0–3 "
        "variations, so rows overlap).\n")
    names = list(evals)
    var_keys = sorted(set().union(*(e["by_variation"] for e in evals.values())))
    say(md_table(["variation", *names], share_rows(evals, "by_variation", var_keys)) + "\n")

    say("### Hard negatives kept apart (test set)\n")
    say("Share of hard-negative records in no cluster with any record of the article they "
        "imitate; for generic titles, share of pairs of distinct generic-title records kept "
        "apart.\n")
    hk = [*HARD_KINDS, "generic (pairs)"]
    say(md_table(["hard negative", *names], share_rows(evals, "hard_negatives", hk)) + "\n")

    say("### Threshold (test set)\n")
    trows = []
    for thr in (3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0):
        e = test.evaluate(find_duplicates(test.records, threshold=thr).representative())
        trows.append([f"{thr:g}" + (" (default)" if thr == DEFAULT_THRESHOLD else ""),
                      _f(e["sensitivity"]), _f(e["specificity"]), _f(e["precision"]),
                      _f(e["hard_specificity"])])
    say(md_table(["threshold", "sensitivity", "specificity", "precision",
                  "hard-negative pair specificity"], trows) + "\n")
    say("Lower thresholds gain little here; the default keeps a margin for kinds of near "
        "duplicate the generator does not make.\n")

    say("### Preprints as separate reports (test set)\n")
    say("The same records with each preprint labelled as its own article; metareview run "
        "with `preprints=\"keep\"`, the peers unchanged (bib-dedupe does not merge a "
        "preprint with its article by default either).\n")
    apart = test.preprints_apart()
    prow = []
    e_keep = apart.evaluate(find_duplicates(test.records, preprints="keep").representative())
    prow.append(["metareview (`preprints=\"keep\"`)", _f(e_keep["sensitivity"]),
                 _f(e_keep["specificity"]), _f(e_keep["precision"])])
    peers = [("exact DOI or title (pandas)", rep_b)]
    if bd is not None:
        peers.append((f"bib-dedupe {bd_ver}", rep_p))
    for nm, r_ in peers:
        e_ = apart.evaluate(r_)
        prow.append([nm, _f(e_["sensitivity"]), _f(e_["specificity"]), _f(e_["precision"])])
    say(md_table(["method", "sensitivity", "specificity", "precision"], prow) + "\n")

    # -- speed ------------------------------------------------------------------------------
    print("building the speed set …", flush=True)
    n_ent = int(args.speed_records / 1.6)
    big = build(n_ent, seed=3, recombine=True, max_records=args.speed_records)
    say(f"## Speed: {len(big):,} records\n")
    say(md_table(["", "speed set (seed 3)"], _describe(big)) + "\n")
    say(f"There are {len(load_bases()):,} usable real titles, so the other entities here "
        "have a title joined from halves of two real titles (`recombine=True`); their "
        "metadata and variations are made as above.\n")
    print("timing metareview on the speed set …", flush=True)
    big_holder = {}

    def ours_big() -> None:
        big_holder["r"] = find_duplicates(big.records)

    tm, _ = timed(ours_big, repeats=args.repeats, warmup=False)
    res = big_holder["r"]
    ev_big = big.evaluate(res.representative())
    rep_bb, t_bb = _run(lambda: exact_doi_or_title(big.records))
    ev_bb = big.evaluate(rep_bb)
    srows = [["metareview `find_duplicates`", tm.fmt(), f"{len(big) / tm.median:,.0f}/s",
              f"{res.n_candidates:,}", _f(ev_big["sensitivity"]), _f(ev_big["specificity"]),
              _f(ev_big["precision"])],
             ["exact DOI or title (pandas)", f"{t_bb:.3g} s (n=1)", f"{len(big) / t_bb:,.0f}/s",
              "–", _f(ev_bb["sensitivity"]), _f(ev_bb["specificity"]), _f(ev_bb["precision"])]]
    say(md_table(["method", "time (median, min–max, n)", "records per second",
                  "candidate pairs", "sensitivity", "specificity", "precision"], srows) + "\n")
    if bd is not None and args.peer_speed_records:
        n_p = min(args.peer_speed_records, len(big))
        sub = big.head(n_p)
        print(f"timing bib-dedupe on {n_p:,} records …", flush=True)
        rep_pb, t_pb = _run(lambda: bib_dedupe_peer(sub.records))
        t_os, _ = timed(lambda: find_duplicates(sub.records), repeats=args.repeats)
        rep_os = find_duplicates(sub.records).representative()
        e_pb, e_os = sub.evaluate(rep_pb), sub.evaluate(rep_os)
        say(f"bib-dedupe on the first {n_p:,} records of this set (in a trial run on this "
            "machine, bib-dedupe on all 100,000 was killed by the kernel's out-of-memory "
            "killer at 24 GB resident after about 15 minutes):\n")
        say(md_table(
            ["method", "time", "records per second", "peer / ours", "sensitivity",
             "specificity", "precision"],
            [["metareview `find_duplicates`", t_os.fmt(), f"{n_p / t_os.median:,.0f}/s", "1×",
              _f(e_os["sensitivity"]), _f(e_os["specificity"]), _f(e_os["precision"])],
             [f"bib-dedupe {bd_ver}", f"{t_pb:.4g} s (n=1)", f"{n_p / t_pb:,.0f}/s",
              ratio(t_pb, t_os.median), _f(e_pb["sensitivity"]), _f(e_pb["specificity"]),
              _f(e_pb["precision"])]]) + "\n")

    # incremental: de-duplicate the first 90 %, then add the rest against what was kept
    n_old = len(big) - len(big) // 10
    first_run = find_duplicates(big.records[:n_old])
    old = [big.records[k] for k in first_run.keep()]
    new = list(big.records[n_old:])
    t0 = time.perf_counter()
    inc = find_duplicates(new, existing=old)
    t_inc = time.perf_counter() - t0
    seen, truth_new = set(big.entity[:n_old].tolist()), 0
    for e in big.entity[n_old:].tolist():
        truth_new += e in seen
        seen.add(e)
    say("### Incremental import (living review)\n")
    say(f"The last {len(new):,} records compared with the {len(old):,} records kept from "
        f"de-duplicating the first {n_old:,} (`find_duplicates(new, existing=kept)`): "
        f"{t_inc:.3g} s against {tm.median:.3g} s for the full run; "
        f"{inc.n_duplicates:,} duplicates found, where {truth_new:,} of the new records have a "
        f"true duplicate among the records before them.\n")

    met = [["sensitivity ≥ 0.97 (test set)", _f(ev["sensitivity"]),
            "yes" if ev["sensitivity"] >= TARGET_SENS else "**no**"],
           ["specificity ≥ 0.995 (test set)", _f(ev["specificity"]),
            "yes" if ev["specificity"] >= TARGET_SPEC else "**no**"],
           [f"{len(big):,} records in < 60 s", f"{tm.median:.3g} s",
            "yes" if tm.median < TARGET_SECONDS else "**no**"]]
    say("## Targets\n")
    say(md_table(["target (issue 5)", "measured", "met"], met) + "\n")
    say("## Caveats\n")
    say("- The duplicates are synthetic: each variation is one a database really produces, "
        "but their mix and rates are ours, and the method was designed knowing the list. "
        "Real searches hold errors no generator lists (wrong DOIs, mangled encodings, "
        "conference abstracts of the same study); expect lower sensitivity on them.\n"
        "- The hard negatives are the kinds we know of; specificity on them says the vetoes "
        "work, not that no other kind of near-duplicate exists.\n"
        "- Datasets: van de Schoot et al. 2017 (Struct Equ Modeling 24:451), Kwok et al. "
        "2020 (Viruses 12:107), Nagtegaal et al. 2019 (J Behav Public Adm 2(2)), "
        "Bannach-Brown et al. 2019 (Syst Rev 8:23), Cohen et al. 2006 (JAMIA 13:206), "
        "Kitchenham et al. 2010; via the ASReview dataset collections (CC-BY 4.0 / CC0 / "
        "open licences, see `shared/data/screening/README.md`).\n")
    args.out.write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
