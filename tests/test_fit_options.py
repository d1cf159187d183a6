"""Fitting options (FitSpec): fixed values, bounds, weights, objectives and the over-prediction
penalty — recovery of known parameters, agreement with scipy on an independent numpy objective,
and the spec surviving the bootstrap, the fit file and `scalelaw plan`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from conftest import assert_one_line_error
from scalelaw.errors import UserError
from scalelaw.fit import FitSpec, bootstrap, fit_law, load_fit, save_fit, solve_multistart
from scalelaw.fit.spec import OBJECTIVES
from scalelaw.laws import get_law

TRUTH = {"E": 1.7, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}
CHIN = get_law("chinchilla")


def synthetic(params=TRUTH, *, noise=5e-4, seed=1):
    sizes, tokens = np.geomspace(5e7, 5e9, 7), np.geomspace(1e9, 3e11, 9)
    N, D = (a.ravel() for a in np.meshgrid(sizes, tokens))
    L = CHIN.predict_natural(params, N=N, D=D) * np.exp(np.random.default_rng(seed).normal(0, noise, N.shape))
    return pd.DataFrame({"N": N, "D": D, "loss": L})


def assert_recovers(fit, skip=(), rel=0.03):
    for k in ("E", "alpha", "beta"):
        if k not in skip:
            assert fit.params[k] == pytest.approx(TRUTH[k], rel=rel), k
    N, D = np.geomspace(5e7, 5e9, 5), np.geomspace(1e9, 3e11, 5)
    assert np.allclose(fit.predict(N=N, D=D), CHIN.predict_natural(TRUTH, N=N, D=D), rtol=3e-3)


# ---------------------------------------------------------------- fixed values and bounds


def test_fixed_value_is_exact_and_the_rest_is_recovered():
    fit = fit_law(FitSpec(fixed=(("E", 1.7),)), synthetic())
    assert fit.theta[CHIN.params.index("e")] == np.log(1.7)  # bit for bit
    assert fit.params["E"] == pytest.approx(1.7, rel=1e-15)
    assert_recovers(fit, skip=("E",))
    assert fit.status == "converged" and fit.n_best > 1


def test_fixing_a_wrong_value_moves_the_others_but_not_it():
    fit = fit_law(FitSpec(fixed=(("alpha", 0.3),)), synthetic())
    assert fit.params["alpha"] == 0.3
    assert fit.params["A"] < 400.0 * 0.8  # compensates: a shallower N term needs a smaller A
    assert not any(w.startswith("at bound") for w in fit.warnings)


def test_bound_is_respected_and_an_optimum_on_it_is_reported():
    df = synthetic()
    on = fit_law(FitSpec(bounds=(("alpha", 0.1, 0.3),)), df)
    assert on.params["alpha"] == pytest.approx(0.3, abs=1e-9) and on.params["alpha"] <= 0.3
    assert on.status == "at-bound"
    assert any("alpha" in w and "upper bound" in w for w in on.warnings)
    inside = fit_law(FitSpec(bounds=(("alpha", 0.2, 0.5), ("E", 1.0, 3.0))), df)
    assert inside.status == "converged"
    assert_recovers(inside)


def test_gamma_law_with_gamma_fixed_at_one_is_chinchilla():
    """chinchilla-gamma reduces to Chinchilla at gamma = 1: fixing it recovers Chinchilla's truth."""
    fit = fit_law(FitSpec(law="chinchilla-gamma", fixed=(("gamma", 1.0),)), synthetic())
    assert fit.params["gamma"] == 1.0
    assert_recovers(fit)


def test_unknown_or_impossible_parameters_are_user_errors():
    df = synthetic()
    with pytest.raises(UserError, match="no parameter 'F'.*E, A, B, alpha, beta"):
        fit_law(FitSpec(fixed=(("F", 1.0),)), df)
    with pytest.raises(UserError, match="no parameter 'E'.*a1, g1, b1"):
        fit_law(FitSpec(law="farseer", method="end-to-end", fixed=(("E", 1.0),)), df)
    with pytest.raises(UserError, match="must be positive"):
        fit_law(FitSpec(fixed=(("E", -1.0),)), df)


# ---------------------------------------------------------------- weights


def test_zero_weights_remove_corrupted_runs():
    df = synthetic()
    bad = np.zeros(len(df), bool)
    bad[::7] = True
    df.loc[bad, "loss"] *= 1.15
    df["w"] = np.where(bad, 0.0, 1.0)
    assert_recovers(fit_law(FitSpec(weights="w"), df))
    plain = fit_law("chinchilla", df)
    assert abs(plain.params["E"] / TRUTH["E"] - 1) > 0.03  # the corruption matters unweighted


