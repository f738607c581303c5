"""Frozen, validated specifications of a CAR-T trial protocol.

One pydantic model per TOML table of a protocol file (``[trial]``, ``[product]``, ``[[arms]]``,
``[[lymphodepletion]]``, ``[population]``, ``[eligibility]``, ``[safety_window]``,
``[immunosuppression]``, ``[rescue]``, ``[schedule]``, ``[endpoints]``, ``[[reported]]``,
``[site]``), gathered in :class:`Protocol`. Every model is frozen and rejects unknown keys;
methods that change a protocol return a new object.

Days are counted from the infusion (infusion = day 0, lymphodepletion and screening on negative
days), as CAR-T protocols do. Numbers of items in messages (``[[arms]] 2``, ``criteria[1]``)
count from 1, as a reader of the TOML file counts them.

Constructing a model directly raises :class:`pydantic.ValidationError`; read protocol files with
:func:`cartlab.protocol.load_protocol`, which turns every problem into one
:class:`cartlab._core.errors.SpecError` naming file, key, value and what was expected.

Examples
--------
>>> dose = Dose(cells_per_kg=1e6)
>>> dose.label
'1x10^6 cells/kg'
>>> dose.total_cells(70.0)
70000000.0
>>> Criterion(variable="sledai2k", op=">=", value=6).text
'sledai2k >= 6'
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .._core.errors import DataValidationError, SpecError

# --------------------------------------------------------------------------------------------
# Vocabularies
# --------------------------------------------------------------------------------------------

Indication = Literal["SLE", "SSC", "IIM"]
"""Indications cartlab models: SLE (incl. lupus nephritis), systemic sclerosis, myositis."""

_COMMON_VARIABLES: tuple[str, ...] = (
    "age",  # years
    "weight_kg",  # kg
    "prior_immunosuppressants",  # number of prior immunosuppressive therapies
    "anc_10e9_l",  # absolute neutrophil count, 10^9/L
    "platelets_10e9_l",  # 10^9/L
    "hgb_g_dl",  # haemoglobin, g/dL
    "egfr_ml_min",  # eGFR, mL/min/1.73 m²
)

ELIGIBILITY_VARIABLES: dict[str, tuple[str, ...]] = {
    "SLE": _COMMON_VARIABLES
    + (
        "sledai2k",  # SLEDAI-2K total, 0–105
        "bilag_a_domains",  # number of BILAG-2004 domains scoring A, 0–9
        "anti_dsdna_iu_ml",  # IU/mL
        "c3_g_l",  # g/L
        "upcr_g_g",  # urine protein:creatinine ratio, g/g
        "pga",  # physician global assessment, 0–3
        "lupus_nephritis",  # 1 with biopsy-proven lupus nephritis, 0 without
    ),
    "SSC": _COMMON_VARIABLES
    + (
        "mrss",  # modified Rodnan skin score, 0–51
        "fvc_pct_pred",  # forced vital capacity, % predicted
        "disease_duration_years",  # years since first non-Raynaud symptom
    ),
    "IIM": _COMMON_VARIABLES
    + (
        "mmt8",  # manual muscle testing, bilateral total 0–150
        "ck_u_l",  # creatine kinase, U/L
        "physician_global",  # physician global activity, 0–10 cm VAS
    ),
}
"""Screening variables an eligibility criterion may test, by indication (units in the names or
in the comments beside them)."""

PRIMARY_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "SLE": ("sledai2k_change", "pga_change", "doris_remission"),
    "SSC": ("mrss_change", "fvc_pct_pred_change", "criss"),
    "IIM": ("tis", "mmt8_change"),
}
"""Primary efficacy endpoints known to the analysis layer, by indication."""

Drug = Literal["fludarabine", "cyclophosphamide", "bendamustine"]
"""Lymphodepleting agents the model has exposure kernels for."""

LYMPHODEPLETION_DRUGS: tuple[str, ...] = get_args(Drug)

ARMCD_PATTERN = r"^[A-Z0-9]{1,8}$"
STUDYID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
METRIC_PATTERN = r"^[a-z][a-z0-9_]*$"

PATTERN_HINTS: Mapping[str, str] = MappingProxyType(
    {
        ARMCD_PATTERN: "1 to 8 upper-case letters or digits (an SDTM ARMCD)",
        STUDYID_PATTERN: "letters, digits, '_', '.' or '-', starting with a letter or digit",
        METRIC_PATTERN: "snake_case: lower-case letters, digits and '_', starting with a letter",
    }
)
"""Plain-language reading of each pattern a field must match, for error messages."""

CompareOp = Literal[">=", ">", "<=", "<", "==", "!="]

_OPERATORS: Mapping[str, Callable[[Any, Any], Any]] = MappingProxyType(
    {
        ">=": operator.ge,
        ">": operator.gt,
        "<=": operator.le,
        "<": operator.lt,
        "==": operator.eq,
        "!=": operator.ne,
    }
)

# --------------------------------------------------------------------------------------------
# Field types. Scalars are strict so that TOML's own types are kept: ``n = "13"`` or
# ``n = 13.0`` are mistakes to report, not values to coerce. Integers are accepted for floats.
# --------------------------------------------------------------------------------------------

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict(), AllowInfNan(False)]
Bool = Annotated[bool, Strict()]
Text = Annotated[str, Strict(), StringConstraints(min_length=1)]
Probability = Annotated[Float, Field(ge=0.0, le=1.0)]


def _read_only(mapping: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(mapping))


FrozenFloatMap = Annotated[
    Mapping[str, Float],
    AfterValidator(_read_only),
    PlainSerializer(dict, return_type=dict[str, float]),
]
"""A read-only ``str -> float`` mapping; serialises as a plain dict."""

Loc = tuple[str | int, ...]
_NOTHING: Any = object()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------------------------
# Message helpers (shared with load.py)
# --------------------------------------------------------------------------------------------


def show_value(value: Any, limit: int = 80) -> str:
    """Render a received value the way it would be written in TOML, shortened to ``limit``.

    Parameters
    ----------
    value : Any
        The value as parsed from TOML (or passed in Python).
    limit : int, default 80
        Longest rendering, in characters, before the text is cut with ``…``.

    Returns
    -------
    str
        ``true``/``false`` for booleans, ``'text'`` for strings, ``repr`` for numbers,
        ``[a, b]`` for arrays and ``{ key = value }`` for tables.

    Examples
    --------
    >>> show_value(-5e6)
    '-5000000.0'
    >>> show_value({"cells": 1e7, "cells_per_kg": 1e6})
    '{ cells = 10000000.0, cells_per_kg = 1000000.0 }'
    """
    text = _render(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _render(value: Any) -> str:
    if isinstance(value, bool) or isinstance(value, np.bool_):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return repr(value.item() if isinstance(value, np.generic) else value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k)} = {_render(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, BaseModel):
        return _render(value.model_dump())
    return repr(value)


def _key(name: str | int) -> str:
    text = str(name)
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else '"' + text + '"'


def _number(value: float) -> str:
    """Shortest faithful text for a threshold: ``6`` for 6.0, ``0.5`` for 0.5."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice most like ``word`` (a likely typo), or None if none is close.

    Examples
    --------
    >>> closest("indicaton", ["indication", "title"])
    'indication'
    """
    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return match[0] if match else None


def suggest(word: str, choices: Iterable[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest choice, or an empty string.

    Examples
    --------
    >>> suggest("indicaton", ["indication", "title"])
    " (did you mean 'indication'?)"
    """
    match = closest(word, choices)
    return f" (did you mean '{match}'?)" if match else ""


