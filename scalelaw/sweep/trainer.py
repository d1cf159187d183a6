"""The sweep's one door to the training core (scalelaw.train): config fields, shapes, estimates.

Everything the sweep needs to know about a training run goes through here, so the spec parser,
the store and the executors never import torch themselves. The train function the workers call
can be swapped with the environment variable SCALELAW_SWEEP_TRAIN="module:function" (tests use
a fast stand-in with the same contract: train(cfg, run_dir, *, resume, run_id, progress) -> record).
"""

from __future__ import annotations

import functools
import importlib
import os

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


def _vocab(tc) -> int:
    """The output vocabulary: vocab_size, or the corpus's own (read without loading tokens)."""
    if tc.vocab_size:
        return tc.vocab_size
    return _corpus_vocab(tc.corpus, tc.corpus_seed)


@functools.lru_cache(maxsize=None)
def _corpus_vocab(corpus: str, seed: int) -> int:
    from ..train.corpus import corpus_vocab_size

    return corpus_vocab_size(corpus, seed=seed)


def estimate_raw(cfg: dict, teacher_cfg: dict | None = None) -> dict:
    """Parameters by kind, steps and training FLOPs of a run, without importing torch.

    Same counting as `scalelaw.train.run.estimate_run` (exact counts from `scalelaw.flops`), kept
    torch-free so that `sweep plan` is instant.
    Students also pay one teacher forward per token (2 FLOPs per multiply-add, as in
    `scalelaw.flops.arch_forward_flops_per_token`).
    """
    from ..flops import arch_forward_flops_per_token, param_counts

    tc = make_config(cfg)
    shape = tc.resolve_shape(_vocab(tc))
    counts = param_counts(shape["n_layer"], shape["d_model"], shape["d_ff"], shape["n_head"], shape["vocab"],
                          tie_embeddings=shape["tie_embeddings"], qk_norm=shape["qk_norm"])
    per_step = tokens_per_step(cfg)
    steps = -(-int(tc.tokens) // per_step)
    D = steps * per_step
    fwd = arch_forward_flops_per_token(shape["n_layer"], shape["d_model"], shape["d_ff"], shape["vocab"], shape["n_ctx"])
    flops = 3.0 * fwd * D
    if teacher_cfg is not None:
        flops += _forward_per_token(teacher_cfg) * D
    return {"params_nonembedding": counts["nonembedding"], "params_embedding": counts["embedding"],
            "params_total": counts["total"], "steps": steps, "tokens": D, "shape": shape,
            "flops_6nd": 6.0 * counts["nonembedding"] * D, "flops_exact": flops}


def _forward_per_token(cfg: dict) -> float:
    from ..flops import arch_forward_flops_per_token

    tc = make_config(cfg)
    s = tc.resolve_shape(_vocab(tc))
    return arch_forward_flops_per_token(s["n_layer"], s["d_model"], s["d_ff"], s["vocab"], s["n_ctx"])


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
