"""Calibration of the virtual population to the seed trials: targets as data, validation, ABC-SMC."""

from ._fit import DEFAULT_PRIORS as DEFAULT_PRIORS
from ._fit import CalibrationResult as CalibrationResult
from ._fit import Prior as Prior
from ._fit import calibrate as calibrate
from ._fit import distance as distance
from ._metrics import trial_metrics as trial_metrics
from ._paramset import ParameterSet as ParameterSet
from ._paramset import load_parameter_set as load_parameter_set
from ._targets import COMPUTED as COMPUTED
from ._targets import METRICS as METRICS
from ._targets import Target as Target
from ._targets import TargetSet as TargetSet
from ._targets import default_targets_path as default_targets_path
from ._targets import load_targets as load_targets
from ._validate import TRAJECTORIES as TRAJECTORIES
from ._validate import ValidationResult as ValidationResult
from ._validate import arm_sizes as arm_sizes
from ._validate import resized as resized
from ._validate import simulate_targets as simulate_targets
from ._validate import validate_model as validate_model
from ._validate import with_parameters as with_parameters

__all__ = ["COMPUTED", "DEFAULT_PRIORS", "METRICS", "CalibrationResult", "ParameterSet", "Prior", "TRAJECTORIES", "calibrate",
           "distance", "load_parameter_set", "Target", "TargetSet", "ValidationResult", "arm_sizes", "default_targets_path",
           "load_targets", "resized", "simulate_targets", "trial_metrics", "validate_model", "with_parameters"]
