"""Malformed input to `scalelaw fit` / `predict`: one clear line on stderr, exit code 2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, assert_one_line_error
from scalelaw.errors import UserError
from scalelaw.runs import load_runs

GOOD = "N,D,loss\n1e8,2e9,3.1\n2e8,4e9,2.9\n4e8,8e9,2.7\n8e8,1.6e10,2.5\n1.6e9,3.2e10,2.4\n3.2e9,6.4e10,2.3\n"


def _write(tmp_path, text, name="runs.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


CASES = [
    ("empty", "", ["empty"]),
    ("semicolons", "N;D;loss\n1e8;2e9;3.1\n", ["missing column", "comma-separated"]),
    ("no loss", "N,D\n1e8,2e9\n", ["'loss'"]),
    ("text in N", "N,D,loss\n1e8,2e9,3.1\nbig,4e9,2.9\n", ["line 3", "'N'", "big"]),
    ("negative D", "N,D,loss\n1e8,2e9,3.1\n2e8,-4e9,2.9\n", ["line 3", "'D'", "positive"]),
    ("all NaN loss", "N,D,loss\n1e8,2e9,nan\n2e8,4e9,\n", ["no usable runs"]),
    ("zero loss", "N,D,loss\n1e8,2e9,0\n", ["line 2", "'loss'"]),
    ("duplicate ids", "run_id,N,D,loss\na,1e8,2e9,3.1\na,2e8,4e9,2.9\n", ["duplicate run id", "'a'"]),
    ("bad status", "N,D,loss,status\n1e8,2e9,3.1,great\n", ["'status'", "great"]),
]


@pytest.mark.parametrize("name,text,needles", CASES, ids=[c[0] for c in CASES])
def test_malformed_csv(run_cli, tmp_path, name, text, needles):
    p = _write(tmp_path, text)
    assert_one_line_error(run_cli("fit", p, "--json"), str(p) if text else "", *needles)


def test_missing_file(run_cli, tmp_path):
    assert_one_line_error(run_cli("fit", tmp_path / "nope.csv"), "no such file")


@pytest.mark.parametrize("command", ["fit", "validate"])
@pytest.mark.parametrize("kind, message", [("missing", "no such file"), ("directory", "is a directory"),
                                           ("empty", "file is empty")])
def test_a_bad_path_is_refused_before_the_heavy_imports(tmp_path, command, kind, message):
    path = {"missing": tmp_path / "nope.csv", "directory": tmp_path, "empty": _write(tmp_path, "")}[kind]
    prog = (f"import sys; from scalelaw import cli; sys.argv = ['scalelaw', {command!r}, {str(path)!r}]\n"
            "try:\n    cli.main()\nexcept SystemExit as e:\n"
            "    print(e.code, 'jax' in sys.modules, 'pandas' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=120)
    assert p.stdout.split() == ["2", "False", "False"], p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"scalelaw: error: {path}: {message}"), p.stderr


def test_unknown_law(run_cli, tmp_path):
    assert_one_line_error(run_cli("fit", _write(tmp_path, GOOD), "--law", "kaplan"), "unknown law", "chinchilla")


def test_where_matches_nothing(run_cli, tmp_path):
    assert_one_line_error(run_cli("fit", _write(tmp_path, GOOD), "--where", "N > 1e12"), "matches no rows")


def test_where_syntax_error(run_cli, tmp_path):
    assert_one_line_error(run_cli("fit", _write(tmp_path, GOOD), "--where", "N >> < 3"), "--where")


def test_where_unknown_column(run_cli, tmp_path):
    assert_one_line_error(run_cli("fit", _write(tmp_path, GOOD), "--where", "dataset == 'x'"), "--where", "dataset")


def test_mixed_n_kinds(run_cli):
    assert_one_line_error(run_cli("fit", DATA / "porian2024_isoflop.csv"), "kinds of N", "--where")


def test_predict_bad_inputs(run_cli):
    assert_one_line_error(run_cli("predict", "epoch-chinchilla", "--N", "-5", "--D", "1e10"), "--N")
    assert_one_line_error(run_cli("predict", "no-such-fit", "--N", "1e9", "--D", "1e10"), "no such fit file")
    assert_one_line_error(run_cli("predict", "busbridge2025", "--N", "1e9", "--D", "1e10"), "--teacher-loss")


def test_nan_losses_excluded_with_warning(tmp_path):
    p = _write(tmp_path, GOOD + "6.4e9,1.3e11,nan\n")
    with pytest.warns(UserWarning, match="NaN/inf loss"):
        runs = load_runs(p)
    assert len(runs) == 6 and runs.excluded


def test_diverged_runs_excluded_with_warning(tmp_path):
    text = "N,D,loss,status\n" + "".join(f"{l.strip()},ok\n" for l in GOOD.splitlines()[1:]) + "1e10,1e11,9.9,diverged\n"
    with pytest.warns(UserWarning, match="status != ok"):
        runs = load_runs(_write(tmp_path, text))
    assert len(runs) == 6


def test_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    df = pd.read_csv(DATA / "gadre2024_overtraining.csv")
    df.to_parquet(tmp_path / "g.parquet")
    runs = load_runs(tmp_path / "g.parquet", where="dataset == 'c4_original'")
    assert len(runs) == int((df.dataset == "c4_original").sum())


def test_where_filter_and_line_numbers():
    runs = load_runs(DATA / "gadre2024_overtraining.csv", where="dataset == 'c4_original' and N < 5e8")
    assert (runs.df["N"] < 5e8).all() and set(runs.df["dataset"]) == {"c4_original"}
    # kept rows still know their file line for messages
    assert runs.where_line(0).startswith(str(DATA / "gadre2024_overtraining.csv"))


def test_all_public_datasets_load():
    subsets = {
        "chinchilla_epoch.csv": None,
        "gadre2024_overtraining.csv": None,
        "li2025_misfitting.csv": "best_lr_for_ND",
        "mcleish2025_gemstones_cooldown.csv": None,
        "porian2024_isoflop.csv": "recommended_for_chinchilla_fit",
    }
    for f, where in subsets.items():
        runs = load_runs(DATA / f, where=where)
        assert len(runs) > 50 and np.isfinite(runs.column("loss")).all(), f
        with pytest.raises(UserError):
            load_runs(DATA / f, where="N < 0")
