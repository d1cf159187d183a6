"""Training core (torch only; never imports JAX): model, corpora, distillation loss, trainer.

Public surface:
    TrainConfig                      flat run configuration (config.py, torch-free)
    train(cfg, run_dir, ...)         train one run into a run directory -> run record dict
    estimate_run(cfg, ...)           params by kind, steps and FLOPs without training
Torch is imported only when `train` is first used; `estimate_run` (estimate.py) is torch-free.
"""

from .config import TrainConfig
from .estimate import estimate_run

__all__ = ["TrainConfig", "train", "estimate_run"]


def __getattr__(name):
    if name == "train":
        from . import run

        return getattr(run, name)
    raise AttributeError(name)
