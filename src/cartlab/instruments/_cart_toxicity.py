"""CAR-T toxicities: ICE score, ASTCT 2019 CRS and ICANS grades, and toxicity episodes.

Every kernel grades one assessment (a patient-day) from the *signs recorded* at it, vectorised
over any array shape; :func:`toxicity_episodes` turns a daily grade series into AE episodes.
Reference: Lee DW et al., ASTCT consensus grading for cytokine release syndrome and neurologic
toxicity associated with immune effector cells. Biol Blood Marrow Transplant 2019;25:625-638
(the ICE score, the CRS consensus grading table and the ICANS consensus grading table).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._registry import Input, instrument

LEE_2019 = ("Lee DW et al. ASTCT consensus grading for cytokine release syndrome and neurologic toxicity "
            "associated with immune effector cells. Biol Blood Marrow Transplant 2019;25:625-638")

#: fever threshold of ASTCT CRS (°C, inclusive)
FEVER_C = 38.0
#: nasal cannula flow above which oxygen is "high-flow" (L/min; ≤ 6 is low-flow, grade 2)
LOW_FLOW_MAX_L_MIN = 6.0

#: oxygen delivery devices, as recorded by the site
O2_DEVICES = ("none", "blow_by", "nasal_cannula", "high_flow_nasal_cannula", "facemask", "non_rebreather",
              "venturi", "cpap", "bipap", "noninvasive_positive_pressure", "mechanical_ventilation")
_O2_GRADE = {"none": 0, "blow_by": 2, "nasal_cannula": 2, "high_flow_nasal_cannula": 3, "facemask": 3,
             "non_rebreather": 3, "venturi": 3, "cpap": 4, "bipap": 4, "noninvasive_positive_pressure": 4,
             "mechanical_ventilation": 4}

#: level of consciousness (ASTCT ICANS "depressed level of consciousness" domain) and its grade
CONSCIOUSNESS = ("normal", "awakens_spontaneously", "awakens_to_voice", "awakens_to_tactile", "unarousable")
SEIZURE = ("none", "rapidly_resolving", "prolonged_or_repetitive")
#: raised intracranial pressure / cerebral oedema findings and the ICANS grade each implies
ICP_FINDINGS = ("none", "focal_oedema", "diffuse_oedema", "posturing", "cranial_nerve_vi_palsy", "papilloedema",
                "cushings_triad")
_ICP_GRADE = {"none": 0, "focal_oedema": 3, "diffuse_oedema": 4, "posturing": 4, "cranial_nerve_vi_palsy": 4,
              "papilloedema": 4, "cushings_triad": 4}


def _lookup(codes, table: dict[str, int]) -> np.ndarray:
    arr = np.asarray(codes)
    out = np.zeros(arr.shape, dtype=np.int8)
    for key, g in table.items():
        out[arr == key] = g
    return out


def _shape(*args) -> tuple[int, ...]:
    return np.broadcast_shapes(*(np.shape(a) for a in args if a is not None))


def _flag(x, shape) -> np.ndarray:
    if x is None:
        return np.zeros(shape, dtype=bool)
    a = np.asarray(x)
    if a.dtype == object:  # optional bools may come with None for "not recorded" = no
        a = np.array([bool(v) if v is not None and v == v else False for v in a.reshape(-1)]).reshape(a.shape)
    return np.broadcast_to(a.astype(bool), shape)


# ----------------------------------------------------------------------------------------- ICE
@instrument(
    name="ICE", version="ASTCT 2019", citation=LEE_2019 + " (ICE score table)", unit="points", output_range=(0, 10),
    description="Immune effector Cell-associated Encephalopathy score, 0 (worst) to 10 (normal)",
    inputs=(
        Input("orientation", "int", "orientation to year, month, city, hospital (1 point each)", low=0, high=4),
        Input("naming", "int", "names 3 objects (1 point each)", low=0, high=3),
        Input("command", "int", "follows a simple command", low=0, high=1),
        Input("writing", "int", "writes a standard sentence", low=0, high=1),
        Input("attention", "int", "counts backwards from 100 by 10", low=0, high=1),
    ),
    cdisc=("ICE01", "ICE02", "ICE03", "ICE04", "ICE05"),
)
def ice_score(orientation, naming, command, writing, attention) -> np.ndarray:
    """ICE score (0–10): orientation 4 + naming 3 + command 1 + writing 1 + attention 1.

    Parameters are item scores (points), broadcast together. Reference: Lee 2019, ICE score table.

    >>> int(ice_score(4, 3, 1, 1, 1)), ice_score([4, 2], [3, 1], [1, 0], [1, 0], [1, 0]).tolist()
    (10, [10, 3])
    """
    total = sum(np.asarray(p, dtype=float) for p in (orientation, naming, command, writing, attention))
    return np.rint(total).astype(np.int8)


# ----------------------------------------------------------------------------------------- CRS
@instrument(
    name="ASTCT-CRS", version="2019", citation=LEE_2019 + " (CRS consensus grading table)", unit="grade",
    output_range=(0, 5),
    description="ASTCT consensus grade of cytokine release syndrome for one assessment (patient-day)",
    inputs=(
        Input("temp_c", "float", "highest body temperature of the assessment", "Cel", low=25.0, high=45.0),
        Input("hypotension", "bool", "hypotension by the site's definition (e.g. SBP < 90 mmHg)"),
        Input("n_vasopressors", "int", "vasopressors given, vasopressin NOT counted", low=0, high=10),
        Input("o2_device", "category", "oxygen delivery", categories=O2_DEVICES),
        Input("o2_flow_l_min", "float", "oxygen flow (decides low- vs high-flow nasal cannula)", "L/min", low=0.0,
              high=80.0, optional=True),
        Input("vasopressin", "bool", "vasopressin given", optional=True),
        Input("fever_masked", "bool", "antipyretic or anti-cytokine therapy given after CRS was diagnosed",
              optional=True),
        Input("crs_death", "bool", "death due to CRS, no other principal cause", optional=True),
        Input("fever_other_cause", "bool", "fever attributable to another cause (e.g. infection)", optional=True),
        Input("hypotension_other_cause", "bool", "hypotension/vasopressors attributable to another cause",
              optional=True),
        Input("hypoxia_other_cause", "bool", "oxygen need attributable to another cause", optional=True),
    ),
    cdisc=("CRS",),
)
def grade_crs_astct(temp_c, hypotension, n_vasopressors, o2_device, o2_flow_l_min=None, vasopressin=None,
                    fever_masked=None, crs_death=None, fever_other_cause=None, hypotension_other_cause=None,
                    hypoxia_other_cause=None) -> np.ndarray:
    """ASTCT 2019 CRS grade (0–5) of one assessment, vectorised.

    Fever (``temp_c`` ≥ 38.0 °C) is required, except when ``fever_masked`` (antipyretic or
    anti-cytokine therapy after CRS was diagnosed): then the grade is driven by hypotension and
    hypoxia alone (Lee 2019), and a day with neither is not CRS. With fever the grade is the worse of

    * hypotension: not needing vasopressors → 2; one vasopressor with or without vasopressin (or
      vasopressin alone) → 3; multiple vasopressors excluding vasopressin → 4;
    * hypoxia: blow-by or nasal cannula ≤ 6 L/min → 2; nasal cannula > 6 L/min, high-flow nasal
      cannula, facemask, non-rebreather or Venturi → 3; positive pressure (CPAP, BiPAP,
      ventilation) → 4; a nasal cannula without a recorded flow counts as low-flow;

    and at least 1; death due to CRS → 5. A sign flagged ``*_other_cause`` does not count. Organ
    toxicities do not change the grade (they are graded by CTCAE).

    >>> int(grade_crs_astct(38.0, False, 0, "none")), int(grade_crs_astct(38.5, False, 0, "nasal_cannula", 6.0))
    (1, 2)
    >>> int(grade_crs_astct(37.0, True, 1, "none", fever_masked=True)), int(grade_crs_astct(37.9, True, 2, "none"))
    (3, 0)
    >>> int(grade_crs_astct(37.0, False, 0, "none", fever_masked=True))
    0
    """
    temp = np.asarray(temp_c, dtype=float)
    shape = _shape(temp_c, hypotension, n_vasopressors, o2_device, o2_flow_l_min, vasopressin, fever_masked,
                   crs_death, fever_other_cause, hypotension_other_cause, hypoxia_other_cause)
    temp = np.broadcast_to(temp, shape)
    fever = (temp >= FEVER_C) & ~_flag(fever_other_cause, shape)
    masked = _flag(fever_masked, shape) & ~fever

    n_vp = np.broadcast_to(np.asarray(n_vasopressors, dtype=float), shape)
    any_vp = (n_vp >= 1) | _flag(vasopressin, shape)
    g_hypo = np.select([n_vp >= 2, any_vp, _flag(hypotension, shape)], [4, 3, 2], 0)
    g_hypo = np.where(_flag(hypotension_other_cause, shape), 0, g_hypo)

    device = np.broadcast_to(np.asarray(o2_device), shape)
    g_o2 = _lookup(device, _O2_GRADE)
    if o2_flow_l_min is not None:
        flow = np.broadcast_to(np.asarray(o2_flow_l_min, dtype=float), shape)
        g_o2 = np.where((device == "nasal_cannula") & (flow > LOW_FLOW_MAX_L_MIN), 3, g_o2)
    g_o2 = np.where(_flag(hypoxia_other_cause, shape), 0, g_o2)

    organ = np.maximum(g_hypo, g_o2)
    # after antipyretic/anti-cytokine therapy "CRS grading is driven by hypotension and/or hypoxia"
    # (Lee 2019): a masked fever without either is no longer graded as CRS
    grade = np.where(fever, np.maximum(organ, 1), np.where(masked, organ, 0))
    return np.where(_flag(crs_death, shape), 5, grade).astype(np.int8)


# --------------------------------------------------------------------------------------- ICANS
@instrument(
    name="ASTCT-ICANS", version="2019", citation=LEE_2019 + " (ICANS consensus grading table)", unit="grade",
    output_range=(0, 4),
    description="ASTCT consensus grade of immune effector cell-associated neurotoxicity syndrome (worst domain)",
    inputs=(
        Input("ice", "int", "ICE score; missing when the patient cannot be assessed", "points", low=0, high=10,
              optional=True),
        Input("consciousness", "category", "level of consciousness", categories=CONSCIOUSNESS),
        Input("seizure", "category", "seizure (clinical or EEG)", categories=SEIZURE, optional=True),
        Input("motor_weakness", "bool", "deep focal motor weakness (hemiparesis, paraparesis)", optional=True),
        Input("icp", "category", "raised intracranial pressure / cerebral oedema finding", categories=ICP_FINDINGS,
              optional=True),
    ),
    cdisc=("ICANS",),
)
def grade_icans_astct(ice, consciousness, seizure=None, motor_weakness=None, icp=None) -> np.ndarray:
    """ASTCT 2019 ICANS grade (0–4): the worst of its domains, vectorised.

    * ICE 7–9 → 1, 3–6 → 2, 0–2 → 3, 0 because unarousable → 4 (missing ICE: domain not graded);
    * consciousness: awakens spontaneously → 1, to voice → 2, only to tactile stimulus → 3,
      unarousable → 4 ("normal" → 0);
    * seizure: rapidly resolving (or non-convulsive, resolving with intervention) → 3; prolonged
      (> 5 min) or repetitive without return to baseline → 4;
    * deep focal motor weakness → 4;
    * focal oedema → 3; diffuse oedema, posturing, CN VI palsy, papilloedema, Cushing's triad → 4.

    Tremor and myoclonus are CTCAE-only; intracranial haemorrhage is excluded (Lee 2019).

    >>> grade_icans_astct([10, 9, 7, 6, 3, 2, 0], "normal").tolist()
    [0, 1, 1, 2, 2, 3, 3]
    >>> int(grade_icans_astct(0, "unarousable")), int(grade_icans_astct(10, "normal", icp="focal_oedema"))
    (4, 3)
    """
    s = np.asarray(ice, dtype=float)
    cons = np.asarray(consciousness)
    shape = _shape(ice, consciousness, seizure, motor_weakness, icp)
    s = np.broadcast_to(s, shape)
    cons = np.broadcast_to(cons, shape)
    g_ice = np.select([s <= 2, s <= 6, s <= 9], [3, 2, 1], 0)  # NaN compares False -> 0
    g_ice = np.where((s == 0) & (cons == "unarousable"), 4, g_ice)
    g_c = _lookup(cons, {c: k for k, c in enumerate(CONSCIOUSNESS)})
    g_s = np.zeros(shape, np.int8) if seizure is None else _lookup(np.broadcast_to(np.asarray(seizure), shape),
                                                                      {"rapidly_resolving": 3,
                                                                       "prolonged_or_repetitive": 4})
    g_m = np.where(_flag(motor_weakness, shape), 4, 0)
    g_o = np.zeros(shape, np.int8) if icp is None else _lookup(np.broadcast_to(np.asarray(icp), shape), _ICP_GRADE)
    return np.maximum.reduce([g_ice, g_c, g_s, g_m, g_o]).astype(np.int8)


# ------------------------------------------------------------------------------------ episodes
class Episode(NamedTuple):
    """One toxicity episode: consecutive assessments with grade ≥ 1.

    ``resolution_day`` is the first assessment day with grade 0 after the episode, ``None`` if the
    series ends during the episode (unresolved at last observation); ``duration_days`` counts days
    from onset to the last day with grade ≥ 1, inclusive.
    """

    onset_day: int
    last_day: int
    resolution_day: int | None
    max_grade: int
    duration_days: int


def toxicity_episodes(grades, days) -> list[Episode]:
    """Episodes of consecutive assessments with grade ≥ 1, in day order.

    ``grades`` and ``days`` are 1-d and of equal length; ``days`` must be strictly increasing.
    A missing grade (negative or NaN) neither starts, extends nor ends an episode.

    >>> [tuple(e) for e in toxicity_episodes([0, 1, 2, 0, 0, 1], [0, 1, 2, 3, 4, 5])]
    [(1, 2, 3, 2, 2), (5, 5, None, 1, 1)]
    """
    g = np.asarray(grades, dtype=float).reshape(-1)
    d = np.asarray(days).reshape(-1)
    if g.shape != d.shape:
        raise ValueError(f"toxicity_episodes: grades has {g.size} values but days has {d.size}")
    if d.size > 1 and not (np.diff(d) > 0).all():
        k = int(np.argmax(np.diff(d) <= 0)) + 1
        raise ValueError(f"toxicity_episodes: days must be strictly increasing; row {k}: got {d[k]!r} after "
                         f"{d[k - 1]!r}")
    known = ~np.isnan(g) & (g >= 0)
    g, d = g[known], d[known]
    out: list[Episode] = []
    on = g >= 1
    starts = np.flatnonzero(on & ~np.concatenate(([False], on[:-1])))
    ends = np.flatnonzero(on & ~np.concatenate((on[1:], [False])))
    for s, e in zip(starts.tolist(), ends.tolist()):
        res = int(d[e + 1]) if e + 1 < d.size else None
        out.append(Episode(int(d[s]), int(d[e]), res, int(g[s:e + 1].max()), int(d[e] - d[s]) + 1))
    return out
