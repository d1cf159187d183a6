"""Planner tests against independent oracles: LAWS.md tables, reference optima computed by SLSQP +
brute force (reference/distill/derived_compute_optimal.json), closed forms, scipy, dense grids."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from scalelaw.errors import ScalelawWarning, UserError
from scalelaw.flops import flops_per_token, forward_flops_per_token
from scalelaw.laws import get_law
from scalelaw.laws.busbridge import PUBLISHED_DISTILL, PUBLISHED_SUPERVISED, student_loss
from scalelaw.laws.chinchilla import EPOCH_CHINCHILLA
from scalelaw.plan import PlanFit, plan_distillation, plan_supervised, plan_with_teacher
from scalelaw.plan.distill import solve
from scalelaw.plan.supervised import chinchilla_closed_form, optimal_allocation

REF = Path(__file__).resolve().parent / "reference" / "distill" / "derived_compute_optimal.json"
KEYS = {"best": "best_case", "inference": "teacher_inference", "pretraining": "teacher_pretraining",
        "pretraining+inference": "teacher_pretraining+inference"}

SUP = get_law("chinchilla-gamma")
DIST = get_law("distill")
SUP_FIT = PlanFit(SUP, SUP.from_natural(PUBLISHED_SUPERVISED), source="busbridge2025 (supervised)")
DIST_FIT = PlanFit(DIST, DIST.from_natural(PUBLISHED_DISTILL), source="busbridge2025")
CHIN = get_law("chinchilla")
EPOCH = (CHIN, CHIN.from_natural(EPOCH_CHINCHILLA))

# LAWS.md §5 table: N_S, C, supervised, best, inference, pretraining, pretraining+inference
LAWS_TABLE = [
    (3e8, 1e20, 2.4764, 2.4195, 2.4417, 2.5419, 2.5631),
    (1e9, 1e20, 2.4191, 2.2585, 2.2815, 2.5242, 2.5349),
    (1e9, 1e22, 2.1348, 2.1309, 2.1395, 2.1479, 2.1655),
    (3e9, 1e22, 2.0274, 2.0106, 2.0235, 2.0768, 2.0909),
    (1e10, 1e22, 1.9855, 1.9130, 1.9431, 2.0602, 2.0672),
    (1e10, 1e24, 1.8148, 1.8130, 1.8197, 1.8266, 1.8385),
]


@pytest.fixture(scope="module")
def reference_plans():
    ref = json.loads(REF.read_text())
    plans = plan_distillation(SUP_FIT, DIST_FIT, [r["NS"] for r in ref], [r["C"] for r in ref])
    return ref, plans


def test_laws_md_table_every_cell(reference_plans):
    _, _ = reference_plans
    NS, C = zip(*[(r[0], r[1]) for r in LAWS_TABLE])
    plans = plan_distillation(SUP_FIT, DIST_FIT, NS, C)
    for row, p in zip(LAWS_TABLE, plans):
        got = [p.supervised["loss"]] + [s.student_loss for s in p.scenarios]
        np.testing.assert_allclose(got, row[2:], atol=2e-3, err_msg=f"N_S={row[0]:g}, C={row[1]:g}")


def test_reference_optima_all_cells(reference_plans):
    ref, plans = reference_plans
    for r, p in zip(ref, plans):
        assert abs(p.supervised["loss"] - r["L_supervised"]) < 2e-3
        for s in p.scenarios:
            want = r[KEYS[s.scenario]]
            assert abs(s.student_loss - want["LS"]) < 2e-3, (r["NS"], r["C"], s.scenario)
            assert abs(s.teacher_loss - want["LT"]) < 2e-2, (r["NS"], r["C"], s.scenario)


def test_inference_teacher_is_overtrained_to_the_bound(reference_plans):
    _, plans = reference_plans
    for p in plans:
        s = next(s for s in p.scenarios if s.scenario == "inference")
        assert s.teacher_D >= 0.99e17
        assert s.fractions["teacher_training"] == 0.0


def test_pretraining_teacher_tokens_per_param_constant():
    NS, C = np.meshgrid([1e9, 3e9, 1e10], 10.0 ** np.arange(20, 25))
    plans = plan_distillation(SUP_FIT, DIST_FIT, NS.ravel(), C.ravel(), scenarios="pretraining")
    tpp = np.array([p.scenarios[0].teacher_tokens_per_param for p in plans])
    assert np.all((tpp > 14.0) & (tpp < 16.5)), tpp


def test_compute_equality_and_fractions(reference_plans):
    _, plans = reference_plans
    for p in plans:
        fS = forward_flops_per_token(p.student_N)
        for s in p.scenarios:
            f = s.fractions
            assert sum(f.values()) == pytest.approx(1.0, abs=1e-9)
            if s.teacher_N is not None:
                dl, dp = {"inference": (1, 0), "pretraining": (0, 1), "pretraining+inference": (1, 1)}[s.scenario]
                fT = forward_flops_per_token(s.teacher_N)
                total = 3 * fS * s.student_D + fT * (dl * s.student_D + dp * 3 * s.teacher_D)
                assert total == pytest.approx(p.compute, rel=1e-9)
            # the reported loss is the law's loss at the reported allocation
            assert s.student_loss == pytest.approx(
                float(student_loss(p.student_N, s.student_D, s.teacher_loss, PUBLISHED_SUPERVISED, PUBLISHED_DISTILL)), rel=1e-10)


def test_never_worse_than_the_grid():
    r = solve(SUP_FIT, DIST_FIT, [3e8, 1e10, 5e10], [1e21, 1e23, 1e20], "pretraining+inference", n_grid=12, rounds=2)
    assert np.all(r["L_S"] <= r["grid_L_S"])


def test_existing_teacher_matches_direct_evaluation():
    fT, fS = forward_flops_per_token(7e9), forward_flops_per_token(1e9)
    D_S = 1e22 / (3 * fS + fT)
    L_T = float(SUP.predict_natural(PUBLISHED_SUPERVISED, N=7e9, D=2e12))
    want = float(student_loss(1e9, D_S, L_T, PUBLISHED_SUPERVISED, PUBLISHED_DISTILL))
    got = plan_with_teacher(SUP_FIT, DIST_FIT, 1e9, 1e22, 7e9, teacher_D=2e12)
    assert got["student_D"] == pytest.approx(D_S, rel=1e-12)
    assert got["student_loss"] == pytest.approx(want, rel=1e-10)
    got2 = plan_with_teacher(SUP_FIT, DIST_FIT, 1e9, 1e22, 7e9, teacher_loss=L_T)
    assert got2["student_loss"] == pytest.approx(want, rel=1e-10)


def test_best_case_recovers_the_strong_unit_test():
    """LAWS.md §4 / App. E.6: the best teacher with D_S -> inf gives ~ E + (A N_S^-alpha)^gamma."""
    for N_S, want in [(1e9, 2.0788), (1e10, 1.7816)]:
        r = solve(SUP_FIT, DIST_FIT, [N_S], [3 * forward_flops_per_token(N_S) * 1e16], "best")
        assert r["L_S"][0] == pytest.approx(want, rel=0.01)


# ------------------------------------------------------------------ supervised


def test_chinchilla_closed_form_equals_numeric():
    C = np.logspace(18, 27, 10)
    a = optimal_allocation(*EPOCH, C, method="closed-form")
    b = optimal_allocation(*EPOCH, C, method="numeric")
    np.testing.assert_allclose(b["N"], a["N"], rtol=1e-6)
    np.testing.assert_allclose(b["D"], a["D"], rtol=1e-6)
    np.testing.assert_allclose(b["loss"], a["loss"], rtol=1e-12)


def test_epoch_plan_at_chinchilla_budget_against_dense_grid():
    C = 5.76e23
    (p,) = plan_supervised(EPOCH, C)
    N = np.logspace(9, 13, 400001)
    q = EPOCH_CHINCHILLA
    L = q["E"] + q["A"] / N ** q["alpha"] + q["B"] / (C / (6 * N)) ** q["beta"]
    assert p.N == pytest.approx(N[np.argmin(L)], rel=1e-4)
    assert p.loss == pytest.approx(L.min(), rel=1e-10)
    assert p.D * p.N * 6 == pytest.approx(C, rel=1e-12)


def test_gamma_law_attention_matches_scipy():
    for C in (1e20, 1e23):
        (p,) = plan_supervised(SUP_FIT, C, flops="attention")

        def L(x):
            N = np.exp(x)
            return float(SUP.predict_natural(PUBLISHED_SUPERVISED, N=N, D=C / flops_per_token(N, "attention")))

        res = minimize_scalar(L, bounds=(np.log(1e6), np.log(1e15)), method="bounded", options={"xatol": 1e-10})
        assert p.N == pytest.approx(np.exp(res.x), rel=1e-4)
        assert p.loss <= res.fun + 1e-12


def test_bootstrap_intervals_are_percentiles_of_per_draw_optima():
    rng = np.random.default_rng(0)
    theta = EPOCH[1]
    boot = theta + rng.normal(0, 1, (40, theta.size)) * np.array([0.02, 0.02, 0.002, 0.002, 0.002])
    (p,) = plan_supervised((CHIN, theta, boot), 1e22, level=0.8)
    per = [chinchilla_closed_form(CHIN.natural(t), 1e22)[0] for t in boot]
    np.testing.assert_allclose(p.interval["N"], np.percentile(per, [10, 90]), rtol=1e-9)
    assert p.interval["N"][0] < p.N < p.interval["N"][1]


def test_no_interior_optimum_is_refused():
    # beta = 0: data never helps, so the "optimum" runs to the largest model
    theta = SUP.from_natural({**PUBLISHED_SUPERVISED, "beta": 1e-9})
    with pytest.raises(UserError, match="no interior optimum"):
        plan_supervised((SUP, theta), 1e22)
    with pytest.warns(ScalelawWarning, match="no interior optimum"):
        (p,) = plan_supervised((SUP, theta), 1e22, strict=False)
    assert not p.interior


def test_extrapolation_is_flagged():
    fit = PlanFit(CHIN, EPOCH[1], data_range={"N": [1e8, 1e9], "D": [1e9, 1e10]})
    with pytest.warns(ScalelawWarning, match="outside the fitted data"):
        (p,) = plan_supervised(fit, 6e23)
    assert p.extrapolation == pytest.approx(6e23 / (6 * 1e9 * 1e10))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (q,) = plan_supervised(fit, 6e18)
    assert q.extrapolation == 1.0


def test_farseer_refit_compute_optimal_ratio():
    """LAWS.md §2: a full-precision Farseer refit gives D/N ~25 at 1e20, ~43 at 1e22 (C = 6ND)."""
    import scalelaw.laws.farseer as farseer
    fit = (farseer.FARSEER, farseer.FARSEER.from_natural(farseer.FARSEER_REFIT))
    (p,) = plan_supervised(fit, 1e20)
    assert p.tokens_per_param == pytest.approx(25, rel=0.05)
    with pytest.raises(UserError, match="no interior optimum"):  # no floor: escapes to huge N
        plan_supervised(fit, 1e22)
    (q,) = plan_supervised(fit, 1e22, n_bounds=(1e6, 1e11))
    assert q.tokens_per_param == pytest.approx(43, rel=0.05)


# ------------------------------------------------------------------ decisions with uncertainty

FAST = dict(n_grid=24, rounds=6)


def test_verdicts_carry_probabilities():
    from scalelaw.plan.decide import distil_or_train

    # LAWS.md §5: 10B at 1e22, best case 1.9130 vs supervised 1.9855 (a wide margin)
    win = distil_or_train(SUP_FIT, DIST_FIT, 1e10, 1e22, scenario="best", n_draws=16)
    assert win["verdict"] == "distil" and win["p_distil_wins"] == 1.0 and win["draws"] == "rounding"
    # 1B at 1e22 paying for the teacher: 2.1655 vs 2.1348
    lose = distil_or_train(SUP_FIT, DIST_FIT, 1e9, 1e22, scenario="pretraining+inference", n_draws=8, **FAST)
    assert lose["verdict"] == "train" and lose["p_distil_wins"] == 0.0


def test_crossover_is_a_wide_range():
    """LAWS.md §5: rounding f1 alone moves the 10B crossover from 6.7e23 to 1.2e25."""
    from scalelaw.plan.decide import crossover_budget

    cr = crossover_budget(SUP_FIT, DIST_FIT, 1e10, scenario="best", n_draws=24, points=25)
    assert cr["n_found"] >= 20
    assert cr["low"] < 1.5e24 < cr["high"]
    assert cr["high"] / cr["low"] > 3


def test_rounding_draws_stay_within_printed_digits():
    from scalelaw.plan.sources import rounding_draws

    draws = rounding_draws(DIST_FIT, 200, seed=1)
    f1 = np.array([DIST.natural(t)["f1"] for t in draws])
    assert f1.min() >= 0.0895 - 1e-12 and f1.max() <= 0.0905 + 1e-12 and f1.std() > 1e-4


@pytest.mark.slow  # fits and bootstraps a law (~25 s on a busy 2-core machine)
def test_plans_from_a_bootstrapped_fit_result():
    """The planner takes the fit engine's FitResult: bootstrap draws become intervals, data range
    becomes an extrapolation factor."""
    import scalelaw.fit as fit_mod
    import pandas as pd

    rng = np.random.default_rng(0)
    N = np.repeat(np.logspace(7.5, 9.5, 6), 5)
    D = N * np.tile([5, 10, 20, 40, 80], 6)
    L = CHIN.predict_natural(EPOCH_CHINCHILLA, N=N, D=D) * np.exp(rng.normal(0, 0.003, N.size))
    df = pd.DataFrame({"run_id": [f"r{i}" for i in range(N.size)], "role": "supervised", "N": N,
                       "N_kind": "total", "D": D, "loss": L, "loss_kind": "nats"})
    fit = fit_mod.fit_law(CHIN, df, n_starts=64)
    fit.boot = fit_mod.bootstrap(fit, df, n_boot=24, seed=0)
    with pytest.warns(ScalelawWarning, match="outside the fitted data"):
        (p,) = plan_supervised(fit, 1e23)
    assert p.n_boot == 24 and p.interval["N"][0] < p.N < p.interval["N"][1]
    assert p.extrapolation > 10
