"""Non-compartmental analysis (NCA) of one concentration-time profile, following PKNCA's conventions.

The rules are those of PKNCA (Denney, Duvvuri and Buckeridge, *Simple, automatic noncompartmental
analysis: the PKNCA R package*, J Pharmacokinet Pharmacodyn 2015;42:S65), re-implemented here:

* **AUC**: ``"lin-up/log-down"`` (default; PKNCA ``auc.method = "lin up/log down"``) uses the
  logarithmic trapezoid on an interval where the concentration falls and both ends are > 0, and the
  linear trapezoid otherwise; ``"linear"`` always uses the linear trapezoid. A partial AUC over
  ``[0, auc_end]`` interpolates the concentration at ``auc_end`` the same way (log between falling
  positive points, else linear) and counts nothing after Tlast (PKNCA ``aucint.last``).
* **Tmax** is the first time the maximum is reached (PKNCA ``first.tmax = TRUE``).
* **lambda_z**: candidate sets are the last *n* >= 3 positive points strictly after Tmax and up to
  Tlast (PKNCA ``min.hl.points = 3``, ``allow.tmax.in.half.life = FALSE``); log(conc) is fitted on
  time by least squares; among fits with lambda_z > 0 and adjusted R² > (best adjusted R² - 1e-4)
  (PKNCA ``adj.r.squared.factor``), the one with the most points is chosen.
* **BLQ**: a concentration equal to 0 or below ``lloq`` is BLQ. :class:`BLQRule` says what to do with
  BLQ values before the first measurable one, between measurable ones and after the last one:
  ``"zero"`` (keep as 0), ``"drop"`` (remove the sample) or ``"half_lloq"`` (set to LLOQ/2; needs
  ``lloq``). The default ``BLQRule(first="zero", middle="drop", last="drop")`` is PKNCA's
  ``conc.blq = list(first = "keep", middle = "drop", last = "drop")``. ``NaN`` concentrations are
  missing and dropped (PKNCA ``conc.na = "drop"``).

A parameter that cannot be computed is ``NaN`` and ``reasons`` says why; nothing raises for
such profiles. Inputs that are wrong (unsorted or duplicate times, negative concentrations) raise
:class:`~cartlab._core.errors.DataValidationError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np

from .._core.errors import DataValidationError

AUCMethod = Literal["lin-up/log-down", "linear"]
BLQAction = Literal["zero", "drop", "half_lloq"]
AUC_METHODS: tuple[str, ...] = ("lin-up/log-down", "linear")
BLQ_ACTIONS: tuple[str, ...] = ("zero", "drop", "half_lloq")

#: PKNCA defaults, repeated here so they are visible and testable
ADJ_R2_FACTOR = 1e-4
MIN_HL_POINTS = 3

NAN = float("nan")


@dataclass(frozen=True, slots=True)
class BLQRule:
    """What to do with below-LLOQ concentrations, by position in the profile.

    ``first``: BLQ before the first measurable concentration; ``middle``: between the first and last
    measurable; ``last``: after the last measurable. Each is ``"zero"``, ``"drop"`` or ``"half_lloq"``.
    The default is PKNCA's (first kept as 0, middle and last dropped).

    >>> BLQRule()
    BLQRule(first='zero', middle='drop', last='drop')
    """

    first: BLQAction = "zero"
    middle: BLQAction = "drop"
    last: BLQAction = "drop"

    def __post_init__(self) -> None:
        for name in ("first", "middle", "last"):
            v = getattr(self, name)
            if v not in BLQ_ACTIONS:
                raise ValueError(f"BLQRule.{name} must be one of {', '.join(BLQ_ACTIONS)}; got {v!r}")


@dataclass(frozen=True, slots=True)
class NCAResult:
    """NCA parameters of one profile (time and concentration in the units of the input).

    ``auc_int`` is the AUC over ``[0, auc_end]`` (``NaN`` when ``auc_end`` is None); ``reasons`` maps
    the name of every ``NaN`` parameter to why it was not computed.
    """

    cmax: float
    tmax: float
    clast: float
    tlast: float
    auclast: float
    auc_end: float | None
    auc_int: float
    lambda_z: float
    half_life: float
    r2adj: float
    lambda_z_n: int
    lambda_z_start: float
    lambda_z_end: float
    aucinf_obs: float
    aucpe_obs: float
    dose: float | None = None
    cl_obs: float = NAN
    auc_method: str = "lin-up/log-down"
    reasons: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class PPParameter:
    """One NCA parameter: result attribute, CDISC PPTESTCD/PPTEST and unit kind."""

    attr: str
    testcd: str
    test: str
    unit: Literal["conc", "time", "auc", "1/time", "%", "", "dose/auc"]


#: CDISC SDTM PP test codes (CDISC CT codelist C85493/C85839) of the parameters :func:`nca` reports
PARAMETERS: tuple[PPParameter, ...] = (
    PPParameter("cmax", "CMAX", "Max Conc", "conc"),
    PPParameter("tmax", "TMAX", "Time of CMAX", "time"),
    PPParameter("clast", "CLST", "Last Nonzero Conc", "conc"),
    PPParameter("tlast", "TLST", "Time of Last Nonzero Conc", "time"),
    PPParameter("auclast", "AUCLST", "AUC to Last Nonzero Conc", "auc"),
    PPParameter("auc_int", "AUCINT", "AUC from T1 to T2", "auc"),
    PPParameter("lambda_z", "LAMZ", "Lambda z", "1/time"),
    PPParameter("half_life", "LAMZHL", "Half-Life Lambda z", "time"),
    PPParameter("r2adj", "R2ADJ", "R Squared Adjusted", ""),
    PPParameter("lambda_z_n", "LAMZNPT", "Number of Points for Lambda z", ""),
    PPParameter("lambda_z_start", "LAMZLL", "Lambda z Lower Limit", "time"),
    PPParameter("lambda_z_end", "LAMZUL", "Lambda z Upper Limit", "time"),
    PPParameter("aucinf_obs", "AUCIFO", "AUC Infinity Obs", "auc"),
    PPParameter("aucpe_obs", "AUCPEO", "AUC %Extrapolation Obs", "%"),
    PPParameter("cl_obs", "CLFO", "Total CL Obs by F", "dose/auc"),
)


def _where(subject: object) -> str:
    return f"subject {subject}: " if subject is not None else ""


def _check(time: np.ndarray, conc: np.ndarray, subject: object) -> None:
    w = _where(subject)
    if time.shape != conc.shape or time.ndim != 1:
        raise DataValidationError(f"{w}time and conc must be 1-D of equal length; got {time.shape} and {conc.shape}")
    if not np.all(np.isfinite(time)):
        i = int(np.flatnonzero(~np.isfinite(time))[0])
        raise DataValidationError(f"{w}time must be finite; got {time[i]} at position {i}")
    if time.size > 1:
        d = np.diff(time)
        if np.any(d <= 0):
            i = int(np.flatnonzero(d <= 0)[0])
            what = "duplicate" if d[i] == 0 else "unsorted"
            raise DataValidationError(
                f"{w}{what} time {time[i + 1]:g} after {time[i]:g} (position {i + 1}); "
                "times must be strictly increasing within a profile")
    bad = np.flatnonzero(conc < 0)
    if bad.size:
        i = int(bad[0])
        raise DataValidationError(f"{w}concentration must be >= 0; got {conc[i]:g} at time {time[i]:g}")


def _apply_blq(time: np.ndarray, conc: np.ndarray, blq: BLQRule, lloq: float | None,
               subject: object) -> tuple[np.ndarray, np.ndarray]:
    keep = ~np.isnan(conc)
    time, conc = time[keep], conc[keep]
    is_blq = (conc <= 0) if lloq is None else ((conc <= 0) | (conc < lloq))
    meas = np.flatnonzero(~is_blq)
    if meas.size == 0:
        pos = np.full(conc.shape, "first", dtype=object)
    else:
        pos = np.where(np.arange(conc.size) < meas[0], "first",
                       np.where(np.arange(conc.size) > meas[-1], "last", "middle"))
    out_t, out_c = [], []
    for t, c, b, p in zip(time, conc, is_blq, pos, strict=True):
        if not b:
            out_t.append(t)
            out_c.append(c)
            continue
        action = getattr(blq, p)
        if action == "drop":
            continue
        if action == "half_lloq":
            if lloq is None:
                raise DataValidationError(f"{_where(subject)}BLQRule.{p} = 'half_lloq' needs lloq; got lloq=None")
            out_c.append(lloq / 2.0)
        else:
            out_c.append(0.0)
        out_t.append(t)
    return np.asarray(out_t, dtype=float), np.asarray(out_c, dtype=float)


def _use_log(c1: float, c2: float, method: str) -> bool:
    return method == "lin-up/log-down" and c1 > c2 > 0


def _piece(t1: float, t2: float, c1: float, c2: float, method: str) -> float:
    if _use_log(c1, c2, method):
        return (c1 - c2) * (t2 - t1) / math.log(c1 / c2)
    return (c1 + c2) * (t2 - t1) / 2.0


def _interp(t1: float, t2: float, c1: float, c2: float, x: float, method: str) -> float:
    f = (x - t1) / (t2 - t1)
    if _use_log(c1, c2, method):
        return math.exp(math.log(c1) + f * (math.log(c2) - math.log(c1)))
    return c1 + f * (c2 - c1)


def _auc(t: np.ndarray, c: np.ndarray, end: float, method: str) -> float:
    total = 0.0
    for i in range(t.size - 1):
        t1, t2 = float(t[i]), float(t[i + 1])
        if t2 <= end:
            total += _piece(t1, t2, float(c[i]), float(c[i + 1]), method)
        elif t1 < end:
            ce = _interp(t1, t2, float(c[i]), float(c[i + 1]), end, method)
            total += _piece(t1, end, float(c[i]), ce, method)
    return total


def _lambda_z(t: np.ndarray, c: np.ndarray) -> tuple[float, float, int, float, float, str | None]:
    """Best-fit terminal slope over the last n >= 3 points (PKNCA selection); returns a reason on failure."""
    if t.size < MIN_HL_POINTS:
        return NAN, NAN, 0, NAN, NAN, (f"fewer than {MIN_HL_POINTS} positive concentrations after Tmax "
                                      f"(got {t.size})")
    fits = []
    logc = np.log(c)
    for n in range(MIN_HL_POINTS, t.size + 1):
        x, y = t[-n:], logc[-n:]
        xm, ym = x.mean(), y.mean()
        sxx = float(np.sum((x - xm) ** 2))
        slope = float(np.sum((x - xm) * (y - ym))) / sxx
        resid = y - (ym + slope * (x - xm))
        syy = float(np.sum((y - ym) ** 2))
        r2 = 1.0 if syy == 0 else 1.0 - float(np.sum(resid ** 2)) / syy
        adj = 1.0 - (1.0 - r2) * (n - 1) / (n - 2)
        fits.append((n, -slope, adj, float(x[0]), float(x[-1])))
    best = max(f[2] for f in fits)
    ok = [f for f in fits if f[1] > 0 and f[2] > best - ADJ_R2_FACTOR]
    if not ok:
        return NAN, NAN, 0, NAN, NAN, "no terminal-phase fit with lambda_z > 0"
    n, lz, adj, t0, t1 = max(ok, key=lambda f: f[0])
    return lz, adj, n, t0, t1, None


def nca(time: Sequence[float] | np.ndarray, conc: Sequence[float] | np.ndarray, *, dose: float | None = None,
        auc_method: AUCMethod = "lin-up/log-down", blq: BLQRule | None = None, lloq: float | None = None,
        auc_end: float | None = None, subject: object = None) -> NCAResult:
    """NCA of one profile: Cmax, Tmax, Clast, Tlast, AUClast, AUC(0-auc_end), lambda_z and AUCinf.

    Parameters
    ----------
    time, conc
        Sample times (strictly increasing; any unit, typically h or days from dose) and
        concentrations (>= 0; ``NaN`` = missing; 0 or < ``lloq`` = BLQ).
    dose
        Dose, for CL/F = dose / AUCinf,obs (``cl_obs``); ``None`` leaves ``cl_obs`` NaN.
    auc_method
        ``"lin-up/log-down"`` (default) or ``"linear"``.
    blq
        :class:`BLQRule`; default ``BLQRule()`` (PKNCA: first 0, middle and last dropped).
    lloq
        Lower limit of quantification; ``None`` means only 0 is BLQ.
    auc_end
        End of the partial AUC over ``[0, auc_end]``; needs a sample at time <= 0 and one at or after
        ``auc_end`` (before BLQ handling), otherwise ``auc_int`` is NaN with a reason.
    subject
        Named in error messages.

    Examples
    --------
    Exact exponential decay C = 8 exp(-0.2 t) after an absorption point:

    >>> t = [0.0, 1.0, 2.0, 4.0, 8.0]
    >>> c = [0.0, 8 * math.exp(-0.2), 8 * math.exp(-0.4), 8 * math.exp(-0.8), 8 * math.exp(-1.6)]
    >>> r = nca(t, c, auc_end=3.0)
    >>> round(r.lambda_z, 12), r.lambda_z_n, r.tmax
    (0.2, 3, 1.0)
    """
    if auc_method not in AUC_METHODS:
        raise ValueError(f"auc_method must be one of {', '.join(AUC_METHODS)}; got {auc_method!r}")
    if lloq is not None and not (lloq > 0):
        raise ValueError(f"lloq must be > 0 or None; got {lloq!r}")
    blq = BLQRule() if blq is None else blq
    t_all = np.asarray(time, dtype=float)
    c_all = np.asarray(conc, dtype=float)
    _check(t_all, c_all, subject)
    t, c = _apply_blq(t_all, c_all, blq, lloq, subject)
    reasons: dict[str, str] = {}

    def nan_all(why: str) -> NCAResult:
        names = [p.attr for p in PARAMETERS if p.attr != "lambda_z_n"]
        return NCAResult(NAN, NAN, NAN, NAN, NAN, auc_end, NAN, NAN, NAN, NAN, 0, NAN, NAN, NAN, NAN, dose, NAN,
                         auc_method, MappingProxyType({k: why for k in names}))

    pos = np.flatnonzero(c > 0)
    if t.size == 0:
        return nan_all("no concentrations")
    if pos.size == 0:
        return nan_all("all concentrations BLQ or zero")
    imax = int(np.argmax(c))  # first occurrence of the maximum (PKNCA first.tmax)
    cmax, tmax = float(c[imax]), float(t[imax])
    ilast = int(pos[-1])
    clast, tlast = float(c[ilast]), float(t[ilast])
    t_to_last, c_to_last = t[: ilast + 1], c[: ilast + 1]
    if t_to_last.size < 2:
        auclast = NAN
        reasons["auclast"] = "fewer than 2 concentrations up to Tlast"
    else:
        auclast = _auc(t_to_last, c_to_last, tlast, auc_method)

    auc_int = NAN
    if auc_end is not None:
        if t.size == 0 or t[0] > 0:
            reasons["auc_int"] = f"no sample at time 0 (first at {t[0]:g})"
        elif t_all[-1] < auc_end:
            reasons["auc_int"] = f"no sample at or after {auc_end:g} (last at {t_all[-1]:g})"
        else:
            # integrate up to min(auc_end, Tlast); after Tlast the concentration counts as 0 (PKNCA aucint.last)
            auc_int = _auc(t_to_last, c_to_last, min(auc_end, tlast), auc_method) if tlast > 0 else 0.0

    sel = np.arange(imax + 1, ilast + 1)
    sel = sel[c[sel] > 0]
    lz, adj, n, lz0, lz1, why = _lambda_z(t[sel], c[sel])
    if why:
        for k in ("lambda_z", "half_life", "r2adj", "lambda_z_start", "lambda_z_end", "aucinf_obs", "aucpe_obs"):
            reasons[k] = why
        hl = aucinf = pe = NAN
    else:
        hl = math.log(2.0) / lz
        aucinf = auclast + clast / lz
        pe = 100.0 * (clast / lz) / aucinf if aucinf > 0 else NAN
        if math.isnan(auclast):
            reasons["aucinf_obs"] = reasons["aucpe_obs"] = reasons["auclast"]
    cl = NAN
    if dose is None:
        reasons["cl_obs"] = "no dose given"
    elif math.isnan(aucinf) or aucinf <= 0:
        reasons["cl_obs"] = "AUCinf,obs not available"
    else:
        cl = dose / aucinf
    if auc_end is None:
        reasons["auc_int"] = "no auc_end given"
    return NCAResult(cmax, tmax, clast, tlast, auclast, auc_end, auc_int, lz, hl, adj, n, lz0, lz1, aucinf, pe,
                     dose, cl, auc_method, MappingProxyType(reasons))
