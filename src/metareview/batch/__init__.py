"""Many meta-analyses at once: long-format tables in, one result row per analysis out."""

from metareview.batch.diagnostics import cumulative_many, leave_one_out_many
from metareview.batch.frame import fit_frame
from metareview.batch.resampling import (
    Bootstrap,
    Gosh,
    PermutationTest,
    bootstrap,
    gosh,
    permutest,
)
from metareview.batch.stream import BatchSummary, run_batch

__all__ = [
    "BatchSummary",
    "Bootstrap",
    "Gosh",
    "PermutationTest",
    "bootstrap",
    "cumulative_many",
    "fit_frame",
    "gosh",
    "leave_one_out_many",
    "permutest",
    "run_batch",
]
