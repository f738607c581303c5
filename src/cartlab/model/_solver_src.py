"""Source of the compiled solver, appended to every generated kernel module.

The integrator is an additive Runge–Kutta pair of Kennedy & Carpenter (2003, Appl. Numer. Math.
44:139–181, Appendix C; coefficients as SUNDIALS ARKODE ships them): ``METHOD`` is ARK5(4)8L[2]SA,
ARK4(3)6L[2]SA is kept for comparison. It is used as an implicit–explicit method on the split
``f(y) = Λ y + (f(y) − Λ y)``, where ``Λ`` is the diagonal of the Jacobian at the start of the step
(differentiated symbolically from the model by the code generator; growing entries set to 0),
integrated with the L-stable ESDIRK part, and the rest with the explicit part (the diagonal is
refreshed every fourth accepted step: any constant diagonal keeps the order). Every implicit stage
is then a division, so a step costs what an explicit step costs, but the fast first-order losses of
the model (IL-6 elimination, t½ 4 h; transit compartments; CAR-T killing) no longer bound the step
in the quiet months after infusion, where the former explicit Dormand–Prince kernel spent most of
its steps (0.8-day steps for a year, the stability limit of IL-6 elimination).

A component is put in the implicit part of a step only when the step is too long for the explicit
part to take it (``h |λ_j| > STIFF``; the explicit method's real stability boundary is 5.39): at
moderate ``h λ`` the explicit part is the more accurate (measured: treating every decaying
component implicitly needed 1.5x the steps). The order conditions hold for any constant ``Λ`` in a
step, so the choice changes stability and cost, never the order.

Slaved states (``SLAVED_IDX``, listed by the code generator: serum IL-6 — on no feedback loop,
linear in itself, ``f = F(x) + λ(x) y``, with an elimination of t½ 4 h under a drive that changes
over days) are put wholly in the implicit part: at each stage ``y_s = bse + hγ f(y_s, x_s)`` with
``bse = y + h Σ a^I_sr f_r`` is solved exactly, ``y_s = (bse + hγ F(x_s)) / (1 − hγ λ(x_s))``,
from the stage values ``x_s`` of the others (``rhs_stage``), before the helpers that read it. An
additive method's order conditions hold for any split of each component's right-hand side, so the
order is unchanged; what changes is the error of a stiff state under a smooth drive. On
``y' = −4.2 (y − g(t)) + g'`` with ``g`` a 25-day decay (``test_solver_method``), a step with the
forcing explicit (the explicit stages have stage order 1) leaves 2.7e-6 relative error at 1 day and
1.3e-4 at 4 days; with the whole equation implicit 6.7e-11 and 1.3e-8. IL-6 had set 185 of the
333 steps of days 14–365; the kernel now takes 572 steps per benchmark patient instead of 672. Its
error estimate is not filtered (``DAMPED`` leaves it out): there is little left to damp.

States whose equation is exactly ``−k y`` with a per-patient constant ``k`` (cyclophosphamide, the
fludarabine K-PD amount, the dexamethasone effect; found by the code generator) are integrated
exactly, ``y e^{−k c_s h}`` at every stage, carry no error, and are set to 0 once below 1e-20 of
their scale.

Cell populations (the states the code generator lists in ``LOG_IDX``: CD19+ B lineage, CAR-T)
are integrated as ``u = ln x`` while they are positive: ``du/dt = f(x) / x`` with ``x = e^u``, the
implicit diagonal ``d(f/x)/du = df/dx − f/x``. Killing and expansion are exponential at rates set
by other states, so ``u`` changes at a slowly varying slope where ``x`` falls 20 e-folds: the
days 0–14 take ~30 % fewer steps and the depletion integral (``Dep``) agrees better with the
reference. This changes the integration variable only — the right-hand side is the model's, and
``y`` is in model variables outside ``_segment``: a state that is 0 at the start of a segment
(CAR-T before the infusion) is integrated as it stands until a later segment starts with it
positive, and a dose at a stop adds to ``x`` (the next segment starts from ``ln(x + dose)``).

Error test: weighted max norm, every state's estimate below ``atol * scale_i + rtol *
max(|x_i|, |x_new_i|)`` (an RMS norm let the one fast-changing state carry √30 times its tolerance,
which cost agreement with the reference at the onset of B-cell depletion); for a log-integrated
state the same bound divided by ``max(x, x_new)``, the equivalent test on ``u``. The estimate of a
state that is on no feedback loop through another state (``DAMPED``, found by the code generator:
IL-6, its CNS compartment, lymphocytes, C4, kidney latent) is filtered by ``1 / (1 − h λ_j)``, the
diagonal form of the filter ``(I − h J)^{-1}`` of Shampine (1984) and Hairer & Wanner (IV.8): the
error of such a state decays at its own rate ``λ_j`` and does not come back through the others, so
its local error needs no more accuracy than its fast decay leaves standing. IL-6 (t½ 4 h, slaved
to a slowly moving drive) set half the steps of days 14–365 before. Step size: PI
controller (Gustafsson 1991), no growth right after a rejection, and for ten steps after a rejection
the step stays below the geometric mean of the last accepted and the failed length (or, when the
failing component was implicit only because of the length, below its switch).

The kernel integrates patient by patient between *stops* (save times, dose days, daily checks). At
each stop it applies that patient's events in a fixed order — save (pre-dose), lymphodepletion
doses, infusion, immunosuppressant withdrawal, daily CRS/ICANS check with protocol rescue,
dexamethasone doses, flare check — and restarts the integration, so doses are jumps, never smoothed.

Failures are data: a patient whose integration fails keeps ``NaN`` from the failure on and gets a
status code (see :class:`cartlab.model.SolveStatus`); the batch goes on.
"""

