"""Crash safety and the SLURM path, with real processes (slow: run with -m slow).

- kill -9 of a local sweep (driver and its workers, real trainer) at random moments, six times,
  then a clean re-run: every run finishes once, runs.csv is complete and valid, and every
  checkpoint loads with torch.
- submitit's local executor: the teacher -> student array dependency and a simulated preemption
  whose requeue resumes from the run's checkpoint.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from scalelaw.runs import load_runs
from scalelaw.sweep import Store, load_spec, run_slurm

TESTS = str(Path(__file__).parent)
sys.path.insert(0, TESTS)
import test_sweep_fake  # noqa: E402

pytestmark = pytest.mark.slow

REAL = """
[sweep]
name = "crash"
[train]
block_size = 32
batch_size = 8
eval_tokens = 2048
ckpt_every = 5
device = "cpu"
[[supervised]]
sizes = [5e3, 1e4]
tokens = [1.6e5, 3.2e5]
[teachers.t]
size = 1e4
tokens = 3.2e5
[[students]]
teachers = ["t"]
sizes = [5e3]
tokens = [8e4, 2.4e5]
"""  # enough work (~1.5M tokens) that the sweep outlasts the kills even on an idle machine


def _events_ok(store: Store, run_id: str) -> None:
    ev = [e["event"] for e in store.events(run_id)]
    assert ev.count("finish") <= 1, (run_id, ev)
    if "finish" in ev:  # nothing trains a run again once it finished
        assert set(ev[ev.index("finish") + 1:]) <= {"skip"}, (run_id, ev)


def test_kill_minus_9_at_random_moments_then_rerun(tmp_path):
    import torch

    spec_path = tmp_path / "crash.toml"
    spec_path.write_text(REAL)
    spec = load_spec(spec_path)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "scalelaw.cli", "sweep", "run", str(spec_path), "--out", str(out), "--workers", "2"]
    env = {k: v for k, v in os.environ.items() if k != "SCALELAW_SWEEP_TRAIN"}
    rng = random.Random(7)
    kills = 0
    for _ in range(12):  # until six kills have landed (a sweep that finishes first is not killed)
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        time.sleep(rng.uniform(2.5, 9.0))  # worker start-up (torch import) takes a few seconds
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            kills += 1
        p.wait()
        time.sleep(0.2)
        if kills == 6:
            break
    assert kills >= 5
    res = subprocess.run(cmd + ["--json"], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout)["counts"]["done"] == len(spec.runs)
    store = Store(out)
    for r in spec.runs:
        _events_ok(store, r.run_id)
        ck = store.run_dir(r.run_id) / "checkpoint.pt"
        torch.load(ck, map_location="cpu", weights_only=False)  # raises on a torn file
    df = pd.read_csv(out / "runs.csv")
    assert len(df) == len(spec.runs) and df["run_id"].is_unique
    assert set(df["run_id"]) == {r.run_id for r in spec.runs}
    runs = load_runs(out / "runs.csv")
    assert (runs.df["status"] == "ok").all()
    students = runs.df[runs.df["role"] == "student"]
    teacher = runs.df[runs.df["role"] == "teacher"].iloc[0]
    assert (students["teacher_run_id"] == teacher["run_id"]).all()
    assert (students["L_T"] == teacher["loss"]).all()


FAKE = """
[sweep]
name = "arrays"
[train]
block_size = 16
batch_size = 4
vocab_size = 64
[[supervised]]
sizes = [1e4, 2e4]
tokens = [2e4]
[teachers.a]
size = 2e4
tokens = 4e4
[teachers.b]
size = 3e4
tokens = 4e4
[[students]]
teachers = ["a", "b"]
sizes = [1e4]
tokens = [2e4]
"""


@pytest.fixture
def fake_env(monkeypatch):
    for k, v in test_sweep_fake.env(TESTS, FAKE_STEPS=10, FAKE_STEP_S=0.1).items():
        monkeypatch.setenv(k, v)


def test_submitit_local_arrays_students_after_teachers(tmp_path, fake_env):
    spec_path = tmp_path / "arrays.toml"
    spec_path.write_text(FAKE)
    spec = load_spec(spec_path)
    out = tmp_path / "out"
    sub = run_slurm(spec, out, cluster="local", overrides={"time_min": 5}, wait=True)
    assert len(sub["runs_first"]) == 4 and len(sub["runs_students"]) == 2
    assert sub["summary"]["counts"]["done"] == len(spec.runs)
    store = Store(out)
    for r in spec.runs:
        _events_ok(store, r.run_id)
        if r.teacher:
            start = [e["t"] for e in store.events(r.run_id) if e["event"] == "start"][0]
            t_done = [e["t"] for e in store.events(r.teacher) if e["event"] == "finish"][0]
            assert start >= t_done
    df = pd.read_csv(out / "runs.csv")
    assert sorted(df["run_id"]) == sorted(r.run_id for r in spec.runs)
    # a second submission finds everything finished and submits nothing
    again = run_slurm(spec, out, cluster="local", wait=True)
    assert again["first"] == [] and again["students"] == []


def test_submitit_preemption_requeues_and_resumes_from_checkpoint(tmp_path, fake_env, monkeypatch):
    monkeypatch.setenv("FAKE_STEPS", "60")
    monkeypatch.setenv("FAKE_STEP_S", "0.1")
    spec_path = tmp_path / "one.toml"
    spec_path.write_text(FAKE.split("[teachers.a]")[0].replace("sizes = [1e4, 2e4]", "sizes = [1e4]"))
    spec = load_spec(spec_path)
    out = tmp_path / "out"
    sub = run_slurm(spec, out, cluster="local", overrides={"time_min": 5})
    (job,) = sub["jobs"]
    rid = spec.runs[0].run_id
    ck = Store(out).run_dir(rid) / "checkpoint.pt"
    deadline = time.time() + 60
    while time.time() < deadline:
        if ck.exists() and json.loads(ck.read_text())["step"] >= 10:
            break
        time.sleep(0.1)
    # SLURM signals the job's processes before preempting or timing it out; submitit's handler
    # checkpoints and requeues. (LocalJob._interrupt signals the controller, which in submitit
    # 1.5 does not forward it, so the task's own pid from the run's event log is signalled.)
    (start,) = [e for e in Store(out).events(rid) if e["event"] == "start"]
    os.kill(start["pid"], signal.SIGUSR2)
    assert job.result() == "done"
    store = Store(out)
    resumed = [int(x) for x in (store.run_dir(rid) / "resumed.txt").read_text().split()]
    assert len(resumed) == 1 and 10 <= resumed[0] < 60
    starts = [e for e in store.events(rid) if e["event"] == "start"]
    assert len(starts) == 2 and starts[1]["resume"] is True
    assert store.record(rid)["status"] == "ok"
    assert len(pd.read_csv(out / "runs.csv")) == 1
