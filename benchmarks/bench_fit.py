"""Speed of the default fit against the reference procedure, side by side in one process.

Reference (LAWS.md §1): scipy L-BFGS-B from every point of the 4,500-start grid on Epoch's 240
Chinchilla points, Huber(1e-3) on log residuals, analytic gradient in numpy. The full grid
takes minutes, so a strided slice of starts is timed and scaled per start (printed).
Ours: `fit_law` (JAX, vmapped Newton, successive-halving race + polish), cold (JIT compile) and
warm, interleaved with the reference in rounds so that both see the same machine load; then the
bootstrap with 1,000 resamples.

    python benchmarks/bench_fit.py [--slice 50] [--rounds 3]
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
    ap.add_argument("--slice", type=int, default=50, help="reference starts timed per round (strided over the grid)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (reference slice, then our warm fit)")
    ap.add_argument("--boot", type=int, default=1000)
    args = ap.parse_args()
    runs = load_runs(DATA, where="loss < 3.44")
    logN, logD, logy = np.log(runs.column("N")), np.log(runs.column("D")), np.log(runs.column("loss"))
    grid = get_law("chinchilla").grid()
    step = max(1, len(grid) // (args.slice * args.rounds))
    slices = [grid[i * step :: step * args.rounds][: args.slice] for i in range(args.rounds)]

    t0 = time.perf_counter()
    cold = fit_law("chinchilla", runs)
    t_cold = time.perf_counter() - t0

    ratios, ref_best, ref_n, ref_hits, t_refs, t_warms = [], np.inf, 0, [], [], []
    for starts in slices:  # interleave so both sides see the same machine load
        t0 = time.perf_counter()
        ref = [minimize(objective_and_grad, s, args=(logN, logD, logy, 1e-3), jac=True, method="L-BFGS-B") for s in starts]
        t_ref = (time.perf_counter() - t0) / len(starts) * len(grid)
        t0 = time.perf_counter()
        warm = fit_law("chinchilla", runs)
        t_warm = time.perf_counter() - t0
        ratios.append(t_ref / t_warm)
        t_refs.append(t_ref)
        t_warms.append(t_warm)
        ref_best = min(ref_best, min(r.fun for r in ref))
        ref_n += len(starts)
        ref_hits += [r.fun for r in ref]
    hits = sum(f <= ref_best * (1 + 1e-6) for f in ref_hits)

    t0 = time.perf_counter()
    boot = bootstrap(warm, runs, n_boot=args.boot, seed=0)
    t_boot = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit_law("chinchilla", runs)
    t_warm_after = time.perf_counter() - t0

    print(f"reference scipy L-BFGS-B, full 4,500-start grid (scaled from {ref_n} starts in {args.rounds} rounds): "
          f"{', '.join(f'{t:.0f}' for t in t_refs)} s; best objective {ref_best:.10e} ({hits}/{ref_n} starts reach it)")
    print(f"scalelaw fit_law warm, same rounds: {', '.join(f'{t:.2f}' for t in t_warms)} s; objective {warm.objective:.10e}")
    print(f"speed-up per round (reference / ours, side by side): {', '.join(f'{r:.0f}x' for r in ratios)}; "
          f"median {np.median(ratios):.0f}x")
    print(f"cold fit (first call, incl. JIT compile): {t_cold:.2f} s = {np.median(t_refs) / t_cold:.0f}x faster than the median "
          f"reference; objective {cold.objective:.10e}")
    print(f"same optimum: ours - reference = {warm.objective - ref_best:+.3e} (relative {(warm.objective - ref_best) / ref_best:+.2e})")
    print(f"bootstrap {args.boot} resamples: {t_boot:.2f} s = {t_boot / t_warm_after:.1f} warm fits "
          f"({boot.n_failed} hit the iteration limit)")
    print("params:", {k: round(v, 5) for k, v in warm.params.items()})


if __name__ == "__main__":
    main()
