"""The distillation law of Busbridge et al. 2025 (LAWS.md §4) at Table 6's parameters.

Oracles: the published point table of LAWS.md §4, App. E.6's consistency check against the
supervised law, and the law's stated properties, evaluated here with a plain-numpy transcription
of Eq. 8 (independent of the log-space JAX implementation in scalelaw.laws.busbridge).
"""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from scalelaw.laws.busbridge import PUBLISHED_DISTILL as PD
from scalelaw.laws.busbridge import PUBLISHED_SUPERVISED as PS
from scalelaw.laws.busbridge import student_loss
from conftest import busbridge_student_np, busbridge_supervised_np

# LAWS.md §4 point table: N_S, D_S, L_T, Ltilde_S, L_S
TABLE = [
    (1.434e8, 20 * 1.434e8, 2.2, 2.8883, 2.6375),
    (5.46e8, 20 * 5.46e8, 2.0, 2.5149, 2.3755),
    (1.821e9, 20 * 1.821e9, 2.3, 2.2508, 2.3146),
    (1.821e9, 20 * 1.821e9, 1.9, 2.2508, 2.1699),
    (7.747e9, 5.12e11, 1.9, 1.9329, 1.9431),
]


sup_np, student_np = busbridge_supervised_np, busbridge_student_np


def L_S(N, D, LT):
    return student_loss(N, D, LT, PS, PD)


@pytest.mark.parametrize("row", TABLE)
def test_point_table(row):
    N, D, LT, lt_ref, ls_ref = row
    assert abs(sup_np(N, D) - lt_ref) < 1e-4
    assert abs(float(L_S(N, D, LT)) - ls_ref) < 1e-4


def test_logspace_matches_linear_transcription():
    rng = np.random.default_rng(0)
    N = 10 ** rng.uniform(7.5, 11, 300)
    D = N * 10 ** rng.uniform(0, 3, 300)
    LT = rng.uniform(1.3, 4.0, 300)
    np.testing.assert_allclose(L_S(N, D, LT), student_np(N, D, LT), rtol=1e-10)


@pytest.mark.parametrize("N", [1e8, 1e9, 1e10, 1e11])
def test_app_e6_best_teacher_matches_supervised_limit(N):
    """min over L_T of L_S(N, D -> inf, L_T) ~ E + (A N^-alpha)^gamma within 1% (App. E.6)."""
    D = 1e40
    res = minimize_scalar(lambda lt: float(L_S(N, D, lt)), bounds=(0.8, 4.0), method="bounded",
                          options={"xatol": 1e-10})
    grid = np.linspace(0.8, 4.0, 20001)
    assert res.fun <= np.min(L_S(N, D, grid)) + 1e-9
    limit = PS["E"] + (PS["A"] * N ** -PS["alpha"]) ** PS["gamma"]
    assert abs(res.fun / limit - 1) < 0.01


def test_app_e6_printed_examples():
    for N, ls_ref, sup_ref in ((1e9, 2.0880, 2.0788), (1e10, 1.7876, 1.7816)):
        best = np.min(L_S(N, 1e40, np.linspace(0.8, 4.0, 40001)))
        assert abs(best - ls_ref) < 2e-4
        assert abs(PS["E"] + (PS["A"] * N ** -PS["alpha"]) ** PS["gamma"] - sup_ref) < 2e-4


def test_student_never_beats_teacher():
    rng = np.random.default_rng(1)
    N = 10 ** rng.uniform(6, 13, 5000)
    D = 10 ** rng.uniform(7, 15, 5000)
    LT = rng.uniform(0.5, 8.0, 5000)
    ls = L_S(N, D, LT)
    assert np.all(ls >= LT * (1 - 1e-14))  # equality up to rounding where the gate is closed
    assert np.any(ls > LT * 1.01)


def test_student_approaches_teacher_with_scale():
    LT = 2.0
    gaps = [float(L_S(n, 100 * n, LT)) - LT for n in (1e7, 1e8, 1e9, 1e10, 1e11, 1e12)]
    assert gaps[0] > 0.1
    assert all(b <= a + 1e-12 for a, b in zip(gaps, gaps[1:]))
    assert gaps[-1] < 1e-3
    # ... and as the teacher gets weak (L_T -> inf) the student matches it
    assert float(L_S(1e9, 2e10, 6.0)) - 6.0 < 1e-6


@pytest.mark.parametrize("N,D", [(1e9, 2e10), (3e9, 2.5e11), (1e10, 1e12)])
def test_capacity_gap_interior_minimum(N, D):
    """At fixed (N_S, D_S) student loss is U-shaped in L_T: a too-strong teacher hurts."""
    lt = np.linspace(1.0, 3.5, 5001)
    ls = L_S(N, D, lt)
    k = int(np.argmin(ls))
    assert 0 < k < len(lt) - 1
    assert ls[0] > ls[k] + 1e-3 and ls[-1] > ls[k] + 1e-3


def test_optimal_teacher_reference():
    """derived_predictions.json (computed from Table 6): best L_T at N_S=1e9, D_S=2.5e11."""
    lt = np.linspace(1.5, 2.5, 100001)
    ls = L_S(1e9, 2.5e11, lt)
    k = int(np.argmin(ls))
    assert abs(ls[k] - 2.171529675693857) < 1e-6
    assert abs(lt[k] - 1.990937997705) < 2e-3


@pytest.mark.parametrize("where", ["table6", "random"])
def test_closed_form_derivatives_match_autodiff(where):
    """The solver's Newton steps use the law's closed-form gradient and curvature; both must equal
    jax autodiff of `log_predict` (value, Jacobian and a weighted sum of per-point Hessians)."""
    import jax
    import jax.numpy as jnp

    from scalelaw._jax import x64
    from scalelaw.laws.busbridge import DISTILL

    x64()
    rng = np.random.default_rng(3)
    n = 64
    logs = {"N": np.log(rng.uniform(1e7, 1e10, n)), "D": np.log(rng.uniform(1e9, 1e12, n)),
            "L_T": np.log(rng.uniform(1.8, 4.0, n)), "L_sup": np.log(rng.uniform(1.8, 4.0, n))}
    logs = {k: jnp.asarray(v) for k, v in logs.items()}
    if where == "table6":
        theta = DISTILL.from_natural(PD)
    else:  # anywhere in the grid's span, where signs and saturations differ
        g = DISTILL.grid()
        theta = rng.uniform(g.min(axis=0), g.max(axis=0))
    theta = jnp.asarray(theta)
    c = jnp.asarray(rng.normal(size=n))
    f, J, curvature = DISTILL.log_derivatives(theta, logs)
    np.testing.assert_allclose(f, DISTILL.log_predict(theta, logs), rtol=1e-14)
    J_ad = jax.jacfwd(DISTILL.log_predict)(theta, logs)
    np.testing.assert_allclose(J, J_ad, rtol=1e-10, atol=1e-12 * np.abs(J_ad).max())
    H_ad = jax.hessian(lambda t: jnp.sum(c * DISTILL.log_predict(t, logs)))(theta)
    np.testing.assert_allclose(curvature(c), H_ad, rtol=1e-10, atol=1e-12 * np.abs(H_ad).max())