from dataclasses import dataclass
from fractions import Fraction as _Fr

F = _Fr


@dataclass(frozen=True)
class Tableau:
    """An additive Runge–Kutta pair: explicit and (ESDIRK) implicit stage coefficients, shared
    weights ``b`` and embedded weights ``bhat``, abscissae ``c``, implicit diagonal ``gamma``;
    ``order``/``embedded`` of the solution and of the error estimate. Rows of ``ae``/``ai`` hold
    the coefficients of the earlier stages only (the implicit diagonal is ``gamma``)."""

    name: str
    order: int
    embedded: int
    gamma: _Fr
    c: tuple
    ae: tuple
    ai: tuple
    b: tuple
    bhat: tuple

    @property
    def stages(self) -> int:
        return len(self.c)


#: Kennedy & Carpenter (2003), Appl. Numer. Math. 44:139–181, Appendix C, as SUNDIALS ARKODE
#: ships them (ARK436L2SA_ERK_6_3_4 / ARK436L2SA_DIRK_6_3_4)
ARK436 = Tableau(
    "ARK4(3)6L[2]SA", 4, 3, F(1, 4),
    c=(F(0), F(1, 2), F(83, 250), F(31, 50), F(17, 20), F(1)),
    ae=((),
        (F(1, 2),),
        (F(13861, 62500), F(6889, 62500)),
        (F(-116923316275, 2393684061468), F(-2731218467317, 15368042101831), F(9408046702089, 11113171139209)),
        (F(-451086348788, 2902428689909), F(-2682348792572, 7519795681897), F(12662868775082, 11960479115383),
         F(3355817975965, 11060851509271)),
        (F(647845179188, 3216320057751), F(73281519250, 8382639484533), F(552539513391, 3454668386233),
         F(3354512671639, 8306763924573), F(4040, 17871))),
    ai=((),
        (F(1, 4),),
        (F(8611, 62500), F(-1743, 31250)),
        (F(5012029, 34652500), F(-654441, 2922500), F(174375, 388108)),
        (F(15267082809, 155376265600), F(-71443401, 120774400), F(730878875, 902184768), F(2285395, 8070912)),
        (F(82889, 524892), F(0), F(15625, 83664), F(69875, 102672), F(-2260, 8211))),
    b=(F(82889, 524892), F(0), F(15625, 83664), F(69875, 102672), F(-2260, 8211), F(1, 4)),
    bhat=(F(4586570599, 29645900160), F(0), F(178811875, 945068544), F(814220225, 1159782912),
          F(-3700637, 11593932), F(61727, 225920)),
)

