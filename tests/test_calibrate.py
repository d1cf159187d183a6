"""Backtests, calibrated intervals, outlier flags and the recommendation (scalelaw.fit.calibrate)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalelaw.fit.backtest import (MIN_TRAIN_SIZES, count_origins, extrapolation_distance, origins, outlier_mask,
                                   rolling_origin, size_groups)
from scalelaw.fit.calibrate import (MIN_ORIGINS, PRIOR_SLOPE, Calibration, calibrated_interval, fit_calibration,
                                    mle_growth, mle_slope)
from scalelaw.fit.run import fit_supervised
from scalelaw.fit.validate import holdout_mask, validate_laws, validate_one

#: Hoffmann et al. 2022 / Besiroglu et al. 2024 style parameters
TRUE = dict(E=1.8, A=480.0, B=2000.0, alpha=0.34, beta=0.36)


def chinchilla_runs(seed, noise=0.01, sizes=np.geomspace(2e7, 2e9, 8), n_d=5, law=None):
    rng = np.random.default_rng(seed)
    N = np.repeat(sizes, n_d)
    D = np.tile(np.geomspace(2e9, 2e11, n_d), len(sizes)) * np.exp(0.1 * rng.standard_normal(N.size))
    L = (law or (lambda N, D: TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]))(N, D)
    return pd.DataFrame({"N": N, "D": D, "loss": L * np.exp(noise * rng.standard_normal(N.size))})


def broken_law(N, D):
    """A broken power law in N: the exponent drops from 0.34 to 0.12 above N = 2e8."""
    nb = 2e8
    a = np.where(N < nb, 480.0 / N ** 0.34, 480.0 / nb ** 0.34 * (N / nb) ** -0.12)
    return TRUE["E"] + a + TRUE["B"] / D ** TRUE["beta"]


def test_mle_slope_recovers_known_growth():
    rng = np.random.default_rng(1)
    d = rng.uniform(0, 3, 4000)
    s = np.full(d.size, 0.01)
    e = rng.standard_normal(d.size) * np.sqrt(s ** 2 + (0.02 * d) ** 2)
    assert mle_slope(e, d, s) == pytest.approx(0.02, rel=0.05)
    # no growth beyond the in-range scatter -> slope ~ 0
    assert mle_slope(rng.standard_normal(d.size) * 0.01, d, s) < 0.002


def _cal(**kw):
    base = dict(slope=0.0, offset=0.01, scatter=0.0, N_max=1e8, D_max=1e10, n_origins=3, n_points=30,
                calibrated=True, reach=1.0)
    return Calibration(**{**base, **kw})


def test_t_quantile_covers_a_new_offset_estimated_from_few_origins():
    """An offset sd estimated from n origins and used as known under-covers; the t quantile with n
    degrees of freedom is exact for normal offsets (e_new / sigma_hat ~ t_n)."""
    rng = np.random.default_rng(7)
    n, trials, sigma = 3, 800, 0.02
    hit_t = hit_z = 0
    for _ in range(trials):
        e = sigma * rng.standard_normal(n)  # one offset per origin, all at distance 1
        b, k = mle_growth(e, np.ones(n), np.full(n, 1e-6))
        cal = _cal(offset=b, slope=k, n_origins=n)
        sd = float(cal.extrapolation_sd(np.e * 1e8, 1e10))  # distance 1: sqrt(b^2 + k^2)
        new = sigma * rng.standard_normal()
        hit_t += abs(new) <= cal.quantile(0.9) * sd
        hit_z += abs(new) <= 1.6449 * sd
    assert abs(hit_t / trials - 0.9) < 0.03, hit_t / trials
    assert hit_z / trials < 0.85  # the normal quantile with a plug-in sd under-covers


def test_misfit_term_grows_in_proportion_beyond_reach():
    cal = _cal(offset=0.01, slope=0.0, reach=0.5, pivot=1.0)
    N = 1e8 * np.exp([0.25, 0.5, 2.0, 5.0])
    sd = cal.extrapolation_sd(N, np.full(4, 1e10))
    assert sd[0] == pytest.approx(0.01) and sd[1] == pytest.approx(0.01)  # within the backtested reach: b
    # beyond it: in proportion to the distance from the pivot, 1 e-fold inside the box edge
    assert sd[2] == pytest.approx(0.01 * 3 / 1.5) and sd[3] == pytest.approx(0.01 * 6 / 1.5)
    assert float(cal.extrapolation_sd(1e8, 1e10)) == 0.0  # inside the training box
    # a fitted slope beyond the reach is kept (the growth floor only ever widens)
    steep = _cal(offset=0.0, slope=0.05, reach=0.5, pivot=1.0)
    assert float(steep.extrapolation_sd(1e8 * np.e ** 5, 1e10)) == pytest.approx(0.25)


def test_calibration_from_old_fit_file():
    d = _cal().to_dict()
    for k in ("offset", "reach", "pivot", "net_of_parameter_noise", "note"):
        d.pop(k)
    cal = Calibration.from_dict(d)
    assert cal.offset == 0.0 and cal.reach == 0.0 and cal.pivot == 0.0 and not cal.net_of_parameter_noise
    assert float(cal.extrapolation_sd(2e8, 1e10)) == pytest.approx(0.0)  # slope 0, offset 0
    assert Calibration.from_dict(_cal().to_dict()) == _cal()


def test_distance_zero_inside_box_and_size_groups():
    assert extrapolation_distance([1e8, 2e8], [1e9, 1e10], 2e8, 1e10).tolist() == [0.0, 0.0]
    assert extrapolation_distance(4e8, 1e10, 2e8, 1e9) == pytest.approx(np.log(2) + np.log(10))
    groups = size_groups(np.arange(1, 130))  # a dense sweep becomes at most 10 contiguous groups
    assert len(groups) == 10 and np.all(np.diff([g[0] for g in groups]) > 0)
    assert sum(g.size for g in groups) == 129


def _grid(sizes, per_size=3):
    N = np.repeat(np.asarray(sizes, float), per_size)
    return pd.DataFrame({"N": N, "D": 20 * N, "loss": np.ones(N.size)})


def _reach(df, test):
    """How far, in ln N, an origin's held-out runs reach past its training runs."""
    return float(np.log(df["N"][test].max() / df["N"][~test].max()))


