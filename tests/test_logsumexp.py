"""The laws' shared log-sum-exp and softplus against numpy and JAX's own forms (independent oracles)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalelaw._jax import x64
from scalelaw.laws.base import logsumexp, softplus

x64()
INF = np.inf


def test_two_terms_match_numpy_logaddexp_including_infinities():
    a = np.array([-INF, INF, -INF, INF, 3.0, 1e300, -800.0, 0.1, -745.0, 40.0])
    b = np.array([-INF, INF, 2.0, -INF, 3.0, 1e300, -801.0, -0.2, -746.0, -40.0])
    ours = np.asarray(logsumexp(jnp.asarray(a), jnp.asarray(b)))
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(np.logaddexp(a, b)))
    np.testing.assert_allclose(ours, np.logaddexp(a, b), rtol=4e-16, atol=0)  # to the last bit or so
    assert np.isnan(logsumexp(jnp.asarray(np.nan), jnp.asarray(1.0)))


def test_three_terms_match_scipy():
    from scipy.special import logsumexp as scipy_lse

    rng = np.random.default_rng(0)
    t = rng.normal(0, 5, (3, 1000))
    ours = np.asarray(logsumexp(*(jnp.asarray(x) for x in t)))
    np.testing.assert_allclose(ours, scipy_lse(t, axis=0), rtol=1e-15, atol=1e-15)


def test_softplus_is_accurate_in_the_tail():
    z = np.array([-800.0, -40.0, -20.0, -1e-3, 0.0, 1e-3, 5.0, 40.0, 800.0])
    want = np.where(z > 30, z + np.log1p(np.exp(-np.abs(z))), np.log1p(np.exp(np.minimum(z, 30))))
    np.testing.assert_allclose(np.asarray(softplus(jnp.asarray(z))), want, rtol=1e-15, atol=0)


@pytest.mark.parametrize("a,b", [(0.3, 0.3), (2.0, -1.0), (-1.0, 2.0), (-30.0, 3.0), (1e3, 1e3 - 5.0)])
def test_first_and_second_derivatives_are_exact(a, b):
    """Against the closed form: d/da = sigmoid(a - b), d2/da2 = sigmoid(a - b) sigmoid(b - a) (numpy),
    also at a = b, where a kink-based derivative (max, |.|) would lose the curvature."""
    args = (jnp.asarray(a), jnp.asarray(b))
    d = a - b
    share = 1 / (1 + np.exp(-d))
    curv = np.exp(-abs(d)) / (1 + np.exp(-abs(d))) ** 2
    g = np.array(jax.grad(logsumexp, (0, 1))(*args))
    h = np.array(jax.hessian(logsumexp, (0, 1))(*args))
    np.testing.assert_allclose(g, [share, 1 - share], rtol=1e-14)
    np.testing.assert_allclose(h, curv * np.array([[1, -1], [-1, 1]]), rtol=1e-12)


def test_broadcasts_a_scalar_against_an_array():
    z = jnp.linspace(-3.0, 3.0, 7)
    np.testing.assert_allclose(np.asarray(logsumexp(jnp.asarray(0.5), z)), np.logaddexp(0.5, np.asarray(z)), rtol=1e-15)
    jac = jax.jacfwd(lambda e: logsumexp(e, z))(jnp.asarray(0.5))
    np.testing.assert_allclose(np.asarray(jac), 1 / (1 + np.exp(np.asarray(z) - 0.5)), rtol=1e-14)
