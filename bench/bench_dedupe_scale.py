"""De-duplication at scale: time and peak memory from 10,000 to 1,000,000 records.

Every measurement is a whole process: a fresh Python that loads a pickled record set, runs
``find_duplicates`` on it and reports the time of the call, its own peak resident memory and
the work done; the parent also times the process from start to exit. bib-dedupe (the peer of
``bench/bench_dedupe.py``) and the code before this work (``--baseline``, a git revision, by
default where this branch left main; its whole ``src`` tree, extracted with ``git archive``,
so its own match keys too) run the same way on the same records, so every ratio compares
whole processes, or the de-duplication call in each, like with like.

Record sets come from ``bench/dedupe_labelled.py`` exactly as ``bench_dedupe.py`` builds its
100,000-record speed set: ``build(n / 1.6, seed=3, recombine=True, max_records=n)``. There are
only some 20,000 usable real titles, so most entities of the large sets get a title joined
from halves of two real titles (and a real abstract) with freshly synthesised metadata.

The decisions are checked as well: the clusters and canonical records of the baseline and the
current code are compared on the labelled sets (seeds 1 and 2) and on every set the baseline
runs on; where they differ, the report says whether each change undid a false merge or lost
or found a true duplicate.

Usage::

    BIB_DEDUPE_PATH=/tmp/peer-bibdedupe .venv/bin/python bench/bench_dedupe_scale.py \\
        [--sizes 10000,30000,100000,300000,1000000] [--repeats 5] [--repeats-large 3] \\
        [--peer-sizes 10000,20000] [--baseline REV] [--baseline-repeats 3] \\
        [--out bench/RESULTS-dedupe-scale.md]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import machine, md_table, ratio  # noqa: E402

GOAL_RECORDS, GOAL_SECONDS = 1_000_000, 180.0
LARGE = 300_000  # sizes from here on get --repeats-large runs


# ---------------------------------------------------------------------------------------------
# Worker side: one measurement per process
def _rss_now() -> int:
    """Current resident set size in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _rss_peak() -> int:
    """Peak resident set size of this process in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


_TREES: dict[str, Path] = {}


def _baseline_tree(rev: str) -> Path:
    """The ``src`` tree of git revision ``rev``, extracted once into a temporary folder: the
    baseline runs its own ``normalize.py`` as well as its own ``dedupe.py``."""
    if rev not in _TREES:
        root = Path(tempfile.mkdtemp(prefix="dedupe-baseline-"))
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
        _TREES[rev] = root / "src"
    return _TREES[rev]


def worker(kind: str, path: Path, rev: str) -> dict[str, Any]:
    """Run one de-duplication of the pickled set at ``path`` and report on it."""
    if kind == "labelled":  # a labelled set's clusters, by whichever code is on the path
        from dedupe_labelled import build

        from metareview.records.dedupe import find_duplicates

        res = find_duplicates(build(5000, seed=int(path.name)).records)
        return {"clusters": [list(c) for c in res.clusters], "canonical": list(res.canonical)}
    if kind == "build":
        from dedupe_labelled import build

        n = int(path.stem.split("-")[-1])
        ls = build(int(n / 1.6), seed=3, recombine=True, max_records=n)
        with path.open("wb") as f:
            pickle.dump(ls, f, protocol=pickle.HIGHEST_PROTOCOL)
        return {"records": len(ls)}
    with path.open("rb") as f:
        ls = pickle.load(f)
    records = list(ls.records)
    rss_loaded = _rss_now()
    out: dict[str, Any] = {"records": len(records), "rss_loaded": rss_loaded}
    if kind == "peer":
        from bench_dedupe import bib_dedupe_peer

        t0 = time.perf_counter()
        rep = bib_dedupe_peer(records)
        out["seconds"] = time.perf_counter() - t0
    else:
        # "baseline" runs with the baseline's src tree on the path (see run)
        from metareview.records.dedupe import find_duplicates as find
        t0 = time.perf_counter()
        res = find(records)
        out["seconds"] = time.perf_counter() - t0
        rep = res.representative()
        out["candidates"] = res.n_candidates
        out["clusters"] = [list(c) for c in res.clusters]
        out["canonical"] = list(res.canonical)
    ev = ls.evaluate(rep)
    out.update(sensitivity=ev["sensitivity"], specificity=ev["specificity"],
               duplicates=int(len(records) - len(set(rep.tolist()))), rss_peak=_rss_peak(),
               # bib-dedupe's cpu=2 works in child processes: the largest of them
               rss_children=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
    return out


# ---------------------------------------------------------------------------------------------
# Parent side
def run(kind: str, path: Path, rev: str) -> dict[str, Any]:
    """One whole-process measurement: the worker's report plus the process's wall time."""
    src = _baseline_tree(rev) if kind in ("baseline", "labelled-baseline") else ROOT / "src"
    kind = kind.removesuffix("-baseline")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(src), *filter(None, [os.environ.get("PYTHONPATH")])])}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--worker", kind, str(path), "--baseline",
                           rev], capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{kind} on {path.name} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall"] = wall
    return out


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _gib(b: float) -> str:
    return f"{b / 2**30:.2f}"


def _s(xs: list[float]) -> str:
    return f"{min(xs):.3g} / {statistics.median(xs):.3g}"


def _bib_dedupe_version() -> str | None:
    from bench_dedupe import _bib_dedupe_module

    return _bib_dedupe_module()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,30000,100000,300000,1000000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--repeats-large", type=int, default=3)
    ap.add_argument("--peer-sizes", default="10000,20000",
                    help="bib-dedupe sizes ('' to skip; it ran out of 24 GB at 100,000)")
    ap.add_argument("--baseline-repeats", type=int, default=3)
    ap.add_argument("--baseline-max", type=int, default=100_000,
                    help="largest size the baseline is timed at")
    ap.add_argument("--baseline", default="",
                    help="git revision of the code to compare with (default: merge-base with "
                         "main)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS-dedupe-scale.md")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    rev = args.baseline or subprocess.run(
        ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"], capture_output=True, text=True,
        check=True).stdout.strip()
    if args.worker:
        print(json.dumps(worker(args.worker[0], Path(args.worker[1]), rev)))
        return

    from rich.progress import Progress

    sizes = [int(x) for x in args.sizes.split(",") if x]
    peer_sizes = [int(x) for x in args.peer_sizes.split(",") if x]
    bd_ver = _bib_dedupe_version() if peer_sizes else None
    if bd_ver is None:
        peer_sizes = []
    base_sizes = [n for n in sizes if n <= args.baseline_max]
    load_before = _load()
    tmp = Path(tempfile.mkdtemp(prefix="dedupe-scale-"))
    paths = {n: tmp / f"set-{n}.pkl" for n in sorted({*sizes, *peer_sizes})}
    reps = {n: args.repeats if n < LARGE else args.repeats_large for n in sizes}
    n_jobs = (len(paths) + sum(reps.values()) + len(base_sizes) * args.baseline_repeats
              + 2 * len(peer_sizes))
    ours: dict[int, list[dict]] = {}
    base: dict[int, list[dict]] = {}
    peer: dict[int, tuple[dict, list[dict]]] = {}
    with Progress(transient=True) as bar:
        task = bar.add_task("de-duplication at scale", total=n_jobs)
        for n, p in paths.items():
            bar.update(task, description=f"building {n:,} records")
            run("build", p, rev)
            bar.advance(task)
        for n in sizes:
            bar.update(task, description=f"metareview, {n:,} records")
            ours[n] = []
            for _ in range(reps[n]):
                ours[n].append(run("ours", paths[n], rev))
                bar.advance(task)
            if n in base_sizes:
                bar.update(task, description=f"baseline, {n:,} records")
                base[n] = []
                for _ in range(args.baseline_repeats):
                    base[n].append(run("baseline", paths[n], rev))
                    bar.advance(task)
        for n in peer_sizes:
            bar.update(task, description=f"bib-dedupe, {n:,} records")
            # bib-dedupe once (minutes); ours in the same minutes, once more for the pairing.
            try:
                pr = run("peer", paths[n], rev)
            except RuntimeError as e:  # out of memory under the run's limit, say so
                pr = {"failed": str(e).strip().splitlines()[-1][:200]}
            bar.advance(task)
            peer[n] = (pr, ours[n] if n in ours else [run("ours", paths[n], rev)])
            bar.advance(task)
    load_after = _load()
    same = {}
    for n in base:
        with paths[n].open("rb") as f:
            same[n] = pickle.load(f).entity
    for p in paths.values():
        p.unlink(missing_ok=True)

    out: list[str] = []
    say = out.append
    cmd = " ".join(["`.venv/bin/python bench/bench_dedupe_scale.py", *sys.argv[1:]]) + "`"
    say("# Benchmark: de-duplication at scale (issue 13)\n")
    say(f"Written by `bench/bench_dedupe_scale.py`; reproduce with {cmd}"
        + (" with `BIB_DEDUPE_PATH` set to where bib-dedupe is installed (see "
           "`bench/bench_dedupe.py`)" if bd_ver else "") + ".\n")
    say(f"Goal (issue 13): linear scaling, {GOAL_RECORDS:,} records in under "
        f"{GOAL_SECONDS:g} s with bounded memory, and the same decisions as before.\n")
    say("## Machine\n")
    info = machine()
    info["load average before / after the run (1, 5, 15 min)"] = f"{load_before} / {load_after}"
    info["baseline (code before this work)"] = rev[:10]
    say(md_table(["", ""], list(info.items())) + "\n")

    say("## Records\n")
    say("Each set is `build(n / 1.6, seed=3, recombine=True, max_records=n)` from "
        "`bench/dedupe_labelled.py` (at 100,000 records the speed set of "
        "`bench/bench_dedupe.py`): real titles and abstracts, each entity exported 1–4 times "
        "with database-style variations, preprints and hard negatives. Beyond the ~20,000 "
        "usable real titles an entity's title joins the first half of one real title to the "
        "second half of another, with a real abstract and freshly drawn authors, journal, "
        "year, volume, pages and identifiers; so at 1,000,000 records each real title half "
        "recurs in dozens of titles, which makes the title blocks larger than in a real "
        "search of that size (a harder case for blocking, not an easier one).\n")

    say("## Time and memory\n")
    say("Each row is whole processes (start Python, unpickle the records, run, exit), "
        "run one after another on an otherwise shared machine. *Process* is the wall time of "
        "the whole process, *call* the time inside `find_duplicates` alone; both are "
        "min / median over the runs. *Peak RSS* is the process's high-water mark "
        "(`VmHWM`), which includes the records themselves (*records RSS*, measured after "
        "unpickling). Seconds per 100k records are the median call time scaled.\n")
    head = ["code", "records", "runs", "process s (min / median)", "call s (min / median)",
            "call s per 100k records", "peak RSS GiB (median)", "records RSS GiB",
            "extra RSS per 100k records, MiB", "candidate pairs per record", "duplicates removed",
            "sensitivity / specificity"]
    rows = []
    for label, table in (("this branch", ours), (f"baseline {rev[:7]}", base)):
        for n, rs in table.items():
            call = [r["seconds"] for r in rs]
            peak = statistics.median(r["rss_peak"] for r in rs)
            loaded = statistics.median(r["rss_loaded"] for r in rs)
            rows.append([label, f"{n:,}", len(rs), _s([r["wall"] for r in rs]), _s(call),
                         f"{statistics.median(call) / n * 1e5:.3g}", _gib(peak), _gib(loaded),
                         f"{(peak - loaded) / n * 1e5 / 2**20:.0f}",
                         f"{rs[0]['candidates'] / n:.2f}", f"{rs[0]['duplicates']:,}",
                         f"{rs[0]['sensitivity']:.4f} / {rs[0]['specificity']:.4f}"])
    say(md_table(head, rows) + "\n")
    if base:
        say("Speed-up over the baseline (median call time, and median process time, each "
            "against its own kind):\n")
        say(md_table(["records", "call: baseline / this branch", "process: baseline / this "
                      "branch"],
                     [[f"{n:,}", ratio(statistics.median(r["seconds"] for r in base[n]),
                                       statistics.median(r["seconds"] for r in ours[n])),
                       ratio(statistics.median(r["wall"] for r in base[n]),
                             statistics.median(r["wall"] for r in ours[n]))]
                      for n in base]) + "\n")

    say("## Same decisions as before\n")
    same_rows = [[f"speed set, {n:,} records", _same(base[n][0], ours[n][0], same[n])]
                 for n in base]
    for seed in (1, 2):
        same_rows.append([f"labelled set seed {seed} (5,000 entities)", _labelled_same(seed, rev)])
    say("Clusters and canonical records of the baseline and of this branch, compared "
        "record for record:\n")
    say(md_table(["set", "identical clusters and canonical records"], same_rows) + "\n")

    if peer:
        say(f"## bib-dedupe {bd_ver}\n")
        say("bib-dedupe's `prep → block → match → cluster` with `cpu=2`, once per size (it "
            "takes minutes and at 100,000 records was killed after reaching 24 GB, see "
            "`RESULTS-dedupe.md`, so it is not run at the larger sizes). Both columns of a "
            "ratio are of one kind: process against process, call against call.\n")
        prow = []
        for n, (pr, os_) in peer.items():
            if "failed" in pr:
                prow.append([f"{n:,}", f"failed: {pr['failed']}", *["–"] * 8])
                continue
            o_call = statistics.median(r["seconds"] for r in os_)
            o_wall = statistics.median(r["wall"] for r in os_)
            o_peak = statistics.median(r["rss_peak"] for r in os_)
            prow.append([f"{n:,}", f"{pr['wall']:.3g}", f"{o_wall:.3g}",
                         ratio(pr["wall"], o_wall), f"{pr['seconds']:.3g}", f"{o_call:.3g}",
                         ratio(pr["seconds"], o_call), f"{_gib(pr['rss_peak'])} + "
                         f"{_gib(pr['rss_children'])} / {_gib(o_peak)}",
                         f"{pr['sensitivity']:.4f} / "
                         f"{os_[0]['sensitivity']:.4f}",
                         f"{pr['specificity']:.4f} / {os_[0]['specificity']:.4f}"])
        say(md_table(["records", "bib-dedupe process s", "metareview process s",
                      "process ratio", "bib-dedupe call s", "metareview call s", "call ratio",
                      "peak RSS GiB (bib-dedupe main + largest worker / metareview)",
                      "sensitivity (bib-dedupe / metareview)",
                      "specificity (bib-dedupe / metareview)"], prow) + "\n")

    say("## Goal\n")
    big = max(ours)
    rs = ours[big]
    wall = statistics.median(r["wall"] for r in rs)
    ref = min((n for n in ours if n >= 100_000), default=min(ours))
    extra = {n: statistics.median(r["rss_peak"] - r["rss_loaded"] for r in ours[n]) / n
             for n in (ref, big)}
    pairs = {n: ours[n][0]["candidates"] / n for n in (ref, big)}
    bounded = extra[big] <= 1.5 * extra[ref] and pairs[big] <= 1.5 * pairs[ref]
    say(md_table(["goal", "measured", "met"], [
        [f"{GOAL_RECORDS:,} records in < {GOAL_SECONDS:g} s (whole process, median)",
         f"{big:,} records: {wall:.3g} s",
         "yes" if big >= GOAL_RECORDS and wall < GOAL_SECONDS else "**no**"],
        [f"bounded memory and work: from {ref:,} to {big:,} records, memory beyond the "
         "records and candidate pairs per record grow by less than half",
         f"extra RSS {extra[ref] * 1e5 / 2**20:.0f} → {extra[big] * 1e5 / 2**20:.0f} MiB per "
         f"100k records; {pairs[ref]:.2f} → {pairs[big]:.2f} pairs per record; peak RSS "
         f"{_gib(statistics.median(r['rss_peak'] for r in rs))} GiB at {big:,}",
         "yes" if bounded else "**no**"],
    ]) + "\n")
    args.out.write_text("\n".join(out))
    print("\n".join(out))


def _same(a: dict, b: dict, entity: Any) -> str:
    """Baseline clusters ``a`` against this branch's ``b``: identical, or how they differ and
    whether each difference undoes a false merge or finds a true duplicate (``entity``: the
    truth)."""
    if a["clusters"] == b["clusters"] and a["canonical"] == b["canonical"]:
        return f"yes ({len(a['clusters']):,} clusters)"
    old = {tuple(c) for c in a["clusters"]}
    new = {tuple(c) for c in b["clusters"]}

    def articles(c: tuple) -> int:
        return len({int(entity[x]) for x in c})

    gone, came = old - new, new - old
    false_gone = sum(articles(c) > 1 for c in gone)
    return (f"no: {len(gone)} of {len(old):,} baseline clusters changed ({false_gone} of them "
            f"false merges); {len(came)} clusters new or changed, "
            f"{sum(articles(c) == 1 for c in came)} of them one true article each; false "
            f"merges {sum(articles(c) > 1 for c in old)} → {sum(articles(c) > 1 for c in new)}")


def _labelled_same(seed: int, rev: str) -> str:
    from dedupe_labelled import build

    old = run("labelled-baseline", Path(str(seed)), rev)
    new = run("labelled", Path(str(seed)), rev)
    return _same(old, new, build(5000, seed=seed).entity)


if __name__ == "__main__":
    main()
