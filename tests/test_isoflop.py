"""isoFLOP Approach 2: recovery of a known frontier, refusals, Epoch's Chinchilla data, fit file -> plan, bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, assert_one_line_error
from scalelaw.errors import ScalelawWarning, UserError
from scalelaw.fit.isoflop import fit_isoflop, fit_parabola

# a Chinchilla law (Hoffmann et al. 2022's own fit, LAWS.md §1)
TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
A_TRUE = TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"])
BUDGETS = np.geomspace(1e18, 1e21, 6)


def chinchilla_np(N, D, p=TRUE):
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]


def isoflop_runs(budgets=BUDGETS, n_sizes=9, noise=0.002, seed=0, span=1.0, shift=0.0):
    """Runs on an isoFLOP design: per budget, sizes log-spaced +-span dex around a rough guess of N*
    (exponent 0.5, not the true one, as a sweep planned before the fit would be), loss with
    multiplicative noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for C in budgets:
        guess = 0.08 * C ** 0.5 * 10 ** shift
        for N in guess * np.logspace(-span, span, n_sizes):
            D = C / (6 * N)
            rows.append({"N": N, "D": D, "loss": chinchilla_np(N, D) * np.exp(noise * rng.standard_normal())})
    return pd.DataFrame(rows)


def test_parabola_matches_polyfit():
    rng = np.random.default_rng(1)
    N = np.geomspace(1e7, 1e9, 11)
    L = 3 + 0.2 * (np.log10(N) - 8.2) ** 2 + 0.01 * rng.standard_normal(N.size)
    coef, centre = fit_parabola(N, L)
    ref = np.polyfit(np.log10(N) - centre, L, 2)[::-1]
    np.testing.assert_allclose(coef, ref, rtol=1e-10, atol=1e-12)


def test_recovers_known_exponent_with_bootstrap():
    fit = fit_isoflop(isoflop_runs(), n_boot=200, seed=3)
    p = fit.params
    assert abs(p["a"] - A_TRUE) < 0.02, p
    assert abs(p["b"] - (1 - A_TRUE)) < 0.02, p
    assert len(fit.settings["budgets"]) == BUDGETS.size and not fit.settings["refused"]
    lo, hi = fit.ci(0.9)["a"]
    assert lo < p["a"] < hi and hi - lo < 0.05
    # every per-budget minimum sits near the true optimum of the law on that budget
    from scalelaw.laws.chinchilla import compute_optimal

    for b in fit.settings["budgets"]:
        n_true, _ = compute_optimal(TRUE["A"], TRUE["B"], TRUE["alpha"], TRUE["beta"], b["C"])
        assert abs(np.log10(b["N_opt"] / n_true)) < 0.1
    # seeded: the same draws again
    again = fit_isoflop(isoflop_runs(), n_boot=200, seed=3)
    np.testing.assert_array_equal(fit.boot.thetas, again.boot.thetas)


def test_refuses_few_sizes_and_edge_minima_with_reasons():
    ok = isoflop_runs()
    few = isoflop_runs(budgets=[3e17], n_sizes=2)
    # sizes all far below the optimum: loss still falling at the largest size
    edge = isoflop_runs(budgets=[3e21], shift=-1.5, span=0.4)
    fit = fit_isoflop(pd.concat([ok, few, edge], ignore_index=True))
    reasons = {round(np.log10(r["C"]), 1): r["reason"] for r in fit.settings["refused"]}
    assert "2 distinct model size" in reasons[round(np.log10(3e17), 1)]
    assert any(w in reasons[round(np.log10(3e21), 1)] for w in ("outside the sampled sizes", "largest sampled size"))
    assert len(fit.settings["budgets"]) == BUDGETS.size
    assert abs(fit.params["a"] - A_TRUE) < 0.02
    assert sum("refused" in w for w in fit.warnings) == 2


