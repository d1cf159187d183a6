"""Farseer law (Li et al. 2025, "Predictable Scale Part II", arXiv 2506.10972, Eq. 5/15):

    L(N, D) = exp(a3 N^g3 + b3) + exp(a2 N^g2 + b2) * D^(-exp(a1 N^g1 + b1))

Read per model size: `G(N) = exp(a3 N^g3 + b3)` absorbs the floor and pure-N term,
`B(N) = exp(a2 N^g2 + b2)` and `A(N) = exp(a1 N^g1 + b1)` make L a power law in D with an
N-dependent coefficient and exponent. There is no irreducible floor: L -> 0 as N -> inf, so the
law is meaningful only inside a bounded domain (LAWS.md §2).

Units. The law's inputs are raw counts ("N", "D"), but internally N is measured in
**billions** (N / 1e9) before the powers N^g are taken: with raw counts, N^g for g ~ 0.1 spans
1e0..1e1 and the a's become tiny or huge depending on g, which couples a and g badly. In
billions, N^g is O(1) across the usable range, and the parameters match the full-precision
third-party refit in `reference/farseer/farseer_refit_theta_N_in_billions.csv`. The paper's own
printed coefficients (Eq. 15) use raw N; `from_raw_n` converts them.

Fit space = natural space here: theta = (a1, g1, b1, a2, g2, b2, a3, g3, b3), N in billions.
Evaluated in log space: log L = logaddexp(log G, log B - A log D).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .base import Law, logsumexp

PARAMS = ("a1", "g1", "b1", "a2", "g2", "b2", "a3", "g3", "b3")
#: internal unit of N: powers N^g are taken of N / N_UNIT
N_UNIT = 1e9
_LOG_N_UNIT = float(np.log(N_UNIT))


def components(theta, logN):
    """(log G(N), log B(N), A(N)) for raw log N; pure jnp."""
    a1, g1, b1, a2, g2, b2, a3, g3, b3 = theta
    logn = logN - _LOG_N_UNIT
    A = jnp.exp(a1 * jnp.exp(g1 * logn) + b1)
    log_B = a2 * jnp.exp(g2 * logn) + b2
    log_G = a3 * jnp.exp(g3 * logn) + b3
    return log_G, log_B, A


def log_predict(theta, logs):
    log_G, log_B, A = components(theta, logs["N"])
    return logsumexp(log_G, log_B - A * logs["D"])


def grid() -> np.ndarray:
    """Multi-start grid for the end-to-end fit (256 starts).

    Each triple (a, g, b) is laid out as: the log-quantity's value at N = 1B (= a + b), its slope
    a and its exponent g, so every start has a plausible scale: A(1B) in {0.2, 0.5} (the D
    exponent), log B(1B) in {3, 8}, log G(1B) in {-1, 0.3}; a in {-1, 1} (a2 in {1, 4}, the
    paper's sign constraint a2 > 0), g in {-0.2, 0.2} (g2 in {-0.3, -0.1}).
    """
    rows = []
    for c1 in np.log([0.2, 0.5]):
        for a1 in (-1.0, 1.0):
            for g1 in (-0.2, 0.2):
                for c2 in (3.0, 8.0):
                    for a2 in (1.0, 4.0):
                        for g2 in (-0.3, -0.1):
                            for c3 in (-1.0, 0.3):
                                for a3, g3 in ((-1.0, 0.1), (1.0, -0.1)):
                                    rows.append((a1, g1, c1 - a1, a2, g2, c2 - a2, a3, g3, c3 - a3))
    return np.asarray(rows, dtype=np.float64)


def natural(theta) -> dict:
    return {k: float(v) for k, v in zip(PARAMS, np.asarray(theta, dtype=np.float64))}


def from_natural(p) -> np.ndarray:
    return np.array([p[k] for k in PARAMS], dtype=np.float64)


def from_raw_n(p) -> dict:
    """Convert coefficients written for raw N (the paper's Eq. 15) to N in billions.

    a N_raw^g = a (N_UNIT)^g (N_raw / N_UNIT)^g, so a_billions = a_raw * N_UNIT^g.
    """
    out = dict(p)
    for a, g in (("a1", "g1"), ("a2", "g2"), ("a3", "g3")):
        out[a] = p[a] * N_UNIT ** p[g]
    return out


FARSEER = Law(
    name="farseer",
    params=PARAMS,
    inputs=("N", "D"),
    log_predict=log_predict,
    grid=grid,
    lower=(-50.0, -1.0, -50.0, 0.0, -1.0, -50.0, -50.0, -1.0, -50.0),
    upper=(50.0, 1.0, 50.0, 100.0, 0.0, 100.0, 50.0, 1.0, 50.0),
    natural=natural,
    from_natural=from_natural,
    exponents=("g1", "g2", "g3"),
    formula="L = exp(a3 N^g3 + b3) + exp(a2 N^g2 + b2) D^-exp(a1 N^g1 + b1), N in billions",
    reference="Li et al. 2025, arXiv 2506.10972 (Farseer), Eq. 5",
    extra={"N_unit": N_UNIT},
)

#: Full-precision third-party refit of the paper's 404 released runs (LAWS.md §2), N in billions
#: of non-embedding parameters, D in tokens, L in bits per character.
FARSEER_REFIT = {
    "a1": -3.64018052694574,
    "g1": 0.04227158138097161,
    "b1": 2.426767169414907,
    "a2": 6.521067537526011,
    "g2": -0.12577666979396562,
    "b2": -1.8538051793707684,
    "a3": -2.0823163727130565,
    "g3": 0.05307598573983473,
    "b3": 1.277014316755749,
}

#: The paper's printed Eq. 15 (baseline recipe), raw N. Rounded so coarsely that it mispredicts
#: the authors' held-out point by -3.6% (LAWS.md §2): for reference only, never for decisions.
FARSEER_EQ15_RAW_N = {
    "a1": -0.124, "g1": 0.123, "b1": 0.424,
    "a2": 88.01, "g2": -0.1, "b2": -6.287,
    "a3": -0.021, "g3": 0.169, "b3": -0.091,
}
