"""Records: import formats, normalisation, de-duplication, export."""

from metareview.records.model import LABELS, ImportBatch, Record

__all__ = ["LABELS", "ImportBatch", "Record"]
