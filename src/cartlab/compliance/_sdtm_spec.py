"""What cartlab expects of SDTM data: required variables, variable types, keys, the controlled
terms and units it computes with, and plausibility limits.

Sources
-------
- Required ("Req") variables and natural keys: CDISC SDTM Implementation Guide (SDTMIG) v3.3/v3.4,
  domain specification tables (core = Req). ``ARMCD``/``ARM``/``ACTARMCD``/``ACTARM`` are Req in
  SDTMIG v3.2 and Exp from v3.3; cartlab requires them because every analysis is by arm.
- Variable types: SDTMIG domain tables (``--SEQ``, ``--DY``, ``--STDY``, ``--ENDY``, ``--STRESN``,
  ``--STNRLO``, ``--STNRHI``, ``--LLOQ``, ``--DOSE``, ``AGE``, ``VISITNUM``, ``VISITDY``, ``TAETORD``
  are Num; everything else Char). ``NFRLT``/``AFRLT`` are numeric relative times (ADaM/PK usage)
  that cartlab's virtual site writes in SDTM domains.
- Controlled terminology: CDISC CT (NCI EVS) codelists C66731 Sex (M, F, U, UNDIFFERENTIATED),
  C66781 Age Unit (YEARS, MONTHS, WEEKS, DAYS, HOURS), C66742 No Yes Response (Y, N, U, NA);
  ``AETOXGR`` holds the CTCAE grade 1-5 as text (SDTMIG AE domain, CTCAE v5.0 grades 1-5).
- Transport limits: FDA Study Data Technical Conformance Guide (SAS XPORT v5: variable names
  <= 8 characters, labels <= 40, character values <= 200 bytes).
- Unit conversions follow from the units' definitions (SI prefixes; creatinine 113.12 g/mol, so
  1 mg/mmol = 0.00884 g/g; haemoglobin monomer 16.1145 g/mmol, so 1 mmol/L = 1.61145 g/dL;
  1 ukat/L = 60 U/L; 1 lb = 0.45359237 kg; 1 in = 2.54 cm; degrees F to C by (F - 32) * 5/9).
- Plausibility limits are cartlab's data-quality limits (physiological extremes well beyond any
  clinical decision threshold), not clinical rules; a value outside them is a warning.
"""

from __future__ import annotations

import re
from types import MappingProxyType

__all__ = [
    "CONTROLLED_TERMS", "INTEGER_SUFFIXES", "KNOWN_DOMAINS", "LAB_UNITS", "NUMERIC_SUFFIXES", "PLAUSIBLE",
    "REQUIRED", "VITAL_UNITS", "key_variables", "required_variables", "variable_type",
]

#: Standard SDTM domains (SDTMIG v3.4 + the trial design datasets); others are kept as sponsor domains.
KNOWN_DOMAINS = frozenset(
    "dm co se sv sm cm ec ex ml ag pr su ae ce dv ds ho mh bs cp cv da dd eg fa ft gf ie is lb mb mi mk ms nv oe "
    "pc pe pp qs re rp rs sc ss tr tu ur vs ta te tv ti ts td tm relrec".split())

_SUBJECT_REQ = ("STUDYID", "DOMAIN", "USUBJID")
#: Variables that must be present, by domain (``--`` stands for the domain prefix).
REQUIRED: MappingProxyType = MappingProxyType({
    "dm": ("STUDYID", "DOMAIN", "USUBJID", "SUBJID", "SITEID", "SEX", "COUNTRY", "ARMCD", "ARM", "ACTARMCD", "ACTARM"),
    "ae": _SUBJECT_REQ + ("--SEQ", "--TERM", "--DECOD"),
    "ce": _SUBJECT_REQ + ("--SEQ", "--TERM"),
    "mh": _SUBJECT_REQ + ("--SEQ", "--TERM"),
    "dv": _SUBJECT_REQ + ("--SEQ", "--TERM"),
    "ds": _SUBJECT_REQ + ("--SEQ", "--TERM", "--DECOD"),
    "cm": _SUBJECT_REQ + ("--SEQ", "--TRT"),
    "ex": _SUBJECT_REQ + ("--SEQ", "--TRT", "--STDTC"),
    "pr": _SUBJECT_REQ + ("--SEQ", "--TRT"),
    "lb": _SUBJECT_REQ + ("--SEQ", "--TESTCD", "--TEST"),
    "vs": _SUBJECT_REQ + ("--SEQ", "--TESTCD", "--TEST"),
    "pc": _SUBJECT_REQ + ("--SEQ", "--TESTCD", "--TEST"),
    "cp": _SUBJECT_REQ + ("--SEQ", "--TESTCD", "--TEST"),
    "re": _SUBJECT_REQ + ("--SEQ", "--TESTCD", "--TEST"),
    "eg": _SUBJECT_REQ + ("--SEQ", "--TESTCD", "--TEST"),
    "qs": _SUBJECT_REQ + ("--SEQ", "--TESTCD", "--TEST", "--CAT"),
    "fa": _SUBJECT_REQ + ("--SEQ", "--TESTCD", "--TEST", "--OBJ"),
    "sv": _SUBJECT_REQ + ("VISITNUM",),
    "ts": ("STUDYID", "DOMAIN", "--SEQ", "--PARMCD", "--PARM", "--VAL"),
    "ta": ("STUDYID", "DOMAIN", "ARMCD", "ARM", "TAETORD", "ETCD"),
    "te": ("STUDYID", "DOMAIN", "ETCD", "ELEMENT", "TESTRL"),
    "supp": ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL"),
})

