"""Throughput and model FLOPs utilisation (MFU, Chowdhery et al. 2022, PaLM App. B).

MFU = achieved model FLOPs per second / the device's peak dense bf16 FLOPs per second, with
model FLOPs per training token = 3 x `scalelaw.flops.arch_forward_flops_per_token` (forward +
backward, attention included, no rematerialisation counted). On CPU there is no meaningful
peak, so MFU is None ("n/a").
"""

from __future__ import annotations

#: dense bf16 peak FLOP/s (vendor datasheets, without sparsity)
PEAK_BF16 = {
    "H200": 989.5e12,
    "H100 SXM": 989.5e12,
    "H100 NVL": 835e12,
    "H100 PCIe": 756e12,
    "A100": 312e12,
}


def peak_flops(device_name: str | None) -> float | None:
    """Peak bf16 FLOP/s for a CUDA device name such as 'NVIDIA H100 80GB HBM3'; None if unknown/CPU."""
    if not device_name:
        return None
    name = device_name.upper()
    if "H200" in name:
        return PEAK_BF16["H200"]
    if "H100" in name:
        if "PCIE" in name:
            return PEAK_BF16["H100 PCIe"]
        if "NVL" in name:
            return PEAK_BF16["H100 NVL"]
        return PEAK_BF16["H100 SXM"]  # 'HBM3' SXM parts
    if "A100" in name:
        return PEAK_BF16["A100"]
    return None


def mfu(tokens_per_s: float, train_flops_per_token: float, device_name: str | None, world_size: int = 1):
    """Fraction of peak (None when the peak is unknown, e.g. on CPU)."""
    peak = peak_flops(device_name)
    if peak is None or tokens_per_s <= 0:
        return None
    return tokens_per_s * train_flops_per_token / (peak * world_size)
