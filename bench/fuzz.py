"""Long fuzz runs of the importers: millions of damaged files, no crash, no hang.

The inputs are those of ``tests/test_fuzz_importers.py`` (the same seed files and mutations;
input ``i`` of seed ``s`` is the same bytes here and there), only many more of them and with
longer repeated lines. Each input is imported in-process in a worker, under a per-input alarm
(``--timeout``) and an address-space limit (``--memory``), and counted as:

* **accepted**: an ImportBatch came back;
* **clean error**: :class:`~metareview.errors.InputError` with a one-line message;
* **crash**: any other exception, or an InputError message with a line break or escape
  character; the input is saved to ``--out`` with its traceback, as a reproducer;
* **hang**: the alarm fired (the input is saved too).

Usage::

    .venv/bin/python bench/fuzz.py --inputs 100000 --seed 1 [--workers 2] [--timeout 10]
        [--repeat-max 20000] [--out /tmp/metareview-fuzz] [--json summary.json]

The exit status is 1 when there was a crash or a hang.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.test_fuzz_importers import corpus, make_input  # noqa: E402

from metareview.errors import InputError  # noqa: E402
from metareview.records.readers import read_records_bytes  # noqa: E402

_FORMATS = {".ris": "ris", ".nbib": "nbib", ".xml": "pubmed-xml", ".bib": "bibtex",
            ".csv": "csv", ".tsv": "tsv", ".xlsx": "xlsx"}


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` swallows it."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hang


@dataclass
class Tally:
    """Counts for one format (or all of them)."""

    inputs: int = 0
    errors: int = 0
    accepted: int = 0
    crashes: int = 0
    hangs: int = 0
    slowest: float = 0.0
    slowest_input: int = -1
    seconds: float = 0.0
    crash_kinds: Counter = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        """Add another tally's counts to this one."""
        self.inputs += other.inputs
        self.errors += other.errors
        self.accepted += other.accepted
        self.crashes += other.crashes
        self.hangs += other.hangs
        self.seconds += other.seconds
        self.crash_kinds.update(other.crash_kinds)
        if other.slowest > self.slowest:
            self.slowest, self.slowest_input = other.slowest, other.slowest_input


_STATE: dict[str, Any] = {}


def _init(seed: int, repeat_max: int, timeout: float, memory: int, out: str) -> None:
    warnings.simplefilter("ignore")  # openpyxl warns about every odd workbook it still reads
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    signal.signal(signal.SIGALRM, _alarm)
    _STATE.update(seed=seed, repeat_max=repeat_max, timeout=timeout, out=Path(out),
                  seeds=corpus())


