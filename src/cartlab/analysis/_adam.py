"""All ADaM datasets of a trial in one call."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .._core.errors import DataValidationError
from ._adae import ADAE_LABELS, derive_adae
from ._adeff import ADEFF_LABELS, derive_adeff
from ._adlb import ADLB_LABELS, derive_adlb
from ._adpc import ADPC_LABELS, derive_adpc
from ._adsl import ADSL_LABELS, derive_adsl
from ._adtte import ADTTE_LABELS, derive_adtte

#: variable labels of every dataset (names <= 8 characters, labels <= 40: XPT v5 limits)
LABELS: dict[str, dict[str, str]] = {"adsl": ADSL_LABELS, "adae": ADAE_LABELS, "adlb": ADLB_LABELS,
                                     "adeff": ADEFF_LABELS, "adpc": ADPC_LABELS, "adtte": ADTTE_LABELS}


@dataclass(frozen=True, slots=True)
class AdamDatasets:
    """The ADaM datasets of one trial and the instrument findings met while deriving them.

    Attributes
    ----------
    adsl, adae, adlb, adeff, adpc, adtte : polars.DataFrame
        Datasets as documented by their ``derive_*`` function.
    findings : polars.DataFrame
        ``DATASET, USUBJID, DY, TESTCD, REASON``: records that could not be scored (the value is
        null in the dataset, never guessed).
    """

    adsl: pl.DataFrame
    adae: pl.DataFrame
    adlb: pl.DataFrame
    adeff: pl.DataFrame
    adpc: pl.DataFrame
    adtte: pl.DataFrame
    findings: pl.DataFrame

    def tables(self) -> dict[str, pl.DataFrame]:
        """The six datasets by lower-case name (``adsl`` …), as the trial store holds them."""
        return {"adsl": self.adsl, "adae": self.adae, "adlb": self.adlb, "adeff": self.adeff,
                "adpc": self.adpc, "adtte": self.adtte}


def derive_adam(tables: dict[str, pl.DataFrame], *, efficacy_day: int) -> AdamDatasets:
    """Derive ADSL, ADAE, ADLB, ADEFF, ADPC and ADTTE from the SDTM domains of a trial store.

    Parameters
    ----------
    tables : dict of str -> polars.DataFrame
        SDTM domains by lower-case code (``dm`` required; ``ae``, ``lb``, ``cp``, ``pc``, ``qs``,
        ``fa``, ``re``, ``cm``, ``ex``, ``vs``, ``ds``, ``dv`` used when present). Nothing assumes
        the data were simulated.
    efficacy_day : int
        Days from infusion of the primary efficacy assessment (efficacy-evaluable population).

    Raises
    ------
    DataValidationError
        If ``dm`` is missing, or a domain lacks a variable a derivation needs (named in the message).
    """
    if "dm" not in tables:
        raise DataValidationError(f"the trial has no DM domain (it holds: {', '.join(sorted(tables)) or 'nothing'}); "
                                  "ADaM derivations start from DM")
    adsl = derive_adsl(tables, efficacy_day=efficacy_day)
    empty_ae = pl.DataFrame(schema={"USUBJID": pl.String, "AEDECOD": pl.String, "AESTDY": pl.Int64})
    adae = derive_adae(tables.get("ae", empty_ae), adsl, tables.get("cm"))
    empty_lb = pl.DataFrame(schema={"USUBJID": pl.String, "LBTESTCD": pl.String, "LBSTRESN": pl.Float64,
                                    "LBSTRESU": pl.String, "LBDY": pl.Int64})
    adlb, f_lb = derive_adlb(tables.get("lb", empty_lb), adsl, tables.get("cp"))
    adeff, f_eff = derive_adeff(tables, adsl)
    adpc = derive_adpc(tables.get("pc"), tables.get("cp"), adsl)
    adtte = derive_adtte(adsl, adae, adlb)
    return AdamDatasets(adsl, adae, adlb, adeff, adpc, adtte, pl.concat([f_lb, f_eff]))
