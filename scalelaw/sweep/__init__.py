"""Sweeps: a TOML grid of supervised, teacher and student runs -> a resumable result store.

    spec = load_spec("sweeps/tiny-cpu.toml")     # every run, with FLOPs and a wall-time estimate
    run_local(spec, "out/tiny")                  # K processes, students after their teachers
    run_slurm(spec, "out/big")                   # submitit job arrays with requeue
    Store("out/tiny").summary()                  # done / running / failed / diverged / pending

Nothing here imports torch at import time; the training core is reached through `trainer`.
"""

from .local import run_local
from .slurm import run_slurm
from .spec import PlannedRun, Spec, load_spec, parse_spec, spec_json
from .store import Store
from .worker import execute_run

__all__ = ["PlannedRun", "Spec", "Store", "execute_run", "load_spec", "parse_spec", "run_local", "run_slurm",
           "spec_json"]
