"""Training core (torch only; never imports JAX): model, corpora, distillation loss, trainer.

Public surface:
    TrainConfig                      flat run configuration (config.py, torch-free)
    train(cfg, run_dir, ...)         train one run into a run directory -> run record dict
    estimate_run(cfg, ...)           params by kind, steps and FLOPs without training
Torch is imported only when `train` / `estimate_run` are first used.
"""

from .config import TrainConfig

__all__ = ["TrainConfig", "train", "estimate_run"]


def __getattr__(name):
    if name in ("train", "estimate_run"):
        from . import run

        return getattr(run, name)
    raise AttributeError(name)
