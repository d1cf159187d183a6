"""Synthetic distillation runs: design sizes, the law they were drawn from, the noise level."""

import numpy as np
import pandas as pd

from scalelaw.runs import load_runs, resolve_teachers, write_runs
from scalelaw.synth import synth_distill
from conftest import busbridge_student_np, busbridge_supervised_np


sup_np, student_np = busbridge_supervised_np, busbridge_student_np


def test_designs_and_counts():
    df = synth_distill(seed=0)
    st = df[df.role == "student"]
    assert 650 <= len(st) <= 750
    assert st["design"].str[0].value_counts().to_dict().keys() == {"1", "2", "3"}
    assert set(df.role) == {"supervised", "teacher", "student"}
    m = (st.D / st.N).round(6)
    d3 = st[st.design.str.startswith("3")]
    assert set((d3.D / d3.N).round(6)) == {20, 40, 80, 160, 320}
    assert np.allclose(st[st.design.str.startswith("2")].eval("D / N"), 20)
    assert (st.loss < 2.3).sum() > 50 and (st.loss >= 2.3).sum() > 300
    assert df.run_id.is_unique and (df.N_kind == "non-embedding").all()
    assert m.min() > 0


def test_noise_free_losses_follow_the_published_law():
    df = synth_distill(noise=0.0, seed=3)
    sup = df[df.role != "student"]
    np.testing.assert_allclose(sup.loss, sup_np(sup.N, sup.D), rtol=1e-10)
    st = df[df.role == "student"]
    teacher_loss = df.set_index("run_id").loc[st.teacher_run_id, "loss"].to_numpy()
    np.testing.assert_allclose(st.L_T, teacher_loss)
    np.testing.assert_allclose(st.loss, student_np(st.N, st.D, st.L_T), rtol=1e-10)


def test_noise_level_and_seed():
    a, b, c = synth_distill(noise=0.01, seed=1), synth_distill(noise=0.01, seed=1), synth_distill(noise=0.01, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.loss, c.loss)
    r = np.log(a.loss / a.true_loss)
    assert abs(r.std() - 0.01) < 0.001 and abs(r.mean()) < 0.001


def test_written_file_round_trips_with_teacher_linkage(tmp_path):
    df = synth_distill(seed=0)
    p = tmp_path / "runs.csv"
    write_runs(df.drop(columns=["L_T", "N_T", "D_T"]), p)  # only the teacher ids
    runs = load_runs(p)
    linked = resolve_teachers(runs.df, str(p))
    st = linked[linked.role == "student"].set_index("run_id")
    ref = df[df.role == "student"].set_index("run_id")
    np.testing.assert_allclose(st.loc[ref.index, "L_T"], ref.L_T, rtol=1e-12)
    np.testing.assert_allclose(st.loc[ref.index, "N_T"], ref.N_T, rtol=1e-12)


def test_cli_synth_distill_from_builtin_params_and_bad_params(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "runs.csv"
    cmd = [sys.executable, "-m", "scalelaw.cli", "synth", "distill", "--out", str(out), "--noise", "0"]
    r = subprocess.run(cmd + ["--params", "busbridge2025", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out)
    st = df[df.role == "student"]
    np.testing.assert_allclose(st.loss, student_np(st.N, st.D, st.L_T), rtol=1e-8)
    r = subprocess.run(cmd + ["--params", "epoch-chinchilla"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "expected a distillation fit" in r.stderr
