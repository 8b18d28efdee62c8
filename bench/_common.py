"""Helpers shared by the benchmarks in bench/: Rscript, CSV hand-off, timing, the machine."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np


# ---------------------------------------------------------------------------------------------
# R
@cache
def have_metafor() -> bool:
    """Whether ``Rscript`` is on the PATH and can load metafor."""
    if not shutil.which("Rscript"):
        return False
    done = subprocess.run(["Rscript", "-e", "suppressMessages(library(metafor))"],
                          capture_output=True, text=True, check=False)
    return done.returncode == 0


def rscript(code: str, *args: str | Path) -> str:
    """Run R ``code`` with ``commandArgs(trailingOnly = TRUE)`` = ``args``; return its stdout.

    Raises ``RuntimeError`` with R's stderr when the script fails.
    """
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.R"
        script.write_text(code)
        done = subprocess.run(["Rscript", str(script), *map(str, args)],
                              capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Rscript failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def write_csv(path: Path, **columns: Sequence[float] | np.ndarray) -> Path:
    """Write equal-length columns to ``path`` with a header. Floats get 17 significant digits,
    so R reads back the same doubles."""
    arrays = [np.asarray(c) for c in columns.values()]
    fmts = ["%d" if np.issubdtype(a.dtype, np.integer) else "%.17g" for a in arrays]
    table = np.empty((len(arrays[0]), len(arrays)), dtype=object)
    for j, a in enumerate(arrays):
        table[:, j] = a
    np.savetxt(path, table, fmt=fmts, delimiter=",", header=",".join(columns), comments="")
    return path


def r_key_values(stdout: str) -> dict[str, str]:
    """Lines ``key value`` printed by an R script, as a dict (later lines win)."""
    out = {}
    for line in stdout.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            out[key] = value.strip()
    return out


# ---------------------------------------------------------------------------------------------
# Timing
@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated runs."""

    times: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def lo(self) -> float:
        return min(self.times)

    @property
    def hi(self) -> float:
        return max(self.times)

    def fmt(self, unit: str = "s") -> str:
        """``median (min-max, n=N)`` in seconds or milliseconds."""
        f = 1000.0 if unit == "ms" else 1.0
        if len(self.times) == 1:
            return f"{self.median * f:.4g} {unit} (n=1)"
        return (f"{self.median * f:.4g} {unit} ({self.lo * f:.4g}–{self.hi * f:.4g}, "
                f"n={len(self.times)})")


def timed(fn: Callable[[], Any], repeats: int, warmup: bool = True) -> tuple[Timing, Any]:
    """Run ``fn`` ``repeats`` times (after one untimed warm-up run); the timings and the
    last result."""
    if warmup:
        fn()
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return Timing(tuple(times)), result


def ratio(slow: float, fast: float) -> str:
    """``slow / fast`` as ``123×``."""
    if not (np.isfinite(slow) and np.isfinite(fast)) or fast <= 0:
        return "–"
    r = slow / fast
    return f"{r:,.0f}×" if r >= 10 else f"{r:.2g}×"


# ---------------------------------------------------------------------------------------------
# The machine
def machine() -> dict[str, str]:
    """CPU model, core count, RAM, OS and the versions that matter, for the results file."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
                break
    except OSError:
        pass
    info = {
        "date": date.today().isoformat(),
        "cpu": cpu,
        "cores (nproc)": str(os.cpu_count()),
        "ram": ram,
        "os": f"{platform.system()} {platform.release()}",
        "load average at start (1, 5, 15 min)": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("pymare", "statsmodels"):
        try:
            info[pkg] = version(pkg)
        except PackageNotFoundError:
            info[pkg] = "not installed"
    root = Path(__file__).resolve().parents[1]
    git = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False)
    if git.returncode == 0:
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, check=False).stdout.strip()
        info["metareview commit"] = git.stdout.strip() + (
            " + uncommitted changes in src/" if dirty else "")
    if have_metafor():
        info["R / metafor"] = rscript(
            'cat(R.version$major, ".", R.version$minor, " / ", '
            'as.character(packageVersion("metafor")), sep = "")')
    return info


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (also readable as plain text)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[j]) for r in cells) for j in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])
