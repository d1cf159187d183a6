"""The sweep's one door to the training core (scalelaw.train): config fields, shapes, estimates.

Everything the sweep needs to know about a training run goes through here, so the spec parser,
the store and the executors never import torch themselves. The train function the workers call
can be swapped with the environment variable SCALELAW_SWEEP_TRAIN="module:function" (tests use
a fast stand-in with the same contract: train(cfg, run_dir, *, resume, run_id, progress) -> record).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

from ..errors import UserError

TRAIN_ENV = "SCALELAW_SWEEP_TRAIN"
DEFAULT_TRAIN = "scalelaw.train.run:train"


def _config_cls():
    from ..train.config import TrainConfig

    return TrainConfig


def config_fields() -> set[str]:
    import dataclasses

    return {f.name for f in dataclasses.fields(_config_cls())}


def make_config(cfg: dict):
    """A TrainConfig from a resolved dict (UserError on unknown keys or bad values)."""
    return _config_cls().from_dict(dict(cfg))


def resolve(cfg: dict, where: str) -> dict:
    """Fill defaults and the shape of a size preset: the dict a run's id is computed from."""
    try:
        return make_config(cfg).to_dict()
    except UserError as e:
        raise UserError(f"{where}: {e}") from None
    except (TypeError, ValueError) as e:
        raise UserError(f"{where}: bad training settings ({e})") from None


def estimate_raw(cfg: dict, teacher_cfg: dict | None = None) -> dict:
    """Parameters by kind, steps, tokens and training FLOPs (teacher forwards included for
    students) of a run: the trainer's own torch-free `scalelaw.train.estimate.estimate_run`."""
    from ..train.estimate import estimate_run

    e = estimate_run(make_config(cfg), teacher_cfg=None if teacher_cfg is None else make_config(teacher_cfg))
    keys = ("params_nonembedding", "params_embedding", "params_total", "steps", "shape", "flops_6nd", "flops_exact")
    return {**{k: e[k] for k in keys}, "tokens": e["D"]}


def nonembedding_params(cfg: dict) -> float:
    return float(estimate_raw(cfg)["params_nonembedding"])


def tokens_per_step(cfg: dict) -> int:
    return int(cfg["batch_size"]) * int(cfg["block_size"]) * int(cfg.get("grad_accum", 1) or 1)


def estimate(cfg: dict, flops_per_s: float, teacher_cfg: dict | None = None) -> dict:
    """FLOPs (incl. teacher forwards for students), optimiser steps and estimated wall seconds."""
    e = estimate_raw(cfg, teacher_cfg)
    flops = float(e["flops_exact"])
    return {"flops": flops, "flops_6nd": float(e["flops_6nd"]), "steps": int(e["steps"]),
            "wall_s": flops / flops_per_s}


def train_function():
    """The function workers call to train one run (see module docstring)."""
    target = os.environ.get(TRAIN_ENV, DEFAULT_TRAIN)
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def torchrun_command(nproc: int, run_dir, run_id: str) -> list[str]:
    """The launch line that trains one planned run of a store with DDP over `nproc` processes."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={int(nproc)}",
            "-m", "scalelaw.sweep.trainer", str(run_dir), run_id]


def torchrun_train(nproc: int):
    """A train function (same contract as train_function()'s) that runs `torchrun_command`."""

    def train(cfg, run_dir, *, resume=True, run_id=None, progress=False):
        rd = Path(run_dir)
        with open(rd / "log.txt", "a") as log:
            res = subprocess.run(torchrun_command(nproc, rd, run_id), stdout=log, stderr=subprocess.STDOUT)
        if res.returncode != 0 or not (rd / "record.json").exists():
            raise RuntimeError(f"torchrun over {nproc} processes exited with {res.returncode} (see {rd}/log.txt)")
        return json.loads((rd / "record.json").read_text())

    return train


def _main(argv: list[str]) -> None:
    """Entry point under torchrun: train the planned run in RUN_DIR (every rank calls the trainer)."""
    run_dir, run_id = Path(argv[0]), argv[1]
    planned = json.loads((run_dir / "planned.json").read_text())
    train_function()(make_config(planned["config"]), run_dir, resume=True, run_id=run_id, progress=False)


if __name__ == "__main__":
    _main(sys.argv[1:])
