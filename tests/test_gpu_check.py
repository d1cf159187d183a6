"""benchmarks/gpu_check.py --dry: the GPU check's CPU smoke run (tiny shapes, a few steps).

The real check needs a CUDA device; here every part runs end to end on CPU: throughput at two
batch sizes with and without a teacher forward, and the reduced distillation sweep, whose records
must form a valid runs.csv (students linked to the teacher's record).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import gpu_check  # noqa: E402

from scalelaw.flops import arch_forward_flops_per_token, param_counts  # noqa: E402
from scalelaw.runs import load_runs  # noqa: E402


def test_gpu_check_dry_runs_every_part(tmp_path, monkeypatch):
    monkeypatch.delenv("SCALELAW_SWEEP_TRAIN", raising=False)  # the real trainer
    doc = gpu_check.main(["--dry", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "gpu_check.json").read_text())["device"] == "cpu"
    s = doc["shape"]
    fwd = arch_forward_flops_per_token(s["n_layer"], s["d_model"], s["d_ff"], s["vocab"], s["n_ctx"])
    for kind, per_token in (("supervised", 3 * fwd), ("distillation", 4 * fwd)):  # + the teacher's forward
        assert [r["batch"] for r in doc[kind]] == [2, 4]
        for r in doc[kind]:
            assert r["tokens_per_s"] > 0 and r["mfu"] is None  # no bf16 peak on CPU
            assert r["model_flops_per_token"] == pytest.approx(per_token)
    # the full-size check really is ~124M parameters
    g = gpu_check.GPT2_SMALL
    assert param_counts(g["n_layer"], g["d_model"], g["d_ff"], g["n_head"], g["vocab"])["total"] == pytest.approx(
        124e6, rel=0.01)
    assert doc["sweep"]["counts"]["done"] == 4
    df = load_runs(tmp_path / "sweep" / "runs.csv").df  # validates the schema
    assert sorted(df["role"]) == ["student", "student", "supervised", "teacher"]
    teacher = df[df["role"] == "teacher"]["run_id"].item()
    assert set(df[df["role"] == "student"]["teacher_run_id"]) == {teacher}
