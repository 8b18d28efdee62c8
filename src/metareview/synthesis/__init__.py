"""Synthesis across studies and reviews: the layer between the models and GRADE/reports.

- :func:`reconcile_single_arm` sets an uncontrolled (single-arm) responder proportion against
  the pooled control arms of randomised trials and lists the design differences that can
  explain why the two disagree.
- :func:`corrected_covered_area` measures the overlap of primary studies between systematic
  reviews (Pieper et al. 2014).
- :func:`evidence_map` lays studies out on a grid (e.g. pain type x route x regimen against
  time window) with counts, participants and GRADE certainty per cell.
"""

from metareview.synthesis.evidence_map import (
    CERTAINTIES,
    DIRECTIONS,
    GRADE_SYMBOLS,
    UNCLEAR,
    WINDOWS,
    EvidenceCell,
    EvidenceMap,
    evidence_map,
)
from metareview.synthesis.overlap import Overlap, corrected_covered_area
from metareview.synthesis.reconcile import (
    ANALYSED,
    FACTORS,
    ArmProportion,
    Comparison,
    ControlArm,
    Explanation,
    PooledControl,
    Reconciliation,
    ReportedProportion,
    SingleArmResult,
    clopper_pearson,
    mover_difference,
    reconcile_single_arm,
)

__all__ = [
    "ANALYSED",
    "CERTAINTIES",
    "DIRECTIONS",
    "FACTORS",
    "GRADE_SYMBOLS",
    "UNCLEAR",
    "WINDOWS",
    "ArmProportion",
    "Comparison",
    "ControlArm",
    "EvidenceCell",
    "EvidenceMap",
    "Explanation",
    "Overlap",
    "PooledControl",
    "Reconciliation",
    "ReportedProportion",
    "SingleArmResult",
    "clopper_pearson",
    "corrected_covered_area",
    "evidence_map",
    "mover_difference",
    "reconcile_single_arm",
]