def test_origins_spaced_by_distance_on_a_dense_grid():
    sizes = np.geomspace(1e7, 1e9, 129)  # dense sweep: counts of sizes would hold out slivers of ln N
    df, span, step = _grid(sizes), np.log(100.0), np.log(100.0) / 128
    got = origins(df, 3, 5)
    assert [j for j, _ in got] == [1, 2, 3]
    reach = [_reach(df, t) for _, t in got]
    # origin j reaches the top j/6 of the span of ln N (j/3 of its top half), to within one grid step
    assert np.allclose(reach, [span / 6, span / 3, span / 2], atol=step)
    old = [_reach(df, t) for _, t in count_origins(df, 3, 5)]
    # the count rule stays near the edge: 38 of 129 sizes, 30% of the span, at its farthest
    assert all(r > o for r, o in zip(reach, old)) and old[-1] < 0.6 * reach[-1]
    # a denser sampling of the same span moves the origins by no more than a grid step
    coarse = [_reach(_grid(np.geomspace(1e7, 1e9, 41)), t) for _, t in origins(_grid(np.geomspace(1e7, 1e9, 41)), 3, 5)]
    assert np.allclose(coarse, reach, atol=np.log(100.0) / 40)


def test_origins_on_sparse_and_gappy_grids():
    # 8 evenly spaced sizes (at 0, 1/7, ..., 1 of the span): the top 1/6, 1/3, 1/2 of the span
    # hold the 2, 3, 4 largest
    df = _grid(np.geomspace(1e7, 1e9, 8))
    got = origins(df, 3, 5)
    held = [np.unique(df["N"][t]).size for _, t in got]
    assert held == [2, 3, 4]
    reach = [_reach(df, t) for _, t in got]
    assert np.all(np.diff(reach) > 0)
    assert min(np.unique(df["N"][~t]).size for _, t in got) >= MIN_TRAIN_SIZES
    # a cluster at the top and a gap below it: origin 2's span cut adds nothing to origin 1's, so
    # it holds out one size more (no repeated origin), and every origin is a different fit
    sizes = np.concatenate([np.geomspace(1e7, 3e7, 6), np.geomspace(8e8, 1e9, 4)])
    gap = _grid(sizes)
    masks = [t for _, t in origins(gap, 3, 5)]
    n = [np.unique(gap["N"][t]).size for t in masks]
    assert n[0] == 4 and n[1] == 5 and len(set(n)) == len(n) and np.all(np.diff(n) > 0)