def problem(loc: Loc, message: str, value: Any = _NOTHING) -> PydanticCustomError:
    """Build the error a validator raises for a problem at ``loc`` below the current model.

    The context carries ``loc`` (relative to the model that raised), ``message`` (a phrase such
    as ``"must be > 0"``) and, when there is one, the offending ``value``; the loader joins
    them to the location of the model in the file.

    Parameters
    ----------
    loc : tuple of str or int
        Key path below the model that raises; list items are 0-based indices.
    message : str
        What is wrong or expected, without the received value.
    value : Any, optional
        The value received.

    Returns
    -------
    pydantic_core.PydanticCustomError
        To be raised from a validator.
    """
    where = ".".join(str(p) for p in loc)
    text = f"{where} {message}" if where else message
    ctx: dict[str, Any] = {"loc": loc, "message": message}
    if value is not _NOTHING:
        ctx["value"] = value
        text = f"{text}; got {show_value(value)}"
    ctx["text"] = text
    return PydanticCustomError("cartlab_spec", "{text}", ctx)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


class Trial(_Frozen):
    """The ``[trial]`` table: what the study is and where its numbers come from.

    Attributes
    ----------
    study_id : str
        SDTM ``STUDYID``: letters, digits, ``_``, ``.`` or ``-``.
    title : str
        Human-readable title.
    registry : str
        Registry identifier, e.g. ``"NCT05869955"``.
    sponsor : str
        Sponsor name.
    phase : {"1", "1/2", "2", "2/3", "3", "4"}
        Trial phase.
    indication : {"SLE", "SSC", "IIM"}
        Selects the disease module, the eligibility variables and the endpoints.
    source : str
        Citation of the document the protocol was built from.
    """

    study_id: Annotated[Text, StringConstraints(pattern=STUDYID_PATTERN)]
    title: Text
    registry: Text
    sponsor: Text
    phase: Literal["1", "1/2", "2", "2/3", "3", "4"]
    indication: Indication
    source: Text


#: Where the calibrated parameter sets named by ``[product] parameter_set`` live (data files of
#: ``cartlab calibrate``; read here, the calibrate code is not imported).
PARAMETER_SET_DIR = Path(__file__).resolve().parents[1] / "calibrate" / "calibrated"


@functools.lru_cache(maxsize=32)
def calibrated_parameter_set(name: str) -> tuple[Mapping[str, float], str]:
    """The ``[values]`` of the shipped calibrated parameter set ``name`` and the file's SHA-256.

    Raises
    ------
    pydantic_core.PydanticCustomError
        Through :func:`problem`: no such set (the shipped names are listed), or a value that is not a
        finite number or names no model parameter (with the file and key).
    """
    from ..model import read_parameter_values

    shipped = sorted(f.stem for f in PARAMETER_SET_DIR.glob("*.toml"))
    if name not in shipped:
        raise problem((), f"must name a shipped calibrated parameter set ({', '.join(shipped)})"
                      f"{suggest(name, shipped)}", name)
    path = PARAMETER_SET_DIR / f"{name}.toml"
    try:
        values, _ = read_parameter_values(path)
    except SpecError as exc:
        raise problem((), f"names a parameter set that cannot be used: {exc}", name) from None
    return MappingProxyType(values), hashlib.sha256(path.read_bytes()).hexdigest()


