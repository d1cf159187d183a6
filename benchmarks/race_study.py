"""Which race schedules find the optimum the full race finds, on the five shipped real datasets.

    python benchmarks/race_study.py [--out /tmp/race_study.npy] [--boot 4] [--only NAME]
    python benchmarks/race_study.py --analyse /tmp/race_study.npy

`fit_law` races its starts (256 from the law's grid) on the smooth first stage of the Huber
continuation and polishes the leaders (16). The race is most of a warm first fit's time. A
cheaper race keeps fewer starts after fewer iterations (successive halving); whether that loses
the optimum is a property of the data, so it is measured here, not guessed.

Every start's objective after each of the race's iterations is recorded (the solver is stepped one
iteration at a time, passing its last step back, which follows the uninterrupted path: checked
against one 30-iteration solve), and every start is carried through the rest of the fit (the
remaining continuation stages and the polish on every row) to its final objective. Any schedule
of rungs (keep the best `k` starts after `i` iterations, ...) is then evaluated exactly: its
leaders are those that survive every rung, and its answer is the best final objective among them.
It is compared with the current rule's answer (the 16 best after 30 iterations).

Problems: each dataset subset of `benchmarks/extrapolation.py` (one training set, one loss, one
N kind), each generic law (chinchilla, chinchilla-gamma, farseer end-to-end), each objective
(huber-log, mse-log, mse), on all runs, on backtest training sets (the 1, 2 and 3 largest model
sizes held out) and on bootstrap resamples of the runs (counts as weights).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from extrapolation import DATASETS  # noqa: E402

from scalelaw._jax import enable_compile_cache, x64  # noqa: E402
from scalelaw.fit.core import (SAME_OPTIMUM, _problem, choose_starts, halving_rungs, resample_counts,  # noqa: E402
                               solve_multistart)
from scalelaw.fit.spec import FitSpec  # noqa: E402
from scalelaw.runs import from_frame  # noqa: E402

LAWS = ("chinchilla", "chinchilla-gamma", "farseer")
OBJECTIVES = ("huber-log", "mse-log", "mse")
N_STARTS, WIDTH, RACE_ITER, MAX_ITER = 256, 16, 30, 200


def blocks(fn, rows, *extra):
    """fn over blocks of WIDTH rows (the last padded with copies of its last row), as the race runs."""
    n = len(rows)
    pad = -n % WIDTH
    full = [np.concatenate([a, np.repeat(a[-1:], pad, axis=0)]) for a in (rows, *extra)]
    parts = [fn(*(a[i : i + WIDTH] for a in full)) for i in range(0, n + pad, WIDTH)]
    return [np.concatenate([getattr(r, f) for r in parts])[:n] for f in ("thetas", "objectives", "status", "last_step",
                                                                         "iterations")]


def trajectories(p, starts):
    """(RACE_ITER + 1, S) objectives, row k after k race iterations (row 0 unused); the
    (RACE_ITER, S) mask of starts still running at each iteration; the states after the race; and
    the largest relative gap between stepping one iteration at a time and one uninterrupted solve."""
    d0 = p.deltas[0]
    S = len(starts)
    th, last = starts.copy(), np.zeros_like(starts)
    done = np.zeros(S, dtype=bool)
    F = np.full((RACE_ITER + 1, S), np.inf)
    running = np.zeros((RACE_ITER, S), dtype=bool)
    f = None
    for k in range(RACE_ITER):
        def one(t, ls):
            return solve_multistart(p.law, p.r_logs, p.r_y, t, delta=d0, max_iter=1, last_step=ls, **p.r_kw)
        nth, nf, nst, nls, _ = blocks(one, th, last)
        act = ~done
        running[k] = act
        th[act], last[act] = nth[act], nls[act]
        f = np.where(act, nf, f if f is not None else nf)
        F[k + 1] = f
        done |= (nst == 0)
    def whole(t):
        return solve_multistart(p.law, p.r_logs, p.r_y, t, delta=d0, max_iter=RACE_ITER, **p.r_kw)
    _, f30, *_ = blocks(whole, starts)
    ok = np.isfinite(f30) & np.isfinite(f)
    gap = float(np.max(np.abs(f[ok] - f30[ok]) / np.maximum(np.abs(f30[ok]), 1e-300))) if ok.any() else 0.0
    return F, running, th, gap


def finals(p, th):
    """Each start's objective at the end of the fit: the remaining continuation stages on the race
    rows (RACE_ITER iterations each), then the polish on every row."""
    for d in p.deltas[1:]:
        def stage(t, d=d):
            return solve_multistart(p.law, p.r_logs, p.r_y, t, delta=d, max_iter=RACE_ITER, **p.r_kw)
        th = blocks(stage, th)[0]

    def polish(t):
        return solve_multistart(p.law, p.logs, p.log_y, t, delta=p.delta, max_iter=MAX_ITER, **p.kw)
    return blocks(polish, th)[1]


def problems(boot: int, only: str | None):
    for label, fname, subset, _rule in DATASETS:
        if only and only.lower() not in label.lower():
            continue
        df, _how = subset(pd.read_csv(ROOT / "data" / fname))
        sizes = np.sort(df["N"].unique())
        variants = [("all", df, None)]
        for h in (1, 2, 3):
            variants.append((f"top{h} held out", df[df["N"] < sizes[-h]], None))
        rng = np.random.default_rng(0)
        for b in range(boot):
            variants.append((f"boot{b}", df, resample_counts(rng, 1, len(df))[0]))
        for law in LAWS:
            for obj in OBJECTIVES:
                spec = FitSpec(law=law, method="end-to-end", objective=obj)
                for name, d, w in variants:
                    yield label, law, obj, name, from_frame(d.reset_index(drop=True), source=fname), spec, w


def study(out: Path, boot: int, only: str | None) -> None:
    x64()
    enable_compile_cache()
    recs = []
    t0 = time.perf_counter()
    for label, law, obj, name, runs, spec, w in problems(boot, only):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = _problem(spec, runs, None, w, None, 0)
            starts, _ = choose_starts(p.law, p.r_logs, p.r_y, delta=p.delta, n_starts=N_STARTS, seed=0, spec=p.spec,
                                      weights=p.r_kw["weights"], box=p.box)
            F, running, th, gap = trajectories(p, starts)
            P = finals(p, th)
        recs.append(dict(label=label, law=law, objective=obj, variant=name, F=F, running=running, P=P, gap=gap,
                         n=len(p.log_y)))
        print(f"{time.perf_counter() - t0:7.1f} s  {label:28s} {law:17s} {obj:9s} {name:15s} n={len(p.log_y):4d} "
              f"starts={len(starts):3d} step-vs-whole gap {gap:.1e}  ({time.perf_counter() - t:.1f} s)", flush=True)
        np.save(out, np.array(recs, dtype=object), allow_pickle=True)
    analyse(out)


def leaders(F, rungs):
    """Indices surviving every rung (iterations, keep) of a schedule, ranked by the last rung."""
    alive = np.arange(F.shape[1])
    for it, keep in rungs:
        f = np.where(np.isfinite(F[it, alive]), F[it, alive], np.inf)
        alive = alive[np.argsort(f, kind="stable")[:keep]]
    return alive


def cost(F, running, rungs):
    """Block-iterations a schedule runs: each rung steps its survivors (the first all starts in
    order, later ones ranked best first) in blocks of WIDTH until the block's last start stops or
    the rung's iterations are done."""
    alive, prev, total = np.arange(F.shape[1]), 0, 0
    for it, keep in rungs:
        for i in range(0, len(alive), WIDTH):
            total += int(running[prev:it][:, alive[i : i + WIDTH]].any(axis=1).sum())
        f = np.where(np.isfinite(F[it, alive]), F[it, alive], np.inf)
        alive, prev = alive[np.argsort(f, kind="stable")[:keep]], it
    return total


