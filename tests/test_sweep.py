"""Sweep specs, the result store and the local executor (with a fast stand-in trainer).

Oracles: parameter counts from scalelaw.flops.param_counts on the shape the config resolves to
(budgets D = k N and C = 6 N D are checked against them), the file system (records, events),
and pandas reading runs.csv back. Bad input goes through the CLI in a subprocess.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from scalelaw.errors import UserError
from scalelaw.flops import param_counts
from scalelaw.runs import load_runs
from scalelaw.sweep import Store, load_spec, parse_spec, run_local
from scalelaw.train.config import TrainConfig

TESTS = str(Path(__file__).parent)
sys.path.insert(0, TESTS)
import test_sweep_fake  # noqa: E402

SPEC = """
[sweep]
name = "unit"
seeds = [0]

[train]
block_size = 16
batch_size = 4
vocab_size = 64
device = "cpu"

[distill]
lambda = 0.5
tau = 2.0

[[supervised]]
sizes = [2e4, 5e4]
tokens_per_param = [2, 4]

[[supervised]]
shapes = [{n_layer = 2, d_model = 32, n_head = 2}]
flops = [1e11]

[teachers.big]
size = 5e4
tokens = 2e5

[teachers.small]
size = 2e4
tokens = 1e5

[[students]]
teachers = ["big", "small"]
sizes = [1e4]
tokens = [2e4, 4e4]
"""


def write_spec(tmp_path, text=SPEC, name="spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture
def fake_env(monkeypatch):
    for k, v in test_sweep_fake.env(TESTS, FAKE_STEPS=3, FAKE_STEP_S=0.001).items():
        monkeypatch.setenv(k, v)


def nonemb(cfg: dict) -> int:
    tc = TrainConfig.from_dict(cfg)
    s = tc.resolve_shape(64)
    return param_counts(s["n_layer"], s["d_model"], s["d_ff"], s["n_head"], 64)["nonembedding"]


# ---------------------------------------------------------------- specs


def test_spec_expands_grid_and_budgets(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    roles = [r.role for r in spec.runs]
    assert roles.count("supervised") == 4 + 1 and roles.count("teacher") == 2 and roles.count("student") == 4
    for r in spec.runs:
        N = nonemb(r.config)
        assert r.N == N
        if r.group == "supervised #1":
            assert r.D in (int(2 * N), int(4 * N))
        if r.group == "supervised #2":  # isoFLOP: 6 N D = C
            assert abs(6 * N * r.D - 1e11) / 1e11 < 1e-6
    teachers = {r.run_id: r for r in spec.runs if r.role == "teacher"}
    students = [r for r in spec.runs if r.role == "student"]
    assert {s.teacher for s in students} == set(teachers)
    assert all(s.config["distill_lambda"] == 0.5 and s.config["distill_tau"] == 2.0 for s in students)
    # student FLOPs include the teacher forward: more than the same student's own training
    for s in students:
        assert s.estimate["flops"] > s.estimate["flops_6nd"]


def test_run_ids_are_deterministic_and_config_sensitive(tmp_path):
    a = [r.run_id for r in load_spec(write_spec(tmp_path)).runs]
    b = [r.run_id for r in load_spec(write_spec(tmp_path, name="again.toml")).runs]
    assert a == b and len(set(a)) == len(a)
    c = [r.run_id for r in load_spec(write_spec(tmp_path, SPEC.replace("batch_size = 4", "batch_size = 8"), "c.toml")).runs]
    assert not set(a) & set(c)
    # device does not change what a run computes
    d = [r.run_id for r in load_spec(write_spec(tmp_path, SPEC.replace('device = "cpu"', 'device = "auto"'), "d.toml")).runs]
    assert d == a


@pytest.mark.parametrize("bad, needle", [
    ('[sweep]\nname = "x"\nbogus = 1\n[[supervised]]\nsizes=[1e4]\ntokens=[1e5]\n', "unknown key 'bogus' in [sweep]"),
    ('[sweep]\nname = "x"\n[train]\nlearning_rate = 1\n[[supervised]]\nsizes=[1e4]\ntokens=[1e5]\n', "learning_rate"),
    ('[sweep]\nname = "x"\n[[supervised]]\nsizes=[1e4]\n', "needs exactly one of tokens"),
    ('[sweep]\nname = "x"\n[teachers.a]\nsize=1e4\ntokens=1e5\n[[students]]\nteachers=["b"]\nsizes=[1e4]\ntokens=[1e5]\n',
     "names teacher 'b', which is not in the grid"),
])
def test_bad_specs_raise_user_error(bad, needle):
    with pytest.raises(UserError, match=None) as e:
        import tomllib

        parse_spec(tomllib.loads(bad), "s.toml", bad)
    assert needle in str(e.value)


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "scalelaw.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def one_error_line(res) -> str:
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("scalelaw: error:"), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


def run_main(capsys, monkeypatch, *args) -> tuple[int, str, str]:
    """The console entry point in-process: (exit code, stdout, stderr)."""
    from scalelaw.cli import main

    monkeypatch.setattr(sys, "argv", ["scalelaw", *args])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code or 0
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_cli_bad_input_one_line_exit_2_and_results_untouched(tmp_path, fake_env, capsys, monkeypatch):
    small = '[sweep]\nname = "one"\n[train]\nblock_size=16\nbatch_size=4\nvocab_size=64\n[[supervised]]\nsizes=[1e4]\ntokens=[2e4]\n'
    good = write_spec(tmp_path, small, "one.toml")
    out = tmp_path / "out"
    assert run_local(load_spec(good), out, workers=1, progress=False)["counts"]["done"] == 1
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    cases = {
        "unknown": (small.replace("[train]", "[train]\nwarmup = 3"), "unknown key 'warmup'"),
        "teacher": (small + '[[students]]\nteachers=["ghost"]\nsizes=[1e4]\ntokens=[2e4]\n', "'ghost'"),
        "budget": (small.replace("tokens=[2e4]", "tokens=[10]"), "fewer than one batch"),
        "other": (small.replace('name = "one"', 'name = "two"'), "holds sweep 'one'"),
    }
    for key, (text, needle) in cases.items():
        spec = write_spec(tmp_path, text, f"{key}.toml")
        code, _, stderr = run_main(capsys, monkeypatch, "sweep", "run", str(spec), "--out", str(out))
        line = one_error_line(subprocess.CompletedProcess([], code, "", stderr))
        assert needle in line, line
        assert "line" in line or key == "other", line
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    # the real console script in a subprocess: same single line and exit code 2
    one_error_line(cli("sweep", "plan", str(tmp_path / "teacher.toml")))


def test_plan_json_is_one_document(tmp_path):
    res = cli("sweep", "plan", str(write_spec(tmp_path)), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["n_runs"] == 11
    assert doc["total_flops"] == pytest.approx(sum(r["flops"] for r in doc["runs"]))


# ---------------------------------------------------------------- store and local executor


def test_local_sweep_orders_students_after_teachers_and_skips_on_rerun(tmp_path, fake_env):
    spec = load_spec(write_spec(tmp_path))
    out = tmp_path / "out"
    summary = run_local(spec, out, workers=2, progress=False)
    assert summary["counts"]["done"] == len(spec.runs)
    store = Store(out)
    for r in spec.runs:
        ev = store.events(r.run_id)
        assert [e["event"] for e in ev] == ["start", "finish"]
        if r.teacher:
            t_finish = [e["t"] for e in store.events(r.teacher) if e["event"] == "finish"][0]
            assert ev[0]["t"] >= t_finish
            cfg = json.loads((store.run_dir(r.run_id) / "config.json").read_text())
            assert Path(cfg["teacher_dir"]) == store.run_dir(r.teacher).resolve()
    runs = load_runs(out / "runs.csv", need=("N", "D", "loss"))
    assert sorted(runs.df["run_id"]) == sorted(r.run_id for r in spec.runs)
    run_local(spec, out, workers=2, progress=False)  # everything is finished: nothing retrains
    assert all([e["event"] for e in store.events(r.run_id)] == ["start", "finish"] for r in spec.runs)


def test_failed_teacher_blocks_its_students_and_status_reports_it(tmp_path, fake_env, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_FAIL_ROLE", "teacher")
    spec = load_spec(write_spec(tmp_path))
    out = tmp_path / "out"
    summary = run_local(spec, out, workers=1, progress=False)
    assert summary["counts"] == {"done": 5, "running": 0, "failed": 2, "diverged": 0, "blocked": 4, "pending": 0}
    code, stdout, _ = run_main(capsys, monkeypatch, "sweep", "status", str(out), "--json")
    doc = json.loads(stdout)
    assert code == 0 and doc["counts"]["failed"] == 2 and doc["counts"]["blocked"] == 4
    reasons = {r["run_id"]: r.get("reason", "") for r in doc["runs"]}
    assert all("injected failure" in reasons[r.run_id] for r in spec.runs if r.role == "teacher")
    assert all(reasons[r.run_id].startswith("teacher ") for r in spec.runs if r.role == "student")
    monkeypatch.delenv("FAKE_FAIL_ROLE")  # the fault is fixed: a re-run retries the failed runs
    assert run_local(spec, out, workers=2, progress=False)["counts"]["done"] == len(spec.runs)


def _finish_at(root: str, run_id: str, barrier, q) -> None:
    from scalelaw.sweep.worker import execute_run

    barrier.wait()
    q.put(execute_run(root, run_id))


def test_simultaneous_finishes_keep_every_row(tmp_path, fake_env):
    """Six real (spawned) processes finish six runs at the same instant into one store."""
    text = SPEC.split("[[supervised]]")[0] + "[[supervised]]\nsizes = [1e4, 2e4]\ntokens = [2e4, 3e4, 4e4]\n"
    spec = load_spec(write_spec(tmp_path, text))
    out = tmp_path / "out"
    Store(out).prepare(spec)
    ctx = mp.get_context("spawn")  # not fork: other tests load JAX, whose threads make fork unsafe
    barrier, q = ctx.Barrier(len(spec.runs)), ctx.Queue()
    procs = [ctx.Process(target=_finish_at, args=(str(out), r.run_id, barrier, q)) for r in spec.runs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    assert sorted(q.get() for _ in procs) == ["done"] * len(procs)
    df = pd.read_csv(out / "runs.csv")
    assert len(df) == len(spec.runs) and df["run_id"].is_unique
    assert set(df["run_id"]) == {r.run_id for r in spec.runs}


def test_busy_run_is_not_trained_twice(tmp_path, fake_env):
    from scalelaw.sweep.store import flocked
    from scalelaw.sweep.worker import execute_run

    spec = load_spec(write_spec(tmp_path))
    out = tmp_path / "out"
    store = Store(out)
    store.prepare(spec)
    rid = spec.runs[0].run_id
    with flocked(store.run_dir(rid) / ".lock"):
        assert store.state(rid) == "running"
        assert execute_run(out, rid) == "busy"
    assert execute_run(out, rid) == "done" and execute_run(out, rid) == "done"
    assert [e["event"] for e in store.events(rid)] == ["start", "finish", "skip"]


def test_plan_estimates_match_the_trainers_own(tmp_path):
    """The torch-free estimate used by `sweep plan` equals scalelaw.train.run.estimate_run."""
    from scalelaw.train.config import TrainConfig
    from scalelaw.train.estimate import estimate_run

    spec = load_spec(write_spec(tmp_path))
    by_id = {r.run_id: r for r in spec.runs}
    for r in spec.runs:
        tcfg = TrainConfig.from_dict(by_id[r.teacher].config) if r.teacher else None
        cfg = dict(r.config)
        if r.teacher:
            cfg["teacher_dir"] = str(tmp_path / "nowhere")
        ref = estimate_run(TrainConfig.from_dict(cfg), teacher_cfg=tcfg)
        assert r.N == ref["params_nonembedding"]
        assert r.estimate["steps"] == ref["steps"]
        assert r.estimate["flops"] == pytest.approx(ref["flops_exact"], rel=1e-12)