class Product(_Frozen):
    """The ``[product]`` table: the CAR-T product and its model-parameter overrides.

    Attributes
    ----------
    name : str
        Product name, e.g. ``"BMS-986353"``.
    target : str
        Antigen, e.g. ``"CD19"``.
    costimulatory_domain : str
        e.g. ``"4-1BB"`` or ``"CD28"``.
    manufacturing_days : int
        Days from apheresis to product release, > 0.
    viable_fraction : float
        Fraction of the stated dose that is viable CAR+ T cells, in (0, 1]; the model's
        initial effector count is dose × viable fraction.
    parameters : Mapping[str, float]
        Product-level overrides of model parameters (``[product.parameters]``), read-only.
        Names must be in :func:`cartlab.model.parameter_names`.
    parameter_set : str or None
        Name of a calibrated parameter set shipped in ``cartlab/calibrate/calibrated/`` (written
        by ``cartlab calibrate``) whose values replace the model's typical values; ``parameters``
        win over it. See :attr:`model_parameters`.
    """

    name: Text
    target: Text
    costimulatory_domain: Text
    manufacturing_days: Annotated[Int, Field(gt=0)]
    viable_fraction: Annotated[Float, Field(gt=0.0, le=1.0)]
    parameters: FrozenFloatMap = Field(default_factory=lambda: MappingProxyType({}))
    parameter_set: Text | None = None

    @field_validator("parameter_set")
    @classmethod
    def _shipped_set(cls, name: str | None) -> str | None:
        if name is not None:
            calibrated_parameter_set(name)  # raises with the file and key
        return name

    @property
    def model_parameters(self) -> Mapping[str, float]:
        """Typical values the simulation uses instead of the model's: the calibrated set, then ``parameters``."""
        base = calibrated_parameter_set(self.parameter_set)[0] if self.parameter_set else {}
        return MappingProxyType({**base, **self.parameters})

    @field_validator("parameters")
    @classmethod
    def _known_parameters(cls, value: Mapping[str, float]) -> Mapping[str, float]:
        if not value:
            return value
        # Imported here: the model layer is only needed when a product overrides parameters.
        from ..model import parameter_names

        known = parameter_names()
        for name in value:
            if name not in known:
                hint = suggest(name, known)
                if not hint:
                    listed = sorted(known)
                    more = ", …" if len(listed) > 12 else ""
                    hint = f" (known: {', '.join(listed[:12])}{more})"
                raise problem((name,), f"is not a model parameter{hint}")
        return value


