"""Planner bounds as a parameter, and planning at the demo's own (tiny) scale.

Oracles: LAWS.md §5 (a published cell with the default bounds), the bounds themselves (every
solved quantity must lie inside them), and a dense brute-force grid of the compute-optimal
supervised allocation along the budget constraint.
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalelaw.errors import UserError
from scalelaw.flops import flops_per_token
from scalelaw.laws import get_law
from scalelaw.laws.busbridge import PUBLISHED_DISTILL, PUBLISHED_SUPERVISED
from scalelaw.plan import PlanFit, plan_distillation, plan_supervised, plan_with_teacher
from scalelaw.plan.distill import BOUNDS, solve
from scalelaw.plan.search import newton_polish

RUNS = Path(__file__).resolve().parent.parent / "data" / "tiny-cpu-runs.csv"
SUP = get_law("chinchilla-gamma")
DIST = get_law("distill")
SUP_FIT = PlanFit(SUP, SUP.from_natural(PUBLISHED_SUPERVISED), source="busbridge2025 (supervised)")
DIST_FIT = PlanFit(DIST, DIST.from_natural(PUBLISHED_DISTILL), source="busbridge2025")
SCENARIOS = ("best", "inference", "pretraining", "pretraining+inference")


def test_default_bounds_are_the_papers_and_reproduce_a_laws_md_cell():
    assert BOUNDS == (1e6, 1e17)
    # LAWS.md §5: N_S = 1B at C = 1e20: supervised 2.4191, best case 2.2585
    (p,) = plan_distillation(SUP_FIT, DIST_FIT, 1e9, 1e20, scenarios="best")
    assert p.supervised["loss"] == pytest.approx(2.4191, abs=2e-3)
    assert p.scenarios[0].student_loss == pytest.approx(2.2585, abs=2e-3)
    (q,) = plan_distillation(SUP_FIT, DIST_FIT, 1e9, 1e20, scenarios="best", bounds=(1e6, 1e17))
    assert q.scenarios[0].student_loss == p.scenarios[0].student_loss


def test_custom_bounds_are_honoured_by_the_solver():
    lo, hi = 1e7, 1e12  # by default the inference teacher's D_T runs to 1e17
    C = np.array([1e20, 1e21])  # all-student D_S = C / 3F(N_S) stays below hi
    N_S = np.full(2, 1e9)
    for sc in SCENARIOS:
        r = solve(SUP_FIT, DIST_FIT, N_S, C, sc, bounds=(lo, hi))
        assert np.all(np.isfinite(r["L_S"])), sc
        for key in ("N_T", "D_T", "D_S"):
            v = r[key][np.isfinite(r[key])]
            assert np.all((v >= lo * (1 - 1e-9)) & (v <= hi * (1 + 1e-9))), (sc, key, v)
    # the inference teacher is overtrained to the upper bound, whichever it is (LAWS.md §5)
    tight = solve(SUP_FIT, DIST_FIT, N_S, C, "inference", bounds=(lo, hi))
    wide = solve(SUP_FIT, DIST_FIT, N_S, C, "inference")
    np.testing.assert_allclose(tight["D_T"], hi, rtol=1e-3)
    np.testing.assert_allclose(wide["D_T"], BOUNDS[1], rtol=1e-3)
    assert np.all(tight["L_S"] >= wide["L_S"] - 1e-6)  # a smaller box can't do better


def test_bounds_reach_every_entry_point():
    lo, hi = 1e5, 1e12
    # a student below the paper's 1e6 is refused by default but planned inside custom bounds
    with pytest.raises(UserError, match="--student"):
        plan_distillation(SUP_FIT, DIST_FIT, 5e5, 1e17)
    (p,) = plan_distillation(SUP_FIT, DIST_FIT, 5e5, 1e17, bounds=(lo, hi))
    for s in p.scenarios:
        for v in (s.teacher_N, s.teacher_D, s.student_D):
            assert v is None or lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)
    with pytest.raises(UserError, match="--teacher-N"):
        plan_with_teacher(SUP_FIT, DIST_FIT, 1e9, 1e21, 5e5, teacher_loss=2.5)
    t = plan_with_teacher(SUP_FIT, DIST_FIT, 1e9, 1e21, 5e5, teacher_loss=2.5, bounds=(lo, 1e17))
    assert np.isfinite(t["student_loss"])
    for bad in [(0, 1e9), (1e9, 1e6), (1e6, np.inf), ("a", "b"), (1e6,)]:
        with pytest.raises(UserError, match="--bounds"):
            plan_distillation(SUP_FIT, DIST_FIT, 1e9, 1e21, bounds=bad)


def test_supervised_bounds_and_d_min_are_honoured():
    chin = get_law("chinchilla")
    fit = (chin, chin.from_natural({"E": 1.8, "A": 400.0, "B": 400.0, "alpha": 0.34, "beta": 0.28}))
    (p,) = plan_supervised(fit, 1e12, n_bounds=(1e2, 1e9), d_min=1e3)
    # independent oracle: a dense grid of log N along C = 6ND
    N = np.geomspace(1e2, 1e9, 200001)
    N = N[1e12 / (6 * N) >= 1e3]
    L = 1.8 + 400 * N**-0.34 + 400 * (1e12 / (6 * N)) ** -0.28
    assert p.interior and p.N == pytest.approx(N[np.argmin(L)], rel=1e-3)
    with pytest.raises(UserError, match="--compute"):  # the paper's d_min of 1e6 tokens leaves no room
        plan_supervised(fit, 1e12, n_bounds=(1e6, 1e9))


def test_polish_leaves_infeasible_starts_alone_without_warnings():
    def f(X):  # feasible only for row 0
        v = np.sum((X - 0.3) ** 2, axis=-1)
        return np.where(np.arange(X.shape[0])[:, None] == 0, v, np.inf)

    x = np.array([[[0.0, 0.0], [1.0, 1.0]], [[0.5, 0.5], [0.2, 0.9]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = newton_polish(f, x, np.zeros((2, 2)), np.ones((2, 2)))
    np.testing.assert_allclose(out[0], 0.3, atol=1e-6)
    np.testing.assert_array_equal(out[1], x[1])


def test_infeasible_budget_rows_plan_without_runtime_warnings():
    # 1e14 FLOPs cannot train a 1e6 teacher and a 1e6 student on 1e6 tokens each under F(N):
    # the pretraining rows are infeasible and come back as inf, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        (p,) = plan_distillation(SUP_FIT, DIST_FIT, 1e6, 1e14)
    by = {s.scenario: s.student_loss for s in p.scenarios}
    assert np.isfinite(by["best"]) and np.isinf(by["pretraining"])


@pytest.fixture(scope="module")
def tiny_fits():
    """Chinchilla and the two-stage distillation fit on the shipped tiny-cpu sweep."""
    from scalelaw.fit import fit_law
    from scalelaw.fit.distill import fit_distill
    from scalelaw.runs import load_runs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny data leave some exponents at bounds: reported, not tested
        chin = fit_law(get_law("chinchilla"), load_runs(RUNS, role=("supervised", "teacher")))
        dist = fit_distill(RUNS)
    return chin, dist


@pytest.mark.slow  # the two fits alone take ~40 s on 2 cores (planning itself: ~1 s)
def test_demo_scale_plans_have_interior_optima(tiny_fits):
    from scalelaw.demo import PLAN_SPAN, plan_setting

    chin, dist = tiny_fits
    df = pd.read_csv(RUNS)
    st = plan_setting(df, n_ctx=64)
    # budgets from the largest run's compute (an independent recount) up to PLAN_SPAN times it
    F = flops_per_token(df["N"], "attention", st.preset) * df["D"]
    F += np.where(df["N_T"].notna(), flops_per_token(df["N_T"].fillna(1.0), "attention", st.preset) / 3 * df["D"], 0)
    assert st.compute[0] == pytest.approx(F.max()) and st.compute[-1] == pytest.approx(PLAN_SPAN * F.max())
    assert st.student_N in set(df.loc[df["role"] == "student", "N"])
    assert st.bounds[0] < df["N"].min() and st.bounds[1] > df[["D", "D_T"]].max().max()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sp = plan_supervised(chin, st.compute, flops=st.flops, preset=st.preset, n_bounds=st.n_bounds,
                             d_min=st.d_min, strict=False)
        dp = plan_distillation(dist.supervised, dist, st.student_N, st.compute, flops=st.flops, preset=st.preset,
                               bounds=st.bounds)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    # the largest run (the big teacher) is also the fit's data corner: extrapolation 1x ... PLAN_SPAN x, flagged
    assert [p.extrapolation for p in sp] == pytest.approx(np.array(st.compute) / st.compute[0], rel=1e-6)
    assert any("outside the fitted data's compute range" in str(w.message) for w in caught)
    lo, hi = np.log(st.n_bounds)
    for p in sp:
        assert p.interior and lo + 1e-3 < np.log(p.N) < hi - 1e-3 and np.isfinite(p.loss)
    lo, hi = np.log(st.bounds)
    for p in dp:
        assert np.isfinite(p.supervised["loss"])
        for s in p.scenarios:
            assert np.isfinite(s.student_loss) and np.isfinite(s.teacher_loss), s
            if s.scenario in ("pretraining", "pretraining+inference"):  # teacher training paid: N_T interior
                assert lo + 1e-3 < np.log(s.teacher_N) < hi - 1e-3, s
                assert lo + 1e-3 < np.log(s.teacher_D) < hi - 1e-3, s
