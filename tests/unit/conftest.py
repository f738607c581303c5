"""A tiny hand-built trial (SDTM tables) whose ADaM datasets and tables are computed by hand in the tests.

Two dose levels: DL1 = A1, A2, A3 (A3 discontinues at study day 91), DL2 = B1, B2; S1 is a screen
failure. Study days follow SDTM (infusion = Day 1, no Day 0), so days from infusion = DY - 1.
"""

from __future__ import annotations

import polars as pl
import pytest

from cartlab.instruments import SLEDAI2K_TESTCD

SUBJ = ["A1", "A2", "A3", "B1", "B2"]
ARM = {"A1": "DL1", "A2": "DL1", "A3": "DL1", "B1": "DL2", "B2": "DL2"}
DOSE = {"DL1": 1e7, "DL2": 2.5e7}
WEIGHT = {"A1": 50.0, "A2": 80.0, "A3": 62.5, "B1": 100.0, "B2": 40.0}

#: SLEDAI-2K descriptors present (all attributed to SLE) at the baseline (-28) and day-181 visits
SLEDAI_PRESENT = {
    ("A1", -28): {"ARTHRIT", "RASH", "PROTEIN", "LOWCOMP", "DNABIND"},  # 4+2+4+2+2 = 14
    ("A1", 181): {"LOWCOMP"},                                          # 2 (cSLEDAI 0)
    ("A2", -28): {"ARTHRIT", "RASH", "PROTEIN"},                       # 10
    ("A2", 181): {"ARTHRIT"},                                          # 4
    ("A3", -28): {"RASH"},                                             # 2 (no day-181 visit)
    ("B1", -28): {"ARTHRIT", "RASH", "LOWCOMP"},                       # 8
    ("B1", 181): set(),                                                # 0
    ("B2", -28): {"RASH", "PROTEIN"},                                  # 6
    ("B2", 181): {"RASH", "PROTEIN"},                                  # 6
}
PGA = {("A1", -28): 2.0, ("A1", 181): 0.3, ("A2", -28): 1.5, ("A2", 181): 1.0, ("A3", -28): 1.2,
       ("B1", -28): 1.8, ("B1", 181): 0.2, ("B2", -28): 1.0, ("B2", 181): 1.0}

LAB_DAYS = [-5, 1, 8, 15, 29, 91]  # days from infusion -5, 0, 7, 14, 28, 90
NEUT = {"A1": [3.0, 2.0, 0.8, 1.2, 1.6, 2.5], "B1": [2.5, 2.0, 0.3, 0.4, 0.9, 2.0]}
PLAT = {"B2": [200.0, 180.0, 40.0, 120.0, 160.0, 200.0]}
CP_DAYS = [1, 8, 29, 91, 181]
CD19 = {"A1": [50.0, None, None, 5.0, 20.0], "A2": [40.0, None, None, None, 3.0], "A3": [30.0, None, None, None],
        "B1": [60.0, None, None, None, None], "B2": [45.0, 10.0, 8.0, 6.0, 7.0]}
NAIVE = {("A1", 91): 90.0, ("A1", 181): 85.0, ("A2", 181): 95.0}


