"""The SLURM executor: submitit job arrays, students as a dependent array, requeue on preemption.

Two arrays are submitted: supervised runs and teachers first, then students with
`--dependency=afterany:<first array>` (afterany, not afterok: one failed teacher must not cancel
the students of the others; each student task checks its own teacher's record and is marked
"blocked" if the teacher did not finish ok). A task is a `submitit.helpers.Checkpointable`: on
preemption or timeout submitit requeues the same call, and the trainer resumes from the run's
checkpoint.pt. Re-submitting a sweep skips finished runs.

submitit's local executor (`cluster="local"`, used in tests) has no dependencies, so student tasks
also wait in-process for their teacher's record; on SLURM the dependency makes that wait instant.
"""

from __future__ import annotations

import shutil
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
}


def _submitit():
    try:
        import submitit
    except ImportError:
        raise UserError("the slurm executor needs submitit (pip install 'scalelaw[slurm]')") from None
    return submitit


def _task_class():
    submitit = _submitit()

    class RunTask(submitit.helpers.Checkpointable):
        """One array task: train one run of the store (requeued as-is on preemption/timeout)."""

        def __init__(self, root: str, wait_teacher_s: float):
            self.root = root
            self.wait_teacher_s = wait_teacher_s

        def __call__(self, run_id: str) -> str:
            from .worker import execute_run

            state = execute_run(self.root, run_id, wait_teacher_s=self.wait_teacher_s)
            if state == "busy":  # another task holds the run (e.g. a stale requeue): wait for it
                import time

                while Store(self.root).is_locked(run_id):
                    time.sleep(2.0)
                state = Store(self.root).state(run_id)
            return state

    return RunTask


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
    # students wait for their teacher at most as long as the job may run
    wait_s = 60.0 * float(params["timeout_min"])
    jobs1 = ex.map_array(RunTask(str(store.root), 0.0), first) if first else []
    jobs2 = []
    if students:
        if jobs1 and ex.cluster == "slurm":
            array_ids = sorted({j.job_id.split("_")[0] for j in jobs1})
            ex.update_parameters(slurm_dependency="afterany:" + ":".join(array_ids))
        jobs2 = ex.map_array(RunTask(str(store.root), wait_s), students)
    out = {"first": [j.job_id for j in jobs1], "students": [j.job_id for j in jobs2],
           "runs_first": first, "runs_students": students, "jobs": jobs1 + jobs2}
    if wait:
        for j in jobs1 + jobs2:
            j.result()
        store.rebuild_runs_csv()
        out["summary"] = store.summary([r.run_id for r in spec.runs])
    return out
