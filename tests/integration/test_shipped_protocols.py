"""Every protocol shipped with cartlab loads, and says what its sources say.

Expected numbers come from ../shared/EVIDENCE.md and the seed documents it summarises
(ACR Convergence 2025 abstract 1529 and the Breakfree-1 update for BMS-986353; the RESET
readouts and design for rese-cel).
"""

from __future__ import annotations

import hashlib

import pytest

from cartlab.protocol import (
    ELIGIBILITY_VARIABLES,
    PRIMARY_ENDPOINTS,
    Protocol,
    load_protocol,
    resolve_protocol,
    shipped_protocols,
)

SHIPPED = (
    "breakfree1-iim",
    "breakfree1-sle",
    "breakfree1-sle-escalation",  # breakfree1-sle's population and schedule run as a [design] escalation
    "breakfree1-ssc",
    "reset-myositis",
    "reset-sle",
    "reset-ssc",
)


def _load(name: str) -> Protocol:
    return load_protocol(resolve_protocol(name))


def test_shipped_protocols_lists_all() -> None:
    listed = shipped_protocols()
    assert tuple(p.name for p in listed) == SHIPPED
    assert len({p.study_id for p in listed}) == len(SHIPPED)
    sle = next(p for p in listed if p.name == "breakfree1-sle")
    assert sle.indication == "SLE"
    assert sle.arms == "DL1 10x10^6 cells (n=13); DL2 25x10^6 cells (n=6)"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_protocol_loads_and_is_consistent(name: str) -> None:
    protocol = _load(name)
    indication = protocol.trial.indication
    assert protocol.endpoints.primary_efficacy in PRIMARY_ENDPOINTS[indication]
    variables = {c.variable for c in protocol.eligibility.criteria}
    assert variables <= set(ELIGIBILITY_VARIABLES[indication])
    assert protocol.source_path is not None
    assert protocol.source_path == resolve_protocol(name).resolve()
    assert protocol.sha256 == hashlib.sha256(protocol.source_path.read_bytes()).hexdigest()
    codes = {arm.code for arm in protocol.arms}
    assert all(r.arm is None or r.arm in codes for r in protocol.reported)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_protocol_cites_its_sources(name: str) -> None:
    header = []
    for line in resolve_protocol(name).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    text = " ".join(header)
    assert "Source" in text and ("ACR" in text or "seed" in text)


@pytest.mark.parametrize("name", ["breakfree1-sle", "breakfree1-ssc", "breakfree1-iim"])
def test_breakfree_dose_level_1(name: str) -> None:
    # EVIDENCE.md: DL1 = 10x10^6 CAR+ T cells, fixed dose; 5-day NEX-T manufacture.
    protocol = _load(name)
    assert protocol.arm("DL1").dose.cells == 10e6
    assert protocol.product.manufacturing_days == 5


def test_breakfree_cohort_sizes() -> None:
    # EVIDENCE.md, ACR Convergence 2025 update: SSc 26 treated, IIM 13 treated, 11 evaluable.
    assert _load("breakfree1-ssc").n_total == 26
    iim = _load("breakfree1-iim")
    assert iim.n_total == 13
    tis = next(r for r in iim.reported if r.metric == "tis_moderate_or_major")
    assert (tis.value, tis.n) == (0.91, 11)


@pytest.mark.parametrize("name", ["reset-sle", "reset-ssc", "reset-myositis"])
def test_reset_regimen(name: str) -> None:
    # EVIDENCE.md (RESET): 1x10^6 cells/kg after fludarabine 25 mg/m² days -5..-3 and
    # cyclophosphamide 1,000 mg/m² day -3; immunosuppressants stopped by day -5; ages 18-75;
    # written confirmation of a fever- and infection-free fortnight before infusion.
    protocol = _load(name)
    assert all(arm.dose.cells_per_kg == 1e6 for arm in protocol.arms)
    regimen = {agent.drug: (agent.dose_mg_m2, agent.days) for agent in protocol.lymphodepletion}
    assert regimen == {"fludarabine": (25.0, (-5, -4, -3)), "cyclophosphamide": (1000.0, (-3,))}
    assert protocol.immunosuppression.withdrawal_day == -5
    assert (protocol.eligibility.age_min, protocol.eligibility.age_max) == (18, 75)
    window = protocol.safety_window
    assert window.written_confirmation
    assert window.fever_free_days == window.infection_free_days == 14


def test_reset_cohorts() -> None:
    # Seed 000: RESET-SLE 3 SLE + 1 LN; RESET-Myositis 4 DM + 2 ASyS, TIS at week 16.
    sle = _load("reset-sle")
    assert [(a.code, a.n) for a in sle.arms] == [("SLE", 3), ("LN", 1)]
    myositis = _load("reset-myositis")
    assert [(a.code, a.n) for a in myositis.arms] == [("DM", 4), ("ASYS", 2)]
    assert (myositis.endpoints.primary_efficacy, myositis.endpoints.primary_day) == ("tis", 112)
    ssc = _load("reset-ssc")
    assert ssc.trial.registry == "NCT06328777"  # seed 001
    assert ssc.endpoints.primary_efficacy == "criss"
