"""Batched multi-start minimisation of a scaling-law objective (Huber-in-log by default), in JAX.

Every start is solved at once (vmap inside one jitted `while_loop`). Each iteration is a
box-projected, saddle-free Newton step with parallel damping: with the exact Hessian
H = V diag(lam) V^T (small: P <= ~10 parameters), candidate steps
    s_k = -V diag(1 / (|lam| + mu_k)) V^T g,   mu_k in {0, 1e-8, ..., 1e4} * max|lam|
are all evaluated and the best decrease is taken (a Levenberg-Marquardt line search done in
parallel rather than by trial and error). Variables at a bound whose gradient points outward
are frozen for the step. Near the optimum mu = 0 wins and convergence is quadratic, which is
what the badly conditioned Chinchilla problem (condition number ~1e11) needs to agree with
scipy to ~1e-8.

A start never raises: it ends with a status code (CONVERGED, MAX_ITER) and its objective;
callers pick the best start and report how many reached it.

The objective kind (`spec.OBJECTIVES`) is static (one compiled solver per law and kind); the
over-prediction penalty and the box are ordinary arguments. A parameter whose lower and upper
bound coincide is held exactly fixed: it never moves and never enters the Newton system.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..laws.base import Law

CONVERGED, MAX_ITER = 0, 1
STATUS_NAMES = {CONVERGED: "converged", MAX_ITER: "max-iter"}

#: damping levels relative to the largest Hessian eigenvalue
_MUS = (0.0, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1.0, 1e2, 1e4)


class MultiStartResult(NamedTuple):
    thetas: np.ndarray  # (S, P) final parameters per start
    objectives: np.ndarray  # (S,)
    iterations: np.ndarray  # (S,)
    status: np.ndarray  # (S,) CONVERGED | MAX_ITER


def huber(r, delta):
    a = jnp.abs(r)
    return jnp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def pointwise_loss(kind: str, log_y, log_pred, delta, penalty):
    """Per-point loss of one objective kind, with over-predicted points multiplied by `penalty`.

    huber-log: Huber(delta) of r = log y - log pred; mse-log: r^2 / 2; mse: (y - pred)^2 / 2 on
    the loss itself. A point is over-predicted when pred > y (r < 0); the asymmetric factor is
    OLMo-core's `overestimate_penalty` (1 = symmetric).
    """
    r = log_y - log_pred
    if kind == "huber-log":
        loss = huber(r, delta)
    elif kind == "mse-log":
        loss = 0.5 * r * r
    elif kind == "mse":
        loss = 0.5 * (jnp.exp(log_y) - jnp.exp(log_pred)) ** 2
    else:
        raise ValueError(f"unknown objective kind {kind!r}")
    return jnp.where(r < 0, penalty, 1.0) * loss


def objective(law: Law, theta, logs, log_y, weights, delta, penalty=1.0, kind: str = "huber-log"):
    """Weighted sum of the per-point loss (`pointwise_loss`) over all runs."""
    val = jnp.sum(weights * pointwise_loss(kind, log_y, law.log_predict(theta, logs), delta, penalty))
    return jnp.where(jnp.isfinite(val), val, jnp.inf)


_CACHE: dict = {}


def _compiled(law: Law, kind: str):
    key = (law.name, id(law.log_predict), kind)
    if key not in _CACHE:
        _CACHE[key] = jax.jit(partial(_solve_batch, law, kind))
    return _CACHE[key]


def _solve_batch(law, kind, theta0, weights, logs, log_y, delta, penalty, lower, upper, ftol, max_iter):
    """theta0 (S,P), weights (S,n): minimise each start's objective independently."""
    def f(theta, logs, log_y, w, delta):
        return objective(law, theta, logs, log_y, w, delta, penalty, kind)

    mus = jnp.asarray(_MUS)
    pinned = lower >= upper  # fixed parameters: never part of the step

    def one_step(theta, fval, w):
        g = jax.grad(f)(theta, logs, log_y, w, delta)
        H = jax.hessian(f)(theta, logs, log_y, w, delta)
        at_lo = (theta <= lower) & (g > 0)
        at_hi = (theta >= upper) & (g < 0)
        free = ~(at_lo | at_hi | pinned) & jnp.isfinite(g)
        both = free[:, None] & free[None, :]
        eye = jnp.eye(theta.shape[0])
        Hf = jnp.where(both, H, 0.0) + jnp.where(free, 0.0, 1.0) * eye
        Hf = jnp.where(jnp.isfinite(Hf), Hf, 0.0)
        gf = jnp.where(free, g, 0.0)
        lam, V = jnp.linalg.eigh(Hf)
        alam = jnp.abs(lam)
        scale = jnp.maximum(jnp.max(alam), 1e-300)
        proj = V.T @ gf  # (P,)

        def candidate(mu):
            step = -V @ (proj / jnp.maximum(alam + mu * scale, 1e-300))
            return jnp.clip(theta + step, lower, upper)

        cands = jax.vmap(candidate)(mus)  # (M, P)
        fc = jax.vmap(lambda t: f(t, logs, log_y, w, delta))(cands)
        k = jnp.argmin(fc)
        better = fc[k] < fval
        return jnp.where(better, cands[k], theta), jnp.where(better, fc[k], fval)

    step_all = jax.vmap(one_step)

    def cond(state):
        _, _, done, it = state
        return jnp.any(~done) & (it < max_iter)

    def body(state):
        theta, fval, done, it = state
        new_theta, new_f = step_all(theta, fval, weights)
        gain = fval - new_f
        newly_done = gain <= ftol * jnp.maximum(jnp.abs(fval), 1e-300)
        theta = jnp.where(done[:, None], theta, new_theta)
        fval = jnp.where(done, fval, new_f)
        return theta, fval, done | newly_done, it + 1

    f0 = jax.vmap(lambda t, w: f(t, logs, log_y, w, delta))(theta0, weights)
    S = theta0.shape[0]
    init = (theta0, f0, ~jnp.isfinite(f0), jnp.asarray(0))

    # track per-start iteration counts alongside the loop state
    def body_count(state):
        inner, counts = state
        done_before = inner[2]
        inner = body(inner)
        return inner, counts + jnp.where(done_before, 0, 1)

    (theta, fval, done, _), counts = jax.lax.while_loop(
        lambda s: cond(s[0]), body_count, (init, jnp.zeros(S, dtype=jnp.int32))
    )
    return theta, fval, counts, done


