"""The compute-optimal frontier of isoFLOP Approach 2 (Hoffmann et al. 2022, §3.2) as a law.

Approach 2 does not model the loss surface; it measures the optimum directly, one compute budget
at a time, and fits power laws through the optima:

    N*(C) = k C^a,    D*(C) = C / (6 N*) = k_D C^b  with  b = 1 - a,  k_D = 1 / (6 k),
    L*(C) = k_L C^c   (the loss at the optimum, a local power law for reporting and planning).

Registering it as a law of kind "frontier" lets fit files, bootstrap draws and `get_law` work
unchanged; what it maps is log C -> log N*, not inputs -> loss, so the loss fitter, `predict` and
the loss plots do not apply to it. `allocate` is what the planner asks of a frontier law.
"""

from __future__ import annotations

import numpy as np

from .base import Law

PARAMS = ("log_k", "a", "log_k_L", "c")


def _log_predict(theta, logs):
    # log N*(C): the frontier's own "prediction"
    return theta[..., 0] + theta[..., 1] * logs["C"]


def _natural(theta) -> dict:
    t = np.asarray(theta, dtype=np.float64)
    k, a = np.exp(t[0]), t[1]
    return {"a": a, "b": 1.0 - a, "k": k, "k_D": 1.0 / (6.0 * k), "c": t[3], "k_L": np.exp(t[2])}


def _from_natural(p) -> np.ndarray:
    return np.array([np.log(p["k"]), p["a"], np.log(p["k_L"]), p["c"]], dtype=np.float64)


def allocate(theta, C) -> dict:
    """N*, D* = C/(6N*) and L* at budgets C (B,), for theta (P,) or one row per budget (B, P)."""
    C = np.asarray(C, dtype=np.float64).reshape(-1)
    t = np.asarray(theta, dtype=np.float64)
    lc = np.log(C)
    N = np.exp(t[..., 0] + t[..., 1] * lc)
    L = np.exp(t[..., 2] + t[..., 3] * lc)
    return {"N": N, "D": C / (6.0 * N), "loss": L, "interior": np.ones(C.shape, dtype=bool), "method": "isoflop"}


ISOFLOP = Law(
    name="isoflop",
    params=PARAMS,
    inputs=("C",),
    log_predict=_log_predict,
    grid=lambda: np.zeros((1, len(PARAMS))),
    lower=(-np.inf,) * len(PARAMS),
    upper=(np.inf,) * len(PARAMS),
    natural=_natural,
    from_natural=_from_natural,
    kind="frontier",
    formula="N*(C) = k C^a, D*(C) = C/(6 N*) = k_D C^b (b = 1 - a), L*(C) = k_L C^c",
    reference="Hoffmann et al. 2022, §3.2 (Approach 2: isoFLOP profiles)",
    # a frontier measured only at the fitted budgets: any budget outside them is an extrapolation
    extra={"extrapolation_warn": 1.0, "flops": "6nd"},
)
