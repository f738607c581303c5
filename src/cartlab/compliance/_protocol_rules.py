"""Protocol compliance: the protocol's rules evaluated against a trial's SDTM tables.

Every treated subject (a CAR-T infusion in EX: ``EXCAT = "CAR-T INFUSION"`` or ``EXTRT`` = the
protocol's product name; otherwise DM ``RFXSTDTC``) is checked against:

``ELIGIBILITY``        DM ``AGE`` within ``[eligibility] age_min..age_max`` and each
                       ``[eligibility] criteria`` on the screening value (the last value before the
                       first study treatment: lymphodepletion, or the infusion). Where the data
                       hold no value, the row says ``NOT ASSESSABLE`` rather than guessing.
``SAFETY WINDOW``      a temperature >= ``fever_threshold_c`` (VS ``TEMP``, °C) or a fever AE
                       (``AEDECOD`` Pyrexia) within ``fever_free_days`` before the infusion, or an
                       infection AE (``AEBODSYS`` "Infections and infestations", the MedDRA SOC)
                       within ``infection_free_days`` or ongoing at its start; and, where the
                       protocol requires the investigator's written confirmation (the RESET rule,
                       EVIDENCE.md "RESET"), a DS record ``DSDECOD`` in
                       :data:`CONFIRMATION_TERMS` on or before the infusion day.
``LYMPHODEPLETION``    each ``[[lymphodepletion]]`` agent given (EX ``EXTRT``) on exactly its
                       protocol days relative to the infusion (Day 0), no dose missing or extra.
``IMMUNOSUPPRESSION``  every immunosuppressant (CM ``CMCAT`` IMMUNOSUPPRESSANT) started before
                       the infusion has stopped (``CMENDTC``) by ``[immunosuppression] withdrawal_day``;
                       a restart after the infusion is the protocol's flare rule, not a deviation.
``VISIT WINDOW``       an assessment within the visit window of every scheduled day up to the
                       subject's last contact: ``lab_days`` in LB, ``disease_days`` in QS,
                       ``pk_days`` in PC.

Days are protocol days: date minus infusion date, infusion = Day 0 (DESIGN.md "Day 0"). A
partial date counts as a deviation only if every day it can mean does (see :mod:`._dates`).
Visit windows are not in the protocols: :class:`VisitWindow` is cartlab's stated default
(± 10 % of the nominal day, at least 1 and at most 14 days), an assumption to set per protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from ..protocol import Protocol
from ._dates import parse_dtc

__all__ = ["CONFIRMATION_TERMS", "DEVIATIONS_SCHEMA", "VisitWindow", "check_compliance"]

#: DS terms recording the investigator's written confirmation that the pre-infusion window was
#: clear (sponsor-defined protocol-milestone terms; compared case-insensitively).
CONFIRMATION_TERMS = ("PRE-INFUSION SAFETY CONFIRMED", "PRE-INFUSION SAFETY CONFIRMATION")

#: Columns of the store's ``deviations`` table. ``DAY`` is the protocol day (infusion = 0).
DEVIATIONS_SCHEMA: dict[str, pl.DataType] = {
    "USUBJID": pl.String(), "CATEGORY": pl.String(), "RULE": pl.String(), "SEVERITY": pl.String(),
    "DAY": pl.Int64(), "VALUE": pl.String(), "EXPECTED": pl.String(), "DESCRIPTION": pl.String(),
    "SOURCE": pl.String(),
}

_INFECTIONS_SOC = "INFECTIONS AND INFESTATIONS"
_FEVER_TERMS = ("PYREXIA", "FEVER")


@dataclass(frozen=True)
class VisitWindow:
    """Tolerance around a scheduled day: ``clip(round(fraction * |day|), min_days, max_days)``.

    An assumption (protocols do not state windows yet), not a clinical rule.

    Examples
    --------
    >>> w = VisitWindow()
    >>> [w.days(d) for d in (-28, 0, 7, 28, 90, 365)]
    [3, 1, 1, 3, 9, 14]
    """

    fraction: float = 0.1
    min_days: int = 1
    max_days: int = 14

    def days(self, day: int) -> int:
        """Half-width of the window around ``day``, in days."""
        return int(min(self.max_days, max(self.min_days, round(self.fraction * abs(day)))))


def _dev(uid: str, category: str, rule: str, severity: str, day: int | None, value: str | None,
         expected: str | None, description: str, source: str | None) -> dict[str, object]:
    return {"USUBJID": uid, "CATEGORY": category, "RULE": rule, "SEVERITY": severity, "DAY": day, "VALUE": value,
            "EXPECTED": expected, "DESCRIPTION": description, "SOURCE": source}


def _with_days(df: pl.DataFrame, dtc: str, infusion: pl.DataFrame, prefix: str = "") -> pl.DataFrame:
    """Add ``{prefix}DLO``/``{prefix}DHI`` (protocol-day interval of ``dtc``) and the 1-based store row."""
    p = parse_dtc(df[dtc]) if dtc in df.columns else pl.DataFrame(
        {"EARLIEST": [None] * df.height, "LATEST": [None] * df.height}, schema={"EARLIEST": pl.Date, "LATEST": pl.Date})
    out = df.with_columns(pl.Series("__E", p["EARLIEST"]), pl.Series("__L", p["LATEST"])).with_row_index(
        "__ROW", offset=1)
    out = out.join(infusion, on="USUBJID", how="inner")
    return out.with_columns(
        (pl.col("__E") - pl.col("__INF")).dt.total_days().alias(f"{prefix}DLO"),
        (pl.col("__L") - pl.col("__INF")).dt.total_days().alias(f"{prefix}DHI"),
    )


def _infusions(tables: dict[str, pl.DataFrame], protocol: Protocol) -> pl.DataFrame:
    parts = []
    ex = tables.get("ex")
    if ex is not None and {"USUBJID", "EXSTDTC"} <= set(ex.columns):
        is_cart = pl.lit(False)
        if "EXCAT" in ex.columns:
            is_cart = is_cart | (pl.col("EXCAT").str.to_uppercase() == "CAR-T INFUSION")
        if "EXTRT" in ex.columns:
            is_cart = is_cart | (pl.col("EXTRT").str.to_uppercase() == protocol.product.name.upper())
        e = ex.filter(is_cart.fill_null(False))
        parts.append(e.select("USUBJID", pl.Series("__INF", parse_dtc(e["EXSTDTC"])["EARLIEST"])))
    dm = tables.get("dm")
    if dm is not None and {"USUBJID", "RFXSTDTC"} <= set(dm.columns):
        parts.append(dm.select("USUBJID", pl.Series("__INF", parse_dtc(dm["RFXSTDTC"])["EARLIEST"])))
    if not parts:
        return pl.DataFrame(schema={"USUBJID": pl.String, "__INF": pl.Date})
    # The CAR-T record wins over RFXSTDTC (which may be a lymphodepletion date).
    return (pl.concat(parts).filter(pl.col("__INF").is_not_null()).group_by("USUBJID", maintain_order=True)
            .first().sort("USUBJID"))


def _first_treatment(tables: dict[str, pl.DataFrame], infusion: pl.DataFrame, protocol: Protocol) -> pl.DataFrame:
    """Protocol day of the first study treatment (lymphodepletion or infusion) per subject (<= 0)."""
    ex = tables.get("ex")
    base = infusion.select("USUBJID", pl.lit(0, pl.Int64).alias("FIRST"))
    drugs = [a.drug.upper() for a in protocol.lymphodepletion]
    if ex is None or "EXTRT" not in ex.columns or not drugs:
        return base
    ld = _with_days(ex.filter(pl.col("EXTRT").str.to_uppercase().is_in(drugs)), "EXSTDTC", infusion)
    first = ld.group_by("USUBJID").agg(pl.col("DLO").min().alias("LD"))
    return base.join(first, on="USUBJID", how="left").select(
        "USUBJID", pl.min_horizontal("FIRST", pl.col("LD").fill_null(0)).cast(pl.Int64).alias("FIRST"))


def _sdtm_to_protocol_day(dy: pl.Expr) -> pl.Expr:
    # SDTM --DY has no day 0 (infusion = Day 1); protocol days do (infusion = Day 0).
    return pl.when(dy > 0).then(dy - 1).otherwise(dy)


def _screening_values(tables: dict[str, pl.DataFrame], infusion: pl.DataFrame, first: pl.DataFrame,
                      variable: str) -> pl.DataFrame | None:
    """USUBJID, VALUE (float): the last value of ``variable`` before the first study treatment;
    None when the trial's data cannot provide the variable at all."""
    lab = {"anc_10e9_l": "NEUT", "platelets_10e9_l": "PLAT", "hgb_g_dl": "HGB", "c3_g_l": "C3",
           "upcr_g_g": "PROTCRT", "anti_dsdna_iu_ml": "DSDNA", "ck_u_l": "CK", "egfr_ml_min": "EGFR"}
    findings = {"weight_kg": ("vs", "WEIGHT"), "pga": ("qs", "PGA"), "physician_global": ("qs", "MDGLOBAL"),
                "fvc_pct_pred": ("re", "FVCPP"), **{k: ("lb", v) for k, v in lab.items()}}
    if variable == "age":
        dm = tables.get("dm")
        if dm is None or "AGE" not in dm.columns:
            return None
        return dm.select("USUBJID", pl.col("AGE").cast(pl.Float64).alias("VALUE"))
    if variable in findings:
        dom, code = findings[variable]
        p = dom.upper()
        t = tables.get(dom)
        if t is None or not {"USUBJID", f"{p}TESTCD", f"{p}STRESN"} <= set(t.columns):
            return None
        t = t.filter(pl.col(f"{p}TESTCD") == code)
        if t.height == 0:
            return None
        t = _with_days(t, f"{p}DTC", infusion)
        return _last_before(t.select("USUBJID", pl.col("DHI").alias("DAY"),
                                     pl.col(f"{p}STRESN").cast(pl.Float64).alias("VALUE")), first)
    qs = tables.get("qs")
    if variable in ("sledai2k", "mrss", "mmt8"):
        from ..instruments import derive_mmt8, derive_mrss, derive_sledai2k

        if qs is None:
            return None
        if variable == "sledai2k":
            fa = tables.get("fa")
            if fa is None or qs.filter(pl.col("QSCAT") == "SLEDAI-2K").height == 0:
                return None
            scores, _ = derive_sledai2k(qs, fa)
            col = "SCORE"
        else:
            scores, _ = (derive_mrss(qs) if variable == "mrss" else derive_mmt8(qs))
            col = variable.upper()
            if scores.height == 0:
                return None
        return _last_before(scores.select("USUBJID", _sdtm_to_protocol_day(pl.col("QSDY")).alias("DAY"),
                                          pl.col(col).cast(pl.Float64).alias("VALUE")), first)
    if variable == "bilag_a_domains":
        if qs is None or "QSCAT" not in qs.columns:
            return None
        b = qs.filter(pl.col("QSCAT").str.to_uppercase().str.starts_with("BILAG"))
        if b.height == 0:
            return None
        b = _with_days(b, "QSDTC", infusion)
        per_visit = b.group_by("USUBJID", "DHI").agg(
            (pl.col("QSSTRESC").str.to_uppercase() == "A").sum().cast(pl.Float64).alias("VALUE"))
        return _last_before(per_visit.rename({"DHI": "DAY"}), first)
    if variable == "prior_immunosuppressants":
        cm = tables.get("cm")
        if cm is None or not {"CMCAT", "CMTRT"} <= set(cm.columns):
            return None
        c = _with_days(cm.filter(pl.col("CMCAT").str.to_uppercase().str.contains("IMMUNOSUPPRESSANT")), "CMSTDTC",
                       infusion)
        c = c.join(first, on="USUBJID").filter(pl.col("DLO") < pl.col("FIRST"))
        return c.group_by("USUBJID").agg(pl.col("CMTRT").str.to_uppercase().n_unique().cast(pl.Float64)
                                         .alias("VALUE"))
    return None


