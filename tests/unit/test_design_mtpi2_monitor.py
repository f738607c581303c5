"""mTPI-2 / Keyboard decisions and beta-binomial safety monitoring boundaries.

No machine-readable copy of the published decision tables (Guo et al. 2017 Contemp Clin Trials
58:23; Yan et al. 2017 Clin Cancer Res 23:3994) was found through the search tools, so the tables
are checked by hand-computed cells (derivations below, Beta CDFs in closed form) and by structural
properties. Monitoring boundaries are checked against scipy.stats.beta (scipy 1.17.1) directly and
against closed forms.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import beta as beta_dist

from cartlab._core.errors import SpecError
from cartlab.design._monitor import posterior_prob_exceeds, stopping_boundaries
from cartlab.design._mtpi2 import (
    IntervalDecision,
    decision_table,
    interval_grid,
    keyboard_decision,
    keyboard_table,
    mtpi2_decision,
    mtpi2_table,
)

ORDER = {"E": 0, "S": 1, "D": 2, "DU": 3}


def test_grid_for_target_030() -> None:
    edges, ei = interval_grid(0.3, 0.05, 0.05, partial=True)
    assert edges.tolist() == pytest.approx([0, 0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.0])
    assert (edges[ei], edges[ei + 1]) == pytest.approx((0.25, 0.35))
    keys, kei = interval_grid(0.3, 0.05, 0.05, partial=False)
    assert keys.tolist() == pytest.approx([0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95])
    assert (keys[kei], keys[kei + 1]) == pytest.approx((0.25, 0.35))


# Hand-computed cells, target 0.3, EI (0.25, 0.35), Beta(1, 1) prior.
# n=3, y=0: p ~ Beta(1, 4), F(x) = 1 - (1 - x)^4.
#   mass [0.25,0.35] = 0.75^4 - 0.65^4 = 0.31640625 - 0.17850625 = 0.1379 -> UPM 1.379
#   mass [0.15,0.25] = 0.85^4 - 0.75^4 = 0.2056                       -> UPM 2.056
#   mass [0.05,0.15] = 0.95^4 - 0.85^4 = 0.2925                       -> UPM 2.925
#   mass [0,0.05]    = 1 - 0.95^4      = 0.18549375 (length 0.05)     -> UPM 3.710 (max)   => E
#   Keyboard drops [0, 0.05]; strongest key [0.05, 0.15] (0.2925)                          => E
# n=3, y=1: p ~ Beta(2, 3), F(x) = 6x^2 - 8x^3 + 3x^4.
#   F(.15)=.10951875 F(.25)=.26171875 F(.35)=.43701875 F(.45)=.60901875 F(.55)=.75851875
#   masses: [.15,.25] .1522, [.25,.35] .1753, [.35,.45] .1720, [.45,.55] .1495;
#   [.05,.15]: F(.05)=.01401875 -> .0955; higher intervals fall further                    => S
# n=3, y=2: p ~ Beta(3, 2), P(p > 0.3) = 1 - (4x^3 - 3x^4)|_{0.3} = 1 - 0.0837 = 0.9163 <= 0.95,
#   mass shifts above the EI                                                                => D
# n=3, y=3: p ~ Beta(4, 1), P(p > 0.3) = 1 - 0.3^4 = 0.9919 > 0.95                          => DU
# n=2, y=2: p ~ Beta(3, 1), P(p > 0.3) = 1 - 0.3^3 = 0.973 > 0.95 but n < 3: no elimination => D
HAND_CELLS = [(3, 0, "E"), (3, 1, "S"), (3, 2, "D"), (3, 3, "DU"), (2, 2, "D"), (1, 0, "E")]


@pytest.mark.parametrize(("n", "y", "expected"), HAND_CELLS)
@pytest.mark.parametrize("decide", [mtpi2_decision, keyboard_decision])
def test_hand_computed_cells(decide, n: int, y: int, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert decide(n, y, 0.3, 0.05, 0.05) == expected


def test_hand_computed_upm_for_n3_y0() -> None:
    edges, _ = interval_grid(0.3, 0.05, 0.05, partial=True)
    mass = [(1 - lo) ** 4 - (1 - hi) ** 4 for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    upm = [m / (hi - lo) for m, lo, hi in zip(mass, edges[:-1], edges[1:], strict=True)]
    assert upm[0] == pytest.approx(3.7098750)
    assert upm[3] == pytest.approx(1.379)


def test_elimination_rule_with_min_n_one() -> None:
    # Beta(3, 1): P(p > 0.3) = 0.973 > 0.95 (see above)
    assert mtpi2_decision(2, 2, 0.3, min_n_eliminate=1) is IntervalDecision.ELIMINATE


@pytest.mark.parametrize("make", [mtpi2_table, keyboard_table])
def test_table_structure(make) -> None:  # type: ignore[no-untyped-def]
    t = make(0.3, 0.05, 0.05, 20)
    assert t.n_max == 20
    for n, row in enumerate(t.decisions, start=1):
        assert len(row) == n + 1
        assert row[0] == "E"  # no DLT: always escalate at target 0.3
        # decisions are monotone in the number of DLTs
        assert all(ORDER[a] <= ORDER[b] for a, b in zip(row, row[1:]))
        for y, code in enumerate(row):
            eliminate = n >= 3 and beta_dist.sf(0.3, 1 + y, 1 + n - y) > 0.95
            assert (code == "DU") == eliminate
    # more patients with the same DLT count never make the decision more cautious
    for n in range(1, 20):
        for y in range(n + 1):
            assert ORDER[t.decision(n + 1, y)] <= ORDER[t.decision(n, y)]


def test_mtpi2_and_keyboard_agree_for_target_030() -> None:
    # The two designs differ only in the partial end intervals (kept by mTPI-2, dropped by Keyboard)
    # and in UPM vs probability, which rank full-width intervals alike; for target 0.3 with
    # eps 0.05 the partial intervals never win up to n = 30, so the tables coincide.
    assert mtpi2_table(0.3, n_max=30).decisions == keyboard_table(0.3, n_max=30).decisions


def test_table_rows_and_summary() -> None:
    t = decision_table("keyboard", 0.3, n_max=3)
    rows = t.to_rows()
    assert len(rows) == 2 + 3 + 4
    assert rows[-1] == {"n": 3, "y": 3, "decision": "DU"}
    assert "keyboard decision table" in t.summary()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mtpi2_decision(3, 4, 0.3), "y"),
        (lambda: mtpi2_decision(0, 0, 0.3), "n"),
        (lambda: mtpi2_decision(3, 1, 0.3, eps1=0.4), "eps1"),
        (lambda: decision_table("boin", 0.3), "design"),  # type: ignore[arg-type]
    ],
)
def test_interval_designs_reject_bad_arguments(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError, match=match):
        call()


# --- safety monitoring ---------------------------------------------------------------------------
def test_boundaries_against_scipy_beta() -> None:
    # threshold 0.2, cutoff 0.9, Beta(1, 1): recompute every boundary from scipy.stats.beta (1.17.1)
    sb = stopping_boundaries(0.2, 0.9, 20, (1.0, 1.0), event="CRS grade >= 3")
    for n, m in zip(sb.n, sb.min_events_to_stop, strict=True):
        probs = [beta_dist.sf(0.2, 1 + y, 1 + n - y) for y in range(n + 1)]
        expected = next((y for y, q in enumerate(probs) if q > 0.9), None)
        assert m == expected
        if m is not None:
            assert probs[m] > 0.9  # at the boundary: stop
            if m > 0:
                assert probs[m - 1] <= 0.9  # one below: continue
            assert sb.stops(m, n) and (m == 0 or not sb.stops(m - 1, n))


def test_boundaries_closed_form_values() -> None:
    # Beta(1 + y, 1 + n - y) with y = n has survival 1 - x^(n+1); with y = n - 1, Beta(n, 2):
    # sf(x) = 1 - (n + 1) x^n + n x^(n+1).
    # n=1, y=1: 1 - 0.2^2 = 0.96 > 0.9 -> boundary 1; y=0: Beta(1,2) sf = 0.8^2 = 0.64.
    # n=5, y=2: Beta(3, 4), sf(0.2) = sum_{j<3} C(6,j) .2^j .8^(6-j) = .262144 + .393216 + .24576 = .90112
    # n=5, y=1: Beta(2, 5), sf(0.2) = .8^6 + 6 * .2 * .8^5 = .262144 + .393216 = .65536
    sb = stopping_boundaries(0.2, 0.9, 6)
    assert sb.min_events_to_stop[0] == 1 and sb.prob_at_boundary[0] == pytest.approx(0.96)
    assert sb.min_events_to_stop[4] == 2 and sb.prob_at_boundary[4] == pytest.approx(0.90112)
    assert posterior_prob_exceeds(1, 5, 0.2) == pytest.approx(0.65536)


@settings(max_examples=40, deadline=None)
@given(
    threshold=st.floats(0.05, 0.6),
    cutoff=st.floats(0.5, 0.99),
    a=st.floats(0.2, 3.0),
    b=st.floats(0.2, 10.0),
)
def test_boundaries_are_monotone(threshold: float, cutoff: float, a: float, b: float) -> None:
    sb = stopping_boundaries(threshold, cutoff, 25, (a, b), event="ICANS grade >= 3")
    bounds = sb.min_events_to_stop
    # the boundary never decreases with n, and grows by at most one event per added patient
    seen = [(n, m) for n, m in zip(sb.n, bounds, strict=True) if m is not None]
    for (n0, m0), (n1, m1) in zip(seen, seen[1:]):
        assert m0 <= m1 <= m0 + (n1 - n0)
    # a stricter cutoff never stops earlier
    stricter = stopping_boundaries(threshold, min(cutoff + 0.005, 0.999), 25, (a, b))
    for m, m_strict in zip(bounds, stricter.min_events_to_stop, strict=True):
        if m_strict is not None:
            assert m is not None and m <= m_strict


def test_monitor_output_names_the_event() -> None:
    sb = stopping_boundaries(0.1, 0.8, 10, (0.5, 4.5), event="ICANS grade >= 3")
    assert sb.event == "ICANS grade >= 3"
    assert all(row["event"] == "ICANS grade >= 3" for row in sb.to_rows())
    assert sb.summary().startswith("Stop for ICANS grade >= 3 if P(p > 0.1 | data) > 0.8, prior Beta(0.5, 4.5)")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": 0.0, "cutoff": 0.9, "n_max": 5}, "threshold"),
        ({"threshold": 0.2, "cutoff": 1.0, "n_max": 5}, "cutoff"),
        ({"threshold": 0.2, "cutoff": 0.9, "n_max": 0}, "n_max"),
        ({"threshold": 0.2, "cutoff": 0.9, "n_max": 5, "prior": (0.0, 1.0)}, "prior"),
        ({"threshold": 0.2, "cutoff": 0.9, "n_max": 5, "event": ""}, "event"),
    ],
)
def test_monitor_rejects_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        stopping_boundaries(**kwargs)  # type: ignore[arg-type]
