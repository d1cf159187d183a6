"""Batched multi-start minimisation of a scaling-law objective (Huber-in-log by default), in JAX.

Every start is solved at once (vmap inside one jitted `while_loop`). Each iteration is a
box-projected, saddle-free Newton step with parallel damping: with the exact Hessian
H = V diag(lam) V^T (small: P <= ~10 parameters), candidate steps
    s_k = -V diag(1 / (|lam| + mu_k)) V^T g,   mu_k in {0, 1e-8, ..., 1e4} * max|lam|
are all evaluated and the best decrease is taken (a Levenberg-Marquardt line search done in
parallel rather than by trial and error). Beside them, multiples (1, 3, 9, 27) of the start's last
accepted step are tried ("steps ahead"): along a long, nearly flat valley (the distillation
law's) the best Newton candidate is often a short step in the same direction as the last, and
repeating it took hundreds of iterations; with the steps ahead a bootstrap refit needs about half
as many (`benchmarks/bench_distill.py`). A step ahead is taken only when it is the best decrease,
so near the optimum the Newton step still wins. Variables at a bound whose gradient points
outward are frozen for the step. Near the optimum mu = 0 wins and convergence is quadratic, which is
what the badly conditioned Chinchilla problem (condition number ~1e11) needs to agree with
scipy to ~1e-8.

A start never raises: it ends with a status code (CONVERGED, MAX_ITER) and its objective;
callers pick the best start and report how many reached it.

The objective kind (`spec.OBJECTIVES`) is static (one compiled solver per law and kind); the
over-prediction penalty and the box are ordinary arguments. A parameter whose lower and upper
bound coincide is held exactly fixed: it never moves and never enters the Newton system.
"""

from __future__ import annotations

from functools import cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import UserError
from ..laws.base import Law

CONVERGED, MAX_ITER = 0, 1
STATUS_NAMES = {CONVERGED: "converged", MAX_ITER: "max-iter"}

#: damping levels relative to the largest Hessian eigenvalue
_MUS = (0.0, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1.0, 1e2, 1e4)
#: multiples of the last accepted step, tried beside the Newton candidates
_AHEAD = (1.0, 3.0, 9.0, 27.0)


class MultiStartResult(NamedTuple):
    thetas: np.ndarray  # (S, P) final parameters per start
    objectives: np.ndarray  # (S,)
    iterations: np.ndarray  # (S,)
    status: np.ndarray  # (S,) CONVERGED | MAX_ITER
    #: (S, P) each start's last accepted step (zero if its last iteration was not a decrease):
    #: passed back as `last_step`, a continued solve follows the same path as an uninterrupted one
    last_step: np.ndarray | None = None


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
    # one select of the loss rather than a product with a selected factor: XLA's CPU backend then
    # fuses the loss into the sum over points instead of materialising both factors
    return jnp.where(r < 0, penalty * loss, loss)


def _loss_derivatives(kind: str, log_y, log_pred, delta, penalty):
    """Per-point loss (`pointwise_loss`) and its first and second derivatives in log_pred."""
    loss = lambda x: pointwise_loss(kind, log_y, x, delta, penalty)  # noqa: E731
    ones = jnp.ones_like(log_pred)
    first = lambda x: jax.jvp(loss, (x,), (ones,))  # noqa: E731  (elementwise: jvp = derivative)
    (val, d1), (_, d2) = jax.jvp(first, (log_pred,), (ones,))
    return val, d1, d2


def objective(law: Law, theta, logs, log_y, weights, delta, penalty=1.0, kind: str = "huber-log"):
    """Weighted sum of the per-point loss (`pointwise_loss`) over all runs."""
    val = jnp.sum(weights * pointwise_loss(kind, log_y, law.log_predict(theta, logs), delta, penalty))
    return jnp.where(jnp.isfinite(val), val, jnp.inf)


_CACHE: dict = {}

#: bytes of float64 work per (start, point) pair in one chunk: the objective, its gradient and
#: Hessian by forward-over-reverse differentiation (~P^2 + a few P temporaries per point) and the
#: candidate steps' objectives (len(_MUS) + len(_AHEAD) per point), with headroom for XLA's temporaries
def _bytes_per_pair(P: int) -> int:
    return 8 * 2 * (P * P + 4 * P + len(_MUS) + len(_AHEAD) + 8)