def _last_before(values: pl.DataFrame, first: pl.DataFrame) -> pl.DataFrame:
    v = values.join(first, on="USUBJID").filter(pl.col("DAY").is_not_null() & (pl.col("DAY") < pl.col("FIRST"))
                                                 & pl.col("VALUE").is_not_null())
    return v.sort("USUBJID", "DAY").group_by("USUBJID").agg(pl.col("VALUE").last())


def _eligibility(tables, protocol: Protocol, infusion, first, rows: list[dict[str, object]]) -> None:
    el = protocol.eligibility
    checks = [("age", ">=", float(el.age_min), f"age {el.age_min}-{el.age_max} years"),
              ("age", "<=", float(el.age_max), f"age {el.age_min}-{el.age_max} years")]
    checks += [(c.variable, c.op, float(c.value), c.text) for c in el.criteria]
    subjects = infusion["USUBJID"].to_list()
    cache: dict[str, dict[str, float]] = {}
    for variable, op, threshold, text in checks:
        if variable not in cache:
            v = _screening_values(tables, infusion, first, variable)
            cache[variable] = {} if v is None else dict(v.iter_rows())
        values = cache[variable]
        crit = next((c for c in el.criteria if c.text == text), None)
        for uid in subjects:
            value = values.get(uid)
            if value is None or not np.isfinite(value):
                if variable != "age" or op == ">=":
                    rows.append(_dev(uid, "ELIGIBILITY", f"ELIG-{variable.upper()}", "NOT ASSESSABLE", None, None,
                                     text, f"no screening value of {variable} in the data; eligibility "
                                           f"({text}) cannot be checked", None))
                continue
            ok = bool(crit.evaluate([value])[0]) if crit is not None else (
                value >= threshold if op == ">=" else value <= threshold)
            if not ok:
                rows.append(_dev(uid, "ELIGIBILITY", f"ELIG-{variable.upper()}", "MAJOR", None, f"{value:g}", text,
                                 f"treated although {variable} = {value:g} does not meet {text}", None))


