"""``cartlab pk fit`` (population cellular-kinetic model) and ``cartlab pk adam`` (ADPPK and ADPP into
the store). Registered on the ``pk`` sub-app of :mod:`._app`."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from .. import __version__
from .._core.errors import CartlabError
from ._app import _PK_ANALYTES, _fail, _pk_profiles, _user_errors, err, out, pk_app

_ANALYTE_HELP = "TRANSGENE (PC, copies/ug gDNA) or CARCELLS (CP, CAR+ cells/uL)"


def _analyte_key(analyte: str) -> str:
    key = analyte.upper()
    if key not in _PK_ANALYTES:
        _fail(f"--analyte must be one of {', '.join(_PK_ANALYTES)}; got {analyte!r}")
    return key


def _kinetic_sdtm(store: Path, key: str) -> tuple[dict[str, pl.DataFrame | None], str, str]:
    """DM, EX, VS and the analyte's findings in PC form (CP columns renamed), its test code and unit."""
    from ..io import open_trial

    domain, testcd, unit = _PK_ANALYTES[key]
    with open_trial(store) as st:
        have = st.tables()
        missing = [d for d in ("dm", "ex", domain) if d not in have]
        if missing:
            raise CartlabError(f"{store}: the store has no {', '.join(m.upper() for m in missing)} domain "
                               f"(it holds: {', '.join(have)}); --analyte {key} needs DM, EX and {domain.upper()}")
        tables = {"dm": st.read("dm"), "ex": st.read("ex"), "vs": st.read("vs") if "vs" in have else None}
        raw = st.read(domain)
    if domain != "pc":
        raw = raw.rename({c: "PC" + c[2:] for c in raw.columns if c.startswith(domain.upper())})
    need = ["USUBJID", "PCTESTCD", "PCSTRESN", "PCLLOQ", "PCDY"]
    absent = [c for c in need if c not in raw.columns]
    if absent:
        raise CartlabError(f"{store}: {domain.upper()} lacks column(s) "
                           f"{', '.join(domain.upper() + c[2:] if c.startswith('PC') else c for c in absent)}")
    tables["pc"] = raw
    return tables, testcd, unit


@pk_app.command("fit")
def pk_fit_cmd(
    store: Annotated[Path, typer.Argument(help="trial directory (or its trial.duckdb)")],
    out_dir: Annotated[Path, typer.Option("--out", help="directory for estimates, EBEs, predictions, VPC and SVGs")],
    analyte: Annotated[str, typer.Option(help=_ANALYTE_HELP)] = "TRANSGENE",
    iiv: Annotated[str, typer.Option(help="parameters with IIV, comma-separated (C0 RHO TMAX ALPHA BETA FB)")]
    = "C0,RHO,ALPHA,BETA",
    vpc_replicates: Annotated[int, typer.Option(min=20, help="simulated replicates for the VPC")] = 200,
    seed: Annotated[int, typer.Option(min=0, help="seed of the VPC simulations")] = 1,
) -> None:
    """Fit the population cellular-kinetic model (Stein 2019 form; Laplace/FOCE-I, M3 for BLQ; dose and
    weight as covariates of the start level C0) and write estimates, EBEs, diagnostics and a VPC."""
    from ..pk import Covariate, diagnostic_figures, fit_population, nonmem_dataset, pop_data, vpc

    key = _analyte_key(analyte)
    names = tuple(p.strip().upper() for p in iiv.split(",") if p.strip())
    with _user_errors(out_dir):
        t, testcd, unit = _kinetic_sdtm(store, key)
        data, findings = nonmem_dataset(t["dm"], t["ex"], t["pc"], t["vs"], analyte=testcd)
        obs = data.filter(pl.col("EVID") == 0)
        if obs.height == 0:
            raise CartlabError(f"{store}: no {testcd} samples after a CAR-T infusion to fit")
        covs = []
        if obs["DOSE"].n_unique() > 1:
            covs.append(Covariate("C0", "DOSE"))
        if obs["WT"].null_count() == 0 and obs["WT"].n_unique() > 1:
            covs.append(Covariate("C0", "WT", ref=70.0))
        elif obs["WT"].null_count():
            err.print("[yellow]note:[/] weight missing for some subjects; no weight covariate", highlight=False)
        d = pop_data(data, covs, where=f"{store} ({testcd})")
        fit = fit_population(d, iiv=names)
        vtab = vpc(fit, d, n_replicates=vpc_replicates, seed=seed)
        figs = diagnostic_figures(fit, vtab, unit)
        out_dir.mkdir(parents=True, exist_ok=True)
        fit.table.write_csv(out_dir / "estimates.csv")
        fit.individual.write_csv(out_dir / "individual.csv")
        fit.predictions.write_csv(out_dir / "predictions.csv")
        vtab.write_csv(out_dir / "vpc.csv")
        for name, svg in figs.items():
            (out_dir / f"{name}.svg").write_text(svg)
    tab = Table(title=f"Population CK model of {key} ({unit}): {fit.n_subjects} subjects, {fit.n_obs} samples "
                      f"({fit.n_blq} BLQ, M3)",
                caption=f"Laplace/FOCE-I; OFV {fit.ofv:.2f}; {'converged' if fit.converged else 'NOT CONVERGED'}; "
                        f"{fit.seconds:.1f} s; epsilon shrinkage {fit.epsilon_shrinkage_pct:.1f} %")
    for col in ("parameter", "estimate", "RSE %", "shrinkage %", "unit"):
        tab.add_column(col, justify="left" if col in ("parameter", "unit") else "right")
    for r in fit.table.iter_rows(named=True):
        tab.add_row(r["PARAMETER"], f"{r['ESTIMATE']:.4g}", "NE" if r["RSE_PCT"] is None else f"{r['RSE_PCT']:.1f}",
                    "" if r["SHRINKAGE_PCT"] is None else f"{r['SHRINKAGE_PCT']:.1f}",
                    unit if r["PARAMETER"] == "C0" else r["UNIT"])
    out.print(tab)
    if fit.covariance is None:
        err.print("[yellow]warning:[/] covariance step failed (Hessian not positive definite): no standard errors",
                  highlight=False)
    if not fit.converged:
        err.print(f"[yellow]warning:[/] the estimation did not converge ({fit.message})", highlight=False)
    if fit.n_inner_failed:
        err.print(f"[yellow]warning:[/] {fit.n_inner_failed} subject(s)' individual estimates did not converge "
                  "(INNER_OK false in individual.csv)", highlight=False)
    for u, dy, code, reason in findings.iter_rows():
        err.print(f"[yellow]left out:[/] {u} {code}{'' if dy is None else f' day {dy}'}: {reason}", highlight=False)
    out.print(f"estimates.csv individual.csv predictions.csv vpc.csv {' '.join(f'{n}.svg' for n in figs)}: {out_dir}",
              highlight=False)


