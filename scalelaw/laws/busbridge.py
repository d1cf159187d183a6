"""The laws of Busbridge et al. 2025, "Distillation Scaling Laws" (arXiv 2502.08606).

Supervised (their Eq. 1):  L(N, D) = E + (A / N^alpha + B / D^beta)^gamma   ("chinchilla-gamma";
gamma = 1 is Chinchilla).

Distillation (their Eq. 8):
    L_S = L_T + L_T^-c0 * (1 + (L_T / (Ltilde_S d1))^(1/f1))^(-c1 f1) * (A'/N_S^alpha' + B'/D_S^beta')^gamma'
with Ltilde_S = L(N_S, D_S) from a fitted supervised law. Note the ratio L_T / (Ltilde_S d1):
it is not Ltilde_S^d1 (LAWS.md §4 warns about a public mis-transcription). The teacher enters
only through its loss L_T. Both are evaluated in log space with log-sum-exp.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .base import Law, logsumexp, product_grid, softplus

# ---------------------------------------------------------------- supervised gamma law

SUP_PARAMS = ("a", "b", "e", "alpha", "beta", "gamma")


def log_power_sum(a, b, alpha, beta, logN, logD):
    """log(A/N^alpha + B/D^beta) with A = e^a, B = e^b."""
    return logsumexp(a - alpha * logN, b - beta * logD)


def sup_log_predict(theta, logs):
    a, b, e, alpha, beta, gamma = theta
    return logsumexp(e, gamma * log_power_sum(a, b, alpha, beta, logs["N"], logs["D"]))


def sup_grid() -> np.ndarray:
    """Chinchilla's grid (LAWS.md §1) crossed with four values of gamma."""
    from .chinchilla import GRID_AXES

    return product_grid(**GRID_AXES, gamma=np.array([0.25, 0.5, 1.0, 1.5]))


def sup_natural(theta) -> dict:
    a, b, e, alpha, beta, gamma = (float(x) for x in theta)
    return {"E": np.exp(e), "A": np.exp(a), "B": np.exp(b), "alpha": alpha, "beta": beta, "gamma": gamma}