def _safety_window(tables, protocol: Protocol, infusion, rows: list[dict[str, object]]) -> None:
    sw = protocol.safety_window
    flagged: set[str] = set()
    vs = tables.get("vs")
    if vs is not None and {"VSTESTCD", "VSSTRESN"} <= set(vs.columns):
        t = _with_days(vs.filter(pl.col("VSTESTCD") == "TEMP"), "VSDTC", infusion)
        unit = pl.col("VSSTRESU") if "VSSTRESU" in t.columns else pl.lit("C")
        hot = t.filter((unit.fill_null("C") == "C") & (pl.col("VSSTRESN") >= sw.fever_threshold_c)
                       & (pl.col("DLO") >= -sw.fever_free_days) & (pl.col("DHI") <= -1))
        for uid, day, temp, row in hot.select("USUBJID", "DLO", "VSSTRESN", "__ROW").iter_rows():
            flagged.add(uid)
            rows.append(_dev(uid, "SAFETY WINDOW", "PRE-INFUSION-FEVER", "MAJOR", day, f"{temp:g} C",
                             f"no temperature >= {sw.fever_threshold_c:g} C in the {sw.fever_free_days} days "
                             "before infusion",
                             f"infused {-day} day(s) after a temperature of {temp:g} C", f"vs row {row}"))
    ae = tables.get("ae")
    if ae is not None and "AESTDTC" in ae.columns:
        a = _with_days(ae, "AESTDTC", infusion)
        a = a.join(_with_days(ae, "AEENDTC", infusion, prefix="E").select("__ROW", "EDLO"), on="__ROW", how="left") \
            if "AEENDTC" in ae.columns else a.with_columns(pl.lit(None, pl.Int64).alias("EDLO"))
        decod = pl.col("AEDECOD").str.to_uppercase() if "AEDECOD" in a.columns else pl.lit("")
        soc = pl.col("AEBODSYS").str.to_uppercase() if "AEBODSYS" in a.columns else pl.lit("")
        fever = a.filter(decod.is_in(list(_FEVER_TERMS)) & (pl.col("DLO") >= -sw.fever_free_days)
                         & (pl.col("DHI") <= -1))
        for uid, day, term, row in fever.select("USUBJID", "DLO", "AEDECOD", "__ROW").iter_rows():
            flagged.add(uid)
            rows.append(_dev(uid, "SAFETY WINDOW", "PRE-INFUSION-FEVER", "MAJOR", day, term,
                             f"no fever in the {sw.fever_free_days} days before infusion",
                             f"infused {-day} day(s) after the onset of an AE '{term}'", f"ae row {row}"))
        # an infection counts if it started in the window, or before it and had not ended by its start
        inf = a.filter((soc == _INFECTIONS_SOC) & (pl.col("DHI") <= -1) & (
            (pl.col("DLO") >= -sw.infection_free_days) | pl.col("EDLO").is_null()
            | (pl.col("EDLO") >= -sw.infection_free_days)))
        for uid, day, term, row in inf.select("USUBJID", "DLO", "AEDECOD", "__ROW").iter_rows():
            flagged.add(uid)
            rows.append(_dev(uid, "SAFETY WINDOW", "PRE-INFUSION-INFECTION", "MAJOR", day, term,
                             f"no infection in the {sw.infection_free_days} days before infusion",
                             f"infused with an infection AE '{term}' starting on day {day}", f"ae row {row}"))
    if not sw.written_confirmation:
        return
    ds = tables.get("ds")
    confirmed: set[str] = set()
    if ds is not None and {"DSDECOD", "DSSTDTC"} <= set(ds.columns):
        d = _with_days(ds.filter(pl.col("DSDECOD").str.to_uppercase().is_in(list(CONFIRMATION_TERMS))), "DSSTDTC",
                       infusion)
        confirmed = set(d.filter(pl.col("DLO") <= 0)["USUBJID"].to_list())
    for uid in infusion["USUBJID"].to_list():
        if uid in confirmed:
            continue
        if uid in flagged:
            rows.append(_dev(uid, "SAFETY WINDOW", "PRE-INFUSION-CONFIRMATION", "MAJOR", 0, None,
                             "investigator's written confirmation before infusion",
                             "infused with fever or infection in the window and no written confirmation recorded "
                             "(the RESET incident)", None))
        else:
            rows.append(_dev(uid, "SAFETY WINDOW", "PRE-INFUSION-CONFIRMATION", "MINOR", 0, None,
                             "investigator's written confirmation before infusion",
                             "no written confirmation of a clear pre-infusion window recorded (DS "
                             f"DSDECOD {CONFIRMATION_TERMS[0]!r})", None))


