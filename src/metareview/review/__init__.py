"""A review project kept as data: protocol, studies, outcomes (schemas and loading)."""

from metareview.review.load import Review, load_csv, load_review, load_yaml
from metareview.review.schema import (
    WINDOWS,
    ArmRow,
    OutcomeRow,
    PlaceboResponseRow,
    Protocol,
    Study,
)

__all__ = [
    "WINDOWS",
    "ArmRow",
    "OutcomeRow",
    "PlaceboResponseRow",
    "Protocol",
    "Review",
    "Study",
    "load_csv",
    "load_review",
    "load_yaml",
]
