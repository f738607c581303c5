"""The instrument registry: input checking that names what is wrong, and a conformance test every
registered instrument passes (metadata complete, inputs declared, errors clear)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import cartlab.instruments as instruments
from cartlab._core.errors import DataValidationError, SpecError
from cartlab.instruments import Input, Instrument, get, instrument, registry


def _toy() -> Instrument:
    def f(a, b, c, d=None):
        return a + b

    return Instrument("TOY", "1", "nobody 2026", "points", (
        Input("a", "float", "a number", "mg", low=0.0, high=10.0),
        Input("b", "int", "a count", low=0, high=3),
        Input("c", "category", "a level", categories=("low", "high")),
        Input("d", "bool", "a flag", optional=True),
    ), f)


def test_check_passes_good_input_and_keeps_it() -> None:
    got = _toy().check({"a": [0.0, 10.0], "b": [0, 3], "c": ["low", "high"], "d": [True, False]})
    assert got["a"].tolist() == [0.0, 10.0] and got["b"].tolist() == [0.0, 3.0]


@pytest.mark.parametrize(("values", "needle"), [
    ({"a": [1.0, 10.5], "b": [0, 0], "c": ["low", "low"]}, "input 'a' row 1: got 10.5, expected 0.0 to 10.0 mg"),
    ({"a": [1.0, -0.1], "b": [0, 0], "c": ["low", "low"]}, "input 'a' row 1"),
    ({"a": [1.0, 1.0], "b": [0, 1.5], "c": ["low", "low"]}, "input 'b' row 1: got 1.5, expected a whole number"),
    ({"a": [1.0, 1.0], "b": [0, 4], "c": ["low", "low"]}, "expected 0 to 3"),
    ({"a": ["x", 1.0], "b": [0, 1], "c": ["low", "low"]}, "input 'a' row 0: got 'x', expected a number in mg"),
    ({"a": [np.nan, 1.0], "b": [0, 1], "c": ["low", "low"]}, "missing values are not allowed"),
    ({"a": [1.0, 1.0], "b": [0, 1], "c": ["low", "medium"]}, "input 'c' row 1: got 'medium', expected one of low, high"),
    ({"a": [1.0, 1.0], "b": [0, 1], "c": ["low", "low"], "d": [True, 2]}, "input 'd' row 1"),
    ({"a": [1.0], "b": [0]}, "needs input 'c'"),
    ({"a": [1.0], "b": [0], "c": ["low"], "e": [1]}, "has no input 'e'"),
])
def test_check_names_input_row_value_and_expectation(values, needle) -> None:
    with pytest.raises(DataValidationError) as exc:
        _toy().check(values, where="visits.csv")
    assert exc.value.args[0].startswith("visits.csv: TOY")
    assert needle in exc.value.args[0]


def test_rows_can_be_counted_from_one_for_files() -> None:
    with pytest.raises(DataValidationError, match="row 2:"):
        _toy().check({"a": [1.0, 11.0], "b": [0, 0], "c": ["low", "low"]}, first_row=1)


def test_optional_input_may_be_missing_or_nan() -> None:
    _toy().check({"a": [1.0], "b": [0], "c": ["low"]})
    _toy().check({"a": [1.0], "b": [0], "c": ["low"], "d": [None]})


def test_registering_a_name_twice_is_an_error() -> None:
    name = next(iter(registry()), None)
    if name is None:
        pytest.skip("no instrument registered")
    with pytest.raises(SpecError, match="registered twice"):
        instrument(name=name, version="x", citation="x", unit="x", inputs=())(lambda: None)


def test_get_is_case_insensitive_and_lists_the_known_names() -> None:
    for name in registry():
        assert get(name.lower()).name == name
    with pytest.raises(SpecError, match="no instrument 'NOPE'; known: "):
        get("NOPE")


# --------------------------------------------------------------------------- conformance
ALL = sorted(registry())


def test_the_library_registers_its_instruments() -> None:
    assert len(ALL) >= 1, "importing cartlab.instruments registers no instrument"
    assert set(instruments.__all__) >= {"registry", "get", "Instrument", "Input", "instrument"}


@pytest.mark.parametrize("name", ALL)
def test_every_instrument_is_documented_and_declares_its_inputs(name: str) -> None:
    ins = registry()[name]
    assert ins.version.strip(), f"{name}: no version"
    assert re.search(r"(19|20)\d\d", ins.citation), f"{name}: citation without a year: {ins.citation!r}"
    assert ins.unit.strip() and ins.description.strip()
    assert callable(ins.function)
    names = [i.name for i in ins.inputs]
    assert len(names) == len(set(names)), f"{name}: duplicate input names"
    for i in ins.inputs:
        assert i.kind in ("float", "int", "bool", "category"), f"{name}.{i.name}: kind {i.kind!r}"
        assert i.description.strip(), f"{name}.{i.name}: no description"
        if i.kind == "category":
            assert i.categories, f"{name}.{i.name}: category input without categories"
        if i.low is not None and i.high is not None:
            assert i.low <= i.high
    if ins.output_range is not None:
        assert ins.output_range[0] <= ins.output_range[1]


@pytest.mark.parametrize("name", ALL)
def test_every_instrument_refuses_an_unknown_input_and_a_missing_one(name: str) -> None:
    ins = registry()[name]
    with pytest.raises(DataValidationError, match="has no input"):
        ins.check({"__not_an_input__": [1]})
    required = [i for i in ins.inputs if not i.optional]
    if required:
        with pytest.raises(DataValidationError, match=f"needs input {required[0].name!r}"):
            ins.check({})