#: Kennedy & Carpenter (2003), Appendix C, as SUNDIALS ARKODE ships them
#: (ARK548L2SA_ERK_8_4_5 / ARK548L2SA_DIRK_8_4_5)
_G5 = F(41, 200)
ARK548 = Tableau(
    "ARK5(4)8L[2]SA", 5, 4, _G5,
    c=(F(0), F(41, 100), F(2935347310677, 11292855782101), F(1426016391358, 7196633302097), F(92, 100),
       F(24, 100), F(3, 5), F(1)),
    ae=((),
        (F(41, 100),),
        (F(367902744464, 2072280473677), F(677623207551, 8224143866563)),
        (F(1268023523408, 10340822734521), F(0), F(1029933939417, 13636558850479)),
        (F(14463281900351, 6315353703477), F(0), F(66114435211212, 5879490589093),
         F(-54053170152839, 4284798021562)),
        (F(14090043504691, 34967701212078), F(0), F(15191511035443, 11219624916014),
         F(-18461159152457, 12425892160975), F(-281667163811, 9011619295870)),
        (F(19230459214898, 13134317526959), F(0), F(21275331358303, 2942455364971),
         F(-38145345988419, 4862620318723), F(-1, 8), F(-1, 8)),
        (F(-19977161125411, 11928030595625), F(0), F(-40795976796054, 6384907823539),
         F(177454434618887, 12078138498510), F(782672205425, 8267701900261), F(-69563011059811, 9646580694205),
         F(7356628210526, 4942186776405))),
    ai=((),
        (_G5,),
        (F(41, 400), F(-567603406766, 11931857230679)),
        (F(683785636431, 9252920307686), F(0), F(-110385047103, 1367015193373)),
        (F(3016520224154, 10081342136671), F(0), F(30586259806659, 12414158314087),
         F(-22760509404356, 11113319521817)),
        (F(218866479029, 1489978393911), F(0), F(638256894668, 5436446318841), F(-1179710474555, 5321154724896),
         F(-60928119172, 8023461067671)),
        (F(1020004230633, 5715676835656), F(0), F(25762820946817, 25263940353407),
         F(-2161375909145, 9755907335909), F(-211217309593, 5846859502534), F(-4269925059573, 7827059040749)),
        (F(-872700587467, 9133579230613), F(0), F(0), F(22348218063261, 9555858737531),
         F(-1143369518992, 8141816002931), F(-39379526789629, 19018526304540), F(32727382324388, 42900044865799))),
    b=(F(-872700587467, 9133579230613), F(0), F(0), F(22348218063261, 9555858737531),
       F(-1143369518992, 8141816002931), F(-39379526789629, 19018526304540), F(32727382324388, 42900044865799),
       _G5),
    bhat=(F(-975461918565, 9796059967033), F(0), F(0), F(78070527104295, 32432590147079),
          F(-548382580838, 3424219808633), F(-33438840321285, 15594753105479), F(3629800801594, 4656183773603),
          F(4035322873751, 18575991585200)),
)

#: the pair the kernel uses
METHOD = ARK548

#: a component is in the implicit part of a step when h * |d f_j / d y_j| exceeds this
STIFF = 3.0


def _lin(terms: list[tuple[float, str]]) -> str:
    """``c1 * a1[j] + c2 * a2[j] ...`` with exact-zero coefficients left out."""
    return " + ".join(f"{float(c)!r} * {a}[j]" for c, a in terms if c != 0) or "0.0"