def build_tiny_trial() -> dict[str, pl.DataFrame]:
    st = "TINY"
    dm = pl.DataFrame({
        "STUDYID": [st] * 6, "USUBJID": SUBJ + ["S1"], "SUBJID": SUBJ + ["S1"], "AGE": [30, 40, 50, 35, 45, 29],
        "SEX": ["F"] * 6, "ARMCD": [ARM[u] for u in SUBJ] + ["SCRNFAIL"],
        "ARM": [f"{ARM[u]} arm" for u in SUBJ] + ["Screen Failure"],
        "ACTARMCD": [ARM[u] for u in SUBJ] + ["SCRNFAIL"],
        "ACTARM": [f"{ARM[u]} arm" for u in SUBJ] + ["Screen Failure"],
        "RFXSTDTC": ["2024-01-01"] * 5 + [None]})
    ex = pl.DataFrame({"STUDYID": [st] * 5, "USUBJID": SUBJ, "EXTRT": ["CART"] * 5,
                       "EXDOSE": [DOSE[ARM[u]] for u in SUBJ], "EXDOSU": ["CELLS"] * 5, "EXSTDY": [1] * 5})
    vs = pl.DataFrame({"USUBJID": SUBJ, "VSTESTCD": ["WEIGHT"] * 5, "VSSTRESN": [WEIGHT[u] for u in SUBJ],
                       "VSSTRESU": ["kg"] * 5, "VSDY": [-28] * 5})
    ds = pl.DataFrame({"USUBJID": SUBJ + ["S1"],
                       "DSDECOD": ["COMPLETED", "COMPLETED", "WITHDRAWAL BY SUBJECT", "COMPLETED", "COMPLETED",
                                   "SCREEN FAILURE"],
                       "DSCAT": ["DISPOSITION EVENT"] * 6, "DSSTDY": [366, 366, 91, 366, 366, None]})
    ae_rows = [  # USUBJID, AEDECOD, AEBODSYS, grade, start, end
        ("A1", "Cytokine release syndrome", "Immune system disorders", "1", 3, 5),
        ("A1", "Cytokine release syndrome", "Immune system disorders", "2", 8, 10),
        ("A1", "Neutrophil count decreased", "Investigations", "3", 8, 15),
        ("A2", "Cytokine release syndrome", "Immune system disorders", "1", 2, 3),
        ("A2", "Immune effector cell-associated neurotoxicity syndrome", "Nervous system disorders", "3", 6, 8),
        ("A3", "Pyrexia", "General disorders and administration site conditions", "1", -3, -2),
        ("B1", "Cytokine release syndrome", "Immune system disorders", "2", 2, 5),
        ("B1", "Neutrophil count decreased", "Investigations", "4", 5, 15),
        ("B1", "Pneumonia", "Infections and infestations", "3", 40, 50),
        ("B2", "Cytokine release syndrome", "Immune system disorders", "1", 4, 5),
        ("B2", "Platelet count decreased", "Investigations", "3", 7, 15),
    ]
    ae = pl.DataFrame(ae_rows, schema=["USUBJID", "AEDECOD", "AEBODSYS", "AETOXGR", "AESTDY", "AEENDY"],
                      orient="row").with_columns(pl.lit(st).alias("STUDYID"), pl.col("AEDECOD").alias("AETERM"),
                                                 (pl.int_range(pl.len()).over("USUBJID") + 1).alias("AESEQ"))
    cm_rows = [(u, "MYCOPHENOLATE MOFETIL", "IMMUNOSUPPRESSANT", None, -400, 30) for u in SUBJ]
    cm_rows += [("A1", "MYCOPHENOLATE MOFETIL", "IMMUNOSUPPRESSANT", None, 201, None),
                ("B1", "TOCILIZUMAB", "CRS/ICANS RESCUE", 800.0, 3, 3),
                ("A2", "DEXAMETHASONE", "CRS/ICANS RESCUE", 40.0, 7, 9)]
    cm = pl.DataFrame(cm_rows, schema={"USUBJID": pl.String, "CMTRT": pl.String, "CMCAT": pl.String,
                                       "CMDOSE": pl.Float64, "CMSTDY": pl.Int64, "CMENDY": pl.Int64}, orient="row")
    lb_rows = []
    for u in SUBJ:
        days = LAB_DAYS if u != "A3" else LAB_DAYS  # A3 discontinues at Day 91, after its last lab
        for k, d in enumerate(days):
            lb_rows.append((u, "NEUT", "Neutrophils", NEUT.get(u, [3.0] * 6)[k], "10^9/L", 1.8, d))
            lb_rows.append((u, "PLAT", "Platelets", PLAT.get(u, [200.0] * 6)[k], "10^9/L", 150.0, d))
    lb = pl.DataFrame(lb_rows, schema={"USUBJID": pl.String, "LBTESTCD": pl.String, "LBTEST": pl.String,
                                       "LBSTRESN": pl.Float64, "LBSTRESU": pl.String, "LBSTNRLO": pl.Float64,
                                       "LBDY": pl.Int64}, orient="row").with_columns(pl.lit(st).alias("STUDYID"))
    cp_rows = []
    for u in SUBJ:
        for d, v in zip(CP_DAYS, CD19[u]):
            cp_rows.append((u, "CD19", "CD19+ B Cells", "<LLOQ" if v is None else f"{v}", v, "cells/uL", 1.0, d))
            if (u, d) in NAIVE:
                cp_rows.append((u, "NAIVEB", "Naive B Cells of CD19+", f"{NAIVE[(u, d)]}", NAIVE[(u, d)], "%", None, d))
    cp = pl.DataFrame(cp_rows, schema={"USUBJID": pl.String, "CPTESTCD": pl.String, "CPTEST": pl.String,
                                       "CPORRES": pl.String, "CPSTRESN": pl.Float64, "CPSTRESU": pl.String,
                                       "CPLLOQ": pl.Float64, "CPDY": pl.Int64}, orient="row")
    pc = pl.DataFrame({"USUBJID": ["A1"] * 5, "PCTESTCD": ["TRANSGEN"] * 5,
                       "PCORRES": ["<LLOQ", "100.0", "1000.0", "200.0", "50.0"],
                       "PCSTRESN": [None, 100.0, 1000.0, 200.0, 50.0], "PCSTRESU": ["copies/ug"] * 5,
                       "PCLLOQ": [5.0] * 5, "PCDY": [1, 2, 8, 15, 29], "NFRLT": [0.0, 1.0, 7.0, 14.0, 28.0]})
    qs_rows, fa_rows = [], []
    for (u, d), present in SLEDAI_PRESENT.items():
        for code in SLEDAI2K_TESTCD:
            qs_rows.append((u, "SLEDAI-2K", code, "Y" if code in present else "N", None, d))
            if code in present:
                fa_rows.append((u, "ATTRIB", code, "SLE", d))
        qs_rows.append((u, "PGA", "PGA", f"{PGA[(u, d)]}", PGA[(u, d)], d))
    qs = pl.DataFrame(qs_rows, schema={"USUBJID": pl.String, "QSCAT": pl.String, "QSTESTCD": pl.String,
                                       "QSSTRESC": pl.String, "QSSTRESN": pl.Float64, "QSDY": pl.Int64}, orient="row")
    fa = pl.DataFrame(fa_rows, schema={"USUBJID": pl.String, "FATESTCD": pl.String, "FAOBJ": pl.String,
                                       "FASTRESC": pl.String, "FADY": pl.Int64}, orient="row")
    dv = pl.DataFrame({"USUBJID": ["B2"], "DVDECOD": ["PRE-INFUSION SAFETY WINDOW"], "DVCAT": ["MAJOR"],
                       "DVSTDY": [1]})
    return {"dm": dm, "ex": ex, "vs": vs, "ds": ds, "ae": ae, "cm": cm, "lb": lb, "cp": cp, "pc": pc, "qs": qs,
            "fa": fa, "dv": dv}


@pytest.fixture
def tiny_trial() -> dict[str, pl.DataFrame]:
    return build_tiny_trial()
