"""The fit at scale: bounded memory for large files, and a clear refusal when it cannot fit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from scalelaw.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
#: E, A, B, alpha, beta of Epoch's Chinchilla fit (Besiroglu et al. 2024), used as the truth
TRUE = dict(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)


def _write_chinchilla(path: Path, n: int, seed: int = 1, noise: float = 0.01) -> None:
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), n))
    D = np.exp(rng.uniform(np.log(5e9), np.log(5e11), n))
    L = (TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]) * np.exp(noise * rng.standard_normal(n))
    np.savetxt(path, np.column_stack([N, D, L]), delimiter=",", header="N,D,loss", comments="", fmt="%.10g")


def _run(args, env=None):
    """Run `scalelaw` as a whole process; (completed process, its peak RSS in MB)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen([sys.executable, "-m", "scalelaw.cli", *args], stdout=out, stderr=err, cwd=ROOT,
                             env=dict(os.environ, **(env or {})))
        _, status, ru = os.wait4(p.pid, 0)
        out.seek(0), err.seek(0)
        return os.waitstatus_to_exitcode(status), out.read(), err.read(), ru.ru_maxrss / 1024


def test_20k_rows_fit_in_bounded_memory_and_recover_the_truth(tmp_path):
    csv = tmp_path / "chin.csv"
    _write_chinchilla(csv, 20_000)
    rc, out, err, rss_mb = _run(["fit", str(csv), "--law", "chinchilla", "--json"])
    assert rc == 0, err
    # before chunking this fit peaked at ~6 GB; JAX alone is ~0.3 GB
    assert rss_mb < 1500, f"peak RSS {rss_mb:.0f} MB"
    params = json.loads(out)["params"]
    # 20,000 points with 1% noise pin the parameters down to well under these tolerances
    assert params["E"] == pytest.approx(TRUE["E"], rel=0.02)
    assert params["alpha"] == pytest.approx(TRUE["alpha"], rel=0.05)
    assert params["beta"] == pytest.approx(TRUE["beta"], rel=0.05)


@pytest.mark.slow
def test_subsampled_race_reaches_scipys_optimum(tmp_path):
    """A file larger than the race subsample still ends at the full-data optimum (scipy as oracle)."""
    from scipy.optimize import minimize

    from scalelaw.fit import fit_law
    from scalelaw.fit.core import RACE_ROWS
    from scalelaw.fit.solver import objective
    from scalelaw.laws import get_law
    from scalelaw.runs import load_runs

    import jax

    csv = tmp_path / "chin.csv"
    _write_chinchilla(csv, 2 * RACE_ROWS, seed=3)
    fit = fit_law("chinchilla", load_runs(csv))
    law = get_law("chinchilla")
    runs = load_runs(csv)
    logs = {k: np.log(runs.column(k)) for k in ("N", "D")}
    ly = np.log(runs.column("loss"))
    w = np.ones_like(ly)
    fg = jax.jit(jax.value_and_grad(lambda t: objective(law, t, logs, ly, w, 1e-3)))
    ref = minimize(lambda t: tuple(np.asarray(x, dtype=np.float64) for x in fg(t)), fit.theta + 0.05, jac=True,
                   method="L-BFGS-B", options=dict(maxiter=5000, ftol=1e-15, gtol=1e-12))
    assert fit.objective <= ref.fun * (1 + 1e-7)


def test_memory_guard_refuses_with_one_line_and_exit_2():
    rc, out, err, _ = _run(["fit", str(ROOT / "data" / "chinchilla_epoch.csv"), "--law", "chinchilla"],
                           env={"SCALELAW_MEMORY_GB": "0.001"})
    assert rc == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "memory" in lines[0] and "Traceback" not in err, err


def test_absurd_problem_is_refused_before_allocating():
    """10^6 starts x 10^5 rows of per-start weights (800 TB) is refused, not attempted.

    The inputs are broadcast views (no memory): converting them would be the first allocation.
    """
    from scalelaw.fit.solver import solve_multistart
    from scalelaw.laws import get_law

    law = get_law("chinchilla")
    n, S = 100_000, 1_000_000
    logs = {"N": np.broadcast_to(20.0, (n,)), "D": np.broadcast_to(24.0, (n,))}
    starts = np.broadcast_to(law.grid()[0], (S, law.n_params))
    with pytest.raises(UserError, match="memory"):
        solve_multistart(law, logs, np.broadcast_to(1.0, (n,)), starts, delta=1e-3,
                         weights=np.broadcast_to(1.0, (S, n)))
