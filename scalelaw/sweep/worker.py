"""Train one run of a sweep inside the store: the unit every executor schedules.

`execute_run` is safe to call from any number of processes at once (local pool workers, SLURM
array tasks, a requeued job): the run's `.lock` lets one process train it while others return
"busy"; a run that has a record is skipped; a partial run resumes from its checkpoint because
the trainer resumes by default. After a run finishes, DIR/runs.csv is rebuilt under the store lock.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from pathlib import Path

from . import trainer
from .store import Store, flocked


def execute_run(root: str | Path, run_id: str, *, wait_teacher_s: float = 0.0, poll_s: float = 1.0,
                nproc: int = 1) -> str:
    """Train `run_id` of the sweep in `root`; returns done | diverged | failed | busy | blocked.

    With `nproc` > 1 the run trains under torchrun (DDP over `nproc` processes, one per GPU)."""
    store = Store(root)
    planned = store.planned(run_id)
    rdir = store.run_dir(run_id)
    teacher = planned.get("teacher")
    if teacher is not None:
        deadline = time.time() + wait_teacher_s
        while store.record(teacher) is None and time.time() < deadline:
            time.sleep(poll_s)
        trec = store.record(teacher)
        if trec is None or trec.get("status", "ok") != "ok":
            why = "not finished" if trec is None else f"status {trec.get('status')}"
            if store.record(run_id) is None:
                store.mark_failed(run_id, f"teacher {teacher} {why}", blocked=True)
            return "blocked"
    with flocked(rdir / ".lock", blocking=False) as got:
        if not got:
            return "busy"
        rec = store.record(run_id)
        if rec is not None:
            store.event(run_id, "skip")
            store.rebuild_runs_csv()
            return _state(rec)
        store.event(run_id, "start", resume=(rdir / "checkpoint.pt").exists())
        train = trainer.train_function() if nproc <= 1 else trainer.torchrun_train(nproc)
        try:
            with open(rdir / "log.txt", "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                rec = train(trainer.make_config(planned["config"]), rdir, resume=True, run_id=run_id, progress=False)
        except Exception as e:  # a crashed run is recorded as failed; the sweep goes on
            with open(rdir / "log.txt", "a") as log:
                log.write(traceback.format_exc())
            msg = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            store.mark_failed(run_id, msg)
            store.event(run_id, "fail", error=msg)
            return "failed"
        (rdir / "failed.json").unlink(missing_ok=True)
        store.event(run_id, "finish", status=rec.get("status", "ok"))
    store.rebuild_runs_csv()
    return _state(rec)


def _state(rec: dict) -> str:
    st = rec.get("status", "ok")
    return "done" if st == "ok" else st