#: Num suffixes after the two-letter domain prefix (SDTMIG), and those that must be whole numbers.
NUMERIC_SUFFIXES = frozenset({"SEQ", "DY", "STDY", "ENDY", "STRESN", "STNRLO", "STNRHI", "LLOQ", "ULOQ", "DOSE",
                              "DOSTOT", "TPTNUM", "GRPID_N", "ENRTPTN"})
INTEGER_SUFFIXES = frozenset({"SEQ", "DY", "STDY", "ENDY"})
_NUMERIC_NAMES = frozenset({"AGE", "VISITNUM", "VISITDY", "TAETORD", "NFRLT", "AFRLT", "IDVARVAL_N"})
_INTEGER_NAMES = frozenset({"TAETORD"})
_PREFIXED = re.compile(r"^([A-Z]{2})([A-Z0-9_]+)$")


def variable_type(domain: str, name: str) -> str | None:
    """The SDTM type cartlab expects of a variable: ``"Int"``, ``"Num"``, ``"Char"``.

    Parameters
    ----------
    domain : str
        Lower-case domain code (``"lb"``; ``"suppdm"`` for supplemental qualifiers).
    name : str
        Variable name.

    Examples
    --------
    >>> variable_type("lb", "LBSTRESN"), variable_type("lb", "LBSEQ"), variable_type("lb", "LBORRES")
    ('Num', 'Int', 'Char')
    >>> variable_type("dm", "AGE"), variable_type("ts", "TSSEQ")
    ('Num', 'Int')
    """
    if name in _INTEGER_NAMES:
        return "Int"
    if name in _NUMERIC_NAMES:
        return "Num"
    m = _PREFIXED.match(name)
    if m and m.group(1) == domain[:2].upper() and not domain.startswith("supp"):
        suffix = m.group(2)
        if suffix in INTEGER_SUFFIXES:
            return "Int"
        if suffix in NUMERIC_SUFFIXES:
            return "Num"
    return "Char"


def required_variables(domain: str) -> tuple[str, ...]:
    """Required variables of ``domain`` with the ``--`` prefix filled in (empty if unknown).

    Examples
    --------
    >>> required_variables("ae")
    ('STUDYID', 'DOMAIN', 'USUBJID', 'AESEQ', 'AETERM', 'AEDECOD')
    >>> required_variables("suppae")[:2]
    ('STUDYID', 'RDOMAIN')
    """
    if domain.startswith("supp"):
        return REQUIRED["supp"]
    prefix = domain[:2].upper()
    return tuple(v.replace("--", prefix) for v in REQUIRED.get(domain, ()))


