"""The queued solver (`solve_queued`) and per-start point compression against the plain batch.

Oracle: `solve_multistart`, every start in its own slot and stepped until the slowest stops, on
every point. Chinchilla on noisy synthetic data: its starts converge quadratically, so paths are
reproducible to rounding and a start's iterations can be compared one for one (the distillation
law's flat valley amplifies rounding into different stopping points; its fits are checked by
their objectives elsewhere).
"""

import numpy as np
import pytest

import scalelaw.fit.solver as solver
from scalelaw.fit import solve_multistart, solve_queued
from scalelaw.fit.core import resample_counts
from scalelaw.laws import get_law

LAW = get_law("chinchilla")


def _problem(n_starts=12, seed=0):
    rng = np.random.default_rng(seed)
    N, D = (a.ravel() for a in np.meshgrid(np.geomspace(5e7, 5e9, 7), np.geomspace(1e9, 3e11, 9)))
    loss = LAW.predict_natural({"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}, N=N, D=D)
    logs = {"N": np.log(N), "D": np.log(D)}
    log_y = np.log(loss) + rng.normal(0, 0.01, size=len(N))
    truth = np.array([np.log(400.0), np.log(2000.0), np.log(1.8), 0.34, 0.36])
    starts = truth + rng.normal(0, [0.3, 0.3, 0.05, 0.03, 0.03], size=(n_starts, 5))
    return logs, log_y, starts


def _agree(a, b):
    """Same per-start results to rounding."""
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.iterations, b.iterations)
    np.testing.assert_allclose(a.objectives, b.objectives, rtol=1e-11)
    np.testing.assert_allclose(a.thetas, b.thetas, rtol=0, atol=1e-6)


@pytest.mark.parametrize("slots", [(4, 1), (5, 2, 1)])
def test_queued_starts_match_one_batch(monkeypatch, slots):
    """Start by start, the queue changes only which starts share a batch: same paths, to rounding,
    whether a start converges or stops at the limit."""
    logs, log_y, starts = _problem()
    w = resample_counts(np.random.default_rng(1), len(starts), len(log_y))
    monkeypatch.setattr(solver, "QUEUE_SLOTS", slots)
    for limit in (25, 300):
        one, q = (f(LAW, logs, log_y, starts, delta=1e-3, weights=w, max_iter=limit)
                  for f in (solve_multistart, solve_queued))
        assert len(set(one.iterations)) > 3  # the starts stop at different iterations: the queue matters
        if limit == 25:
            assert np.any(one.status != solver.CONVERGED)  # and some stop at the limit
        _agree(q, one)


def test_queued_solve_continues_where_it_stopped():
    """Stopped after 8 iterations and continued with its last steps, a solve follows the path of an
    uninterrupted one."""
    logs, log_y, starts = _problem(seed=2)
    whole = solve_queued(LAW, logs, log_y, starts, delta=1e-3, max_iter=300)
    part = solve_queued(LAW, logs, log_y, starts, delta=1e-3, max_iter=8)
    assert np.all(part.status != solver.CONVERGED)
    rest = solve_queued(LAW, logs, log_y, part.thetas, delta=1e-3, max_iter=292, last_step=part.last_step)
    np.testing.assert_array_equal(part.iterations + rest.iterations, whole.iterations)
    np.testing.assert_allclose(rest.objectives, whole.objectives, rtol=1e-11)


def test_resamples_are_solved_on_their_own_points(monkeypatch):
    """With bootstrap counts as weights each start sums only its nonzero-weight points; the
    solves equal the dense sums over every point (zeros included) to rounding."""
    logs, log_y, starts = _problem(seed=3)
    w = resample_counts(np.random.default_rng(4), len(starts), len(log_y))
    idx, wc = solver._compressed(w)
    assert idx.shape[1] <= 0.8 * len(log_y)
    np.testing.assert_array_equal(wc.sum(axis=1), w.sum(axis=1))  # every count kept
    sparse = solve_multistart(LAW, logs, log_y, starts, delta=1e-3, weights=w, max_iter=300)
    monkeypatch.setattr(solver, "_compressed", lambda weights: None)
    dense = solve_multistart(LAW, logs, log_y, starts, delta=1e-3, weights=w, max_iter=300)
    _agree(sparse, dense)


def test_dense_weights_are_not_compressed():
    """Compression pays only where many weights are zero: a weighting with few zeros stays dense."""
    w = np.ones((3, 1000))
    w[:, ::10] = 0.0
    assert solver._compressed(w) is None