def solve_multistart(
    law: Law,
    logs: dict,
    log_y,
    starts,
    *,
    delta: float,
    weights=None,
    max_iter: int = 200,
    ftol: float = 1e-10,
    kind: str = "huber-log",
    penalty: float = 1.0,
    lower=None,
    upper=None,
) -> MultiStartResult:
    """Minimise the objective `kind` from every row of `starts` (S, P) at once.

    `logs` maps each law input to its log values (n,); `weights` is (n,) for all starts or
    (S, n) for one weighting per start (the bootstrap uses counts as weights). `lower` /
    `upper` (P,) replace the law's box (equal ends hold a parameter fixed); `penalty`
    multiplies the loss of over-predicted points.
    """
    from .._jax import x64

    x64()
    starts = jnp.asarray(np.atleast_2d(np.asarray(starts, dtype=np.float64)))
    S = starts.shape[0]
    n = int(np.shape(log_y)[0])
    w = jnp.ones(n) if weights is None else jnp.asarray(weights, dtype=jnp.float64)
    w = jnp.broadcast_to(w, (S, n)) if w.ndim == 1 else w
    lower = jnp.asarray(law.lower if lower is None else lower, dtype=jnp.float64)
    upper = jnp.asarray(law.upper if upper is None else upper, dtype=jnp.float64)
    starts = jnp.clip(starts, lower, upper)
    jlogs = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in logs.items()}
    theta, fval, counts, done = _compiled(law, kind)(
        starts, w, jlogs, jnp.asarray(log_y, dtype=jnp.float64), float(delta), float(penalty), lower, upper,
        float(ftol), int(max_iter)
    )
    status = np.where(np.asarray(done), CONVERGED, MAX_ITER)
    return MultiStartResult(np.asarray(theta), np.asarray(fval), np.asarray(counts), status)


def grid_objectives(law: Law, logs: dict, log_y, grid, *, delta: float, chunk: int = 20000,
                    weights=None, kind: str = "huber-log", penalty: float = 1.0) -> np.ndarray:
    """Objective at every grid point (S, P), evaluated in vectorised chunks."""
    from .._jax import x64

    x64()
    jlogs = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in logs.items()}
    ly = jnp.asarray(log_y, dtype=jnp.float64)
    w = jnp.ones_like(ly) if weights is None else jnp.asarray(weights, dtype=jnp.float64)
    fn = _grid_fn(law, kind)
    grid = np.asarray(grid, dtype=np.float64)
    out = [np.asarray(fn(jnp.asarray(grid[i : i + chunk]), jlogs, ly, w, float(delta), float(penalty)))
           for i in range(0, len(grid), chunk)]
    return np.concatenate(out) if out else np.zeros(0)


def _grid_fn(law: Law, kind: str):
    key = ("grid", law.name, id(law.log_predict), kind)
    if key not in _CACHE:
        one = partial(objective, law, kind=kind)
        _CACHE[key] = jax.jit(jax.vmap(one, in_axes=(0, None, None, None, None, None)))
    return _CACHE[key]
