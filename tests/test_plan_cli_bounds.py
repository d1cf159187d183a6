"""`scalelaw plan distill|frontier --bounds LO,HI`: the search range reaches the planners, bad values exit 2."""

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import minimize_scalar


def run(*args):
    return subprocess.run([sys.executable, "-m", "scalelaw.cli", "plan", *args], capture_output=True, text=True,
                          timeout=300)


def _inside(x, lo, hi):
    return x is None or lo * (1 - 1e-9) <= x <= hi * (1 + 1e-9)


def test_distill_bounds_reach_the_planner():
    lo, hi = 1e7, 1e15
    r = run("distill", "--fit", "busbridge2025", "--student", "1e9", "--compute", "1e22", "--bounds", f"{lo},{hi}",
            "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["bounds"] == [lo, hi]
    by = {s["scenario"]: s for s in doc["scenarios"]}
    for s in doc["scenarios"]:
        for k in ("teacher_N", "teacher_D", "student_D"):
            assert _inside(s[k], lo, hi), (s["scenario"], k, s[k])
    # teacher training is free in the inference scenario, so D_T runs to the upper bound (LAWS.md §5):
    # with the default bounds it would sit at 1e17, here at HI
    assert by["inference"]["teacher_D"] == pytest.approx(hi, rel=1e-6)


def test_frontier_supervised_bounds_pin_N():
    """Epoch's Chinchilla refit: the compute-optimal N at 1e24 FLOPs is far above 1e9; --bounds caps it there."""
    from scalelaw.fit import load_fit

    p = load_fit("epoch-chinchilla").params
    lo, hi, C = 1e6, 1e9, np.array([1e22, 1e24])
    r = run("frontier", "--fit", "epoch-chinchilla", "--compute-min", "1e22", "--compute-max", "1e24", "--points", "2",
            "--bounds", f"{lo},{hi}", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["bounds"] == [lo, hi]
    for c, plan in zip(C, doc["plans"]):
        def loss(logN, c=c):  # independent oracle: L(N, C / 6N) minimised over log N in the bounds
            N = np.exp(logN)
            return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / (c / (6 * N)) ** p["beta"]

        best = minimize_scalar(loss, bounds=(np.log(lo), np.log(hi)), method="bounded", options={"xatol": 1e-10})
        assert plan["N"] == pytest.approx(np.exp(best.x), rel=1e-3)
        assert plan["loss"] == pytest.approx(best.fun, rel=1e-6)
    assert doc["plans"][-1]["N"] == pytest.approx(hi, rel=1e-6)
    assert not doc["plans"][-1]["interior"]


def test_frontier_distill_bounds():
    lo, hi = 1e7, 1e14
    r = run("frontier", "--fit", "busbridge2025", "--student", "1e9", "--compute-min", "1e21", "--compute-max", "1e23",
            "--points", "2", "--bounds", f"{lo},{hi}", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kind"] == "distill" and doc["bounds"] == [lo, hi]
    for plan in doc["plans"]:
        for s in plan["scenarios"]:
            for k in ("teacher_N", "teacher_D", "student_D"):
                assert _inside(s[k], lo, hi), (plan["compute"], s["scenario"], k, s[k])
        inf = next(s for s in plan["scenarios"] if s["scenario"] == "inference")
        assert inf["teacher_D"] == pytest.approx(hi, rel=1e-6)


@pytest.mark.parametrize("value", ["1e6", "a,b", "1e9,1e6", "0,1e9", "-1,5", "1,2,3", "nan,1e9", "1e6,inf", ""])
def test_parse_bounds_rejects(value):
    from scalelaw.errors import UserError
    from scalelaw.plan.report import parse_bounds

    with pytest.raises(UserError, match="--bounds"):
        parse_bounds(value)


@pytest.mark.parametrize("cmd, value", [
    (["distill", "--fit", "busbridge2025", "--student", "1e9", "--compute", "1e22"], "1e9,1e6"),
    (["frontier", "--fit", "busbridge2025", "--student", "1e9"], "a,b"),
])
def test_bad_bounds_exit_2_one_line(cmd, value):
    r = run(*cmd, "--bounds", value)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scalelaw: error: --bounds"), r.stderr
    assert r.stdout == ""


def test_student_outside_bounds_is_a_user_error():
    r = run("distill", "--fit", "busbridge2025", "--student", "1e9", "--compute", "1e22", "--bounds", "1e10,1e17")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scalelaw: error:"), r.stderr
