"""The GPT model: parameter counts agree with scalelaw.flops, causality, size presets, no JAX."""

import math
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from scalelaw.flops import param_counts  # noqa: E402
from scalelaw.train.config import TrainConfig, preset_shape  # noqa: E402
from scalelaw.train.model import build_model  # noqa: E402


@pytest.mark.parametrize("tied,qk", [(True, False), (False, True), (False, False)])
@pytest.mark.parametrize("L,d,h,dff,V", [(2, 64, 4, 0, 64), (3, 48, 3, 100, 256), (1, 32, 2, 0, 1000)])
def test_model_counts_match_flops(L, d, h, dff, V, tied, qk):
    cfg = TrainConfig(n_layer=L, d_model=d, n_head=h, d_ff=dff, tie_embeddings=tied, qk_norm=qk)
    shape = cfg.resolve_shape(V)
    model = build_model(shape)
    want = param_counts(L, d, shape["d_ff"], h, V, tie_embeddings=tied, qk_norm=qk)
    assert model.count_params() == want
    # independent: enumerate tensors by name
    emb = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("wte.", "lm_head.")))
    assert emb == want["embedding"]
    assert sum(p.numel() for p in model.parameters()) == want["total"]


def test_model_is_causal():
    torch.manual_seed(0)
    model = build_model(TrainConfig(n_layer=2, d_model=32, n_head=2, qk_norm=True).resolve_shape(50)).eval()
    x = torch.randint(0, 50, (2, 20))
    y = x.clone()
    y[:, 12:] = torch.randint(0, 50, (2, 8))
    with torch.no_grad():
        a, b = model(x), model(y)
    assert a.shape == (2, 20, 50)
    torch.testing.assert_close(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


@pytest.mark.parametrize("target", [30_000, 300_000, 10_000_000, 1_000_000_000])
def test_preset_shape_hits_target_at_aspect_ratio(target):
    L, d = preset_shape(target, 32.0, 16)
    n = param_counts(L, d, TrainConfig(d_model=d).resolve_shape(1)["d_ff"], d // 16, 1)["nonembedding"]
    assert abs(math.log(n / target)) < 0.35  # head-dim granularity at tiny sizes
    assert 0.4 < (d / L) / 32.0 < 2.5
    if target >= 10_000_000:
        assert abs(math.log(n / target)) < 0.05


def test_train_package_never_imports_jax():
    code = ("import sys, scalelaw.train, scalelaw.train.config, scalelaw.train.corpus, scalelaw.train.synthetic, "
            "scalelaw.train.model, scalelaw.train.distill, scalelaw.train.run, scalelaw.train.throughput; "
            "from scalelaw.train import train, estimate_run; "
            "assert 'jax' not in sys.modules, 'jax imported'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
