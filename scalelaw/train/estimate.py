"""Estimates of a run without training it (and without torch): the shape, parameters by kind,
steps, tokens, FLOPs (with `scalelaw.flops`, teacher forwards included for students) and the
peak learning rate. The trainer uses the same `plan_run`, and `sweep plan` calls `estimate_run`,
so a sweep's estimates are the trainer's own numbers.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from ..errors import UserError
from ..flops import arch_forward_flops_per_token, param_counts
from .config import TrainConfig
from .corpus import corpus_vocab_size


@functools.lru_cache(maxsize=None)
def _corpus_vocab(corpus: str, seed: int) -> int:
    """The corpus's vocabulary size, read without loading its tokens (cached for planning)."""
    return corpus_vocab_size(corpus, seed=seed)


def estimate_run(cfg: TrainConfig, *, teacher_cfg: TrainConfig | None = None) -> dict:
    """Parameters by kind, steps, tokens and FLOPs of a run, without training.

    For a student, the teacher's shape comes from `teacher_cfg` or, if omitted, from
    `<teacher_dir>/config.json` when it exists; otherwise teacher FLOPs are None.
    """
    cfg.validate()
    vocab = resolve_vocab(cfg, _corpus_vocab(cfg.corpus, cfg.corpus_seed))
    teacher_shape = None
    if cfg.role == "student":
        if teacher_cfg is not None:
            teacher_shape = teacher_cfg.resolve_shape(vocab)
        else:
            tc = Path(cfg.teacher_dir) / "config.json"
            if tc.is_file():
                teacher_shape = json.loads(tc.read_text())["shape"]
    return plan_run(cfg, vocab, teacher_shape, world=int(os.environ.get("WORLD_SIZE", "1")))


def resolve_vocab(cfg: TrainConfig, corpus_vocab: int) -> int:
    """The output vocabulary: the config's vocab_size, or the corpus's own."""
    if cfg.vocab_size and cfg.vocab_size < corpus_vocab:
        raise UserError(f"config: key 'vocab_size': {cfg.vocab_size} is smaller than the corpus "
                        f"vocabulary ({corpus_vocab}); use 0 for the corpus's own")
    return cfg.vocab_size or corpus_vocab


def plan_run(cfg: TrainConfig, vocab: int, teacher_shape: dict | None, world: int = 1) -> dict:
    """Shape, parameter counts, steps, tokens, FLOPs (incl. teacher forwards) and LR of a run."""
    shape = cfg.resolve_shape(vocab)
    counts = param_counts(shape["n_layer"], shape["d_model"], shape["d_ff"], shape["n_head"], vocab,
                          tie_embeddings=shape["tie_embeddings"], qk_norm=shape["qk_norm"])
    tokens_per_step = cfg.batch_size * cfg.grad_accum * cfg.block_size * world
    steps = max(1, -(-cfg.tokens // tokens_per_step))
    D = steps * tokens_per_step
    N = counts["nonembedding"]
    fwd = arch_forward_flops_per_token(shape["n_layer"], shape["d_model"], shape["d_ff"], vocab, cfg.block_size)
    teacher_fwd = None
    if teacher_shape is not None:
        teacher_fwd = arch_forward_flops_per_token(teacher_shape["n_layer"], teacher_shape["d_model"],
                                                   teacher_shape["d_ff"], teacher_shape["vocab"], cfg.block_size)
    teacher_flops = teacher_fwd * D if teacher_fwd is not None else None
    if cfg.lr_rule == "steplaw":  # Li et al. 2025 ("Predictable Scale I"), LAWS.md §7
        lr = 1.79 * N**-0.713 * D**0.307
    else:
        lr = cfg.lr
    warmup = cfg.warmup_steps if cfg.warmup_steps >= 0 else min(2000, int(0.05 * steps))
    return {
        "shape": shape, "vocab_size": vocab, "N": N,
        "params_nonembedding": N, "params_embedding": counts["embedding"], "params_total": counts["total"],
        "tokens_per_step": tokens_per_step, "steps": steps, "D": D,
        "forward_flops_per_token": fwd, "train_flops_per_token": 3.0 * fwd,
        "flops_6nd": 6.0 * N * D,
        "flops_exact": 3.0 * fwd * D + (teacher_flops or 0.0),
        "teacher_flops": teacher_flops, "lr": lr, "warmup_steps": min(warmup, steps),
    }
