"""Log-sum-exp forms on XLA's CPU backend: JAX's own next to the one every law uses, same run.

Every registered law evaluates its log-sum-exp with `scalelaw.laws.base.logsumexp` (the running
maximum held constant under differentiation, the terms kept as separate arrays). This prints, per
array size, the time per element of `sum(f(x, 2x))` in float64 under jit for

  * jnp.logaddexp(x, y)          vs  base.logsumexp(x, y)
  * jax.nn.softplus(x)           vs  base.softplus(x)        (= base.logsumexp(x, 0))
  * the distillation law's objective at 832 candidate parameter vectors (64 starts x 13 candidates,
    the solver's inner evaluation) with the law written with jnp.logaddexp / jax.nn.softplus
    vs as shipped

and the largest difference of the values (relative), so a faster form that changes results shows.

Run:
    python benchmarks/bench_lse.py [--sizes 10000,100000,1000000,4000000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def best_time(fn, x, repeat: int) -> float:
    import jax

    jax.block_until_ready(fn(x))  # compile
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(fn(x))
        times.append(time.perf_counter() - t)
    return min(times)


def elementwise(sizes, repeat: int) -> None:
    import jax
    import jax.numpy as jnp

    from scalelaw.laws.base import logsumexp
    from scalelaw.laws.base import softplus

    pairs = {
        "logaddexp": (lambda v: jnp.logaddexp(v, 2 * v), lambda v: logsumexp(v, 2 * v)),
        "softplus": (jax.nn.softplus, softplus),
    }
    print(f"{'form':10s} {'n':>9s} {'jax ns/elem':>12s} {'ours ns/elem':>13s} {'ratio':>6s} {'max rel diff':>13s}")
    rng = np.random.default_rng(0)
    for n in sizes:
        x = jnp.asarray(rng.normal(0.0, 3.0, n))
        for name, (theirs, ours) in pairs.items():
            f_t = jax.jit(lambda v, f=theirs: jnp.sum(f(v)))
            f_o = jax.jit(lambda v, f=ours: jnp.sum(f(v)))
            t_t, t_o = best_time(f_t, x, repeat), best_time(f_o, x, repeat)
            diff = float(jnp.max(jnp.abs(theirs(x) - ours(x)) / jnp.maximum(jnp.abs(theirs(x)), 1e-300)))
            print(f"{name:10s} {n:9d} {t_t / n * 1e9:12.2f} {t_o / n * 1e9:13.2f} {t_t / t_o:6.2f} {diff:13.2e}")


def law_objective(repeat: int) -> None:
    """The distillation objective at the solver's 64 x 13 candidates, law with JAX's forms vs ours."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    from scalelaw.fit.solver import objective
    from scalelaw.laws import busbridge as bb

    def jax_forms(theta, logs):
        a, b, alpha, beta, gamma, c0, log_c1, log_f1, log_d1 = theta
        power = jnp.logaddexp(a - alpha * logs["N"], b - beta * logs["D"])
        gap = jax.nn.softplus((logs["L_T"] - logs["L_sup"] - log_d1) / jnp.exp(log_f1))
        second = -c0 * logs["L_T"] - jnp.exp(log_c1) * jnp.exp(log_f1) * gap + gamma * power
        return jnp.logaddexp(logs["L_T"], second)

    theirs = dataclasses.replace(bb.DISTILL, log_predict=jax_forms)
    rng = np.random.default_rng(0)
    n = 768
    logs = {"N": rng.uniform(18, 22, n), "D": rng.uniform(20, 25, n), "L_T": rng.uniform(0.8, 1.2, n),
            "L_sup": rng.uniform(0.8, 1.2, n)}
    logs = {k: jnp.asarray(v) for k, v in logs.items()}
    truth = bb.DISTILL.from_natural(bb.PUBLISHED_DISTILL)
    log_y = bb.DISTILL.log_predict(jnp.asarray(truth), logs) + 0.005 * jnp.asarray(rng.normal(size=n))
    cands = jnp.asarray(truth + rng.normal(0.0, 0.01, (64 * 13, truth.size)))
    w = jnp.ones(n)

    def batch(law):
        return jax.jit(jax.vmap(lambda t: objective(law, t, logs, log_y, w, 1e-4)))

    f_t, f_o = batch(theirs), batch(bb.DISTILL)
    t_t, t_o = best_time(f_t, cands, repeat), best_time(f_o, cands, repeat)
    diff = float(jnp.max(jnp.abs(f_t(cands) - f_o(cands)) / f_t(cands)))
    pts = cands.shape[0] * n
    print(f"\ndistillation objective, {cands.shape[0]} candidates x {n} points: jax forms {t_t / pts * 1e9:.1f} ns/point, "
          f"ours {t_o / pts * 1e9:.1f} ns/point, ratio {t_t / t_o:.2f}, max rel diff {diff:.1e}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000,1000000,4000000")
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    from scalelaw._jax import x64

    x64()
    elementwise([int(s) for s in args.sizes.split(",")], args.repeat)
    law_objective(args.repeat)


if __name__ == "__main__":
    main()
