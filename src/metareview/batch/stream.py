"""Streaming batch runs: millions of meta-analyses from a long-format file in bounded memory.

:func:`run_batch` reads a CSV or Parquet file in chunks, fits each chunk with
:func:`~metareview.batch.frame.fit_frame` (locally, or on a Dask cluster) and appends the
results to the output as it goes, so memory is bounded by the chunk size, not the file size.
An analysis whose rows straddle a chunk boundary is held back and completed with the next
chunk. The output is written to a temporary file next to the target and renamed at the end, so
a failed run never leaves a partial file under the requested name.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metareview.batch.frame import check_options, fit_runs, group_runs, repeat_error
from metareview.effects.measures import measure_inputs
from metareview.errors import InputError

#: Default rows per chunk: large enough that per-chunk overheads vanish, small enough that a
#: chunk and the engine's work arrays take a few hundred MB at most.
CHUNK_ROWS = 1_000_000

INPUT_KINDS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
OUTPUT_KINDS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class BatchSummary:
    """What a batch run did.

    Attributes
    ----------
    analyses : int
        Analyses (groups) written to the output, one row each.
    rows : int
        Data rows (studies) read.
    failed : int
        Analyses that could not be fitted (NaN results, reason in ``status``).
    seconds : float
        Wall time of the run.
    output : Path
        The file written.
    """

    analyses: int
    rows: int
    failed: int
    seconds: float
    output: Path

    def line(self) -> str:
        """One line for the command line."""
        return (f"wrote {self.output}: {self.analyses:,} analyses ({self.failed:,} not fitted) "
                f"from {self.rows:,} rows in {self.seconds:.1f} s")


# ---- reading ----------------------------------------------------------------------------------
def _wanted(available: Sequence[str], group: str, measure: str, mods: Sequence[str],
            columns: dict[str, str], factors: Sequence[str] = ()) -> list[str]:
    """Columns to read: the key, the measure's inputs, moderators, random factors and study
    labels."""
    names = {group, *mods, *factors} | ({"study"} if measure != "GEN" else set())
    for option in measure_inputs(measure):
        names.update(columns.get(n, n) for n in option)
    return [c for c in available if c in names]


def _read_csv(path: Path, group: str, measure: str, mods: Sequence[str],
              columns: dict[str, str], chunk_rows: int,
              factors: Sequence[str]) -> tuple[int, Iterator[tuple]]:
    """CSV chunks with the file position after each (for a progress bar in bytes)."""
    try:
        header = pd.read_csv(path, nrows=0).columns
    except (pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read as CSV ({exc})") from exc
    if group not in header:
        raise InputError(f"{path}: missing column {group} (the analysis key)")
    usecols = _wanted(list(header), group, measure, mods, columns, factors)
    # Keys are labels: read as text so "007" stays "007" and every chunk agrees on type. Random
    # factors are parsed as R's read.csv would (007 is 7); the engine compares them as labels.
    text = {group: str}

    def chunks() -> Iterator[tuple[pd.DataFrame, int]]:
        with open(path, "rb") as fh:
            reader = pd.read_csv(fh, chunksize=chunk_rows, usecols=usecols, dtype=text)
            with reader:
                for chunk in reader:
                    yield chunk, fh.tell()

    return path.stat().st_size, chunks()


def _read_parquet(path: Path, group: str, measure: str, mods: Sequence[str],
                  columns: dict[str, str], chunk_rows: int,
                  factors: Sequence[str]) -> tuple[int, Iterator[tuple]]:
    """Parquet record batches as DataFrames, with the running row count."""
    import pyarrow.parquet as pq

    try:
        # pre_buffer would cache every column chunk read for the reader's lifetime (the whole
        # file by the end); a buffered stream also keeps a huge row group from being read whole.
        pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 22)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for a non-Parquet file
        raise InputError(f"{path}: cannot read as Parquet ({exc})") from exc
    names = pf.schema_arrow.names
    if group not in names:
        raise InputError(f"{path}: missing column {group} (the analysis key)")
    cols = _wanted(names, group, measure, mods, columns, factors)

    def chunks() -> Iterator[tuple[pd.DataFrame, int]]:
        done = 0
        with contextlib.closing(pf):
            for batch in pf.iter_batches(batch_size=chunk_rows, columns=cols):
                done += batch.num_rows
                yield batch.to_pandas(), done

    return pf.metadata.num_rows, chunks()


# ---- writing ----------------------------------------------------------------------------------
class _Sink:
    """Appends result frames to a CSV or Parquet file with the first frame's schema."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path, self.kind = path, kind
        self.schema: Any = None
        self.writer: Any = None

    def write(self, df: pd.DataFrame) -> None:
        import pyarrow as pa

        if self.schema is not None and list(df.columns) != self.schema.names:
            # A multilevel term whose parameters follow the levels present (HCS, UN, DIAG ...)
            # can name other components in another chunk.
            raise InputError(f"results of a later chunk have the columns {list(df.columns)}, "
                             f"the first had {self.schema.names}; give every analysis the same "
                             "levels of the inner factor, or larger chunks (chunk_rows)")
        if self.writer is None:
            table = pa.Table.from_pandas(df, preserve_index=False)
            self.schema = table.schema
            if self.kind == "parquet":
                import pyarrow.parquet as pq

                # Dictionary-encoding a column of distinct floats costs 5x the write time and
                # grows the file; only the status messages repeat.
                self.writer = pq.ParquetWriter(self.path, self.schema, use_dictionary=["status"])
            else:
                import pyarrow.csv as pcsv

                self.writer = pcsv.CSVWriter(self.path, self.schema)
        else:
            table = pa.Table.from_pandas(df, schema=self.schema, preserve_index=False)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