def test_budget_column_and_given_budgets_group_runs():
    df = isoflop_runs()
    # C jittered by up to +-20%: clustering 6ND would split the budgets, the column keeps them
    rng = np.random.default_rng(0)
    df["budget"] = np.repeat(BUDGETS, 9)
    df["D"] = df["D"] * np.exp(rng.uniform(-0.18, 0.18, len(df)))
    fit = fit_isoflop(df)
    assert fit.settings["grouping"] == "budget column"
    assert [b["n_runs"] for b in fit.settings["budgets"]] == [9] * BUDGETS.size
    given = fit_isoflop(isoflop_runs(), budgets=BUDGETS)
    assert given.settings["grouping"].startswith("given budgets")
    assert abs(given.params["a"] - A_TRUE) < 0.02


def test_no_usable_budget_is_a_user_error():
    with pytest.raises(UserError, match="isoflop needs >= 2 budgets"):
        fit_isoflop(isoflop_runs(n_sizes=2))


def test_epoch_chinchilla_cli(run_cli):
    """Approach 2 on Epoch's decoding of Chinchilla's runs (Hoffmann et al. report a = 0.49, 90% CI 0.462-0.534)."""
    proc = run_cli("fit", DATA / "chinchilla_epoch.csv", "--law", "isoflop", "--json", "--bootstrap", "200")
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    a, b = doc["params"]["a"], doc["params"]["b"]
    assert a + b == pytest.approx(1.0)
    lo, hi = doc["ci"]["a"]
    assert lo < a < hi
    assert lo < 0.534 and hi > 0.462  # overlaps the paper's interval
    # the paper's nine isoFLOP budgets (§3.2: 6e18 ... 3e21) are found among the accepted clusters
    found = np.log10([x["C"] for x in doc["budgets"]])
    for c in (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21):
        assert np.abs(found - np.log10(c)).min() < 0.1, c
    assert all(r["reason"] for r in doc["refused"])
    p3 = doc["approach3"]["params"]
    assert doc["approach3"]["a"] == pytest.approx(p3["beta"] / (p3["alpha"] + p3["beta"]))


def test_fit_file_plans(run_cli, tmp_path):
    csv, out = tmp_path / "iso.csv", tmp_path / "iso.json"
    isoflop_runs().to_csv(csv, index=False)
    proc = run_cli("fit", csv, "--law", "isoflop", "--bootstrap", "100", "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    from scalelaw.fit import load_fit
    from scalelaw.plan import plan_supervised

    fit = load_fit(out)
    p = fit.params
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScalelawWarning)  # inside the fitted budgets: no warning
        (plan,) = plan_supervised(fit, 1e20)
    assert plan.N == pytest.approx(p["k"] * 1e20 ** p["a"], rel=1e-9)
    assert plan.D == pytest.approx(1e20 / (6 * plan.N), rel=1e-12)
    assert plan.interval["N"][0] < plan.N < plan.interval["N"][1]
    from scalelaw.laws.chinchilla import compute_optimal

    n_true, _ = compute_optimal(TRUE["A"], TRUE["B"], TRUE["alpha"], TRUE["beta"], 1e20)
    assert abs(np.log10(plan.N / n_true)) < 0.1
    proc = run_cli("plan", "--fit", out, "--compute", "1e22", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc["method"] == "isoflop" and doc["interval"]["N"]
    assert any("outside the fitted data's compute range" in w for w in doc["warnings"])
    assert_one_line_error(run_cli("predict", out, "--N", "1e9", "--D", "1e10"), "isoflop")
    assert_one_line_error(run_cli("plan", "--fit", out, "--compute", "1e20", "--flops", "attention"), "6ND")


def test_bad_input_cli(run_cli, tmp_path):
    csv = tmp_path / "few.csv"
    isoflop_runs(n_sizes=2).to_csv(csv, index=False)
    assert_one_line_error(run_cli("fit", csv, "--law", "isoflop"), "isoflop needs >= 2 budgets")
    assert_one_line_error(run_cli("fit", csv, "--law", "isoflop", "--fix", "a=0.5"), "isoflop")
