"""Human-readable sweep tables on stderr (plan and status); machines use --json instead."""

from __future__ import annotations

import sys


def _console():
    from rich.console import Console

    return Console(file=sys.stderr, width=None if sys.stderr.isatty() else 160)


def fmt_seconds(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def print_plan(doc: dict) -> None:
    from rich.table import Table

    t = Table(title=f"sweep {doc['name']}: {doc['n_runs']} runs", title_justify="left")
    for c in ("run id", "role", "group", "N", "D", "steps", "FLOPs", "est. wall"):
        t.add_column(c, justify="left" if c in ("run id", "role", "group") else "right")
    for r in doc["runs"]:
        t.add_row(r["run_id"], r["role"], r["group"], f"{r['N']:.3g}", f"{r['D']:.3g}", str(r["steps"]),
                  f"{r['flops']:.3g}", fmt_seconds(r["wall_s"]))
    con = _console()
    con.print(t)
    con.print(f"total: {doc['total_flops']:.3g} FLOPs, about {fmt_seconds(doc['total_wall_s'])} "
              f"at {doc['flops_per_s']:.3g} FLOP/s (\\[estimate] flops_per_s), one run at a time")


def print_status(doc: dict) -> None:
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    con = _console()
    counts = doc["counts"]
    n = doc["n_runs"]
    finished = counts["done"] + counts["diverged"] + counts["failed"] + counts.get("blocked", 0)
    con.print(f"sweep {doc['name']} in {doc['dir']}: {finished}/{n} finished")
    con.print(ProgressBar(total=max(n, 1), completed=counts["done"], width=50))
    con.print()
    con.print("  ".join(f"{k} {v}" for k, v in counts.items()))
    slurm = "cluster_counts" in doc
    if slurm:
        con.print("SLURM jobs: " + "  ".join(f"{k} {v}" for k, v in doc["cluster_counts"].items()))
    t = Table(show_header=True)
    t.add_column("run id")
    t.add_column("state")
    if slurm:
        for c in ("job", "SLURM", "requeues"):
            t.add_column(c)
    t.add_column("note")
    for r in doc["runs"]:
        job = r.get("cluster") or {}
        if r["state"] == "done" and job.get("job_state", "completed") == "completed":
            continue
        note = r.get("reason") or (f"step {r['step']}/{r['steps']}" if r.get("step") else "")
        cells = [job.get("job_id", ""), job.get("job_state", ""), str(job.get("requeues", ""))] if slurm else []
        t.add_row(r["run_id"], r["state"], *cells, note)
    if t.row_count:
        con.print(t)
