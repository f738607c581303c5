"""ADaM derivations and summary tables by dose level (admiral-like verbs over polars; pure).

``derive_adam`` builds ADSL, ADAE, ADLB, ADEFF, ADPC and ADTTE from a trial's SDTM domains,
simulated or ingested alike; grades and scores come from :mod:`cartlab.instruments`. The table
builders (``safety_table`` …) summarise them by dose level.
"""

from ._adae import ADAE_LABELS as ADAE_LABELS
from ._adae import derive_adae as derive_adae
from ._adam import LABELS as LABELS
from ._adam import AdamDatasets as AdamDatasets
from ._adam import derive_adam as derive_adam
from ._adeff import ADEFF_LABELS as ADEFF_LABELS
from ._adeff import EFFICACY_PARAMS as EFFICACY_PARAMS
from ._adeff import derive_adeff as derive_adeff
from ._adeff import prednisolone_dose as prednisolone_dose
from ._adlb import ADLB_LABELS as ADLB_LABELS
from ._adlb import CYTOPENIA_PARAMS as CYTOPENIA_PARAMS
from ._adlb import derive_adlb as derive_adlb
from ._adlb import derive_param_cytopenia as derive_param_cytopenia
from ._adpc import ADPC_LABELS as ADPC_LABELS
from ._adpc import derive_adpc as derive_adpc
from ._adsl import ADSL_LABELS as ADSL_LABELS
from ._adsl import derive_adsl as derive_adsl
from ._adtte import ADTTE_LABELS as ADTTE_LABELS
from ._adtte import TTE_PARAMS as TTE_PARAMS
from ._adtte import derive_adtte as derive_adtte
from ._common import clopper_pearson as clopper_pearson
from ._common import day_from_infusion as day_from_infusion
from ._common import km_median as km_median
from ._tables import SummaryTable as SummaryTable
from ._tables import bcell_table as bcell_table
from ._tables import deviation_table as deviation_table
from ._tables import disposition_table as disposition_table
from ._tables import efficacy_table as efficacy_table
from ._tables import fmt_pct as fmt_pct
from ._tables import safety_table as safety_table
from ._tables import treated_arms as treated_arms

__all__ = [
    "ADAE_LABELS", "ADEFF_LABELS", "ADLB_LABELS", "ADPC_LABELS", "ADSL_LABELS", "ADTTE_LABELS",
    "CYTOPENIA_PARAMS", "EFFICACY_PARAMS", "LABELS", "TTE_PARAMS", "AdamDatasets", "SummaryTable",
    "bcell_table", "clopper_pearson", "day_from_infusion", "derive_adae", "derive_adam", "derive_adeff",
    "derive_adlb", "derive_adpc", "derive_adsl", "derive_adtte", "derive_param_cytopenia", "deviation_table",
    "disposition_table",
    "efficacy_table", "fmt_pct", "km_median", "prednisolone_dose", "safety_table", "treated_arms",
]
