"""Clinical instruments: validated scores and toxicity grades (INSTRUMENTS.md).

Every instrument is a pure, vectorised function registered with its version and citation
(:func:`registry`); importing this package registers all of them.
"""

from ._cart_toxicity import Episode as Episode
from ._cart_toxicity import grade_crs_astct as grade_crs_astct
from ._cart_toxicity import grade_icans_astct as grade_icans_astct
from ._cart_toxicity import ice_score as ice_score
from ._cart_toxicity import toxicity_episodes as toxicity_episodes
from ._ctcae import CRITERIA_V5_0 as CRITERIA_V5_0
from ._ctcae import ctcae_criteria as ctcae_criteria
from ._ctcae import grade_ctcae as grade_ctcae
from ._derive import HAQ_TESTCD as HAQ_TESTCD
from ._derive import SLEDAI2K_TESTCD as SLEDAI2K_TESTCD
from ._derive import derive_haq_di as derive_haq_di
from ._derive import derive_sledai2k as derive_sledai2k
from ._derive_scores import MMT8_TESTCD as MMT8_TESTCD
from ._derive_scores import MRSS_TESTCD as MRSS_TESTCD
from ._derive_scores import derive_criss as derive_criss
from ._derive_scores import derive_mmt8 as derive_mmt8
from ._derive_scores import derive_mrss as derive_mrss
from ._derive_scores import derive_tis as derive_tis
from ._derive_tox import derive_crs_astct as derive_crs_astct
from ._derive_tox import derive_ctcae_haem as derive_ctcae_haem
from ._derive_tox import derive_icaht_early as derive_icaht_early
from ._derive_tox import derive_icaht_late as derive_icaht_late
from ._derive_tox import derive_icans_astct as derive_icans_astct
from ._gli import FVC_EQUATIONS as FVC_EQUATIONS
from ._gli import FvcReference as FvcReference
from ._gli import compute_fvc_reference as compute_fvc_reference
from ._icaht import icaht_early as icaht_early
from ._icaht import icaht_late as icaht_late
from ._icaht import neutropenia_duration as neutropenia_duration
from ._iim import TisResult as TisResult
from ._iim import classify_tis as classify_tis
from ._iim import compute_mmt8 as compute_mmt8
from ._iim import compute_tis as compute_tis
from ._iim import tis_measure_points as tis_measure_points
from ._registry import Input as Input
from ._registry import Instrument as Instrument
from ._registry import get as get
from ._registry import instrument as instrument
from ._registry import registry as registry
from ._ssc import HAQ_ITEMS as HAQ_ITEMS
from ._ssc import MRSS_SITES as MRSS_SITES
from ._ssc import CrissResult as CrissResult
from ._ssc import compute_criss as compute_criss
from ._ssc import compute_haq_di as compute_haq_di
from ._ssc import compute_haq_di_no_aids as compute_haq_di_no_aids
from ._ssc import compute_mrss as compute_mrss
from ._sle import BLISS_LN_CRR as BLISS_LN_CRR
from ._sle import BLISS_LN_PERR as BLISS_LN_PERR
from ._sle import KDIGO_2024_COMPLETE as KDIGO_2024_COMPLETE
from ._sle import KDIGO_2024_PARTIAL as KDIGO_2024_PARTIAL
from ._sle import SLEDAI2K_DESCRIPTORS as SLEDAI2K_DESCRIPTORS
from ._sle import SLEDAI2K_WEIGHTS as SLEDAI2K_WEIGHTS
from ._sle import RenalResponseRule as RenalResponseRule
from ._sle import compute_csledai as compute_csledai
from ._sle import compute_doris_remission as compute_doris_remission
from ._sle import compute_doris_remission_off_therapy as compute_doris_remission_off_therapy
from ._sle import compute_egfr_ckd_epi_2021 as compute_egfr_ckd_epi_2021
from ._sle import compute_lldas as compute_lldas
from ._sle import compute_sledai2k as compute_sledai2k
from ._sle import compute_sri as compute_sri
from ._sle import sledai2k_from_days_since as sledai2k_from_days_since
from ._sle import validate_pga as validate_pga

__all__ = [
    "MMT8_TESTCD", "MRSS_TESTCD", "derive_criss", "derive_mmt8", "derive_mrss", "derive_tis",
    "derive_crs_astct", "derive_ctcae_haem", "derive_icaht_early", "derive_icaht_late", "derive_icans_astct",
    "CRITERIA_V5_0", "Episode", "HAQ_TESTCD", "SLEDAI2K_TESTCD", "ctcae_criteria", "derive_haq_di", "derive_sledai2k",
    "grade_crs_astct", "grade_ctcae", "grade_icans_astct", "icaht_early", "icaht_late", "ice_score",
    "neutropenia_duration", "toxicity_episodes",
    "BLISS_LN_CRR", "BLISS_LN_PERR", "KDIGO_2024_COMPLETE", "KDIGO_2024_PARTIAL", "SLEDAI2K_DESCRIPTORS",
    "SLEDAI2K_WEIGHTS", "RenalResponseRule", "compute_csledai", "compute_doris_remission",
    "compute_doris_remission_off_therapy", "compute_egfr_ckd_epi_2021", "compute_lldas", "compute_sledai2k",
    "compute_sri", "sledai2k_from_days_since", "validate_pga",
    "FVC_EQUATIONS", "HAQ_ITEMS", "MRSS_SITES", "CrissResult", "FvcReference", "Input", "Instrument", "TisResult",
    "classify_tis", "compute_criss", "compute_fvc_reference", "compute_haq_di", "compute_haq_di_no_aids",
    "compute_mmt8", "compute_mrss", "compute_tis", "get", "instrument", "registry", "tis_measure_points",
]
