"""The law interface: everything the fitter, planner and plots need to know about a law.

A law is data plus pure jnp functions. `log_predict(theta, logs)` maps fit-space parameters
`theta` (shape (P,)) and a dict of log-inputs (one array per run-record column named in
`inputs`, already log-transformed) to log-loss. The fitter never looks inside a law beyond this
interface, so adding a law means adding one module and one registry line.

`coords` says, declaratively, how each parameter of the paper's parameterisation (the keys of
`natural`) maps to a fit-space coordinate: natural name -> (fit-space name, transform), where the
transform is one of `TRANSFORMS` (monotone increasing, so a bound in natural space is a bound in
fit space). A law whose fit space is its natural space leaves it empty. Fixing `E = 1.69` for
Chinchilla thereby becomes `e = log 1.69`, with no law-specific code in the fitter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Callable, Mapping

import numpy as np


def _log(x: float) -> float:
    # non-positive values have no log: -inf is the right lower end of a bound ("A=0:100")
    return float(np.log(x)) if x > 0 else -np.inf


#: natural value -> fit-space value, for the transforms a law's `coords` may name
TRANSFORMS: dict[str, Callable[[float], float]] = {"identity": float, "log": _log}


@dataclass(frozen=True)
class Law:
    name: str
    #: fit-space parameter names, in the order of theta
    params: tuple[str, ...]
    #: run-record columns the law reads; `log_predict` receives their logs under these keys
    inputs: tuple[str, ...]
    #: (theta (P,), {input: log value array}) -> log loss array; pure jnp, vmappable
    log_predict: Callable
    #: initial multi-start grid in fit space, shape (S, P)
    grid: Callable[[], np.ndarray]
    #: box bounds in fit space (use +-np.inf for none)
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    #: fit-space theta -> the paper's parameterisation, e.g. {"E":..., "A":..., "alpha":...}
    natural: Callable[[np.ndarray], dict]
    #: the inverse of `natural`
    from_natural: Callable[[Mapping[str, float]], np.ndarray]
    #: fit-space names of exponents: hitting their bounds is reported as a warning
    exponents: tuple[str, ...] = ()
    #: "supervised" laws take (N, D); "distill" laws take student and teacher inputs
    kind: str = "supervised"
    #: default Huber delta on log residuals
    default_delta: float = 1e-3
    formula: str = ""
    reference: str = ""
    extra: dict = field(default_factory=dict)
    #: natural name -> (fit-space name, transform in TRANSFORMS); empty = fit space is natural
    coords: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: optional closed-form derivatives: (theta, logs) -> (log_predict (n,), its gradient (n, P),
    #: curvature), curvature(c) = sum_i c_i * Hessian of log_predict at point i (P, P). The solver
    #: uses them for its Newton steps instead of automatic differentiation; they must agree with
    #: `log_predict` (tested against jax autodiff)
    log_derivatives: Callable | None = None

    @property
    def n_params(self) -> int:
        return len(self.params)

    @property
    def natural_names(self) -> tuple[str, ...]:
        """Names of the paper's parameterisation, as accepted by fixed values and bounds."""
        return tuple(self.coords) if self.coords else self.params

    def fit_coordinate(self, name: str, value: float) -> tuple[int, float]:
        """(index in theta, fit-space value) of a natural parameter's value."""
        fit_name, transform = self.coords.get(name, (name, "identity"))
        return self.params.index(fit_name), TRANSFORMS[transform](float(value))

    def predict(self, theta, **inputs) -> np.ndarray:
        """Loss at the given inputs (positive arrays, broadcastable), float64 numpy.

        theta (P,) evaluates one parameter vector; see `laws.evaluate.log_loss` for batches.
        """
        from .evaluate import log_loss

        return np.exp(log_loss(self, theta, **inputs))

    def predict_natural(self, params: Mapping[str, float], **inputs) -> np.ndarray:
        """Like `predict`, from parameters in the paper's parameterisation."""
        return self.predict(self.from_natural(params), **inputs)


def logsumexp(*terms):
    """log(exp(t1) + exp(t2) + ...) of jnp arrays (broadcast), element by element.

    Every law's log-sum-exp is this one. Two terms (the common case, and softplus(z) =
    logsumexp(z, 0)) take `_logaddexp`: max(a, b) + log1p(exp(-|a - b|)) with its derivative
    given in closed form. More terms: the value and derivatives of
    `jax.scipy.special.logsumexp` over a stacked axis (the running maximum shifted out and held
    constant under differentiation), without stacking: the terms stay separate arrays, so XLA
    fuses the law's log-sum-exp into one elementwise loop even under the solver's nested vmaps,
    where the stacked form cost ~3x more per point. `jnp.logaddexp` and `jax.nn.softplus` cost
    2-4x more per element on XLA's CPU backend (`benchmarks/bench_lse.py`).
    """
    import jax
    import jax.numpy as jnp

    if len(terms) == 2:
        return _logaddexp()(*terms)
    m = terms[0]
    for t in terms[1:]:
        m = jnp.maximum(m, t)
    m = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0.0))
    total = jnp.exp(terms[0] - m)
    for t in terms[1:]:
        total = total + jnp.exp(t - m)
    return jnp.log(total) + m


@cache
def _logaddexp():
    """log(e^a + e^b), one exp and one log1p per element; exact first and second derivatives
    (the derivative, sigmoid(a - b) da + sigmoid(b - a) db, is smooth, so differentiating it again
    is exact too, where differentiating max and |.| would lose the curvature at a = b)."""
    import jax
    import jax.numpy as jnp

    @jax.custom_jvp
    def logaddexp(a, b):
        m = jnp.maximum(a, b)
        # an infinite maximum is the sum (a - b would be nan for a = b = +-inf); guarded with a
        # comparison: an isnan or isfinite select costs 2-4x the whole function on XLA's CPU backend
        gap = jnp.where(jnp.abs(m) < jnp.inf, -jnp.abs(a - b), -jnp.inf)
        return m + jnp.log1p(jnp.exp(gap))

    @logaddexp.defjvp
    def _jvp(primals, tangents):
        a, b = primals
        da, db = tangents
        share = jax.nn.sigmoid(a - b)
        return logaddexp(a, b), share * da + (1.0 - share) * db

    return logaddexp


def softplus(z):
    """log(1 + e^z), accurate for very negative z (= logsumexp(z, 0))."""
    import jax.numpy as jnp

    return logsumexp(z, jnp.zeros_like(z))


def product_grid(**axes) -> np.ndarray:
    """Cartesian product of 1-D axes, in the order given: shape (prod(len), n_axes)."""
    mesh = np.meshgrid(*[np.asarray(v, dtype=np.float64) for v in axes.values()], indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)

