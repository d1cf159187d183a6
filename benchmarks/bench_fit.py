"""Speed of the default fit against the reference procedure, side by side in one process.

Reference (LAWS.md §1): scipy L-BFGS-B from every point of the 4,500-start grid on Epoch's 240
Chinchilla points, Huber(1e-3) on log residuals, analytic gradient in numpy. The full grid
takes minutes, so a strided slice of starts is timed and scaled per start (printed).
Ours: `fit_law` (JAX, vmapped Newton race + polish), cold (JIT compile) and warm; then the
bootstrap with 1,000 resamples.

    python benchmarks/bench_fit.py [--slice 150]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from scalelaw.fit import bootstrap, fit_law
from scalelaw.laws import get_law
from scalelaw.runs import load_runs

DATA = Path(__file__).resolve().parents[1] / "data" / "chinchilla_epoch.csv"


def objective_and_grad(theta, logN, logD, logy, delta):
    a, b, e, al, be = theta
    terms = np.stack([a - al * logN, b - be * logD, np.full_like(logN, e)])
    pred = logsumexp(terms, axis=0)
    r = logy - pred
    f = np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta)).sum()
    dr = np.clip(r, -delta, delta)  # d huber / d r
    w = softmax(terms, axis=0)  # d pred / d terms
    g = -np.array([(dr * w[0]).sum(), (dr * w[1]).sum(), (dr * w[2]).sum(),
                   (dr * w[0] * -logN).sum(), (dr * w[1] * -logD).sum()])
    return f, g


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slice", type=int, default=150, help="reference starts to time (strided over the grid)")
    ap.add_argument("--boot", type=int, default=1000)
    args = ap.parse_args()
    runs = load_runs(DATA, where="loss < 3.44")
    logN, logD, logy = np.log(runs.column("N")), np.log(runs.column("D")), np.log(runs.column("loss"))
    grid = get_law("chinchilla").grid()
    starts = grid[:: max(1, len(grid) // args.slice)]

    t0 = time.perf_counter()
    ref = [minimize(objective_and_grad, s, args=(logN, logD, logy, 1e-3), jac=True, method="L-BFGS-B") for s in starts]
    t_ref_slice = time.perf_counter() - t0
    t_ref = t_ref_slice / len(starts) * len(grid)
    ref_best = min(r.fun for r in ref)
    ref_hits = sum(r.fun <= ref_best * (1 + 1e-6) for r in ref)

    t0 = time.perf_counter()
    cold = fit_law("chinchilla", runs)
    t_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm = fit_law("chinchilla", runs)
    t_warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    boot = bootstrap(warm, runs, n_boot=args.boot, seed=0)
    t_boot = time.perf_counter() - t0

    print(f"reference scipy L-BFGS-B: {len(starts)} of {len(grid)} starts in {t_ref_slice:.1f} s "
          f"-> {t_ref:.1f} s for the full grid; best objective {ref_best:.10e} ({ref_hits}/{len(starts)} starts reach it)")
    print(f"scalelaw fit_law cold (incl. JIT): {t_cold:.2f} s; objective {cold.objective:.10e}")
    print(f"scalelaw fit_law warm:             {t_warm:.2f} s; objective {warm.objective:.10e}")
    print(f"speed-up vs full reference grid: cold {t_ref / t_cold:.0f}x, warm {t_ref / t_warm:.0f}x")
    print(f"same optimum: ours - reference = {warm.objective - ref_best:+.3e} (relative {(warm.objective - ref_best) / ref_best:+.2e})")
    print(f"bootstrap {args.boot} resamples: {t_boot:.2f} s ({boot.n_failed} hit the iteration limit)")
    print("params:", {k: round(v, 5) for k, v in warm.params.items()})


if __name__ == "__main__":
    main()