# ---- key bookkeeping --------------------------------------------------------------------------
class _SeenKeys:
    """64-bit hashes of every analysis already written, in one sorted array.

    Ten million analyses take 80 MB, where a Python set of their keys would take gigabytes.
    Integer keys hash without collisions (pandas' hash is a bijection on 64 bits); for text
    keys a collision, which would report a spurious repeat, has odds of about n^2 / 2^65.
    """

    def __init__(self) -> None:
        self.hashes = np.zeros(0, dtype=np.uint64)

    @staticmethod
    def hash(keys: pd.Index) -> np.ndarray:
        return pd.util.hash_pandas_object(keys, index=False).to_numpy()

    def first_seen(self, hashes: np.ndarray) -> int | None:
        """Position of the first of ``hashes`` already recorded, or None."""
        if len(self.hashes) == 0 or len(hashes) == 0:
            return None
        order = np.argsort(hashes, kind="stable")
        sorted_h = hashes[order]
        pos = np.searchsorted(self.hashes, sorted_h)  # sorted queries: cache-friendly
        pos[pos == len(self.hashes)] = 0
        hit = self.hashes[pos] == sorted_h
        return int(order[hit].min()) if hit.any() else None

    def add(self, hashes: np.ndarray) -> None:
        merged = np.concatenate((self.hashes, np.sort(hashes)))
        merged.sort(kind="stable")  # two sorted runs: timsort merges them in linear time
        self.hashes = merged


# ---- the run ----------------------------------------------------------------------------------
def _workers(client: Any) -> int:
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # pragma: no cover - an unusual client; still bounded
        return 1