def test_compute_weights_are_normalised_sqrt_6nd():
    df = synthetic(noise=1e-3, seed=4)
    df["c"] = 7.0 * np.sqrt(6 * df.N * df.D)  # any scale: weights are normalised
    by_rule = fit_law(FitSpec(weights="sqrt-compute"), df)
    by_col = fit_law(FitSpec(weights="c"), df)
    assert by_rule.objective == pytest.approx(by_col.objective, rel=1e-9)
    assert np.allclose(by_rule.theta, by_col.theta, rtol=1e-6, atol=1e-8)
    assert_recovers(by_rule, rel=0.05)
    assert_recovers(fit_law(FitSpec(weights="compute"), synthetic()), rel=0.05)


@pytest.mark.parametrize("values,needle", [(["x"] * 63, "non-negative"), ([-1.0] * 63, "non-negative")])
def test_bad_weight_columns_name_the_column(values, needle):
    df = synthetic()
    df["w"] = values
    with pytest.raises(UserError, match=f"'w'.*{needle}"):
        fit_law(FitSpec(weights="w"), df)
    with pytest.raises(UserError, match="'nope' is missing"):
        fit_law(FitSpec(weights="nope"), df)


# ---------------------------------------------------------------- objectives and the penalty


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_each_objective_recovers_truth(objective):
    fit = fit_law(FitSpec(objective=objective), synthetic())
    assert fit.spec.objective == objective
    assert fit.status == "converged" and fit.n_best > 1
    assert_recovers(fit)
    if objective != "huber-log":
        assert fit.settings["delta_continuation"] == [fit.delta]  # no continuation for smooth objectives


def test_overestimate_penalty_recovers_truth_and_avoids_over_prediction():
    assert_recovers(fit_law(FitSpec(overestimate_penalty=10.0), synthetic(noise=1e-5)))
    df = synthetic(noise=0.01, seed=7)
    over = {}
    for k in (1.0, 10.0):
        fit = fit_law(FitSpec(objective="mse-log", overestimate_penalty=k), df)
        over[k] = np.mean(fit.predict(N=df.N.values, D=df.D.values) > df.loss.values)
    assert over[10.0] < over[1.0] - 0.2, over


# ---------------------------------------------------------------- scipy as the oracle


def _np_objective(theta, logN, logD, logy, kind, delta, penalty):
    """Independent numpy objective and gradient of the Chinchilla law for every kind."""
    a, b, e, al, be = theta
    terms = np.stack([a - al * logN, b - be * logD, np.full_like(logN, e)])
    p = logsumexp(terms, axis=0)
    r = logy - p
    k = np.where(r < 0, penalty, 1.0)
    if kind == "huber-log":
        loss = np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))
        dl_dp = -np.clip(r, -delta, delta)
    elif kind == "mse-log":
        loss, dl_dp = 0.5 * r * r, -r
    else:
        y, pred = np.exp(logy), np.exp(p)
        loss, dl_dp = 0.5 * (y - pred) ** 2, -(y - pred) * pred
    s = softmax(terms, axis=0)  # dp/d(a, b, e)
    dp = np.stack([s[0], s[1], s[2], -s[0] * logN, -s[1] * logD])
    return float(np.sum(k * loss)), dp @ (k * dl_dp)


@pytest.mark.parametrize("objective,penalty,fixed", [(o, 1.0, False) for o in OBJECTIVES]
                         + [(o, 10.0, False) for o in OBJECTIVES] + [("huber-log", 10.0, True)])
def test_agrees_with_scipy_from_the_same_start(objective, penalty, fixed):
    df = synthetic({"E": 1.9, "A": 300.0, "B": 1500.0, "alpha": 0.3, "beta": 0.32}, noise=0.002, seed=3)
    logs = {"N": np.log(df.N.values), "D": np.log(df.D.values)}
    logy = np.log(df.loss.values)
    start = CHIN.from_natural({"E": 1.9, "A": 300.0, "B": 1500.0, "alpha": 0.3, "beta": 0.32}) + 0.05
    lower, upper = np.array(CHIN.lower), np.array(CHIN.upper)
    if fixed:
        lower[2] = upper[2] = start[2] = np.log(1.85)
    ours = solve_multistart(CHIN, logs, logy, start[None], delta=1e-3, kind=objective, penalty=penalty,
                            lower=lower, upper=upper, max_iter=500)
    args = (logs["N"], logs["D"], logy, objective, 1e-3, penalty)
    box = list(zip(lower, upper))
    ref = minimize(lambda t: _np_objective(t, *args)[0], start, method="Nelder-Mead", bounds=box,
                   options={"xatol": 1e-12, "fatol": 1e-20, "maxiter": 40000, "maxfev": 40000})
    ref = minimize(_np_objective, ref.x, args=args, jac=True, method="L-BFGS-B", bounds=box,
                   options={"ftol": 1e-16, "gtol": 1e-13, "maxiter": 20000})
    f_ours = float(ours.objectives[0])
    rel = abs(f_ours - ref.fun) / ref.fun
    print(f"scipy agreement {objective} K={penalty} fixed={fixed}: ours {f_ours:.12e} scipy {ref.fun:.12e} rel {rel:.2e}")
    assert rel <= 1e-8
    assert f_ours <= ref.fun * (1 + 1e-10)
    assert _np_objective(ours.thetas[0], *args)[0] == pytest.approx(f_ours, rel=1e-12)  # same objective
    if fixed:
        assert ours.thetas[0, 2] == np.log(1.85)


