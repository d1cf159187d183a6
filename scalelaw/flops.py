"""Parameter and FLOP accounting: one place for every compute convention in the project.

Conventions for training compute C of a run with N parameters and D tokens:
  * "6nd":       C = 6 N D (Kaplan et al. 2020; Hoffmann et al. 2022).
  * "attention": C = 3 F(N) D with forward FLOPs per token
        F(N) = 2N + 2 n_ctx sigma1 N^(2/3) + 2 n_vocab sigma2 N^(1/3),
        sigma1 = (1 / (rho omega^2))^(1/3), sigma2 = (rho / omega)^(1/3)
    for a model family at fixed aspect ratio rho = d_model / n_layers (Busbridge et al. 2025,
    App. H, Eq. 43-45). The backward pass costs twice the forward, hence the factor 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import UserError


@dataclass(frozen=True)
class FlopPreset:
    """Architecture-family constants for the F(N) approximation."""

    n_ctx: int = 4096
    n_vocab: int = 32168
    rho: float = 128.0  # d_model / n_layers
    omega: float = 12.0  # 2 + 2/g_size + n_ffn * rho_ffn (MHA + SwiGLU 8/3 gives 12)

    @property
    def sigma1(self) -> float:
        return (1.0 / (self.rho * self.omega**2)) ** (1.0 / 3.0)

    @property
    def sigma2(self) -> float:
        return (self.rho / self.omega) ** (1.0 / 3.0)


#: The setting of Busbridge et al. 2025 (their Table 13 models).
BUSBRIDGE2025 = FlopPreset()

CONVENTIONS = ("6nd", "attention")


def forward_flops_per_token(N, preset: FlopPreset = BUSBRIDGE2025):
    """F(N): forward FLOPs per token including attention and vocabulary terms."""
    N = np.asarray(N, dtype=np.float64)
    return (
        2.0 * N
        + 2.0 * preset.n_ctx * preset.sigma1 * N ** (2.0 / 3.0)
        + 2.0 * preset.n_vocab * preset.sigma2 * N ** (1.0 / 3.0)
    )


def flops_per_token(N, convention: str = "6nd", preset: FlopPreset = BUSBRIDGE2025):
    """Training FLOPs per token (forward + backward) under a convention."""
    if convention == "6nd":
        return 6.0 * np.asarray(N, dtype=np.float64)
    if convention == "attention":
        return 3.0 * forward_flops_per_token(N, preset)
    raise UserError(f"unknown FLOP convention {convention!r}; expected one of {', '.join(CONVENTIONS)}")


def training_flops(N, D, convention: str = "6nd", preset: FlopPreset = BUSBRIDGE2025):
    """Training compute C for N parameters on D tokens."""
    return flops_per_token(N, convention, preset) * np.asarray(D, dtype=np.float64)


def tokens_for_budget(N, C, convention: str = "6nd", preset: FlopPreset = BUSBRIDGE2025):
    """D such that training_flops(N, D) == C."""
    return np.asarray(C, dtype=np.float64) / flops_per_token(N, convention, preset)


# ---------------------------------------------------------------- concrete architectures
# Exact counts for the decoder scalelaw.train builds (pre-RMSNorm, RoPE, SwiGLU, bias-free
# linear layers, optional per-head QK RMSNorm, tied or untied embeddings). The model's own
# parameter count is tested against these functions, so the two can never drift apart.


def swiglu_hidden(d_model: int, multiple: int = 16) -> int:
    """Default SwiGLU hidden width: 8/3 d_model rounded up to a multiple of `multiple`.

    8/3 keeps the three SwiGLU matrices at the parameter cost of a 4x GELU MLP
    (Shazeer 2020, "GLU Variants Improve Transformer").
    """
    return multiple * -(-(8 * d_model) // (3 * multiple))


def param_counts(n_layer: int, d_model: int, d_ff: int, n_head: int, vocab: int, *,
                 tie_embeddings: bool = True, qk_norm: bool = False) -> dict[str, int]:
    """Exact parameters by kind: {'nonembedding', 'embedding', 'total'}.

    Per layer: attention q, k, v, o (4 d^2), SwiGLU gate, up, down (3 d d_ff), two RMSNorm
    gains (2 d), and with QK-norm one gain each for q and k over the head dim (2 d/n_head).
    Plus the final RMSNorm gain (d). Embedding: the token table (vocab d), and the output
    head (vocab d) only if untied. RoPE has no parameters.
    """
    if d_model % n_head:
        raise UserError(f"d_model={d_model} is not divisible by n_head={n_head}")
    head_dim = d_model // n_head
    per_layer = 4 * d_model * d_model + 3 * d_model * d_ff + 2 * d_model
    if qk_norm:
        per_layer += 2 * head_dim
    nonemb = n_layer * per_layer + d_model
    emb = vocab * d_model * (1 if tie_embeddings else 2)
    return {"nonembedding": int(nonemb), "embedding": int(emb), "total": int(nonemb + emb)}


def arch_forward_flops_per_token(n_layer: int, d_model: int, d_ff: int, vocab: int, n_ctx: int) -> float:
    """Exact forward matmul FLOPs per token of the concrete decoder (2 FLOPs per multiply-add).

    Counts every matmul: q, k, v, o projections (2 * 4 d^2 per layer), SwiGLU (2 * 3 d d_ff),
    attention scores QK^T and the weighted sum AV over the full context (2 * 2 n_ctx d per
    layer, the convention of Hoffmann et al. 2022 App. F and PaLM's MFU; causal masking is not
    discounted) and the output logits (2 vocab d). Norms, RoPE, softmax and the embedding
    lookup are elementwise/gathers and are not counted. Busbridge et al.'s F(N) counts the
    attention term once (2 n_ctx n_layer d), so it is slightly smaller than this.
    """
    per_layer = 2 * (4 * d_model * d_model + 3 * d_model * d_ff) + 2 * 2 * n_ctx * d_model
    return float(n_layer * per_layer + 2 * vocab * d_model)


def arch_training_flops(n_layer: int, d_model: int, d_ff: int, vocab: int, n_ctx: int, D) -> np.ndarray:
    """Training FLOPs (forward + backward = 3x forward) for D tokens of the concrete decoder."""
    return 3.0 * arch_forward_flops_per_token(n_layer, d_model, d_ff, vocab, n_ctx) * np.asarray(D, dtype=np.float64)
