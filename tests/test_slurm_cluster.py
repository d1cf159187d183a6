"""The SLURM executor against a real single-node cluster (tests/slurm/cluster.sh).

The session fixture starts the cluster (installing Debian's packages if they are missing) unless
one is already up, and stops it afterwards only if it started it. Where it cannot be started (not
root, no apt) the tests skip and say why; with CI=1 or SCALELAW_REQUIRE_SLURM=1 (set by .ci/run)
a cluster that does not start fails them instead. The trainer is the fast stand-in
tests/test_sweep_fake.py (seconds per run), so what is tested is the scheduling: arrays, the
afterany dependency, cancellation, preemption with requeue and resume, a controller restart,
and `sweep status`'s view of the jobs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from scalelaw.sweep import Store, load_spec, run_slurm

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))
import test_sweep_fake  # noqa: E402

pytestmark = pytest.mark.slurm
CLUSTER = TESTS / "slurm" / "cluster.sh"


def _required() -> bool:
    return os.environ.get("CI") in ("1", "true") or os.environ.get("SCALELAW_REQUIRE_SLURM") == "1"


def _controller_up() -> bool:
    if shutil.which("scontrol") is None or not Path("/etc/slurm/slurm.conf").exists():
        return False
    return subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30).stdout.count("UP") > 0


@pytest.fixture(scope="session")
def slurm_cluster():
    """A live cluster for the session: reuse a running one, else start (and later stop) ours."""
    if _controller_up():
        yield "reused"
        return

    def unavailable(why: str):
        if _required():
            pytest.fail(f"SLURM cluster required (CI / SCALELAW_REQUIRE_SLURM=1) but {why}")
        pytest.skip(f"no SLURM test cluster: {why}")

    if os.name != "posix" or os.geteuid() != 0:
        unavailable("starting it needs root (tests/slurm/cluster.sh start)")
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        unavailable("SLURM is not installed and apt-get is not available to install it")
    t0 = time.time()
    res = subprocess.run(["bash", str(CLUSTER), "start"], capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        unavailable(f"tests/slurm/cluster.sh start failed: {(res.stderr or res.stdout).strip()[-400:]}")
    print(f"\nSLURM test cluster started in {time.time() - t0:.1f} s", file=sys.stderr)
    yield "started"
    subprocess.run(["bash", str(CLUSTER), "stop"], capture_output=True, text=True, timeout=300)


@pytest.fixture
def fake(monkeypatch, slurm_cluster):
    for k, v in test_sweep_fake.env(str(TESTS), FAKE_STEPS=5, FAKE_STEP_S=0.1).items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("FAKE_FAIL_ROLE", raising=False)
    return monkeypatch


SPEC = """
[sweep]
name = "slurm"
[train]
block_size = 16
batch_size = 4
[[supervised]]
sizes = [1e4, 2e4]
tokens = [1e4]
[teachers.a]
size = 2e4
tokens = 4e4
[teachers.b]
size = 4e4
tokens = 4e4
[[students]]
teachers = ["a", "b"]
sizes = [1e4]
tokens = [1e4, 2e4]
[executor.slurm]
time_min = 15
"""


def _spec(tmp_path, text=SPEC):
    p = tmp_path / "spec.toml"
    p.write_text(text)
    return p, load_spec(p)


def _queued(job_ids) -> list[str]:
    arrays = ",".join(sorted({j.split("_")[0] for j in job_ids}))
    out = subprocess.run(["squeue", "-h", "-r", "-j", arrays, "-o", "%i"], capture_output=True, text=True)
    return out.stdout.split()


def _accounted(job_ids) -> set[str]:
    arrays = ",".join(sorted({j.split("_")[0] for j in job_ids}))
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-j", arrays, "-o", "JobID,State"], capture_output=True,
                         text=True).stdout
    return {line.split("|")[0] for line in out.splitlines() if line.split("|")[-1].split()[:1] != ["RUNNING"]}


def _wait_gone(job_ids, timeout=120.0) -> None:
    """Until no job is queued and sacct holds every job's end (slurmdbd lags squeue by a moment)."""
    deadline = time.time() + timeout
    while _queued(job_ids):
        assert time.time() < deadline, f"jobs still queued after {timeout} s: {_queued(job_ids)}"
        time.sleep(0.5)
    deadline = time.time() + 30
    while not set(job_ids) <= _accounted(job_ids) and time.time() < deadline:
        time.sleep(0.5)


