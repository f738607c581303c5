"""Dose-escalation outcome strings ("1NNN 2NTN") and their per-dose tallies.

The usual shorthand of the dose-finding literature (e.g. the BOIN and CRM software): each cohort
is a dose level number followed by one letter per patient, ``N`` (no dose-limiting toxicity) or
``T`` (DLT); cohorts are separated by white space, in the order they were treated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._core.errors import DataValidationError


@dataclass(frozen=True, slots=True)
class Cohort:
    """One cohort: the dose level (1-based) and, per patient, whether a DLT occurred."""

    dose: int
    dlt: tuple[bool, ...]

    @property
    def n(self) -> int:
        """Patients in the cohort."""
        return len(self.dlt)

    @property
    def y(self) -> int:
        """DLTs in the cohort."""
        return sum(self.dlt)


def parse_outcomes(text: str, n_doses: int | None = None, *, name: str = "outcomes") -> tuple[Cohort, ...]:
    """Parse an outcome string such as ``"1NNN 2NTN"`` into cohorts.

    Parameters
    ----------
    text
        Cohorts separated by white space; each is a dose level number (1 … ``n_doses``) followed by
        one letter per patient: ``N`` no DLT, ``T`` DLT (lower case accepted). An empty string is
        a trial that has not started.
    n_doses
        Number of dose levels, to check the dose numbers against (unchecked if None).
    name
        What to call the string in error messages (an argument or option name).

    Returns
    -------
    tuple of Cohort, in treatment order.

    Raises
    ------
    DataValidationError
        Naming the 1-based character position, the character found and what was expected.

    Examples
    --------
    >>> parse_outcomes("1NNN 2NTN")
    (Cohort(dose=1, dlt=(False, False, False)), Cohort(dose=2, dlt=(False, True, False)))
    >>> parse_outcomes("1NNX")
    Traceback (most recent call last):
    ...
    cartlab._core.errors.DataValidationError: outcomes: position 4: expected N (no DLT) or T (DLT) for a patient of the cohort at dose 1; got 'X' in '1NNX'
    """
    return tuple(Cohort(dose, tuple(c == "T" for c in letters))
                 for dose, letters in _tokens(text, n_doses, name, _PHASE1_LETTERS))


#: per-patient letters of a phase I string: letter -> what it means (for error messages)
_PHASE1_LETTERS = {"N": "N (no DLT)", "T": "T (DLT)"}
#: per-patient letters of a phase I/II string (the convention of the ``escalation`` R package's
#: ``parse_phase1_2_outcomes``, Brock 2019): toxicity and efficacy of each patient
_PHASE12_LETTERS = {"E": "E (efficacy, no toxicity)", "T": "T (toxicity, no efficacy)",
                    "N": "N (neither)", "B": "B (both)"}


def _tokens(text: str, n_doses: int | None, name: str,
            allowed: dict[str, str]) -> list[tuple[int, str]]:
    """Split an outcome string into (dose level, upper-case patient letters) per cohort."""
    example = "'1NNN 2NTN'" if "B" not in allowed else "'1NEN 2BTE'"
    if not isinstance(text, str):
        raise DataValidationError(f"{name}: expected a string like {example}; got {type(text).__name__}")
    if n_doses is not None and n_doses < 1:
        raise DataValidationError(f"n_doses must be >= 1; got {n_doses}")
    expected = " or ".join([", ".join(list(allowed.values())[:-1]), list(allowed.values())[-1]]
                           if len(allowed) > 2 else list(allowed.values()))
    cohorts: list[tuple[int, str]] = []
    i, size = 0, len(text)
    while i < size:
        if text[i].isspace():
            i += 1
            continue
        start = i
        while i < size and text[i].isdigit() and text[i].isascii():
            i += 1
        if i == start:
            raise DataValidationError(f"{name}: position {i + 1}: expected a dose level number to start a cohort; "
                                      f"got {text[i]!r} in {text!r}")
        dose = int(text[start:i])
        if dose < 1 or (n_doses is not None and dose > n_doses):
            allowed_doses = f"1 to {n_doses}" if n_doses is not None else ">= 1"
            raise DataValidationError(f"{name}: position {start + 1}: dose level must be {allowed_doses}; "
                                      f"got {dose} in {text!r}")
        letters: list[str] = []
        while i < size and not text[i].isspace():
            c = text[i].upper()
            if c not in allowed:
                raise DataValidationError(f"{name}: position {i + 1}: expected {expected} for a patient "
                                          f"of the cohort at dose {dose}; got {text[i]!r} in {text!r}")
            letters.append(c)
            i += 1
        if not letters:
            where = "end of string" if i == size else repr(text[i])
            raise DataValidationError(f"{name}: position {i + 1}: expected at least one patient "
                                      f"({' or '.join(allowed)}) after dose level {dose}; got {where} in {text!r}")
        cohorts.append((dose, "".join(letters)))
    return cohorts


@dataclass(frozen=True, slots=True)
class Cohort12:
    """One cohort of a phase I/II trial: the dose level (1-based) and, per patient, toxicity (DLT)
    and efficacy (response)."""

    dose: int
    dlt: tuple[bool, ...]
    eff: tuple[bool, ...]

    @property
    def n(self) -> int:
        """Patients in the cohort."""
        return len(self.dlt)


def parse_outcomes12(text: str, n_doses: int | None = None, *, name: str = "outcomes") -> tuple[Cohort12, ...]:
    """Parse a phase I/II outcome string such as ``"1NEN 2BTE"`` into cohorts.

    Each cohort is a dose level number followed by one letter per patient: ``E`` efficacy without
    toxicity, ``T`` toxicity (DLT) without efficacy, ``B`` both, ``N`` neither (lower case accepted).
    This is the notation of the ``escalation`` R package (Brock K, ``parse_phase1_2_outcomes``), which
    its authors use for BOIN12 (Lin et al., JCO Precis Oncol 2020;4:1393). A phase I string
    (N and T only) is a valid phase I/II string with no response.

    Examples
    --------
    >>> parse_outcomes12("1NEN 2BT")
    (Cohort12(dose=1, dlt=(False, False, False), eff=(False, True, False)), Cohort12(dose=2, dlt=(True, True), eff=(True, False)))
    >>> parse_outcomes12("1NX")
    Traceback (most recent call last):
    ...
    cartlab._core.errors.DataValidationError: outcomes: position 3: expected E (efficacy, no toxicity), T (toxicity, no efficacy), N (neither) or B (both) for a patient of the cohort at dose 1; got 'X' in '1NX'
    """
    return tuple(Cohort12(dose, tuple(c in "TB" for c in letters), tuple(c in "EB" for c in letters))
                 for dose, letters in _tokens(text, n_doses, name, _PHASE12_LETTERS))


def tally_outcomes(cohorts: tuple[Cohort, ...], n_doses: int) -> tuple[np.ndarray, np.ndarray]:
    """Patients treated ``n`` and DLTs ``y`` per dose level (index 0 is dose level 1).

    Examples
    --------
    >>> n, y = tally_outcomes(parse_outcomes("1NNN 2NTN 2TNN"), 3)
    >>> n.tolist(), y.tolist()
    ([3, 6, 0], [0, 2, 0])
    """
    n = np.zeros(n_doses, dtype=np.int64)
    y = np.zeros(n_doses, dtype=np.int64)
    for c in cohorts:
        if not 1 <= c.dose <= n_doses:
            raise DataValidationError(f"outcomes: dose level must be 1 to {n_doses}; got {c.dose}")
        n[c.dose - 1] += c.n
        y[c.dose - 1] += c.y
    return n, y


def as_cohorts(outcomes: str | tuple[Cohort, ...] | list[Cohort], n_doses: int) -> tuple[Cohort, ...]:
    """Cohorts from an outcome string or already-parsed cohorts (checked against ``n_doses``)."""
    if isinstance(outcomes, str):
        return parse_outcomes(outcomes, n_doses)
    cohorts = tuple(outcomes)
    for k, c in enumerate(cohorts, 1):
        if not isinstance(c, Cohort) or not 1 <= c.dose <= n_doses or not c.dlt:
            raise DataValidationError(f"outcomes: cohort {k} must be a Cohort with dose 1 to {n_doses} and at least "
                                      f"one patient; got {c!r}")
    return cohorts


__all__ = ["Cohort", "Cohort12", "as_cohorts", "parse_outcomes", "parse_outcomes12", "tally_outcomes"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do for the next cohort of a dose-escalation trial.

    ``action`` is one of ``"escalate"``, ``"stay"``, ``"de-escalate"`` or ``"stop"``; ``next_dose`` is
    the 1-based dose level for the next cohort (None when the trial stops); ``n`` and ``y`` are the
    patients and DLTs so far at ``current_dose``; ``eliminated_from`` is the lowest eliminated dose
    level (that dose and all higher ones are closed), ``mtd`` the dose declared when a rule-based
    design stops (None if no dose is declared or the trial goes on); ``obd`` the optimal biological
    dose a phase I/II design (BOIN12) selects when it stops.
    """

    design: str
    action: str
    next_dose: int | None
    current_dose: int | None
    n: int
    y: int
    reason: str
    eliminated_from: int | None = None
    mtd: int | None = None
    obd: int | None = None


__all__ += ["Decision"]
