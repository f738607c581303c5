"""The self-contained HTML report of a trial (inline SVG figures and CSS; opens offline)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files

import jinja2
import polars as pl

from .. import __version__
from ..analysis import (
    AdamDatasets,
    SummaryTable,
    bcell_table,
    deviation_table,
    disposition_table,
    efficacy_table,
    safety_table,
)
from ..protocol import Protocol
from ._figures import figures
from ._replicates import efficacy_days, with_replicates
from ._tables import kinetics_table, replicate_table

#: primary endpoint -> (ADEFF PARAMCD whose % change the waterfall shows, its label)
WATERFALL_PARAM = {"sledai2k_change": ("SLEDAI2K", "SLEDAI-2K"), "doris_remission": ("SLEDAI2K", "SLEDAI-2K"),
                   "pga_change": ("PGA", "PGA"), "mrss_change": ("MRSS", "mRSS"),
                   "fvc_pct_pred_change": ("FVCPP", "FVC % predicted"), "criss": ("MRSS", "mRSS"),
                   "mmt8_change": ("MMT8", "MMT-8"), "tis": ("MMT8", "MMT-8")}

METHODS = (
    "Populations: safety = infused; efficacy-evaluable = infused with follow-up to the primary efficacy day; "
    "per-protocol = efficacy-evaluable without a major protocol deviation (DV DVCAT MAJOR).",
    "Time axis: days from infusion (infusion = day 0; SDTM --DY Day 1 = day 0).",
    "Toxicity: CRS and ICANS as recorded in AE (ASTCT 2019 consensus grades); cytopenias CTCAE v5.0 graded from LB "
    "by cartlab.instruments.derive_ctcae_haem; ICAHT (Rejeski 2023) by derive_icaht_early/late.",
    "Efficacy: SLEDAI-2K, cSLEDAI, DORIS, LLDAS, renal response, mRSS, CRISS, MMT-8 and TIS from SDTM by "
    "cartlab.instruments; assessments the instruments cannot score are left out and listed below.",
    "Exact 95 % intervals: Clopper–Pearson. Medians of times to event: Kaplan–Meier.",
    "Kinetics: non-compartmental analysis by cartlab.pk (PKNCA conventions).",
    "Time to relapse: restart of disease-directed immunosuppression after infusion (CM).",
    "SRI-4 is not derived: it needs BILAG-2004 domain grades, which the store does not hold.",
)


@dataclass
class _Section:
    id: str
    title: str
    tables: list[SummaryTable] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)


def render_report(adam: AdamDatasets, protocol: Protocol | None, *, provenance: dict[str, str],
                  study_id: str, sim_summary: pl.DataFrame | None = None,
                  deviations: pl.DataFrame | None = None, endpoint: str | None = None,
                  efficacy_day: int = 180, source: str = "", replicate_stats: pl.DataFrame | None = None,
                  validation: pl.DataFrame | None = None, validation_replicates: int = 0,
                  validation_trajectories: pl.DataFrame | None = None) -> str:
    """Render the HTML report of one trial.

    Parameters
    ----------
    adam : AdamDatasets
        From :func:`cartlab.analysis.derive_adam`.
    protocol : Protocol or None
        The protocol the trial ran under (for the protocol summary and reported results); an
        ingested trial without one gets a summary from its data only.
    provenance : dict
        The store's provenance record (shown as is, with the report's own version and time).
    study_id : str
    sim_summary : polars.DataFrame, optional
        ``cartlab run``'s per-replicate summary; with more than one replicate the report adds the
        replicated-trials table (median, 90 % interval, reported vs simulated).
    deviations : polars.DataFrame, optional
        SDTM DV and/or a checker's deviation table, concatenated.
    endpoint, efficacy_day
        Primary efficacy endpoint and its day (from the protocol when given).
    source : str
        Where the store was read from (shown in the provenance).
    replicate_stats : polars.DataFrame, optional
        :func:`cartlab.report.replicate_stats` of every replicate trial (``cartlab run --replicates
        --report`` stores it as ``rep_tables``): each table then shows the median and 90 % interval
        across replicates, and the reported value where the protocol has one.
    validation : polars.DataFrame, optional
        :attr:`cartlab.calibrate.ValidationResult.table` (``cartlab validate-model``); adds the
        model-validation section (reported vs simulated for every target), with
        ``validation_replicates`` replicate trials per target and, when given,
        ``validation_trajectories`` (:attr:`cartlab.calibrate.ValidationResult.trajectories`).

    Returns
    -------
    str
        One HTML document: CSS and SVG inline, no external resource.
    """
    if protocol is not None:
        endpoint = protocol.endpoints.primary_efficacy
        efficacy_day = protocol.endpoints.primary_day
        indication = protocol.trial.indication
        title = f"{protocol.trial.study_id}: {protocol.trial.title}"
        ld = "; ".join(f"{a.drug} {a.dose_mg_m2:g} mg/m² days {', '.join(str(d) for d in a.days)}"
                       for a in protocol.lymphodepletion)
        proto_rows = [("Study", f"{protocol.trial.study_id} ({protocol.trial.registry or 'no registry id'}), "
                                f"phase {protocol.trial.phase}, {protocol.trial.sponsor}"),
                      ("Indication", indication), ("Product", f"{protocol.product.name} ({protocol.product.target}, "
                                                             f"{protocol.product.costimulatory_domain})"),
                      ("Dose levels", "; ".join(f"{a.code}: {a.name} (planned n={a.n})" for a in protocol.arms)),
                      ("Lymphodepletion", ld or "none"),
                      ("Primary efficacy", f"{endpoint} at day {efficacy_day}"),
                      ("Follow-up", f"{protocol.schedule.follow_up_days} days"),
                      ("Source", protocol.trial.source)]
        reported = protocol.reported
    else:
        has = set(adam.adeff["PARAMCD"].unique().to_list())
        indication = "SLE" if "SLEDAI2K" in has else "SSC" if "MRSS" in has else "IIM" if "MMT8" in has else "?"
        endpoint = endpoint or {"SLE": "sledai2k_change", "SSC": "mrss_change", "IIM": "mmt8_change"}.get(indication, "")
        title = f"{study_id}: trial report"
        proto_rows = [("Study", study_id), ("Indication (from the data)", indication),
                      ("Arms", ", ".join(adam.adsl.filter(pl.col("SAFFL") == "Y")["ARMCD"].unique(maintain_order=True)
                                         .to_list())),
                      ("Primary efficacy", f"{endpoint} at day {efficacy_day}")]
        reported = ()
    primary = WATERFALL_PARAM.get(endpoint or "", ("SLEDAI2K", "SLEDAI-2K"))
    figs = figures(adam, indication, primary, efficacy_day)
    by_caption = dict(figs)

    def pick(*words: str) -> list[tuple[str, str]]:
        return [(c, s) for c, s in figs if any(w in c for w in words)]

    eff_days = efficacy_days(efficacy_day, reported) if replicate_stats is not None else [efficacy_day]
    eff_tables = []
    for d in eff_days:
        t = efficacy_table(adam, d)
        eff_tables.append(SummaryTable(f"efficacy@{d}", t.title, t.columns, t.rows, t.footnotes, t.data))
    sections = [
        _Section("disposition", "Disposition", [disposition_table(adam)], pick("Swimmer")),
        _Section("safety", "Safety by dose level", [safety_table(adam)], pick("CRS and ICANS")),
        _Section("efficacy", "Efficacy", eff_tables, pick("SLEDAI-2K over", "Waterfall", "SSc:", "IIM:")),
        _Section("kinetics", "Cellular kinetics and B-cell pharmacodynamics", [kinetics_table(adam), bcell_table(adam)],
                 pick("kinetics")),
    ]
    if replicate_stats is not None and replicate_stats.height:
        for sec in sections[1:]:
            sec.tables = [with_replicates(t, replicate_stats, reported) for t in sec.tables]
    assert all(c in by_caption for s in sections for c, _ in s.figures)
    dev_table = deviation_table(deviations, adam)
    dev_text = "No protocol deviations recorded." if dev_table is None else f"{deviations.height} deviation record(s)."
    sections.append(_Section("deviations", "Protocol deviations", [dev_table] if dev_table else [], [], [dev_text]))
    if sim_summary is not None and "replicate" in sim_summary.columns and sim_summary["replicate"].n_unique() > 1:
        sections.insert(1, _Section("replicates", "Replicated virtual trials",
                                    [replicate_table(sim_summary, endpoint or "", reported)], [],
                                    ["The tables below describe replicate 0, the trial stored in the SDTM tables."]))
    if validation is not None and validation.height:
        from ._validation import validation_figures, validation_table

        sections.append(_Section("validation", "Model validation", [validation_table(validation, validation_replicates)],
                                 validation_figures(validation, validation_trajectories)))
    if adam.findings.height:
        sections.append(_Section("findings", "Assessments that could not be scored", [], [],
                                 [f"{adam.findings.height} finding(s); first: " + "; ".join(
                                     f"{r['DATASET']} {r['USUBJID']} day {r['DY']} {r['TESTCD']}: {r['REASON']}"
                                     for r in adam.findings.head(10).iter_rows(named=True))]))
    prov = [(k, str(v)) for k, v in provenance.items()]
    prov += [("report: cartlab version", __version__),
             ("report: created (UTC)", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")), ("report: store", source)]
    env = jinja2.Environment(loader=jinja2.DictLoader(
        {"report": files("cartlab.report").joinpath("templates/report.html.j2").read_text(encoding="utf-8")}),
        autoescape=True, undefined=jinja2.StrictUndefined)
    n_treated = adam.adsl.filter(pl.col("SAFFL") == "Y").height
    subtitle = (f"{n_treated} treated subjects; tables by dose level; days from infusion (day 0). "
                f"Generated by cartlab {__version__}.")
    return env.get_template("report").render(title=title, subtitle=subtitle, protocol=proto_rows, sections=sections,
                                             methods=METHODS, provenance=prov)