def _starts(store: Store, rid: str) -> list[dict]:
    return [e for e in store.events(rid) if e["event"] == "start"]


def _status_json(out) -> dict:
    res = subprocess.run([sys.executable, "-m", "scalelaw.cli", "sweep", "status", str(out), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_cli_sweep_runs_every_run_once_students_after_teachers(tmp_path, fake):
    spec_path, spec = _spec(tmp_path)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "scalelaw.cli", "sweep", "run", str(spec_path), "--out", str(out),
           "--executor", "slurm", "--json"]
    sub = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout)
    assert len(sub["runs_first"]) == 4 and len(sub["runs_students"]) == 4
    # the student array waits on the first one through SLURM itself
    dep = subprocess.run(["scontrol", "show", "job", sub["students"][0].split("_")[0]], capture_output=True,
                         text=True).stdout
    assert "Dependency=afterany:" + sub["first"][0].split("_")[0] in dep or any(
        f"JobState={st}" in dep for st in ("RUNNING", "COMPLETING", "COMPLETED"))  # already released
    _wait_gone(sub["first"] + sub["students"])
    store = Store(out)
    for r in spec.runs:
        assert store.state(r.run_id) == "done"
        assert len(_starts(store, r.run_id)) == 1  # exactly once
        if r.teacher:
            t_done = [e["t"] for e in store.events(r.teacher) if e["event"] == "finish"][0]
            assert _starts(store, r.run_id)[0]["t"] >= t_done
    df = pd.read_csv(out / "runs.csv")
    assert sorted(df["run_id"]) == sorted(r.run_id for r in spec.runs)
    # the cluster's view: every job completed, next to the store's "done"
    doc = _status_json(out)
    assert doc["counts"]["done"] == len(spec.runs)
    assert {r["cluster"]["job_state"] for r in doc["runs"]} == {"completed"}
    assert doc["cluster_counts"] == {"completed": len(spec.runs)}
    # re-submitting a finished sweep submits nothing
    n_jobs = len(subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID", "-S", "now-1hour"], capture_output=True,
                                text=True).stdout.split())
    again = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout)
    assert again["first"] == [] and again["students"] == []
    n_after = len(subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID", "-S", "now-1hour"], capture_output=True,
                                 text=True).stdout.split())
    assert n_after == n_jobs


def test_cancelled_teacher_blocks_its_students_only(tmp_path, fake):
    _, spec = _spec(tmp_path)
    out = tmp_path / "out"
    # 8 s per run: scancel's SIGTERM is ignored by submitit, so the kill lands KillWait (5 s) later
    fake.setenv("FAKE_STEPS", "80")
    sub = run_slurm(spec, out)
    by_run = dict(zip(sub["runs_first"] + sub["runs_students"], sub["jobs"]))
    (ta,) = [r for r in spec.runs if r.group == "teacher a"]
    deadline = time.time() + 60
    while not _starts(Store(out), ta.run_id):  # cancel it while it trains
        assert time.time() < deadline, "teacher a never started"
        time.sleep(0.1)
    subprocess.run(["scancel", by_run[ta.run_id].job_id], check=True)
    _wait_gone([j.job_id for j in sub["jobs"]])
    store = Store(out)
    for r in spec.runs:
        if r.run_id == ta.run_id:
            assert store.record(r.run_id) is None and store.state(r.run_id) == "pending"
        elif r.teacher == ta.run_id:
            assert by_run[r.run_id].result() == "blocked"
            assert store.state(r.run_id) == "blocked"
            assert store.failure(r.run_id).startswith(f"teacher {ta.run_id}")
            assert _starts(store, r.run_id) == []  # never trained
        else:
            assert store.state(r.run_id) == "done", r.group
    doc = _status_json(out)
    jobs = {r["run_id"]: r["cluster"]["job_state"] for r in doc["runs"]}
    assert jobs[ta.run_id] == "cancelled"
    assert len(pd.read_csv(out / "runs.csv")) == len(spec.runs) - 1 - 2


