"""Evaluate a law's loss for one parameter vector or a batch of them (bootstrap draws).

Only the `Law` interface is used: `law.log_predict(theta, logs)` is pure jnp, so a batch of
parameter vectors (B, P) is handled with `jax.vmap` over the leading axis of theta and inputs.
"""

from __future__ import annotations

import numpy as np

from .._jax import x64

_COMPILED: dict = {}


def _compiled(law, batched: bool):
    key = (id(law), batched)
    entry = _COMPILED.get(key)
    if entry is None:
        import jax

        fn = jax.vmap(law.log_predict) if batched else law.log_predict
        entry = _COMPILED[key] = (law, jax.jit(fn))  # holding the law keeps its id unique
    return entry[1]


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
    if theta.ndim == 2:
        shape = (theta.shape[0],) + arrays[0].shape[1:] if arrays[0].ndim else (theta.shape[0],)
        arrays = [np.broadcast_to(a, shape) for a in arrays]
    logs = {k: np.log(a) for k, a in zip(law.inputs, arrays)}
    return np.asarray(_compiled(law, theta.ndim == 2)(theta, logs))


def loss(law, theta, **inputs) -> np.ndarray:
    return np.exp(log_loss(law, theta, **inputs))