def run_batch(
    input_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    group: str,
    measure: str = "GEN",
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    mods: Sequence[str] = (),
    chunk_rows: int = CHUNK_ROWS,
    client: Any = None,
    progress: bool = True,
    random: str | Sequence[str] | None = None,
    struct: str | Sequence[str] = "CS",
    **columns: str,
) -> BatchSummary:
    """Fit one meta-analysis per analysis key of a long-format file, streaming.

    Parameters
    ----------
    input_path : path
        ``.csv`` or ``.parquet``: one row per study, a column (``group``) naming its analysis.
        Each analysis's rows must be contiguous.
    out_path : path
        ``.csv`` or ``.parquet``: one row per analysis, as :func:`~metareview.batch.fit_frame`
        (or, with ``random``, :func:`~metareview.batch.multilevel.fit_mv_runs`), in input order.
    group : str
        Column holding the analysis key. CSV keys are read as text.
    measure, method, test, level, mods
        As :func:`~metareview.batch.fit_frame`.
    chunk_rows : int
        Rows read per chunk; memory grows with it, per-chunk overhead shrinks.
    client : dask.distributed.Client, optional
        Fit the chunks on this Dask cluster instead of in this process. At most twice as many
        chunks as the cluster has threads are in flight, and results are written in input
        order, so the output is identical to a local run.
    progress : bool
        Show a progress bar on stderr (bytes for CSV, rows for Parquet).
    random : str or list of str, optional
        Random-effects formulas (``"~ 1 | study/es"``): fit each analysis as a multilevel model
        (metafor's ``rma.mv``; :func:`~metareview.models.multilevel.fit_mv_groups`) instead of
        ``rma``. Needs measure GEN, method REML or ML and test z; the columns the formulas name
        are read too.
    struct : str or list of str
        Structure of ``~ inner | outer`` terms (``CS, HCS, UN, AR, ID, DIAG``).
    **columns : str
        metafor argument name to column name, e.g. ``yi="effect"``.

    Returns
    -------
    BatchSummary

    Raises
    ------
    InputError
        For an unreadable file, an unknown extension or option, bad cells, or an analysis
        whose rows are not contiguous; the message names the file, row and column. The output
        file is then not created (nor an existing one replaced).
    """
    t0 = time.perf_counter()
    src, dst = Path(input_path), Path(out_path)
    measure, method, test = check_options(measure, method, test, level)
    mods = tuple(mods)
    if chunk_rows < 1:
        raise InputError(f"chunk_rows must be positive (got {chunk_rows})")
    in_kind = INPUT_KINDS.get(src.suffix.lower())
    if in_kind is None:
        raise InputError(f"{src}: unknown input type {src.suffix!r}; use .csv or .parquet")
    out_kind = OUTPUT_KINDS.get(dst.suffix.lower())
    if out_kind is None:
        raise InputError(f"{dst}: unknown output type {dst.suffix!r}; use .csv or .parquet")
    if not src.is_file():
        raise InputError(f"{src}: no such file")
    if dst.exists() and dst.resolve() == src.resolve():
        raise InputError(f"{dst}: the output would overwrite the input")
    if not dst.parent.is_dir():
        raise InputError(f"{dst}: the folder {dst.parent} does not exist")

    # The random factors' columns are read if present; fit_mv_runs reports a missing one on the
    # first chunk, before anything is written.
    factors: list[str] = []
    if random is not None:
        from metareview.batch.multilevel import check_mv_options, random_columns, random_list

        check_mv_options(measure, method, test)
        random = random_list(random)
        factors = list(random_columns(random))
    reader = _read_csv if in_kind == "csv" else _read_parquet
    total, chunks = reader(src, group, measure, mods, columns, chunk_rows, factors)
    source = str(src)
    # The runs are known by the time a chunk is fitted, so both kinds take them rather than
    # finding them again.
    fit: Any
    if random is None:
        fit = fit_runs
        model: dict[str, Any] = dict(measure=measure, test=test)
    else:
        from metareview.batch.multilevel import fit_mv_runs

        fit = fit_mv_runs
        model = dict(random=random, struct=struct)
    options = dict(group=group, method=method, level=level, mods=mods, source=source, **model,
                   **columns)

    # The writer creates the file itself, so it gets the user's usual permissions (mkstemp's
    # would be 0600).
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:12]}.part")
    sink = _Sink(tmp, out_kind)
    seen = _SeenKeys()
    counts = {"analyses": 0, "failed": 0}
    inflight: deque = deque()
    limit = 2 * _workers(client) if client is not None else 0

    def write(out: pd.DataFrame) -> None:
        sink.write(out)
        counts["analyses"] += len(out)
        counts["failed"] += int((out["status"] != "").sum())

    def dispatch(body: pd.DataFrame, first_row: int, starts: np.ndarray,
                 uniques: pd.Index) -> None:
        if client is None:
            write(fit(body, starts, uniques, first_row=first_row, **options))
            return
        data = client.scatter(body, hash=False)
        inflight.append((data, client.submit(fit, data, starts, uniques, first_row=first_row,
                                             pure=False, **options)))
        while len(inflight) >= limit:
            _, fut = inflight.popleft()
            write(fut.result())

    rows = 0
    carry: pd.DataFrame | None = None
    carry_row = 2
    try:
        with _progress(progress, total, bytes_=in_kind == "csv") as advance:
            for chunk, done, last in _with_last(chunks):
                start_row = 2 + rows
                rows += len(chunk)
                if carry is not None:
                    chunk = pd.concat([carry, chunk], ignore_index=True)
                    start_row = carry_row
                if len(chunk) == 0:
                    continue
                keys = chunk[group]
                starts, uniques, repeat = group_runs(keys, source=source, first_row=start_row)
                _check_repeats(keys, starts, uniques, repeat, seen, group, source, start_row)
                # Hold back the last analysis: its rows may continue in the next chunk (the
                # last chunk is fitted whole, so nothing is left over at the end).
                cut = len(chunk) if last else int(starts[-1])
                carry, carry_row = chunk.iloc[cut:], start_row + cut
                if cut > 0:
                    n_runs = len(starts) if last else len(starts) - 1
                    if not last:
                        seen.add(seen.hash(uniques[:-1]))
                    dispatch(chunk.iloc[:cut], start_row, starts[:n_runs], uniques[:n_runs])
                advance(done)
            while inflight:
                _, fut = inflight.popleft()
                write(fut.result())
        if rows == 0:
            raise InputError(f"{source}: no studies (the file has no data rows)")
        sink.close()
        os.replace(tmp, dst)
    except BaseException:
        for data, fut in inflight:
            fut.cancel()
            data.cancel()
        with contextlib.suppress(Exception):
            sink.close()
        tmp.unlink(missing_ok=True)
        raise
    return BatchSummary(analyses=counts["analyses"], rows=rows, failed=counts["failed"],
                        seconds=time.perf_counter() - t0, output=dst)


