"""CPU training throughput at a small config: supervised vs distillation (teacher forward included).

Prints tokens/s for the same student with and without the teacher's forward pass, side by side,
and the ratio. Run: python benchmarks/bench_train.py [--tokens 40000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from scalelaw.train import TrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=40_000)
    args = ap.parse_args()
    common = dict(eval_tokens=1024, ckpt_every=0, batch_size=16)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train(TrainConfig(role="teacher", n_layer=2, d_model=96, n_head=6, tokens=2048, **common),
              tmp / "teacher", progress=False)
        student = dict(n_layer=2, d_model=64, n_head=4, tokens=args.tokens, **common)
        sup = train(TrainConfig(role="supervised", **student), tmp / "sup", progress=False)
        kd = train(TrainConfig(role="student", teacher_dir=str(tmp / "teacher"), **student), tmp / "kd",
                   progress=False)
    print(f"student N={sup['N']:,} (non-emb), teacher N={kd['N_T']:,}, {args.tokens:,} tokens, device {sup['device']}")
    print(f"{'mode':<28}{'tokens/s':>12}{'exact FLOPs':>14}")
    print(f"{'supervised (no teacher)':<28}{sup['tokens_per_s']:>12,.0f}{sup['flops_exact']:>14.3e}")
    print(f"{'distillation (+teacher fwd)':<28}{kd['tokens_per_s']:>12,.0f}{kd['flops_exact']:>14.3e}")
    print(f"ratio distill/supervised: throughput {kd['tokens_per_s'] / sup['tokens_per_s']:.3f}, "
          f"FLOPs {kd['flops_exact'] / sup['flops_exact']:.3f}")


if __name__ == "__main__":
    main()