def _lymphodepletion(tables, protocol: Protocol, infusion, rows: list[dict[str, object]]) -> None:
    ex = tables.get("ex")
    for agent in protocol.lymphodepletion:
        drug = agent.drug.upper()
        planned = sorted(agent.days)
        given = pl.DataFrame(schema={"USUBJID": pl.String, "DLO": pl.Int64, "__ROW": pl.UInt32})
        if ex is not None and "EXTRT" in ex.columns:
            given = _with_days(ex.filter(pl.col("EXTRT").str.to_uppercase() == drug), "EXSTDTC", infusion)
        by_subject = {u: list(zip(d, r)) for u, d, r in
                      given.group_by("USUBJID").agg(pl.col("DLO"), pl.col("__ROW")).iter_rows()}
        for uid in infusion["USUBJID"].to_list():
            doses = by_subject.get(uid, [])
            days = [d for d, _ in doses if d is not None]
            if not doses:
                rows.append(_dev(uid, "LYMPHODEPLETION", "LD-MISSING", "MAJOR", None, None,
                                 f"{agent.drug} on days {planned}", f"no {agent.drug} recorded in EX", None))
                continue
            for day in planned:
                if day not in days:
                    rows.append(_dev(uid, "LYMPHODEPLETION", "LD-TIMING", "MAJOR", day, None,
                                     f"{agent.drug} on days {planned}",
                                     f"no {agent.drug} dose on protocol day {day}", None))
            for day, row in doses:
                if day is not None and day not in planned:
                    rows.append(_dev(uid, "LYMPHODEPLETION", "LD-TIMING", "MAJOR", day, str(day),
                                     f"{agent.drug} on days {planned}",
                                     f"{agent.drug} given on day {day}, not a protocol day", f"ex row {row}"))