class Dose(_Frozen):
    """A single CAR-T dose: fixed (``cells``) or weight-based (``cells_per_kg``), not both.

    Attributes
    ----------
    cells : float or None
        Fixed dose, CAR+ T cells, > 0.
    cells_per_kg : float or None
        Weight-based dose, CAR+ T cells per kg body weight, > 0.

    Examples
    --------
    >>> Dose(cells=10e6).label
    '10x10^6 cells'
    >>> Dose(cells=25e6).total_cells([60.0, 80.0])
    array([25000000., 25000000.])
    """

    cells: Annotated[Float, Field(gt=0.0)] | None = None
    cells_per_kg: Annotated[Float, Field(gt=0.0)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Dose:
        if self.cells is not None and self.cells_per_kg is not None:
            raise problem(
                (),
                "must set exactly one of 'cells' (fixed) or 'cells_per_kg' (weight-based); "
                "got both",
            )
        if self.cells is None and self.cells_per_kg is None:
            raise problem(
                (),
                "must set exactly one of 'cells' (fixed) or 'cells_per_kg' (weight-based); "
                "got neither",
            )
        return self

    @property
    def weight_based(self) -> bool:
        """True when the dose is given per kg of body weight."""
        return self.cells_per_kg is not None

    @property
    def label(self) -> str:
        """Dose as written in trial reports, e.g. ``"10x10^6 cells"`` or ``"1x10^6 cells/kg"``."""
        if self.cells_per_kg is not None:
            return f"{_cells_text(self.cells_per_kg)} cells/kg"
        assert self.cells is not None  # guaranteed by _exactly_one
        return f"{_cells_text(self.cells)} cells"

    def total_cells(self, weight_kg: float | ArrayLike) -> float | NDArray[np.float64]:
        """Number of CAR+ T cells infused for patients of the given body weight.

        Parameters
        ----------
        weight_kg : float or array_like
            Body weight, kg, > 0 (only read for weight-based doses).

        Returns
        -------
        float or numpy.ndarray
            ``cells`` for a fixed dose (broadcast to the shape of ``weight_kg``), or
            ``cells_per_kg × weight_kg``; a float for a scalar weight.

        Raises
        ------
        DataValidationError
            A weight-based dose is asked for a weight that is not finite and positive.

        Examples
        --------
        >>> Dose(cells_per_kg=1e6).total_cells([50.0, 100.0])
        array([5.e+07, 1.e+08])
        """
        weight = np.asarray(weight_kg, dtype=np.float64)
        if self.cells is not None:
            return self.cells if weight.ndim == 0 else np.full(weight.shape, self.cells)
        assert self.cells_per_kg is not None
        bad = ~np.isfinite(weight) | (weight <= 0.0)
        if np.any(bad):
            first = float(weight[bad].flat[0]) if weight.ndim else float(weight)
            raise DataValidationError(
                f"weight_kg must be finite and > 0 for a weight-based dose; got {first!r}"
            )
        total = self.cells_per_kg * weight
        return float(total) if total.ndim == 0 else total


def _cells_text(count: float) -> str:
    if count >= 1e6:
        return f"{count / 1e6:g}x10^6"
    return f"{count:g}"


class Arm(_Frozen):
    """One ``[[arms]]`` entry: a dose level or cohort.

    Attributes
    ----------
    code : str
        SDTM ``ARMCD``: 1 to 8 upper-case letters or digits, unique in the protocol.
    name : str
        SDTM ``ARM`` description.
    n : int
        Patients to treat, >= 1.
    dose : Dose
        The CAR-T dose.
    criteria : tuple of Criterion
        Cohort-specific eligibility, in addition to ``[eligibility]`` (e.g. RESET-SLE's lupus
        nephritis cohort: ``criteria = [{ variable = "lupus_nephritis", op = "==", value = 1 }]``).
    """

    code: Annotated[Text, StringConstraints(pattern=ARMCD_PATTERN)]
    name: Text
    n: Annotated[Int, Field(ge=1)]
    dose: Dose
    criteria: tuple[Criterion, ...] = ()


class LymphodepletionAgent(_Frozen):
    """One ``[[lymphodepletion]]`` entry: a drug, its dose and the days it is given.

    Attributes
    ----------
    drug : {"fludarabine", "cyclophosphamide", "bendamustine"}
        Agent.
    dose_mg_m2 : float
        Dose per administration, mg/m² body surface area, > 0.
    days : tuple of int
        Administration days, negative (before the infusion on day 0), distinct.
    """

    drug: Drug
    dose_mg_m2: Annotated[Float, Field(gt=0.0)]
    days: Annotated[tuple[Int, ...], Field(min_length=1)]

    @field_validator("days")
    @classmethod
    def _negative_distinct(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        for i, day in enumerate(days):
            if day >= 0:
                raise problem(
                    (i,), "must be < 0 (lymphodepletion precedes the day-0 infusion)", day
                )
            if day in days[:i]:
                raise problem((i,), "must not repeat an earlier day", day)
        return days


class Population(_Frozen):
    """The ``[population]`` table: the screened population, before eligibility.

    Every field is optional; ``None`` means the population layer uses its own default.

    Attributes
    ----------
    cohort : str or None
        Free-text label of the population described.
    age_median, age_min, age_max : float or None
        Age, years, in [0, 120], with ``age_min <= age_median <= age_max``.
    female_fraction : float or None
        Fraction female, in [0, 1].
    weight_kg_median : float or None
        Median body weight, kg, > 0.
    lupus_nephritis_fraction : float or None
        Fraction with lupus nephritis, in [0, 1]; SLE protocols only.
    """

    cohort: Text | None = None
    age_median: Annotated[Float, Field(ge=0.0, le=120.0)] | None = None
    age_min: Annotated[Float, Field(ge=0.0, le=120.0)] | None = None
    age_max: Annotated[Float, Field(ge=0.0, le=120.0)] | None = None
    female_fraction: Probability | None = None
    weight_kg_median: Annotated[Float, Field(gt=0.0)] | None = None
    lupus_nephritis_fraction: Probability | None = None

    @model_validator(mode="after")
    def _ages_ordered(self) -> Population:
        ages = {"age_min": self.age_min, "age_median": self.age_median, "age_max": self.age_max}
        given = [(name, age) for name, age in ages.items() if age is not None]
        for (low_name, low), (name, age) in zip(given, given[1:]):
            if age < low:
                raise problem((name,), f"must be >= {low_name} ({_number(low)})", age)
        return self


class Criterion(_Frozen):
    """One eligibility criterion, ``variable op value``, tested at screening.

    Attributes
    ----------
    variable : str
        A screening variable of :data:`ELIGIBILITY_VARIABLES` for the protocol's indication.
    op : {">=", ">", "<=", "<", "==", "!="}
        Comparison.
    value : float
        Threshold, in the variable's unit.

    Examples
    --------
    >>> c = Criterion(variable="sledai2k", op=">=", value=6)
    >>> c.evaluate([5, 6, 7, float("nan")])
    array([False,  True,  True, False])
    """

    variable: Text
    op: CompareOp
    value: Float

    @field_validator("variable")
    @classmethod
    def _known_variable(cls, name: str) -> str:
        known = {v for names in ELIGIBILITY_VARIABLES.values() for v in names}
        if name not in known:
            raise problem(
                (), f"is not an eligibility variable{suggest(name, sorted(known))}", name
            )
        return name

    @property
    def text(self) -> str:
        """The criterion as written, e.g. ``"sledai2k >= 6"``."""
        return f"{self.variable} {self.op} {_number(self.value)}"

    def evaluate(self, values: ArrayLike) -> NDArray[np.bool_]:
        """Which patients meet the criterion.

        Parameters
        ----------
        values : array_like of float
            The variable for each patient, in its unit; NaN means not measured.

        Returns
        -------
        numpy.ndarray of bool
            True where ``values op value`` holds. A missing (NaN) value never meets a
            criterion: eligibility must be shown, not assumed.
        """
        x = np.asarray(values, dtype=np.float64)
        return np.asarray(_OPERATORS[self.op](x, self.value) & ~np.isnan(x), dtype=np.bool_)


class Eligibility(_Frozen):
    """The ``[eligibility]`` table: age limits and criteria every patient must meet.

    Attributes
    ----------
    age_min, age_max : int
        Inclusive age limits, years.
    criteria : tuple of Criterion
        All must hold (logical AND).
    """

    age_min: Annotated[Int, Field(ge=0, le=120)]
    age_max: Annotated[Int, Field(ge=0, le=120)]
    criteria: tuple[Criterion, ...] = ()

    @model_validator(mode="after")
    def _ages_ordered(self) -> Eligibility:
        if self.age_max < self.age_min:
            raise problem(("age_max",), f"must be >= age_min ({self.age_min})", self.age_max)
        return self

    def evaluate(self, variables: Mapping[str, ArrayLike]) -> NDArray[np.bool_]:
        """Which patients meet the age limits and every criterion.

        Parameters
        ----------
        variables : Mapping[str, array_like]
            Screening values by variable name; must contain ``"age"`` and every criterion's
            variable, all of the same length.

        Returns
        -------
        numpy.ndarray of bool
            True for eligible patients.

        Raises
        ------
        DataValidationError
            A variable a criterion needs is missing, or the arrays differ in length.
        """
        needed = ["age", *(c.variable for c in self.criteria)]
        missing = [name for name in needed if name not in variables]
        if missing:
            raise DataValidationError(
                f"eligibility needs screening variable(s) {', '.join(missing)}; "
                f"got {', '.join(sorted(variables)) or 'none'}"
            )
        age = np.asarray(variables["age"], dtype=np.float64)
        ok = (age >= self.age_min) & (age <= self.age_max)
        for criterion in self.criteria:
            values = np.asarray(variables[criterion.variable], dtype=np.float64)
            if values.shape != age.shape:
                raise DataValidationError(
                    f"screening variable {criterion.variable} has shape {values.shape}; "
                    f"expected {age.shape} like age"
                )
            ok &= criterion.evaluate(values)
        return ok


class SafetyWindow(_Frozen):
    """The ``[safety_window]`` table: the pre-infusion gate.

    Attributes
    ----------
    fever_free_days : int
        Days before infusion that must be free of fever, >= 0.
    infection_free_days : int
        Days before infusion that must be free of signs of infection, >= 0.
    fever_threshold_c : float, default 38.0
        Temperature counted as fever, °C (between 37 and 41).
    written_confirmation : bool
        The investigator must confirm in writing that the window was clear before infusing
        (the RESET rule introduced after a patient with fever was dosed).
    """

    fever_free_days: Annotated[Int, Field(ge=0)]
    infection_free_days: Annotated[Int, Field(ge=0)]
    fever_threshold_c: Annotated[Float, Field(ge=37.0, le=41.0)] = 38.0
    written_confirmation: Bool


class Immunosuppression(_Frozen):
    """The ``[immunosuppression]`` table: background therapy around the infusion.

    Attributes
    ----------
    withdrawal_day : int
        Day by which non-glucocorticoid immunosuppressants are stopped (negative: before
        infusion).
    restart_on_flare : bool, default True
        Restart immunosuppression on a sustained flare (recorded in CM).
    """

    withdrawal_day: Int
    restart_on_flare: Bool = True


class Rescue(_Frozen):
    """The ``[rescue]`` table: treatment of CRS and ICANS.

    Attributes
    ----------
    tocilizumab_crs_grade : int
        ASTCT CRS grade (1–4) from which tocilizumab is given.
    tocilizumab_mg_kg : float
        Tocilizumab dose, mg/kg, > 0.
    tocilizumab_max_mg : float
        Cap on a single tocilizumab dose, mg, > 0.
    tocilizumab_max_doses : int
        Most tocilizumab doses per CRS episode, >= 1.
    steroid_icans_grade : int
        ASTCT ICANS grade (1–4) from which dexamethasone is given.
    dexamethasone_mg_per_day : float
        Dexamethasone, mg/day, > 0.
    dexamethasone_days : int
        Days of dexamethasone per course, >= 1.
    """

    tocilizumab_crs_grade: Annotated[Int, Field(ge=1, le=4)]
    tocilizumab_mg_kg: Annotated[Float, Field(gt=0.0)]
    tocilizumab_max_mg: Annotated[Float, Field(gt=0.0)]
    tocilizumab_max_doses: Annotated[Int, Field(ge=1)]
    steroid_icans_grade: Annotated[Int, Field(ge=1, le=4)]
    dexamethasone_mg_per_day: Annotated[Float, Field(gt=0.0)]
    dexamethasone_days: Annotated[Int, Field(ge=1)]


class Schedule(_Frozen):
    """The ``[schedule]`` table: follow-up and visit days.

    Attributes
    ----------
    follow_up_days : int
        Last day of follow-up, > 0.
    screening_day : int
        Screening visit, < 0 and before any lymphodepletion day.
    daily_monitoring_days : int
        Days 0..n of daily inpatient monitoring (vitals, ICE), >= 0 and <= follow-up.
    lab_days, pk_days, disease_days : tuple of int
        Days of laboratory, cellular-kinetic and disease assessments: sorted, unique, within
        [screening_day, follow_up_days].

    Examples
    --------
    >>> s = Schedule(follow_up_days=90, screening_day=-28, daily_monitoring_days=7,
    ...              lab_days=(-28, 7), pk_days=(7, 28), disease_days=(-28, 90))
    >>> s.all_days
    (-28, 7, 28, 90)
    """

    follow_up_days: Annotated[Int, Field(gt=0)]
    screening_day: Annotated[Int, Field(lt=0)]
    daily_monitoring_days: Annotated[Int, Field(ge=0)]
    lab_days: tuple[Int, ...]
    pk_days: tuple[Int, ...]
    disease_days: tuple[Int, ...]

    @model_validator(mode="after")
    def _days_in_order(self) -> Schedule:
        if self.daily_monitoring_days > self.follow_up_days:
            raise problem(
                ("daily_monitoring_days",),
                f"must be <= follow_up_days ({self.follow_up_days})",
                self.daily_monitoring_days,
            )
        for name in ("lab_days", "pk_days", "disease_days"):
            days: tuple[int, ...] = getattr(self, name)
            for i, day in enumerate(days):
                if not self.screening_day <= day <= self.follow_up_days:
                    raise problem(
                        (name, i),
                        f"must be within screening_day and follow_up_days "
                        f"[{self.screening_day}, {self.follow_up_days}]",
                        day,
                    )
                if i and day <= days[i - 1]:
                    what = "repeats" if day == days[i - 1] else "comes after"
                    raise problem(
                        (name, i),
                        f"must be sorted ascending without duplicates ({day} {what} "
                        f"{days[i - 1]})",
                        day,
                    )
        return self

    @property
    def all_days(self) -> tuple[int, ...]:
        """Sorted union of ``lab_days``, ``pk_days`` and ``disease_days``."""
        return tuple(sorted({*self.lab_days, *self.pk_days, *self.disease_days}))


class Endpoints(_Frozen):
    """The ``[endpoints]`` table: the primary efficacy endpoint.

    Attributes
    ----------
    primary_efficacy : str
        One of :data:`PRIMARY_ENDPOINTS` for the protocol's indication.
    primary_day : int
        Day it is assessed: within follow-up and on a ``disease_days`` visit.
    """

    primary_efficacy: Text
    primary_day: Annotated[Int, Field(gt=0)]


def reported_fraction(value: float, n: int | None) -> float:
    """A reported rate as the exact k/n it was rounded from (within half a unit of its third decimal).

    Papers and the targets file write 1/26 as 0.0385 and 8/13 as 0.615; comparing those with a
    simulated rate of exactly 1/26 must not fail by the rounding. Values farther from any k/n, and
    values without ``n``, are returned unchanged.

    Examples
    --------
    >>> reported_fraction(0.0385, 26) == 1 / 26, reported_fraction(0.92, 32), reported_fraction(0.615, None)
    (True, 0.92, 0.615)
    """
    if n:
        k = round(value * n)
        if abs(value - k / n) <= 0.0005 + 1e-12:
            return k / n
    return value


class ReportedResult(_Frozen):
    """One ``[[reported]]`` entry: a published result the simulation can be compared to.

    Attributes
    ----------
    metric : str
        snake_case metric name, e.g. ``"crs_any"``, ``"sledai2k_change_median"``. Rates are
        fractions in [0, 1], not percentages.
    arm : str or None
        Arm code the value belongs to; ``None`` for all treated patients pooled.
    value : float
        Reported value.
    n : int or None
        Patients the value is based on (treated or evaluable), when reported.
    day : int or None
        Assessment day, when the value is time-specific.
    source : str
        Where the number was published.
    """

    metric: Annotated[Text, StringConstraints(pattern=METRIC_PATTERN)]
    arm: Annotated[Text, StringConstraints(pattern=ARMCD_PATTERN)] | None = None
    value: Float
    n: Annotated[Int, Field(ge=1)] | None = None
    day: Int | None = None
    source: Text


class SiteAssumptions(_Frozen):
    """The ``[site]`` table: how the virtual site behaves where the protocol is silent.

    Attributes
    ----------
    pre_infusion_fever_prob : float, default 0.03
        Probability that a patient has a fever or a sign of infection inside the safety window
        before the planned infusion day.
    gate_miss_prob : float, default 0.25
        Probability that the site infuses such a patient anyway, without stopping at the
        safety gate or informing the medical monitor (the RESET incident), when
        ``[safety_window] written_confirmation`` is false. Requiring written confirmation
        lowers it; by how much is an assumption of the trial layer.
    infusion_delay_days : int, default 7
        Days the infusion is postponed when the gate does stop a patient with fever or
        infection.
    """

    pre_infusion_fever_prob: Probability = 0.03
    gate_miss_prob: Probability = 0.25
    infusion_delay_days: Annotated[Int, Field(ge=0)] = 7


class EscalationDesign(_Frozen):
    """The ``[design]`` table: run the protocol as a dose-escalation trial.

    With this table, ``cartlab run`` treats the ``[[arms]]`` as dose levels, lowest first (their
    ``n`` is not used), and runs Part A, escalation with ``method`` in cohorts of ``cohort_size``
    virtual patients, then Part B, ``expansion_n`` more patients at the dose Part A selects. A DLT
    is ASTCT CRS or ICANS of grade >= 3, as graded by the site, starting within ``dlt_window_days``
    of infusion; a response (BOIN12) is the indication's response at ``response_day``
    (:mod:`cartlab.trial`'s ``dose_outcomes``).

    Attributes
    ----------
    method : {"boin", "3+3", "boin12"}
        Escalation design.
    target : float or None
        BOIN target DLT probability, or BOIN12 DLT limit (required for both; not used by 3+3).
    lower_e : float or None
        BOIN12 lowest acceptable response probability (BOIN12 only, required).
    cohort_size : int, default 3
        Patients per cohort (3+3: must be 3).
    max_cohorts : int, default 10
        Maximum number of Part A cohorts (BOIN, BOIN12; 3+3 stops by its own rules).
    n_earlystop : int or None
        Stop Part A once this many patients were treated at the current dose and the design says stay
        there (BOIN, BOIN12).
    dlt_window_days : int, default 28
        DLT assessment window, days after infusion.
    expansion_n : int, default 0
        Part B patients at the selected dose.
    response_day : int or None
        BOIN12: day of the response assessment (default: ``[endpoints] primary_day``); a disease visit.
    u11, u00, u10, u01 : float
        BOIN12 utilities (defaults 60, 40, 0, 100).
    """

    method: Literal["boin", "3+3", "boin12"]
    target: Annotated[Float, Field(gt=0.0, lt=1.0)] | None = None
    lower_e: Annotated[Float, Field(gt=0.0, lt=1.0)] | None = None
    cohort_size: Annotated[Int, Field(ge=1, le=12)] = 3
    max_cohorts: Annotated[Int, Field(ge=1, le=100)] = 10
    n_earlystop: Annotated[Int, Field(ge=1)] | None = None
    dlt_window_days: Annotated[Int, Field(ge=1, le=365)] = 28
    expansion_n: Annotated[Int, Field(ge=0, le=1000)] = 0
    response_day: Annotated[Int, Field(gt=0)] | None = None
    u11: Annotated[Float, Field(ge=0.0, le=100.0)] = 60.0
    u00: Annotated[Float, Field(ge=0.0, le=100.0)] = 40.0
    u10: Annotated[Float, Field(ge=0.0, le=100.0)] = 0.0
    u01: Annotated[Float, Field(ge=0.0, le=100.0)] = 100.0

    @model_validator(mode="after")
    def _method_needs(self) -> EscalationDesign:
        if self.method in ("boin", "boin12") and self.target is None:
            raise problem(("target",), f"is required when method is {self.method!r} (a DLT probability, e.g. 0.3)")
        if self.method == "boin12" and self.lower_e is None:
            raise problem(("lower_e",), "is required when method is 'boin12' (a response probability, e.g. 0.25)")
        if self.method != "boin12":
            for key in ("lower_e", "response_day"):
                if getattr(self, key) is not None:
                    raise problem((key,), f"is only used when method is 'boin12', not {self.method!r}",
                                  getattr(self, key))
        if self.method == "3+3":
            if self.cohort_size != 3:
                raise problem(("cohort_size",), "must be 3 when method is '3+3'", self.cohort_size)
            if self.target is not None:
                raise problem(("target",), "is not used when method is '3+3'; leave it out", self.target)
        if not (self.u10 <= self.u00 <= self.u01 and self.u10 <= self.u11 <= self.u01 and self.u10 < self.u01):
            raise problem(("u11",), f"and u00 must lie between u10 and u01, with u10 < u01 (DLT without response is "
                                    f"the worst outcome, response without DLT the best; u00 = {self.u00:g}, "
                                    f"u10 = {self.u10:g}, u01 = {self.u01:g})", self.u11)
        return self


# --------------------------------------------------------------------------------------------
# The protocol
# --------------------------------------------------------------------------------------------

TOML_TABLES: tuple[str, ...] = (
    "trial",
    "product",
    "arms",
    "lymphodepletion",
    "population",
    "eligibility",
    "safety_window",
    "immunosuppression",
    "rescue",
    "schedule",
    "endpoints",
    "reported",
    "site",
    "design",
)
"""Top-level keys of a protocol file, in file order."""

ARRAY_TABLES: frozenset[str] = frozenset({"arms", "lymphodepletion", "reported"})
"""Top-level keys written as arrays of tables (``[[arms]]``)."""


class Protocol(_Frozen):
    """A validated, frozen CAR-T trial protocol.

    Attributes
    ----------
    trial, product, arms, lymphodepletion, population, eligibility, safety_window,
    immunosuppression, rescue, schedule, endpoints, reported, site
        One per TOML table; see each model.
    source_path : pathlib.Path or None
        File the protocol was read from.
    sha256 : str
        SHA-256 of the file bytes (hex), for provenance.
    overrides : tuple of str
        Changes applied after loading (e.g. ``"arms.n=50"``), in order; ``sha256`` still names
        the file, so provenance records both.

    Notes
    -----
    Cross-field checks: arm codes unique; lymphodepletion after screening; immunosuppression
    withdrawal within the schedule; eligibility variables and primary endpoint valid for the
    indication; ``lupus_nephritis_fraction`` only for SLE; primary day on a disease visit;
    ``[[reported]]`` arms exist.
    """

    trial: Trial
    product: Product
    arms: Annotated[tuple[Arm, ...], Field(min_length=1)]
    lymphodepletion: tuple[LymphodepletionAgent, ...]
    population: Population = Field(default_factory=Population)
    eligibility: Eligibility
    safety_window: SafetyWindow
    immunosuppression: Immunosuppression
    rescue: Rescue
    schedule: Schedule
    endpoints: Endpoints
    reported: tuple[ReportedResult, ...] = ()
    site: SiteAssumptions = Field(default_factory=SiteAssumptions)
    design: EscalationDesign | None = None
    source_path: Path | None = None
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    overrides: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        indication = self.trial.indication
        seen: dict[str, int] = {}
        for i, arm in enumerate(self.arms):
            if arm.code in seen:
                raise problem(
                    ("arms", i, "code"),
                    f"must be unique ([[arms]] {seen[arm.code] + 1} has the same code)",
                    arm.code,
                )
            seen[arm.code] = i
        screening = self.schedule.screening_day
        for i, agent in enumerate(self.lymphodepletion):
            for j, day in enumerate(agent.days):
                if day <= screening:
                    raise problem(
                        ("lymphodepletion", i, "days", j),
                        f"must be after [schedule] screening_day ({screening})",
                        day,
                    )
        withdrawal = self.immunosuppression.withdrawal_day
        if not screening <= withdrawal <= self.schedule.follow_up_days:
            raise problem(
                ("immunosuppression", "withdrawal_day"),
                f"must be within [schedule] screening_day and follow_up_days "
                f"[{screening}, {self.schedule.follow_up_days}]",
                withdrawal,
            )
        allowed = ELIGIBILITY_VARIABLES[indication]
        for i, criterion in enumerate(self.eligibility.criteria):
            if criterion.variable not in allowed:
                raise problem(
                    ("eligibility", "criteria", i, "variable"),
                    f"must be an {indication} screening variable ({', '.join(allowed)})",
                    criterion.variable,
                )
        for a, arm in enumerate(self.arms):
            for i, criterion in enumerate(arm.criteria):
                if criterion.variable not in allowed:
                    raise problem(
                        ("arms", a, "criteria", i, "variable"),
                        f"must be an {indication} screening variable ({', '.join(allowed)})",
                        criterion.variable,
                    )
        if indication != "SLE" and self.population.lupus_nephritis_fraction is not None:
            raise problem(
                ("population", "lupus_nephritis_fraction"),
                f"is only allowed when [trial] indication is SLE, not {indication}",
                self.population.lupus_nephritis_fraction,
            )
        endpoints = PRIMARY_ENDPOINTS[indication]
        if self.endpoints.primary_efficacy not in endpoints:
            raise problem(
                ("endpoints", "primary_efficacy"),
                f"must be one of {', '.join(endpoints)} for {indication}",
                self.endpoints.primary_efficacy,
            )
        day = self.endpoints.primary_day
        if day > self.schedule.follow_up_days:
            raise problem(
                ("endpoints", "primary_day"),
                f"must be <= [schedule] follow_up_days ({self.schedule.follow_up_days})",
                day,
            )
        if day not in self.schedule.disease_days:
            raise problem(
                ("endpoints", "primary_day"),
                "must be one of [schedule] disease_days, so the endpoint is assessed",
                day,
            )
        if self.design is not None:
            self._check_design(self.design)
        for i, result in enumerate(self.reported):
            if result.arm is not None and result.arm not in seen:
                raise problem(
                    ("reported", i, "arm"),
                    f"must be an arm code ({', '.join(seen)}) or left out for all arms",
                    result.arm,
                )
        return self

    def _check_design(self, design: EscalationDesign) -> None:
        """Dose levels (the arms) of one kind and increasing; the response day on a disease visit."""
        kinds = {arm.dose.weight_based for arm in self.arms}
        if len(kinds) > 1:
            raise problem(("arms",), "must all be fixed (cells) or all weight-based (cells_per_kg) doses when "
                                     "[design] is given: the arms are the dose levels")
        amounts = [arm.dose.cells_per_kg if arm.dose.weight_based else arm.dose.cells for arm in self.arms]
        for i in range(1, len(amounts)):
            if not amounts[i] > amounts[i - 1]:  # type: ignore[operator]
                raise problem(("arms", i, "dose"), f"must be higher than the dose of [[arms]] {i} when [design] "
                                                   "is given (the arms are the dose levels, lowest first)",
                              amounts[i])
        if design.response_day is not None:
            if design.response_day not in self.schedule.disease_days:
                raise problem(("design", "response_day"),
                              "must be one of [schedule] disease_days, so the response is assessed",
                              design.response_day)

    @property
    def indication(self) -> str:
        """The trial's indication (``"SLE"``, ``"SSC"`` or ``"IIM"``)."""
        return self.trial.indication

    @property
    def n_total(self) -> int:
        """Patients over all arms."""
        return sum(arm.n for arm in self.arms)

    def arm(self, code: str) -> Arm:
        """Return the arm with this ``ARMCD``.

        Raises
        ------
        SpecError
            No arm has that code.
        """
        for arm in self.arms:
            if arm.code == code:
                return arm
        codes = [a.code for a in self.arms]
        raise SpecError(
            f"{self.trial.study_id}: no arm with code {code!r}{suggest(code, codes)}; "
            f"arms are {', '.join(codes)}"
        )

    def with_arm_sizes(self, n: int) -> Protocol:
        """Return a copy in which every arm treats ``n`` patients (the CLI's ``--n``).

        Parameters
        ----------
        n : int
            Patients per arm, >= 1.

        Returns
        -------
        Protocol
            A new protocol; ``overrides`` records the change.

        Raises
        ------
        SpecError
            ``n`` is not an integer >= 1.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise SpecError(f"n (patients per arm) must be an integer >= 1; got {n!r}")
        arms = tuple(arm.model_copy(update={"n": int(n)}) for arm in self.arms)
        return self.model_copy(
            update={"arms": arms, "overrides": (*self.overrides, f"arms.n={int(n)}")}
        )


__all__ = [
    "ARMCD_PATTERN",
    "ARRAY_TABLES",
    "ELIGIBILITY_VARIABLES",
    "LYMPHODEPLETION_DRUGS",
    "PRIMARY_ENDPOINTS",
    "TOML_TABLES",
    "Arm",
    "Criterion",
    "Dose",
    "Eligibility",
    "Endpoints",
    "EscalationDesign",
    "Immunosuppression",
    "Indication",
    "LymphodepletionAgent",
    "Population",
    "Product",
    "Protocol",
    "ReportedResult",
    "Rescue",
    "SafetyWindow",
    "Schedule",
    "SiteAssumptions",
    "Trial",
]
