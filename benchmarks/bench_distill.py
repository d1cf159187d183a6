"""Distillation-law fit: our search vs L-BFGS-B from the paper-style start grid, side by side.

Data: the shipped synthetic file (744 students, Table 6 parameters, 0.5% noise). Ltilde_S comes
from the published supervised law, so this times the distillation stage alone.

  ours   : objective at all 216,000 grid points (one vectorised pass), then the engine's batched
           Newton (race + polish) from the best N_REFINE of them and a long polish of the
           winner (scalelaw.fit.distill.search_students, exactly as fit_distill does);
  brute  : scipy L-BFGS-B (JAX gradients) from R starts drawn uniformly from the same 216,000-point
           grid (the paper's procedure on a reduced grid; its time per start is extrapolated to all
           216,000).

With --boot K > 0 it also times K bootstrap resamples solved from the warm start alone (the
paper's and Epoch's way) and from the fit's BOOT_STARTS leading optima (fit_distill's default),
including the search for those optima.

Prints wall times, best objectives and their ratio. Run:
    python benchmarks/bench_distill.py [--brute-starts 300] [--seed 0] [--boot 50]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--brute-starts", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--boot", type=int, default=0)
    ap.add_argument("--data", default=str(ROOT / "data" / "synthetic_distill_busbridge2025.csv"))
    args = ap.parse_args()

    from scalelaw._jax import x64

    x64()
    import jax
    import jax.numpy as jnp
    from scipy.optimize import minimize

    import warnings

    from scalelaw.fit.distill import N_REFINE, grid_starts, search_students, split_roles, student_logs
    from scalelaw.fit.solver import objective
    from scalelaw.laws.busbridge import CHINCHILLA_GAMMA, DISTILL, PUBLISHED_SUPERVISED

    _, students = split_roles(args.data)
    l_sup = CHINCHILLA_GAMMA.predict_natural(PUBLISHED_SUPERVISED, N=students.column("N"), D=students.column("D"))
    logs, log_y = student_logs(students, l_sup)
    delta = DISTILL.default_delta
    print(f"{len(log_y)} students from {args.data}")

    grid = DISTILL.grid()
    t0 = time.perf_counter()
    starts = grid_starts(logs, log_y, delta=delta)
    t_grid = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = search_students(students, logs, log_y, l_sup, starts, delta=delta)
    t_solve = time.perf_counter() - t0
    best, n_best = fit.objective, fit.n_best
    print(f"ours : grid of {len(grid)} evaluated in {t_grid:.1f} s; solver from best {N_REFINE}: {t_solve:.1f} s "
          f"(total {t_grid + t_solve:.1f} s, incl. JIT); best objective {best:.9e} reached by {n_best} starts; "
          f"status {fit.status}")

    if args.boot > 0:
        bench_bootstrap(fit, logs, log_y, starts, args.boot)

    jl = {k: jnp.asarray(v) for k, v in logs.items()}
    jy, w = jnp.asarray(log_y), jnp.ones(len(log_y))
    vg = jax.jit(jax.value_and_grad(lambda th: objective(DISTILL, th, jl, jy, w, delta)))
    vg(jnp.asarray(grid[0]))  # compile

    def fg(th):
        v, g = vg(jnp.asarray(th))
        v, g = float(v), np.asarray(g, dtype=np.float64)
        return (v, g) if np.isfinite(v) and np.all(np.isfinite(g)) else (1e10, np.zeros_like(g))

    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(grid), size=min(args.brute_starts, len(grid)), replace=False)
    bounds = list(zip(DISTILL.lower, DISTILL.upper))
    t0 = time.perf_counter()
    brute = [minimize(fg, grid[i], jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12}).fun for i in pick]
    t_brute = time.perf_counter() - t0
    b_best = float(np.min(brute))
    per = t_brute / len(pick)
    print(f"brute: L-BFGS-B from {len(pick)} random grid starts in {t_brute:.1f} s ({per * 1e3:.0f} ms/start; "
          f"all 216,000 would take ~{per * 216000 / 3600:.1f} h); best objective {b_best:.9e}; "
          f"{int(np.sum(np.asarray(brute) <= b_best * (1 + 1e-6)))} starts reached it")
    print(f"ratio ours/brute objective: {best / b_best:.8f} (<= 1 means ours is at least as good); "
          f"time ratio brute(216k, extrapolated)/ours: {per * 216000 / (t_grid + t_solve):.0f}x")


def bench_bootstrap(fit, logs, log_y, starts, n_boot: int) -> None:
    import warnings

    from scalelaw.fit.distill import BOOT_STARTS, leading_optima, multistart_bootstrap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        warm = multistart_bootstrap(logs, log_y, fit.theta[None, :], delta=fit.delta, n_boot=n_boot, seed=0)
        t_warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        leads = leading_optima(fit, logs, log_y, starts, k=BOOT_STARTS)
        t_leads = time.perf_counter() - t0
        multi = multistart_bootstrap(logs, log_y, leads, delta=fit.delta, n_boot=n_boot, seed=0)
        t_multi = time.perf_counter() - t0
    print(f"bootstrap, {n_boot} resamples: warm start only {t_warm:.1f} s ({warm.n_failed} at the iteration limit); "
          f"from {len(leads)} leading optima {t_multi:.1f} s incl. {t_leads:.1f} s finding them "
          f"({multi.n_failed} at the limit); ratio {t_multi / t_warm:.1f}x")


if __name__ == "__main__":
    main()
