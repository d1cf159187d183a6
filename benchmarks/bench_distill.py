"""Distillation-law fit and bootstrap: each of our paths side by side with a baseline, same run.

Data: the shipped synthetic file (744 students, Table 6 parameters, 0.5% noise). Ltilde_S comes
from the published supervised law, so sections 1-3 time the distillation stage alone.

  1. grid   : objective on all 216,000 grid points, factorised over the grid's product form
              (scalelaw.fit.distill.grid_objectives) vs the engine's generic evaluation
              (scalelaw.fit.solver.grid_objectives); both must pick the same best N_REFINE starts.
  2. search : our race + polish + valley polish (scalelaw.fit.distill.search_students, as
              fit_distill) vs scipy L-BFGS-B (JAX gradients) from R starts drawn uniformly from
              the same grid (the paper's procedure on a reduced grid; its time per start is
              extrapolated to all 216,000). Our optimum must be at least as good.
  3. boot   : K resamples, each solved from the fit's BOOT_STARTS leading optima, best kept
              (multistart_bootstrap: queued starts, each resample on its own points, `solve_queued`) vs
              the reference path, one batch per chunk on every point, iterated until its slowest start stops
              (for K <= --ref-max); both from the same resamples, with their quantiles compared.
  4. cli    : whole-process `scalelaw fit <file> --law distill` (warm and empty compile cache)
              next to the floor `python -c "import jax.numpy as jnp; jnp.zeros(1)"`.

Run:
    python benchmarks/bench_distill.py [--brute-starts 300] [--boot 100,1000] [--ref-max 100] [--cli]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SYNTH = ROOT / "data" / "synthetic_distill_busbridge2025.csv"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--brute-starts", type=int, default=300, help="0 skips the L-BFGS-B baseline")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--boot", default="", help="comma-separated resample counts, e.g. 100,1000")
    ap.add_argument("--ref-max", type=int, default=100, help="largest K also run on the reference path")
    ap.add_argument("--cli", action="store_true", help="also time the whole-process CLI fit")
    ap.add_argument("--data", default=str(SYNTH))
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    from scalelaw._jax import x64

    x64()
    from scalelaw.fit.distill import split_roles, student_logs
    from scalelaw.laws.busbridge import CHINCHILLA_GAMMA, PUBLISHED_SUPERVISED

    _, students = split_roles(args.data)
    l_sup = CHINCHILLA_GAMMA.predict_natural(PUBLISHED_SUPERVISED, N=students.column("N"), D=students.column("D"))
    logs, log_y = student_logs(students, l_sup)
    print(f"{len(log_y)} students from {args.data}")

    starts = bench_grid(logs, log_y)
    fit = bench_search(students, logs, log_y, starts, args.brute_starts, args.seed)
    ks = [int(k) for k in args.boot.split(",") if k.strip()]
    if ks:
        bench_bootstrap(fit, logs, log_y, starts, ks, args.ref_max)
    if args.cli:
        bench_cli(args.data)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


def _timed(fn, *a, **k):
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t0


def bench_grid(logs, log_y):
    from scalelaw.fit.distill import N_REFINE, grid_objectives
    from scalelaw.fit.solver import grid_objectives as generic
    from scalelaw.laws.busbridge import DISTILL

    delta, grid = DISTILL.default_delta, DISTILL.grid()
    f_ours, t_ours1 = _timed(grid_objectives, logs, log_y, delta=delta)
    _, t_ours = _timed(grid_objectives, logs, log_y, delta=delta)
    f_ref, t_ref1 = _timed(generic, DISTILL, logs, log_y, grid, delta=delta)
    _, t_ref = _timed(generic, DISTILL, logs, log_y, grid, delta=delta)
    ok = np.isfinite(f_ref)
    same_finite = bool(np.array_equal(ok, np.isfinite(f_ours)))
    rel = float(np.max(np.abs(f_ours[ok] / f_ref[ok] - 1)))
    top_ours = np.argsort(np.where(np.isfinite(f_ours), f_ours, np.inf), kind="stable")[:N_REFINE]
    top_ref = np.argsort(np.where(ok, f_ref, np.inf), kind="stable")[:N_REFINE]
    print(f"grid  : {len(grid)} points x {len(log_y)} students: factorised {t_ours:.2f} s (first call {t_ours1:.2f} s), "
          f"generic {t_ref:.2f} s (first call {t_ref1:.2f} s); ratio generic/factorised {t_ref / t_ours:.1f}x "
          f"(first calls {t_ref1 / t_ours1:.1f}x); max relative difference {rel:.1e}, same finite set {same_finite}, "
          f"same best {N_REFINE} in the same order {bool(np.array_equal(top_ours, top_ref))}")
    return grid[top_ours]


def bench_search(students, logs, log_y, starts, n_brute: int, seed: int):
    import jax
    import jax.numpy as jnp
    from scipy.optimize import minimize

    from scalelaw.fit.distill import N_REFINE, search_students
    from scalelaw.fit.solver import objective
    from scalelaw.laws.busbridge import DISTILL

    delta = DISTILL.default_delta
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit, t_solve = _timed(search_students, students, logs, log_y, starts, delta=delta)
    best = fit.objective
    print(f"search: solver from the best {N_REFINE}: {t_solve:.1f} s incl. JIT; best objective {best:.12e} reached by "
          f"{fit.n_best} starts; status {fit.status}")
    if n_brute <= 0:
        return fit

    jl = {k: jnp.asarray(v) for k, v in logs.items()}
    jy, w = jnp.asarray(log_y), jnp.ones(len(log_y))
    vg = jax.jit(jax.value_and_grad(lambda th: objective(DISTILL, th, jl, jy, w, delta)))
    grid = DISTILL.grid()
    vg(jnp.asarray(grid[0]))  # compile

    def fg(th):
        v, g = vg(jnp.asarray(th))
        v, g = float(v), np.asarray(g, dtype=np.float64)
        return (v, g) if np.isfinite(v) and np.all(np.isfinite(g)) else (1e10, np.zeros_like(g))

    pick = np.random.default_rng(seed).choice(len(grid), size=min(n_brute, len(grid)), replace=False)
    bounds = list(zip(DISTILL.lower, DISTILL.upper))
    t0 = time.perf_counter()
    brute = [minimize(fg, grid[i], jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12}).fun for i in pick]
    t_brute = time.perf_counter() - t0
    b_best = float(np.min(brute))
    per = t_brute / len(pick)
    print(f"brute : L-BFGS-B from {len(pick)} random grid starts in {t_brute:.1f} s ({per * 1e3:.0f} ms/start; "
          f"all 216,000 would take ~{per * 216000 / 3600:.1f} h); best objective {b_best:.12e}; "
          f"{int(np.sum(np.asarray(brute) <= b_best * (1 + 1e-6)))} starts reached it")
    print(f"ratio ours/brute objective: {best / b_best:.10f} (<= 1 means ours is at least as good); "
          f"time ratio brute(216k, extrapolated)/ours: {per * 216000 / t_solve:.0f}x")
    return fit


def reference_bootstrap(logs, log_y, leads, *, delta: float, n_boot: int, seed: int, chunk: int = 200):
    """The reference path: each chunk's resamples x leads in one batch of `solve_multistart`, summed
    over every point (zero-weight ones included), iterated until the slowest start stops or
    MAX_ITER; best lead per resample."""
    import scalelaw.fit.solver as solver
    from scalelaw.fit import solve_multistart
    from scalelaw.fit.core import resample_counts
    from scalelaw.fit.distill import MAX_ITER
    from scalelaw.laws.busbridge import DISTILL

    rng, k, out = np.random.default_rng(seed), len(leads), []
    compressed, solver._compressed = solver._compressed, lambda weights: None
    try:
        for i in range(0, n_boot, chunk):
            w = resample_counts(rng, min(chunk, n_boot - i), len(log_y))
            res = solve_multistart(DISTILL, logs, log_y, np.tile(leads, (len(w), 1)), delta=delta,
                                   weights=np.repeat(w, k, axis=0), max_iter=MAX_ITER)
            obj = np.where(np.isfinite(res.objectives), res.objectives, np.inf).reshape(len(w), k)
            out.append(res.thetas[np.arange(len(w)) * k + np.argmin(obj, axis=1)])
    finally:
        solver._compressed = compressed
    return np.concatenate(out)


def _boot_objectives(thetas, logs, log_y, *, delta: float, n_boot: int, seed: int, chunk: int = 200):
    """Each resample's objective at its solution (the resamples redrawn from the same seed)."""
    import jax
    import jax.numpy as jnp

    from scalelaw.fit.core import resample_counts
    from scalelaw.fit.solver import objective
    from scalelaw.laws.busbridge import DISTILL

    jl, jy = {k: jnp.asarray(v) for k, v in logs.items()}, jnp.asarray(log_y)
    f = jax.jit(jax.vmap(lambda t, w: objective(DISTILL, t, jl, jy, w, delta)))
    rng, out = np.random.default_rng(seed), []
    for i in range(0, n_boot, chunk):
        w = resample_counts(rng, min(chunk, n_boot - i), len(log_y))
        out.append(np.asarray(f(jnp.asarray(thetas[i : i + len(w)]), jnp.asarray(w))))
    return np.concatenate(out)


