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
