"""Integration (slow): on the default corpus a student distilled from a larger trained teacher beats the
same student trained supervised on the same small token budget (Busbridge et al. 2025, Fig. 1 regime)."""

import pytest

pytest.importorskip("torch")

from scalelaw.train import TrainConfig, train  # noqa: E402


@pytest.mark.slow
def test_distilled_student_beats_supervised_at_small_budget(tmp_path):
    common = dict(eval_tokens=8192, ckpt_every=0, batch_size=16)
    teacher = train(TrainConfig(role="teacher", n_layer=2, d_model=96, n_head=6, tokens=1_000_000, **common),
                    tmp_path / "teacher", progress=False)
    student = dict(n_layer=1, d_model=32, n_head=2, tokens=100_000, split="student", **common)
    sup = train(TrainConfig(role="supervised", **student), tmp_path / "sup", progress=False)
    kd = train(TrainConfig(role="student", teacher_dir=str(tmp_path / "teacher"), **student), tmp_path / "kd",
               progress=False)
    print(f"\nteacher N={teacher['N']} D={teacher['D']} L_T={teacher['loss']:.4f}; student N={sup['N']} "
          f"D={sup['D']}: supervised {sup['loss']:.4f}±{sup['val_loss_stderr']:.4f}, "
          f"distilled {kd['loss']:.4f}±{kd['val_loss_stderr']:.4f}; floor {sup['loss_floor']:.4f}")
    assert teacher["loss"] < sup["loss"]
    assert kd["loss"] < sup["loss"]
