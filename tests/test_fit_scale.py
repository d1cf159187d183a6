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


#: runs the CLI and, at exit, writes the process's own peak RSS (VmHWM, kB) to $PEAK_FILE. Not
#: wait4's ru_maxrss: a child's high-water mark carries over fork + exec from its parent, and this
#: parent (pytest, with JAX and the suite's kernels loaded) is itself well over a gigabyte.
_PEAK_WRAPPER = """
import atexit, os, runpy, sys
def _peak():
    with open('/proc/self/status') as f, open(os.environ['PEAK_FILE'], 'w') as out:
        out.write(next(line for line in f if line.startswith('VmHWM')).split()[1])
atexit.register(_peak)
sys.argv = ['scalelaw'] + sys.argv[1:]
runpy.run_module('scalelaw.cli', run_name='__main__', alter_sys=True)
"""


def _run(args, env=None):
    """Run `scalelaw` as a whole process; (exit code, stdout, stderr, its own peak RSS in MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / "peak"
        p = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, *args], capture_output=True, text=True, cwd=ROOT,
                           env=dict(os.environ, PEAK_FILE=str(peak), **(env or {})))
        return p.returncode, p.stdout, p.stderr, int(peak.read_text()) / 1024 if peak.exists() else float("nan")


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


# ---------------------------------------------------------------- the fixed cost of a first fit


def test_logsumexp_matches_scipy_and_its_gradient_is_the_softmax():
    import jax
    import jax.numpy as jnp
    from scipy.special import logsumexp as scipy_lse, softmax

    from scalelaw._jax import x64
    from scalelaw.laws.base import logsumexp

    x64()
    rng = np.random.default_rng(7)
    terms = rng.normal(0, 300, (3, 2000))  # far beyond exp's range: the shift must do its job
    terms[2, :10] = -np.inf  # a term that vanishes
    ours = np.asarray(logsumexp(*(jnp.asarray(t) for t in terms)))
    np.testing.assert_allclose(ours, scipy_lse(terms, axis=0), rtol=1e-14, atol=0)
    j = 5
    grad = jax.grad(lambda t: logsumexp(t[0], t[1], t[2]))(jnp.asarray(terms[:, j] / 100))
    np.testing.assert_allclose(np.asarray(grad), softmax(terms[:, j] / 100), rtol=1e-13)


def test_exported_trace_is_reused_and_a_corrupt_one_is_replaced(tmp_path, monkeypatch):
    import jax.numpy as jnp
    from jax import export

    from scalelaw import _jax

    pytest.importorskip("flatbuffers")
    _jax.x64()
    monkeypatch.setattr(_jax, "_CACHE_ROOT", tmp_path)
    monkeypatch.setattr(_jax, "_EXPORTED", {})
    x, y = np.linspace(0, 3, 7), np.float64(2.5)

    def fn(a, b):
        return jnp.sin(a) * b + 1.0

    want = np.sin(x) * 2.5 + 1.0
    np.testing.assert_allclose(_jax.exported_call(fn, (x, y), code="t1"), want, rtol=1e-15)
    files = list((tmp_path / "exported").glob("*.bin"))
    assert len(files) == 1
    # a new process (empty memo) loads the file and never traces fn again
    monkeypatch.setattr(_jax, "_EXPORTED", {})
    monkeypatch.setattr(export, "export", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-traced")))
    np.testing.assert_allclose(_jax.exported_call(fn, (x, y), code="t1"), want, rtol=1e-15)
    monkeypatch.undo()
    # other code or other shapes are other keys; a corrupt file is traced afresh and replaced
    monkeypatch.setattr(_jax, "_CACHE_ROOT", tmp_path)
    monkeypatch.setattr(_jax, "_EXPORTED", {})
    files[0].write_bytes(b"not an export")
    np.testing.assert_allclose(_jax.exported_call(fn, (x, y), code="t1"), want, rtol=1e-15)
    assert files[0].read_bytes() != b"not an export"
    _jax.exported_call(fn, (x, y), code="t2"), _jax.exported_call(fn, (x[:3], y), code="t1")
    assert len(list((tmp_path / "exported").glob("*.bin"))) == 3


def test_without_flatbuffers_or_an_exportable_function_it_is_plain_jit(tmp_path, monkeypatch):
    import jax.numpy as jnp
    from jax import export

    from scalelaw import _jax

    _jax.x64()
    monkeypatch.setattr(_jax, "_CACHE_ROOT", tmp_path)
    monkeypatch.setattr(_jax, "_EXPORTED", {})
    x = np.linspace(-1, 1, 5)
    monkeypatch.setattr(_jax, "_can_serialize", lambda: False)
    np.testing.assert_allclose(_jax.exported_call(lambda a: jnp.exp(a), (x,), code="no-fb"), np.exp(x), rtol=1e-15)
    monkeypatch.setattr(_jax, "_can_serialize", lambda: True)
    monkeypatch.setattr(export, "export", lambda *a, **k: (_ for _ in ()).throw(ValueError("not exportable")))
    np.testing.assert_allclose(_jax.exported_call(lambda a: jnp.cos(a), (x,), code="no-export"), np.cos(x), rtol=1e-15)
    assert not (tmp_path / "exported").exists() or not list((tmp_path / "exported").iterdir())


def _api_fit(cache: Path, extra_env=None):
    code = ("from scalelaw.runs import load_runs; from scalelaw.fit import fit_law; "
            f"print(repr(fit_law('chinchilla', load_runs({str(ROOT / 'data' / 'chinchilla_epoch.csv')!r})).objective))")
    env = {k: v for k, v in os.environ.items() if k != "SCALELAW_NO_JAX_CACHE"}
    env.update(XDG_CACHE_HOME=str(cache), JAX_LOG_COMPILES="1", **(extra_env or {}))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout.strip(), p.stderr


@pytest.mark.slow
def test_python_api_keeps_kernels_and_traces_in_the_persistent_cache(tmp_path):
    """fit_law (no CLI) fills the persistent cache; a second process reuses it without tracing the
    solver and gets the same optimum bit for bit; SCALELAW_NO_JAX_CACHE=1 writes nothing."""
    pytest.importorskip("flatbuffers")
    cache = tmp_path / "cache"
    first, log1 = _api_fit(cache)
    root = cache / "scalelaw" / "jax"
    assert list((root / "exported").glob("*.bin")) and [f for f in root.iterdir() if f.name.startswith("jit_")]
    assert "tracing _solve_batch" in log1
    second, log2 = _api_fit(cache)
    assert second == first
    assert "tracing _solve_batch" not in log2 and "Persistent compilation cache hit" in log2
    off = tmp_path / "off"
    third, _ = _api_fit(off, {"SCALELAW_NO_JAX_CACHE": "1"})
    assert third == first and not off.exists()


def test_code_digests_close_their_files():
    """The trace cache digests the solver and law sources on every first fit; an unclosed file there
    is a ResourceWarning that the demo's report would list as a fit warning."""
    import gc
    import warnings

    from scalelaw._jax import source_digest
    from scalelaw.laws import code_digest

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        source_digest(__file__)
        code_digest.__wrapped__()  # uncached: it reads the files again
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)]