@pk_app.command("adam")
def pk_adam_cmd(
    store: Annotated[Path, typer.Argument(help="trial directory (or its trial.duckdb)")],
    analyte: Annotated[str, typer.Option(help=_ANALYTE_HELP)] = "TRANSGENE",
    overwrite: Annotated[bool, typer.Option(help="replace ADPPK/ADPP tables already in the store")] = False,
) -> None:
    """Write CDISC ADPPK (population PK analysis data) and ADPP (NCA parameters) into the store, atomically."""
    from ..io import update_trial
    from ..pk import adpp_dataset, adppk_dataset, nca_table

    key = _analyte_key(analyte)
    with _user_errors():
        t, testcd, unit = _kinetic_sdtm(store, key)
        adppk, findings = adppk_dataset(t["dm"], t["ex"], t["pc"], t["vs"], analyte=testcd)
        if adppk.height == 0:
            raise CartlabError(f"{store}: no {testcd} samples after a CAR-T infusion")
        rec, _ = _pk_profiles(store, key)
        pp = nca_table(rec, subject_col="USUBJID", time_col="NFRLT", conc_col="CONC", lloq_col="LLOQ",
                       by=["ARMCD"], auc_end=28.0, time_unit="day", conc_unit=unit)
        name = t["pc"].filter(pl.col("PCTESTCD") == testcd)["PCTEST"][0] if "PCTEST" in t["pc"].columns else testcd
        adpp = adpp_dataset(pp, t["dm"], parcat1=str(name))
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        how = f"cartlab {__version__} pk adam --analyte {key} at {stamp}"
        written = update_trial(store, {"adppk": adppk, "adpp": adpp},
                               provenance={"table.adppk": how, "table.adpp": how}, replace=overwrite)
    out.print(f"adppk: {adppk.height} records of {adppk['USUBJID'].n_unique()} subjects "
              f"({int((adppk['BLQFN'] == 1).sum())} BLQ); adpp: {adpp.height} NCA parameter rows: {written}",
              highlight=False)
    for u, dy, code, reason in findings.iter_rows():
        err.print(f"[yellow]left out:[/] {u} {code}{'' if dy is None else f' day {dy}'}: {reason}", highlight=False)
