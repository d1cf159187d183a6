"""Shared test fixtures: paths to the shipped data and a CLI runner in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SHARED = ROOT.parent / "shared"


@pytest.fixture
def run_cli():
    """Run `python -m scalelaw.cli ARGS` and return the CompletedProcess (text)."""

    def _run(*args, cwd=None, timeout=600, input=None):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        return subprocess.run([sys.executable, "-m", "scalelaw.cli", *map(str, args)], capture_output=True,
                              text=True, cwd=cwd or ROOT, timeout=timeout, env=env, input=input)

    return _run


def assert_one_line_error(proc, *needles):
    """Exit code 2, no traceback, and the error on one stderr line containing every needle."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()]
    assert lines, proc.stderr
    for n in needles:
        assert any(n.lower() in ln.lower() for ln in lines), (n, proc.stderr)


# ---------------------------------------------------------------- independent oracles


def busbridge_supervised_np(N, D):
    """Busbridge et al. 2025 Eq. 1 at Table 6's values, written out in plain numpy."""
    from scalelaw.laws.busbridge import PUBLISHED_SUPERVISED as PS

    return PS["E"] + (PS["A"] / N ** PS["alpha"] + PS["B"] / D ** PS["beta"]) ** PS["gamma"]


def busbridge_student_np(N, D, LT):
    """Busbridge et al. 2025 Eq. 8 at Table 6's values, in linear space (not the LSE form)."""
    from scalelaw.laws.busbridge import PUBLISHED_DISTILL as PD

    lt = busbridge_supervised_np(N, D)
    gate = (1 + (LT / (lt * PD["d1"])) ** (1 / PD["f1"])) ** (-PD["c1"] * PD["f1"])
    return LT + LT ** (-PD["c0"]) * gate * (PD["A"] / N ** PD["alpha"] + PD["B"] / D ** PD["beta"]) ** PD["gamma"]
