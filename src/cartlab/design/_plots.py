"""Operating-characteristics figure (SVG) of a simulated dose-finding design.

matplotlib is imported inside the function, so importing :mod:`cartlab.design` stays light.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._core.errors import SpecError
from ._oc import OperatingCharacteristics


def plot_oc(oc: OperatingCharacteristics, path: str | Path) -> Path:
    """Write the operating characteristics of ``oc`` as an SVG figure and return its path.

    Left panel: probability of selecting each dose level (bars) with the true DLT probability (and,
    for BOIN12, the true response probability) per dose level (lines). Right panel: mean patients
    treated per dose level, with mean DLTs (and responses). The title states the design, the number
    of simulated trials and the seed; the caption P(no selection), P(early stop) and the mean trial
    duration under the stated timing assumption. The SVG is byte-identical for identical inputs
    (no date, fixed element ids).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from cartlab.design import simulate_oc
    >>> oc = simulate_oc([0.05, 0.3, 0.6], target=0.3, ntrials=100, seed=7)
    >>> p = plot_oc(oc, pathlib.Path(tempfile.mkdtemp()) / "oc.svg")
    >>> p.read_text().lstrip().startswith("<?xml")
    True
    """
    if not isinstance(oc, OperatingCharacteristics):
        raise SpecError(f"plot_oc needs an OperatingCharacteristics (simulate_oc's result); got {type(oc).__name__}")
    import matplotlib
    from matplotlib.figure import Figure

    out = Path(path)
    dose = np.arange(1, len(oc.truth) + 1)
    with matplotlib.rc_context({"svg.hashsalt": "cartlab-oc", "svg.fonttype": "none", "font.size": 9}):
        fig = Figure(figsize=(9.0, 4.0), layout="constrained")
        left, right = fig.subplots(1, 2)
        left.bar(dose, oc.p_select, color="#4C72B0", label="P(select)")
        left.plot(dose, oc.truth, "o-", color="#C44E52", label="true P(DLT)")
        if oc.truth_eff is not None:
            left.plot(dose, oc.truth_eff, "s--", color="#55A868", label="true P(response)")
        if oc.target is not None:
            word = "DLT limit" if oc.design == "BOIN12" else "target"
            left.axhline(oc.target, color="#C44E52", lw=0.8, ls=":", label=f"{word} {oc.target:g}")
        left.set_ylim(0, 1)
        left.set_xlabel("dose level")
        left.set_ylabel("probability")
        left.set_xticks(dose)
        left.set_title("selection" + (" (OBD)" if oc.design == "BOIN12" else " (MTD)"))
        left.legend(loc="upper left", frameon=False)
        w = 0.38 if oc.mean_responses is None else 0.27
        right.bar(dose - w / 2 if oc.mean_responses is None else dose - w, oc.mean_patients, width=w,
                  color="#4C72B0", label="patients")
        right.bar(dose + w / 2 if oc.mean_responses is None else dose, oc.mean_dlts, width=w, color="#C44E52",
                  label="DLTs")
        if oc.mean_responses is not None:
            right.bar(dose + w, oc.mean_responses, width=w, color="#55A868", label="responses")
        right.set_xlabel("dose level")
        right.set_ylabel("mean per trial")
        right.set_xticks(dose)
        right.set_title("allocation")
        right.legend(loc="upper right", frameon=False)
        cap = (f"P(no selection) {oc.p_no_selection:.3f}; P(early stop) {oc.p_early_stop:.3f}; "
               f"mean patients {oc.mean_patients.sum():.1f}")
        if oc.cohorts is not None and oc.cohort_days is not None:
            cap += (f"\nmean duration {oc.duration_days.mean():.0f} days (one patient every {oc.accrual_days:g} days, "
                    f"{oc.window_days:g}-day assessment per cohort)")
        fig.suptitle(f"{oc.design} operating characteristics: {oc.ntrials} trials, seed {oc.seed}\n{cap}",
                     fontsize=9)
        fig.savefig(out, format="svg", metadata={"Date": None})
    return out


__all__ = ["plot_oc"]
