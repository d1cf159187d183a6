"""The result store: one directory per sweep, one sub-directory per run.

    DIR/sweep.json            which sweep this is (name, spec hash, run ids)
    DIR/spec.toml             the spec as it was last run
    DIR/runs.csv              every finished run (scalelaw.runs schema), rebuilt under DIR/.runs.lock
    DIR/runs/ID/config.json   the resolved training config     (written by the trainer)
    DIR/runs/ID/metrics.csv   per-step metrics                  (trainer)
    DIR/runs/ID/checkpoint.pt the resumable state               (trainer, atomic)
    DIR/runs/ID/record.json   the run record, written last      (trainer, atomic)
    DIR/runs/ID/log.txt       the run's output; events.log: start/finish/skip/fail lines
    DIR/runs/ID/failed.json   why the last attempt failed (removed when it later succeeds)
    DIR/runs/ID/.lock         held (flock) by the process training the run

The record files are the truth; runs.csv is derived from them. Rebuilding it from all records
under an exclusive lock makes concurrent finishes safe: whoever takes the lock last writes a
file holding every record written so far, so no row is lost or duplicated.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..runs import COLUMNS, write_runs
from .spec import ROLE_ORDER, PlannedRun, Spec

#: "blocked": a student whose teacher did not finish ok; it never trained and is retried on a re-run
STATES = ("done", "running", "failed", "diverged", "blocked", "pending")


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def flocked(path: Path, *, blocking: bool = True):
    """Hold an exclusive flock on `path`; yields False (without waiting) when busy and not blocking."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