def sup_from_natural(p) -> np.ndarray:
    return np.array(
        [np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"], p["gamma"]], dtype=np.float64
    )


SUP_COORDS = {"E": ("e", "log"), "A": ("a", "log"), "B": ("b", "log"), "alpha": ("alpha", "identity"),
              "beta": ("beta", "identity"), "gamma": ("gamma", "identity")}

CHINCHILLA_GAMMA = Law(
    name="chinchilla-gamma",
    params=SUP_PARAMS,
    inputs=("N", "D"),
    log_predict=sup_log_predict,
    grid=sup_grid,
    lower=(-30.0, -30.0, -10.0, 0.0, 0.0, 0.05),
    upper=(80.0, 80.0, 5.0, 5.0, 5.0, 5.0),
    natural=sup_natural,
    from_natural=sup_from_natural,
    exponents=("alpha", "beta", "gamma"),
    coords=SUP_COORDS,
    formula="L = E + (A/N^alpha + B/D^beta)^gamma",
    reference="Busbridge et al. 2025, Eq. 1",
)

# ---------------------------------------------------------------- distillation law

DISTILL_PARAMS = ("a", "b", "alpha", "beta", "gamma", "c0", "log_c1", "log_f1", "log_d1")


def teacher_gap(log_f1, log_d1, logs):
    """log (1 + (L_T / (Ltilde_S d1))^(1/f1)) = softplus((log L_T - log Ltilde_S - log d1) / f1)."""
    return softplus((logs["L_T"] - logs["L_sup"] - log_d1) / jnp.exp(log_f1))


def student_log_loss(log_lt, c0, log_c1, log_f1, gap, gamma, log_power):
    """log L_S from log L_T, the teacher gap (`teacher_gap`) and log(A'/N^alpha' + B'/D^beta').

    The law is assembled from these pieces so that the grid search can evaluate each one once per
    distinct value of the parameters it depends on (`scalelaw.fit.distill.grid_objectives`).
    """
    c1, f1 = jnp.exp(log_c1), jnp.exp(log_f1)
    second = -c0 * log_lt - c1 * f1 * gap + gamma * log_power
    return logsumexp(log_lt, second)


def distill_log_predict(theta, logs):
    """log L_S from logs of N (student params), D (distillation tokens), L_T and L_sup = Ltilde_S."""
    a, b, alpha, beta, gamma, c0, log_c1, log_f1, log_d1 = theta
    return student_log_loss(logs["L_T"], c0, log_c1, log_f1, teacher_gap(log_f1, log_d1, logs), gamma,
                            log_power_sum(a, b, alpha, beta, logs["N"], logs["D"]))


def distill_log_derivatives(theta, logs):
    """(log L_S (n,), its gradient (n, P), curvature) of `distill_log_predict`, in closed form.

    `curvature(c)` is sum_i c_i * Hessian_i (P, P), the per-point Hessians weighted by c (n,).
    The solver's Newton step needs the objective's Hessian sum_i w_i [l''_i J_i J_i^T + l'_i H_i];
    by automatic differentiation that costs ~P reverse passes through the law per point, while
    the law's structure makes it a few weighted outer products. With s the log of the second
    term, log L_S = logaddexp(log L_T, s), so grad = pi grad s and H = pi (1 - pi) grad s grad s^T
    + pi Hess s (pi = sigmoid(s - log L_T)); Hess s has three small blocks: the power term
    gamma' log(A'/N^alpha' + B'/D^beta') (rank one in (a, b, alpha, beta) plus its gamma' cross
    terms) and the teacher gap c1 f1 softplus(z), z = (log L_T - log Ltilde_S - log d1) / f1, in
    (log c1, log f1, log d1). `tests/test_distill_law.py` checks all three against jax autodiff.
    """
    import jax

    a, b, alpha, beta, gamma, c0, log_c1, log_f1, log_d1 = theta
    lN, lD, u = logs["N"], logs["D"], logs["L_T"]
    t1, t2 = a - alpha * lN, b - beta * lD
    p = logsumexp(t1, t2)
    q = jax.nn.sigmoid(t1 - t2)  # share of the N term in A'/N^alpha' + B'/D^beta'
    inv_f1 = jnp.exp(-log_f1)
    z = (u - logs["L_sup"] - log_d1) * inv_f1
    g, sz = softplus(z), jax.nn.sigmoid(z)
    k = jnp.exp(log_c1 + log_f1)  # c1 f1
    h = k * g
    s = -c0 * u - h + gamma * p
    f = logsumexp(u, s)
    pi = jax.nn.sigmoid(s - u)
    m = g - sz * z  # d(h / k) / d log f1
    grad_s = jnp.stack([gamma * q, gamma * (1 - q), -gamma * q * lN, -gamma * (1 - q) * lD, p, -u,
                        -h, -k * m, jnp.exp(log_c1) * sz], axis=-1)
    grad_f = pi[:, None] * grad_s
    szz = sz * (1 - sz)
    e_c1 = jnp.exp(log_c1)
    # second derivatives of h = c1 f1 softplus(z) in (log c1, log f1, log d1)
    h_c1c1, h_c1f1, h_c1d1 = h, k * m, -e_c1 * sz
    h_f1f1 = k * m + k * z * z * szz
    h_f1d1 = e_c1 * szz * z
    h_d1d1 = e_c1 * inv_f1 * szz
    dp = jnp.stack([q, 1 - q, -q * lN, -(1 - q) * lD], axis=-1)  # d p / d(a, b, alpha, beta)
    v = jnp.stack([jnp.ones_like(lN), -jnp.ones_like(lN), -lN, lD], axis=-1)  # d(t1 - t2) / d(a, b, alpha, beta)
    qq = q * (1 - q)

    def curvature(c):
        c = jnp.asarray(c)
        outer = grad_s.T @ ((c * pi * (1 - pi))[:, None] * grad_s)
        d = c * pi
        power = gamma * (v.T @ ((d * qq)[:, None] * v))  # (4, 4)
        cross = dp.T @ d  # (4,): d^2 s / d gamma d(a, b, alpha, beta)
        gap = -jnp.stack([jnp.stack([d @ h_c1c1, d @ h_c1f1, d @ h_c1d1]),
                          jnp.stack([d @ h_c1f1, d @ h_f1f1, d @ h_f1d1]),
                          jnp.stack([d @ h_c1d1, d @ h_f1d1, d @ h_d1d1])])
        hs = jnp.zeros((9, 9), dtype=outer.dtype)
        hs = hs.at[:4, :4].set(power).at[4, :4].set(cross).at[:4, 4].set(cross).at[6:, 6:].set(gap)
        return outer + hs

    return f, grad_f, curvature


#: axes of the distillation grid, in `product_grid` order (the last varies fastest)
DISTILL_GRID_AXES = {
    "a": np.arange(0.0, 11.0, 2.0),
    "b": np.arange(4.0, 15.0, 2.0),
    "alpha": np.array([0.1, 0.3, 0.5, 0.7, 0.9]),
    "beta": np.array([0.2, 0.4, 0.6, 0.8, 1.0]),
    "gamma": np.array([0.5, 1.0]),
    "c0": np.array([0.0, 1.5, 3.0]),
    "log_c1": np.log([1.0, 10.0, 100.0, 1000.0]),
    "log_f1": np.log([0.03, 0.06, 0.1, 0.2, 0.5]),
    "log_d1": np.log([1.0, 1.3]),
}


def distill_grid() -> np.ndarray:
    """216,000 starts (6*6*5*5*2*3*4*5*2), the size of Busbridge et al.'s distillation grid.

    The paper gives the count, not the values; these span Table 6's fit and beyond. The
    distillation fit (scalelaw.fit.distill) evaluates the objective on all of it and runs the
    solver only from the best few hundred points.
    """
    return product_grid(**DISTILL_GRID_AXES)


def distill_natural(theta) -> dict:
    a, b, alpha, beta, gamma, c0, log_c1, log_f1, log_d1 = (float(x) for x in theta)
    return {
        "A": np.exp(a), "B": np.exp(b), "alpha": alpha, "beta": beta, "gamma": gamma,
        "c0": c0, "c1": np.exp(log_c1), "f1": np.exp(log_f1), "d1": np.exp(log_d1),
    }


def distill_from_natural(p) -> np.ndarray:
    return np.array(
        [np.log(p["A"]), np.log(p["B"]), p["alpha"], p["beta"], p["gamma"], p["c0"],
         np.log(p["c1"]), np.log(p["f1"]), np.log(p["d1"])],
        dtype=np.float64,
    )


DISTILL_COORDS = {"A": ("a", "log"), "B": ("b", "log"), "alpha": ("alpha", "identity"),
                  "beta": ("beta", "identity"), "gamma": ("gamma", "identity"), "c0": ("c0", "identity"),
                  "c1": ("log_c1", "log"), "f1": ("log_f1", "log"), "d1": ("log_d1", "log")}

DISTILL = Law(
    name="distill",
    params=DISTILL_PARAMS,
    inputs=("N", "D", "L_T", "L_sup"),
    log_predict=distill_log_predict,
    log_derivatives=distill_log_derivatives,
    grid=distill_grid,
    # exponents capped at 2: with students at L_S >= 2.3 the D_S term is tiny (B' D_S^-beta' ~ 1e-3
    # of A' N_S^-alpha' at Table 6's values), and an uncapped fit trades it for alpha' > 3, gamma' < 0.1
    lower=(-30.0, -30.0, 0.0, 0.0, 0.05, -10.0, -10.0, -10.0, -5.0),
    upper=(30.0, 30.0, 2.0, 2.0, 3.0, 20.0, 15.0, 5.0, 5.0),
    natural=distill_natural,
    from_natural=distill_from_natural,
    exponents=("alpha", "beta", "gamma"),
    coords=DISTILL_COORDS,
    kind="distill",
    default_delta=1e-4,
    formula="L_S = L_T + L_T^-c0 (1 + (L_T/(Ltilde_S d1))^(1/f1))^(-c1 f1) (A/N_S^alpha + B/D_S^beta)^gamma",
    reference="Busbridge et al. 2025, Eq. 8",
)

# ---------------------------------------------------------------- published parameters

#: Table 6 of Busbridge et al. 2025: supervised law (73 runs; N non-embedding, nats on C4).
PUBLISHED_SUPERVISED = {"E": 1.220, "A": 3355.0, "B": 18186.0, "alpha": 0.408, "beta": 0.431, "gamma": 0.452}
#: Table 6 of Busbridge et al. 2025: distillation law (697 student runs).
PUBLISHED_DISTILL = {
    "A": 2243.0, "B": 24181.0, "alpha": 0.321, "beta": 0.637, "gamma": 0.764,
    "c0": 2.549, "c1": 522.6, "f1": 0.090, "d1": 1.315,
}


def student_loss(N_S, D_S, L_T, supervised: dict, distill: dict) -> np.ndarray:
    """L_S at natural parameters: supervised (chinchilla-gamma) and distillation dicts."""
    l_sup = CHINCHILLA_GAMMA.predict_natural(supervised, N=N_S, D=D_S)
    return DISTILL.predict_natural(distill, N=N_S, D=D_S, L_T=L_T, L_sup=l_sup)