def test_origins_fall_back_to_counts_where_few_sizes_remain():
    # 4 sizes (at 0, 1/3, 2/3, 1 of the span): origin 2 must hold one size more than origin 1,
    # which leaves 2 training sizes (< MIN_TRAIN_SIZES), so it is the count rule's (two largest
    # held out); origin 3 would leave one size: none
    df = _grid(np.geomspace(1e7, 1e9, 4))
    got = origins(df, 3, 5)
    assert [j for j, _ in got] == [1, 2]
    assert np.array_equal(got[1][1], dict(count_origins(df, 3, 5))[2])
    assert np.unique(df["N"][~got[1][1]]).size == 2 < MIN_TRAIN_SIZES
    # sizes at 0, 0.3, 0.55, 0.6, 0.7, 1 of the span: the top half would leave 2 training sizes,
    # so origin 3 holds out all but the 3 smallest (the 3 largest), still one more than origin 2
    mid = _grid(1e7 * 100.0 ** np.array([0, 0.3, 0.55, 0.6, 0.7, 1.0]))
    got = origins(mid, 3, 5)
    assert [np.unique(mid["N"][t]).size for _, t in got] == [1, 2, 3]
    assert np.unique(mid["N"][~got[2][1]]).size == MIN_TRAIN_SIZES
    # 2 runs per size: holding out 2 of 4 sizes leaves 4 runs, no more than the 5 parameters, so
    # neither the span rule nor the count rule gives origin 2
    small = _grid(np.geomspace(1e7, 1e9, 4), per_size=2)
    assert [j for j, _ in origins(small, 3, 5)] == [1]


def test_outlier_flagged_and_excluded():
    df = chinchilla_runs(0, noise=0.005)
    planted = 17
    df.loc[planted, "loss"] *= 1.15
    test, desc = holdout_mask(df, largest=1)
    r = validate_one("chinchilla", df, test, desc, n_starts=64)
    assert len(r.outliers) == 1 and r.outliers[0]["loss"] == pytest.approx(df.loc[planted, "loss"])
    assert r.outliers[0]["robust_sigmas"] > 4
    x = validate_one("chinchilla", df, test, desc, n_starts=64, exclude_outliers=True)
    assert x.excluded_outliers and x.n_train == r.n_train - 1 and len(x.outliers) == 1  # still reported
    # plain Gaussian scatter of 40 runs: nothing at 4 robust sigmas
    assert not outlier_mask(np.random.default_rng(3).standard_normal(40)).any()


def test_too_few_origins_widen_conservatively():
    df = chinchilla_runs(2, sizes=np.geomspace(2e7, 2e8, 4))
    bt = rolling_origin(df, "chinchilla", 3, n_starts=64)
    assert bt.n_origins < MIN_ORIGINS
    fit = fit_supervised("chinchilla", df, n_starts=64)
    cal = fit_calibration(bt, fit, df)
    assert not cal.calibrated and cal.slope >= PRIOR_SLOPE and "origin" in cal.note


def test_broken_power_law_calibrated_interval_grows_where_bootstrap_does_not():
    from dataclasses import replace

    from scalelaw.fit.core import bootstrap

    df = chinchilla_runs(4, noise=0.005, sizes=np.geomspace(1e7, 3e9, 10), law=broken_law)
    fit = fit_supervised("chinchilla", df, n_starts=64)
    fit.boot = bootstrap(fit, df, n_boot=40)
    bt = rolling_origin(df, "chinchilla", 3, n_starts=64)
    cal = fit_calibration(bt, fit, df)
    assert cal.calibrated and cal.slope > 0.005
    N = 3e9 * np.array([1.0, 3.0, 10.0, 30.0])
    D = np.full(N.size, 2e11)
    pred, lo, hi = calibrated_interval(fit, cal, 0.9, N, D)
    _, lo0, hi0 = calibrated_interval(fit, replace(cal, slope=0.0), 0.9, N, D)
    hw, hw0 = (hi - lo) / 2 / pred, (hi0 - lo0) / 2 / pred
    assert hw[0] == pytest.approx(hw0[0])  # inside the data's range: the bootstrap prediction interval
    assert np.all(np.diff(hw) > 0) and hw[-1] > 2 * hw[0]
    assert hw0[-1] < 1.5 * hw0[0]  # the bootstrap interval hardly grows
    # the truth at the far points lies outside the bootstrap interval and inside the calibrated one
    truth = broken_law(N, D)
    assert np.all((truth >= lo) & (truth <= hi))
    assert not np.all((truth >= lo0) & (truth <= hi0))


def _coverage(seeds, n_boot):
    covered = total = 0
    for s in seeds:
        df = chinchilla_runs(100 + s, noise=0.01)
        (r,) = validate_laws(df, ["chinchilla"], holdout_largest=2, n_starts=64, n_boot=n_boot, calibrate=3)
        covered += r.heldout_coverage * r.n_test
        total += r.n_test
    return covered / total


def test_coverage_known_law_fast():
    assert 0.6 <= _coverage(range(3), n_boot=0) <= 1.0


