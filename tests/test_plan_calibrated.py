"""Calibrated intervals of a plan (N*, D*, loss) and the calibrated band of the fit plot.

Oracles: the known law the synthetic runs are drawn from (its closed-form optimum, LAWS.md §1),
scipy's brentq for the edges of the near-optimal range, and `calibrate.calibrated_interval`
evaluated independently at the points the plot draws.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from scalelaw.errors import ScalelawWarning
from scalelaw.fit.backtest import rolling_origin
from scalelaw.fit.calibrate import Calibration, calibrated_interval, fit_calibration
from scalelaw.fit.core import bootstrap
from scalelaw.fit.run import fit_supervised
from scalelaw.flops import BUSBRIDGE2025
from scalelaw.laws.chinchilla import compute_optimal
from scalelaw.plan import plan_supervised
from scalelaw.plan.sources import as_planfit
from scalelaw.plan.supervised import calibrated_plan_intervals, optimal_allocation

#: Hoffmann et al. 2022 / Besiroglu et al. 2024 style parameters
TRUE = dict(E=1.8, A=480.0, B=2000.0, alpha=0.34, beta=0.36)
SIZES = np.geomspace(2e7, 2e9, 8)
#: from inside the runs' compute range (max 6 * 2e9 * 2.3e11 ~ 2.8e21) to ~3.5e3 times beyond it
BUDGETS = np.array([2.4e19, 2.4e21, 1e22, 1e23, 1e24, 1e25])


def synthetic_runs(seed: int, noise: float = 0.01) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    N = np.repeat(SIZES, 5)
    D = np.tile(np.geomspace(2e9, 2e11, 5), SIZES.size) * np.exp(0.1 * rng.standard_normal(N.size))
    L = TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]
    return pd.DataFrame({"N": N, "D": D, "loss": L * np.exp(noise * rng.standard_normal(N.size))})


@lru_cache(maxsize=None)
def calibrated_fit(seed: int):
    df = synthetic_runs(seed)
    fit = fit_supervised("chinchilla", df, n_starts=32)
    fit.boot = bootstrap(fit, df, n_boot=40, seed=0)
    bt = rolling_origin(df, "chinchilla", 3, n_starts=32)
    fit.settings["calibration"] = fit_calibration(bt, fit, df).to_dict()
    return fit, df


@pytest.fixture(scope="module", params=[0, 1])
def fitted(request):
    return calibrated_fit(request.param)


def plans(fit, budgets=BUDGETS):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalelawWarning)  # the far budgets are flagged as extrapolations
        return plan_supervised(fit, budgets)


def test_true_optimum_inside_the_calibrated_intervals(fitted):
    fit, _ = fitted
    N_true, D_true = compute_optimal(TRUE["A"], TRUE["B"], TRUE["alpha"], TRUE["beta"], BUDGETS)
    for p, n, d in zip(plans(fit), N_true, D_true):
        ci = p.calibrated_interval
        assert ci["N"][0] <= n <= ci["N"][1], (p.compute, n, ci["N"], p.interval["N"])
        assert ci["D"][0] <= d <= ci["D"][1], (p.compute, d, ci["D"])
        assert ci["tokens_per_param"][0] <= d / n <= ci["tokens_per_param"][1]
        # the plan itself and its parameter-noise interval lie inside, and the budget is respected
        assert ci["N"][0] <= p.interval["N"][0] <= p.N <= p.interval["N"][1] <= ci["N"][1]
        assert ci["D"][0] * ci["N"][1] * 6 == pytest.approx(p.compute, rel=1e-9)
        assert ci["loss"][0] < p.interval["loss"][0] <= p.loss <= p.interval["loss"][1] < ci["loss"][1]
        assert not any(ci["N_at_bound"]) and "near-optimal" in ci["meaning"]


def test_intervals_widen_with_extrapolation_distance(fitted):
    fit, _ = fitted
    ps = plans(fit)
    ci = [p.calibrated_interval for p in ps]
    dist = np.array([c["extrapolation_distance"] for c in ci])
    assert dist[0] == 0 and np.all(np.diff(dist) > 0)
    for key in ("N", "D"):
        ratio = np.array([c[key][1] / c[key][0] for c in ci])
        assert np.all(np.diff(ratio) > 0), (key, ratio)
        assert ratio[-1] > 100 * ratio[0]
    rel = np.array([(c["loss"][1] - c["loss"][0]) / p.loss for c, p in zip(ci, ps)])
    assert np.all(np.diff(rel) > 0)


def test_range_edges_are_where_the_loss_rises_by_the_calibrated_uncertainty(fitted):
    """Each edge of the near-optimal range (before it is joined with the bootstrap interval) is
    the point on the budget constraint where the predicted loss exceeds the optimum's by w, with w
    the calibrated upper log half-width at the plan without the run-to-run scatter."""
    fit, _ = fitted
    pf = as_planfit(fit)
    best = optimal_allocation(pf.law, pf.theta, BUDGETS)
    raw = calibrated_plan_intervals(pf, BUDGETS, best, 0.9, flops="6nd", preset=BUSBRIDGE2025, n_bounds=(1e6, 1e17),
                                    d_min=1e6)
    cal = replace(Calibration.from_dict(fit.settings["calibration"]), scatter=0.0)
    for i, C in enumerate(BUDGETS):
        N0 = best["N"][i]
        pred, _, hi = calibrated_interval(fit, cal, 0.9, N0, C / (6 * N0))
        w = float(np.log(hi / pred))
        assert raw["w"][i] == pytest.approx(w, rel=1e-9)

        def excess(x):
            return float(np.log(fit.predict(N=np.exp(x), D=C / (6 * np.exp(x)))) - np.log(pred) - w)

        lo = brentq(excess, np.log(1e6), np.log(N0), xtol=1e-12)
        hi_edge = brentq(excess, np.log(N0), np.log(C / 6e6), xtol=1e-12)
        assert raw["N_lo"][i] == pytest.approx(np.exp(lo), rel=1e-6)
        assert raw["N_hi"][i] == pytest.approx(np.exp(hi_edge), rel=1e-6)


def test_no_calibrated_interval_without_calibration_or_draws(fitted, tmp_path, capsys):
    from scalelaw.fit import save_fit
    from scalelaw.plan.report import print_supervised, supervised_doc

    fit, _ = fitted
    settings = {k: v for k, v in fit.settings.items() if k != "calibration"}
    cases = {"plain": replace(fit, boot=None, settings=settings), "boot": replace(fit, settings=settings),
             "cal": replace(fit, boot=None), "both": fit}
    for name, f in cases.items():
        save_fit(f, tmp_path / f"{name}.json")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScalelawWarning)
            doc = supervised_doc(str(tmp_path / f"{name}.json"), 1e23)
        capsys.readouterr()
        print_supervised(doc)
        err = capsys.readouterr().err
        ci = doc["calibrated_interval"]
        if name in ("plain", "boot"):
            assert ci is None and "calibrated" not in err, name
            continue
        assert ci["loss"][0] < doc["loss"] < ci["loss"][1] and "calibrated loss" in err, name
        if name == "cal":  # a calibration without draws: the loss only, and the output says why
            assert "N" not in ci and "none without bootstrap draws" in err
        else:
            assert ci["N"][0] < doc["N"] < ci["N"][1] and "near-optimal range" in err
            assert f"{ci['N'][0]:.4g}" in err


# ------------------------------------------------------------------ the fit plot's band


def _bands(ax, gid):
    return [c for c in ax.collections if c.get_gid() == gid]


def _band_edges(coll, x):
    """(lo, hi) of a fill_between polygon at its x points."""
    v = coll.get_paths()[0].vertices
    lo, hi = np.empty(x.size), np.empty(x.size)
    for j, xj in enumerate(x):
        ys = v[np.isclose(v[:, 0], xj, rtol=1e-12), 1]
        lo[j], hi[j] = ys.min(), ys.max()
    return lo, hi


def _check_plot_bands(fit, df, tmp_path, gid, cal):
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb

    from scalelaw.plot import plot_fit

    csv = tmp_path / "runs.csv"
    df.to_csv(csv, index=False)
    fig = plot_fit(fit, csv, None, None)
    try:
        per_d, slices = fig.axes[1], fig.axes[2]
        assert gid in per_d.get_title() and gid in slices.get_title()
        checked = 0
        for ax in (per_d, slices):
            lines = ax.get_lines()
            bands = _bands(ax, gid)
            assert bands and len(bands) == len(lines)
            for b in bands:  # each band belongs to the curve of its colour
                (line,) = [ln for ln in lines if np.allclose(to_rgb(ln.get_color()), b.get_facecolor()[0][:3])]
                xs, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
                assert np.allclose(np.unique(b.get_paths()[0].vertices[:, 0]), np.sort(xs), rtol=1e-12)
                if ax is per_d:  # x = D at one model size: find the size whose curve this is
                    n = next(n for n in np.unique(df["N"]) if np.allclose(fit.predict(N=n, D=xs), y, rtol=1e-12))
                    N, D = np.full(xs.size, n), xs
                else:  # x = N on one budget: recover C from the curve's first point
                    def g(logc):
                        return float(fit.predict(N=xs[0], D=np.exp(logc) / (6 * xs[0]))) - y[0]
                    C = np.exp(brentq(g, np.log(1e10), np.log(1e35), xtol=1e-14))
                    N, D = xs, C / (6 * xs)
                _, lo, hi = calibrated_interval(fit, cal, 0.9, N, D)
                got_lo, got_hi = _band_edges(b, xs)
                np.testing.assert_allclose(got_lo, lo, rtol=1e-7)
                np.testing.assert_allclose(got_hi, hi, rtol=1e-7)
                checked += 1
        return checked
    finally:
        plt.close(fig)


def test_fit_plot_draws_the_calibrated_band(tmp_path):
    fit, df = calibrated_fit(1)
    cal = Calibration.from_dict(fit.settings["calibration"])
    assert cal.slope > 0 or cal.offset > 0  # so the calibrated band differs from the bootstrap one outside the data
    assert _check_plot_bands(fit, df, tmp_path, "calibrated 90% interval", cal) >= 10
    # without a calibration: the bootstrap prediction band
    plain = replace(fit, settings={k: v for k, v in fit.settings.items() if k != "calibration"})
    assert _check_plot_bands(plain, df, tmp_path, "bootstrap 90% interval", None) >= 10
    # outside the runs the calibrated band is the wider one
    N, D = np.array([2e10]), np.array([2e12])
    _, lo_c, hi_c = calibrated_interval(fit, cal, 0.9, N, D)
    _, lo_b, hi_b = calibrated_interval(plain, None, 0.9, N, D)
    assert hi_c[0] - lo_c[0] > hi_b[0] - lo_b[0]
