"""Source of the compiled solver, appended to every generated kernel module.

Dormand–Prince 5(4) with FSAL and per-state error weights (``atol * scale_i + rtol * |y_i|``),
integrating patient by patient between *stops* (save times, dose days, daily checks). At each stop
the kernel applies that patient's events in a fixed order — save (pre-dose), lymphodepletion doses,
infusion, immunosuppressant withdrawal, daily CRS/ICANS check with protocol rescue, dexamethasone
doses, flare check — and restarts the integration, so doses are jumps, never smoothed.

Failures are data: a patient whose integration fails keeps ``NaN`` from the failure on and gets a
status code (see :class:`cartlab.model.SolveStatus`); the batch goes on.
"""

SOLVER_SOURCE = r'''
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
NCTRL = 11

A21 = 1.0 / 5.0
A31 = 3.0 / 40.0
A32 = 9.0 / 40.0
A41 = 44.0 / 45.0
A42 = -56.0 / 15.0
A43 = 32.0 / 9.0
A51 = 19372.0 / 6561.0
A52 = -25360.0 / 2187.0
A53 = 64448.0 / 6561.0
A54 = -212.0 / 729.0
A61 = 9017.0 / 3168.0
A62 = -355.0 / 33.0
A63 = 46732.0 / 5247.0
A64 = 49.0 / 176.0
A65 = -5103.0 / 18656.0
B1 = 35.0 / 384.0
B3 = 500.0 / 1113.0
B4 = 125.0 / 192.0
B5 = -2187.0 / 6784.0
B6 = 11.0 / 84.0
E1 = 71.0 / 57600.0
E3 = -71.0 / 16695.0
E4 = 71.0 / 1920.0
E5 = -17253.0 / 339200.0
E6 = 22.0 / 525.0
E7 = -1.0 / 40.0


@njit(cache=True)
def _segment(t, t_end, y, h, p, q, sc, rtol, atol, hmax, max_steps, nsteps,
             k1, k2, k3, k4, k5, k6, k7, yt, yn):
    rhs(t, y, p, q, k1)
    while t < t_end:
        if nsteps >= max_steps:
            return t, h, 1, nsteps
        last = False
        hh = min(h, hmax)
        if t + hh >= t_end:
            hh = t_end - t
            last = True
        for j in range(NY):
            yt[j] = y[j] + hh * A21 * k1[j]
        rhs(t + 0.2 * hh, yt, p, q, k2)
        for j in range(NY):
            yt[j] = y[j] + hh * (A31 * k1[j] + A32 * k2[j])
        rhs(t + 0.3 * hh, yt, p, q, k3)
        for j in range(NY):
            yt[j] = y[j] + hh * (A41 * k1[j] + A42 * k2[j] + A43 * k3[j])
        rhs(t + 0.8 * hh, yt, p, q, k4)
        for j in range(NY):
            yt[j] = y[j] + hh * (A51 * k1[j] + A52 * k2[j] + A53 * k3[j] + A54 * k4[j])
        rhs(t + hh * (8.0 / 9.0), yt, p, q, k5)
        for j in range(NY):
            yt[j] = y[j] + hh * (A61 * k1[j] + A62 * k2[j] + A63 * k3[j] + A64 * k4[j] + A65 * k5[j])
        rhs(t + hh, yt, p, q, k6)
        for j in range(NY):
            yn[j] = y[j] + hh * (B1 * k1[j] + B3 * k3[j] + B4 * k4[j] + B5 * k5[j] + B6 * k6[j])
        rhs(t + hh, yn, p, q, k7)
        err = 0.0
        for j in range(NY):
            e = hh * (E1 * k1[j] + E3 * k3[j] + E4 * k4[j] + E5 * k5[j] + E6 * k6[j] + E7 * k7[j])
            s = atol * sc[j] + rtol * max(abs(y[j]), abs(yn[j]))
            err += (e / s) * (e / s)
        err = sqrt(err / NY)
        nsteps += 1
        if not (err == err) or err > 1e300:
            # non-finite trial step: shrink hard and retry
            h = hh * 0.1
            if h < 1e-10:
                return t, h, 3, nsteps
            continue
        if err <= 1.0:
            if last:
                t = t_end
            else:
                t = t + hh
            for j in range(NY):
                y[j] = yn[j]
                k1[j] = k7[j]
            if err == 0.0:
                fac = 5.0
            else:
                fac = min(5.0, max(0.2, 0.9 * err ** -0.2))
            hnew = hh * fac
            if last:
                h = max(h, hnew)
            else:
                h = hnew
        else:
            h = hh * max(0.2, 0.9 * err ** -0.2)
            if h < 1e-10:
                return t, h, 2, nsteps
    return t, h, 0, nsteps


@njit(cache=True)
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


@njit(cache=True)
def _patient(i, P, t0, stops, flags, save_slot, ld_t, ld_cy, ld_flu, dose_E, dose_M, toci_mg, ctrl,
             eps_crs, eps_icans, Y, O, crs_lvl, icans_lvl, toci_day, dex_day, ist_restart, status, nsteps):
    p = P[i].copy()
    q = np.empty(NQ)
    derive(p, q)
    y = np.empty(NY)
    initial(p, q, y)
    sc = np.empty(NY)
    scales(p, q, sc)
    k1 = np.empty(NY)
    k2 = np.empty(NY)
    k3 = np.empty(NY)
    k4 = np.empty(NY)
    k5 = np.empty(NY)
    k6 = np.empty(NY)
    k7 = np.empty(NY)
    yt = np.empty(NY)
    yn = np.empty(NY)
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
    withdraw_day = ctrl[C_WITHDRAW]
    restart_on_flare = ctrl[C_RESTART] > 0.5
    n_check = crs_lvl.shape[1]
    n_dex = dex_day.shape[1]
    t = t0
    h = 0.05
    st = 0
    ns = 0
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
            t, h, st, ns = _segment(t, tk, y, h, p, q, sc, rtol, atol, hmax, max_steps, ns,
                                    k1, k2, k3, k4, k5, k6, k7, yt, yn)
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
                y[I_CCY] += ld_cy[i, d]
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
                if ilev >= icans_trig and dex_left == 0:
                    dex_left = dex_days
                    if dex_n < n_dex:
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


@njit(cache=True, parallel=True)
def simulate_batch(P, t0, stops, flags, save_slot, n_save, ld_t, ld_cy, ld_flu, dose_E, dose_M, toci_mg, ctrl,
                   eps_crs, eps_icans, toci_max, dex_max):
    n = P.shape[0]
    n_check = eps_crs.shape[1]
    Y = np.full((n, n_save, NY), np.nan)
    O = np.full((n, n_save, NO), np.nan)
    crs_lvl = np.zeros((n, n_check), np.int8)
    icans_lvl = np.zeros((n, n_check), np.int8)
    toci_day = np.full((n, max(toci_max, 1)), np.nan)
    dex_day = np.full((n, max(dex_max, 1)), np.nan)
    ist_restart = np.full(n, np.nan)
    status = np.zeros(n, np.int8)
    nsteps = np.zeros(n, np.int32)
    for i in prange(n):
        _patient(i, P, t0, stops, flags, save_slot, ld_t, ld_cy, ld_flu, dose_E, dose_M, toci_mg, ctrl,
                 eps_crs, eps_icans, Y, O, crs_lvl, icans_lvl, toci_day, dex_day, ist_restart, status, nsteps)
    return Y, O, crs_lvl, icans_lvl, toci_day, dex_day, ist_restart, status, nsteps
'''