#: working-memory budget for the chunked intermediates (the rest of a fit is O(points))
WORK_BYTES = 256 * 2**20
#: point chunks are powers of two in [MIN_CHUNK, MAX_CHUNK]: few compiled shapes, short scans
MIN_CHUNK, MAX_CHUNK = 64, 8192


def available_bytes() -> int:
    """Memory this process may still use: MemAvailable, or SCALELAW_MEMORY_GB if set lower."""
    import os

    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            avail = 8 * 2**30
    cap = os.environ.get("SCALELAW_MEMORY_GB")
    if cap:
        try:
            avail = min(avail, int(float(cap) * 2**30))
        except ValueError:
            raise UserError(f"SCALELAW_MEMORY_GB={cap!r}: expected a number of GB") from None
    return avail


def plan_chunks(n_rows: int, n_batch: int, P: int, *, weight_rows: int = 0, n_inputs: int, what: str) -> tuple[int, int]:
    """(chunk, n_chunks): points are summed in chunks so that n_batch x chunk pairs fit WORK_BYTES.

    Refuses (UserError) before allocating when even the smallest chunk, with the data and any
    per-start weights (weight_rows x n_rows), does not fit in the available memory.
    """
    per_pair = _bytes_per_pair(P)
    avail = available_bytes()
    budget = min(WORK_BYTES, avail // 4)
    whole = -(-max(n_rows, 1) // MIN_CHUNK) * MIN_CHUNK  # every row in one chunk, padded to MIN_CHUNK
    if whole <= MAX_CHUNK and whole * n_batch * per_pair <= budget:
        chunk = whole  # no loop over chunks, and no padding to a power of two
    else:
        chunk = MIN_CHUNK
        while chunk < MAX_CHUNK and chunk < n_rows and 2 * chunk * n_batch * per_pair <= budget:
            chunk *= 2
    n_chunks = -(-max(n_rows, 1) // chunk)
    padded = n_chunks * chunk
    need = (3 * padded * (n_inputs + 2) * 8  # data, padded copies, device copies
            + padded * weight_rows * 8 * 2
            + n_batch * chunk * per_pair)
    if need > avail:
        raise UserError(f"{what}: {n_batch} starts x {n_rows} rows need ~{need / 2**30:.1f} GB of memory, "
                        f"only {avail / 2**30:.1f} GB is available (fewer rows, starts or resamples?)")
    return chunk, n_chunks


def _chunked(logs: dict, log_y, chunk: int, n_chunks: int):
    """Point data padded to n_chunks x chunk (edge rows, weight 0) and reshaped (n_chunks, chunk).

    numpy arrays: the jitted solver takes them as they are (a jnp conversion here would compile
    small kernels of its own in every new process)."""
    n = int(np.shape(log_y)[0])
    pad = n_chunks * chunk - n

    def shape(v):
        v = np.asarray(v, dtype=np.float64)
        return np.pad(v, (0, pad), mode="edge").reshape(n_chunks, chunk)

    mask = np.pad(np.ones(n), (0, pad)).reshape(n_chunks, chunk)
    return {k: shape(v) for k, v in logs.items()}, shape(log_y), mask


def _weights_chunked(w, chunk: int, n_chunks: int):
    """(S, n) weights padded with zeros and reshaped (S, n_chunks, chunk)."""
    w = np.asarray(w, dtype=np.float64)
    pad = n_chunks * chunk - w.shape[-1]
    return np.pad(w, ((0, 0), (0, pad))).reshape(w.shape[0], n_chunks, chunk)


def _sum_chunks(fn, logs, log_y, mask, w):
    """sum over point chunks of fn(chunk logs, chunk log_y, chunk weights) for a pytree fn.

    `w` is None (weights = the padding mask) or (n_chunks, chunk) weights of one start.
    """
    xs = (logs, log_y, mask) if w is None else (logs, log_y, w)

    def body(acc, x):
        part = fn(*x)
        return jax.tree_util.tree_map(jnp.add, acc, part), None

    first = jax.tree_util.tree_map(lambda a: a[0], xs)
    if jax.tree_util.tree_leaves(xs)[0].shape[0] == 1:  # one chunk (small files): no loop to compile
        return fn(*first)
    # the sums start from zeros, not from the first chunk's part: fn appears once in the
    # compiled kernel (in the loop) rather than twice, which halves its compilation
    zero = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn, *first))
    acc, _ = jax.lax.scan(body, zero, xs)
    return acc


def _call(tag: str, fn, law: Law, kind: str, args: tuple):
    """fn(law, kind, *args), jitted. For a registered law it goes through the exported-trace cache
    (`_jax.exported_call`), so a new process skips tracing the solver; a law built at run time
    (code we cannot digest) is traced as usual."""
    from ..laws import is_registered

    if is_registered(law):
        from .._jax import exported_call

        return exported_call(partial(fn, law, kind), args, code=_code(law, kind, tag))
    return _jit(tag, fn, law, kind)(*args)


@cache
def _own_digest() -> str:
    from .._jax import source_digest

    return source_digest(__file__)


def _code(law: Law, kind: str, tag: str) -> str:
    """What a trace of a registered law runs: which function, law and kind, and the code's digest."""
    from ..laws import code_digest

    return f"{tag}:{law.name}:{kind}:{_own_digest()}:{code_digest()}"


def _jit(tag: str, fn, law: Law, kind: str):
    key = (tag, law.name, id(law.log_predict), kind)
    if key not in _CACHE:
        from .._jax import jit

        _CACHE[key] = jit(partial(fn, law, kind))
    return _CACHE[key]


def _solve_batch(law, kind, theta0, last0, iters0, queue, slots0, weights, idx, logs, log_y, mask, delta, penalty,
                 lower, upper, ftol, max_iter, n_todo, exit_active):
    """Minimise the objective from the starts `queue[:n_todo]` of theta0 (S, P), B = len(slots0) at a time.

    B starts are in flight (the slots); each iteration steps all of them, and a slot whose start
    converged or reached `max_iter` (counted from `iters0`) takes the next start of the queue, so a
    batch is never held up by its slowest start. The loop ends when every queued start is finished,
    or when the queue is empty and at most `exit_active` starts are still running (the caller
    continues those in fewer slots). A start's path depends only on its own state (parameters,
    objective, last step, weights), so any B gives the same results to rounding. B = S means
    every start is in a slot from the first iteration (no queue): the plain multi-start solve.
    `weights` is None or (S, n_chunks, chunk); with `idx` (S, n_chunks, chunk), each start sees only its own points
    (`_compressed`) and logs / log_y are the flat (n,) data. Objective, gradient and Hessian are
    accumulated over point chunks (lax.scan), so memory is O(B x chunk x P^2), never
    O(starts x points x P^2).
    """
    mus = jnp.asarray(_MUS)
    extrap = jnp.asarray(_AHEAD)
    pinned = lower >= upper  # fixed parameters: never part of the step
    S, B = theta0.shape[0], slots0.shape[0]

    def f(theta, lg, ly, w):
        return objective(law, theta, lg, ly, w, delta, penalty, kind)

    def points(w):
        """(logs, log_y, mask, weights) of one start's points, chunked."""
        if idx is None:
            return logs, log_y, mask, w
        i, wc = w
        return {k: v[i] for k, v in logs.items()}, log_y[i], None, wc

    def fgh(theta, w):
        def part(lg, ly, wc):
            if law.log_derivatives is not None:  # the law's closed form: a few outer products
                pred, J, curvature = law.log_derivatives(theta, lg)
                loss, d1, d2 = _loss_derivatives(kind, ly, pred, delta, penalty)
                wd1 = wc * d1
                return jnp.sum(wc * loss), J.T @ wd1, J.T @ ((wc * d2)[:, None] * J) + curvature(wd1)
            # forward-over-reverse, as jax.hessian, with the value and gradient of the same pass
            def grad_aux(t):
                val, g = jax.value_and_grad(f)(t, lg, ly, wc)
                return g, (val, g)

            H, (val, g) = jax.jacfwd(grad_aux, has_aux=True)(theta)
            return val, g, H
        val, g, H = _sum_chunks(part, *points(w))
        return jnp.where(jnp.isfinite(val), val, jnp.inf), g, H

    def fmany(thetas, w):
        val = _sum_chunks(lambda lg, ly, wc: jax.vmap(lambda t: f(t, lg, ly, wc))(thetas), *points(w))
        return jnp.where(jnp.isfinite(val), val, jnp.inf)

    def one_step(theta, fval, w, last):
        _, g, H = fgh(theta, w)
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

        newton = jax.vmap(candidate)(mus)  # (M, P)
        ahead = jnp.clip(theta + extrap[:, None] * last, lower, upper)  # (X, P)
        cands = jnp.concatenate([newton, ahead])
        fc = fmany(cands, w)
        k = jnp.argmin(fc)
        better = fc[k] < fval
        new = jnp.where(better, cands[k], theta)
        return new, jnp.where(better, fc[k], fval), new - theta

    per_start = None if weights is None else (weights if idx is None else (idx, weights))
    w_axis = None if weights is None else 0
    step_all = jax.vmap(one_step, in_axes=(0, 0, w_axis, 0))
    f0 = jax.vmap(lambda t, w: fmany(t[None], w)[0], in_axes=(0, w_axis))(theta0, per_start)

    def body(state):
        theta, fval, done, iters, last, slot, ptr = state
        valid = slot < S
        if B == S:  # slot i holds start i (or nothing): no gathers
            def take(a):
                return a

            def put(a, v):
                return jnp.where(valid.reshape((-1,) + (1,) * (a.ndim - 1)), v, a)
        else:
            at = jnp.minimum(slot, S - 1)

            def take(a):
                return a[at]

            def put(a, v):
                return a.at[slot].set(v, mode="drop")  # an empty slot (index S) writes nothing
        th, fv, dn, it, ls = take(theta), take(fval), take(done), take(iters), take(last)
        new_th, new_f, step = step_all(th, fv, jax.tree_util.tree_map(take, per_start), ls)
        act = valid & ~dn
        newly = (fv - new_f) <= ftol * jnp.maximum(jnp.abs(fv), 1e-300)
        th, fv = jnp.where(act[:, None], new_th, th), jnp.where(act, new_f, fv)
        ls, it, dn = jnp.where(act[:, None], step, ls), it + act, dn | (act & newly)
        theta, fval, last, iters, done = put(theta, th), put(fval, fv), put(last, ls), put(iters, it), put(done, dn)
        # refill: each finished (or empty) slot takes the next queued start, in queue order
        free_slot = ~valid | dn | (it >= max_iter)
        pos = ptr + jnp.cumsum(free_slot) - 1
        load = free_slot & (pos < n_todo)
        slot = jnp.where(load, queue[jnp.minimum(pos, S - 1)], jnp.where(free_slot, S, slot))
        return theta, fval, done, iters, last, slot, ptr + jnp.sum(load)

    def cond(state):
        slot, ptr = state[5], state[6]
        active = jnp.sum(slot < S)
        return (active > 0) & ((ptr < n_todo) | (active > exit_active))

    init = (theta0, f0, ~jnp.isfinite(f0), iters0, last0, slots0, jnp.minimum(n_todo, B))
    theta, fval, done, iters, last, _, _ = jax.lax.while_loop(cond, body, init)
    return theta, fval, iters, done, last


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
    last_step=None,
) -> MultiStartResult:
    """Minimise the objective `kind` from every row of `starts` (S, P) at once.

    `logs` maps each law input to its log values (n,); `weights` is (n,) for all starts or
    (S, n) for one weighting per start (the bootstrap uses counts as weights). `lower` /
    `upper` (P,) replace the law's box (equal ends hold a parameter fixed); `penalty`
    multiplies the loss of over-predicted points. `last_step` (S, P), a previous result's, continues
    its solves where they stopped (the steps ahead depend on it). Sums over points run in chunks sized by
    `plan_chunks`; a problem that cannot fit in memory is refused before anything is allocated.
    Every start is stepped in every iteration until the last one stops: for many starts that
    need very different numbers of iterations, `solve_queued` costs less.
    """
    S = int(np.shape(np.atleast_2d(starts))[0])
    args = _solver_args(law, logs, log_y, starts, slots=S, delta=delta, weights=weights, max_iter=max_iter,
                        ftol=ftol, penalty=penalty, lower=lower, upper=upper, last_step=last_step)
    theta, fval, counts, done, last = _call("solve", _solve_batch, law, kind, args)
    status = np.where(np.asarray(done), CONVERGED, MAX_ITER)
    return MultiStartResult(np.asarray(theta), np.asarray(fval), np.asarray(counts), status, np.asarray(last))


