"""Held-out validation of the distillation law on students drawn from a known law.

Oracle: `synth_distill` draws students from Busbridge et al.'s Table 6 law with 0.3% noise, so a
correct validation predicts held-out students to about the noise level and its predictive
interval covers about its nominal share of them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from scalelaw.errors import UserError
from scalelaw.fit.validate_distill import validate_distill
from scalelaw.runs import write_runs
from scalelaw.synth import synth_distill

KEYS = {"law", "method", "heldout_mean_rel_err", "heldout_coverage", "interval_level", "heldout_median_halfwidth_rel"}


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory):
    p = tmp_path_factory.mktemp("vd") / "runs.csv"
    write_runs(synth_distill(noise=0.003, seed=1).drop(columns=["design", "true_loss"]), p)
    return p


@pytest.mark.slow
def test_held_out_largest_students_are_predicted_to_the_noise_level(runs_csv):
    doc = validate_distill(runs_csv, holdout_largest=1, n_boot=24, level=0.9)
    assert KEYS <= set(doc)
    assert doc["law"] == "distill" and doc["n_test"] > 10 and doc["n_train"] > 100
    assert doc["heldout_mean_rel_err"] < 0.01
    assert doc["heldout_coverage"] >= 0.7
    assert 0 < doc["heldout_median_halfwidth_rel"] < 0.02
    pts = doc["points"]
    assert min(p["N"] for p in pts) == max(p["N"] for p in pts)  # one (the largest) student size held out
    json.dumps(doc)


def test_holdout_filter_that_selects_no_or_every_student_is_a_user_error(runs_csv):
    with pytest.raises(UserError, match="selects no student"):
        validate_distill(runs_csv, holdout="loss < 0", n_boot=0)
    with pytest.raises(UserError, match="every student"):
        validate_distill(runs_csv, holdout="loss > 0", n_boot=0)


def test_cli_distill_validation_rejects_mixing_laws(runs_csv, run_cli):
    from conftest import assert_one_line_error

    r = run_cli("validate", runs_csv, "--laws", "distill,chinchilla")
    assert_one_line_error(r, "distillation law alone")
