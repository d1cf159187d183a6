"""`scalelaw plan` through the command line: JSON shape, and one clear line + exit 2 on bad input."""

import json
import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "scalelaw.cli", "plan", *args], capture_output=True, text=True, timeout=300)


def test_supervised_json():
    r = run("--fit", "epoch-chinchilla", "--compute", "5.76e23", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {"compute", "N", "D", "loss", "tokens_per_param"} <= set(doc)
    assert doc["D"] * doc["N"] * 6 == pytest.approx(5.76e23, rel=1e-9)
    assert "outside the fitted data" in r.stderr  # Chinchilla's budget is beyond Epoch's data


def test_distill_json():
    r = run("distill", "--fit", "busbridge2025", "--student", "1e9", "--compute", "1e22", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {"student_N", "compute", "supervised", "scenarios"} <= set(doc)
    assert {"loss", "D"} <= set(doc["supervised"])
    assert [s["scenario"] for s in doc["scenarios"]] == ["best", "inference", "pretraining", "pretraining+inference"]
    for s in doc["scenarios"]:
        assert {"student_loss", "teacher_loss", "teacher_N", "teacher_D", "student_D", "fractions"} <= set(s)
        assert set(s["fractions"]) == {"student", "teacher_logits", "teacher_training"}
    # LAWS.md §5, N_S = 1B, C = 1e22
    want = [2.1309, 2.1395, 2.1479, 2.1655]
    assert [s["student_loss"] for s in doc["scenarios"]] == pytest.approx(want, abs=2e-3)
    assert doc["supervised"]["loss"] == pytest.approx(2.1348, abs=2e-3)


@pytest.mark.parametrize("args, needle", [
    (["--fit", "epoch-chinchilla", "--compute", "-1e21"], "--compute"),
    (["--fit", "epoch-chinchilla", "--compute", "1e40"], "--compute"),
    (["distill", "--fit", "busbridge2025", "--student", "1e12", "--compute", "1e18"], "too large"),
    (["distill", "--fit", "busbridge2025", "--student", "1e9", "--compute", "1e22", "--scenario", "cheap"], "--scenario"),
    (["--fit", "busbridge2025", "--compute", "1e21"], "distillation law"),
    (["distill", "--fit", "epoch-chinchilla", "--student", "1e9", "--compute", "1e22"], "supervised law"),
    (["--fit", "epoch-chinchilla", "--compute", "1e21", "--flops", "7nd"], "--flops"),
])
def test_bad_input_one_line_exit_2(args, needle):
    r = run(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("scalelaw: error:"), r.stderr
    assert needle in lines[0]
    assert r.stdout == ""


def test_frontier_json_and_plot(tmp_path):
    png = tmp_path / "frontier.png"
    r = run("frontier", "--fit", "busbridge2025", "--student", "1e10", "--compute-min", "1e20",
            "--compute-max", "1e24", "--points", "3", "--plot", str(png), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert png.stat().st_size > 10_000
    assert [p["compute"] for p in doc["plans"]] == pytest.approx([1e20, 1e22, 1e24])
    # LAWS.md §5, N_S = 10B: best case 1.9130 at 1e22, 1.8130 at 1e24
    best = [next(s for s in p["scenarios"] if s["scenario"] == "best")["student_loss"] for p in doc["plans"]]
    assert best[1:] == pytest.approx([1.9130, 1.8130], abs=2e-3)
