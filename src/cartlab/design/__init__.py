"""Trial design: dose-finding rules, safety monitoring and their operating characteristics.

Pure workflow layer: outcomes and probabilities in, decisions and tables out; the CLI formats them.
"""

from ._crm import CRMDecision as CRMDecision
from ._crm import CRMPosterior as CRMPosterior
from ._crm import crm_next_dose as crm_next_dose
from ._crm import crm_posterior as crm_posterior
from ._crm import crm_skeleton as crm_skeleton
from ._boin import BoinBoundaries as BoinBoundaries
from ._boin import boin_boundaries as boin_boundaries
from ._boin import boin_next_decision as boin_next_decision
from ._boin import boin_select_mtd as boin_select_mtd
from ._boin12 import Boin12Design as Boin12Design
from ._boin12 import boin12_design as boin12_design
from ._boin12 import boin12_next_decision as boin12_next_decision
from ._boin12 import boin12_select_obd as boin12_select_obd
from ._boin12 import tally_outcomes12 as tally_outcomes12
from ._monitor import StoppingBoundaries as StoppingBoundaries
from ._monitor import posterior_prob_exceeds as posterior_prob_exceeds
from ._monitor import stopping_boundaries as stopping_boundaries
from ._mtpi2 import DecisionTable as DecisionTable
from ._mtpi2 import IntervalDecision as IntervalDecision
from ._mtpi2 import decision_table as decision_table
from ._mtpi2 import keyboard_decision as keyboard_decision
from ._mtpi2 import mtpi2_decision as mtpi2_decision
from ._oc import DESIGNS as DESIGNS
from ._oc import OperatingCharacteristics as OperatingCharacteristics
from ._oc import simulate_oc as simulate_oc
from ._outcomes import Cohort as Cohort
from ._plots import plot_oc as plot_oc
from ._outcomes import Cohort12 as Cohort12
from ._outcomes import Decision as Decision
from ._outcomes import parse_outcomes as parse_outcomes
from ._outcomes import parse_outcomes12 as parse_outcomes12
from ._outcomes import tally_outcomes as tally_outcomes
from ._threeplus3 import threeplus3_mtd as threeplus3_mtd
from ._threeplus3 import threeplus3_next_decision as threeplus3_next_decision

__all__ = [
    "DESIGNS", "BoinBoundaries", "Cohort", "Decision", "OperatingCharacteristics", "boin_boundaries",
    "boin_next_decision", "boin_select_mtd", "parse_outcomes", "simulate_oc", "tally_outcomes", "threeplus3_mtd",
    "threeplus3_next_decision",
    "CRMDecision", "CRMPosterior", "DecisionTable", "IntervalDecision", "StoppingBoundaries", "crm_next_dose",
    "crm_posterior", "crm_skeleton", "decision_table", "keyboard_decision", "mtpi2_decision",
    "posterior_prob_exceeds", "stopping_boundaries",
    "Boin12Design", "Cohort12", "boin12_design", "boin12_next_decision", "boin12_select_obd", "parse_outcomes12",
    "tally_outcomes12", "plot_oc",
]
