"""A known loss floor (the runs' `loss_floor` column) against the fitted E, and the fitting
options of a distillation fit, which shape its stage-1 supervised law."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from scalelaw.errors import ScalelawWarning, UserError
from scalelaw.fit.run import run_fit, warn_below_floor
from scalelaw.fit.spec import FitSpec
from scalelaw.runs import from_frame

from conftest import DATA, assert_one_line_error

STUDY = DATA / "cpu-distill-study.csv"


@pytest.fixture(scope="module")
def supervised_study(tmp_path_factory):
    """The study's supervised and teacher runs: they prefer E far below the corpus's floor."""
    df = pd.read_csv(STUDY)
    df = df[df["role"] != "student"].reset_index(drop=True)
    p = tmp_path_factory.mktemp("floor") / "sup.csv"
    df.to_csv(p, index=False)
    return p, float(df["loss_floor"].max())


def _floor_warnings(caught):
    return [w for w in caught if issubclass(w.category, ScalelawWarning) and "loss floor" in str(w.message)]


def test_fit_below_floor_warns_and_fixing_e_silences_it(supervised_study):
    path, floor = supervised_study
    assert floor == pytest.approx(2.2363, abs=1e-4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        doc, fit = run_fit(path, law="chinchilla", n_starts=64)
    assert fit.params["E"] < floor
    hits = _floor_warnings(caught)
    assert len(hits) == 1 and f"--fix E={floor:.5g}" in str(hits[0].message)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        doc, fixed = run_fit(path, law="chinchilla", n_starts=64, fix=f"E={floor}")
    assert fixed.params["E"] == floor
    assert not _floor_warnings(caught)


def test_no_floor_column_no_warning():
    df = pd.DataFrame({"N": [1e6, 1e7], "D": [1e8, 1e9], "loss": [3.0, 2.5]})

    class Fake:
        params = {"E": 0.1}
        spec = FitSpec(law="chinchilla")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_below_floor(Fake(), from_frame(df).df)
        warn_below_floor(Fake(), df.assign(loss_floor=0.05))  # E above the floor: nothing to say
    assert not _floor_warnings(caught)


def test_distill_fix_names_stage1_parameters(run_cli):
    # A name that is not a parameter of the stage-1 law is refused before any fitting starts.
    proc = run_cli("fit", STUDY, "--law", "distill", "--fix", "c1=3")
    assert_one_line_error(proc, "stage-1", "c1")
    proc = run_cli("validate", STUDY, "--laws", "distill", "--holdout-largest", "1", "--fix", "c1=3")
    assert_one_line_error(proc, "stage-1", "c1")
    with pytest.raises(UserError, match="stage-1"):
        run_fit(STUDY, law="distill", fix="gamma=0.5", supervised_law="chinchilla")


@pytest.mark.slow
def test_distill_fix_reaches_stage1():
    floor = float(pd.read_csv(STUDY)["loss_floor"].max())
    doc, fit = run_fit(STUDY, law="distill", fix=f"E={floor}")
    assert fit.supervised.params["E"] == floor
    assert dict(fit.supervised.spec.fixed) == {"E": floor}
