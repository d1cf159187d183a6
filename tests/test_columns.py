"""Users' own run files: column mapping, loss units, file formats, tracker states.

The fixtures are the same 20 runs twice: `runs_ours.csv` in our schema with losses in nats, and
`wandb_export.csv` as a Weights & Biases "Export CSV" of a runs table (quoted headers with
slashes, losses in bits, crashed runs with empty cells, a failed and a running run).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import assert_one_line_error
from scalelaw.errors import ScalelawWarning, UserError
from scalelaw.runs import RunFormat, load_runs

FIX = Path(__file__).parent / "fixtures"
WANDB, OURS = FIX / "wandb_export.csv", FIX / "runs_ours.csv"
MAPPING = "N=params,D=tokens,loss=val/loss,run_id=Name,status=State"
WANDB_FMT = RunFormat.from_options(MAPPING, loss_unit="bits", n_kind="non-embedding")


def _wandb(path=WANDB, fmt=WANDB_FMT):
    with pytest.warns(ScalelawWarning, match="crashed: 2, failed: 1, running: 1"):
        return load_runs(path, fmt=fmt)


def _same_runs(a, b):
    assert list(a.df["run_id"]) == list(b.df["run_id"])
    for c in ("N", "D", "loss"):
        np.testing.assert_allclose(a.column(c), b.column(c), rtol=1e-14)


def test_wandb_export_loads_like_our_schema():
    with pytest.warns(ScalelawWarning, match="failed: 1"):
        ours = load_runs(OURS)
    theirs = _wandb()
    _same_runs(theirs, ours)
    assert theirs.n_kind == ours.n_kind == "non-embedding"
    # bits -> nats is x ln 2: check against the raw file, not our loader
    raw = pd.read_csv(WANDB)
    raw = raw[raw["State"] == "finished"]
    np.testing.assert_allclose(theirs.column("loss"), raw["val/loss"].to_numpy() * math.log(2), rtol=1e-15)


def test_fit_same_parameters_and_fit_file_records_format(run_cli, tmp_path):
    out = tmp_path / "fit.json"
    a = run_cli("fit", OURS, "--json", "--starts", "64")
    b = run_cli("fit", WANDB, "--json", "--starts", "64", "--columns", MAPPING, "--loss-unit", "bits",
                "--N-kind", "non-embedding", "--out", out)
    assert a.returncode == 0 and b.returncode == 0, (a.stderr[-2000:], b.stderr[-2000:])
    pa, pb = json.loads(a.stdout)["params"], json.loads(b.stdout)["params"]
    assert pa.keys() == pb.keys()
    for k in pa:
        assert pb[k] == pytest.approx(pa[k], rel=1e-9), k
    data = json.loads(out.read_text())["data"]
    assert data["columns"] == {"N": "params", "D": "tokens", "loss": "val/loss", "run_id": "Name", "status": "State"}
    assert data["loss_unit"] == "bits" and data["N_kind_declared"] == "non-embedding"
    assert "crashed: 2" in " ".join(data["excluded"])


BAD = [
    ("unknown column", "N=params,D=tokens,loss=val/los", ["'val/los'", "no column"]),
    ("mapped twice", "N=params,D=params,loss=val/loss", ["'params'", "mapped twice"]),
    ("non-numeric", "N=Notes,D=tokens,loss=val/loss,status=State", ["'Notes'", "line 2", "expected a number"]),
    ("unknown ours", "Nx=params,D=tokens,loss=val/loss", ["'Nx'", "unknown column name"]),
]


@pytest.mark.parametrize("name,mapping,needles", BAD, ids=[c[0] for c in BAD])
def test_bad_mapping_one_line_exit_2(run_cli, name, mapping, needles):
    assert_one_line_error(run_cli("fit", WANDB, "--json", "--columns", mapping), *needles)


def test_bad_mapping_library_errors_name_original_column():
    with pytest.raises(UserError, match=r"wandb_export.csv, line 2, column 'Notes' \(mapped to N\)"):
        load_runs(WANDB, fmt=RunFormat.from_options("N=Notes,D=tokens,loss=val/loss,status=State"))
    with pytest.raises(UserError, match="--loss-unit"):
        RunFormat(loss_unit="bit")


def test_empty_loss_of_a_finished_run_is_excluded_but_empty_N_is_an_error(tmp_path):
    # crashed runs may be empty anywhere; a finished run's N must be there
    p = tmp_path / "w.csv"
    text = WANDB.read_text().splitlines()
    bad = text[1].split(",")
    bad[8] = '""'
    p.write_text("\n".join([text[0], ",".join(bad)] + text[2:]) + "\n")
    with pytest.raises(UserError, match=r"line 2, column 'params' \(mapped to N\)"):
        load_runs(p, fmt=WANDB_FMT)


def test_tsv_parquet_jsonl_load_to_same_runs(tmp_path):
    ref = _wandb()
    raw = pd.read_csv(WANDB, dtype={"Tags": object})
    files = [tmp_path / "runs.tsv", tmp_path / "tabs.txt", tmp_path / "runs.jsonl", tmp_path / "runs.ndjson"]
    for f in files[:2]:
        raw.to_csv(f, sep="\t", index=False)
    for f in files[2:]:  # json.dumps keeps every digit (pandas' to_json rounds to 10)
        recs = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
                for r in raw.to_dict("records")]
        f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    if pytest.importorskip("pyarrow"):
        files.append(tmp_path / "runs.parquet")
        raw.to_parquet(files[-1])
    for f in files:
        _same_runs(_wandb(f), ref)


def test_jsonl_errors_count_lines_without_header(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text('{"params": 1e8, "tokens": 2e9, "val/loss": 3.0}\n{"params": "big", "tokens": 4e9, "val/loss": 2.9}\n')
    with pytest.raises(UserError, match=r"line 2, column 'params'"):
        load_runs(p, fmt=RunFormat.from_options("N=params,D=tokens,loss=val/loss"))


def test_columns_file(tmp_path, run_cli):
    toml = tmp_path / "wandb.toml"
    toml.write_text('loss_unit = "bits"\nN_kind = "non-embedding"\n[columns]\nN = "params"\nD = "tokens"\n'
                    'loss = "val/loss"\nrun_id = "Name"\nstatus = "State"\n')
    fmt = RunFormat.from_options(columns_file=toml)
    assert fmt.mapping == WANDB_FMT.mapping and fmt.loss_unit == "bits" and fmt.n_kind == "non-embedding"
    _same_runs(_wandb(fmt=fmt), _wandb())
    # the command line overrides one entry of the file
    assert RunFormat.from_options("loss=train/loss", columns_file=toml).mapping["loss"] == "train/loss"
    bad = tmp_path / "bad.toml"
    bad.write_text('[columns]\nN = "params"\nD = "params"\nloss = "val/loss"\n')
    assert_one_line_error(run_cli("fit", WANDB, "--json", "--columns-file", bad), "'params'", "mapped twice", "bad.toml")


def test_validate_takes_the_same_options(run_cli):
    p = run_cli("validate", WANDB, "--laws", "chinchilla", "--json", "--columns", "N=params,D=tokens,loss=val/los")
    assert_one_line_error(p, "'val/los'")


def test_distillation_runs_read_through_the_same_format(tmp_path):
    from scalelaw.fit.distill import split_roles

    src = Path(__file__).parents[1] / "data" / "synthetic_distill_busbridge2025.csv"
    df = pd.read_csv(src)
    theirs = tmp_path / "distill.tsv"
    renamed = df.rename(columns={"N": "params", "D": "tokens", "loss": "val/loss", "L_T": "teacher/loss"})
    for c in ("val/loss", "teacher/loss"):
        renamed[c] = renamed[c] / math.log(2)
    renamed.to_csv(theirs, sep="\t", index=False, float_format="%.17g")
    fmt = RunFormat.from_options("N=params,D=tokens,loss=val/loss,L_T=teacher/loss", loss_unit="bits")
    for a, b in zip(split_roles(theirs, fmt=fmt), split_roles(src)):
        for c in ("N", "D", "loss", "L_T"):
            np.testing.assert_allclose(a.column(c), b.column(c), rtol=1e-14, equal_nan=True)
        assert a.format == fmt