# ---------------------------------------------------------------- spec survives downstream


def test_fixed_parameter_stays_fixed_in_every_bootstrap_draw():
    df = synthetic(noise=3e-3, seed=5)
    df["w"] = np.linspace(0.5, 2.0, len(df))
    fit = fit_law(FitSpec(fixed=(("E", 1.7), ("beta", 0.36)), weights="w"), df)
    boot = bootstrap(fit, df, n_boot=100, seed=1)
    assert np.all(boot.thetas[:, CHIN.params.index("e")] == np.log(1.7))
    assert np.all(boot.thetas[:, CHIN.params.index("beta")] == 0.36)
    assert np.ptp(boot.thetas[:, CHIN.params.index("alpha")]) > 0  # the free ones still vary
    lo, hi = boot.ci(0.9)["alpha"]
    assert lo <= fit.params["alpha"] <= hi


def test_spec_round_trips_through_the_fit_file(tmp_path):
    spec = FitSpec(objective="mse-log", overestimate_penalty=3.0, fixed=(("E", 1.7),),
                   bounds=(("alpha", 0.2, 0.6),), weights="sqrt-compute")
    fit = fit_law(spec, synthetic())
    save_fit(fit, tmp_path / "f.json")
    assert load_fit(tmp_path / "f.json").spec == spec
    d = json.loads((tmp_path / "f.json").read_text())
    del d["spec"]  # a file from before specs were recorded
    (tmp_path / "old.json").write_text(json.dumps(d))
    assert load_fit(tmp_path / "old.json").spec == FitSpec(law="chinchilla")


def test_fixed_parameter_survives_plan_from_the_fit_file(run_cli, tmp_path):
    csv, out = tmp_path / "runs.csv", tmp_path / "fit.json"
    synthetic(noise=3e-3, seed=6).to_csv(csv, index=False)
    p = run_cli("fit", csv, "--fix", "E=1.65,alpha=0.3", "--bootstrap", "30", "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["params"]["E"] == pytest.approx(1.65, rel=1e-15) and doc["params"]["alpha"] == 0.3
    assert doc["spec"]["fixed"] == {"E": 1.65, "alpha": 0.3}
    fit = load_fit(out)
    assert np.all(fit.boot.thetas[:, 2] == np.log(1.65)) and np.all(fit.boot.thetas[:, 3] == 0.3)
    p = run_cli("plan", "--fit", out, "--compute", "1e22", "--json")
    assert p.returncode == 0, p.stderr
    plan = json.loads(p.stdout)
    P = doc["params"]
    # the planned loss from plain numpy at the planned (N, D), with the fixed E and alpha
    expect = 1.65 + P["A"] / plan["N"] ** 0.3 + P["B"] / plan["D"] ** P["beta"]
    assert plan["loss"] == pytest.approx(expect, rel=1e-9)
    assert plan["interval"]["loss"][0] > 1.65


def test_validate_honours_the_fitting_options(run_cli, tmp_path):
    csv = tmp_path / "runs.csv"
    synthetic(noise=3e-3, seed=7).to_csv(csv, index=False)
    args = ("validate", csv, "--laws", "chinchilla,chinchilla-gamma", "--bootstrap", "0", "--calibrate", "0", "--json")
    p = run_cli(*args, "--fix", "E=1.7", "--objective", "mse-log")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)["results"]
    assert [r["params"]["E"] for r in res] == [pytest.approx(1.7, rel=1e-15)] * 2
    free = json.loads(run_cli(*args).stdout)["results"]
    assert all(abs(r["params"]["E"] - 1.7) > 1e-6 for r in free)
    assert_one_line_error(run_cli(*args, "--fix", "F=1"), "no parameter 'F'")


# ---------------------------------------------------------------- CLI bad inputs


@pytest.mark.parametrize("args,needles", [
    (("--fix", "F=1.0"), ("no parameter 'F'", "alpha")),
    (("--bound", "alpha=0.1"), ("--bound", "LO:HI")),
    (("--bound", "alpha=0.5:0.1"), ("--bound", "lower end")),
    (("--weights", "nope"), ("'nope'",)),
    (("--objective", "l1"), ("--objective", "huber-log")),
    (("--overestimate-penalty", "0.5"), ("--overestimate-penalty",)),
])
def test_cli_bad_options_exit_2_with_one_line(run_cli, tmp_path, args, needles):
    csv = tmp_path / "runs.csv"
    synthetic().to_csv(csv, index=False)
    assert_one_line_error(run_cli("fit", csv, *args), *needles)