def _immunosuppression(tables, protocol: Protocol, infusion, rows: list[dict[str, object]]) -> None:
    cm = tables.get("cm")
    wd = protocol.immunosuppression.withdrawal_day
    if cm is None or not {"CMCAT", "CMSTDTC"} <= set(cm.columns):
        return
    c = _with_days(cm.filter(pl.col("CMCAT").str.to_uppercase() == "IMMUNOSUPPRESSANT"), "CMSTDTC", infusion)
    if "CMENDTC" in c.columns:
        ends = parse_dtc(c["CMENDTC"])
        c = c.with_columns(pl.Series("__EE", ends["EARLIEST"]))
    else:
        c = c.with_columns(pl.lit(None, pl.Date).alias("__EE"))
    c = c.with_columns((pl.col("__EE") - pl.col("__INF")).dt.total_days().alias("END"))
    late = c.filter((pl.col("DHI") < 0) & (pl.col("END").is_null() | (pl.col("END") > wd)))
    for uid, trt, end, row in late.select("USUBJID", "CMTRT", "END", "__ROW").iter_rows():
        what = f"still taken on day {end}" if end is not None else "no stop date recorded"
        rows.append(_dev(uid, "IMMUNOSUPPRESSION", "IST-WITHDRAWAL", "MAJOR", end, trt,
                         f"stopped by day {wd}", f"{trt} {what}; the protocol stops immunosuppressants by day {wd}",
                         f"cm row {row}"))


