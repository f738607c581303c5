"""Unit tests of cartlab.protocol: specs, loading and the messages a user sees."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from cartlab._core.errors import DataValidationError, SpecError
from cartlab.protocol import (
    ELIGIBILITY_VARIABLES,
    Criterion,
    Dose,
    Eligibility,
    Population,
    Protocol,
    Schedule,
    load_protocol,
    load_protocol_bytes,
    resolve_protocol,
)


@pytest.fixture(scope="module")
def reference_text() -> str:
    """The shipped reference protocol, the base every broken file is derived from."""
    return resolve_protocol("breakfree1-sle").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reference() -> Protocol:
    return load_protocol(resolve_protocol("breakfree1-sle"))


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) >= 1, f"reference protocol no longer contains {old!r}"
    return text.replace(old, new, 1)


def _error(tmp_path: Path, text: str, name: str = "bad.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_protocol(path)
    message = str(caught.value)
    assert name in message
    for leak in ("pydantic", "Input should", "validation error", "Traceback", "errors.pydantic"):
        assert leak not in message
    return message


# --------------------------------------------------------------------------------------------
# One test per kind of mistake; each message names file, key and value.
# --------------------------------------------------------------------------------------------


def test_bad_toml_syntax_names_line_and_column(tmp_path: Path, reference_text: str) -> None:
    sponsor = 'sponsor = "Bristol Myers Squibb"'
    text = _edit(reference_text, sponsor, sponsor.replace(" =", ""))
    line = text.splitlines().index('sponsor "Bristol Myers Squibb"') + 1
    message = _error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'bad.toml'}: not valid TOML at line {line}, column ")
    assert "Expected '='" in message


def test_unknown_key_suggests_the_right_one(tmp_path: Path, reference_text: str) -> None:
    text = _edit(reference_text, 'indication = "SLE"', 'indicaton = "SLE"')
    message = _error(tmp_path, text)
    # The missing 'indication' is the same mistake and is not counted again.
    assert message.endswith(
        "bad.toml [trial]: unknown key 'indicaton' (did you mean 'indication'?)"
    )


#: one edit of the reference protocol -> how the one error message it gives must end
_ONE_EDIT_MISTAKES = [
    pytest.param(
        'dose = { cells = 25e6 }', 'dose = { cels = 25e6 }',
        "[[arms]] 2: unknown key 'dose.cels' (did you mean 'cells'?)",
        id='unknown_key_in_inline_table',
    ),
    pytest.param(
        'indication = "SLE"', 'indication = "LUPUS"',
        "bad.toml [trial] indication: must be one of SLE, SSC, IIM; got 'LUPUS'",
        id='invalid_choice_lists_the_choices',
    ),
    pytest.param(
        'female_fraction = 0.9', 'female_fraction = nan',
        '[population] female_fraction: must be a finite number; got nan',
        id='not_a_finite_number',
    ),
    pytest.param(
        'code = "DL2"', 'code = "DL1"',
        "bad.toml [[arms]] 2: code must be unique ([[arms]] 1 has the same code); got 'DL1'",
        id='duplicate_arm_code',
    ),
    pytest.param(
        'code = "DL2"', 'code = "dl-2"',
        "[[arms]] 2: code must be 1 to 8 upper-case letters or digits (an SDTM ARMCD); got 'dl-2'",
        id='arm_code_must_be_an_armcd',
    ),
    pytest.param(
        'variable = "bilag_a_domains"', 'variable = "bilag_a_domain"',
        "[eligibility] criteria[1].variable: is not an eligibility variable (did you mean 'bilag_a_domains'?); got "
        "'bilag_a_domain'",
        id='eligibility_variable_misspelt',
    ),
    pytest.param(
        'rho = 1.0', 'rhoo = 1.0',
        "bad.toml [product] parameters.rhoo: is not a model parameter (did you mean 'rho'?)",
        id='unknown_model_parameter',
    ),
    pytest.param(
        'primary_efficacy = "sledai2k_change"', 'primary_efficacy = "tis"',
        "[endpoints] primary_efficacy: must be one of sledai2k_change, pga_change, doris_remission for SLE; got 'tis'",
        id='primary_endpoint_of_another_indication',
    ),
    pytest.param(
        'pk_days = [1, 2, 4, 7,', 'pk_days = [1, 4, 2, 7,',
        'bad.toml [schedule] pk_days[3]: must be sorted ascending without duplicates (2 comes after 4); got 2',
        id='unsorted_schedule_days',
    ),
    pytest.param(
        'pk_days = [1, 2, 4, 7,', 'pk_days = [1, 2, 2, 7,',
        '[schedule] pk_days[3]: must be sorted ascending without duplicates (2 repeats 2); got 2',
        id='duplicate_schedule_days',
    ),
    pytest.param(
        'disease_days = [-28, 28,', 'disease_days = [-40, 28,',
        '[schedule] disease_days[1]: must be within screening_day and follow_up_days [-28, 730]; got -40',
        id='schedule_day_outside_follow_up',
    ),
    pytest.param(
        'days = [-5, -4, -3]', 'days = [-5, -4, 3]',
        'bad.toml [[lymphodepletion]] 1: days[3] must be < 0 (lymphodepletion precedes the day-0 infusion); got 3',
        id='lymphodepletion_day_not_negative',
    ),
    pytest.param(
        'days = [-5, -4, -3]', 'days = [-30, -4, -3]',
        '[[lymphodepletion]] 1: days[1] must be after [schedule] screening_day (-28); got -30',
        id='lymphodepletion_before_screening',
    ),
    pytest.param(
        'primary_day = 180', 'primary_day = 181',
        '[endpoints] primary_day: must be one of [schedule] disease_days, so the endpoint is assessed; got 181',
        id='primary_day_needs_a_disease_visit',
    ),
]


@pytest.mark.parametrize(("old", "new", "suffix"), _ONE_EDIT_MISTAKES)
def test_one_edit_mistake(tmp_path: Path, reference_text: str, old: str, new: str, suffix: str) -> None:
    assert _error(tmp_path, _edit(reference_text, old, new)).endswith(suffix)


def test_arm_criteria_name_the_arm_and_the_variable(tmp_path: Path, reference_text: str) -> None:
    text = _edit(reference_text, 'dose = { cells = 25e6 }',
                 'dose = { cells = 25e6 }\ncriteria = [{ variable = "mrss", op = ">=", value = 10 }]')
    assert _error(tmp_path, text).endswith(
        "[[arms]] 2: criteria[1].variable must be an SLE screening variable (age, weight_kg, prior_immunosuppressants, "
        "anc_10e9_l, platelets_10e9_l, hgb_g_dl, egfr_ml_min, sledai2k, bilag_a_domains, anti_dsdna_iu_ml, c3_g_l, "
        "upcr_g_g, pga, lupus_nephritis); got 'mrss'")


def test_parameter_set_is_a_shipped_calibrated_set_and_product_parameters_win(tmp_path: Path,
                                                                             reference_text: str) -> None:
    from cartlab.protocol import PARAMETER_SET_DIR, calibrated_parameter_set

    shipped = sorted(f.stem for f in PARAMETER_SET_DIR.glob("*.toml"))
    assert shipped, "no calibrated parameter set is shipped"
    name = shipped[0]
    line = next(x for x in reference_text.splitlines() if x.startswith("parameter_set = "))
    bad = _edit(reference_text, line, 'parameter_set = "no-such-set"')
    assert _error(tmp_path, bad).endswith(
        f"[product] parameter_set: must name a shipped calibrated parameter set ({', '.join(shipped)}); "
        "got 'no-such-set'")
    values, sha = calibrated_parameter_set(name)
    assert len(sha) == 64 and values
    key = next(iter(values))
    good = _edit(reference_text, line, f'parameter_set = "{name}"')
    path = tmp_path / "good.toml"
    path.write_text(good)
    product = load_protocol(path).product
    assert product.parameter_set == name
    merged = product.model_parameters
    assert {k: merged[k] for k in values if k not in product.parameters} == \
        {k: v for k, v in values.items() if k not in product.parameters}
    assert all(merged[k] == v for k, v in product.parameters.items())  # [product.parameters] win
    over = _edit(good, "[product.parameters]", f"[product.parameters]\n{key} = 0.123")
    path.write_text(over)
    assert load_protocol(path).product.model_parameters[key] == 0.123


def test_unknown_table_suggests_the_right_one(tmp_path: Path, reference_text: str) -> None:
    message = _error(tmp_path, reference_text + "\n[rescu]\nx = 1\n")
    assert message.endswith("bad.toml: unknown table [rescu] (did you mean [rescue]?)")


def test_missing_key_and_missing_table(tmp_path: Path, reference_text: str) -> None:
    no_sponsor = _edit(reference_text, 'sponsor = "Bristol Myers Squibb"\n', "")
    assert _error(tmp_path, no_sponsor).endswith("[trial]: missing required key 'sponsor'")
    head, tail = reference_text.split("[rescue]")
    no_rescue = head + "[schedule]" + tail.split("[schedule]")[1]
    assert _error(tmp_path, no_rescue).endswith("bad.toml: missing table [rescue]")


def test_wrong_type_is_not_coerced(tmp_path: Path, reference_text: str) -> None:
    message = _error(tmp_path, _edit(reference_text, "n = 13", 'n = "13"'))
    assert message.endswith("bad.toml [[arms]] 1: n must be an integer; got '13'")
    text = _edit(reference_text, "written_confirmation = false", "written_confirmation = 0")
    message = _error(tmp_path, text)
    assert message.endswith("[safety_window] written_confirmation: must be true or false; got 0")


def test_out_of_range_value(tmp_path: Path, reference_text: str) -> None:
    text = _edit(reference_text, "dose = { cells = 25e6 }", "dose = { cells = -5e6 }")
    message = _error(tmp_path, text, name="breakfree1-sle.toml")
    assert message.endswith(
        "breakfree1-sle.toml [[arms]] 2: dose.cells must be > 0; got -5000000.0"
    )
    text = _edit(reference_text, "female_fraction = 0.9", "female_fraction = 1.5")
    message = _error(tmp_path, text)
    assert message.endswith("[population] female_fraction: must be <= 1; got 1.5")


def test_dose_with_both_cells_and_cells_per_kg(tmp_path: Path, reference_text: str) -> None:
    text = _edit(
        reference_text, "dose = { cells = 25e6 }", "dose = { cells = 25e6, cells_per_kg = 1e6 }"
    )
    message = _error(tmp_path, text)
    assert "bad.toml [[arms]] 2: dose must set exactly one of 'cells'" in message
    assert message.endswith("got both")


def test_dose_with_neither(tmp_path: Path, reference_text: str) -> None:
    message = _error(tmp_path, _edit(reference_text, "dose = { cells = 25e6 }", "dose = {}"))
    assert "bad.toml [[arms]] 2: dose must set exactly one of" in message
    assert message.endswith("got neither")


def test_eligibility_variable_of_another_indication(tmp_path: Path, reference_text: str) -> None:
    text = _edit(reference_text, 'variable = "bilag_a_domains"', 'variable = "mrss"')
    message = _error(tmp_path, text)
    assert "bad.toml [eligibility] criteria[1].variable: must be an SLE screening var" in message
    assert message.endswith("got 'mrss'")


def test_lupus_nephritis_fraction_on_ssc(tmp_path: Path, reference_text: str) -> None:
    text = _edit(reference_text, 'indication = "SLE"', 'indication = "SSC"')
    text = _edit(text, 'primary_efficacy = "sledai2k_change"', 'primary_efficacy = "mrss_change"')
    text = _edit(text, '{ variable = "bilag_a_domains", op = ">=", value = 1 },', "")
    message = _error(tmp_path, text)
    assert message.endswith(
        "bad.toml [population] lupus_nephritis_fraction: is only allowed when [trial] "
        "indication is SLE, not SSC; got 0.79"
    )


def test_reported_result_for_an_unknown_arm(tmp_path: Path, reference_text: str) -> None:
    text = reference_text + (
        '\n[[reported]]\nmetric = "crs_any"\narm = "DL3"\nvalue = 0.6\nsource = "x"\n'
    )
    message = _error(tmp_path, text)
    # the appended entry comes after the reference protocol's own [[reported]] entries
    index = reference_text.count("\n[[reported]]") + 1
    assert message.endswith(
        f"bad.toml [[reported]] {index}: arm must be an arm code (DL1, DL2) or left out for all arms; "
        "got 'DL3'"
    )


def test_array_of_tables_written_as_a_table(tmp_path: Path, reference_text: str) -> None:
    text = reference_text.replace("[[lymphodepletion]]", "[lymphodepletion]", 1)
    second = '[[lymphodepletion]]\ndrug = "cyclophosphamide"\ndose_mg_m2 = 300\ndays = [-5, -4, -3]\n'
    text = _edit(text, second, "")
    message = _error(tmp_path, text)
    assert (
        "bad.toml [[lymphodepletion]]: must be an array of tables "
        "(write [[lymphodepletion]], not [lymphodepletion]); got {"
    ) in message


def test_several_problems_are_counted(tmp_path: Path, reference_text: str) -> None:
    text = _edit(_edit(reference_text, "n = 13", "n = 0"), "n = 6", "n = -1")
    message = _error(tmp_path, text)
    assert message.endswith("bad.toml [[arms]] 1: n must be >= 1; got 0 (and 1 more problem)")


def test_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    with pytest.raises(SpecError, match=r"x\.toml: file not found$"):
        load_protocol(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(b"[trial]\nstudy_id = '\xff'\n")
    with pytest.raises(SpecError, match=r"bad\.toml: not valid UTF-8 at byte 20$"):
        load_protocol(path)


def test_directory_is_not_a_protocol(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a directory"):
        load_protocol(tmp_path)


# --------------------------------------------------------------------------------------------
# Resolving names, hashing, immutability
# --------------------------------------------------------------------------------------------


def test_resolve_protocol_by_name_path_and_typo(tmp_path: Path) -> None:
    by_name = resolve_protocol("breakfree1-sle")
    assert by_name == resolve_protocol("breakfree1-sle.toml")
    assert by_name.is_file()
    assert resolve_protocol(by_name) == by_name
    local = tmp_path / "breakfree1-sle.toml"
    local.write_text("# a local file wins over a shipped name\n")
    assert resolve_protocol(local) == local
    typo = r"breakfree1-sl: file not found, and not a shipped protocol \(did you mean 'breakfree1-sle'"
    with pytest.raises(SpecError, match=typo):
        resolve_protocol("breakfree1-sl")
    missing = tmp_path / "missing" / "breakfree1-sle.toml"
    with pytest.raises(SpecError, match=r"missing/breakfree1-sle\.toml: file not found$"):
        resolve_protocol(missing)


def test_hash_is_of_the_file_bytes_and_changes_with_them(
    tmp_path: Path, reference_text: str
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(reference_text, encoding="utf-8")
    first = load_protocol(path)
    assert first.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert first.source_path == path.resolve()
    comment = "\n# a comment changes the bytes, not the content\n"
    path.write_text(reference_text + comment, encoding="utf-8")
    second = load_protocol(path)
    assert second.sha256 != first.sha256
    assert second.arms == first.arms
    from_bytes = load_protocol_bytes(path.read_bytes(), source="p.toml")
    assert from_bytes.sha256 == second.sha256 and from_bytes.source_path is None


def test_protocol_is_frozen(reference: Protocol) -> None:
    with pytest.raises(ValidationError):
        reference.trial.indication = "SSC"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        reference.arms[0].n = 99  # type: ignore[misc]
    with pytest.raises(TypeError):
        reference.product.parameters["rho"] = 2.0  # type: ignore[index]
    assert isinstance(reference.arms, tuple)
    assert reference.product.model_dump()["parameters"] == {"rho": 1.0}


def test_with_arm_sizes_returns_a_new_protocol(reference: Protocol) -> None:
    bigger = reference.with_arm_sizes(50)
    assert [arm.n for arm in bigger.arms] == [50, 50]
    assert [arm.n for arm in reference.arms] == [13, 6]  # abstract 1529: DL1 13, DL2 6
    assert [arm.dose for arm in bigger.arms] == [arm.dose for arm in reference.arms]
    assert bigger.overrides == ("arms.n=50",)
    assert bigger.sha256 == reference.sha256
    assert bigger.n_total == 100
    for bad in (0, -3, 2.5, True):
        with pytest.raises(SpecError, match=r"n \(patients per arm\) must be an integer >= 1"):
            reference.with_arm_sizes(bad)  # type: ignore[arg-type]


def test_arm_lookup(reference: Protocol) -> None:
    assert reference.arm("DL2").dose.cells == 25e6
    with pytest.raises(SpecError, match=r"BF1-SLE: no arm with code 'DL3' .*; arms are DL1, DL2$"):
        reference.arm("DL3")


def test_unknown_top_level_key_is_rejected(tmp_path: Path, reference_text: str) -> None:
    # Provenance fields are set by the loader and cannot be written in the file.
    message = _error(tmp_path, 'sha256 = "00"\n' + reference_text)
    assert message.endswith("bad.toml: unknown table [sha256]")


# --------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (">=", [False, True, True, False]),
        (">", [False, False, True, False]),
        ("<=", [True, True, False, False]),
        ("<", [True, False, False, False]),
        ("==", [False, True, False, False]),
        ("!=", [True, False, True, False]),
    ],
)
def test_criterion_boundaries(op: str, expected: list[bool]) -> None:
    criterion = Criterion(variable="sledai2k", op=op, value=6)  # type: ignore[arg-type]
    result = criterion.evaluate(np.array([5.0, 6.0, 7.0, math.nan]))
    assert result.dtype == np.bool_
    assert result.tolist() == expected  # NaN (not measured) never qualifies
    assert criterion.text == f"sledai2k {op} 6"


def test_criterion_text_keeps_fractions() -> None:
    assert Criterion(variable="c3_g_l", op="<", value=0.9).text == "c3_g_l < 0.9"


def test_eligibility_evaluate() -> None:
    rules = Eligibility(
        age_min=18,
        age_max=65,
        criteria=(Criterion(variable="sledai2k", op=">=", value=6),),
    )
    ok = rules.evaluate({"age": [17, 18, 65, 66, 40], "sledai2k": [10, 10, 6, 10, 5]})
    assert ok.tolist() == [False, True, True, False, False]
    with pytest.raises(DataValidationError, match="sledai2k"):
        rules.evaluate({"age": [30]})


def test_eligibility_variables_table() -> None:
    common = (
        "age",
        "weight_kg",
        "prior_immunosuppressants",
        "anc_10e9_l",
        "platelets_10e9_l",
        "hgb_g_dl",
        "egfr_ml_min",
    )
    sle = ("sledai2k", "bilag_a_domains", "anti_dsdna_iu_ml", "c3_g_l", "upcr_g_g", "pga", "lupus_nephritis")
    assert ELIGIBILITY_VARIABLES["SLE"] == common + sle
    assert ELIGIBILITY_VARIABLES["SSC"] == common + ("mrss", "fvc_pct_pred", "disease_duration_years")
    assert ELIGIBILITY_VARIABLES["IIM"] == common + ("mmt8", "ck_u_l", "physician_global")


def test_dose_total_cells_and_label() -> None:
    fixed = Dose(cells=10e6)
    assert fixed.total_cells(70.0) == 10e6
    assert fixed.total_cells(np.array([50.0, 90.0])).tolist() == [10e6, 10e6]
    assert fixed.label == "10x10^6 cells" and not fixed.weight_based
    per_kg = Dose(cells_per_kg=1e6)
    assert per_kg.total_cells(72.5) == 72.5e6
    assert per_kg.total_cells([50.0, 100.0]).tolist() == [50e6, 100e6]
    assert per_kg.label == "1x10^6 cells/kg" and per_kg.weight_based
    with pytest.raises(DataValidationError, match=r"weight_kg must be finite and > 0.*got -1\.0"):
        per_kg.total_cells([70.0, -1.0])


def test_schedule_all_days() -> None:
    schedule = Schedule(
        follow_up_days=90,
        screening_day=-14,
        daily_monitoring_days=7,
        lab_days=(-14, 0, 7),
        pk_days=(1, 7, 28),
        disease_days=(-14, 28, 90),
    )
    assert schedule.all_days == (-14, 0, 1, 7, 28, 90)


def test_population_ages_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match=r"age_median must be >= age_min \(40\); got 30\.0"):
        Population(age_min=40, age_median=30)
    assert Population().female_fraction is None