def _where(exc: BaseException) -> str:
    """``'bibtex.py:153'``: the innermost frame inside metareview, else the innermost."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "metareview" in f.filename] or frames
    f = ours[-1] if ours else None
    return f"{Path(f.filename).name}:{f.lineno}" if f else "?"


def _save(i: int, fmt: str, kind: str, filename: str, data: bytes, lenient: bool,
          detail: str) -> str:
    out: Path = _STATE["out"]
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{fmt}-{kind.replace(':', '_').replace('.', '_')}-{_STATE['seed']}-{i}"
    (out / f"{stem}.bin").write_bytes(data)
    (out / f"{stem}.txt").write_text(
        f"seed {_STATE['seed']} input {i}\nfilename {filename}\nlenient {lenient}\n"
        f"{len(data)} bytes\n\n{detail}\n", encoding="utf-8")
    return str(out / f"{stem}.bin")


def _run(indices: list[int]) -> tuple[dict[str, Tally], list[str]]:
    """Run some inputs; their tallies by format and the reproducers saved."""
    tallies: dict[str, Tally] = {}
    saved: list[str] = []
    seen: Counter = Counter()
    for i in indices:
        name, filename, data, lenient = make_input(_STATE["seed"], i, _STATE["seeds"],
                                                   repeat_max=_STATE["repeat_max"])
        fmt = _FORMATS[Path(name).suffix]
        t = tallies.setdefault(fmt, Tally())
        t.inputs += 1
        kind = ""
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, _STATE["timeout"])
        try:
            read_records_bytes(data, filename=filename, source="fuzz", lenient=lenient)
            t.accepted += 1
        except InputError as exc:
            text = str(exc)
            if "\n" in text or "\r" in text or "\x1b" in text:
                kind = f"multi-line message:{_where(exc)}"
                detail = f"InputError with a line break or ESC: {text!r}"
            else:
                t.errors += 1
        except Hang:
            kind = "hang"
            detail = f"no result after {_STATE['timeout']} s"
        except BaseException as exc:
            kind = f"{type(exc).__name__}:{_where(exc)}"
            detail = "".join(traceback.format_exception(exc))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        took = time.perf_counter() - start
        t.seconds += took
        if took > t.slowest:
            t.slowest, t.slowest_input = took, i
        if kind:
            if kind == "hang":
                t.hangs += 1
            else:
                t.crashes += 1
            t.crash_kinds[kind] += 1
            seen[kind] += 1
            if seen[kind] <= 3:  # a few reproducers of each kind per chunk
                saved.append(_save(i, fmt, kind, filename, data, lenient, detail))
    return tallies, saved


def main(argv: list[str] | None = None) -> int:
    """Run the fuzzer and print its figures; 1 when something crashed or hung."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table

    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--inputs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per input")
    ap.add_argument("--memory", type=int, default=4096, help="MiB per worker (0: no limit)")
    ap.add_argument("--repeat-max", type=int, default=20_000,
                    help="most times a line is repeated")
    ap.add_argument("--chunk", type=int, default=250, help="inputs per task")
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "metareview-fuzz"),
                    help="folder for reproducers")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    console = Console(width=110)
    chunks = [list(range(k, min(k + args.chunk, args.inputs)))
              for k in range(0, args.inputs, args.chunk)]
    by_format: dict[str, Tally] = {}
    saved: list[str] = []
    started = time.time()
    with Pool(args.workers, _init, (args.seed, args.repeat_max, args.timeout,
                                    args.memory * 1024 * 1024, args.out)) as pool, \
            Progress(TextColumn("fuzzing"), BarColumn(), MofNCompleteColumn(),
                     TextColumn("crashes {task.fields[crashes]}, hangs {task.fields[hangs]}"),
                     TimeElapsedColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("fuzz", total=args.inputs, crashes=0, hangs=0)
        for tallies, paths in pool.imap_unordered(_run, chunks):
            for fmt, t in tallies.items():
                by_format.setdefault(fmt, Tally()).add(t)
            saved += paths
            total = Tally()
            for t in by_format.values():
                total.add(t)
            bar.update(task, completed=total.inputs, crashes=total.crashes, hangs=total.hangs)
    wall = time.time() - started

    total = Tally()
    for t in by_format.values():
        total.add(t)
    table = Table(title=f"bench/fuzz.py --inputs {args.inputs} --seed {args.seed}: "
                        f"{wall:.0f} s on {args.workers} workers")
    for col in ("format", "inputs", "clean errors", "accepted", "crashes", "hangs",
                "mean ms", "slowest s (input)"):
        table.add_column(col, justify="left" if col == "format" else "right")
    rows = [*sorted(by_format.items()), ("all", total)]
    for fmt, t in rows:
        table.add_row(fmt, f"{t.inputs:,}", f"{t.errors:,}", f"{t.accepted:,}",
                      f"{t.crashes:,}", f"{t.hangs:,}", f"{1000 * t.seconds / t.inputs:.1f}",
                      f"{t.slowest:.2f} ({t.slowest_input})")
    console.print(table)
    if total.crash_kinds:
        console.print("crashes and hangs by kind (exception:file:line):")
        for kind, n in total.crash_kinds.most_common():
            console.print(f"  {n:6,}  {kind}")
        console.print(f"reproducers ({len(saved)}) in {args.out}:")
        for p in sorted(saved):
            console.print(f"  {p}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "inputs": args.inputs, "seed": args.seed, "workers": args.workers,
            "timeout": args.timeout, "repeat_max": args.repeat_max, "seconds": round(wall, 1),
            "formats": {fmt: {"inputs": t.inputs, "clean_errors": t.errors,
                              "accepted": t.accepted, "crashes": t.crashes, "hangs": t.hangs,
                              "mean_ms": round(1000 * t.seconds / t.inputs, 2),
                              "slowest_s": round(t.slowest, 3),
                              "slowest_input": t.slowest_input,
                              "kinds": dict(t.crash_kinds)} for fmt, t in rows},
            "reproducers": sorted(saved)}, indent=1), encoding="utf-8")
    return 1 if total.crashes or total.hangs else 0


if __name__ == "__main__":
    sys.exit(main())
