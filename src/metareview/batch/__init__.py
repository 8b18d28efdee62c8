"""Many meta-analyses at once: long-format tables in, one result row per analysis out."""

from typing import TYPE_CHECKING

from metareview._util.lazy import lazy_exports

if TYPE_CHECKING:
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

# Imported on first use (metareview._util.lazy): the CLI starts without numpy's stack.
__getattr__, __dir__ = lazy_exports(__name__, {
    "metareview.batch.diagnostics": ("cumulative_many", "leave_one_out_many"),
    "metareview.batch.frame": ("fit_frame",),
    "metareview.batch.resampling": (
        "Bootstrap", "Gosh", "PermutationTest", "bootstrap", "gosh", "permutest",
    ),
    "metareview.batch.stream": ("BatchSummary", "run_batch"),
})

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