def bench_bootstrap(fit, logs, log_y, starts, ks, ref_max: int) -> None:
    from scalelaw.fit.distill import BOOT_STARTS, leading_optima, multistart_bootstrap
    from scalelaw.laws.busbridge import DISTILL

    delta = fit.delta
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        leads, t_leads = _timed(leading_optima, fit, logs, log_y, starts, k=BOOT_STARTS)
        print(f"boot  : {len(leads)} leading optima found in {t_leads:.1f} s (queued)")
        for n_boot in ks:
            ours, t_ours = _timed(multistart_bootstrap, logs, log_y, leads, delta=delta, n_boot=n_boot, seed=0)
            line = (f"boot  : {n_boot} resamples x {len(leads)} leads: ours {t_ours:.1f} s ({t_ours / n_boot:.3f} s per "
                    f"resample; {ours.n_failed} at the iteration limit), {t_leads + t_ours:.1f} s with the leads")
            if n_boot > ref_max:
                print(line + "; reference not run (--ref-max)")
                continue
            ref, t_ref = _timed(reference_bootstrap, logs, log_y, leads, delta=delta, n_boot=n_boot, seed=0)
            print(line + f"; reference {t_ref:.1f} s ({t_ref / n_boot:.3f} s per resample); ratio reference/ours "
                  f"{t_ref / t_ours:.2f}x")
            f_ours = _boot_objectives(ours.thetas, logs, log_y, delta=delta, n_boot=n_boot, seed=0)
            f_ref = _boot_objectives(ref, logs, log_y, delta=delta, n_boot=n_boot, seed=0)
            rel = f_ours / f_ref - 1
            print(f"        per-resample best objective ours/reference - 1: median {np.median(rel):.1e}, "
                  f"range [{rel.min():.1e}, {rel.max():.1e}]; within 1e-9: {np.mean(np.abs(rel) <= 1e-9):.0%}")
            nat_o, nat_r = ours.natural(), {k: v for k, v in zip(DISTILL.natural_names, _natural_cols(ref))}
            for k in DISTILL.natural_names:
                qo = np.percentile(nat_o[k], [5, 50, 95])
                qr = np.percentile(nat_r[k], [5, 50, 95])
                print(f"        {k:6s} 5/50/95%: ours {qo[0]:.4g} {qo[1]:.4g} {qo[2]:.4g}  reference {qr[0]:.4g} {qr[1]:.4g} {qr[2]:.4g}")


def _natural_cols(thetas):
    from scalelaw.laws.busbridge import DISTILL

    nat = [DISTILL.natural(t) for t in thetas]
    return [np.array([d[k] for d in nat]) for k in DISTILL.natural_names]


def bench_cli(data: str) -> None:
    py = sys.executable

    def run(cmd, env=None):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr[-500:]}")
        return time.perf_counter() - t0

    floor = run([py, "-c", "import jax.numpy as jnp; jnp.zeros(1)"])
    fit_cmd = [py, "-m", "scalelaw.cli", "fit", data, "--law", "distill", "--json"]
    with tempfile.TemporaryDirectory() as tmp:
        cold = run(fit_cmd, env=dict(os.environ, XDG_CACHE_HOME=tmp))
    run(fit_cmd)  # fill the default cache
    warm = run(fit_cmd)
    print(f"cli   : whole-process distill fit: warm cache {warm:.1f} s, empty cache {cold:.1f} s; import floor {floor:.1f} s "
          f"(warm fit = {warm / floor:.1f}x the floor; load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
