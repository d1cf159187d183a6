"""Profiles of the fit objective: a minimum at the true value where the data identify a
parameter, flat where they cannot (oracle: the known surface the data were drawn from)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalelaw.fit.profile import flat_span, profile
from scalelaw.fit.spec import FitSpec

TRUE = dict(E=1.8, A=400.0, B=1500.0, alpha=0.34, beta=0.28)


def _frame(Ns, Ds, noise=0.003, seed=0):
    rng = np.random.default_rng(seed)
    N, D = [a.ravel() for a in np.meshgrid(Ns, Ds)]
    L = TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]
    L = L * np.exp(noise * rng.standard_normal(L.size))
    return pd.DataFrame({"N": N, "D": D, "loss": L})


def test_profile_has_its_minimum_near_the_true_exponent():
    df = _frame(np.geomspace(1e6, 1e9, 6), np.geomspace(1e8, 1e11, 6))
    values = [0.22, 0.28, 0.34, 0.40, 0.46]
    pts = profile(FitSpec(law="chinchilla"), df, "alpha", values, n_starts=64)
    rel = np.array([p.rel_increase for p in pts])
    assert values[int(np.argmin(rel))] == pytest.approx(TRUE["alpha"])
    assert rel[0] > 0.5 and rel[-1] > 0.5  # far from the truth the objective rises a lot
    assert all(p.params["alpha"] == pytest.approx(v) for p, v in zip(pts, values))  # held fixed


def test_profile_is_flat_along_a_parameter_the_data_cannot_see():
    # one token budget: B/D^beta is a constant folded into E, so beta is not identified
    df = _frame(np.geomspace(1e6, 1e9, 8), np.array([1e10]))
    values = [0.1, 0.3, 0.6, 1.0]
    pts = profile(FitSpec(law="chinchilla"), df, "beta", values, n_starts=64)
    assert flat_span(pts, tol=0.05) == (0.1, 1.0)