CURRENT = [(RACE_ITER, WIDTH)]
#: what `fit_law` runs (`core.halving_rungs(256, 16, 30)`)
HALVING_NAME = "256 x 2 -> 64 x 8 -> 16 x 30 (halving by 4)"
SCHEDULES = {
    "current: 256 x 30 -> 16": CURRENT,
    HALVING_NAME: [*map(list, halving_rungs(N_STARTS, WIDTH, RACE_ITER)), (RACE_ITER, WIDTH)],
    "256 x 2 -> 64 x 10 -> 16 x 30": [(2, 64), (10, 16), (30, 16)],
    "256 x 3 -> 64 x 10 -> 16 x 30": [(3, 64), (10, 16), (30, 16)],
    "256 x 5 -> 64 x 15 -> 16 x 30": [(5, 64), (15, 16), (30, 16)],
    "256 x 5 -> 64 x 10 -> 16 x 30": [(5, 64), (10, 16), (30, 16)],
    "256 x 8 -> 64 x 20 -> 16 x 30": [(8, 64), (20, 16), (30, 16)],
    "256 x 10 -> 16 x 30": [(10, 16), (30, 16)],
    "256 x 5 -> 16 x 30": [(5, 16), (30, 16)],
    "256 x 3 -> 32 x 10 -> 16 x 30": [(3, 32), (10, 16), (30, 16)],
    "256 x 5 -> 32 x 15 -> 16 x 30": [(5, 32), (15, 16), (30, 16)],
    "256 x 5 -> 128 x 10 -> 32 x 20 -> 16 x 30": [(5, 128), (10, 32), (20, 16), (30, 16)],
}


