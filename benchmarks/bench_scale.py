"""How the fit scales with the number of rows, and what the first fit costs, whole process.

Every measurement is a separate Python process (`subprocess`), timed by wall clock, with its
own peak resident memory (ru_maxrss of that child, from `os.wait4`). A child's ru_maxrss starts
from its parent's resident size (the high-water mark carries over fork + exec), so this script
keeps itself small: it imports numpy only (~35 MB, below every peak it reports).

Rows: synthetic Chinchilla data (Epoch's fitted parameters, Besiroglu et al. 2024, with 1%
log-normal noise) at every power of ten from 1e3 to --max-rows (default 1e5; 1e6 is the optional
point). Each size is fitted by
  - ours:  `scalelaw fit data.csv --law chinchilla --json`
  - scipy: L-BFGS-B from the best point of the law's grid (numpy objective + analytic gradient),
           the usual least-squares peer; its objective is printed next to ours. Its grid pass
           alone is 4,500 full-data objectives, so above --scipy-max-rows (default 1e5: ~3 min
           there, ~30 min at 1e6) it is not run.
First fit: `scalelaw fit data/chinchilla_epoch.csv --law chinchilla` with the persistent cache
warm and cold (an empty XDG_CACHE_HOME), and the same fit through the Python API (`fit_law`)
warm, against the import floor `python -c "import jax.numpy as jnp; jnp.zeros(1)"`, interleaved
in the same run so the ratio and the overhead above the floor are meaningful on a shared machine.

    nice -n 10 python benchmarks/bench_scale.py [--max-rows 1e6] [--rows 1000,10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EPOCH = ROOT / "data" / "chinchilla_epoch.csv"
#: Epoch's fit of Chinchilla's data (Besiroglu et al. 2024): E, A, B, alpha, beta
TRUE = dict(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)

SCIPY_FIT = r"""
import sys, json, numpy as np, pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax
df = pd.read_csv(sys.argv[1]); delta = 1e-3
lN, lD, ly = np.log(df.N.to_numpy()), np.log(df.D.to_numpy()), np.log(df.loss.to_numpy())
def fg(t):
    a, b, e, al, be = t
    terms = np.stack([a - al * lN, b - be * lD, np.full_like(lN, e)])
    r = ly - logsumexp(terms, axis=0)
    f = np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta)).sum()
    dr = np.clip(r, -delta, delta); w = softmax(terms, axis=0)
    return f, -np.array([(dr*w[0]).sum(), (dr*w[1]).sum(), (dr*w[2]).sum(), (dr*w[0]*-lN).sum(), (dr*w[1]*-lD).sum()])
# the Chinchilla law's grid (scalelaw.laws.chinchilla), rebuilt here so scipy's process imports no JAX
a, b, e, al, be = np.meshgrid(np.arange(0, 30, 5.0), np.arange(0, 30, 5.0), np.arange(-1, 1.5, 0.5),
                              np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5), indexing="ij")
grid = np.stack([x.ravel() for x in (a, b, e, al, be)], 1)
f0 = [fg(g)[0] for g in grid]
x0 = grid[int(np.nanargmin(f0))]
r = minimize(fg, x0, jac=True, method="L-BFGS-B", options=dict(maxiter=10000, ftol=1e-15, gtol=1e-12))
print(json.dumps({"objective": float(r.fun), "theta": [float(x) for x in r.x]}))
"""


def synth(n: int, path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), n))
    D = np.exp(rng.uniform(np.log(5e9), np.log(5e11), n))
    L = TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]
    L = L * np.exp(0.01 * rng.standard_normal(n))
    with open(path, "w") as fh:
        fh.write("N,D,loss\n")
        for row in zip(N, D, L):
            fh.write("%.10g,%.10g,%.10g\n" % row)


def run(cmd: list[str], env: dict | None = None) -> dict:
    """Wall seconds, peak RSS (MB) and stdout of one process (its own rusage, via wait4)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        text, errs = out.read(), err.read().strip().splitlines()[-1:]
    return {"wall": wall, "rss_mb": ru.ru_maxrss / 1024, "rc": p.returncode, "out": text, "err": errs}


def scalelaw_cmd(csv: Path) -> list[str]:
    return [sys.executable, "-m", "scalelaw.cli", "fit", str(csv), "--law", "chinchilla", "--json"]


