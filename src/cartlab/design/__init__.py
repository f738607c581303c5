"""Trial design: dose-finding rules, safety monitoring and their operating characteristics.

Pure workflow layer: outcomes and probabilities in, decisions and tables out; the CLI formats them.
"""

from ._crm import CRMDecision as CRMDecision
from ._crm import CRMPosterior as CRMPosterior
from ._crm import crm_next_dose as crm_next_dose
from ._crm import crm_posterior as crm_posterior
from ._crm import crm_skeleton as crm_skeleton
from ._monitor import StoppingBoundaries as StoppingBoundaries
from ._monitor import posterior_prob_exceeds as posterior_prob_exceeds
from ._monitor import stopping_boundaries as stopping_boundaries
from ._mtpi2 import DecisionTable as DecisionTable
from ._mtpi2 import IntervalDecision as IntervalDecision
from ._mtpi2 import decision_table as decision_table
from ._mtpi2 import keyboard_decision as keyboard_decision
from ._mtpi2 import mtpi2_decision as mtpi2_decision

__all__ = [
    "CRMDecision", "CRMPosterior", "DecisionTable", "IntervalDecision", "StoppingBoundaries", "crm_next_dose",
    "crm_posterior", "crm_skeleton", "decision_table", "keyboard_decision", "mtpi2_decision",
    "posterior_prob_exceeds", "stopping_boundaries",
]
