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
