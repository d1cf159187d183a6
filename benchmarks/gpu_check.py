"""A short GPU check (< ~8 min on one H100/H200): throughput, MFU and a reduced distillation sweep.

1. tokens/s and MFU of a ~124M-parameter GPT (GPT-2 small widths: 12 layers, d_model 768,
   vocab 50304, context 1024) trained with bf16 autocast + torch.compile + fused AdamW at several
   batch sizes, using the trainer's own model and loss (`scalelaw.train.model.build_model`,
   `scalelaw.train.distill.distill_loss`);
2. the same with a teacher forward pass (distillation: a frozen 124M teacher, pure KL), where the
   model FLOPs count the student's 3 x forward plus the teacher's forward;
3. a reduced real distillation sweep (one teacher, two students, one supervised run) through
   `scalelaw.sweep.run_local` with the real trainer, whose records land in OUT/sweep/runs.csv.

MFU = model FLOPs per second / the device's dense bf16 peak (`scalelaw.train.throughput`; PaLM
App. B convention, attention counted, causal masking not discounted). Everything measured goes to
OUT/gpu_check.json as well as stdout.

    python benchmarks/gpu_check.py --out gpu-check          # on a CUDA machine
    python benchmarks/gpu_check.py --dry --out /tmp/gc      # CPU, tiny shapes, seconds (the test suite)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from scalelaw.flops import arch_forward_flops_per_token, param_counts
from scalelaw.sweep import load_spec, run_local
from scalelaw.train.distill import distill_loss
from scalelaw.train.model import build_model
from scalelaw.train.throughput import mfu, peak_flops

GPT2_SMALL = {"n_layer": 12, "d_model": 768, "n_head": 12, "d_ff": 2048, "vocab": 50304, "n_ctx": 1024,
              "tie_embeddings": True, "qk_norm": False}
DRY_SHAPE = {"n_layer": 2, "d_model": 64, "n_head": 2, "d_ff": 176, "vocab": 256, "n_ctx": 32,
             "tie_embeddings": True, "qk_norm": False}

SWEEP = """
[sweep]
name = "gpu-check"
description = "reduced distillation sweep of benchmarks/gpu_check.py"
[train]
block_size = {block}
batch_size = {batch}
device = "{device}"
compile = {compile}
eval_tokens = {eval_tokens}
ckpt_every = 0
[teachers.t]
shape = {{n_layer = {tl}, d_model = {td}, n_head = {th}}}
tokens = {t_tokens}
[[supervised]]
shapes = [{{n_layer = {sl}, d_model = {sd}, n_head = {sh}}}]
tokens = [{s_tokens}]
[[students]]
teachers = ["t"]
shapes = [{{n_layer = {sl}, d_model = {sd}, n_head = {sh}}}]
tokens = [{s_tokens_half}, {s_tokens}]
"""


def _fwd_flops(shape: dict) -> float:
    return arch_forward_flops_per_token(shape["n_layer"], shape["d_model"], shape["d_ff"], shape["vocab"],
                                        shape["n_ctx"])


def throughput(shape: dict, batch: int, *, device: torch.device, teacher_shape: dict | None, compile: bool,
               warmup: int, steps: int) -> dict:
    """Timed training steps of `shape` at `batch` sequences (a teacher forward per step if given)."""
    torch.manual_seed(0)
    cuda = device.type == "cuda"
    model = build_model(shape).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=cuda)
    teacher = None
    if teacher_shape is not None:
        teacher = build_model(teacher_shape).to(device).eval().requires_grad_(False)
    fwd, tfwd = model, teacher
    if compile:
        fwd = torch.compile(model)
        tfwd = torch.compile(teacher) if teacher is not None else None
    T, V = shape["n_ctx"], shape["vocab"]
    gen = torch.Generator(device="cpu").manual_seed(1)
    data = torch.randint(0, V, (warmup + steps, batch, T + 1), generator=gen).to(device)

    def step(i):
        x, y = data[i, :, :-1], data[i, :, 1:]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            t_logits = None
            if tfwd is not None:
                with torch.no_grad():
                    t_logits = tfwd(x)
            loss, _ = distill_loss(fwd(x), y, t_logits, lam=1.0 if t_logits is not None else 0.0)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    t0 = time.perf_counter()
    for i in range(warmup):
        step(i)
    if cuda:
        torch.cuda.synchronize(device)
    t1 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        loss = step(i)
    float(loss.detach())  # waits for the last step
    if cuda:
        torch.cuda.synchronize(device)
    dt = time.perf_counter() - t1
    tok_s = batch * T * steps / dt
    flops_tok = 3.0 * _fwd_flops(shape) + (_fwd_flops(teacher_shape) if teacher_shape else 0.0)
    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    out = {"batch": batch, "tokens_per_step": batch * T, "tokens_per_s": tok_s,
           "model_flops_per_token": flops_tok, "achieved_tflops": tok_s * flops_tok / 1e12,
           "mfu": mfu(tok_s, flops_tok, name), "warmup_s": t1 - t0, "timed_s": dt,
           "max_mem_gb": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None}
    del model, opt, teacher, fwd, tfwd, data
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    return out


def _fmt_mfu(m):
    return "n/a" if m is None or m != m else f"{100 * m:.1f}%"  # None or NaN: no known peak (CPU)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("gpu-check"))
    ap.add_argument("--dry", action="store_true", help="CPU, tiny shapes, a few steps (seconds; for tests)")
    ap.add_argument("--batch-sizes", type=str, default=None, help="comma-separated (default 8,16,32; dry 2,4)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per point (default 20; dry 2)")
    ap.add_argument("--no-sweep", action="store_true", help="skip part 3")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    if args.dry:
        device, shape, compile = torch.device("cpu"), DRY_SHAPE, False
        sizes = [int(b) for b in (args.batch_sizes or "2,4").split(",")]
        steps, warmup = args.steps or 2, 1
    else:
        if not torch.cuda.is_available():
            sys.exit("gpu_check: no CUDA device (use --dry for the CPU smoke run)")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        device, shape, compile = torch.device("cuda"), GPT2_SMALL, True
        sizes = [int(b) for b in (args.batch_sizes or "8,16,32").split(",")]
        steps, warmup = args.steps or 20, 3
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    pc = param_counts(shape["n_layer"], shape["d_model"], shape["d_ff"], shape["n_head"], shape["vocab"],
                      tie_embeddings=shape["tie_embeddings"])
    doc = {"device": name, "peak_bf16_flops": peak_flops(name), "torch": torch.__version__,
           "python": platform.python_version(), "dry": args.dry, "shape": shape, "params": pc,
           "compile": compile, "supervised": [], "distillation": []}
    print(f"device {name}, torch {torch.__version__}, model {pc}, bf16 {device.type == 'cuda'}, compile {compile}")
    for kind, teacher in (("supervised", None), ("distillation", shape)):
        for b in sizes:
            r = throughput(shape, b, device=device, teacher_shape=teacher, compile=compile, warmup=warmup,
                           steps=steps)
            doc[kind].append(r)
            print(f"{kind:<13} batch {b:>3} x {shape['n_ctx']}: {r['tokens_per_s']:>12,.0f} tok/s  "
                  f"{r['achieved_tflops']:8.2f} TFLOP/s  MFU {_fmt_mfu(r['mfu'])}  (warmup {r['warmup_s']:.1f} s)",
                  flush=True)
    doc["throughput_s"] = time.perf_counter() - t_start
    if not args.no_sweep:
        t0 = time.perf_counter()
        p = dict(block=32, batch=4, device="cpu", compile="false", eval_tokens=1024, tl=2, td=64, th=2,
                 sl=1, sd=32, sh=2, t_tokens=8192, s_tokens=4096) if args.dry else \
            dict(block=1024, batch=32, device="cuda", compile="true", eval_tokens=262144, tl=6, td=512, th=8,
                 sl=4, sd=256, sh=4, t_tokens=20_000_000, s_tokens=10_000_000)
        p["s_tokens_half"] = p["s_tokens"] // 2
        args.out.mkdir(parents=True, exist_ok=True)
        spec_path = args.out / "gpu-check-sweep.toml"
        spec_path.write_text(SWEEP.format(**p))
        spec = load_spec(spec_path)
        summary = run_local(spec, args.out / "sweep", workers=1, progress=False)
        import pandas as pd

        df = pd.read_csv(args.out / "sweep" / "runs.csv")
        doc["sweep"] = {"counts": summary["counts"], "runs_csv": str(args.out / "sweep" / "runs.csv"),
                        "wall_s": time.perf_counter() - t0,
                        "runs": df[[c for c in ("run_id", "role", "N", "D", "loss", "tokens_per_s", "mfu")
                                    if c in df]].to_dict("records")}
        print(f"sweep: {summary['counts']} in {doc['sweep']['wall_s']:.0f} s -> {doc['sweep']['runs_csv']}")
        for r in doc["sweep"]["runs"]:
            print(f"  {r['role']:<10} N={r['N']:.3g} D={r['D']:.3g} loss={r['loss']:.4f} "
                  f"{r.get('tokens_per_s') or 0:,.0f} tok/s MFU {_fmt_mfu(r.get('mfu'))}")
    doc["total_s"] = time.perf_counter() - t_start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(doc, indent=1, default=str))
    print(f"total {doc['total_s']:.0f} s; results in {args.out / 'gpu_check.json'}")
    return doc


if __name__ == "__main__":
    main()
