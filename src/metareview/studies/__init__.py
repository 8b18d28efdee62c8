"""The studies layer: a review's protocol, studies, arms and extracted outcome data.

:class:`ReviewData` is one review's study data, typed and cross-checked; a review folder (YAML
and CSV, every number with its source) is its portable form (:func:`load_folder`,
:func:`write_folder`), and a project database holds the same data for a team.
"""

from typing import TYPE_CHECKING

from metareview._util.lazy import lazy_exports

if TYPE_CHECKING:
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

# Imported on first use (metareview._util.lazy): the CLI starts without numpy's stack.
__getattr__, __dir__ = lazy_exports(__name__, {
    "metareview.studies.folder": (
        "DATA_FILES", "ReviewData", "check_documents", "check_review", "load_csv", "load_folder",
        "load_yaml", "write_folder",
    ),
    "metareview.studies.schema": (
        "VOCABULARY_FIELDS", "ArmRow", "JudgementRow", "OutcomeRow", "PlaceboResponseRow",
        "Protocol", "Study",
    ),
})

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