def _check_repeats(keys: pd.Series, starts: np.ndarray, uniques: pd.Index, repeat: np.ndarray,
                   seen: _SeenKeys, group: str, source: str, first_row: int) -> None:
    """Fail at the first row whose analysis already ended, in this chunk or an earlier one."""
    rows: list[tuple[int, int | None]] = []  # (position in chunk, earlier row if known)
    if len(repeat):
        i = int(starts[repeat[0]])
        key = keys.iloc[i]
        ended = int(np.flatnonzero((keys.iloc[:i] == key).to_numpy())[-1])
        rows.append((i, first_row + ended))
    u = seen.first_seen(seen.hash(uniques))
    if u is not None:
        # The u-th new key starts at the u-th run that is not a repeat.
        is_new = np.ones(len(starts), dtype=bool)
        is_new[repeat] = False
        rows.append((int(starts[np.flatnonzero(is_new)[u]]), None))
    if rows:
        i, ended = min(rows)
        raise repeat_error(keys.iloc[i], first_row + i, group, source, ended)


def _with_last(items: Iterator[tuple]) -> Iterator[tuple]:
    """Yield each item with a flag telling whether it is the last (one item of look-ahead)."""
    it = iter(items)
    try:
        prev = next(it)
    except StopIteration:
        return
    for item in it:
        yield (*prev, False)
        prev = item
    yield (*prev, True)


@contextlib.contextmanager
def _progress(show: bool, total: int, *, bytes_: bool) -> Iterator[Any]:
    """A rich progress bar on stderr; yields ``advance(done)`` taking the running total."""
    if not show:
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    count = DownloadColumn() if bytes_ else MofNCompleteColumn()
    bar = Progress(TextColumn("fitting"), BarColumn(), count, TimeElapsedColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True))
    with bar:
        task = bar.add_task("fitting", total=total)
        yield lambda done: bar.update(task, completed=done)


__all__ = ["CHUNK_ROWS", "BatchSummary", "run_batch"]
