"""The distillation study's figures of measured runs draw what the run file holds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalelaw import plot

from conftest import DATA


@pytest.fixture(scope="module")
def study():
    df = pd.read_csv(DATA / "cpu-distill-study.csv")
    return df[df["role"] == "student"], df[df["role"] == "supervised"]


def _lines(ax):
    return {ln.get_label(): (np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float))
            for ln in ax.get_lines()}


def test_students_vs_D_panels_are_group_means(study):
    students, supervised = study
    fig = plot.plot_runs_students_vs_D(students, supervised)
    axes = fig.axes
    sizes = sorted(students["N"].unique())
    assert len(axes) == len(sizes)
    n = sizes[1]
    lines = _lines(axes[1])
    sup = supervised[supervised["N"] == n].groupby("D")["loss"].mean()
    np.testing.assert_allclose(lines["supervised"][1], sup.values)
    lt = sorted(students["L_T"].unique())[0]
    g = students[(students["N"] == n) & (students["L_T"] == lt)].groupby("D")["loss"].mean()
    x, y = lines[f"teacher L_T={lt:.3f}"]
    np.testing.assert_allclose(x, g.index.to_numpy(float))
    np.testing.assert_allclose(y, g.values)


def test_distilled_minus_supervised_is_the_difference(study):
    students, supervised = study
    fig = plot.plot_runs_distilled_minus_supervised(students, supervised)
    n = sorted(students["N"].unique())[-1]
    lt = sorted(students["L_T"].unique())[-1]  # the weakest teacher: distillation loses at large D_S
    x, y = _lines(fig.axes[-1])[f"L_T={lt:.3f}"]
    sup = supervised[supervised["N"] == n].groupby("D")["loss"].mean()
    g = students[(students["N"] == n) & (students["L_T"] == lt)].groupby("D")["loss"].mean()
    common = g.index[g.index.isin(sup.index)]
    np.testing.assert_allclose(x, common.to_numpy(float))
    np.testing.assert_allclose(y, g.loc[common].values - sup.loc[common].values)
    assert y[-1] > 0


def test_capacity_gap_panels(study, tmp_path):
    students, _ = study
    out = tmp_path / "gap.png"
    plot.plot_runs_capacity_gap(students, out)
    assert out.stat().st_size > 1000
    fig = plot.plot_runs_capacity_gap(students)
    d = sorted(students["D"].unique())[-1]
    lines = _lines(fig.axes[-1])
    x, y = lines["L_S = L_T"]
    np.testing.assert_allclose(x, y)
    assert len(lines) == students[np.isclose(students["D"], d)]["N"].nunique() + 1
