"""The trainer: loss falls, exact resume, divergence, run records, students, CLI bad input."""

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scalelaw.flops import arch_forward_flops_per_token, param_counts  # noqa: E402
from scalelaw.runs import COLUMNS  # noqa: E402
from scalelaw.train import TrainConfig, estimate_run, train  # noqa: E402

TINY = dict(n_layer=1, d_model=32, n_head=2, batch_size=8, eval_tokens=2048, ckpt_every=0)


def _val_curve(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [(int(r["step"]), float(r["val_loss"])) for r in csv.DictReader(f) if r["val_loss"]]


def test_loss_falls_on_default_corpus(tmp_path):
    cfg = TrainConfig(**{**TINY, "d_model": 48, "n_head": 3}, tokens=40_000, eval_every=10)
    rec = train(cfg, tmp_path / "r", progress=False)
    curve = _val_curve(tmp_path / "r")
    assert rec["status"] == "ok" and set(COLUMNS) <= set(rec)
    assert rec["loss"] == pytest.approx(curve[-1][1], rel=1e-5)
    assert curve[-1][1] < curve[0][1] - 0.2
    assert rec["loss"] < math.log(64) - 0.5  # well below uniform guessing
    assert rec["loss"] > rec["loss_floor"]  # never below the exact Bayes floor
    # counts and FLOPs from scalelaw.flops
    pc = param_counts(1, 48, rec["d_ff"], 3, 64)
    assert (rec["params_nonembedding"], rec["params_embedding"], rec["params_total"]) == (
        pc["nonembedding"], pc["embedding"], pc["total"])
    assert rec["N"] == pc["nonembedding"] and rec["N_kind"] == "non-embedding"
    assert rec["flops_exact"] == 3 * arch_forward_flops_per_token(1, 48, rec["d_ff"], 64, 64) * rec["D"]
    assert rec["flops_6nd"] == 6 * rec["N"] * rec["D"]
    assert rec["mfu"] is None and rec["tokens_per_s"] > 0
    est = estimate_run(cfg)
    assert est["D"] == rec["D"] and est["flops_exact"] == rec["flops_exact"]


def test_finished_run_is_returned_without_training(tmp_path):
    cfg = TrainConfig(**TINY, tokens=2048)
    rec = train(cfg, tmp_path / "r", progress=False, run_id="abc")
    mtime = (tmp_path / "r" / "record.json").stat().st_mtime_ns
    again = train(TrainConfig(**TINY, tokens=10**9), tmp_path / "r", progress=False)
    assert again == json.loads(json.dumps(rec)) and rec["run_id"] == "abc"
    assert (tmp_path / "r" / "record.json").stat().st_mtime_ns == mtime


def test_interrupt_and_resume_gives_identical_final_loss(tmp_path):
    cfg = TrainConfig(**TINY, tokens=16 * 8 * 64, eval_every=5)
    full = train(cfg, tmp_path / "full", progress=False)
    part = train(cfg, tmp_path / "part", progress=False, stop_after=7)
    assert part["status"] == "stopped" and not (tmp_path / "part" / "record.json").exists()
    resumed = train(cfg, tmp_path / "part", progress=False, resume=True)
    assert resumed["loss"] == full["loss"]  # bitwise: same batches, same optimizer state
    assert _val_curve(tmp_path / "part") == _val_curve(tmp_path / "full")


def test_forced_nan_ends_run_as_diverged(tmp_path, monkeypatch):
    from scalelaw.train import model as model_mod

    orig = model_mod.GPT.forward
    calls = {"n": 0}

    def poisoned(self, idx):
        calls["n"] += 1
        out = orig(self, idx)
        return out * float("nan") if calls["n"] > 5 else out

    monkeypatch.setattr(model_mod.GPT, "forward", poisoned)
    rec = train(TrainConfig(**TINY, tokens=20 * 8 * 64), tmp_path / "r", progress=False)
    assert rec["status"] == "diverged" and rec["loss"] is None
    saved = json.loads((tmp_path / "r" / "record.json").read_text())
    assert saved["status"] == "diverged"
    assert "diverged" in (tmp_path / "r" / "train.log").read_text()


def test_student_records_teacher_and_its_flops(tmp_path):
    tdir = tmp_path / "teacher"
    teacher = train(TrainConfig(**{**TINY, "d_model": 48, "n_head": 3}, role="teacher", tokens=4096), tdir,
                    progress=False)
    cfg = TrainConfig(**TINY, role="student", tokens=4096, teacher_dir=str(tdir), distill_topk=8)
    est = estimate_run(cfg)
    rec = train(cfg, tmp_path / "student", progress=False)
    assert rec["status"] == "ok" and rec["split"] == "student" and teacher["split"] == "teacher"
    assert (rec["teacher_run_id"], rec["N_T"], rec["D_T"], rec["L_T"]) == (
        teacher["run_id"], teacher["N"], teacher["D"], teacher["loss"])
    f_t = arch_forward_flops_per_token(1, 48, teacher["d_ff"], 64, 64)
    f_s = arch_forward_flops_per_token(1, 32, rec["d_ff"], 64, 64)
    assert rec["teacher_flops"] == f_t * rec["D"]
    assert rec["flops_exact"] == pytest.approx(3 * f_s * rec["D"] + f_t * rec["D"], rel=1e-12)
    assert est["teacher_flops"] == rec["teacher_flops"]


class _Out:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _assert_one_line_error(out, *needles):
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scalelaw: error:"), out.stderr
    for n in needles:
        assert n in lines[0]
    assert "Traceback" not in out.stderr


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run `scalelaw train ...` in-process through the real entry point (exit code + streams)."""
    from scalelaw.cli import main

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["scalelaw", "train", *map(str, args)])
        with pytest.raises(SystemExit) as e:
            main()
        out = capsys.readouterr()
        return _Out(e.value.code or 0, out.out, out.err)

    return run


def test_cli_unknown_field(tmp_path, cli):
    p = tmp_path / "c.toml"
    p.write_text("tokens = 1000\nlerning_rate = 0.1\n")
    _assert_one_line_error(cli(p, "--out", tmp_path / "r"), "lerning_rate", str(p))


def test_cli_missing_and_empty_corpus(tmp_path, cli):
    p = tmp_path / "c.toml"
    p.write_text('corpus = "nowhere.txt"\n')
    _assert_one_line_error(cli(p, "--out", tmp_path / "r"), "nowhere.txt", "no such file")
    (tmp_path / "empty.txt").write_text("")
    p.write_text('corpus = "empty.txt"\n')
    _assert_one_line_error(cli(p, "--out", tmp_path / "r"), "empty")


def test_cli_teacher_student_vocab_mismatch(tmp_path, cli):
    tdir = tmp_path / "teacher"
    tdir.mkdir()
    shape = TrainConfig().resolve_shape(99)
    (tdir / "config.json").write_text(json.dumps({"shape": shape}))
    (tdir / "record.json").write_text(json.dumps({"status": "ok", "run_id": "t", "N": 1, "D": 1, "loss": 2.0}))
    (tdir / "checkpoint.pt").write_bytes(b"")
    p = tmp_path / "s.toml"
    p.write_text('role = "student"\nteacher_dir = "teacher"\ntokens = 1000\n')
    _assert_one_line_error(cli(p, "--out", tmp_path / "s"), "vocab_size 99", "student vocab_size 64")
    p.write_text('role = "student"\nteacher_dir = "no-teacher"\n')
    _assert_one_line_error(cli(p, "--out", tmp_path / "s2"), "no-teacher")


def test_cli_subprocess_trains_and_prints_one_json_record(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("n_layer = 1\nd_model = 32\nn_head = 2\ntokens = 1024\nbatch_size = 8\neval_tokens = 1024\n")
    out = subprocess.run([sys.executable, "-m", "scalelaw.cli", "train", str(p), "--out", str(tmp_path / "r"), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["status"] == "ok" and np.isfinite(rec["loss"])
    bad = tmp_path / "bad.toml"
    bad.write_text("tokens = [1, 2]\n")
    out = subprocess.run([sys.executable, "-m", "scalelaw.cli", "train", str(bad)], capture_output=True, text=True,
                         timeout=300)
    _assert_one_line_error(out, "'tokens'", "expected int")
