"""How the `scalelaw` program ends: `quick_exit` keeps what a normal exit guarantees (exit codes,
flushed output, background cache writes finished) and skips the interpreter's teardown."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EPOCH = ROOT / "data" / "chinchilla_epoch.csv"


def _run(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    """This Python with `args`, a cache and home of the test's own."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("code, status, stderr", [(None, 0, ""), (0, 0, ""), (2, 2, ""), ("bad input", 1, "bad input")])
def test_exit_status_and_message_are_those_of_sys_exit(tmp_path, code, status, stderr):
    # output still buffered in Python (stdout is a pipe here) must be written before the process ends
    prog = ("import sys; from scalelaw.cli import quick_exit; print('x' * 100000); "
            f"sys.stderr.write('partial'); quick_exit({code!r})")
    p = _run(["-c", prog], tmp_path)
    assert p.returncode == status
    assert p.stdout == "x" * 100000 + "\n"
    assert p.stderr == "partial" + (stderr + "\n" if stderr else "")


def test_a_background_compilation_is_finished_and_its_trace_written_whole(tmp_path):
    """A kernel still compiling in the background when the command ends: the exit waits for it,
    so its exported trace is in the cache, whole (a later process loads it)."""
    prog = """
import numpy as np
from scalelaw import _jax
from scalelaw.cli import quick_exit
_jax.x64(); _jax.enable_compile_cache()
_jax.prepare_call(lambda x: (x * 2.0).sum(), (np.zeros(1000),), code="quick-exit-test")
quick_exit(0)
"""
    p = _run(["-c", prog], tmp_path)
    assert p.returncode == 0, p.stderr
    files = list((tmp_path / "cache" / "scalelaw" / "jax" / "exported").glob("*.bin"))
    assert len(files) == 1
    import numpy as np
    from jax import export

    from scalelaw import _jax

    _jax.x64()
    exp = export.deserialize(bytearray(files[0].read_bytes()))
    assert float(exp.call(np.ones(1000))) == 2000.0


def test_under_a_tracer_or_profiler_it_is_a_plain_sys_exit():
    """Coverage, profilers and debuggers write their results at the normal exit: with one
    attached, quick_exit raises SystemExit like sys.exit (so this test process survives it)."""
    from scalelaw.cli import quick_exit

    def tracer(frame, event, arg):
        return None

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        with pytest.raises(SystemExit) as e:
            quick_exit(3)
    finally:
        sys.settrace(old)
    assert e.value.code == 3


def test_the_program_prints_one_json_document_and_its_exit_codes(tmp_path):
    ok = _run(["-m", "scalelaw.cli", "fit", str(EPOCH), "--json"], tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["objective"] > 0
    bad = _run(["-m", "scalelaw.cli", "fit", str(tmp_path / "none.csv")], tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [f"scalelaw: error: {tmp_path / 'none.csv'}: no such file"]