ONE = """
[sweep]
name = "preempt"
[train]
block_size = 16
batch_size = 4
[[supervised]]
sizes = [1e4]
tokens = [1e4]
[executor.slurm]
partition = "low"
time_min = 15
"""  # time_min >= 15: below ~10 submitit reads USR2 as a timeout, not a preemption


def test_preemption_requeues_and_resumes_from_checkpoint(tmp_path, fake):
    fake.setenv("FAKE_STEPS", "100")
    fake.setenv("FAKE_STEP_S", "0.1")
    _, spec = _spec(tmp_path, ONE)
    out = tmp_path / "out"
    sub = run_slurm(spec, out)
    (job,) = sub["jobs"]
    rid = spec.runs[0].run_id
    ck = Store(out).run_dir(rid) / "checkpoint.pt"
    deadline = time.time() + 60
    while not (ck.exists() and json.loads(ck.read_text())["step"] >= 10):
        assert time.time() < deadline, "the low-partition run never reached step 10"
        time.sleep(0.2)
    # a job on the high partition that needs the whole node preempts the low one: SLURM sends it
    # USR2 (preempt_send_user_signal), submitit checkpoints, and the job is requeued
    hi = subprocess.run(["sbatch", "--parsable", "-p", "high", "-c", "8", "-o", "/dev/null", "--wrap", "sleep 2"],
                        capture_output=True, text=True, check=True).stdout.strip()
    seen = set()
    deadline = time.time() + 120
    while _queued([job.job_id]):
        assert time.time() < deadline, "the preempted run did not finish"
        st = _status_json(out)["runs"][0]["cluster"]
        seen.add(st["job_state"])
        time.sleep(1.0)
    store = Store(out)
    resumed = [int(x) for x in (store.run_dir(rid) / "resumed.txt").read_text().split()]
    print(f"\npreempted run resumed from checkpoint step {resumed}; job states seen {sorted(seen)}", file=sys.stderr)
    assert len(resumed) == 1 and 10 <= resumed[0] < 100
    starts = _starts(store, rid)
    assert len(starts) == 2 and starts[1]["resume"] is True
    assert store.record(rid)["status"] == "ok" and job.result() == "done"
    assert "requeued" in seen
    final = _status_json(out)["runs"][0]["cluster"]
    assert final["job_state"] == "completed" and final["requeues"] >= 1
    sacct = subprocess.run(["sacct", "-n", "-X", "-P", "-j", hi, "-o", "State"], capture_output=True, text=True)
    assert "COMPLETED" in sacct.stdout


def test_controller_restart_mid_sweep_loses_nothing(tmp_path, fake):
    fake.setenv("FAKE_STEPS", "20")  # 2 s per run
    _, spec = _spec(tmp_path)
    out = tmp_path / "out"
    sub = run_slurm(spec, out)
    store = Store(out)
    deadline = time.time() + 60
    while not any(_starts(store, r.run_id) for r in spec.runs):
        assert time.time() < deadline
        time.sleep(0.2)
    subprocess.run(["bash", str(CLUSTER), "restart-controller", "2"], check=True, capture_output=True, timeout=120)
    _wait_gone([j.job_id for j in sub["jobs"]], timeout=150)
    for r in spec.runs:
        assert store.state(r.run_id) == "done", r.group
        assert len([e for e in store.events(r.run_id) if e["event"] == "finish"]) == 1
    assert sorted(pd.read_csv(out / "runs.csv")["run_id"]) == sorted(r.run_id for r in spec.runs)
