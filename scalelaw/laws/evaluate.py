"""Evaluate a law's loss for one parameter vector or a batch of them (bootstrap draws).

The one place laws are evaluated numerically: `Law.predict`, bootstrap prediction bands and the
planner all come here.

Only the `Law` interface is used: `law.log_predict(theta, logs)` is pure jnp and vmappable. We
jit one element-wise function per law and feed it flat arrays padded to power-of-two lengths, so a
planning session compiles a handful of shapes instead of one per call site (compilation, not
arithmetic, dominates a cold single query).
"""

from __future__ import annotations

import numpy as np

from .._jax import x64

_COMPILED: dict = {}
_MIN_BUCKET = 4096


def _compiled(law, per_element_theta: bool):
    key = (id(law), per_element_theta)
    entry = _COMPILED.get(key)
    if entry is None:
        import jax

        from . import code_digest, is_registered

        fn = jax.vmap(law.log_predict, in_axes=(0 if per_element_theta else None, 0))
        if is_registered(law):  # traced once across processes (see `_jax.exported_call`)
            from functools import partial

            from .._jax import exported_call

            code = f"log_loss:{law.name}:{per_element_theta}:{code_digest()}"
            call = partial(lambda f, c, *args: exported_call(f, args, code=c), fn, code)
        else:
            from .._jax import jit

            call = jit(fn)
        entry = _COMPILED[key] = (law, call)  # holding the law keeps its id unique
    return entry[1]


def _bucket(n: int) -> int:
    return max(_MIN_BUCKET, 1 << int(np.ceil(np.log2(max(n, 1)))))


def log_loss(law, theta, **inputs) -> np.ndarray:
    """log L at positive `inputs` (one array per name in `law.inputs`).

    theta (P,): inputs may have any common (broadcast) shape.
    theta (B, P): inputs broadcast to (B, ...) and row b uses theta[b].
    """
    x64()
    theta = np.asarray(theta, dtype=np.float64)
    missing = [k for k in law.inputs if k not in inputs]
    if missing:
        raise TypeError(f"law {law.name!r} needs inputs {law.inputs}; missing {missing}")
    arrays = np.broadcast_arrays(*[np.asarray(inputs[k], dtype=np.float64) for k in law.inputs])
    shape = arrays[0].shape
    if theta.ndim == 2:
        B = theta.shape[0]
        shape = (B,) + (shape[1:] if len(shape) else ())
        arrays = [np.broadcast_to(a, shape) for a in arrays]
    n = int(np.prod(shape))
    m = _bucket(n)
    logs = {}
    for k, a in zip(law.inputs, arrays):
        flat = np.zeros(m)  # log 1 = 0 pads the tail
        flat[:n] = np.log(a).ravel()
        logs[k] = flat
    if theta.ndim == 2:
        rows = np.zeros((m, theta.shape[1]))
        rows[:n] = np.repeat(theta, n // theta.shape[0], axis=0)
        rows[n:] = theta[0]
        out = _compiled(law, True)(rows, logs)
    else:
        out = _compiled(law, False)(theta, logs)
    return np.asarray(out)[:n].reshape(shape)
