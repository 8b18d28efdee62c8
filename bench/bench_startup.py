"""Start-up cost of the command line: ``metareview --help`` and a small ``analyze``.

Each command runs as a fresh process, in turns (A B C D A B C D ...) so that a machine whose
speed drifts during the run slows every command alike. The figures are whole-process wall
seconds (``/usr/bin/time`` included, which reads CPU time and peak resident memory), as min and
median over the repeats, and the ratio of medians to ``python -c pass`` (the interpreter's own
start-up, the floor). Usage::

    python bench/bench_startup.py [--repeats 15] [--write]

``--write`` also writes ``bench/RESULTS-startup.md``. The commands import metareview from this
checkout's ``src`` (``PYTHONPATH``; ``--src`` names another, e.g. an older checkout's), also the
installed ``metareview`` console script when there is one next to the interpreter.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, md_table

ROOT = Path(__file__).resolve().parents[1]
BCG = ROOT / "src" / "metareview" / "data" / "bcg.csv"
TIME = Path("/usr/bin/time").is_file()
RSS_FILE = Path(tempfile.gettempdir()) / f"bench_startup_rss_{os.getpid()}"


@dataclass
class Command:
    """One command and its runs: wall seconds and peak RSS in MiB."""

    label: str
    argv: list[str]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)

    def run(self, env: dict[str, str]) -> None:
        """Run once, output discarded; record wall time, CPU time and the peak RSS.

        CPU time (user + system) and the peak come from ``/usr/bin/time`` when it exists: a
        child's own ``ru_maxrss`` would count the pages it shared with this (numpy-loaded)
        process before ``exec``. CPU time moves less than wall time on a busy machine.
        """
        timer = ["/usr/bin/time", "-f", "%M %U %S", "-o", str(RSS_FILE)] if TIME else []
        t0 = time.perf_counter()
        done = subprocess.run([*timer, *self.argv], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        self.wall.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise RuntimeError(f"{self.label}: exit status {done.returncode}")
        if TIME:
            rss, user, system = RSS_FILE.read_text().split()[-3:]
            self.rss.append(int(rss) / 1024)  # KiB
            self.cpu.append(float(user) + float(system))


def commands(src: Path) -> list[Command]:
    """``python -c pass``, ``--help`` two ways, and ``analyze`` on the bundled BCG trials."""
    py = sys.executable
    # A checkout from before metareview/__main__.py runs as python -m metareview.cli.
    mod = "metareview" if (src / "metareview" / "__main__.py").is_file() else "metareview.cli"
    out = [Command("python -c pass", [py, "-c", "pass"]),
           Command(f"python -m {mod} --help", [py, "-m", mod, "--help"])]
    script = Path(py).with_name("metareview")
    if script.is_file():
        out.append(Command("metareview --help (console script)", [str(script), "--help"]))
    out.append(Command(f"python -m {mod} analyze bcg.csv --measure RR",
                       [py, "-m", mod, "analyze", str(BCG), "--measure", "RR"]))
    return out


def measure(repeats: int, src: Path) -> list[Command]:
    """One untimed warm-up round, then ``repeats`` interleaved rounds."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmds = commands(src)
    for c in cmds:  # warm the file cache; not counted
        c.run(env)
        c.wall.clear()
        c.cpu.clear()
        c.rss.clear()
    for _ in range(repeats):
        for c in cmds:
            c.run(env)
    return cmds


def table(cmds: list[Command]) -> str:
    """Min and median wall time and peak RSS per command, and the ratio to ``python -c pass``."""
    base = statistics.median(cmds[0].wall)
    rows = [[c.label, f"{min(c.wall):.3f}", f"{statistics.median(c.wall):.3f}",
             f"{statistics.median(c.wall) / base:.1f}×",
             f"{statistics.median(c.cpu):.2f}" if c.cpu else "–",
             f"{statistics.median(c.rss):.0f}" if c.rss else "–"]
            for c in cmds]
    return md_table(["command", "min s", "median s", "median / python -c pass",
                     "CPU s (median)", "peak RSS MiB (median)"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--write", action="store_true", help="write bench/RESULTS-startup.md")
    ap.add_argument("--src", type=Path, default=ROOT / "src",
                    help="the src folder to import metareview from (default: this checkout's)")
    args = ap.parse_args()
    cmds = measure(args.repeats, args.src.resolve())
    text = table(cmds)
    print(text)
    if args.write:
        info = machine()
        lines = ["# Command-line start-up", "",
                 f"`python bench/bench_startup.py --repeats {args.repeats} --write`: "
                 f"{args.repeats} interleaved runs of each command after one warm-up round; "
                 "whole-process wall time, CPU time and peak RSS.", "", text, "", "Machine:", ""]
        lines += [f"- {k}: {v}" for k, v in info.items()]
        (ROOT / "bench" / "RESULTS-startup.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
