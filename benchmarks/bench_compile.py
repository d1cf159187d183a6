"""What XLA's CPU emitters cost and give: every kernel a fit runs, compiled both ways, same run.

scalelaw compiles its kernels with `scalelaw._jax.compiler_options()` (on the CPU, XLA's
elemental emitters instead of its MLIR fusion emitters). This script records every kernel that
real fits run (Chinchilla on Epoch's 240 points, the two-stage distillation fit on the shipped
synthetic file, Farseer on the 339-run design of Li et al. 2025's Table 4), then for each one,
in the same process and alternating the order:
  - compiles it with XLA's defaults and with our options (lowering excluded, timed apart),
  - runs each compiled kernel on the fit's own arguments (best of --runs),
  - compares the two kernels' outputs: bit-identical, or the largest relative difference.
The persistent compile cache is off, so every compilation is real.

    python benchmarks/bench_compile.py [--repeat 2] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from functools import partial
from pathlib import Path

os.environ["SCALELAW_NO_JAX_CACHE"] = "1"  # every compilation below is a real one

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def record_kernels() -> list[tuple[str, object, tuple]]:
    """(name, fn, args) of each distinct kernel the three fits call through `_jax.exported_call`."""
    import jax

    import scalelaw._jax as J

    seen, original = {}, J.exported_call

    def recorder(fn, args, *, code):
        key = J._key(args, code)
        if key not in seen:  # named by the trace's tag and law (the code key's head), its first shape, its slots
            tag = ":".join(code.split(":")[:2])
            name = f"{tag} {np.shape(jax.tree_util.tree_leaves(args)[0])}"
            if tag.startswith("solve:"):
                name += f" {len(args[4])} slots"  # _solve_batch(theta0, last0, iters0, queue, slots0, ...)
            seen[key] = (name, fn, args)
        return original(fn, args, code=code)

    J.exported_call = recorder  # the package looks it up at call time
    from scalelaw.fit import fit_law
    from scalelaw.fit.distill import fit_distill
    from scalelaw.laws.farseer import FARSEER
    from scalelaw.runs import from_frame, load_runs
    from bench_farseer import design

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_law("chinchilla", load_runs(ROOT / "data" / "chinchilla_epoch.csv"))
        fit_distill(ROOT / "data" / "synthetic_distill_busbridge2025.csv")
        fit_law(FARSEER, from_frame(design(0)[0]))
    J.exported_call = original
    return list(seen.values())


def compile_and_run(fn, args, opts: dict, runs: int):
    import jax

    lowered = jax.jit(partial(fn), compiler_options=opts).lower(*args)  # a new partial: no reuse
    t0 = time.perf_counter()
    compiled = lowered.compile()
    t_compile = time.perf_counter() - t0
    best, out = np.inf, None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        best = min(best, time.perf_counter() - t0)
    return t_compile, best, [np.asarray(x) for x in jax.tree_util.tree_leaves(out)]


def difference(a: list, b: list) -> str:
    if all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b)):
        return "identical"
    rel = 0.0
    for x, y in zip(a, b):
        if x.dtype.kind == "f":
            ok = np.isfinite(x) & np.isfinite(y)
            d = np.abs(x[ok] - y[ok]) / np.maximum(np.abs(y[ok]), 1e-300)
            rel = max(rel, float(d.max()) if d.size else 0.0)
        elif not np.array_equal(x, y):
            return f"ints differ, rel {rel:.1e}"
    return f"rel {rel:.1e}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2, help="compilations of each kernel each way (best kept)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each compiled kernel (best kept)")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    from scalelaw._jax import compiler_options, x64

    x64()
    ours = compiler_options()
    print(f"our options: {ours or 'none (not the CPU, or an XLA without them)'}")
    kernels = record_kernels()
    print(f"{len(kernels)} kernels\n")
    head = f"{'kernel':44s} {'compile XLA':>11s} {'ours':>6s} {'ratio':>6s}   {'run XLA':>8s} {'ours':>8s} {'ratio':>6s}   outputs"
    print(head)
    totals = np.zeros(4)
    for name, fn, a in kernels:
        res = {}
        for r in range(args.repeat):
            for label, opts in ((("xla", {}), ("ours", ours)) if r % 2 == 0 else (("ours", ours), ("xla", {}))):
                tc, tr, out = compile_and_run(fn, a, opts, args.runs)
                old = res.get(label)
                res[label] = (min(tc, old[0]) if old else tc, min(tr, old[1]) if old else tr, out)
        (cx, rx, ox), (co, ro, oo) = res["xla"], res["ours"]
        totals += (cx, co, rx, ro)
        print(f"{name[:44]:44s} {cx:10.2f}s {co:5.2f}s {co / cx:6.2f}   {rx * 1e3:6.1f}ms {ro * 1e3:6.1f}ms {ro / rx:6.2f}   "
              f"{difference(oo, ox)}")
    cx, co, rx, ro = totals
    print(f"{'total':44s} {cx:10.2f}s {co:5.2f}s {co / cx:6.2f}   {rx * 1e3:6.1f}ms {ro * 1e3:6.1f}ms {ro / rx:6.2f}")


if __name__ == "__main__":
    main()
