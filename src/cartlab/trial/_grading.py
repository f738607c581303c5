"""Minimal internal grader used by the virtual site until the instruments library replaces it.

It grades from the *signs the site recorded*, never from the model's latent levels, so the same
path will serve real data: ASTCT 2019 CRS (Lee, Biol Blood Marrow Transplant 2019;25:625),
ASTCT ICANS from ICE and the other domains, CTCAE v5.0 haematology bands (INSTRUMENTS.md).
"""

from __future__ import annotations

import numpy as np

#: oxygen support codes recorded by the site, ordered by ASTCT CRS grade they imply
O2_NONE, O2_LOW_FLOW, O2_HIGH_FLOW, O2_POSITIVE_PRESSURE = 0, 1, 2, 3


def grade_crs_astct(temp_c, sbp_mmhg, n_vasopressors, o2_support, anti_cytokine_before, crs_ongoing=None):
    """Daily ASTCT CRS grade (0–4) from signs, vectorised over any array shape.

    Fever ≥ 38.0 °C is required unless anti-cytokine therapy was given earlier in the episode
    (``anti_cytokine_before``) and CRS was already diagnosed (``crs_ongoing``; default: same as
    ``anti_cytokine_before``). Grade = worse of hypotension (SBP < 90 without vasopressors → 2, one
    vasopressor → 3, ≥ 2 → 4) and hypoxia (low-flow → 2, high-flow → 3, positive pressure → 4).

    >>> int(grade_crs_astct(38.5, 120, 0, 0, False))
    1
    >>> int(grade_crs_astct(37.0, 85, 1, 0, True))
    3
    """
    temp = np.asarray(temp_c, dtype=float)
    anti = np.asarray(anti_cytokine_before, dtype=bool)
    ongoing = anti if crs_ongoing is None else np.asarray(crs_ongoing, dtype=bool)
    fever = (temp >= 38.0) | (anti & ongoing)
    vp = np.asarray(n_vasopressors)
    hypo = np.where(vp >= 2, 4, np.where(vp == 1, 3, np.where(np.asarray(sbp_mmhg) < 90.0, 2, 0)))
    o2 = np.asarray(o2_support)
    hypox = np.where(o2 == O2_POSITIVE_PRESSURE, 4, np.where(o2 == O2_HIGH_FLOW, 3, np.where(o2 == O2_LOW_FLOW, 2, 0)))
    organ = np.maximum(hypo, hypox)
    return np.where(fever, np.maximum(organ, 1), 0).astype(np.int8)


def grade_icans_astct(ice_score, consciousness, seizure, motor_weakness, oedema):
    """Daily ASTCT ICANS grade (0–4), the worst of its domains.

    ``consciousness``: 0 awake, 1 awakens to voice, 2 only to touch, 3 unarousable; ``seizure``:
    0 none, 1 rapidly resolving, 2 prolonged/repetitive; ``motor_weakness``: deep focal weakness
    (bool); ``oedema``: 0 none, 1 focal, 2 diffuse.

    >>> int(grade_icans_astct(8, 0, 0, False, 0)), int(grade_icans_astct(2, 0, 0, False, 0))
    (1, 3)
    """
    ice = np.asarray(ice_score)
    g_ice = np.select([ice <= 2, ice <= 6, ice <= 9], [3, 2, 1], 0)
    g_ice = np.where((ice == 0) & (np.asarray(consciousness) == 3), 4, g_ice)
    c = np.asarray(consciousness)
    g_c = np.select([c == 3, c == 2, c == 1], [4, 3, 2], 0)
    s = np.asarray(seizure)
    g_s = np.select([s == 2, s == 1], [4, 3], 0)
    g_m = np.where(np.asarray(motor_weakness, dtype=bool), 4, 0)
    o = np.asarray(oedema)
    g_o = np.select([o == 2, o == 1], [4, 3], 0)
    return np.maximum.reduce([g_ice, g_c, g_s, g_m, g_o]).astype(np.int8)


#: CTCAE v5.0 lower cut-offs of grades 2, 3, 4 (×10⁹/L); grade 1 is below the LLN.
CTCAE_V5 = {
    "NEUT": (1.5, 1.0, 0.5),
    "PLAT": (75.0, 50.0, 25.0),
    "LYM": (0.8, 0.5, 0.2),
    "WBC": (3.0, 2.0, 1.0),
}


def grade_ctcae_low(test: str, value, lln):
    """CTCAE v5.0 grade of a low count; a value equal to a cut-off takes the milder grade.

    >>> int(grade_ctcae_low("NEUT", 1.0, 1.8)), int(grade_ctcae_low("NEUT", 0.99, 1.8))
    (2, 3)
    """
    c2, c3, c4 = CTCAE_V5[test]
    v = np.asarray(value, dtype=float)
    g = np.select([v < c4, v < c3, v < c2, v < np.asarray(lln, dtype=float)], [4, 3, 2, 1], 0)
    return np.where(np.isnan(v), -1, g).astype(np.int8)


def episodes(grades: np.ndarray, days: np.ndarray) -> list[tuple[int, int, int]]:
    """Episodes of consecutive days with grade ≥ 1: (onset day, last day, maximum grade)."""
    out: list[tuple[int, int, int]] = []
    start = None
    gmax = 0
    for d, g in zip(days.tolist(), grades.tolist()):
        if g >= 1:
            if start is None:
                start, gmax = d, g
            else:
                gmax = max(gmax, g)
            last = d
        elif start is not None:
            out.append((start, last, gmax))
            start = None
    if start is not None:
        out.append((start, last, gmax))
    return out
