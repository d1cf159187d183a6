"""`scalelaw validate`: splits, error metrics, and one-line errors (exit 2) for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalelaw.errors import UserError
from scalelaw.fit.validate import holdout_mask, validate_laws
from scalelaw.laws.farseer import FARSEER, FARSEER_REFIT

ROOT = Path(__file__).resolve().parents[1]


def cli(*args):
    p = subprocess.run([sys.executable, "-m", "scalelaw.cli", "validate", *map(str, args)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    return p.returncode, p.stdout, p.stderr


def assert_user_error(rc, err, *words):
    lines = [line for line in err.splitlines() if line.startswith("scalelaw: error:")]
    assert rc == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], lines[0]


def farseer_grid(sizes=(2e8, 4e8, 8e8, 1.6e9, 3.2e9, 6.4e9), n_d=9, noise=0.0, seed=0):
    """A sqrt(2)-spaced (N, D) grid with losses from the published refit."""
    N = np.repeat(sizes, n_d)
    D = np.tile(2e9 * np.sqrt(2) ** np.arange(n_d), len(sizes))
    L = FARSEER.predict_natural(FARSEER_REFIT, N=N, D=D)
    L = L * (1 + noise * np.random.default_rng(seed).standard_normal(L.size))
    return pd.DataFrame({"N": N, "D": D, "loss": L, "N_kind": "non-embedding"})


@pytest.fixture
def grid_csv(tmp_path):
    p = tmp_path / "grid.csv"
    farseer_grid().to_csv(p, index=False)
    return p


def test_holdout_largest_and_expression():
    df = farseer_grid()
    m, desc = holdout_mask(df, largest=2)
    assert m.sum() == 18 and set(df["N"][m]) == {3.2e9, 6.4e9} and "2 largest" in desc
    m, _ = holdout_mask(df, expr="N > 1e9")
    assert set(df["N"][m]) == {1.6e9, 3.2e9, 6.4e9}
    with pytest.raises(UserError, match="not both"):
        holdout_mask(df, largest=1, expr="N > 1e9")
    with pytest.raises(UserError, match="no training runs"):
        holdout_mask(df, largest=6)


def test_cli_holdout_leaving_no_training_runs(grid_csv):
    assert_user_error(*cli(grid_csv, "--laws", "chinchilla", "--holdout", "N > 0")[::2], "no training runs")


def test_cli_holdout_leaving_no_test_runs(grid_csv):
    assert_user_error(*cli(grid_csv, "--laws", "chinchilla", "--holdout", "N > 1e20")[::2], "selects no runs")


def test_cli_bad_holdout_expression(grid_csv):
    assert_user_error(*cli(grid_csv, "--holdout", "nosuchcol > 3")[::2], "--holdout")


def test_cli_mixed_n_kinds(tmp_path):
    df = farseer_grid()
    df.loc[:5, "N_kind"] = "total"
    p = tmp_path / "mixed.csv"
    df.to_csv(p, index=False)
    assert_user_error(*cli(p, "--laws", "chinchilla")[::2], "N_kind", str(p))


def test_cli_farseer_alone_on_isoflop_data_exits_2(tmp_path):
    """One D per N (isoFLOP): the piecewise fit cannot run; asked alone, that is the user's error."""
    N = np.geomspace(1e8, 3e9, 20)
    df = pd.DataFrame({"N": N, "D": 1e20 / (6 * N), "loss": 2 + 300 * N ** -0.3 + 400 * (1e20 / (6 * N)) ** -0.3})
    p = tmp_path / "iso.csv"
    df.to_csv(p, index=False)
    assert_user_error(*cli(p, "--laws", "farseer")[::2], "single D", "--method end-to-end")


def test_cli_law_that_cannot_be_fitted(grid_csv):
    assert_user_error(*cli(grid_csv, "--laws", "distill")[::2], "distill")
    assert_user_error(*cli(grid_csv, "--laws", "nosuchlaw")[::2], "unknown law")


def test_cli_too_few_training_runs_for_law(tmp_path):
    df = farseer_grid(sizes=(2e8, 4e8), n_d=4)
    p = tmp_path / "small.csv"
    df.to_csv(p, index=False)
    assert_user_error(*cli(p, "--laws", "chinchilla-gamma")[::2], "6 parameters", "4 run")


def test_farseer_piecewise_extrapolates_its_own_surface():
    """Exact Farseer data on a sqrt(2) grid: the held-out largest size is predicted almost exactly."""
    res = validate_laws(farseer_grid(noise=2e-4), ["farseer"], holdout_largest=1)
    (r,) = res
    assert r.error is None and r.n_test == 9 and r.n_train == 45
    assert r.inrange_mean_rel_err < 5e-4 and r.heldout_mean_rel_err < 5e-3


def test_skipped_law_is_reported_while_others_run(tmp_path):
    """Chinchilla's own data (one or few D per N): farseer skipped with the reason, chinchilla scored."""
    df = pd.read_csv(ROOT / "data" / "chinchilla_epoch.csv")
    df = df.drop(df["loss"].nlargest(5).index)
    p = tmp_path / "ch.csv"
    df.to_csv(p, index=False)
    rc, out, err = cli(p, "--laws", "chinchilla,farseer", "--holdout", "N > 5e9", "--n-starts", "64", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    by = {r["law"]: r for r in doc["results"]}
    assert "end-to-end" in by["farseer"]["error"] and by["farseer"]["heldout_mean_rel_err"] is None
    ch = by["chinchilla"]
    assert ch["n_train"] + ch["n_test"] == 240 and ch["n_test"] == int((df["N"] > 5e9).sum())
    assert 0 < ch["inrange_mean_rel_err"] < 0.05 and ch["heldout_max_rel_err"] >= ch["heldout_mean_rel_err"]


def test_json_contract_with_recommendation(tmp_path):
    rng = np.random.default_rng(7)
    N = np.repeat(np.geomspace(2e7, 2e9, 6), 4)
    D = np.tile(np.geomspace(2e9, 2e11, 4), 6)
    L = (1.8 + 480 / N ** 0.34 + 2000 / D ** 0.36) * np.exp(0.01 * rng.standard_normal(N.size))
    p = tmp_path / "runs.csv"
    pd.DataFrame({"N": N, "D": D, "loss": L}).to_csv(p, index=False)
    rc, out, err = cli(p, "--laws", "chinchilla", "--holdout-largest", "1", "--bootstrap", "20", "--n-starts", "32",
                       "--recommend", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    (r,) = doc["results"]
    for k in ("law", "method", "heldout_mean_rel_err", "heldout_coverage", "interval_level",
              "heldout_median_halfwidth_rel", "outliers", "calibration"):
        assert k in r, k
    assert r["interval_level"] == 0.9 and 0 <= r["heldout_coverage"] <= 1 and r["heldout_median_halfwidth_rel"] > 0
    rec = doc["recommended"]
    for k in ("law", "method", "heldout_mean_rel_err", "heldout_coverage", "heldout_median_halfwidth_rel", "why"):
        assert k in rec, k
    assert "backtest" in rec["why"] and rec["law"] in ("chinchilla", "chinchilla-gamma", "farseer")
