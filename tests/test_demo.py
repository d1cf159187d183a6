"""`scalelaw demo` end to end on a small spec with the stand-in trainer (real processes, real fits).

The stand-in's supervised losses follow a known Chinchilla surface exactly, so the demo's fitted
chinchilla law must recover it (the oracle is test_sweep_fake.E/A/B/ALPHA/BETA, not our output).
The real tiny-cpu demo is run by hand (see the final report) because it trains for minutes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TESTS = str(Path(__file__).parent)
sys.path.insert(0, TESTS)
import test_sweep_fake as fake  # noqa: E402

SPEC = """
[sweep]
name = "demo-unit"
[train]
block_size = 16
batch_size = 4
vocab_size = 64
[[supervised]]
sizes = [1e4, 3e4, 1e5, 3e5]
tokens = [1e5, 3e5, 1e6, 3e6]
[teachers.a]
size = 3e5
tokens = 3e6
[teachers.b]
size = 1e5
tokens = 1e6
[[students]]
teachers = ["a", "b"]
sizes = [1e4, 3e4]
tokens = [1e5, 3e5, 1e6]
[executor]
workers = 2
"""


@pytest.mark.slow
def test_demo_end_to_end_recovers_the_known_surface(tmp_path, monkeypatch):
    for k, v in fake.env(TESTS, FAKE_STEPS=1, FAKE_STEP_S=0.0).items():
        monkeypatch.setenv(k, v)
    from scalelaw.demo import run_demo

    spec = tmp_path / "demo.toml"
    spec.write_text(SPEC)
    out = tmp_path / "demo"
    doc = run_demo(out, spec=spec, progress=False)
    assert doc["counts"]["done"] == 16 + 2 + 12
    p = doc["fits"]["chinchilla"]["params"]
    assert p["E"] == pytest.approx(fake.E, rel=0.02)
    assert p["alpha"] == pytest.approx(fake.ALPHA, rel=0.05)
    assert p["beta"] == pytest.approx(fake.BETA, rel=0.05)
    report = (out / "report.md").read_text()
    assert f"E={p['E']:.4g}" in report
    for name in ("loss_curves.png", "supervised_fits.png"):
        assert (out / "plots" / name).stat().st_size > 1000
    assert json.loads((out / "fits" / "chinchilla.json").read_text())
    # the plan is sized from the runs: budgets from the largest run's compute to PLAN_SPAN times it
    from scalelaw.demo import PLAN_SPAN

    st = doc["plan_setting"]
    assert st is not None, doc["notes"]
    assert st["compute"][-1] == pytest.approx(PLAN_SPAN * st["compute"][0])
    import pandas as pd

    runs = pd.read_csv(out / "runs.csv")
    assert list(st["data_N"]) == [runs["N"].min(), runs["N"].max()]
    assert st["student_N"] == runs.loc[runs["role"] == "student", "N"].max()
    assert st["bounds"][0] < st["data_N"][0] and st["bounds"][1] > st["data_D"][1]
    assert "## Compute plan" in report and f"1x to {PLAN_SPAN:.0f}x the largest run's compute" in report
    assert all(p["interior"] for p in doc["plans"]["supervised"])
    # a second demo reuses every run: nothing retrains
    again = run_demo(out, spec=spec, progress=False)
    assert again["counts"]["done"] == doc["counts"]["done"]
    events = [json.loads(x)["event"] for f in (out / "runs").glob("*/events.log") for x in f.read_text().splitlines()]
    assert events.count("finish") == 30 and events.count("start") == 30


# ---------------------------------------------------------------- E at the floor, held-out size

FLOOR = 2.2363
SURF = dict(A=400.0, B=1500.0, alpha=0.34, beta=0.28)


def _runs_csv(tmp_path, noise=0.002):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    N, D = [a.ravel() for a in np.meshgrid(np.geomspace(1e6, 1e9, 6), np.geomspace(1e8, 1e11, 5))]
    L = FLOOR + SURF["A"] / N ** SURF["alpha"] + SURF["B"] / D ** SURF["beta"]
    df = pd.DataFrame({"run_id": [f"r{i}" for i in range(N.size)], "role": "supervised", "N": N, "D": D,
                       "loss": L * np.exp(noise * rng.standard_normal(N.size)), "N_kind": "non-embedding",
                       "status": "ok", "loss_floor": FLOOR})
    p = tmp_path / "runs.csv"
    df.to_csv(p, index=False)
    return p, df


def test_supervised_fits_hold_E_at_the_runs_loss_floor(tmp_path):
    import pandas as pd

    from scalelaw.demo import _floor, _supervised_fits

    p, df = _runs_csv(tmp_path)
    (tmp_path / "fits").mkdir()
    floor = _floor(pd.read_csv(p))
    assert floor == FLOOR  # read from the runs' own column, not a constant of the demo
    fits = _supervised_fits(p, tmp_path, [], floor)
    f = fits["chinchilla"]
    assert f.params["E"] == pytest.approx(FLOOR, rel=1e-9)
    assert f.params["alpha"] == pytest.approx(SURF["alpha"], rel=0.05)
    assert f.params["beta"] == pytest.approx(SURF["beta"], rel=0.05)
    assert fits["chinchilla-gamma"].params["E"] == pytest.approx(FLOOR, rel=1e-9)


def test_holdout_prediction_of_the_largest_size(tmp_path):
    from scalelaw.demo import holdout_prediction

    p, df = _runs_csv(tmp_path)
    h = holdout_prediction(p, FLOOR, n_boot=50)
    assert h["N"] == df["N"].max() and h["n_train"] == (df["N"] < df["N"].max()).sum()
    assert len(h["rows"]) == 5
    for r in h["rows"]:
        assert abs(r["predicted"] - r["measured"]) / r["measured"] < 0.02  # 0.2% noise, 1 decade of extrapolation
        assert r["lo"] < r["predicted"] < r["hi"]
    assert sum(r["lo"] <= r["measured"] <= r["hi"] for r in h["rows"]) >= 3
