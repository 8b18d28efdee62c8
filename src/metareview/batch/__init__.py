"""Many meta-analyses at once: long-format tables in, one result row per analysis out."""

from metareview.batch.frame import fit_frame
from metareview.batch.stream import BatchSummary, run_batch

__all__ = ["BatchSummary", "fit_frame", "run_batch"]