def _step_source(m: Tableau) -> str:
    """The stages of one ARK step, unrolled: straight-line loops over states, no tableau lookups.

    Work rows: ``f0..`` stage derivatives, ``g0..`` implicit parts ``λ_j Y_j``, ``xs`` the stage
    value in model variables, ``lam`` diagonal at the step start, ``lj`` its implicit part, ``inv``
    ``1 / (1 − hγ lj)``, ``yn`` the new state (integration variables), ``xn`` the same in model
    variables, ``dn`` the error bounds, ``ee`` the error estimate (in model variables), ``xc`` the current
    state in model variables; ``rx`` (first ``NL`` entries) ``1 / x`` of the log-integrated
    states. States that only decay at a per-patient constant rate (``DECAY_IDX``,
    found by the code generator) take their exact values ``y e^{−k c_s h}`` (``ed``) at every
    stage and carry no error. The log-integrated states (``LOG_IDX`` where ``on``) are carried as
    ``u = ln x``: their stage derivative is ``f / x``.
    """
    L = []
    for s in range(1, m.stages):
        expl = [(m.ae[s][r], f"f{r}") for r in range(s)]
        impl = [(m.ai[s][r] - m.ae[s][r], f"g{r}") for r in range(s)]
        full = [(m.ai[s][r], f"f{r}") for r in range(s)]
        L += ["        for j in range(NY):",
              f"            xs[j] = y[j] + hh * ({_lin(expl)})",
              "        for i in range(ni):",
              "            j = imp[i]",
              f"            v = (xs[j] + hh * ({_lin(impl)})) * inv[j]",
              f"            g{s}[j] = lj[j] * v",
              "            xs[j] = v",
              "        for m in range(ND):",
              f"            xs[DECAY_IDX[m]] = y[DECAY_IDX[m]] * ed[m, {s}]",
              "        for m in range(NSL):",
              "            j = SLAVED_IDX[m]",
              f"            bse[j] = y[j] + hh * ({_lin(full)})",
              "        _expand(xs, xs, on, rx)",
              f"        rhs_stage(t + {float(m.c[s])!r} * hh, xs, p, q, f{s}, bse, hg)",
              "        for m in range(NL):",
              f"            f{s}[LOG_IDX[m]] *= rx[m]"]
    b = [(m.b[r], f"f{r}") for r in range(m.stages)]
    e = [(m.b[r] - m.bhat[r], f"f{r}") for r in range(m.stages)]
    L += ["        for j in range(NY):",
          f"            v = y[j] + hh * ({_lin(b)})",
          "            yn[j] = v",
          "            xn[j] = v",
          f"            ee[j] = hh * ({_lin(e)})",
          "        for m in range(ND):",
          f"            yn[DECAY_IDX[m]] = y[DECAY_IDX[m]] * ed[m, {m.stages - 1}]",
          "            xn[DECAY_IDX[m]] = yn[DECAY_IDX[m]]",
          "            ee[DECAY_IDX[m]] = 0.0",
          "        _expand(yn, xn, on, rx)",
          "        for j in range(NY):",
          "            dn[j] = (atol * sc[j] + rtol * max(abs(xc[j]), abs(xn[j]))) * (1.0 - DAMPED[j] * hh * lam[j])",
          "        for m in range(NL):",
          "            # an error e in u = ln x is an error x e in x: the same test as for the others",
          "            if on[m] != 0.0:",
          "                ee[LOG_IDX[m]] *= max(xc[LOG_IDX[m]], xn[LOG_IDX[m]])",
          "        # err = max |ee_j| / dn_j, dividing only where the maximum moves",
          "        err = 0.0",
          "        tot = 0.0",
          "        for j in range(NY):",
          "            a = abs(ee[j])",
          "            if a > err * dn[j]:",
          "                err = a / dn[j]",
          "            tot += ee[j]  # carries a NaN, which the comparison drops",
          "        if tot != tot:",
          "            err = tot"]
    return "\n".join(L)


