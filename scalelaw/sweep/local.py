"""The local executor: K worker processes on one machine, students after their teachers.

Runs go to a pool of spawned processes (spawn, not fork: torch and threads don't survive fork).
With several CUDA devices each worker pins one (CUDA_VISIBLE_DEVICES set before torch loads);
on CPU the cores are split between workers. A run whose teacher failed or diverged is marked
failed ("blocked") without training. Killing the sweep at any moment is safe: re-running it
skips finished runs and resumes partial ones from their checkpoints.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from .spec import Spec
from .store import Store

_SLOT = None  # set in each worker by _init_worker


def _init_worker(counter, n_gpus: int, threads: int) -> None:
    global _SLOT
    with counter.get_lock():
        _SLOT = counter.value
        counter.value += 1
    if n_gpus > 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(_SLOT % n_gpus)
    else:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:
            pass


def _work(root: str, run_id: str) -> str:
    from .worker import execute_run

    return execute_run(root, run_id)


def _cuda_count() -> int:
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return 0
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:
        return 0


def run_local(spec: Spec, root, *, workers: int | None = None, progress: bool = True) -> dict:
    """Run every unfinished run of `spec` into `root`; returns the store summary."""
    store = Store(root)
    store.prepare(spec)
    n_gpus = _cuda_count()
    k = workers or spec.executor.get("workers") or max(1, n_gpus)
    threads = max(1, (os.cpu_count() or 1) // k)
    runs = {r.run_id: r for r in spec.runs}
    todo = [r.run_id for r in spec.runs if store.record(r.run_id) is None]
    bar = _Bar(len(spec.runs), len(spec.runs) - len(todo), enabled=progress)
    ctx = mp.get_context("spawn")
    retry_at: dict[str, float] = {}  # runs locked by another process: look again later
    inflight: dict = {}
    pool = ProcessPoolExecutor(k, mp_context=ctx, initializer=_init_worker, initargs=(ctx.Value("i", 0), n_gpus, threads))
    try:
        while todo or inflight:
            now = time.time()
            for rid in list(todo):
                if len(inflight) >= k:
                    break
                r = runs[rid]
                if r.teacher is not None:
                    if r.teacher in todo or r.teacher in inflight.values():
                        continue
                    trec = store.record(r.teacher)
                    if trec is None or trec.get("status", "ok") != "ok":
                        store.mark_failed(rid, f"teacher {r.teacher} {store.state(r.teacher)}", blocked=True)
                        todo.remove(rid)
                        bar.step(rid, "blocked")
                        continue
                if retry_at.get(rid, 0) > now:
                    continue
                todo.remove(rid)
                inflight[pool.submit(_work, str(store.root), rid)] = rid
            if not inflight:
                if todo:
                    time.sleep(0.5)  # everything left waits on a run another process holds
                continue
            done, _ = wait(inflight, timeout=1.0, return_when=FIRST_COMPLETED)
            for fut in done:
                rid = inflight.pop(fut)
                try:
                    state = fut.result()
                except BrokenProcessPool:
                    raise
                except Exception as e:  # a bug in the worker, not in the run: record and go on
                    store.mark_failed(rid, f"worker error: {type(e).__name__}: {e}")
                    state = "failed"
                if state == "busy":
                    todo.append(rid)
                    retry_at[rid] = time.time() + 2.0
                    continue
                bar.step(rid, state)
    except BrokenProcessPool:
        for rid in inflight.values():
            store.mark_failed(rid, "worker process died (out of memory or killed?); re-run to resume")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    store.rebuild_runs_csv()
    return store.summary([r.run_id for r in spec.runs])


class _Bar:
    """A progress bar on stderr (rich), one tick per finished run."""

    def __init__(self, total: int, done: int, *, enabled: bool):
        self.progress = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.description}"), console=Console(file=sys.stderr))
        self.progress.start()
        self.task = self.progress.add_task("", total=total, completed=done)

    def step(self, run_id: str, state: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=1, description=f"{run_id}: {state}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
