"""The studies layer: a review's protocol, studies, arms and extracted outcome data.

:class:`ReviewData` is one review's study data, typed and cross-checked; a review folder (YAML
and CSV, every number with its source) is its portable form (:func:`load_folder`,
:func:`write_folder`), and a project database holds the same data for a team.
"""

from metareview.studies.folder import (
    DATA_FILES,
    ReviewData,
    check_documents,
    check_review,
    load_csv,
    load_folder,
    load_yaml,
    write_folder,
)
from metareview.studies.schema import (
    VOCABULARY_FIELDS,
    ArmRow,
    JudgementRow,
    OutcomeRow,
    PlaceboResponseRow,
    Protocol,
    Study,
)

__all__ = [
    "DATA_FILES",
    "VOCABULARY_FIELDS",
    "ArmRow",
    "JudgementRow",
    "OutcomeRow",
    "PlaceboResponseRow",
    "Protocol",
    "ReviewData",
    "Study",
    "check_documents",
    "check_review",
    "load_csv",
    "load_folder",
    "load_yaml",
    "write_folder",
]