def objective_of(res: dict) -> float | None:
    try:
        return float(json.loads(res["out"])["objective"])
    except (ValueError, KeyError, TypeError):
        return None


def fmt_mb(x):
    return f"{x:7.0f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-rows", type=float, default=1e5, help="largest size (powers of ten from 1e3)")
    ap.add_argument("--rows", default=None, help="explicit comma-separated sizes instead of --max-rows")
    ap.add_argument("--big", action="store_true", help="same as --max-rows 1e6")
    ap.add_argument("--scipy-max-rows", type=float, default=1e5, help="largest size the scipy baseline runs at")
    ap.add_argument("--repeat", type=int, default=3, help="repeats of each first-fit measurement (best kept)")
    ap.add_argument("--skip-rows", action="store_true", help="first-fit overhead only")
    ap.add_argument("--skip-first", action="store_true", help="rows only")
    args = ap.parse_args()
    top = 1e6 if args.big else args.max_rows
    sizes = ([int(float(s)) for s in args.rows.split(",")] if args.rows else
             [10**k for k in range(3, 10) if 10**k <= top * (1 + 1e-9)])
    env = dict(os.environ)

    if not args.skip_first:
        first_fit(args.repeat, env)
    if args.skip_rows:
        return
    rows_table(sizes, env, int(args.scipy_max_rows))


def first_fit(repeat: int, env: dict) -> None:
    floor = [sys.executable, "-c", "import jax.numpy as jnp; jnp.zeros(1)"]
    epoch = [sys.executable, "-m", "scalelaw.cli", "fit", str(EPOCH), "--law", "chinchilla"]
    api = [sys.executable, "-c", "from scalelaw.runs import load_runs; from scalelaw.fit import fit_law; "
           f"fit_law('chinchilla', load_runs({str(EPOCH)!r}))"]
    with tempfile.TemporaryDirectory() as home:  # a cache of this run's own, made warm here
        env = dict(env, XDG_CACHE_HOME=home)
        run(epoch, env), run(api, env)
        rows = {"floor": [], "warm": [], "cold": [], "api warm": []}
        for _ in range(repeat):  # interleaved so all of them see the same load
            rows["floor"].append(run(floor, env)["wall"])
            rows["warm"].append(run(epoch, env)["wall"])
            rows["api warm"].append(run(api, env)["wall"])
            with tempfile.TemporaryDirectory() as cache:
                rows["cold"].append(run(epoch, dict(env, XDG_CACHE_HOME=cache))["wall"])
    fl = min(rows["floor"])
    print("first fit on Epoch's points (whole process, best of %d; every run: %s)" % (
        repeat, ", ".join(f"{k} " + "/".join(f"{t:.2f}" for t in v) for k, v in rows.items())))
    print(f"  import floor      {fl:6.2f} s")
    for k, label in (("warm", "CLI, warm cache"), ("cold", "CLI, cold cache"), ("api warm", "fit_law, warm")):
        t = min(rows[k])
        print(f"  {label:16s} {t:6.2f} s   floor + {t - fl:5.2f} s   ({t / fl:.2f}x floor)")


def rows_table(sizes: list[int], env: dict, scipy_max: int) -> None:
    print("\nrows     ours: wall s  peak MB  objective        scipy L-BFGS-B: wall s  peak MB  objective")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            csv = Path(tmp) / f"chin_{n}.csv"
            synth(n, csv)
            ours = run(scalelaw_cmd(csv), env)
            fo = objective_of(ours)
            tail = "" if ours["rc"] == 0 else f"   exit {ours['rc']}: {ours['err']}"
            if n <= scipy_max:
                sp = run([sys.executable, "-c", SCIPY_FIT, str(csv)], env)
                fs = objective_of(sp)
                base = f"{sp['wall']:20.2f}  {fmt_mb(sp['rss_mb'])}  {fs if fs is None else f'{fs:.8e}'}"
            else:
                base = f"{'not run (> --scipy-max-rows)':>46s}"
            print(f"{n:>8d}  {ours['wall']:10.2f}  {fmt_mb(ours['rss_mb'])}  {fo if fo is None else f'{fo:.8e}'}"
                  f"   {base}{tail}", flush=True)


if __name__ == "__main__":
    main()
