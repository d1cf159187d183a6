"""How our kernels are compiled and prepared: XLA options, and what is compiled in the background first."""

from functools import partial
from pathlib import Path

import jax
import numpy as np
import pytest

from scalelaw import _jax

EPOCH = Path(__file__).resolve().parents[1] / "data" / "chinchilla_epoch.csv"


def _epoch_solver_args():
    from scalelaw.fit.core import _resolve_spec, law_inputs, spec_box
    from scalelaw.fit.solver import _solver_args
    from scalelaw.runs import load_runs

    _jax.x64()
    law, spec = _resolve_spec("chinchilla", None)
    logs, y = law_inputs(law, load_runs(EPOCH))
    lower, upper = spec_box(law, spec)
    args = _solver_args(law, logs, y, law.grid()[::300][:16], slots=16, delta=1e-3, weights=None, max_iter=50,
                        ftol=1e-10, penalty=1.0, lower=lower, upper=upper)
    return law, args


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the option is the CPU backend's")
def test_our_kernels_compile_with_the_elemental_emitters_and_solve_the_same():
    """`_jax.jit` compiles with `compiler_options()` (another fused program: the options took
    effect), and the Epoch solver gives the same thetas, objectives and counts bit for bit."""
    from scalelaw.fit.solver import _solve_batch

    assert _jax.compiler_options() == {"xla_cpu_use_fusion_emitters": False}
    law, args = _epoch_solver_args()
    fn = partial(_solve_batch, law, "huber-log")
    ours, plain = _jax.jit(fn).lower(*args).compile(), jax.jit(fn).lower(*args).compile()
    assert ours.as_text() != plain.as_text()
    for a, b in zip(ours(*args), plain(*args)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_an_option_this_xla_does_not_know_is_dropped():
    assert _jax._supported({"xla_cpu_no_such_option": True}) == {}
    assert _jax._supported({}) == {}


def test_prepare_fit_prepares_the_solver_that_fit_law_races_with(monkeypatch):
    """After `prepare_fit`, `fit_law` with the same arguments loads or traces no solver of its own
    (Epoch's 240 points: the race's solver is also the polish's)."""
    from scalelaw.fit import fit_law
    from scalelaw.fit.core import prepare_fit
    from scalelaw.fit.solver import _solve_batch
    from scalelaw.runs import load_runs

    runs = load_runs(EPOCH)
    monkeypatch.setattr(_jax, "_EXPORTED", {})
    loaded = []
    real = _jax._load_or_export
    monkeypatch.setattr(_jax, "_load_or_export", lambda fn, args, key: loaded.append(fn) or real(fn, args, key))
    prepare_fit("chinchilla", runs)
    _jax._EXPORTED[next(iter(_jax._EXPORTED))].result()  # the background preparation
    assert [getattr(f, "func", None) for f in loaded] == [_solve_batch]
    fit_law("chinchilla", runs)
    assert [f for f in loaded[1:] if getattr(f, "func", None) is _solve_batch] == []


def test_distillation_fit_queues_stage_ones_solver_before_the_students(monkeypatch):
    """The background compiles one kernel at a time, in order: stage 1's solver must come first
    (stage 1 waits for it), then the students' race solver, both before stage 1 runs; the
    one-slot student solver is left for the race."""
    import scalelaw.fit.distill as distill
    from scalelaw.synth import synth_distill

    order = []
    monkeypatch.setattr(_jax, "prepare_call", lambda fn, args, code: order.append((fn.args[0].name, len(args[4]))))

    class Stop(Exception):
        pass

    def stop(*a, **k):
        raise Stop

    monkeypatch.setattr(distill, "fit_law", stop)
    with pytest.raises(Stop):
        distill.fit_distill(synth_distill(seed=0))
    assert order == [("chinchilla-gamma", 16), ("distill", distill.N_POLISH)]