class Store:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    # ------------------------------------------------------------ layout
    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def record_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "record.json"

    @property
    def runs_csv(self) -> Path:
        return self.root / "runs.csv"

    # ------------------------------------------------------------ sweep identity
    def read_sweep(self) -> dict | None:
        p = self.root / "sweep.json"
        if not p.exists():
            return None
        return json.loads(p.read_text())

    def check_same_sweep(self, spec: Spec) -> None:
        """UserError when DIR already holds a different sweep (a different [sweep] name)."""
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"{self.root}: exists and is not a directory")
        info = self.read_sweep()
        if info is None:
            if self.root.exists() and any(self.root.iterdir()):
                raise UserError(
                    f"{self.root}: directory is not empty and holds no sweep.json; choose an empty or new --out"
                )
            return
        if info.get("name") != spec.name:
            raise UserError(
                f"{self.root}: holds sweep {info.get('name')!r}, not {spec.name!r} from {spec.path}; "
                "choose another --out"
            )

    def prepare(self, spec: Spec) -> None:
        """Create DIR for `spec` (after check_same_sweep) and write each run's planned config."""
        self.check_same_sweep(spec)
        (self.root / "runs").mkdir(parents=True, exist_ok=True)
        with flocked(self.root / ".runs.lock"):
            info = self.read_sweep() or {}
            ids = list(dict.fromkeys(info.get("run_ids", []) + [r.run_id for r in spec.runs]))
            doc = {"name": spec.name, "spec_sha256": spec.sha256, "spec": str(spec.path), "run_ids": ids}
            atomic_write_text(self.root / "sweep.json", json.dumps(doc, indent=1))
            atomic_write_text(self.root / "spec.toml", spec.text)
            for r in spec.runs:
                d = self.run_dir(r.run_id)
                d.mkdir(exist_ok=True)
                planned = d / "planned.json"
                if not planned.exists():
                    doc = {"run_id": r.run_id, "role": r.role, "group": r.group, "teacher": r.teacher,
                           "N": r.N, "D": r.D, "config": self.config_for(r), "estimate": r.estimate}
                    atomic_write_text(planned, json.dumps(doc, indent=1, default=str))

    def config_for(self, run: PlannedRun) -> dict:
        cfg = dict(run.config)
        if run.teacher is not None:
            cfg["teacher_dir"] = str(self.run_dir(run.teacher).resolve())
        return cfg

    def planned(self, run_id: str) -> dict:
        p = self.run_dir(run_id) / "planned.json"
        if not p.exists():
            raise UserError(f"{self.root}: no planned run {run_id!r} (run `scalelaw sweep run` first)")
        return json.loads(p.read_text())

    # ------------------------------------------------------------ per-run files
    def record(self, run_id: str) -> dict | None:
        p = self.record_path(run_id)
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError:  # records are written atomically, so this is someone else's file
            return None

    def event(self, run_id: str, what: str, **info) -> None:
        line = json.dumps({"t": time.time(), "event": what, "pid": os.getpid(), "host": socket.gethostname(), **info})
        with open(self.run_dir(run_id) / "events.log", "a") as f:
            f.write(line + "\n")

    def events(self, run_id: str) -> list[dict]:
        p = self.run_dir(run_id) / "events.log"
        if not p.exists():
            return []
        out = []
        for line in p.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                out.append(json.loads(line))
        return out

    def mark_failed(self, run_id: str, reason: str, *, blocked: bool = False) -> None:
        doc = {"reason": reason, "t": time.time(), **({"blocked": True} if blocked else {})}
        atomic_write_text(self.run_dir(run_id) / "failed.json", json.dumps(doc))

    def _failure_doc(self, run_id: str) -> dict | None:
        p = self.run_dir(run_id) / "failed.json"
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError:
            return {"reason": "failed"}

    def failure(self, run_id: str) -> str | None:
        doc = self._failure_doc(run_id)
        return None if doc is None else doc.get("reason", "failed")

    def is_locked(self, run_id: str) -> bool:
        lock = self.run_dir(run_id) / ".lock"
        if not lock.exists():
            return False
        with flocked(lock, blocking=False) as got:
            return not got

    def state(self, run_id: str) -> str:
        """done | running | failed | diverged | blocked | pending."""
        rec = self.record(run_id)
        if rec is not None:
            st = rec.get("status", "ok")
            return {"ok": "done"}.get(st, st if st in STATES else "failed")
        if self.is_locked(run_id):
            return "running"
        doc = self._failure_doc(run_id)
        if doc is not None:
            return "blocked" if doc.get("blocked") else "failed"
        return "pending"

    # ------------------------------------------------------------ runs.csv
    def rebuild_runs_csv(self) -> int:
        """Rewrite DIR/runs.csv from every record.json, under the store lock; returns the row count."""
        with flocked(self.root / ".runs.lock"):
            recs = []
            for p in sorted((self.root / "runs").glob("*/record.json")):
                try:
                    recs.append(json.loads(p.read_text()))
                except json.JSONDecodeError:
                    continue
            if not recs:
                return 0
            df = pd.DataFrame(recs)
            df["_order"] = df["role"].map(ROLE_ORDER).fillna(9)
            df = df.sort_values(["_order", "N", "D", "run_id"]).drop(columns="_order")
            cols = [c for c in COLUMNS if c in df] + [c for c in df.columns if c not in COLUMNS]
            write_runs(df[cols], self.runs_csv)
            return len(df)

    def _progress(self, run_id: str) -> dict:
        """{'step', 'steps'} of a started run, from the last line of its metrics.csv."""
        m = self.run_dir(run_id) / "metrics.csv"
        p = self.run_dir(run_id) / "planned.json"
        if not (m.exists() and p.exists()):
            return {}
        with open(m, "rb") as f:
            f.seek(max(0, m.stat().st_size - 512))
            last = f.read().decode(errors="replace").strip().splitlines()[-1:]
        try:
            step = int(last[0].split(",")[0])
        except (IndexError, ValueError):
            return {}
        return {"step": step, "steps": json.loads(p.read_text())["estimate"].get("steps")}

    def summary(self, run_ids: list[str] | None = None) -> dict:
        info = self.read_sweep()
        if info is None:
            raise UserError(f"{self.root}: not a sweep directory (no sweep.json)")
        ids = run_ids or info["run_ids"]
        runs = []
        for rid in ids:
            st = self.state(rid)
            entry = {"run_id": rid, "state": st}
            if st in ("failed", "blocked"):
                entry["reason"] = self.failure(rid) or (self.record(rid) or {}).get("status")
            if st in ("running", "pending"):
                entry.update(self._progress(rid))
            runs.append(entry)
        counts = {s: sum(r["state"] == s for r in runs) for s in STATES}
        return {"dir": str(self.root), "name": info["name"], "n_runs": len(runs), "counts": counts, "runs": runs}
