"""Calibration targets: every reported outcome of the seed trials, as versioned data.

The targets live in ``cartlab/calibrate/targets/seed-targets-v<N>.toml`` (shipped with the
package). Each entry names the shipped protocol whose virtual trial is compared with it, the arm,
the metric (:data:`METRICS`), the day, the reported value (or a range) and the number of patients
it is based on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from .._core.errors import SpecError
from .._core.toml import read_toml
from ..protocol import reported_fraction

#: metric -> (kind, description). ``rate``: fraction of the patients in [0, 1]; ``median``: a median
#: across patients (relative changes as fractions); ``days``: a Kaplan–Meier median time.
METRICS: dict[str, tuple[str, str]] = {
    "crs_any": ("rate", "CRS of any grade (ASTCT 2019), fraction of treated"),
    "crs_grade1to2": ("rate", "CRS with maximum grade 1 or 2, fraction of treated"),
    "crs_grade3plus": ("rate", "CRS grade >= 3, fraction of treated"),
    "icans_any": ("rate", "ICANS of any grade (ASTCT 2019), fraction of treated"),
    "icans_grade3plus": ("rate", "ICANS grade >= 3, fraction of treated"),
    "neutropenia_grade3plus": ("rate", "grade 3/4 neutrophil count decreased (CTCAE v5.0), fraction of treated"),
    "thrombocytopenia_grade3plus": ("rate", "grade 3/4 platelet count decreased (CTCAE v5.0), fraction of treated"),
    "bcell_depleted": ("rate", "a post-infusion CD19 B-cell count below the LLOQ, fraction of treated"),
    "bcell_detectable": ("rate", "CD19 B cells at or above the LLOQ at the visit, fraction of those measured "
                                 "(trajectories only)"),
    "bcell_return_median_days": ("days", "time to B-cell reconstitution, Kaplan–Meier median (ADTTE BCREC)"),
    "sledai2k_change_median": ("median", "SLEDAI-2K change from baseline, median of efficacy-evaluable"),
    "fvc_pct_pred_relative_change_median": ("median", "FVC % predicted relative change (fraction), median"),
    "mmt8_relative_change_median": ("median", "MMT-8 relative change (fraction), median"),
    "tis_moderate_or_major": ("rate", "TIS >= 40 (moderate or major improvement), fraction of evaluable"),
    "tis_major": ("rate", "TIS >= 60 (major improvement), fraction of evaluable"),
    "tis_moderate": ("rate", "TIS 40-59 (moderate improvement), fraction of evaluable"),
    "doris_remission": ("rate", "DORIS 2021 remission, fraction of evaluable"),
    "complete_renal_response": ("rate", "complete renal response (UPCR < 0.5 g/g), fraction of evaluable"),
    "off_immunosuppression": ("rate", "off immunosuppression on the day (CM: withdrawn and not restarted), "
                                      "fraction of treated"),
    # reported, not computed by the virtual trial (targets using them must say simulated = false)
    "pga_improvement": ("rate", "PGA improvement (definition not stated)"),
    "clinical_improvement": ("rate", "clinical improvement (definition not stated)"),
}
#: metrics the virtual trial computes (:func:`cartlab.calibrate.trial_metrics`)
COMPUTED = frozenset(set(METRICS) - {"pga_improvement", "clinical_improvement"})

_KEYS = {"id", "protocol", "cohort", "arm", "metric", "day", "value", "lower", "upper", "n", "source",
         "simulated", "reason"}


@dataclass(frozen=True, slots=True)
class Target:
    """One reported outcome to reproduce.

    Attributes
    ----------
    id : str
        Stable name, e.g. ``"bf1-sle-dl1-crs-any"``.
    protocol : str
        Shipped protocol name (``cartlab protocols``).
    cohort : str
        Reported cohort and data cut.
    arm : str or None
        Arm code; ``None`` pools every treated patient.
    metric : str
        A key of :data:`METRICS`.
    day : int or None
        Days from infusion, for time-specific outcomes.
    value : float or None
        Reported value (rates as fractions); ``None`` for a range target.
    lower, upper : float or None
        Range target: the simulated median must lie in ``[lower, upper]``.
    n : int or None
        Patients the value is based on; the simulated arm has this size (protocol's when ``None``).
    source : str
        Publication and table.
    simulated : bool
        False for reported outcomes the virtual trial does not compute; ``reason`` says why.
    reason : str
    """

    id: str
    protocol: str
    cohort: str
    arm: str | None
    metric: str
    day: int | None
    value: float | None
    lower: float | None
    upper: float | None
    n: int | None
    source: str
    simulated: bool = True
    reason: str = ""

    @property
    def kind(self) -> str:
        """``"rate"``, ``"median"`` or ``"days"`` (:data:`METRICS`)."""
        return METRICS[self.metric][0]

    def inside(self, lo: float, hi: float, median: float) -> bool:
        """Whether the target is reproduced: the value within ``[lo, hi]`` (the simulated 90 %
        prediction interval), or for a range target the simulated median within the range.

        A rate with ``n`` that is a rounded k/n (within half a unit of its third decimal) is compared
        as k/n: 1/26 is written 0.0385, and a simulated interval ending at exactly 1/26 contains it.

        Examples
        --------
        >>> t = Target("x", "p", "c", "DL1", "crs_grade3plus", None, 0.0385, None, None, 26, "s")
        >>> t.inside(0.0, 1 / 26, 0.0), t.inside(0.0, 0.0, 0.0)
        (True, False)
        """
        if self.value is None:
            return bool(self.lower <= median <= self.upper)
        value = reported_fraction(self.value, self.n) if self.kind == "rate" else self.value
        return bool(lo - 1e-9 <= value <= hi + 1e-9)


@dataclass(frozen=True, slots=True)
class TargetSet:
    """A versioned list of targets read from one file."""

    version: str
    path: str
    targets: tuple[Target, ...]

    def for_protocol(self, name: str) -> tuple[Target, ...]:
        """The targets of one shipped protocol (by its name, e.g. ``"breakfree1-sle"``)."""
        return tuple(t for t in self.targets if t.protocol == name)

    @property
    def protocols(self) -> tuple[str, ...]:
        """Protocol names, in order of first appearance."""
        return tuple(dict.fromkeys(t.protocol for t in self.targets))


def default_targets_path() -> Path:
    """The shipped targets file of the current version."""
    return Path(str(files("cartlab.calibrate") / "targets" / "seed-targets-v2.toml"))


def load_targets(path: str | Path | None = None) -> TargetSet:
    """Read and check a targets file (the shipped one by default).

    Raises
    ------
    SpecError
        Naming the file, the ``[[target]]`` index and id, the key, the value and what was expected.

    Examples
    --------
    >>> ts = load_targets()
    >>> ts.version, ts.targets[0].id, ts.targets[0].value
    ('2', 'bf1-sle-dl1-crs-any', 0.615)
    """
    p = Path(path) if path is not None else default_targets_path()
    doc = read_toml(p, "the targets file (a .toml file)")
    version = doc.get("version")
    if not isinstance(version, str) or not version:
        raise SpecError(f"{p}: key 'version' must be a non-empty string; got {version!r}")
    raw = doc.get("target")
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"{p}: expected one or more [[target]] tables; got {type(raw).__name__}")
    out: list[Target] = []
    seen: set[str] = set()
    for i, t in enumerate(raw, start=1):
        where = f"{p} [[target]] {i} ({t.get('id', '?')})"

        def bad(key: str, expected: str, where: str = where, t: dict = t) -> SpecError:
            return SpecError(f"{where}: {key} must be {expected}; got {t.get(key)!r}")

        unknown = set(t) - _KEYS
        if unknown:
            raise SpecError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; expected some of "
                            f"{', '.join(sorted(_KEYS))}")
        for key in ("id", "protocol", "cohort", "metric", "source"):
            if not isinstance(t.get(key), str) or not t[key]:
                raise bad(key, "a non-empty string")
        if t["id"] in seen:
            raise bad("id", "unique in the file (duplicate)")
        seen.add(t["id"])
        if t["metric"] not in METRICS:
            raise bad("metric", f"one of {', '.join(METRICS)}")
        simulated = t.get("simulated", True)
        if not isinstance(simulated, bool):
            raise bad("simulated", "true or false")
        if simulated and t["metric"] not in COMPUTED:
            raise bad("simulated", f"false for metric {t['metric']!r}, which the virtual trial does not compute")
        if not simulated and not t.get("reason"):
            raise bad("reason", "a string saying why the target is not simulated")
        value, lower, upper = t.get("value"), t.get("lower"), t.get("upper")
        num = (int, float)
        if value is None:
            if not (isinstance(lower, num) and isinstance(upper, num) and lower <= upper):
                raise bad("value", "a number, or lower <= upper given for a range target")
        elif not isinstance(value, num) or isinstance(value, bool) or not math.isfinite(value):
            raise bad("value", "a finite number")
        elif lower is not None or upper is not None:
            raise bad("lower", "absent when value is given")
        if METRICS[t["metric"]][0] == "rate" and value is not None and not 0.0 <= value <= 1.0:
            raise bad("value", "a fraction in [0, 1] for a rate metric")
        n = t.get("n")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise bad("n", "an integer >= 1")
        day = t.get("day")
        if day is not None and (not isinstance(day, int) or isinstance(day, bool)):
            raise bad("day", "an integer (days from infusion)")
        if METRICS[t["metric"]][0] == "median" and METRICS[t["metric"]][1] and day is None:
            raise bad("day", "given for a time-specific metric")
        arm = t.get("arm")
        if arm is not None and not isinstance(arm, str):
            raise bad("arm", "an arm code string")
        out.append(Target(t["id"], t["protocol"], t["cohort"], arm, t["metric"], day,
                          None if value is None else float(value), None if lower is None else float(lower),
                          None if upper is None else float(upper), n, t["source"], simulated, t.get("reason", "")))
    return TargetSet(version, str(p), tuple(out))
