"""Chinchilla "Approach 3" law, L(N, D) = E + A / N^alpha + B / D^beta.

Hoffmann et al. 2022 (arXiv 2203.15556), fitted in log space as in Besiroglu et al. 2024
(Epoch AI's replication, arXiv 2404.10102): log L = LSE(a - alpha log N, b - beta log D, e) with
A = e^a, B = e^b, E = e^e, Huber(1e-3) on log residuals, multi-start from a 4,500-point grid.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .base import Law, logsumexp, product_grid

PARAMS = ("a", "b", "e", "alpha", "beta")


def log_predict(theta, logs):
    a, b, e, alpha, beta = theta
    return logsumexp(*jnp.broadcast_arrays(a - alpha * logs["N"], b - beta * logs["D"], e + 0.0 * logs["N"]))


#: axes of the 4,500-start grid of Hoffmann et al. / Epoch (LAWS.md §1), in fit space
GRID_AXES = {
    "a": np.arange(0, 30, 5.0),
    "b": np.arange(0, 30, 5.0),
    "e": np.arange(-1, 1.01, 0.5),
    "alpha": np.arange(0, 2.01, 0.5),
    "beta": np.arange(0, 2.01, 0.5),
}


def grid() -> np.ndarray:
    return product_grid(**GRID_AXES)


def natural(theta) -> dict:
    a, b, e, alpha, beta = (float(x) for x in theta)
    return {"E": np.exp(e), "A": np.exp(a), "B": np.exp(b), "alpha": alpha, "beta": beta}


def from_natural(p) -> np.ndarray:
    return np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"]], dtype=np.float64)


#: the paper's parameters in fit space: E, A, B enter through their logs
COORDS = {"E": ("e", "log"), "A": ("a", "log"), "B": ("b", "log"),
          "alpha": ("alpha", "identity"), "beta": ("beta", "identity")}


CHINCHILLA = Law(
    name="chinchilla",
    params=PARAMS,
    inputs=("N", "D"),
    log_predict=log_predict,
    grid=grid,
    lower=(-30.0, -30.0, -10.0, 0.0, 0.0),
    upper=(80.0, 80.0, 5.0, 5.0, 5.0),
    natural=natural,
    from_natural=from_natural,
    exponents=("alpha", "beta"),
    coords=COORDS,
    formula="L = E + A/N^alpha + B/D^beta",
    reference="Hoffmann et al. 2022 (Approach 3); Besiroglu et al. 2024",
)

#: Epoch AI's refit of Chinchilla's own data (LAWS.md §1), N = model size as plotted.
EPOCH_CHINCHILLA = {"E": 1.8172, "A": 477.8, "B": 2142.9, "alpha": 0.3473, "beta": 0.3672}


def compute_optimal(A, B, alpha, beta, C):
    """Compute-optimal (N*, D*) under C = 6ND for A/N^alpha + B/D^beta (+E, any outer power).

    Hoffmann et al. 2022, Eq. 4: N* = G (C/6)^a, D* = G^-1 (C/6)^b with a = beta/(alpha+beta),
    b = alpha/(alpha+beta), G = (alpha A / (beta B))^(1/(alpha+beta)). Works on arrays.
    """
    A, B, alpha, beta, C = (np.asarray(x, dtype=np.float64) for x in (A, B, alpha, beta, C))
    s = alpha + beta
    G = (alpha * A / (beta * B)) ** (1.0 / s)
    return G * (C / 6.0) ** (beta / s), (C / 6.0) ** (alpha / s) / G
