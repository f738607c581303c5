"""The virtual-patient model: declarative definition, generated compiled kernel, virtual population."""

from ._codegen import OUTPUTS as OUTPUTS
from ._codegen import generate_source as generate_source
from ._codegen import load_kernel as load_kernel
from ._dsl import Helper as Helper
from ._dsl import Module as Module
from ._dsl import ModelSpec as ModelSpec
from ._dsl import Parameter as Parameter
from ._dsl import State as State
from ._dsl import assemble as assemble
from ._model import INDICATIONS as INDICATIONS
from ._model import SolveStatus as SolveStatus
from ._model import build_model as build_model
from ._model import parameter_names as parameter_names
from ._model import parameter_table as parameter_table
from ._model import read_parameter_values as read_parameter_values

__all__ = [
    "INDICATIONS",
    "OUTPUTS",
    "Helper",
    "ModelSpec",
    "Module",
    "Parameter",
    "SolveStatus",
    "State",
    "assemble",
    "build_model",
    "generate_source",
    "load_kernel",
    "parameter_names",
    "parameter_table",
    "read_parameter_values",
]

from ._simulate import PatientInputs as PatientInputs  # noqa: E402
from ._simulate import Regimen as Regimen  # noqa: E402
from ._simulate import SimulationResult as SimulationResult  # noqa: E402
from ._simulate import SolverOptions as SolverOptions  # noqa: E402
from ._simulate import build_stops as build_stops  # noqa: E402
from ._simulate import simulate as simulate  # noqa: E402

__all__ += ["PatientInputs", "Regimen", "SimulationResult", "SolverOptions", "build_stops", "simulate"]

from ._population import MMT8_GROUPS as MMT8_GROUPS  # noqa: E402
from ._population import MRSS_SITES as MRSS_SITES  # noqa: E402
from ._population import SLEDAI_DESCRIPTORS as SLEDAI_DESCRIPTORS  # noqa: E402
from ._population import sample_patient as sample_patient  # noqa: E402

__all__ += ["MMT8_GROUPS", "MRSS_SITES", "SLEDAI_DESCRIPTORS", "sample_patient"]

from ._reference import simulate_reference as simulate_reference  # noqa: E402

__all__ += ["simulate_reference"]