def _visit_windows(tables, protocol: Protocol, infusion, window: VisitWindow, rows: list[dict[str, object]]) -> None:
    s = protocol.schedule
    last_parts = []
    for name, t in tables.items():
        dtc = f"{name[:2].upper()}DTC"
        if len(name) == 2 and t.height and {"USUBJID", dtc} <= set(t.columns):
            d = _with_days(t.select("USUBJID", dtc), dtc, infusion)
            last_parts.append(d.group_by("USUBJID").agg(pl.col("DHI").max().alias("LAST")))
    if not last_parts:
        return
    last = pl.concat(last_parts).group_by("USUBJID").agg(pl.col("LAST").max())
    for dom, days in (("lb", s.lab_days), ("qs", s.disease_days), ("pc", s.pk_days)):
        t = tables.get(dom)
        dtc = f"{dom.upper()}DTC"
        if t is None or dtc not in t.columns or not days:
            continue
        seen = _with_days(t.select("USUBJID", dtc), dtc, infusion).select("USUBJID", "DLO").unique()
        plan = pl.DataFrame({"PLAN": list(days), "W": [window.days(d) for d in days]},
                            schema={"PLAN": pl.Int64, "W": pl.Int64})
        expected = infusion.select("USUBJID").join(last, on="USUBJID").join(plan, how="cross").filter(
            pl.col("PLAN") <= pl.col("LAST"))
        hit = expected.join(seen, on="USUBJID").filter((pl.col("DLO") - pl.col("PLAN")).abs() <= pl.col("W")) \
            .select("USUBJID", "PLAN").unique()
        missed = expected.join(hit, on=["USUBJID", "PLAN"], how="anti").sort("USUBJID", "PLAN")
        for uid, plan_day, w in missed.select("USUBJID", "PLAN", "W").iter_rows():
            rows.append(_dev(uid, "VISIT WINDOW", f"VISIT-{dom.upper()}", "MINOR", plan_day, None,
                             f"a {dom.upper()} assessment on day {plan_day} ± {w}",
                             f"no {dom.upper()} assessment within day {plan_day} ± {w}", None))