#: starts in flight in `solve_queued`: from 16 up the cost per start-iteration is within ~10% of
#: a 1,024-wide batch (distillation law, 744 points), and with a queue a wider batch buys nothing
#: more; 16 and then 1 serve the last, slowest starts (a 16-wide batch with 8 busy costs what one
#: start at a time costs)
QUEUE_SLOTS = (64, 16, 1)
#: a queued solve pads its rows to a multiple of this, so solves of 1 to 16 starts share shapes
QUEUE_ROWS = 16


def solve_queued(law: Law, logs: dict, log_y, starts, *, delta: float, weights=None, max_iter: int = 200,
                 ftol: float = 1e-10, kind: str = "huber-log", penalty: float = 1.0, lower=None, upper=None,
                 last_step=None) -> MultiStartResult:
    """`solve_multistart`, with at most QUEUE_SLOTS[0] starts in flight and the rest queued.

    A batch iterates until its slowest start stops, and where a few starts creep for hundreds of
    iterations while most stop within tens (the distillation law's flat valley) that wastes most
    of the work. Here a start that finishes hands its slot to the next queued one, and once the
    queue is empty and at most half of the slots are busy, the remaining starts continue in the
    next, smaller number of slots. Each start follows the same path as in `solve_multistart`
    (its step depends only on its own state), to rounding: batches of another width round in
    other last bits, which along the distillation law's flat valley can grow into another
    stopping point (`benchmarks/bench_distill.py` compares the bootstraps). The cost is set by
    the iterations each start needs. The rows are padded to a multiple of 16 (padding is never
    solved), so solves of 1 to 16 starts share their compiled shapes.
    """
    th = np.array(np.atleast_2d(np.asarray(starts, dtype=np.float64)))
    n_starts = len(th)
    last = np.zeros_like(th) if last_step is None else np.asarray(last_step, dtype=np.float64).reshape(th.shape)
    S = -(-n_starts // QUEUE_ROWS) * QUEUE_ROWS
    th, last = (np.concatenate([a, np.repeat(a[:1], S - n_starts, axis=0)]) for a in (th, last))
    if weights is not None and np.ndim(weights) == 2:
        weights = np.concatenate([weights, np.repeat(weights[:1], S - n_starts, axis=0)])
    iters = np.zeros(S, dtype=np.int64)
    done = np.zeros(S, dtype=bool)
    obj = np.full(S, np.inf)
    todo = np.arange(n_starts)
    sparse = _compressed(weights) if weights is not None and np.ndim(weights) == 2 else None  # once, for every level
    first = min(S, QUEUE_SLOTS[0])
    levels = [first] + [b for b in QUEUE_SLOTS if b < first]
    for i, B in enumerate(levels):
        exit_active = B // 2 if i + 1 < len(levels) else 0
        if len(todo) <= exit_active:  # this many go straight to the next level
            continue
        args = _solver_args(law, logs, log_y, th, slots=B, todo=todo, iters=iters, exit_active=exit_active,
                            delta=delta, weights=weights, max_iter=max_iter, ftol=ftol, penalty=penalty,
                            lower=lower, upper=upper, last_step=last, sparse=sparse)
        t, f, it, dn, ls = (np.asarray(a) for a in _call("solve", _solve_batch, law, kind, args))
        th[todo], obj[todo], iters[todo], done[todo], last[todo] = t[todo], f[todo], it[todo], dn[todo], ls[todo]
        todo = todo[~done[todo] & (iters[todo] < max_iter)]
        if not len(todo):
            break
    k = slice(0, n_starts)
    return MultiStartResult(th[k], obj[k], iters[k], np.where(done, CONVERGED, MAX_ITER)[k], last[k])


def prepare_multistart(law: Law, logs: dict, log_y, n_starts: int, *, delta: float, weights=None,
                       max_iter: int = 200, ftol: float = 1e-10, kind: str = "huber-log", penalty: float = 1.0,
                       lower=None, upper=None, slots: int | None = None) -> None:
    """Start compiling (or loading) the solver that `solve_multistart` with `n_starts` starts and
    these arguments will run, in the background (`_jax.prepare_call`); a no-op for a law built at
    run time. Only shapes matter, so it can be called before the starts or the data's values are
    known. With `slots`, the solver of a `solve_queued` level of that many slots over `n_starts`
    rows (a multiple of QUEUE_ROWS)."""
    from ..laws import is_registered

    if not is_registered(law):
        return
    from .._jax import prepare_call

    args = _solver_args(law, logs, log_y, np.zeros((n_starts, law.n_params)), slots=slots or n_starts, delta=delta,
                        weights=weights, max_iter=max_iter, ftol=ftol, penalty=penalty, lower=lower, upper=upper)
    prepare_call(partial(_solve_batch, law, kind), args, code=_code(law, kind, "solve"))


def _solver_args(law: Law, logs: dict, log_y, starts, *, slots: int, delta, weights, max_iter, ftol, penalty, lower,
                 upper, last_step=None, todo=None, iters=None, exit_active: int = 0, sparse=False):
    """The arguments of `_solve_batch` after `law`: chunked, padded numpy arrays and 0-d scalars.

    `todo` (default: every start) are the rows to solve, in order; `slots` of them are in flight.
    `sparse` is `_compressed(weights)` when the caller already has it (False: compute it here).
    """
    from .._jax import enable_compile_cache, x64

    x64()
    enable_compile_cache()
    S = int(np.shape(np.atleast_2d(starts))[0])
    n = int(np.shape(log_y)[0])
    per_start = weights is not None and np.ndim(weights) == 2
    plan = partial(plan_chunks, n_batch=slots, P=law.n_params, weight_rows=S if per_start else 0, n_inputs=len(logs),
                   what=f"fit of {law.name!r}")
    chunk, n_chunks = plan(n)  # refuses what cannot fit before anything is allocated
    if sparse is False:
        sparse = _compressed(weights) if per_start else None
    if sparse is not None:
        chunk, n_chunks = plan(sparse[0].shape[1])
    starts = np.atleast_2d(np.asarray(starts, dtype=np.float64))
    idx = None
    if sparse is not None:  # each start's own points: flat data, per-start indices and weights
        jlogs = {k: np.asarray(v, dtype=np.float64) for k, v in logs.items()}
        ly, mask = np.asarray(log_y, dtype=np.float64), None
        idx = _weights_chunked(sparse[0], chunk, n_chunks).astype(np.int32)
        w = _weights_chunked(sparse[1], chunk, n_chunks)
    else:
        jlogs, ly, mask = _chunked(logs, log_y, chunk, n_chunks)
        if weights is None:
            w = None
        elif per_start:
            w = _weights_chunked(weights, chunk, n_chunks)
        else:  # one weighting for all starts: it replaces the padding mask
            w = None
            mask = _weights_chunked(np.asarray(weights, dtype=np.float64)[None], chunk, n_chunks)[0]
    lower = np.asarray(law.lower if lower is None else lower, dtype=np.float64)
    upper = np.asarray(law.upper if upper is None else upper, dtype=np.float64)
    starts = np.clip(starts, lower, upper)
    f64 = np.float64  # scalars as 0-d arrays of fixed dtype: one trace whatever their values
    last = np.zeros_like(starts) if last_step is None else np.asarray(last_step, dtype=np.float64).reshape(starts.shape)
    todo = np.arange(S) if todo is None else np.asarray(todo)
    queue = np.full(S, S, dtype=np.int32)
    queue[: len(todo)] = todo
    if slots == S:  # every start in its own slot (the solver's no-gather path): slot i holds start i
        slots0 = np.full(S, S, dtype=np.int32)
        slots0[todo] = todo
    else:
        slots0 = queue[:slots].copy()
    iters = np.zeros(S, dtype=np.int32) if iters is None else np.asarray(iters, dtype=np.int32)
    return (starts, last, iters, queue, slots0, w, idx, jlogs, ly, mask, f64(delta), f64(penalty), lower, upper, f64(ftol),
            np.int64(max_iter), np.int64(len(todo)), np.int64(exit_active))


def _compressed(weights):
    """(indices, weights), each (S, m): every start's points of nonzero weight, in file order, padded
    with zero-weight points to the largest count m; None when that saves under a fifth of the points.

    A bootstrap resample leaves ~1/e of the points out (weight 0), and the solver's cost is the
    points it sums, so each resample is solved on its own points only. m is rounded up to a
    multiple of ~n/8 (at least 8), so that chunks of resamples share a compiled shape.
    """
    w = np.asarray(weights, dtype=np.float64)
    n = w.shape[1]
    nonzero = w != 0
    granule = max(8, 1 << (max(n // 8, 1).bit_length() - 1))
    m = -(-max(int(nonzero.sum(axis=1).max(initial=0)), 1) // granule) * granule
    if m > 0.8 * n:
        return None
    idx = np.argsort(~nonzero, axis=1, kind="stable")[:, :m]  # nonzero first, each group in file order
    return idx, np.take_along_axis(w, idx, axis=1)


def grid_objectives(law: Law, logs: dict, log_y, grid, *, delta: float, chunk: int | None = None,
                    weights=None, kind: str = "huber-log", penalty: float = 1.0) -> np.ndarray:
    """Objective at every grid point (G, P), in blocks of grid points x point chunks.

    `chunk` fixes the number of grid points per block; by default it is chosen so that a block
    of grid points x one point chunk fits the working-memory budget.
    """
    from .._jax import enable_compile_cache, x64

    x64()
    enable_compile_cache()
    grid = np.asarray(grid, dtype=np.float64)
    n = int(np.shape(log_y)[0])
    per_pair = 8 * 6  # objective values only: no derivatives, a few fused temporaries
    pts, n_chunks = plan_chunks(n, 1, law.n_params, n_inputs=len(logs),
                                what=f"grid search of {law.name!r}")
    if chunk is None:
        chunk = 1
        while chunk < 65536 and chunk < len(grid) and 2 * chunk * pts * per_pair <= WORK_BYTES:
            chunk *= 2
        if chunk >= len(grid):  # one block: pad only to a multiple of MIN_CHUNK (4,500 -> 4,544, not 8,192)
            chunk = max(-(-len(grid) // MIN_CHUNK) * MIN_CHUNK, 1)
    jlogs, ly, mask = _chunked(logs, log_y, pts, n_chunks)
    if weights is not None:  # one weighting of the points: it replaces the padding mask
        mask = _weights_chunked(np.asarray(weights, dtype=np.float64)[None], pts, n_chunks)[0]
    out = []
    d, pen = np.float64(delta), np.float64(penalty)
    for i in range(0, len(grid), chunk):
        block = grid[i : i + chunk]
        if len(block) < chunk:  # one compiled shape: pad the last block with its last row
            block = np.concatenate([block, np.repeat(block[-1:], chunk - len(block), axis=0)])
        val = _call("grid", _grid_values, law, kind, (block, jlogs, ly, mask, d, pen))
        out.append(np.asarray(val)[: len(grid) - i])
    return np.concatenate(out) if out else np.zeros(0)


def _grid_values(law: Law, kind: str, thetas, logs, log_y, mask, delta, penalty):
    """Objective of every row of thetas (G, P), summed over point chunks."""
    f = lambda lg, ly, w: jax.vmap(lambda t: objective(law, t, lg, ly, w, delta, penalty, kind))(thetas)  # noqa: E731
    val = _sum_chunks(f, logs, log_y, mask, None)
    return jnp.where(jnp.isfinite(val), val, jnp.inf)
