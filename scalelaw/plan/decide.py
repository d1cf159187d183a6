"""Distil or train? Decisions with uncertainty from parameter draws of both fits.

A verdict at one (N_S, C) is the fraction of parameter draws in which the distilled student beats
supervised training of the same N_S on all of C. Draws come from the fits' bootstrap thetas (paired
by index) or, for published laws without draws, from the rounding of the printed parameters.

The crossover budget (where supervised training catches up with distillation) is ill-conditioned:
moving f1 within its printed rounding moves the 10B crossover from 6.7e23 to 1.2e25 (LAWS.md §5).
So we only ever report it as a range over draws.
"""

from __future__ import annotations

import numpy as np

from .distill import BOUNDS, check_bounds, check_student, forward_flops, parse_scenarios, solve, supervised_baseline
from .sources import PlanFit, as_planfit, rounding_draws
from .supervised import check_budget

DEFAULT_DRAWS = 64


def parameter_draws(sup: PlanFit, dist: PlanFit, n: int = DEFAULT_DRAWS, seed: int = 0):
    """(sup_thetas (K, Ps), dist_thetas (K, Pd), source) for uncertainty propagation."""
    rng = np.random.default_rng(seed)
    out, kinds = [], []
    for fit in (sup, dist):
        if fit.boot is not None and len(fit.boot):
            idx = rng.choice(len(fit.boot), size=min(n, len(fit.boot)), replace=False)
            out.append(fit.boot[np.sort(idx)])
            kinds.append("bootstrap")
        else:
            out.append(rounding_draws(fit, n, seed=seed + len(out)))
            kinds.append("rounding")
    K = min(len(out[0]), len(out[1]))
    return out[0][:K], out[1][:K], "+".join(dict.fromkeys(kinds))


def distil_or_train(sup, dist, student_N: float, compute: float, *, scenario: str = "pretraining+inference",
                    flops: str = "attention", n_draws: int = DEFAULT_DRAWS, seed: int = 0, bounds=BOUNDS,
                    **search) -> dict:
    """Point verdict and P(distillation beats supervised) over parameter draws (`bounds` as in `solve`)."""
    sup, dist = as_planfit(sup), as_planfit(dist)
    (scenario,) = parse_scenarios(scenario)
    C = check_budget(compute)
    N_S = np.array([float(student_N)])
    check_student(N_S, C, flops, bounds=bounds)
    point = solve(sup, dist, N_S, C, scenario, flops=flops, bounds=bounds, **search)
    L_sup, _ = supervised_baseline(sup, N_S, C, flops=flops)
    st, dt, kind = parameter_draws(sup, dist, n_draws, seed)
    K = len(st)
    draws = solve(sup, dist, np.repeat(N_S, K), np.repeat(C, K), scenario, flops=flops,
                  sup_theta=st, dist_theta=dt, bounds=bounds, **search)
    L_sup_d, _ = supervised_baseline(sup, np.repeat(N_S, K), np.repeat(C, K), flops=flops, sup_theta=st)
    wins = draws["L_S"] < L_sup_d
    return {
        "student_N": float(student_N), "compute": float(C[0]), "scenario": scenario, "flops": flops,
        "verdict": "distil" if point["L_S"][0] < L_sup[0] else "train",
        "student_loss": float(point["L_S"][0]), "supervised_loss": float(L_sup[0]),
        "p_distil_wins": float(wins.mean()), "n_draws": int(K), "draws": kind,
    }


def crossover_budget(sup, dist, student_N: float, *, scenario: str = "pretraining+inference",
                     flops: str = "attention", c_min: float = 1e18, c_max: float = 1e27, points: int = 37,
                     n_draws: int = DEFAULT_DRAWS, seed: int = 0, level: float = 0.9, bounds=BOUNDS,
                     **search) -> dict:
    """Budget at which supervised training catches up with distillation, as a range over draws.

    For each draw, the first budget on a log grid where L_S >= L_supervised after distillation had
    been winning, interpolated linearly in log C. Draws where distillation never wins, or still
    wins at c_max, are counted separately instead of being forced into the range.
    """
    sup, dist = as_planfit(sup), as_planfit(dist)
    (scenario,) = parse_scenarios(scenario)
    grid = np.logspace(np.log10(c_min), np.log10(c_max), points)
    N_S = float(student_N)
    # budgets too small to train the student on the fewest tokens allowed are skipped (the grid is ours)
    lo, _ = check_bounds(bounds)
    grid = grid[grid / 3.0 >= lo * forward_flops(N_S, flops)]
    st, dt, kind = parameter_draws(sup, dist, n_draws, seed)
    K, G = len(st), grid.size
    rows_sup, rows_dist = np.repeat(st, G, axis=0), np.repeat(dt, G, axis=0)
    Cs, Ns = np.tile(grid, K), np.full(K * G, N_S)
    r = solve(sup, dist, Ns, Cs, scenario, flops=flops, sup_theta=rows_sup, dist_theta=rows_dist, bounds=bounds,
              **search)
    L_sup, _ = supervised_baseline(sup, Ns, Cs, flops=flops, sup_theta=rows_sup)
    gap = (r["L_S"] - L_sup).reshape(K, G)  # < 0: distillation wins
    found = np.full(K, np.nan)
    never = above = 0
    lg = np.log10(grid)
    for k in range(K):
        wins = gap[k] < 0
        if not wins.any():
            never += 1
            continue
        after = np.flatnonzero(~wins & (np.arange(G) > np.flatnonzero(wins)[0]))
        if after.size == 0:
            above += 1
            continue
        j = after[0]
        t = gap[k, j - 1] / (gap[k, j - 1] - gap[k, j])
        found[k] = 10 ** (lg[j - 1] + t * (lg[j] - lg[j - 1]))
    ok = found[np.isfinite(found)]
    q = [50 * (1 - level), 50, 50 * (1 + level)]
    lo, med, hi = (float(x) for x in np.percentile(ok, q)) if ok.size else (None, None, None)
    return {
        "student_N": N_S, "scenario": scenario, "flops": flops, "level": level,
        "low": lo, "median": med, "high": hi,
        "n_draws": int(K), "n_found": int(ok.size), "n_never_wins": int(never), "n_beyond_range": int(above),
        "range_searched": [float(grid[0]), float(grid[-1])], "draws": kind,
    }

