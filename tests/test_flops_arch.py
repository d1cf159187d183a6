"""Exact parameter/FLOP counts for a concrete decoder, checked against independent formulas."""

import numpy as np
import pytest

from scalelaw.flops import (FlopPreset, arch_forward_flops_per_token, forward_flops_per_token, param_counts,
                            swiglu_hidden)


def test_swiglu_hidden_rounds_8_3_up():
    assert swiglu_hidden(768) == 2048  # 8/3 * 768 exactly
    assert swiglu_hidden(64) == 176  # 170.67 -> next multiple of 16
    assert swiglu_hidden(48, multiple=1) == 128


def test_param_counts_gpt2_small_shape():
    # hand count: 12 layers x (4 d^2 + 3 d dff + 2 d) + d, tied table vocab x d
    c = param_counts(12, 768, 2048, 12, 50304, tie_embeddings=True)
    assert c["nonembedding"] == 12 * (4 * 768**2 + 3 * 768 * 2048 + 2 * 768) + 768 == 84_953_856
    assert c["embedding"] == 50304 * 768
    u = param_counts(12, 768, 2048, 12, 50304, tie_embeddings=False, qk_norm=True)
    assert u["embedding"] == 2 * 50304 * 768
    assert u["nonembedding"] == c["nonembedding"] + 12 * 2 * 64
    assert u["total"] == u["nonembedding"] + u["embedding"]


@pytest.mark.parametrize("L,d,ctx,vocab", [(4, 384, 1024, 32168), (24, 3072, 4096, 32768), (2, 48, 64, 64)])
def test_forward_flops_agree_with_busbridge_F_of_N(L, d, ctx, vocab):
    """On the paper's family (d_ff = 8/3 d, omega = 12) our count minus the second attention matmul
    equals Busbridge et al.'s F(N) (App. H) evaluated at N = 12 L d^2."""
    dff = 8 * d // 3
    assert 3 * dff == 8 * d
    ours = arch_forward_flops_per_token(L, d, dff, vocab, ctx)
    preset = FlopPreset(n_ctx=ctx, n_vocab=vocab, rho=d / L, omega=12.0)
    theirs = float(forward_flops_per_token(12 * L * d * d, preset))
    np.testing.assert_allclose(ours - 2 * ctx * L * d, theirs, rtol=1e-12)


def test_training_flops_equal_nanogpt_estimate():
    """nanoGPT's estimate_mfu: 6 N + 12 L H Q T per token with N = matmul params incl. the tied head."""
    L, d, H, T, V = 6, 384, 6, 256, 65
    dff = swiglu_hidden(d)
    n_matmul = L * (4 * d * d + 3 * d * dff) + V * d
    assert 3 * arch_forward_flops_per_token(L, d, dff, V, T) == 6 * n_matmul + 12 * L * H * (d // H) * T