def check_compliance(tables: dict[str, pl.DataFrame], protocol: Protocol, *,
                     visit_window: VisitWindow = VisitWindow()) -> pl.DataFrame:
    """Evaluate a protocol's rules against a trial's SDTM tables and list the deviations.

    Parameters
    ----------
    tables : dict of str to polars.DataFrame
        SDTM domains by lower-case code (as in a trial store: ``dm``, ``ex``, ``vs``, ``ae``, ``cm``,
        ``ds``, ``lb``, ``qs``, ``fa``, ``pc`` …), with the store's types.
    protocol : Protocol
    visit_window : VisitWindow
        Tolerance of scheduled visits (an assumption; see :class:`VisitWindow`).

    Returns
    -------
    polars.DataFrame
        :data:`DEVIATIONS_SCHEMA`: one row per deviation (``SEVERITY`` MAJOR or MINOR) or per
        criterion the data cannot assess (``NOT ASSESSABLE``), sorted by subject, category, day.

    Examples
    --------
    >>> from cartlab.protocol import load_protocol, resolve_protocol
    >>> p = load_protocol(resolve_protocol("reset-sle"))
    >>> dm = pl.DataFrame({"USUBJID": ["R-1"], "AGE": [80], "RFXSTDTC": ["2025-03-01"]})
    >>> vs = pl.DataFrame({"USUBJID": ["R-1"], "VSTESTCD": ["TEMP"], "VSSTRESN": [38.4], "VSSTRESU": ["C"],
    ...                    "VSDTC": ["2025-02-26"]})
    >>> d = check_compliance({"dm": dm, "vs": vs}, p)
    >>> d.filter(pl.col("SEVERITY") == "MAJOR").select("RULE", "DAY", "VALUE").rows()[:3]
    [('ELIG-AGE', None, '80'), ('PRE-INFUSION-FEVER', -3, '38.4 C'), ('PRE-INFUSION-CONFIRMATION', 0, None)]
    >>> d.filter(pl.col("RULE").str.starts_with("PRE-INF")).select("RULE", "SEVERITY", "DAY").rows()
    [('PRE-INFUSION-FEVER', 'MAJOR', -3), ('PRE-INFUSION-CONFIRMATION', 'MAJOR', 0)]
    """
    infusion = _infusions(tables, protocol)
    rows: list[dict[str, object]] = []
    if infusion.height:
        first = _first_treatment(tables, infusion, protocol)
        _eligibility(tables, protocol, infusion, first, rows)
        _safety_window(tables, protocol, infusion, rows)
        _lymphodepletion(tables, protocol, infusion, rows)
        _immunosuppression(tables, protocol, infusion, rows)
        _visit_windows(tables, protocol, infusion, visit_window, rows)
    if not rows:
        return pl.DataFrame(schema=DEVIATIONS_SCHEMA)
    order = {"ELIGIBILITY": 0, "SAFETY WINDOW": 1, "LYMPHODEPLETION": 2, "IMMUNOSUPPRESSION": 3, "VISIT WINDOW": 4}
    df = pl.DataFrame(rows, schema=DEVIATIONS_SCHEMA, orient="row")
    return df.with_row_index("__I").sort(
        "USUBJID", pl.col("CATEGORY").replace_strict(order, default=9), "__I").drop("__I")
