"""Data validation and protocol compliance over SDTM tables (pure: polars frames in, findings out).

- :func:`validate_sdtm` checks a trial's SDTM domains before they are loaded (required variables,
  types, keys, controlled terms, subjects in DM, ISO 8601 dates, units and plausible values) and
  converts them to the store's types; each finding names severity, domain, file, row, variable,
  value, rule and a fix.
- :func:`check_compliance` evaluates a protocol's rules (eligibility, the pre-infusion safety
  window, lymphodepletion timing, immunosuppressant withdrawal, visit windows) against the
  SDTM tables of a trial store, simulated or real, and lists the deviations.
"""

from ._dates import IMPUTATION_RULE as IMPUTATION_RULE
from ._dates import parse_dtc as parse_dtc
from ._findings import FINDINGS_SCHEMA as FINDINGS_SCHEMA
from ._findings import SEVERITIES as SEVERITIES
from ._findings import findings_frame as findings_frame
from ._findings import format_findings as format_findings
from ._protocol_rules import CONFIRMATION_TERMS as CONFIRMATION_TERMS
from ._protocol_rules import DEVIATIONS_SCHEMA as DEVIATIONS_SCHEMA
from ._protocol_rules import VisitWindow as VisitWindow
from ._protocol_rules import check_compliance as check_compliance
from ._sdtm_spec import CONTROLLED_TERMS as CONTROLLED_TERMS
from ._sdtm_spec import KNOWN_DOMAINS as KNOWN_DOMAINS
from ._sdtm_spec import LAB_UNITS as LAB_UNITS
from ._sdtm_spec import VITAL_UNITS as VITAL_UNITS
from ._sdtm_spec import key_variables as key_variables
from ._sdtm_spec import required_variables as required_variables
from ._sdtm_spec import variable_type as variable_type
from ._validate import IMPUTATIONS_SCHEMA as IMPUTATIONS_SCHEMA
from ._validate import SourceDomain as SourceDomain
from ._validate import ValidationResult as ValidationResult
from ._validate import validate_sdtm as validate_sdtm

__all__ = [
    "CONFIRMATION_TERMS", "DEVIATIONS_SCHEMA", "VisitWindow", "check_compliance",
    "CONTROLLED_TERMS", "FINDINGS_SCHEMA", "IMPUTATIONS_SCHEMA", "IMPUTATION_RULE", "KNOWN_DOMAINS", "LAB_UNITS",
    "SEVERITIES", "VITAL_UNITS", "SourceDomain", "ValidationResult", "findings_frame", "format_findings",
    "key_variables", "parse_dtc", "required_variables", "validate_sdtm", "variable_type",
]
