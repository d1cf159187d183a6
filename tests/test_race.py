"""The start race: successive-halving rungs, their continuation, and the fall-back to the full race."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import DATA
from scalelaw.fit import core, fit_law, solve_multistart
from scalelaw.fit.core import _problem, choose_starts, halving_rungs, race
from scalelaw.fit.spec import FitSpec


@pytest.fixture(scope="module")
def epoch():
    df = pd.read_csv(DATA / "chinchilla_epoch.csv")
    return df[df["loss"] < 3.44].reset_index(drop=True)


@pytest.fixture(scope="module")
def problem(epoch):
    p = _problem("chinchilla", epoch, None, None, None, 0)
    starts, _ = choose_starts(p.law, p.r_logs, p.r_y, delta=p.delta, n_starts=64, seed=0, spec=p.spec, box=p.box)
    return p, starts


def test_halving_rungs():
    assert halving_rungs(256, 16, 30) == ((2, 64), (8, 16))
    assert halving_rungs(64, 16, 30) == ((8, 16),)
    assert halving_rungs(16, 16, 30) == () and halving_rungs(5, 16, 30) == ()
    rungs = halving_rungs(1000, 16, 30)
    its, kept = zip(*rungs)
    assert list(its) == sorted(its) and all(0 < i < 30 for i in its)
    assert list(kept) == sorted(kept, reverse=True) and kept[-1] == 16 and kept[0] == 250


def test_a_rung_that_keeps_every_start_changes_nothing(problem):
    """Stopping after 10 iterations and continuing from the last step is the uninterrupted race, bit for bit."""
    p, starts = problem
    kw = dict(deltas=p.deltas, race_iter=30, keep=16, **p.r_kw)
    whole, whole_it = race(p.law, p.r_logs, p.r_y, starts, **kw)
    split, split_it = race(p.law, p.r_logs, p.r_y, starts, rungs=((10, len(starts)),), **kw)
    np.testing.assert_array_equal(whole, split)
    np.testing.assert_array_equal(whole_it, split_it)


def test_a_rung_keeps_the_best_and_continues_them(problem):
    """One rung (16 of 64 after 3 iterations), derived again from the solver itself."""
    p, starts = problem
    d0 = p.deltas[0]
    got, _ = race(p.law, p.r_logs, p.r_y, starts, deltas=[d0], race_iter=30, keep=16, rungs=((3, 16),), **p.r_kw)
    first = [solve_multistart(p.law, p.r_logs, p.r_y, starts[i : i + 16], delta=d0, max_iter=3, **p.r_kw)
             for i in range(0, len(starts), 16)]
    f = np.concatenate([r.objectives for r in first])
    top = np.argsort(f, kind="stable")[:16]
    th, last = (np.concatenate([getattr(r, k) for r in first])[top] for k in ("thetas", "last_step"))
    rest = solve_multistart(p.law, p.r_logs, p.r_y, th, delta=d0, max_iter=27, last_step=last, **p.r_kw)
    want = rest.thetas[np.argsort(rest.objectives, kind="stable")]
    np.testing.assert_array_equal(got, want)
    # and it is not the full race's answer by accident: the pruned race kept other starts
    full, _ = race(p.law, p.r_logs, p.r_y, starts, deltas=[d0], race_iter=30, keep=16, **p.r_kw)
    assert not np.array_equal(np.sort(full, axis=0), np.sort(got, axis=0))


def test_epoch_fit_halved_equals_full_race(epoch, monkeypatch):
    halved = fit_law("chinchilla", epoch)
    assert halved.settings["race_rungs"] == [[2, 64], [8, 16]] and not halved.settings["full_race"]
    assert halved.n_best == 16
    monkeypatch.setattr(core, "halving_rungs", lambda *a, **k: ())
    full = fit_law("chinchilla", epoch)
    assert full.settings["race_rungs"] == []
    assert halved.objective == pytest.approx(full.objective, rel=1e-12)
    np.testing.assert_allclose(halved.theta, full.theta, rtol=1e-9)


@pytest.mark.filterwarnings("ignore:farseer:scalelaw.errors.ScalelawWarning")
def test_leaders_that_disagree_run_the_full_race(epoch, monkeypatch):
    """Farseer end-to-end on Epoch's points: its leaders reach different optima, so the full race
    runs too; its answer is then at least as good as the full race's alone."""
    spec = FitSpec(law="farseer", method="end-to-end")
    fit = fit_law(spec, epoch)
    assert fit.settings["full_race"] and fit.n_best < 8
    monkeypatch.setattr(core, "halving_rungs", lambda *a, **k: ())
    full = fit_law(spec, epoch)
    assert fit.objective <= full.objective
