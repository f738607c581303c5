"""Trial protocols: TOML files validated into frozen specifications.

Read a protocol with :func:`load_protocol` (``resolve_protocol`` also accepts the name of a
shipped protocol such as ``"breakfree1-sle"``); every mistake in a file is reported as one
:class:`~cartlab._core.errors.SpecError` naming the file, key, value and what was expected.

Examples
--------
>>> from cartlab.protocol import load_protocol, resolve_protocol
>>> protocol = load_protocol(resolve_protocol("reset-myositis"))
>>> protocol.trial.indication, protocol.n_total, protocol.endpoints.primary_day
('IIM', 6, 112)
"""

from .load import (
    ShippedProtocol as ShippedProtocol,
    format_validation_error as format_validation_error,
    load_protocol as load_protocol,
    load_protocol_bytes as load_protocol_bytes,
    resolve_protocol as resolve_protocol,
    shipped_protocols as shipped_protocols,
)
from .spec import (
    ELIGIBILITY_VARIABLES as ELIGIBILITY_VARIABLES,
    LYMPHODEPLETION_DRUGS as LYMPHODEPLETION_DRUGS,
    PRIMARY_ENDPOINTS as PRIMARY_ENDPOINTS,
    PARAMETER_SET_DIR as PARAMETER_SET_DIR,
    Arm as Arm,
    Criterion as Criterion,
    calibrated_parameter_set as calibrated_parameter_set,
    reported_fraction as reported_fraction,
    Dose as Dose,
    Eligibility as Eligibility,
    Endpoints as Endpoints,
    EscalationDesign as EscalationDesign,
    Immunosuppression as Immunosuppression,
    LymphodepletionAgent as LymphodepletionAgent,
    Population as Population,
    Product as Product,
    Protocol as Protocol,
    ReportedResult as ReportedResult,
    Rescue as Rescue,
    SafetyWindow as SafetyWindow,
    Schedule as Schedule,
    SiteAssumptions as SiteAssumptions,
    Trial as Trial,
)

__all__ = [
    "ELIGIBILITY_VARIABLES",
    "LYMPHODEPLETION_DRUGS",
    "PRIMARY_ENDPOINTS",
    "PARAMETER_SET_DIR",
    "Arm",
    "calibrated_parameter_set",
    "reported_fraction",
    "Criterion",
    "Dose",
    "Eligibility",
    "Endpoints",
    "EscalationDesign",
    "Immunosuppression",
    "LymphodepletionAgent",
    "Population",
    "Product",
    "Protocol",
    "ReportedResult",
    "Rescue",
    "SafetyWindow",
    "Schedule",
    "ShippedProtocol",
    "SiteAssumptions",
    "Trial",
    "format_validation_error",
    "load_protocol",
    "load_protocol_bytes",
    "resolve_protocol",
    "shipped_protocols",
]
