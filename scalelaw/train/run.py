"""Train one run into a run directory; plan a run without training.

Run directory layout (everything a sweep or a later student needs):

    config.json      the TrainConfig plus the resolved shape, run_id and planned steps
    metrics.csv      one row per optimizer step (lr, loss parts, grad norm, val loss when evaluated)
    train.log        human-readable progress
    checkpoint.pt    model, optimizer, RNG states, step, timers (atomic: temp file + os.replace)
    record.json      the run record (scalelaw.runs.COLUMNS + extras), written atomically LAST

Optimisation: AdamW (decoupled weight decay on matrices only), linear warmup then cosine decay
to `min_lr_ratio` x peak, global-norm clipping, gradient accumulation, bf16 autocast and
optional torch.compile on CUDA, DDP when launched by torchrun (WORLD_SIZE > 1). Batches are a
pure function of (seed, step, micro-step, rank), so resuming from a checkpoint reproduces the
uninterrupted run exactly on deterministic hardware.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from .config import TrainConfig
from .corpus import SyntheticCorpus, load_corpus
from .distill import distill_loss
from .estimate import plan_run, resolve_vocab
from .model import build_model
from .throughput import mfu as compute_mfu

LOSS_KIND = "val CE (nats/token)"
METRIC_FIELDS = ["step", "tokens", "lr", "loss", "ce", "kl", "grad_norm", "val_loss", "val_loss_stderr", "elapsed_s"]
#: divergence: EMA of the training CE this many nats above max(log vocab, its best value so far)
DIVERGENCE_MARGIN = 1.0


# ---------------------------------------------------------------------------- planning
def lr_at(step: int, peak: float, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to `peak` over `warmup` steps, then cosine to `min_ratio * peak` at `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return peak * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0))))


# ---------------------------------------------------------------------------- files
def _atomic_json(path: Path, doc: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=_json_default, allow_nan=False))
    os.replace(tmp, path)


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(type(o).__name__)


def _atomic_torch_save(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _finite_or_none(x):
    return float(x) if x is not None and math.isfinite(x) else None


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def default_run_id(cfg: TrainConfig) -> str:
    h = hashlib.sha1(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
    return f"{cfg.role}-{h}"


# ---------------------------------------------------------------------------- teacher
def load_teacher(teacher_dir: str, vocab: int, block_size: int, device) -> tuple[torch.nn.Module, dict, dict]:
    """(frozen teacher model in eval mode, its record, its shape); UserError for anything unusable."""
    d = Path(teacher_dir)
    if not d.is_dir():
        raise UserError(f"teacher_dir {str(d)!r}: no such directory")
    rec_path, cfg_path, ckpt_path = d / "record.json", d / "config.json", d / "checkpoint.pt"
    for p in (rec_path, cfg_path, ckpt_path):
        if not p.is_file():
            raise UserError(f"teacher_dir {str(d)!r}: missing {p.name} (has the teacher finished training?)")
    record = json.loads(rec_path.read_text())
    if record.get("status") != "ok":
        raise UserError(f"teacher_dir {str(d)!r}: teacher status is {record.get('status')!r}, not 'ok'")
    shape = json.loads(cfg_path.read_text())["shape"]
    if shape["vocab"] != vocab:
        raise UserError(f"teacher_dir {str(d)!r}: teacher vocab_size {shape['vocab']} != student vocab_size "
                        f"{vocab}; teacher and student must share a vocabulary")
    if shape["n_ctx"] < block_size:
        raise UserError(f"teacher_dir {str(d)!r}: teacher block_size {shape['n_ctx']} < student block_size {block_size}")
    model = build_model(shape)
    state = torch.load(ckpt_path, map_location="cpu", weights_only=False)["model"]
    model.load_state_dict(state)
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, record, shape


# ---------------------------------------------------------------------------- training
class _Distributed:
    """torchrun environment (WORLD_SIZE > 1) or a single process."""

    def __init__(self, device_pref: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device_pref == "auto":
            device_pref = "cuda" if torch.cuda.is_available() else "cpu"
        if device_pref.startswith("cuda"):
            if not torch.cuda.is_available():
                raise UserError("config: key 'device': CUDA requested but no CUDA device is available")
            self.device = torch.device(f"cuda:{local}" if self.world > 1 else device_pref)
            torch.cuda.set_device(self.device)
        elif device_pref == "cpu":
            self.device = torch.device("cpu")
        else:
            raise UserError(f"config: key 'device': expected auto, cpu, cuda or cuda:N, got {device_pref!r}")
        if self.world > 1 and not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.main = self.rank == 0

    @property
    def name(self) -> str:
        return torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"

    def barrier(self):
        if self.world > 1:
            torch.distributed.barrier()


@torch.no_grad()
def evaluate(model, val: torch.Tensor, autocast, chunk: int = 64) -> tuple[float, float]:
    """Mean validation CE (nats/token) and its standard error over sequences."""
    was_training = model.training
    model.eval()
    per_seq = []
    for i in range(0, len(val), chunk):
        tok = val[i:i + chunk]
        with autocast():
            logits = model(tok[:, :-1])  # (b, T, V)
        ce = F.cross_entropy(logits.float().transpose(1, 2), tok[:, 1:], reduction="none")  # (b, T)
        per_seq.append(ce.mean(1).double().cpu())
    model.train(was_training)
    s = torch.cat(per_seq)
    se = float(s.std(unbiased=True) / math.sqrt(len(s))) if len(s) > 1 else float("nan")
    return float(s.mean()), se


def train(cfg: TrainConfig, run_dir, *, resume: bool = True, run_id: str | None = None, progress: bool = True,
          stop_after: int | None = None) -> dict:
    """Train one run into `run_dir` and return its record (see the module docstring).

    If `record.json` exists the run is finished: it is returned without training. With
    `resume` and a checkpoint present, training continues from it. `stop_after` (testing and
    time slicing) stops after that many optimizer steps with a checkpoint and no record,
    returning {"status": "stopped", "step": ...}.
    """
    run_dir = Path(run_dir)
    rec_path = run_dir / "record.json"
    if rec_path.is_file():
        return json.loads(rec_path.read_text())
    cfg.validate()
    dist = _Distributed(cfg.device)
    dev = dist.device
    if dev.type == "cpu" and cfg.cpu_threads:
        torch.set_num_threads(cfg.cpu_threads)
    corpus = load_corpus(cfg.corpus, seed=cfg.corpus_seed, val_fraction=cfg.val_fraction)
    vocab = resolve_vocab(cfg, corpus.vocab_size)
    teacher = teacher_record = teacher_shape = None
    if cfg.role == "student":
        teacher, teacher_record, teacher_shape = load_teacher(cfg.teacher_dir, vocab, cfg.block_size, dev)
    plan = plan_run(cfg, vocab, teacher_shape, dist.world)
    run_id = run_id or default_run_id(cfg)
    split = cfg.effective_split()
    use_bf16 = cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and dev.type == "cuda")

    def autocast():
        return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16)

    torch.manual_seed(cfg.seed)
    raw_model = build_model(plan["shape"]).to(dev)
    counted = raw_model.count_params()
    assert counted["nonembedding"] == plan["params_nonembedding"] and counted["total"] == plan["params_total"]
    decay = [p for p in raw_model.parameters() if p.dim() >= 2]
    no_decay = [p for p in raw_model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=plan["lr"], betas=(cfg.beta1, cfg.beta2))
    model = raw_model
    if cfg.compile and dev.type == "cuda":
        model = torch.compile(model)
    if dist.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev] if dev.type == "cuda" else None)
    if teacher is not None and cfg.compile and dev.type == "cuda":
        teacher = torch.compile(teacher)

    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, metrics_path = run_dir / "checkpoint.pt", run_dir / "metrics.csv"
    start, timers, ema = 0, {"wall_s": 0.0, "train_s": 0.0, "train_tokens": 0}, {"ema": None, "best": None}
    if resume and ckpt_path.is_file():
        ck = torch.load(ckpt_path, map_location=dev, weights_only=False)
        raw_model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["rng"]["torch"])
        if dev.type == "cuda" and ck["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(ck["rng"]["cuda"], dev)
        start, timers, ema = ck["step"], ck["timers"], ck["divergence"]
    if dist.main:
        _atomic_json(run_dir / "config.json", {**cfg.to_dict(), "run_id": run_id, "shape": plan["shape"],
                                                "steps": plan["steps"], "D": plan["D"], "lr_peak": plan["lr"]})
        _truncate_metrics(metrics_path, start)
    log = _Log(run_dir / "train.log", progress and dist.main, enabled=dist.main)
    log(f"{run_id}: {cfg.role} N={plan['N']:,} (non-embedding) D={plan['D']:,} steps={plan['steps']} "
        f"{'resuming at step ' + str(start) if start else 'from scratch'} on {dist.name}")
    val = torch.from_numpy(corpus.validation(cfg.eval_tokens, cfg.block_size)).to(dev)
    steps, B, T = plan["steps"], cfg.batch_size, cfg.block_size

    def save_checkpoint(step):
        if dist.main:
            _atomic_torch_save(ckpt_path, {
                "model": raw_model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                "rng": {"torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None},
                "data_position": {"next_step": step, "key": "(seed, step, micro * world + rank, 0)"},
                "timers": timers, "divergence": ema})
        dist.barrier()

    status, val_loss, val_se = "ok", None, None
    session_t0 = time.perf_counter()
    wall0 = timers["wall_s"]
    with open(metrics_path, "a", newline="") if dist.main else open(os.devnull, "w") as mf:
        writer = csv.DictWriter(mf, METRIC_FIELDS)
        if dist.main and metrics_path.stat().st_size == 0:
            writer.writeheader()
        model.train()
        for step in range(start, steps):
            t0 = time.perf_counter()
            lr = lr_at(step, plan["lr"], plan["warmup_steps"], steps, cfg.min_lr_ratio)
            for g in opt.param_groups:
                g["lr"] = lr
            tot = {"loss": 0.0, "ce": 0.0, "kl": 0.0}
            for micro in range(cfg.grad_accum):
                # micro-batch slot of the global batch: world W with accumulation A draws the same
                # slots 0..W*A-1 as one process with accumulation W*A (the trailing 0 keeps the
                # single-process key as it was)
                slot = micro * dist.world + dist.rank
                tok = torch.from_numpy(corpus.batch(split, (cfg.seed, step, slot, 0), B, T)).to(dev)
                x, y = tok[:, :-1], tok[:, 1:]  # (B, T) each
                t_logits = None
                if teacher is not None:
                    with torch.no_grad(), autocast():
                        t_logits = teacher(x)  # (B, T, V)
                sync = dist.world == 1 or micro == cfg.grad_accum - 1
                ctx = model.no_sync() if not sync else _nullcontext()
                with ctx:
                    with autocast():
                        logits = model(x)  # (B, T, V)
                    loss, parts = distill_loss(logits, y, t_logits, lam=cfg.distill_lambda, tau=cfg.distill_tau,
                                               topk=cfg.distill_topk, z_loss=cfg.z_loss)
                    (loss / cfg.grad_accum).backward()
                tot["loss"] += float(loss.detach()) / cfg.grad_accum
                tot["ce"] += float(parts["ce"]) / cfg.grad_accum
                tot["kl"] += float(parts["kl"]) / cfg.grad_accum
            if dist.world > 1:  # log and judge the global batch's mean, so every rank agrees on divergence
                parts_t = torch.tensor([tot["loss"], tot["ce"], tot["kl"]], dtype=torch.float64, device=dev)
                torch.distributed.all_reduce(parts_t)
                tot = dict(zip(("loss", "ce", "kl"), (parts_t / dist.world).tolist()))
            gnorm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(),
                                                   cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
            gnorm = float(gnorm)
            why = _diverged(tot["ce"], gnorm, ema, step, plan["warmup_steps"], vocab)
            if why:
                status = "diverged"
                log(f"step {step + 1}: diverged ({why}); stopping")
                opt.zero_grad(set_to_none=True)
                writer.writerow(_row(step + 1, plan, lr, tot, gnorm, None, None, timers["wall_s"]))
                break
            opt.step()
            opt.zero_grad(set_to_none=True)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            dt = time.perf_counter() - t0
            timers["train_s"] += dt
            timers["train_tokens"] += plan["tokens_per_step"]
            timers["wall_s"] = wall0 + time.perf_counter() - session_t0
            last = step + 1 == steps
            ev = last or (cfg.eval_every and (step + 1) % cfg.eval_every == 0)
            v = se = None
            if ev:
                v, se = evaluate(raw_model, val, autocast)
                if not math.isfinite(v):
                    status = "diverged"
            writer.writerow(_row(step + 1, plan, lr, tot, gnorm, v, se, timers["wall_s"]))
            mf.flush()
            if ev or progress and (step + 1) % max(1, steps // 10) == 0:
                tps = timers["train_tokens"] / max(timers["train_s"], 1e-9)
                log(f"step {step + 1}/{steps} lr {lr:.2e} loss {tot['loss']:.4f} ce {tot['ce']:.4f}"
                    + (f" val {v:.4f}±{se:.4f}" if v is not None else "") + f" {tps:,.0f} tok/s")
            if status != "ok":
                log(f"step {step + 1}: validation loss is not finite; stopping")
                break
            if last:
                val_loss, val_se = v, se
                save_checkpoint(step + 1)
            elif cfg.ckpt_every and (step + 1) % cfg.ckpt_every == 0:
                save_checkpoint(step + 1)
            if stop_after is not None and step + 1 >= stop_after and not last:
                save_checkpoint(step + 1)
                log(f"stopped after step {step + 1} (stop_after); resume to continue")
                return {"status": "stopped", "step": step + 1, "run_id": run_id}
    timers["wall_s"] = wall0 + time.perf_counter() - session_t0

    tps = timers["train_tokens"] / timers["train_s"] if timers["train_s"] > 0 else None
    record = {
        "run_id": run_id, "role": cfg.role,
        "N": plan["N"], "N_kind": "non-embedding", "D": plan["D"],
        "loss": _finite_or_none(val_loss) if status == "ok" else None, "loss_kind": LOSS_KIND,
        "val_loss_stderr": _finite_or_none(val_se) if status == "ok" else None,
        "teacher_run_id": teacher_record["run_id"] if teacher_record else None,
        "N_T": teacher_record["N"] if teacher_record else None,
        "D_T": teacher_record["D"] if teacher_record else None,
        "L_T": teacher_record["loss"] if teacher_record else None,
        "params_nonembedding": plan["params_nonembedding"], "params_embedding": plan["params_embedding"],
        "params_total": plan["params_total"],
        "flops_6nd": plan["flops_6nd"], "flops_exact": plan["flops_exact"], "teacher_flops": plan["teacher_flops"],
        "tokens_per_s": tps,
        "mfu": compute_mfu(tps, plan["flops_exact"] / plan["D"], dist.name, dist.world) if tps else None,
        "device": dist.name, "seed": cfg.seed, "status": status, "wall_s": timers["wall_s"], "git_sha": git_sha(),
        # extras
        "corpus": getattr(corpus, "name", cfg.corpus), "split": split, "vocab_size": vocab,
        "loss_floor": corpus.optimal_loss(cfg.block_size) if isinstance(corpus, SyntheticCorpus) else None,
        "steps": plan["steps"], "tokens_per_step": plan["tokens_per_step"], "lr_peak": plan["lr"],
        "world_size": dist.world, **{k: plan["shape"][k] for k in ("n_layer", "d_model", "n_head", "d_ff")},
    }
    if dist.main:
        _atomic_json(rec_path, record)
    dist.barrier()
    log(f"{run_id}: {status}" + (f" val loss {record['loss']:.4f}" if record["loss"] is not None else "")
        + f" in {timers['wall_s']:.1f}s")
    return record


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _diverged(ce: float, gnorm: float, ema: dict, step: int, warmup: int, vocab: int) -> str | None:
    """Why the run has diverged, or None. Updates the EMA state in place."""
    if not math.isfinite(ce):
        return f"training loss is {ce}"
    if not math.isfinite(gnorm):
        return f"gradient norm is {gnorm}"
    ema["ema"] = ce if ema["ema"] is None else 0.9 * ema["ema"] + 0.1 * ce
    ema["best"] = ema["ema"] if ema["best"] is None else min(ema["best"], ema["ema"])
    limit = max(math.log(vocab), ema["best"]) + DIVERGENCE_MARGIN
    if step >= max(warmup, 10) and ema["ema"] > limit:
        return f"smoothed training loss {ema['ema']:.3f} > {limit:.3f}"
    return None


def _row(step, plan, lr, tot, gnorm, v, se, elapsed) -> dict:
    return {"step": step, "tokens": step * plan["tokens_per_step"], "lr": f"{lr:.6g}", "loss": f"{tot['loss']:.6g}",
            "ce": f"{tot['ce']:.6g}", "kl": f"{tot['kl']:.6g}", "grad_norm": f"{gnorm:.6g}",
            "val_loss": "" if v is None else f"{v:.6g}", "val_loss_stderr": "" if se is None else f"{se:.6g}",
            "elapsed_s": f"{elapsed:.3f}"}


def _truncate_metrics(path: Path, step: int) -> None:
    """Keep only rows up to `step` (a resumed run rewrites the steps after its checkpoint)."""
    if not path.is_file():
        path.write_text("")
        return
    if step == 0:
        path.write_text("")
        return
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, METRIC_FIELDS)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


class _Log:
    def __init__(self, path: Path, echo: bool, enabled: bool = True):
        self.path, self.echo, self.enabled = path, echo, enabled

    def __call__(self, msg: str) -> None:
        if not self.enabled:
            return
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        with open(self.path, "a") as f:
            f.write(line + "\n")
        if self.echo:
            print(line, file=sys.stderr, flush=True)