def key_variables(domain: str, columns: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The natural key of a domain's records, if the columns hold one; ``()`` otherwise.

    Subject-level domains: ``STUDYID, USUBJID, --SEQ`` (DM: ``STUDYID, USUBJID``); SV: ``USUBJID,
    VISITNUM``; TS: ``TSPARMCD, TSSEQ``; TA: ``ARMCD, TAETORD``; TE: ``ETCD``; SUPP--: ``RDOMAIN,
    USUBJID, IDVAR, IDVARVAL, QNAM`` (SDTMIG key variables).

    Examples
    --------
    >>> key_variables("lb", ["STUDYID", "USUBJID", "LBSEQ", "LBTESTCD"])
    ('STUDYID', 'USUBJID', 'LBSEQ')
    >>> key_variables("xz", ["USUBJID", "XZVAL"])
    ()
    """
    cols = set(columns)
    prefix = domain[:2].upper()
    if domain.startswith("supp"):
        cand: tuple[str, ...] = ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM")
    elif domain == "dm":
        cand = ("STUDYID", "USUBJID")
    elif domain == "sv":
        cand = ("STUDYID", "USUBJID", "VISITNUM")
    elif domain == "ts":
        cand = ("STUDYID", "TSPARMCD", "TSSEQ")
    elif domain == "ta":
        cand = ("STUDYID", "ARMCD", "TAETORD")
    elif domain == "te":
        cand = ("STUDYID", "ETCD")
    else:
        cand = ("STUDYID", "USUBJID", f"{prefix}SEQ")
    return cand if set(cand) <= cols else ()


#: (domain, variable) -> (allowed values, severity, codelist and why cartlab relies on it)
CONTROLLED_TERMS: MappingProxyType = MappingProxyType({
    ("dm", "SEX"): (("M", "F", "U", "UNDIFFERENTIATED"), "ERROR",
                    "CDISC CT C66731 Sex (eGFR and reference equations use sex)"),
    ("dm", "AGEU"): (("YEARS", "MONTHS", "WEEKS", "DAYS", "HOURS"), "ERROR",
                     "CDISC CT C66781 Age Unit (eligibility compares AGE in years)"),
    ("ae", "AESER"): (("Y", "N", "U", "NA"), "WARNING", "CDISC CT C66742 No Yes Response"),
    ("ae", "AETOXGR"): (("1", "2", "3", "4", "5"), "ERROR",
                        "CTCAE v5.0 grade 1-5 as text (cartlab grades and counts AEs by it)"),
})

#: LB test code -> (cartlab's unit, {unit as submitted: factor to cartlab's unit}). Unit spellings
#: compared case-insensitively with spaces removed.
_COUNT = {"10^9/L": 1.0, "10*9/L": 1.0, "X10^9/L": 1.0, "X10E9/L": 1.0, "10E9/L": 1.0, "GI/L": 1.0,
          "10^3/UL": 1.0, "10*3/UL": 1.0, "X10^3/UL": 1.0, "10E3/UL": 1.0, "K/UL": 1.0, "10^3/MM3": 1.0,
          "/UL": 1e-3, "CELLS/UL": 1e-3, "/MM3": 1e-3, "CELLS/MM3": 1e-3, "10^6/L": 1e-3}
LAB_UNITS: MappingProxyType = MappingProxyType({
    "NEUT": ("10^9/L", _COUNT), "PLAT": ("10^9/L", _COUNT), "LYM": ("10^9/L", _COUNT), "WBC": ("10^9/L", _COUNT),
    "HGB": ("g/dL", {"G/DL": 1.0, "G/L": 0.1, "MMOL/L": 1.61145}),
    "CRP": ("mg/L", {"MG/L": 1.0, "MG/DL": 10.0}),
    "IL6": ("pg/mL", {"PG/ML": 1.0, "NG/L": 1.0}),
    "C3": ("g/L", {"G/L": 1.0, "MG/DL": 0.01}),
    "C4": ("g/L", {"G/L": 1.0, "MG/DL": 0.01}),
    "DSDNA": ("IU/mL", {"IU/ML": 1.0, "[IU]/ML": 1.0}),
    "PROTCRT": ("g/g", {"G/G": 1.0, "MG/MG": 1.0, "MG/G": 1e-3, "MG/MMOL": 0.00884}),
    "CK": ("U/L", {"U/L": 1.0, "IU/L": 1.0, "UKAT/L": 60.0}),
})
#: VS test code -> (cartlab's unit, {unit: (factor, offset)}): value * factor + offset.
VITAL_UNITS: MappingProxyType = MappingProxyType({
    "TEMP": ("C", {"C": (1.0, 0.0), "F": (5.0 / 9.0, -32.0 * 5.0 / 9.0)}),
    "SYSBP": ("mmHg", {"MMHG": (1.0, 0.0)}),
    "DIABP": ("mmHg", {"MMHG": (1.0, 0.0)}),
    "OXYSAT": ("%", {"%": (1.0, 0.0)}),
    "WEIGHT": ("kg", {"KG": (1.0, 0.0), "LB": (0.45359237, 0.0)}),
    "HEIGHT": ("cm", {"CM": (1.0, 0.0), "IN": (2.54, 0.0), "M": (100.0, 0.0)}),
})
#: (domain, test code) -> (low, high) in cartlab's unit; outside is implausible (a warning).
PLAUSIBLE: MappingProxyType = MappingProxyType({
    ("lb", "NEUT"): (0.0, 100.0), ("lb", "PLAT"): (0.0, 2000.0), ("lb", "LYM"): (0.0, 500.0),
    ("lb", "WBC"): (0.0, 500.0), ("lb", "HGB"): (1.0, 25.0), ("lb", "CRP"): (0.0, 1000.0),
    ("lb", "IL6"): (0.0, 1e6), ("lb", "C3"): (0.0, 10.0), ("lb", "C4"): (0.0, 5.0),
    ("lb", "DSDNA"): (0.0, 1e5), ("lb", "PROTCRT"): (0.0, 50.0), ("lb", "CK"): (0.0, 1e6),
    ("vs", "TEMP"): (25.0, 45.0), ("vs", "SYSBP"): (30.0, 300.0), ("vs", "DIABP"): (10.0, 250.0),
    ("vs", "OXYSAT"): (0.0, 100.0), ("vs", "WEIGHT"): (1.0, 400.0), ("vs", "HEIGHT"): (30.0, 250.0),
})
