"""cartlab.pk.nca: Theoph against an independent R computation, plus exact and boundary cases.

Reference values (THEOPH_R below) SOURCE: base R 4.2.2 (2022-11-10 r83330, Debian r-base-core
4.2.2.20221110-2), no cartlab code, on ../shared/data/Theoph.csv (= R datasets::Theoph). The script,
run as `Rscript theoph_nca.R`, for each Subject sorted by Time:
  * Cmax/Tmax: `which.max(conc)` (first occurrence);
  * AUClast lin-up/log-down: sum over intervals of (c1-c2)(t2-t1)/log(c1/c2) when c2 < c1 and c2 > 0,
    else (c1+c2)(t2-t1)/2, up to the last positive conc; AUClast linear: always the linear trapezoid;
  * AUC0-12: the same, with conc at t=12 interpolated log-linearly inside a falling interval, else linearly;
  * lambda_z: for n = 3..(points after Tmax up to Tlast), `summary(lm(log(conc[last n]) ~ time[last n]))`,
    keep fits with slope < 0 and `adj.r.squared > max(adj.r.squared) - 1e-4`, take the largest n
    (PKNCA pk.calc.half.life rule, defaults adj.r.squared.factor = 1e-4, min.hl.points = 3);
  * AUCinf,obs = AUClast + Clast/lambda_z; %extrap = 100 (Clast/lambda_z) / AUCinf,obs.
Printed with sprintf("%.17g").
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cartlab._core.errors import DataValidationError
from cartlab.pk import PARAMETERS, BLQRule, nca, nca_table, pp_units

#: ../shared/data/Theoph.csv beside the project (CI clones main with ../shared next to it)
THEOPH = str(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "Theoph.csv")

# Subject: (Cmax, Tmax, AUClast linlog, AUClast linear, AUC0-12 linlog, lambda_z, half-life, adj R², n, AUCinf,obs, %ext)
THEOPH_R = {
    1: (10.5, 1.12, 147.23474853700378, 148.92305, 91.650570734760223, 0.048456996965774955, 14.304377571096971,
        0.99999945934995815, 3, 214.92363157522951, 31.494388282068762),
    2: (8.33, 1.92, 88.731275488326645, 91.5268, 67.234557835754003, 0.1040864436884323, 6.6593415626225161,
        0.99579308242595554, 4, 97.377934631509788, 8.8794850454604219),
    3: (8.2, 1.02, 95.878197793378149, 99.2865, 70.030131215154711, 0.1024443141094339, 6.766087377182358,
        0.99864992369842676, 3, 106.12766853392468, 9.6576801150306864),
    4: (8.6, 1.07, 102.63362321055303, 106.7963, 72.927219109072766, 0.099287020530623174, 6.9812466609989308,
        0.99784827405138454, 3, 114.21620463815569, 10.140926556172154),
    5: (11.4, 1.0, 118.17935375280507, 121.2944, 84.399510075589546, 0.08661888398182005, 8.0022640410078019,
        0.99797077687412861, 4, 136.30473158992334, 13.297687927407383),
    6: (6.44, 1.15, 71.697014994372651, 73.77555, 51.6545659408647, 0.087795740056170204, 7.8949978679658219,
        0.99788960458361964, 7, 82.175883324560431, 12.751756240697308),
    7: (7.09, 3.48, 87.96922743575594, 90.7534, 61.966578267662605, 0.088336496137913292, 7.8466682613014829,
        0.99800525147913133, 4, 100.98762923204849, 12.891085665927434),
    8: (7.56, 2.02, 86.806563477874121, 88.55995, 62.477341457030178, 0.081450539945301867, 8.5100378834250634,
        0.98876548928331798, 6, 102.15330029311731, 15.023241315951092),
    9: (9.03, 0.63, 83.937436011301997, 86.32615, 59.947793900793137, 0.082458634180317972, 8.405998807161815,
        0.99888732964567684, 3, 97.520003939250202, 13.927981315925111),
    10: (10.21, 3.55, 135.57607009704728, 138.3681, 90.682277283914814, 0.074959823775776702, 9.246915822978977,
         0.99901736772290861, 3, 167.86003073226456, 19.232666939463364),
    11: (8.0, 0.98, 77.893472332472896, 80.0936, 58.375986262263254, 0.095458559864277273, 7.2612365150433877,
         0.99999651191894556, 3, 86.902617255911352, 10.366943146152062),
    12: (9.75, 3.52, 115.2202081633021, 119.9775, 84.796872091377921, 0.11025948945162664, 6.286508163671888,
         0.99879360329180034, 3, 125.83153972141989, 8.4329664737555809),
}


def _theoph() -> pl.DataFrame:
    return pl.read_csv(THEOPH).sort("Subject", "Time")


@pytest.mark.parametrize("sid", sorted(THEOPH_R))
def test_theoph_against_r(sid: int) -> None:
    d = _theoph().filter(pl.col("Subject") == sid)
    t, c = d["Time"].to_numpy(), d["conc"].to_numpy()
    cmax, tmax, auclast, auclast_lin, auc12, lz, hl, adj, n, aucinf, pe = THEOPH_R[sid]
    r = nca(t, c, auc_end=12.0)
    assert (r.cmax, r.tmax) == (cmax, tmax)
    assert r.auclast == pytest.approx(auclast, rel=1e-12)
    assert r.auc_int == pytest.approx(auc12, rel=1e-12)
    assert r.lambda_z == pytest.approx(lz, rel=1e-10)
    assert r.half_life == pytest.approx(hl, rel=1e-10)
    assert r.r2adj == pytest.approx(adj, rel=1e-12)
    assert r.lambda_z_n == n
    assert r.aucinf_obs == pytest.approx(aucinf, rel=1e-10)
    assert r.aucpe_obs == pytest.approx(pe, rel=1e-10)
    assert nca(t, c, auc_method="linear").auclast == pytest.approx(auclast_lin, rel=1e-12)


def test_theoph_table_long_format_and_units() -> None:
    d = _theoph()
    out = nca_table(d, subject_col="Subject", time_col="Time", conc_col="conc", dose_col="Dose", auc_end=12.0,
                    time_unit="h", conc_unit="mg/L", dose_unit="mg/kg")
    assert out.columns[:6] == ["USUBJID", "PPTESTCD", "PPTEST", "PPSTRESN", "PPSTRESU", "PPSTINT"]
    assert out["USUBJID"].n_unique() == 12
    assert out.height == 12 * len(PARAMETERS)
    row = out.filter((pl.col("USUBJID") == "1") & (pl.col("PPTESTCD") == "AUCIFO")).row(0, named=True)
    assert row["PPSTRESN"] == pytest.approx(THEOPH_R[1][9], rel=1e-10) and row["PPSTRESU"] == "h*mg/L"
    auc = out.filter(pl.col("PPTESTCD") == "AUCINT").row(0, named=True)
    assert (auc["PPSTINT"], auc["PPENINT"]) == ("PT0H", "PT12H")
    cl = out.filter((pl.col("USUBJID") == "1") & (pl.col("PPTESTCD") == "CLFO"))["PPSTRESN"][0]
    assert cl == pytest.approx(4.02 / THEOPH_R[1][9])
    codes = {p.testcd for p in PARAMETERS}
    assert {"CMAX", "TMAX", "CLST", "TLST", "AUCLST", "AUCIFO", "AUCPEO", "LAMZ", "LAMZHL", "R2ADJ", "LAMZNPT",
            "AUCINT"} <= codes
    assert all(len(c) <= 8 for c in codes)
    assert pp_units("day", "copies/ug")["LAMZ"] == "1/day"


# ---- exact exponential: C = C0 exp(-k t)
K, C0 = 0.3, 50.0
T_EXP = np.array([0.0, 0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 12.0])


def _exp_profile() -> tuple[np.ndarray, np.ndarray]:
    # an absorption point at 0 (conc 0) so that Tmax = 0.5 and the decay follows
    c = C0 * np.exp(-K * T_EXP)
    c[0] = 0.0
    return T_EXP, c


def test_log_down_is_exact_for_exponential_decay() -> None:
    t, c = _exp_profile()
    exact_tail = (c[1] - c[-1]) / K  # integral of C0 exp(-k t) from 0.5 to 12
    first = (c[0] + c[1]) * 0.5 / 2  # rising 0 -> 0.5: linear in both methods
    log = nca(t, c).auclast
    lin = nca(t, c, auc_method="linear").auclast
    assert log == pytest.approx(first + exact_tail, rel=1e-13)
    assert lin > log  # linear trapezoid overestimates a convex decay
    # partial AUC to 3 (between samples at 2 and 4): log interpolation stays exact
    r = nca(t, c, auc_end=3.0)
    assert r.auc_int == pytest.approx(first + (c[1] - C0 * math.exp(-3 * K)) / K, rel=1e-13)
    assert nca(t, c, auc_end=3.0, auc_method="linear").auc_int > r.auc_int


def test_lambda_z_of_exact_exponential_is_k_with_all_points() -> None:
    t, c = _exp_profile()
    r = nca(t, c)
    assert r.lambda_z == pytest.approx(K, rel=1e-12)
    assert r.half_life == pytest.approx(math.log(2) / K, rel=1e-12)
    assert r.lambda_z_n == 6  # all points after Tmax (Tmax itself excluded), most points on ties
    assert r.lambda_z_start == 1.0 and r.lambda_z_end == 12.0
    assert r.aucinf_obs == pytest.approx((c[0] + c[1]) * 0.25 + c[1] / K, rel=1e-12)


def test_adj_r2_tolerance_prefers_more_points() -> None:
    # the early point is slightly off the line: its fit loses < 1e-4 adj R² -> still chosen (most points)
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    c = 10 * np.exp(-0.5 * t)
    c[0] = 0.0
    c[2] *= 1.001
    assert nca(t, c).lambda_z_n == 5
    c[2] = 10 * np.exp(-1.0) * 1.2  # far off: the shorter window wins
    assert nca(t, c).lambda_z_n == 4


def test_tmax_ties_take_first_occurrence() -> None:
    r = nca([0, 1, 2, 3, 4, 5], [0, 5, 8, 8, 4, 2])
    assert (r.cmax, r.tmax) == (8.0, 2.0)


def test_blq_rules() -> None:
    t = [0, 1, 2, 3, 4, 5, 6]
    c = [0.0, 10.0, 8.0, 0.0, 4.0, 2.0, 0.0]  # BLQ first (t=0), middle (t=3), last (t=6)
    default = nca(t, c)
    assert BLQRule() == BLQRule(first="zero", middle="drop", last="drop")
    assert (default.tlast, default.clast) == (5.0, 2.0)
    # middle dropped: the 2 -> 4 interval is one log-down piece
    assert default.auclast == pytest.approx(5.0 + (10 - 8) / math.log(10 / 8) + 2 * (8 - 4) / math.log(2)
                                            + (4 - 2) / math.log(2), rel=1e-13)
    kept = nca(t, c, blq=BLQRule(middle="zero"))
    assert kept.auclast == pytest.approx(5.0 + (10 - 8) / math.log(10 / 8) + 4.0 + 2.0 + (4 - 2) / math.log(2))
    dropped_first = nca(t, c, blq=BLQRule(first="drop"), auc_end=2.0)
    assert dropped_first.reasons["auc_int"].startswith("no sample at time 0")
    # LLOQ: values below it are BLQ too; half_lloq needs an LLOQ
    r = nca(t, [0.0, 10.0, 8.0, 0.5, 4.0, 2.0, 0.5], lloq=1.0, blq=BLQRule(middle="half_lloq"))
    # C(3) = LLOQ/2 = 0.5: 8 -> 0.5 is a log-down piece, 0.5 -> 4 a linear (rising) one
    assert r.auclast == pytest.approx(5.0 + (10 - 8) / math.log(10 / 8) + (8 - 0.5) / math.log(16) + 2.25
                                      + 2 * (4 - 2) / math.log(2) / 2, rel=1e-13)
    with pytest.raises(DataValidationError, match="half_lloq"):
        nca(t, c, blq=BLQRule(middle="half_lloq"))
    with pytest.raises(ValueError, match="BLQRule.first"):
        BLQRule(first="keep")  # type: ignore[arg-type]


def test_degenerate_profiles_give_nan_with_reason() -> None:
    r = nca([0, 1, 2], [0, 0, 0])
    assert math.isnan(r.cmax) and math.isnan(r.auclast) and math.isnan(r.lambda_z)
    assert r.reasons["cmax"] == "all concentrations BLQ or zero"
    one = nca([2.0], [5.0])
    assert (one.cmax, one.tmax, one.clast) == (5.0, 2.0, 5.0)
    assert math.isnan(one.auclast) and "fewer than 2" in one.reasons["auclast"]
    assert math.isnan(one.lambda_z) and "fewer than 3" in one.reasons["lambda_z"]
    short = nca([0, 1, 2, 3], [0, 4, 2, 1])
    assert math.isnan(short.half_life) and "fewer than 3" in short.reasons["half_life"]
    rising = nca([0, 1, 2, 3, 4], [0, 1, 2, 3, 4])
    assert math.isnan(rising.aucinf_obs)
    assert nca([], []).reasons["cmax"] == "no concentrations"
    nan_mid = nca([0, 1, 2, 3], [0, 4, float("nan"), 1])
    assert nan_mid.tlast == 3.0  # missing values are dropped
    trunc = nca([0, 1, 2], [0, 4, 2], auc_end=28.0)
    assert math.isnan(trunc.auc_int) and "no sample at or after 28" in trunc.reasons["auc_int"]


def test_auc_end_after_tlast_counts_zero_after_tlast() -> None:
    r = nca([0, 1, 2, 30], [0, 4, 2, 0], auc_end=28.0)
    assert r.auc_int == pytest.approx(r.auclast)


@pytest.mark.parametrize(("time", "what"), [([0, 2, 1, 3], "unsorted time 1 after 2"),
                                             ([0, 1, 1, 3], "duplicate time 1 after 1")])
def test_bad_times_raise_naming_subject_and_time(time: list[float], what: str) -> None:
    with pytest.raises(DataValidationError, match=f"subject S-7: {what}"):
        nca(time, [0, 3, 2, 1], subject="S-7")
    df = pl.DataFrame({"ID": ["S-7"] * 4, "T": [float(x) for x in time], "C": [0.0, 3.0, 2.0, 1.0]})
    with pytest.raises(DataValidationError, match=f"subject S-7: {what}"):
        nca_table(df, subject_col="ID", time_col="T", conc_col="C")


def test_input_errors() -> None:
    with pytest.raises(DataValidationError, match="concentration must be >= 0"):
        nca([0, 1], [1, -1])
    with pytest.raises(ValueError, match="auc_method"):
        nca([0, 1], [1, 1], auc_method="log")  # type: ignore[arg-type]
    with pytest.raises(DataValidationError, match="column"):
        nca_table(pl.DataFrame({"ID": ["a"]}), subject_col="ID", time_col="T", conc_col="C")