def _unpack_source(m: Tableau) -> str:
    n = m.stages
    rows = [f"f{i}" for i in range(n)] + [f"g{i}" for i in range(n)] + ["xs", "lam", "lj", "inv", "yn", "ee", "xn",
                                                                          "xc", "dn", "rx", "bse"]
    return "\n".join(f"    {r} = W[{i}]" for i, r in enumerate(rows))


_SOLVER_TEMPLATE = r'''
# ---------------------------------------------------------------- solver (cartlab/_solver_src.py)
F_SAVE = 1
F_CHECK = 2
F_DOSEDAY = 4
F_DISEASE = 8
F_WITHDRAW = 16
F_INFUSE = 32

C_RTOL = 0
C_ATOL = 1
C_MAXSTEPS = 2
C_CRS_TRIG = 3
C_TOCI_MAX = 4
C_ICANS_TRIG = 5
C_DEX_MG = 6
C_DEX_DAYS = 7
C_WITHDRAW = 8
C_RESTART = 9
C_HMAX = 10
C_DEX_MAX = 11
NCTRL = 12

STIFF = @STIFF@
NS = @NS@
NWORK = 2 * NS + 11
ARK_CF = np.array(@CF@)
#: a decaying state below this multiple of its scale is set to 0 (and costs nothing from then on)
FLUSH = 1e-20
#: a state of LOG_IDX that is not LOG_ALWAYS goes to ln x for a segment that starts below this multiple of its scale
LOG_BELOW = 1e-3


@njit(cache=True, error_model='numpy', inline='always')
def _expand(uu, dst, on, rx):
    """Model values of the log-integrated states that are ``on``: ``dst_j = e^{uu_j}``,
    ``rx[m] = 1 / dst_j`` (``j = LOG_IDX[m]``); the others keep ``dst_j`` and ``rx[m] = 1``.

    ``on[NL]`` is 1 when every state of the always-logged block (the first ``NA``) is on — every
    segment after the infusion: that loop then has no branch (3 % of the kernel's time).
    (Tried: a branch-free Taylor polynomial of the stage increment instead of ``exp``, straight
    line or in a padded loop; an inline table-free ``exp`` (13th-degree polynomial and the exponent
    from its bits): the compiler did not vectorise them and the polynomial's latency made the step
    20 % slower.)"""
    lo = 0
    if on[NL] != 0.0:
        for m in range(NA):
            j = LOG_IDX[m]
            x = exp(uu[j])
            dst[j] = x
            rx[m] = 1.0 / x
        lo = NA
    for m in range(lo, NL):
        if on[m] != 0.0:
            j = LOG_IDX[m]
            x = exp(uu[j])
            dst[j] = x
            rx[m] = 1.0 / x


@njit(cache=True, error_model='numpy')
def _diagonal(t, x, p, q, lam, f0, on):
    """The Jacobian's diagonal at the start of a step, positive (growing) entries set to 0.

    For a state integrated as ``u = ln x`` the entry is ``d(f/x)/du = df/dx − f/x`` (``f0`` holds
    ``f/x`` there already)."""
    diag(t, x, p, q, lam)
    for m in range(NL):
        if on[m] != 0.0:
            lam[LOG_IDX[m]] -= f0[LOG_IDX[m]]
    for j in range(NY):
        if not (lam[j] < 0.0):
            lam[j] = 0.0


@njit(cache=True, error_model='numpy', fastmath={'contract'})
def _segment(t, t_end, y, h, p, q, sc, rtol, atol, hmax, max_steps, nsteps, W, ed, on, imp):
    """Integrate from ``t`` to ``t_end`` in place (see the module docstring).

    Returns ``(t, h, status, nsteps)``; ``W`` is work space (``NWORK`` rows), ``ed`` the exact
    decay factors of the ``ND`` decaying states at the stages, ``on`` room for ``NL`` flags,
    ``imp`` for the indices of a step's implicit components.
    ``y`` is in model variables on entry and on return; inside, the states of ``LOG_IDX`` that
    are positive at the start of the segment are integrated as ``u = ln x`` (a dose at a stop
    adds to ``x``: the next segment starts from the new ``ln x``; a state at 0, such as CAR-T
    before the infusion, stays linear until a later segment starts with it positive).
    """
@UNPACK@
    for j in range(NY):
        xc[j] = y[j]
    for m in range(NL):
        j = LOG_IDX[m]
        on[m] = 1.0 if y[j] > 0.0 and y[j] < 1e300 and (LOG_ALWAYS[m] != 0.0 or y[j] < LOG_BELOW * sc[j]) else 0.0
        rx[m] = 1.0
        if on[m] != 0.0:
            rx[m] = 1.0 / y[j]
            y[j] = log(y[j])
    on[NL] = 1.0
    for m in range(NA):
        if on[m] == 0.0:
            on[NL] = 0.0
    rhs(t, xc, p, q, f0)
    for m in range(NL):
        f0[LOG_IDX[m]] *= rx[m]
    _diagonal(t, xc, p, q, lam, f0, on)
    err_prev = 1.0
    ndiag = 0
    after_reject = False
    hcap = hmax
    ncap = 0
    hacc = 0.0
    while t < t_end:
        if nsteps >= max_steps:
            for j in range(NY):
                y[j] = xc[j]
            return t, h, 1, nsteps
        last = False
        hh = min(h, hmax)
        if ncap > 0:
            hh = min(hh, hcap)
        if t + hh >= t_end:
            hh = t_end - t
            last = True
        hg = @GAMMA@ * hh
        for j in range(NY):
            lj[j] = lam[j] if -lam[j] * hh > STIFF else 0.0
            inv[j] = 1.0 / (1.0 - hg * lj[j])
            g0[j] = lj[j] * y[j]
        for m in range(NSL):
            # wholly implicit, their stage equation solved in rhs_stage: not in the split's implicit part
            j = SLAVED_IDX[m]
            lj[j] = 0.0
            inv[j] = 1.0
            g0[j] = 0.0
        for m in range(ND):
            jd = DECAY_IDX[m]
            lj[jd] = 0.0
            inv[jd] = 1.0
            g0[jd] = 0.0
            if y[jd] != 0.0:
                kh = q[DECAY_Q[m]] * hh
                for r in range(1, NS):
                    ed[m, r] = exp(-kh * ARK_CF[r])
            else:
                for r in range(1, NS):
                    ed[m, r] = 0.0
        # the implicit components of this step: only they carry the implicit terms g
        ni = 0
        for j in range(NY):
            if lj[j] != 0.0:
                imp[ni] = j
                ni += 1
@STAGES@
        nsteps += 1
        if not (err == err) or err > 1e300:
            # non-finite trial step: shrink hard and retry
            h = hh * 0.1
            after_reject = True
            if h < 1e-10:
                for j in range(NY):
                    y[j] = xc[j]
                return t, h, 3, nsteps
            continue
        if err <= 1.0:
            if last:
                t = t_end
            else:
                t = t + hh
            for j in range(NY):
                y[j] = yn[j]
                xc[j] = xn[j]
            for m in range(ND):
                if abs(y[DECAY_IDX[m]]) < FLUSH * sc[DECAY_IDX[m]]:
                    y[DECAY_IDX[m]] = 0.0
                    xc[DECAY_IDX[m]] = 0.0
            rhs(t, xc, p, q, f0)
            for m in range(NL):
                if on[m] != 0.0:
                    f0[LOG_IDX[m]] /= xc[LOG_IDX[m]]
            ndiag += 1
            if ndiag >= 4:
                # the split only needs a diagonal close to the Jacobian's: refresh it every fourth step
                # (every other: same steps, 2-4 % slower; every step cost 1-8 % before)
                _diagonal(t, xc, p, q, lam, f0, on)
                ndiag = 0
            # PI step-size controller (Gustafsson 1991; Hairer & Wanner II, IV.2), k = embedded order + 1
            if err < 1e-10:
                fac = 5.0
            else:
                fac = 0.9 * exp(-@PI_A@ * log(err) + @PI_B@ * log(err_prev))
                fac = min(5.0, max(0.2, fac))
            if after_reject:
                fac = min(fac, 1.0)
            err_prev = max(err, 1e-4)
            after_reject = False
            hacc = hh
            if ncap > 0:
                ncap -= 1
            hnew = hh * fac
            if last:
                h = max(h, hnew)
            else:
                h = hnew
        else:
            h = hh * max(0.2, 0.9 * exp(-@REJ@ * log(err)))
            after_reject = True
            jmax = 0
            for j in range(NY):
                if abs(ee[j]) * dn[jmax] > abs(ee[jmax]) * dn[j]:
                    jmax = j
            # do not walk straight back into the same failure: if the worst component was implicit
            # only because of this step's length, keep the next steps short enough to leave it
            # explicit; otherwise keep them below the midpoint (geometric) of accepted and failed
            if -lam[jmax] * hh > STIFF:
                hcap = 0.95 * STIFF / (-lam[jmax])
            elif hacc > 0.0:
                hcap = sqrt(hacc * hh)
            else:
                hcap = h
            ncap = 10
            if h < 1e-10:
                for j in range(NY):
                    y[j] = xc[j]
                return t, h, 2, nsteps
    for j in range(NY):
        y[j] = xc[j]
    return t, h, 0, nsteps


@njit(cache=True, error_model='numpy')
def level(z, t2, t3, t4):
    """Severity level 0-4 of a latent: 1 from 0, then the three thresholds."""
    if z < 0.0:
        return 0
    if z < t2:
        return 1
    if z < t3:
        return 2
    if z < t4:
        return 3
    return 4


@njit(cache=True, error_model='numpy')
def _patient(i, P, t0, stops, flags, save_slot, ld_t, ld_cy, ld_flu, dose_E, dose_M, toci_mg, ctrl,
             eps_crs, eps_icans, Y, O, crs_lvl, icans_lvl, toci_day, dex_day, ist_restart, status, nsteps):
    p = P[i].copy()
    q = np.empty(NQ)
    derive(p, q)
    y = np.empty(NY)
    initial(p, q, y)
    sc = np.empty(NY)
    scales(p, q, sc)
    W = np.empty((NWORK, NY))
    ed = np.zeros((max(ND, 1), NS))
    on = np.zeros(NL + 1)
    imp = np.empty(NY, dtype=np.int64)
    o = np.empty(NO)
    rtol = ctrl[C_RTOL]
    atol = ctrl[C_ATOL]
    hmax = ctrl[C_HMAX]
    max_steps = int(ctrl[C_MAXSTEPS])
    crs_trig = int(ctrl[C_CRS_TRIG])
    toci_max = int(ctrl[C_TOCI_MAX])
    icans_trig = int(ctrl[C_ICANS_TRIG])
    dex_mg = ctrl[C_DEX_MG]
    dex_days = int(ctrl[C_DEX_DAYS])
    dex_max = int(ctrl[C_DEX_MAX])
    withdraw_day = ctrl[C_WITHDRAW]
    restart_on_flare = ctrl[C_RESTART] > 0.5
    n_check = crs_lvl.shape[1]
    t = t0
    h = 0.05
    st = 0
    ns = np.int64(0)  # not the literal 0: numba would compile _segment a second time for Literal[int](0)
    toci_n = 0
    dex_left = 0
    dex_n = 0
    flare_run = 0
    restarted = False
    for k in range(stops.shape[0]):
        tk = stops[k]
        fl = flags[k]
        has_ld = False
        for d in range(ld_t.shape[1]):
            if ld_t[i, d] == tk:
                has_ld = True
        if fl == 0 and not has_ld:
            # another patient's dose day: stopping here would make this patient's steps depend on the batch
            continue
        if tk > t:
            t, h, st, ns = _segment(t, tk, y, h, p, q, sc, rtol, atol, hmax, max_steps, ns, W, ed, on, imp)
            if st != 0:
                break
        if fl & F_SAVE:
            s = save_slot[k]
            for j in range(NY):
                Y[i, s, j] = y[j]
            outputs(t, y, p, q, o)
            for j in range(NO):
                O[i, s, j] = o[j]
        for d in range(ld_t.shape[1]):
            if ld_t[i, d] == tk:
                y[I_CCY] += ld_cy[i, d] / q[Q_VCY]
                y[I_XFLU] += ld_flu[i, d]
        if fl & F_INFUSE:
            y[I_E] += dose_E[i]
            y[I_M] += dose_M[i]
        if fl & F_WITHDRAW:
            p[I_FIST] = 1.0 + p[I_DELTA_IST]
        if fl & F_CHECK:
            dday = int(tk)
            if dday >= 0 and dday < n_check:
                outputs(t, y, p, q, o)
                lev = level(o[I_ZCRS] + eps_crs[i, dday], p[I_TCRS[0]], p[I_TCRS[1]], p[I_TCRS[2]])
                ilev = level(o[I_ZICANS] + eps_icans[i, dday], p[I_TICANS[0]], p[I_TICANS[1]], p[I_TICANS[2]])
                crs_lvl[i, dday] = lev
                icans_lvl[i, dday] = ilev
                if lev >= crs_trig and toci_n < toci_max:
                    y[I_TOC1] += toci_mg[i]
                    toci_day[i, toci_n] = tk
                    toci_n += 1
                if ilev >= icans_trig and dex_left == 0 and dex_n < dex_max:
                    dex_left = dex_days
                    dex_day[i, dex_n] = tk
                    dex_n += 1
        if (fl & F_DOSEDAY) and dex_left > 0:
            y[I_DEX] += dex_mg
            dex_left -= 1
        if (fl & F_DISEASE) and restart_on_flare and (not restarted) and tk > withdraw_day:
            if y[I_D] >= p[I_DFLARE]:
                flare_run += 1
            else:
                flare_run = 0
            if flare_run >= 2:
                p[I_FIST] = p[I_FRESTART]
                restarted = True
                ist_restart[i] = tk
    status[i] = st
    nsteps[i] = ns


@njit(cache=True, error_model='numpy', nogil=True)
def simulate_range(lo, hi, P, t0, stops, flags, save_slot, ld_t, ld_cy, ld_flu, dose_E, dose_M, toci_mg, ctrl,
                   eps_crs, eps_icans, Y, O, crs_lvl, icans_lvl, toci_day, dex_day, ist_restart, status, nsteps):
    """Patients ``lo`` … ``hi − 1``, into the caller's arrays; releases the GIL, so Python threads
    can run ranges side by side (each patient is independent: the split never changes a result)."""
    for i in range(lo, hi):
        _patient(i, P, t0, stops, flags, save_slot, ld_t, ld_cy, ld_flu, dose_E, dose_M, toci_mg, ctrl,
                 eps_crs, eps_icans, Y, O, crs_lvl, icans_lvl, toci_day, dex_day, ist_restart, status, nsteps)
'''

_K = METHOD.embedded + 1
SOLVER_SOURCE = (_SOLVER_TEMPLATE.replace("@STIFF@", repr(STIFF)).replace("@STAGES@", _step_source(METHOD))
                 .replace("@UNPACK@", _unpack_source(METHOD)).replace("@NS@", str(METHOD.stages))
                 .replace("@GAMMA@", repr(float(METHOD.gamma))).replace("@CF@", repr([float(c) for c in METHOD.c]))
                 .replace("@PI_A@", repr(0.7 / _K)).replace("@PI_B@", repr(0.4 / _K)).replace("@REJ@", repr(1.0 / _K)))
