"""cartlab.calibrate: targets as data, target metrics, validation replicates, ABC-SMC and parameter sets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cartlab._core.errors import SpecError
from cartlab.analysis import derive_adam, efficacy_table, safety_table
from cartlab.calibrate import (
    COMPUTED,
    ParameterSet,
    Prior,
    Target,
    calibrate,
    distance,
    load_parameter_set,
    load_targets,
    simulate_targets,
    trial_metrics,
    validate_model,
    with_parameters,
)
from cartlab.protocol import load_protocol, resolve_protocol, shipped_protocols
from cartlab.trial import run_trial

TARGETS = load_targets()


def _t(tid: str) -> Target:
    return next(t for t in TARGETS.targets if t.id == tid)


# ------------------------------------------------------------------ targets as data
def test_every_protocol_reported_result_is_a_target() -> None:
    # The protocols keep their [[reported]] entries (the report reads them); they must be the same numbers as
    # the versioned targets file: same metric, arm, day, value and n, for every entry of every shipped protocol.
    shipped = {p.name for p in shipped_protocols()}
    assert set(TARGETS.protocols) <= shipped
    for name in shipped:
        proto = load_protocol(resolve_protocol(name))
        for r in proto.reported:
            same = [t for t in TARGETS.for_protocol(name) if (t.metric, t.arm, t.day, t.n) == (r.metric, r.arm, r.day, r.n)
                    and t.value is not None and abs(t.value - r.value) < 1e-12]
            assert len(same) == 1, f"{name}: [[reported]] {r.metric} {r.arm} day {r.day} = {r.value} has no target"
        arms = {a.code for a in proto.arms}
        assert all(t.arm is None or t.arm in arms for t in TARGETS.for_protocol(name))


def test_targets_file_values_from_evidence() -> None:
    # EVIDENCE.md, Breakfree-1 SLE table (ACR 2025 abstract 1529): CRS 61.5 % (DL1, n 13) vs 100 % (DL2, n 6),
    # grade 3/4 neutropenia 46.2 % vs 83.3 %; IIM update: MMT-8 +22 % at 6 months
    assert (_t("bf1-sle-dl1-crs-any").value, _t("bf1-sle-dl1-crs-any").n) == (0.615, 13)
    assert (_t("bf1-sle-dl2-crs-any").value, _t("bf1-sle-dl2-crs-any").n) == (1.0, 6)
    assert _t("bf1-sle-dl2-neutropenia-g34").value == 0.833
    assert (_t("bf1-iim-mmt8-d180").value, _t("bf1-iim-mmt8-d180").day) == (0.22, 180)
    # the B-cell return anchor is a range, 2-4 months (EVIDENCE.md 'Anchors')
    a = _t("anchor-bcell-return")
    assert (a.value, a.lower, a.upper) == (None, 60.0, 120.0)
    assert a.inside(0, 1000, 90.0) and not a.inside(0, 1000, 150.0)
    assert all(t.metric in COMPUTED for t in TARGETS.targets if t.simulated)
    assert all(t.reason for t in TARGETS.targets if not t.simulated)


@pytest.mark.parametrize(("body", "message"), [
    ('id = "x"\nprotocol = "p"\ncohort = "c"\nmetric = "crs_anyy"\nvalue = 0.5\nsource = "s"',
     "[[target]] 1 (x): metric must be one of"),
    ('id = "x"\nprotocol = "p"\ncohort = "c"\nmetric = "crs_any"\nvalue = 61.5\nsource = "s"',
     "[[target]] 1 (x): value must be a fraction in [0, 1] for a rate metric; got 61.5"),
    ('id = "x"\nprotocol = "p"\ncohort = "c"\nmetric = "crs_any"\nvalue = 0.5\nn = 0\nsource = "s"',
     "[[target]] 1 (x): n must be an integer >= 1; got 0"),
    ('id = "x"\nprotocol = "p"\ncohort = "c"\nmetric = "clinical_improvement"\nvalue = 1.0\nsource = "s"',
     "simulated must be false for metric 'clinical_improvement'"),
    ('id = "x"\nprotocol = "p"\ncohort = "c"\nmetric = "crs_any"\nvalue = 0.5\nsource = "s"\ncolour = 1',
     "unknown key(s) colour"),
])
def test_bad_targets_file_names_file_entry_key_and_value(tmp_path: Path, body: str, message: str) -> None:
    f = tmp_path / "t.toml"
    f.write_text(f'version = "x"\n[[target]]\n{body}\n', encoding="utf-8")
    with pytest.raises(SpecError) as e:
        load_targets(f)
    assert str(f) in str(e.value) and message in str(e.value)


# ------------------------------------------------------------------ metrics
def test_trial_metrics_on_the_hand_built_trial(tiny_trial) -> None:
    # tests/unit/conftest.py by hand: DL1 = A1 (CRS max 2, neutropenia 3), A2 (CRS 1, ICANS 3), A3 (no CRS);
    # DL2 = B1 (CRS 2, neutropenia 4), B2 (CRS 1, platelets 3). CD19 below LLOQ after infusion: A1, A2, A3, B1.
    want = {("crs_any", "DL1"): 2 / 3, ("crs_grade1to2", "DL1"): 2 / 3, ("crs_grade3plus", "DL1"): 0.0,
            ("icans_any", "DL1"): 1 / 3, ("icans_grade3plus", "DL1"): 1 / 3, ("neutropenia_grade3plus", "DL1"): 1 / 3,
            ("crs_any", "DL2"): 1.0, ("neutropenia_grade3plus", "DL2"): 0.5,
            ("thrombocytopenia_grade3plus", "DL2"): 0.5, ("thrombocytopenia_grade3plus", "DL1"): 0.0,
            ("bcell_depleted", "DL1"): 1.0, ("bcell_depleted", "DL2"): 0.5, ("crs_any", None): 4 / 5}
    targets = [Target(f"{m}-{a}", "tiny", "tiny", a, m, None, 0.5, None, None, None, "hand") for m, a in want]
    got = trial_metrics(tiny_trial, targets, efficacy_day=180)
    for (m, a), v in want.items():
        assert got[f"{m}-{a}"] == pytest.approx(v), (m, a)
    # off immunosuppression (CM): every subject's mycophenolate runs to Day 30 (protocol day 29); A1 restarts it
    # on Day 201 with no end date
    off = {(28, "DL1"): 0.0, (29, "DL1"): 0.0, (30, "DL1"): 1.0, (180, "DL1"): 1.0, (365, "DL1"): 2 / 3,
           (365, None): 4 / 5, (365, "DL2"): 1.0}
    targets = [Target(f"off-{d}-{a}", "tiny", "tiny", a, "off_immunosuppression", d, 0.9, None, None, None, "hand")
               for d, a in off]
    got = trial_metrics(tiny_trial, targets, efficacy_day=180)
    assert {k: got[f"off-{k[0]}-{k[1]}"] for k in off} == pytest.approx(off)


def test_trial_metrics_agree_with_the_report_tables() -> None:
    # The validation section and the report's "reported vs simulated" columns must compute the same figures:
    # cartlab.analysis.safety_table / efficacy_table (VALUE in %, median change) on the same simulated trial.
    proto = load_protocol(resolve_protocol("breakfree1-sle"))
    run = run_trial(proto, seed=11)
    got = trial_metrics(run.tables, TARGETS.for_protocol("breakfree1-sle"), efficacy_day=180)
    adam = derive_adam(run.tables, efficacy_day=180)
    safety = {(r["ROW"], r["ARM"]): r["VALUE"] for r in safety_table(adam).data.iter_rows(named=True)}
    eff = {(r["ROW"], r["ARM"]): r["VALUE"] for r in efficacy_table(adam, 180).data.iter_rows(named=True)}
    assert got["bf1-sle-dl1-crs-any"] == pytest.approx(safety[("CRS, any grade", "DL1")] / 100)
    assert got["bf1-sle-dl2-icans-any"] == pytest.approx(safety[("ICANS, any grade", "DL2")] / 100)
    assert got["bf1-sle-dl2-neutropenia-g34"] == pytest.approx(safety[("Grade 3/4 neutropenia", "DL2")] / 100)
    assert got["bf1-sle-dl1-sledai-d180"] == pytest.approx(eff[("SLEDAI-2K (0-105): median change (IQR)", "DL1")])


# ------------------------------------------------------------------ validation
@pytest.fixture(scope="module")
def myo():
    return {"reset-myositis": load_protocol(resolve_protocol("reset-myositis"))}


def test_validate_model_is_reproducible_and_replicates_are_independent(myo) -> None:
    a = validate_model(myo, TARGETS, replicates=3, seed=5)
    b = validate_model(myo, TARGETS, replicates=2, seed=5)
    assert a.table.equals(validate_model(myo, TARGETS, replicates=3, seed=5).table)
    # replicate r draws from its own SeedSequence children: the first 2 of 3 equal a 2-replicate run
    assert a.draws.filter(pl.col("replicate") < 2).equals(b.draws)
    row = a.table.row(0, named=True)
    x = a.draws["value"].to_numpy()
    assert row["sim_lo"] == pytest.approx(np.percentile(x, 5)) and row["sim_hi"] == pytest.approx(np.percentile(x, 95))
    assert row["inside"] == (row["sim_lo"] <= row["reported"] <= row["sim_hi"])
    assert a.patients == 3 * 6  # RESET-Myositis: DM 4 + ASyS 2 per trial (pooled target keeps the split)
    # the TIS trajectory: every disease visit of the protocol after infusion up to day 365, rates in [0, 1]
    proto = myo["reset-myositis"]
    tr = a.trajectories
    assert set(tr["metric"]) == {"tis_moderate_or_major"} and set(tr["protocol"]) == {"reset-myositis"}
    assert tr["day"].to_list() == [d for d in proto.schedule.disease_days if 0 < d <= 365]
    assert tr.select(pl.col("sim_lo").min() >= 0, pl.col("sim_hi").max() <= 1).row(0) == (True, True)
    assert not a.draws["id"].str.starts_with("~").any()  # trajectory points are not targets


def test_parameter_overrides_reach_the_simulation() -> None:
    # IL6_ref is the IL-6 level at which fever appears: 10x higher must remove nearly all CRS.
    proto = load_protocol(resolve_protocol("breakfree1-sle"))
    ts = (_t("bf1-sle-dl2-crs-any"),)
    hi = [simulate_targets(with_parameters(proto, {"IL6_ref": 700.0}), ts, seed=3, replicate=r)[0] for r in range(3)]
    lo = [simulate_targets(proto, ts, seed=3, replicate=r)[0] for r in range(3)]
    assert sum(v["bf1-sle-dl2-crs-any"] for v in hi) < sum(v["bf1-sle-dl2-crs-any"] for v in lo)
    assert dict(with_parameters(proto, {"IL6_ref": 700.0}).product.parameters) == {"rho": 1.0, "IL6_ref": 700.0}


# ------------------------------------------------------------------ ABC-SMC
def test_distance_by_hand() -> None:
    # rate: sigma = sqrt(max(p(1-p), 0.09)/n); 0.615, n 13 -> sqrt(0.236775/13) = 0.134957
    t = _t("bf1-sle-dl1-crs-any")
    assert distance({t.id: 0.75}, [t]) == pytest.approx(0.135 / math.sqrt(0.236775 / 13))
    # a 0 % target keeps the p = 0.1 floor: sigma = sqrt(0.09/13)
    z = _t("bf1-sle-dl1-icans-any")
    assert distance({z.id: 0.3}, [z]) == pytest.approx(0.3 / math.sqrt(0.09 / 13))
    # range target: 0 inside, (value - upper)/(0.3 * midpoint) outside; NaN counts as |z| = 3
    a = _t("anchor-bcell-return")
    assert distance({a.id: 100.0}, [a]) == 0.0
    assert distance({a.id: 147.0}, [a]) == pytest.approx(27.0 / 27.0)
    assert distance({}, [a]) == pytest.approx(3.0)


def test_calibrate_smoke_is_reproducible_and_inside_the_prior() -> None:
    protos = {"breakfree1-sle": load_protocol(resolve_protocol("breakfree1-sle"))}
    priors = (Prior("IL6_ref", 35.0, 140.0), Prior("c_icans", -4.4, -2.4, log=False))
    ids = ["bf1-sle-dl1-crs-any", "bf1-sle-dl2-crs-any", "bf1-sle-dl2-icans-any"]
    kw = dict(priors=priors, target_ids=ids, particles=5, generations=2, seed=9)
    a = calibrate(protos, TARGETS, **kw)
    b = calibrate(protos, TARGETS, **kw)
    assert np.array_equal(a.particles, b.particles) and np.array_equal(a.weights, b.weights)
    # batches of proposals (as on Dask) give the same run: taken in order, the generator put back
    c = calibrate(protos, TARGETS, **kw, batch=4, map_fn=lambda f, xs: [f(x) for x in xs])
    assert np.array_equal(a.particles, c.particles) and np.array_equal(a.distances, c.distances)
    assert (a.simulations, a.patients, a.epsilons) == (c.simulations, c.patients, c.epsilons)
    assert a.weights.sum() == pytest.approx(1.0) and a.targets == tuple(ids)
    assert np.all((a.particles[:, 0] >= 35.0) & (a.particles[:, 0] <= 140.0))
    assert np.all((a.particles[:, 1] >= -4.4) & (a.particles[:, 1] <= -2.4))
    assert a.epsilons[0] == math.inf and np.all(a.distances <= a.epsilons[1])
    s = a.summary()
    assert s["IL6_ref"]["prior_p50"] == pytest.approx(math.sqrt(35.0 * 140.0))  # log-uniform median
    assert 0 < s["c_icans"]["width_ratio"] <= 1.2
    with pytest.raises(SpecError, match="target id"):
        calibrate(protos, TARGETS, priors=priors, target_ids=["nope"], particles=2, generations=1)


def test_parameter_set_round_trip_and_errors(tmp_path: Path) -> None:
    ps = ParameterSet("9", {"IL6_ref": 71.5, "c_icans": -3.3}, {"seed": "1", "command": 'cartlab "x"'},
                      {"IL6_ref": {"prior_p05": 37.5, "width_ratio": 0.4}})
    f = tmp_path / "p.toml"
    f.write_text(ps.to_toml(), encoding="utf-8")
    assert load_parameter_set(f) == ps
    f.write_text('version = "1"\n[values]\nIL6_reff = 3.0\n', encoding="utf-8")
    with pytest.raises(SpecError, match=r"p.toml \[values\] IL6_reff: not a model parameter"):
        load_parameter_set(f)


@pytest.mark.parametrize(("name", "targets"), [("bf1-safety-v1", "seed-targets-v1.toml (version 1)"),
                                               ("bf1-safety-v2", "seed-targets-v2.toml (version 2)")])
def test_committed_parameter_set_has_provenance_and_spread(name: str, targets: str) -> None:
    # The committed outputs of the recorded `cartlab calibrate` runs (benchmarks/README.md, issue 8): v2 is what
    # every shipped protocol uses ([product] parameter_set), v1 the record of the first run. Each must stay
    # loadable, name the targets version and seed it came from, and carry prior vs posterior spread.
    from importlib.resources import files

    ps = load_parameter_set(Path(str(files("cartlab.calibrate") / "calibrated" / f"{name}.toml")))
    assert set(ps.values) == {"IL6_ref", "theta_crs2", "b_icans", "c_icans", "slope_inf_ANC"}
    assert ps.provenance["targets"] == targets and ps.provenance["seed"] == "20250317"
    for pname, s in ps.spread.items():
        assert s["prior_p05"] <= s["posterior_p50"] <= s["prior_p95"], pname
        assert s["posterior_p05"] <= ps.values[pname] <= s["posterior_p95"]


def test_every_shipped_protocol_uses_the_calibrated_set() -> None:
    from importlib.resources import files

    v2 = load_parameter_set(Path(str(files("cartlab.calibrate") / "calibrated" / "bf1-safety-v2.toml"))).values
    for shipped in shipped_protocols():
        product = load_protocol(shipped.path).product
        assert product.parameter_set == "bf1-safety-v2", shipped.name
        assert {k: product.model_parameters[k] for k in v2} == v2, shipped.name