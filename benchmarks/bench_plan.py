"""Distillation planner speed and accuracy: ours vs a plain per-cell scipy SLSQP, side by side.

Grid: 8 student sizes {300M, 500M, 1B, 3B, 5B, 10B, 30B, 50B} x 7 budgets {1e20 ... 1e26} x
4 scenarios = 224 problems, published parameters (Busbridge et al. 2025, Table 6), F(N) with
n_vocab 32168 (attention convention).

  ours     : scalelaw.plan.plan_distillation (one batched grid + restarts + zoom + Newton polish
             per scenario, all cells at once); timed cold (incl. JIT compilation) and warm.
  baseline : what the paper did, cell by cell: scipy SLSQP over (log D_S, log N_T, log D_T) with
             the compute equality as a constraint, bounds [1e6, 1e17], one start (best case:
             bounded 1-D search over log L_T); the loss is the same law code, jitted per point.

Also a single `scalelaw plan distill ...` query from a cold start (subprocess wall time).
Prints times, their ratio, and how often each method is worse than the other by > 1e-4 nats.
    python benchmarks/bench_plan.py
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings

import numpy as np

STUDENTS = [3e8, 5e8, 1e9, 3e9, 5e9, 1e10, 3e10, 5e10]
BUDGETS = [10.0**k for k in range(20, 27)]
SCENARIOS = {"best": (0, 0), "inference": (1, 0), "pretraining": (0, 1), "pretraining+inference": (1, 1)}


def baseline(sup, dist, cells):
    """Per-cell scipy SLSQP (the paper's method), loss from the same law functions."""
    import jax
    import jax.numpy as jnp
    from scipy.optimize import minimize, minimize_scalar

    from scalelaw.flops import forward_flops_per_token as F

    @jax.jit
    def log_ls(logN_S, logD_S, logL_T):
        l_sup = jnp.exp(sup.law.log_predict(sup.theta, {"N": logN_S, "D": logD_S}))
        return dist.law.log_predict(dist.theta, {"N": logN_S, "D": logD_S, "L_T": logL_T, "L_sup": jnp.log(l_sup)})

    @jax.jit
    def log_lt(logN, logD):
        return sup.law.log_predict(sup.theta, {"N": logN, "D": logD})

    lo, hi = np.log(1e6), np.log(1e17)
    out = {}
    for N_S, C in cells:
        lN = np.log(N_S)
        fS = float(F(N_S))
        for name, (dl, dp) in SCENARIOS.items():
            if name == "best":
                lD = np.log(C / (3 * fS))
                a, b = float(log_lt(hi, hi)), float(log_lt(lo, lo))
                r = minimize_scalar(lambda x: float(log_ls(lN, lD, x)), bounds=(a, b), method="bounded")
                out[(N_S, C, name)] = float(np.exp(r.fun))
                continue

            def obj(x):
                return float(log_ls(lN, x[0], log_lt(x[1], x[2])))

            def cons(x):
                fT = float(F(np.exp(x[1])))
                return (3 * fS * np.exp(x[0]) + fT * (dl * np.exp(x[0]) + dp * 3 * np.exp(x[2]))) / C - 1.0

            x0 = np.log([C / (6 * fS), N_S, 20 * N_S])
            x0[0] = np.log(max(1e6, 0.5 * C / (3 * fS + dl * F(N_S) + dp * 3 * F(N_S) * 20 * N_S / np.exp(x0[0]))))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = minimize(obj, x0, method="SLSQP", bounds=[(lo, hi)] * 3,
                             constraints=[{"type": "eq", "fun": cons}], options={"maxiter": 500, "ftol": 1e-12})
            ok = abs(cons(r.x)) < 1e-6
            out[(N_S, C, name)] = float(np.exp(obj(r.x))) if ok else np.inf
    return out


def main() -> None:
    from scalelaw.plan import load_plan_fit, plan_distillation

    sup, dist = load_plan_fit("busbridge2025")
    cells = [(n, c) for c in BUDGETS for n in STUDENTS]
    NS, C = np.array(cells).T

    t = time.perf_counter()
    plans = plan_distillation(sup, dist, NS, C)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    plans = plan_distillation(sup, dist, NS, C)
    warm = time.perf_counter() - t
    ours = {(p.student_N, p.compute, s.scenario): s.student_loss for p in plans for s in p.scenarios}

    t = time.perf_counter()
    base = baseline(sup, dist, cells)
    t_base = time.perf_counter() - t

    d = np.array([base[k] - ours[k] for k in ours])
    print(f"grid: {len(STUDENTS)} students x {len(BUDGETS)} budgets x {len(SCENARIOS)} scenarios = {len(ours)} problems")
    print(f"ours     : {cold:7.2f} s cold (incl. JIT), {warm:6.2f} s warm")
    print(f"baseline : {t_base:7.2f} s (per-cell scipy SLSQP)")
    print(f"speed-up : {t_base / cold:7.1f}x cold, {t_base / warm:.1f}x warm")
    print(f"baseline worse than ours by > 1e-4 nats: {(d > 1e-4).sum()} problems "
          f"(infeasible/failed: {np.isinf(d).sum()}; worst finite gap {np.max(d[np.isfinite(d)]):.3g})")
    print(f"ours worse than baseline by > 1e-4 nats: {(d < -1e-4).sum()} problems (min gap {d.min():.3g})")

    cmd = [sys.executable, "-m", "scalelaw.cli", "plan", "distill", "--fit", "busbridge2025",
           "--student", "1e9", "--compute", "1e22", "--json"]
    times = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    print(f"cold CLI `scalelaw plan distill ... --json` (4 scenarios): {min(times):.2f} s best of 3 "
          f"({', '.join(f'{x:.2f}' for x in times)})")
    cmd = [sys.executable, "-m", "scalelaw.cli", "plan", "--fit", "epoch-chinchilla", "--compute", "5.76e23", "--json"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    print(f"cold CLI `scalelaw plan --fit epoch-chinchilla ...`: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
