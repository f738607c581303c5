"""The value of each target metric in one trial, computed from its SDTM tables (and ADaM where needed).

The same definitions as the report's tables (:mod:`cartlab.analysis`): safety rates from AE over
treated subjects, efficacy at a day from ADEFF over the efficacy-evaluable population, B-cell
depletion from a post-infusion CP CD19 result below its LLOQ (``CPSTRESN`` null), B-cell return from ADTTE ``BCREC``,
off immunosuppression from CM (no ``IMMUNOSUPPRESSANT`` record running on the day).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from ..analysis import derive_adam, km_median
from ._targets import Target

CRS = "Cytokine release syndrome"
ICANS = "Immune effector cell-associated neurotoxicity syndrome"
_AE_RATES = {
    "crs_any": (CRS, 1, 5), "crs_grade1to2": (CRS, 1, 2), "crs_grade3plus": (CRS, 3, 5),
    "icans_any": (ICANS, 1, 5), "icans_grade3plus": (ICANS, 3, 5),
    "neutropenia_grade3plus": ("Neutrophil count decreased", 3, 5),
    "thrombocytopenia_grade3plus": ("Platelet count decreased", 3, 5),
}
#: efficacy metric -> (ADEFF PARAMCD, statistic): CHG/PCHG median (PCHG as a fraction), or a response
_EFFICACY = {
    "sledai2k_change_median": ("SLEDAI2K", "CHG"),
    "fvc_pct_pred_relative_change_median": ("FVCPP", "PCHG"),
    "mmt8_relative_change_median": ("MMT8", "PCHG"),
    "tis_moderate_or_major": ("TISMM", "RESP"),
    "tis_major": ("TISMAJ", "RESP"),
    "tis_moderate": ("TISMOD", "RESP"),
    "doris_remission": ("DORIS", "RESP"),
    "complete_renal_response": ("RENALCR", "RESP"),
}
_NEEDS_ADAM = set(_EFFICACY) | {"bcell_return_median_days"}


def trial_metrics(tables: dict[str, pl.DataFrame], targets: Iterable[Target], *, efficacy_day: int
                  ) -> dict[str, float]:
    """Each simulated target's metric in one trial, keyed by target id (NaN when nobody is assessable).

    Parameters
    ----------
    tables : dict of str -> polars.DataFrame
        SDTM domains of one trial (:func:`cartlab.trial.run_trial`).
    targets : iterable of Target
        Targets of that trial's protocol (``simulated`` ones are computed, the others skipped).
    efficacy_day : int
        The protocol's primary efficacy day (ADSL's efficacy-evaluable population).
    """
    targets = [t for t in targets if t.simulated]
    dm = tables["dm"].filter(pl.col("ACTARMCD") != "SCRNFAIL")
    by_arm = {a: set(g["USUBJID"].to_list()) for (a,), g in dm.group_by("ACTARMCD")}
    everyone = set(dm["USUBJID"].to_list())
    adam = derive_adam(tables, efficacy_day=efficacy_day) if any(t.metric in _NEEDS_ADAM for t in targets) else None
    ae = tables["ae"].with_columns(pl.col("AETOXGR").cast(pl.Int64, strict=False).alias("G"))
    out: dict[str, float] = {}
    for t in targets:
        subj = by_arm.get(t.arm, set()) if t.arm is not None else everyone
        if not subj:
            out[t.id] = float("nan")
            continue
        if t.metric in _AE_RATES:
            decod, g0, g1 = _AE_RATES[t.metric]
            mx = (ae.filter((pl.col("AEDECOD") == decod) & pl.col("USUBJID").is_in(list(subj)))
                  .group_by("USUBJID").agg(pl.col("G").max()))
            out[t.id] = float(mx.filter(pl.col("G").is_between(g0, g1)).height) / len(subj)
        elif t.metric == "bcell_depleted":
            # post-infusion: SDTM study day > 1 (infusion is Day 1)
            cd19 = tables["cp"].filter((pl.col("CPTESTCD") == "CD19") & (pl.col("CPDY") > 1)
                                       & pl.col("CPSTRESN").is_null() & pl.col("USUBJID").is_in(list(subj)))
            out[t.id] = cd19["USUBJID"].n_unique() / len(subj)
        elif t.metric == "bcell_detectable":
            cd19 = tables["cp"].filter((pl.col("CPTESTCD") == "CD19") & (pl.col("CPDY") == t.day + 1)
                                       & pl.col("USUBJID").is_in(list(subj)))
            out[t.id] = (float(cd19["CPSTRESN"].is_not_null().mean()) if cd19.height else float("nan"))
        elif t.metric == "off_immunosuppression":
            # off = no CM immunosuppressant (CMCAT IMMUNOSUPPRESSANT) running on the target day (SDTM study
            # day t.day + 1): withdrawn by the protocol and not restarted after a flare
            dy = t.day + 1
            on = tables["cm"].filter((pl.col("CMCAT") == "IMMUNOSUPPRESSANT") & (pl.col("CMSTDY") <= dy)
                                     & (pl.col("CMENDY").is_null() | (pl.col("CMENDY") >= dy))
                                     & pl.col("USUBJID").is_in(list(subj)))
            out[t.id] = 1.0 - on["USUBJID"].n_unique() / len(subj)
        elif t.metric == "bcell_return_median_days":
            assert adam is not None
            tte = adam.adtte.filter((pl.col("PARAMCD") == "BCREC") & pl.col("USUBJID").is_in(list(subj)))
            out[t.id] = (km_median(tte["AVAL"].to_numpy().astype(float), tte["CNSR"].to_numpy() == 0)
                         if tte.height else float("nan"))
        else:
            assert adam is not None
            code, stat = _EFFICACY[t.metric]
            eff = set(adam.adsl.filter(pl.col("EFFFL") == "Y")["USUBJID"].to_list()) & subj
            v = adam.adeff.filter((pl.col("PARAMCD") == code) & (pl.col("AFRLT") == float(t.day))
                                  & pl.col("USUBJID").is_in(list(eff)))
            if stat in ("CHG", "PCHG"):
                x = v[stat].drop_nulls().to_numpy().astype(float)
                out[t.id] = float(np.median(x)) / (100.0 if stat == "PCHG" else 1.0) if x.size else float("nan")
            else:  # RESP
                x = v["AVAL"].drop_nulls().to_numpy()
                out[t.id] = float(np.mean(x == 1)) if x.size else float("nan")
    return out
