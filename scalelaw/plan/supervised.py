"""Compute-optimal supervised training for any fitted L(N, D) law.

Given a budget C and a FLOP convention (C = 6ND, or C = 3F(N)D with attention and vocabulary
terms), find N*(C) = argmin_N L(N, D(N, C)) and D*(C) = D(N*, C). Chinchilla under 6ND has a closed
form (Hoffmann et al. 2022, App. A; LAWS.md §1); every other law/convention is solved numerically by
a 1-D search over log N on the constraint, vectorised over budgets and bootstrap draws. Laws
without a loss floor (Farseer, LAWS.md §2) can have no interior optimum: the point estimate then
refuses, and draws that run to a bound are counted and reported. A fit carrying a backtest
calibration also gets calibrated intervals: the planned run's loss, and the near-optimal range of
N, D (`calibrated_plan_intervals`).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from ..errors import ScalelawWarning, UserError
from ..flops import BUSBRIDGE2025, CONVENTIONS, FlopPreset, flops_per_token
from ..laws.evaluate import log_loss
from .search import newton_polish, zoom_minimise
from .sources import as_planfit

#: model-size search range (parameters) and the fewest tokens a run may see
N_BOUNDS = (1e6, 1e17)
D_MIN = 1e6
#: budgets beyond this are treated as typos (the largest runs to date are ~1e26)
C_MAX = 1e35
#: warn when C is this many times outside the fitted data's compute range
EXTRAPOLATION_WARN = 10.0


def check_budget(C, what: str = "compute") -> np.ndarray:
    C = np.atleast_1d(np.asarray(C, dtype=np.float64))
    bad = ~np.isfinite(C) | (C <= 0) | (C > C_MAX)
    if bad.any():
        raise UserError(f"--{what} {C[bad][0]:.4g}: expected a positive number of FLOPs below {C_MAX:.0e}")
    return C


def check_convention(flops: str) -> str:
    if flops not in CONVENTIONS:
        raise UserError(f"--flops {flops!r}: expected one of {', '.join(CONVENTIONS)}")
    return flops


def max_params(C, d_min: float, flops: str, preset: FlopPreset = BUSBRIDGE2025) -> np.ndarray:
    """Largest N that still trains on d_min tokens within C (bisection in log N; flops grow with N)."""
    C = np.asarray(C, dtype=np.float64)
    lo, hi = np.full(C.shape, np.log(1.0)), np.full(C.shape, np.log(1e30))
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        ok = flops_per_token(np.exp(mid), flops, preset) * d_min <= C
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    return np.exp(lo)


def chinchilla_closed_form(params: dict, C):
    """N*, D* for L = E + A/N^alpha + B/D^beta under C = 6ND (LAWS.md §1)."""
    from ..laws.chinchilla import compute_optimal

    return compute_optimal(params["A"], params["B"], params["alpha"], params["beta"], C)


def optimal_allocation(law, theta, C, *, flops: str = "6nd", preset: FlopPreset = BUSBRIDGE2025,
                       n_bounds=N_BOUNDS, d_min: float = D_MIN, method: str = "auto") -> dict:
    """Arrays N, D, loss, interior (bool) of shape (B,) for budgets C (B,).

    theta is (P,) (one fit) or (B, P) (one parameter vector per budget, e.g. bootstrap draws).
    method: "auto" (closed form when it exists), "closed-form" or "numeric".
    """
    C = np.asarray(C, dtype=np.float64).reshape(-1)
    theta = np.asarray(theta, dtype=np.float64)
    if law.kind == "frontier":  # a measured frontier (isoFLOP Approach 2): N*(C) directly, no search
        if flops != law.extra.get("flops", flops):
            raise UserError(f"law {law.name!r} was fitted under C = 6ND; --flops {flops} does not apply to it")
        from ..laws.isoflop import allocate

        return allocate(theta, C)
    lo = np.full(C.shape, np.log(n_bounds[0]))
    hi = np.log(np.minimum(n_bounds[1], max_params(C, d_min, flops, preset)))
    if np.any(hi <= lo):
        c = C[hi <= lo][0]
        raise UserError(f"--compute {c:.4g}: too small to train even N={n_bounds[0]:.3g} parameters on "
                        f"{d_min:.3g} tokens under --flops {flops}")
    closed = law.name == "chinchilla" and flops == "6nd"
    if method == "closed-form" and not closed:
        raise UserError(f"no closed form for law {law.name!r} under --flops {flops}")
    if closed and method != "numeric":
        nat = law.natural(theta) if theta.ndim == 1 else _natural_rows(law, theta)
        N, _ = chinchilla_closed_form(nat, C)
        x = np.log(N)
        interior = (x > lo) & (x < hi)
        x = np.clip(x, lo, hi)
        used = "closed-form"
    else:
        def g(X):  # X (B, M) of log N -> log loss along the budget constraint
            N = np.exp(X)
            return log_loss(law, theta, N=N, D=C[:, None] / flops_per_token(N, flops, preset))

        def f(X):
            return g(X[..., 0])

        res = zoom_minimise(f, lo[:, None], hi[:, None], n_grid=64, n_starts=8, rounds=16)
        x = newton_polish(f, res.x, lo[:, None], hi[:, None])[:, 0]
        tol = 1e-3
        interior = (x - lo > tol) & (hi - x > tol)
        used = "numeric"
    N = np.exp(x)
    D = C / flops_per_token(N, flops, preset)
    L = np.exp(log_loss(law, theta, N=N, D=D))
    return {"N": N, "D": D, "loss": L, "interior": interior, "method": used}


def _natural_rows(law, thetas) -> dict:
    rows = [law.natural(t) for t in thetas]
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


@dataclass
class SupervisedPlan:
    compute: float
    N: float
    D: float
    loss: float
    tokens_per_param: float
    flops: str
    method: str
    law: str
    interior: bool = True
    #: percentile intervals over bootstrap draws: {"N": [lo, hi], ...}, with their level
    interval: Optional[dict] = None
    level: Optional[float] = None
    n_boot: int = 0
    n_boot_at_bound: int = 0
    #: with the fit's backtest calibration (calibrate.py): the planned run's calibrated loss interval
    #: and, with bootstrap draws, the near-optimal range of N, D (see `calibrated_plan_intervals`)
    calibrated_interval: Optional[dict] = None
    #: how many times C lies outside the fitted data's compute range (1 = inside; None = unknown)
    extrapolation: Optional[float] = None
    warnings: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def data_compute_range(data_range: Optional[dict], flops: str, preset: FlopPreset = BUSBRIDGE2025):
    """(C_min, C_max) spanned by the fitted data, from a fit's data_range, or None.

    Uses the runs with the least and most compute when the fit recorded them; otherwise (older fit
    files, published sets) the corners of the N and D ranges, which can overstate the range.
    """
    if not data_range:
        return None
    if "ND_at_C_min" in data_range and "ND_at_C_max" in data_range:
        (n0, d0), (n1, d1) = data_range["ND_at_C_min"], data_range["ND_at_C_max"]
        return float(flops_per_token(n0, flops, preset) * d0), float(flops_per_token(n1, flops, preset) * d1)
    if "N" in data_range and "D" in data_range:
        (n0, n1), (d0, d1) = data_range["N"], data_range["D"]
        return float(flops_per_token(n0, flops, preset) * d0), float(flops_per_token(n1, flops, preset) * d1)
    return None


def plan_supervised(fit, compute, *, flops: str = "6nd", preset: FlopPreset = BUSBRIDGE2025,
                    level: float = 0.9, n_bounds=N_BOUNDS, d_min: float = D_MIN,
                    strict: bool = True) -> list[SupervisedPlan]:
    """Compute-optimal N, D, loss for each budget in `compute`, with bootstrap intervals if the fit has draws.

    N is searched in `n_bounds` (default the paper's [1e6, 1e17]), and never so large that fewer than
    `d_min` tokens remain; laws fitted on small models need both lowered.

    strict: a point estimate without an interior optimum raises UserError (else: a loud warning and
    interior=False in the plan, for frontiers).
    """
    fit = as_planfit(fit)
    check_convention(flops)
    C = check_budget(compute)
    law = fit.law
    best = optimal_allocation(law, fit.theta, C, flops=flops, preset=preset, n_bounds=n_bounds, d_min=d_min)
    crange = data_compute_range(fit.data_range, flops, preset)

    boot = None
    if fit.boot is not None and len(fit.boot):
        K = fit.boot.shape[0]
        boot = optimal_allocation(law, np.repeat(fit.boot, C.size, axis=0), np.tile(C, K),
                                  flops=flops, preset=preset, n_bounds=n_bounds, d_min=d_min)
        boot = {k: (v.reshape(K, C.size) if isinstance(v, np.ndarray) else v) for k, v in boot.items()}

    cal = None
    if fit.calibration and law.kind != "frontier":
        cal = calibrated_plan_intervals(fit, C, best, level, flops=flops, preset=preset, n_bounds=n_bounds,
                                        d_min=d_min)

    plans = []
    for i, c in enumerate(C):
        msgs = []
        if not best["interior"][i]:
            side = "largest" if best["N"][i] > np.sqrt(n_bounds[0] * n_bounds[1]) else "smallest"
            msg = (f"no interior optimum at C={c:.3g}: law {law.name!r} keeps improving toward the {side} "
                   f"allowed model (N={best['N'][i]:.3g}, bounds [{n_bounds[0]:.3g}, {n_bounds[1]:.3g}]); "
                   "a law without a floor, e.g. Farseer, does this; a local optimum may exist inside a smaller "
                   "range: try --n-max")
            if strict:
                raise UserError(msg)
            msgs.append(msg)
        plan = SupervisedPlan(
            compute=float(c), N=float(best["N"][i]), D=float(best["D"][i]), loss=float(best["loss"][i]),
            tokens_per_param=float(best["D"][i] / best["N"][i]), flops=flops, method=best["method"],
            law=law.name, interior=bool(best["interior"][i]),
        )
        if boot is not None:
            ok = boot["interior"][:, i]
            plan.n_boot, plan.n_boot_at_bound = int(ok.size), int((~ok).sum())
            if plan.n_boot_at_bound:
                msgs.append(f"{plan.n_boot_at_bound} of {ok.size} bootstrap draws have no interior optimum at "
                            f"C={c:.3g}; intervals use the other draws")
            if ok.any():
                q = [50 * (1 - level), 50 * (1 + level)]
                vals = {"N": boot["N"][ok, i], "D": boot["D"][ok, i], "loss": boot["loss"][ok, i]}
                vals["tokens_per_param"] = vals["D"] / vals["N"]
                plan.interval = {k: [float(x) for x in np.percentile(v, q)] for k, v in vals.items()}
                plan.level = level
        if cal is not None:
            plan.calibrated_interval = _calibrated_entry(cal, i, plan, level, flops, preset)
        if crange is not None:
            factor = max(c / crange[1], crange[0] / c, 1.0)
            plan.extrapolation = float(factor)
            if factor > law.extra.get("extrapolation_warn", EXTRAPOLATION_WARN):
                msgs.append(f"C={c:.3g} is {factor:.3g}x outside the fitted data's compute range "
                            f"[{crange[0]:.3g}, {crange[1]:.3g}] ({flops}): this is an extrapolation")
        for m in msgs:
            warnings.warn(m, ScalelawWarning, stacklevel=2)
        plan.warnings = msgs
        plans.append(plan)
    return plans


#: what the calibrated N, D range means, carried into the JSON and printed with the table
NEAR_OPTIMAL_MEANING = (
    "near-optimal range: the sizes N (with D from the budget) whose predicted loss is within the law's "
    "calibrated uncertainty at the plan (parameter noise + misspecification, not run-to-run scatter) of the "
    "optimum's, joined with the bootstrap interval of N*; the forecast cannot tell these choices apart")


def calibrated_plan_intervals(fit, C, best: dict, level: float, *, flops: str, preset: FlopPreset,
                              n_bounds, d_min: float) -> dict:
    """Calibrated intervals of the plans at budgets C (B,) for a fit carrying a backtest calibration.

    Loss: the calibrated prediction interval of a run at the planned (N*, D*), the same interval
    `predict` gives there (`calibrate.calibrated_interval`: bootstrap band of the curve widened by
    the run-to-run scatter and the extrapolation term).

    N and D (only with bootstrap draws, which measure the curve's parameter noise). The backtests
    calibrate the error of predicted *losses*; they say nothing directly about where the optimum
    lies. What that error does imply for a user choosing a size: along the budget constraint the
    loss is flat near the optimum, so every allocation whose predicted loss exceeds the optimum's by
    less than the law's own calibrated uncertainty w at the plan is a choice the forecast cannot tell
    apart from N*. The range reported is that contiguous set {N : ln L(N, D(N, C)) <= ln L* + w}
    around N*, with w the upper log half-width of the calibrated interval at (N*, D*) without the
    run-to-run scatter (seed noise hits every size alike and does not move the expected-loss
    optimum; parameter noise and misspecification do). Because w grows with the extrapolation
    distance of the plan, so does the range; inside the data it is set by the bootstrap alone. The
    range is joined with the bootstrap interval of N* (per-draw optima) when the plan reports one.
    Each side is found on a grid from N* outward and refined by bisection; a side that stays
    within w up to the search bound ends there and is flagged in `N_at_bound`.

    Returns {"loss_lo", "loss_hi", "distance", "w", "N_lo", "N_hi", "at_bound", "cal"} as arrays
    over budgets (the N entries only with draws).
    """
    from dataclasses import replace

    from ..fit.calibrate import Calibration, calibrated_interval

    cal = Calibration.from_dict(fit.calibration)
    view = fit.as_fit_result()
    N0, D0 = np.asarray(best["N"], float), np.asarray(best["D"], float)
    pred, lo, hi = calibrated_interval(view, cal, level, N0, D0)
    out = {"loss_lo": np.atleast_1d(lo), "loss_hi": np.atleast_1d(hi),
           "distance": np.atleast_1d(np.asarray(cal.distance(N0, D0), float)), "cal": cal}
    if view.boot is None:
        return out
    _, _, hi_curve = calibrated_interval(view, replace(cal, scatter=0.0), level, N0, D0)
    w = np.maximum(np.log(np.atleast_1d(hi_curve) / np.atleast_1d(pred)), 0.0)
    # both sides of every budget at once: rows (budget, side), side 0 toward the smallest N
    x0 = np.repeat(np.log(N0), 2)
    bound = np.stack([np.full(C.shape, np.log(n_bounds[0])),
                      np.log(np.minimum(n_bounds[1], max_params(C, d_min, flops, preset)))], axis=1).ravel()
    Cs, top = np.repeat(C, 2), np.repeat(np.log(pred) + w, 2)

    def excess(X):  # log loss along the budget constraint above the near-optimal level (<= 0: inside)
        N = np.exp(X)
        return log_loss(fit.law, fit.theta, N=N, D=Cs[:, None] / flops_per_token(N, flops, preset)) - top[:, None]

    t = np.linspace(0.0, 1.0, 129)
    X = x0[:, None] + t[None, :] * (bound - x0)[:, None]
    outside = excess(X) > 0
    outside[:, 0] = False  # N* itself is always inside
    at_bound = ~outside.any(axis=1)
    j = np.where(at_bound, t.size - 1, np.argmax(outside, axis=1))
    rows = np.arange(X.shape[0])
    a, b = X[rows, np.maximum(j - 1, 0)], X[rows, j]  # a inside, b outside (or the bound)
    for _ in range(40):
        m = 0.5 * (a + b)
        ins = excess(m[:, None])[:, 0] <= 0
        a, b = np.where(ins, m, a), np.where(ins, b, m)
    edge = np.where(at_bound, bound, a).reshape(C.size, 2)
    out.update(w=w, N_lo=np.exp(edge[:, 0]), N_hi=np.exp(edge[:, 1]), at_bound=at_bound.reshape(C.size, 2))
    return out


def _calibrated_entry(cal: dict, i: int, plan: SupervisedPlan, level: float, flops: str, preset: FlopPreset) -> dict:
    """The plan's `calibrated_interval` document at budget index i from `calibrated_plan_intervals`."""
    c = cal["cal"]
    doc = {"loss": [float(cal["loss_lo"][i]), float(cal["loss_hi"][i])], "level": level,
           "extrapolation_distance": float(cal["distance"][i]), "calibrated": bool(c.calibrated), "note": c.note}
    if "N_lo" not in cal or not plan.interior:
        return doc
    n_lo, n_hi = float(cal["N_lo"][i]), float(cal["N_hi"][i])
    if plan.interval:  # never narrower than the parameter-noise interval of N* alone
        n_lo, n_hi = min(n_lo, plan.interval["N"][0]), max(n_hi, plan.interval["N"][1])
    d_hi, d_lo = (float(plan.compute / flops_per_token(n, flops, preset)) for n in (n_lo, n_hi))
    doc.update(N=[n_lo, n_hi], D=[d_lo, d_hi], tokens_per_param=[d_lo / n_hi, d_hi / n_lo],
               near_optimal_log_loss=float(cal["w"][i]), N_at_bound=[bool(x) for x in cal["at_bound"][i]],
               meaning=NEAR_OPTIMAL_MEANING)
    return doc
