"""Risk-of-bias and quality appraisal instruments.

Each instrument turns component, domain or item judgements into its published overall rating:

- :func:`ephpp_rating` - EPHPP Quality Assessment Tool for Quantitative Studies (Thomas et al.
  2004), with component rules :func:`ephpp_design_rating`, :func:`ephpp_withdrawal_rating`,
  :func:`ephpp_confounder_rating`;
- :func:`health_evidence_rating` - Health Evidence Quality Assessment Tool for review articles;
- :func:`rob2_overall` - RoB 2 for randomised trials (Sterne et al. 2019), domain level;
- :func:`robins_i_overall` - ROBINS-I for non-randomised studies (Sterne et al. 2016);
- :func:`amstar2_rating` - AMSTAR 2 for systematic reviews (Shea et al. 2017);
- :func:`nhmrc_level` - NHMRC (2009) levels of evidence for intervention questions.

:func:`risk_of_bias_category` maps any of these ratings onto one scale ("low", "some concerns",
"high") for GRADE; the mapping is this project's convention (see
:mod:`metareview.appraisal.common`).
"""

from metareview.appraisal.amstar2 import Amstar2Assessment, amstar2_rating
from metareview.appraisal.common import ROB_MAPPING, Domain, RobCategory, risk_of_bias_category
from metareview.appraisal.ephpp import (
    EphppAssessment,
    ephpp_confounder_rating,
    ephpp_design_rating,
    ephpp_rating,
    ephpp_withdrawal_rating,
)
from metareview.appraisal.health_evidence import (
    HealthEvidenceAssessment,
    health_evidence_rating,
)
from metareview.appraisal.nhmrc import LEVELS as NHMRC_LEVELS
from metareview.appraisal.nhmrc import NhmrcLevel, nhmrc_level, nhmrc_rank, nhmrc_worst
from metareview.appraisal.rob2 import Rob2Assessment, rob2_overall
from metareview.appraisal.robins_i import RobinsIAssessment, robins_i_overall

__all__ = [
    "NHMRC_LEVELS",
    "ROB_MAPPING",
    "Amstar2Assessment",
    "Domain",
    "EphppAssessment",
    "HealthEvidenceAssessment",
    "NhmrcLevel",
    "Rob2Assessment",
    "RobCategory",
    "RobinsIAssessment",
    "amstar2_rating",
    "ephpp_confounder_rating",
    "ephpp_design_rating",
    "ephpp_rating",
    "ephpp_withdrawal_rating",
    "health_evidence_rating",
    "nhmrc_level",
    "nhmrc_rank",
    "nhmrc_worst",
    "risk_of_bias_category",
    "rob2_overall",
    "robins_i_overall",
]