def outcome(r, rungs, agreement: float):
    """(relative gap to the current rule's answer, leaders reaching the best, fell back, cost) of a
    schedule on one problem; with `agreement`, a schedule whose polished leaders reach the best in
    fewer than that share also runs the full race and keeps the better answer (as `fit_law`)."""
    P, F, run = r["P"], r["F"], r["running"]
    ref = np.min(P[leaders(F, CURRENT)])
    lead = leaders(F, rungs)
    got = np.min(P[lead])
    n_best = int(np.sum(P[lead] <= got * (1 + SAME_OPTIMUM)))
    c = cost(F, run, rungs)
    back = rungs != CURRENT and n_best < agreement * len(lead)
    if back:
        got, c = min(got, ref), c + cost(F, run, CURRENT)
    return (got - ref) / max(abs(ref), 1e-300), n_best, back, c


def analyse(path: Path, agreement: float = 0.5) -> None:
    recs = list(np.load(path, allow_pickle=True))
    print(f"\n{len(recs)} problems; largest step-by-step vs uninterrupted gap {max(r['gap'] for r in recs):.1e}")
    ref_miss = sum(np.min(r["P"][leaders(r["F"], CURRENT)]) > np.min(r["P"]) * (1 + SAME_OPTIMUM) for r in recs)
    print(f"the current rule misses the best of all {N_STARTS} polished starts on {ref_miss} of {len(recs)} problems")
    laws = sorted({r["law"] for r in recs})
    print(f"\nagainst the current rule's answer (worse: > {SAME_OPTIMUM:g} relative); cost in block-iterations "
          "relative to the current rule's; checked: with the agreement check "
          f"(full race too when fewer than {agreement:.0%} of the leaders reach the best)")
    print(f"{'schedule':44s} {'worse':>5s} {'worst':>8s} {'cost':>5s} | checked: {'worse':>5s} {'worst':>8s} "
          + " ".join(f"{law + ' full/cost':>26s}" for law in laws))
    for name, rungs in SCHEDULES.items():
        plain = [outcome(r, rungs, 0.0) for r in recs]
        checked = [outcome(r, rungs, agreement) for r in recs]
        base = {law: np.mean([cost(r["F"], r["running"], CURRENT) for r in recs if r["law"] == law]) for law in laws}
        cols = []
        for law in laws:
            mine = [o for o, r in zip(checked, recs) if r["law"] == law]
            cols.append(f"{sum(o[2] for o in mine):3d}/{len(mine):3d} {np.mean([o[3] for o in mine]) / base[law]:5.2f}")
        def worse(out):
            return sum(o[0] > SAME_OPTIMUM for o in out), max(o[0] for o in out)
        w, wm = worse(plain)
        cw, cm = worse(checked)
        all_base = np.mean([cost(r["F"], r["running"], CURRENT) for r in recs])
        print(f"{name:44s} {w:5d} {wm:8.1e} {np.mean([o[3] for o in plain]) / all_base:5.2f} | checked: {cw:5d} "
              f"{cm:8.1e} " + " ".join(f"{c:>26s}" for c in cols))
        if name == HALVING_NAME:
            for law in laws:
                counts = np.bincount([o[1] for o, r in zip(plain, recs) if r["law"] == law], minlength=WIDTH + 1)
                print(f"    {law}: polished leaders at the best, count of problems: "
                      + ", ".join(f"{k}: {c}" for k, c in enumerate(counts) if c))
        for o, r in zip(checked, recs):
            if o[0] > SAME_OPTIMUM:
                print(f"    checked, worse: {r['label']}/{r['law']}/{r['objective']}/{r['variant']} {o[0]:+.1e} "
                      f"({o[1]} leaders at the best)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/race_study.npy"))
    ap.add_argument("--boot", type=int, default=4, help="bootstrap resamples per dataset")
    ap.add_argument("--only", default=None, help="datasets whose label contains this")
    ap.add_argument("--analyse", type=Path, default=None, help="analyse a saved study instead of running one")
    ap.add_argument("--agreement", type=float, default=0.5, help="share of leaders at the best that trusts a schedule")
    a = ap.parse_args()
    if a.analyse:
        analyse(a.analyse, a.agreement)
    else:
        study(a.out, a.boot, a.only)
