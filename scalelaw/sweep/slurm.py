"""The SLURM executor: submitit job arrays, students as a dependent array, requeue on preemption.

Two arrays are submitted: supervised runs and teachers first, then students with
`--dependency=afterany:<first array>` (afterany, not afterok: one failed teacher must not cancel
the students of the others; each student task checks its own teacher's record and is marked
"blocked" if the teacher did not finish ok). A task is a `submitit.helpers.Checkpointable`: on
preemption or timeout submitit requeues the same call, and the trainer resumes from the run's
checkpoint.pt. Re-submitting a sweep skips finished runs.

submitit's local executor (`cluster="local"`, used in tests) has no dependencies, so student tasks
also wait in-process for their teacher's record. On SLURM the dependency makes that wait short,
but `afterany` may also fire while a preempted teacher sits requeued, so a student waits as long as
its teacher's task is still in the queue (squeue) and only then looks at the record.

`gpus_per_run = G` (in [executor.slurm]) gives each task G GPUs and trains the run with
`torchrun --standalone --nproc_per_node G` (DDP); the task itself keeps the run's lock and events.

Each submission appends {run id: job id} to DIR/slurm/jobs.json, which `cluster_view` turns into
the cluster's view of every run (pending / running / requeued / failed ... from squeue and sacct).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from ..errors import UserError
from .spec import Spec
from .store import Store

#: spec [executor.slurm] key -> submitit AutoExecutor parameter
_PARAMS = {
    "partition": "slurm_partition",
    "gpus_per_task": "gpus_per_node",
    "cpus_per_task": "cpus_per_task",
    "mem_gb": "mem_gb",
    "time_min": "timeout_min",
    "array_parallelism": "slurm_array_parallelism",
    "max_num_timeout": "slurm_max_num_timeout",
    "account": "slurm_account",
    "qos": "slurm_qos",
    "constraint": "slurm_constraint",
    "gpus_per_run": "gpus_per_node",
}


def _submitit():
    try:
        import submitit
    except ImportError:
        raise UserError("the slurm executor needs submitit (pip install 'scalelaw[slurm]')") from None
    return submitit


def _in_queue(job_id: str) -> bool:
    """Whether SLURM still lists the job (pending, running, requeued); False when squeue fails."""
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-j", job_id, "-o", "%i"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and job_id in out.stdout.split()


def _task_class():
    submitit = _submitit()

    class RunTask(submitit.helpers.Checkpointable):
        """One array task: train one run of the store (requeued as-is on preemption/timeout)."""

        def __init__(self, root: str, wait_teacher_s: float, teacher_jobs: dict | None = None,
                     nproc: int = 1):
            self.root = root
            self.wait_teacher_s = wait_teacher_s
            self.teacher_jobs = teacher_jobs or {}
            self.nproc = nproc

        def __call__(self, run_id: str) -> str:
            from .worker import execute_run

            store = Store(self.root)
            teacher = store.planned(run_id).get("teacher")
            job = self.teacher_jobs.get(teacher)
            if job is not None:
                while store.record(teacher) is None and _in_queue(job):
                    time.sleep(2.0)
            state = execute_run(self.root, run_id, wait_teacher_s=self.wait_teacher_s, nproc=self.nproc)
            if state == "busy":  # another task holds the run (e.g. a stale requeue): wait for it
                while store.is_locked(run_id):
                    time.sleep(2.0)
                state = store.state(run_id)
            return state

    return RunTask


def _record_jobs(store: Store, run_ids: list[str], jobs) -> None:
    path = Path(store.root) / "slurm" / "jobs.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    known = json.loads(path.read_text()) if path.exists() else {}
    known.update({rid: j.job_id for rid, j in zip(run_ids, jobs)})
    path.write_text(json.dumps(known, indent=1))


def run_slurm(spec: Spec, root, *, cluster: str | None = "slurm", overrides: dict | None = None,
              wait: bool = False) -> dict:
    """Submit the unfinished runs of `spec`; returns {"jobs": [...], "first": ..., "students": ...}.

    `overrides` holds [executor.slurm] keys (e.g. from CLI flags) that win over the spec's.
    With `wait=True` blocks until every task ends and returns the store summary under "summary".
    """
    submitit = _submitit()
    if cluster == "slurm" and shutil.which("sbatch") is None:
        raise UserError("--executor slurm: sbatch is not on PATH (run this on a SLURM login node, or use --executor local)")
    store = Store(root)
    store.prepare(spec)
    settings = {**spec.slurm, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    unknown = [k for k in settings if k not in _PARAMS]
    if unknown:
        raise UserError(f"unknown slurm setting {unknown[0]!r}; expected one of {', '.join(_PARAMS)}")
    params = {_PARAMS[k]: v for k, v in settings.items()}
    max_timeouts = params.pop("slurm_max_num_timeout", 20)  # requeues after a timeout (preemptions: unlimited)
    ex = submitit.AutoExecutor(folder=str(Path(store.root) / "slurm" / "%j"), cluster=cluster,
                               slurm_max_num_timeout=max_timeouts)
    params.setdefault("timeout_min", 60)
    params["name"] = f"scalelaw-{spec.name}"
    ex.update_parameters(**params)
    todo = [r for r in spec.runs if store.record(r.run_id) is None]
    first = [r.run_id for r in todo if r.teacher is None]
    students = [r.run_id for r in todo if r.teacher is not None]
    RunTask = _task_class()
    nproc = int(settings.get("gpus_per_run", 1) or 1)
    jobs1 = ex.map_array(RunTask(str(store.root), 0.0, nproc=nproc), first) if first else []
    jobs2 = []
    if students:
        teacher_jobs = {}
        if ex.cluster == "slurm":
            # the dependency holds students back; afterwards they wait only while the teacher is queued
            wait_s = 5.0
            if jobs1:
                array_ids = sorted({j.job_id.split("_")[0] for j in jobs1})
                ex.update_parameters(slurm_dependency="afterany:" + ":".join(array_ids))
                teacher_jobs = {rid: j.job_id for rid, j in zip(first, jobs1)}
        else:  # no dependencies: students wait for their teacher at most as long as the job may run
            wait_s = 60.0 * float(params["timeout_min"])
        jobs2 = ex.map_array(RunTask(str(store.root), wait_s, teacher_jobs, nproc=nproc), students)
    if ex.cluster == "slurm":
        _record_jobs(store, first + students, jobs1 + jobs2)
    out = {"first": [j.job_id for j in jobs1], "students": [j.job_id for j in jobs2],
           "runs_first": first, "runs_students": students, "jobs": jobs1 + jobs2}
    if wait:
        for j in jobs1 + jobs2:
            j.result()
        store.rebuild_runs_csv()
        out["summary"] = store.summary([r.run_id for r in spec.runs])
    return out


#: SLURM job states -> the words `sweep status` uses for a run's job
_QUEUE_WORDS = {"PENDING": "pending", "RUNNING": "running", "REQUEUED": "requeued", "REQUEUE_HOLD": "requeued",
                "REQUEUE_FED": "requeued", "PREEMPTED": "requeued", "COMPLETING": "running", "SUSPENDED": "pending",
                "CONFIGURING": "pending", "RESIZING": "running", "COMPLETED": "completed", "CANCELLED": "cancelled",
                "FAILED": "failed", "TIMEOUT": "failed", "NODE_FAIL": "failed", "OUT_OF_MEMORY": "failed",
                "BOOT_FAIL": "failed", "DEADLINE": "failed"}


def _lines(cmd: list[str]) -> list[str]:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return out.stdout.splitlines() if out.returncode == 0 else []


def cluster_view(root) -> dict[str, dict]:
    """{run id: {"job_id", "job_state", "requeues", "reason"}} for the runs this sweep submitted.

    `job_state` is pending | running | requeued | completed | cancelled | failed | unknown: squeue
    for jobs still queued (a requeued job that waits to restart reads "requeued"), else sacct's
    final state. `requeues` counts the attempts sacct lists as preempted or requeued. Empty when
    the sweep was never submitted to SLURM; "unknown" states when the tools are not reachable.
    """
    path = Path(root) / "slurm" / "jobs.json"
    if not path.exists():
        return {}
    jobs: dict[str, str] = json.loads(path.read_text())
    arrays = sorted({j.split("_")[0] for j in jobs.values()})
    queued, final, requeues = {}, {}, {}
    for line in _lines(["squeue", "-h", "-r", "-j", ",".join(arrays), "-o", "%i|%T|%r"]):
        jid, st, reason = (line.split("|") + ["", ""])[:3]
        queued[jid] = (st, reason)
    for line in _lines(["sacct", "-n", "-X", "-P", "-D", "-j", ",".join(arrays), "-o", "JobID,State"]):
        jid, _, st = line.partition("|")
        st = st.split()[0] if st else ""
        if st in ("PREEMPTED", "REQUEUED"):
            requeues[jid] = requeues.get(jid, 0) + 1
        final[jid] = st  # duplicates come oldest first: the last one is the current attempt
    out = {}
    for rid, jid in jobs.items():
        n = requeues.get(jid, 0)
        if jid in queued:
            st, reason = queued[jid]
            word = _QUEUE_WORDS.get(st, st.lower())
            if word == "pending" and n:
                word = "requeued"
        else:
            st, reason = final.get(jid, ""), ""
            word = _QUEUE_WORDS.get(st, "unknown")
        out[rid] = {"job_id": jid, "job_state": word, "requeues": n, "reason": reason if reason != "None" else ""}
    return out


def with_cluster_view(doc: dict, root) -> dict:
    """A store summary with each run's SLURM job next to it (`cluster`), plus `cluster_counts`."""
    view = cluster_view(root)
    if not view:
        return doc
    for r in doc["runs"]:
        r["cluster"] = view.get(r["run_id"])
    words = [r["cluster"]["job_state"] for r in doc["runs"] if r.get("cluster")]
    doc["cluster_counts"] = {w: words.count(w) for w in dict.fromkeys(words)}
    return doc