@pytest.mark.slow
def test_coverage_known_law_near_nominal():
    cov = _coverage(range(25), n_boot=50)
    assert 0.85 <= cov <= 0.95, cov  # within 5 points of the nominal 90%


def _bt(spec, per_origin):
    from scalelaw.fit.backtest import Backtest

    k = np.repeat(np.arange(1, len(per_origin) + 1), 4)
    e = np.repeat(per_origin, 4)
    z = np.zeros(k.size)
    return Backtest(spec=spec, origin=k, log_err=e, distance=z + 1, d_N=z + 1, d_C=z + 1, scatter=z)


def test_recommendation_switches_only_on_a_consistent_edge():
    from scalelaw.fit.calibrate import candidates, recommend

    default, *others = candidates()
    df = chinchilla_runs(0)

    def choose(default_err, challenger_err):
        bts = {default: _bt(default, default_err), others[0]: _bt(others[0], challenger_err)}
        bts.update({s: _bt(s, [0.5, 0.5, 0.5]) for s in others[1:]})  # far worse: never chosen
        return recommend(df, backtests=bts)

    # 30% better at every origin: switch
    spec, why, _ = choose([0.010, 0.020, 0.030], [0.007, 0.014, 0.021])
    assert spec == others[0] and "consistently" in why
    # 30% better on average, but from one lucky origin: keep the default
    spec, why, _ = choose([0.010, 0.020, 0.030], [0.012, 0.022, 0.008])
    assert spec == default and "not consistently" in why
    # consistent but small edge: keep the default
    spec, why, _ = choose([0.010, 0.020, 0.030], [0.009, 0.018, 0.027])
    assert spec == default and "no candidate" in why


def test_recommendation_ignores_heldout_runs():
    df = chinchilla_runs(5, sizes=np.geomspace(2e7, 2e9, 7), n_d=4)
    (rec,) = [r for r in validate_laws(df, ["chinchilla"], holdout_largest=2, n_starts=32, recommend=True)
              if r.why is not None]
    bad = df.copy()
    test, _ = holdout_mask(bad, largest=2)
    bad.loc[test, "loss"] *= 1.5  # corrupt only the held-out runs
    (rec2,) = [r for r in validate_laws(bad, ["chinchilla"], holdout_largest=2, n_starts=32, recommend=True)
               if r.why is not None]
    assert (rec2.law, rec2.method, rec2.why) == (rec.law, rec.method, rec.why)
    assert rec2.heldout_mean_rel_err > 5 * rec.heldout_mean_rel_err


def test_fit_auto_stores_calibration_used_by_predict_and_plan(tmp_path):
    from scalelaw.fit import save_fit
    from scalelaw.fit.run import run_fit, run_predict
    from scalelaw.plan.report import supervised_doc

    p = tmp_path / "runs.csv"
    chinchilla_runs(8, sizes=np.geomspace(2e7, 2e9, 7), n_d=4).to_csv(p, index=False)
    doc, fit = run_fit(p, law="auto", n_starts=32, n_boot=20)
    cal = fit.settings["calibration"]
    assert cal["n_origins"] == 3 and "why" in fit.settings["recommendation"]
    save_fit(fit, tmp_path / "fit.json")
    inside = run_predict(tmp_path / "fit.json", N=2e8, D=2e10)
    far = run_predict(tmp_path / "fit.json", N=2e11, D=2e13)
    assert inside["interval_kind"] == far["interval_kind"] == "calibrated"
    assert inside["extrapolation_distance"] == 0 and far["extrapolation_distance"] > 5
    rel = lambda d: (d["interval"][1] - d["interval"][0]) / d["loss"]  # noqa: E731
    assert rel(far) > rel(inside)
    plan = supervised_doc(str(tmp_path / "fit.json"), 1e23)
    ci = plan["calibrated_interval"]
    assert ci["loss"][0] < plan["interval"]["loss"][0] <= plan["interval"]["loss"][1] < ci["loss"][1]


def test_fit_flags_and_excludes_outliers(tmp_path):
    from scalelaw.fit.run import run_fit

    df = chinchilla_runs(9, noise=0.005)
    df.loc[11, "loss"] *= 1.2
    p = tmp_path / "runs.csv"
    df.to_csv(p, index=False)
    doc, fit = run_fit(p, n_starts=32)
    assert any(o["loss"] == pytest.approx(df.loc[11, "loss"]) for o in doc["settings"]["outliers"])
    assert doc["n_points"] == len(df) and not doc["settings"]["excluded_outliers"]
    doc2, _ = run_fit(p, n_starts=32, exclude_outliers=True)
    assert doc2["settings"]["excluded_outliers"] and doc2["n_points"] == len(df) - len(doc["settings"]["outliers"])
