"""Two-stage distillation fit: bad input through the CLI, recovery on synthetic data (slow)."""

import subprocess
import sys

import numpy as np
import pytest

from scalelaw.errors import UserError
from scalelaw.fit.distill import split_roles
from scalelaw.laws.busbridge import DISTILL, PUBLISHED_DISTILL
from scalelaw.synth import synth_distill

HEAD = "run_id,role,N,D,loss,teacher_run_id,L_T\nt1,teacher,1e9,2e10,2.3,,\n"
BAD = {
    "missing-teacher": (HEAD + "s1,student,1e8,2e9,2.9,t9,\n", ["line 3", "'s1'", "'t9'", "not a run_id"]),
    "teacher-without-loss": (HEAD.replace("2.3,,", ",,") + "s1,student,1e8,2e9,2.9,t1,\n",
                             ["line 3", "'s1'", "'t1'", "no usable loss"]),
    "no-teacher-at-all": (HEAD + "s1,student,1e8,2e9,2.9,,\n", ["line 3", "'s1'", "neither"]),
    "circular": (HEAD + "a,student,1e8,2e9,2.9,b,\nb,student,1e8,2e9,2.9,a,\n", ["circular", "'a' -> 'b' -> 'a'"]),
    "no-students": (HEAD, ["no usable runs with role student"]),
    "no-role": ("N,D,loss\n1e8,2e9,2.9\n", ["missing column 'role'"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_linkage_errors_exit_2_with_one_line(tmp_path, case):
    text, needles = BAD[case]
    p = tmp_path / "runs.csv"
    p.write_text(text)
    r = subprocess.run([sys.executable, "-m", "scalelaw.cli", "fit", str(p), "--law", "distill"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("scalelaw: error:"), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    assert r.stdout == ""


def test_student_of_a_student_warns_but_fits_roles(tmp_path):
    p = tmp_path / "runs.csv"
    p.write_text(HEAD + "s1,student,1e8,2e9,2.9,t1,\ns2,student,5e7,1e9,3.1,s1,\n")
    with pytest.warns(Warning, match="itself a student"):
        sup, stu = split_roles(p)
    assert len(sup) == 1 and list(stu.df.L_T) == [2.3, 2.9]


def test_unknown_supervised_law_is_a_user_error():
    from scalelaw.fit.distill import fit_distill

    with pytest.raises(UserError, match="not a supervised law"):
        fit_distill(synth_distill(seed=0), supervised_law="distill")


@pytest.mark.slow
def test_recovery_extrapolates_to_stronger_students_and_bootstrap_coverage():
    """Fit students with L_S >= 2.3 (as the paper); predict the held-out stronger ones."""
    from scalelaw.fit.distill import fit_distill

    df = synth_distill(noise=0.005, seed=11)
    fit = fit_distill(df, where="role != 'student' or loss >= 2.3", n_boot=100, seed=1)
    held = df[(df.role == "student") & (df.loss < 2.3)]
    assert len(held) > 50
    l_sup = fit.supervised.predict(N=held.N.to_numpy(), D=held.D.to_numpy())
    pred = fit.predict(N=held.N.to_numpy(), D=held.D.to_numpy(), L_T=held.L_T.to_numpy(), L_sup=l_sup)
    mre = float(np.mean(np.abs(pred / held.loss.to_numpy() - 1)))
    print(f"held-out students: {len(held)}, mean relative error {mre:.4%}")
    assert mre <= 0.005
    ci = fit.boot.ci(0.9)
    covered = {k: ci[k][0] <= PUBLISHED_DISTILL[k] <= ci[k][1] for k in PUBLISHED_DISTILL}
    print("90% CIs (lo, hi, true):", {k: (float(f"{ci[k][0]:.4g}"), float(f"{ci[k][1]:.4g}"), PUBLISHED_DISTILL[k]) for k in ci})
    print("covered:", covered)
    # The resamples start from the fit's 8 leading optima along the law's flat valley: at Table 6's
    # values the D_S term is <= 7% of the N_S term (and ~0.3% for most students), so A', alpha',
    # gamma', B', beta' trade against each other (and c1 against d1) at ~1e-5 relative change of the
    # objective; their intervals are wide (orders of magnitude for A', B', c1) and say so. Coverage
    # with a warm start at the point estimate only (boot_starts=1) was 2-5 of 9 on this design.
    nat = fit.boot.natural()
    P = PUBLISHED_DISTILL
    combos = {
        "alpha*gamma": (nat["alpha"] * nat["gamma"], P["alpha"] * P["gamma"]),
        "gamma*log A": (nat["gamma"] * np.log(nat["A"]), P["gamma"] * np.log(P["A"])),
    }
    # Those are pinned down to a few percent, but not always covered: where a resample switches the
    # D_S term off (B' -> 0, the data allow it) alpha' gamma' absorbs it (90% CI 0.223-0.243 vs 0.245)
    for k, (draws, true) in combos.items():
        lo, med, hi = np.percentile(draws, [5, 50, 95])
        print(f"{k}: 90% CI ({lo:.4f}, {hi:.4f}), median {med:.4f}, true {true:.4f}, covered {lo <= true <= hi}")
        assert abs(med / true - 1) < 0.1, k
    assert sum(covered.values()) >= 7, covered
    assert covered["f1"] and covered["c0"]


@pytest.mark.slow
def test_two_stage_bootstrap_varies_the_supervised_stage():
    import pandas as pd

    from scalelaw.fit.distill import fit_distill

    df = synth_distill(seed=0)
    data = pd.concat([df[df.role != "student"], df[df.role == "student"].sample(frac=0.3, random_state=0)])
    fit = fit_distill(data, where="role != 'student' or loss >= 2.3", n_boot=4, boot_supervised=True, seed=0)
    assert fit.boot.thetas.shape == (4, DISTILL.n_params) and np.all(np.isfinite(fit.boot.thetas))
    assert fit.boot.law is DISTILL and len(np.unique(fit.boot.thetas[:, 5])) == 4


def _students(n: int | None = 60, seed: int = 3):
    """Logs of n (None: all) synthetic students, Ltilde_S from the published supervised law."""
    from scalelaw.fit.distill import split_roles, student_logs
    from scalelaw.laws.busbridge import CHINCHILLA_GAMMA, PUBLISHED_SUPERVISED

    df = synth_distill(seed=seed)
    keep = df[df.role != "student"]
    import pandas as pd

    if n is not None:
        df = pd.concat([keep, df[df.role == "student"].sample(n=n, random_state=seed)], ignore_index=True)
    _, stu = split_roles(df)
    l_sup = CHINCHILLA_GAMMA.predict_natural(PUBLISHED_SUPERVISED, N=stu.column("N"), D=stu.column("D"))
    return student_logs(stu, l_sup)


def test_factorised_grid_objective_matches_the_generic_evaluation():
    """The product-form evaluation is the engine's objective on every grid point (oracle: the
    generic per-point evaluation, on a random sample of grid points)."""
    from scalelaw.fit.distill import grid_objectives
    from scalelaw.fit.solver import grid_objectives as generic

    logs, log_y = _students()
    grid = DISTILL.grid()
    f = grid_objectives(logs, log_y, delta=1e-4)
    assert f.shape == (len(grid),)
    idx = np.random.default_rng(0).choice(len(grid), size=3000, replace=False)
    idx = np.concatenate([idx, np.argsort(f)[:50]])  # and the best points, which pick the starts
    ref = generic(DISTILL, logs, log_y, grid[idx], delta=1e-4)
    ok = np.isfinite(ref)
    assert np.array_equal(ok, np.isfinite(f[idx]))
    np.testing.assert_allclose(f[idx][ok], ref[ok], rtol=1e-12)


def test_factorised_grid_chunks_points(monkeypatch):
    """A file larger than one chunk of points gives the same objectives as one chunk."""
    import scalelaw.fit.distill as distill

    logs, log_y = _students(50)
    whole = distill.grid_objectives(logs, log_y, delta=1e-4)
    monkeypatch.setattr(distill, "GRID_ROWS", 16)  # 50 rows -> 4 chunks of 13, two padded rows
    chunked = distill.grid_objectives(logs, log_y, delta=1e-4)
    ok = np.isfinite(whole)
    assert np.array_equal(ok, np.isfinite(chunked))
    np.testing.assert_allclose(chunked[ok], whole[ok], rtol=1e-12)


def test_closed_form_newton_steps_reach_the_autodiff_solvers_optima():
    """The solver takes the distillation law's closed-form derivatives; with them removed (a law
    built at run time, differentiated by jax) it must reach the same optima."""
    import dataclasses

    from scalelaw.fit import solve_multistart

    logs, log_y = _students(None)
    truth = DISTILL.from_natural(PUBLISHED_DISTILL)
    starts = truth + np.random.default_rng(2).normal(0, 0.05, size=(4, DISTILL.n_params))
    autodiff = dataclasses.replace(DISTILL, log_derivatives=None)
    ours = solve_multistart(DISTILL, logs, log_y, starts, delta=1e-3, max_iter=300)
    ref = solve_multistart(autodiff, logs, log_y, starts, delta=1e-3, max_iter=300)
    np.testing.assert_array_equal(ours.status, ref.status)
    # Both stop along the flat valley where an iteration gains < ftol = 1e-10 (relative) or no
    # candidate step gains at all, and where that happens depends on rounding: seen, closed-form
    # starts within 5e-9 of each other, and one autodiff start (of four) stalled 2.5e-7 above the
    # rest. Distinct optima differ by ~1e-5 (see `distill.leading_optima`). So: from every start
    # the closed form gets at least as low as autodiff (to 1e-8), and both find the same best.
    assert np.all(ours.objectives <= ref.objectives * (1 + 1e-8)), (ours.objectives, ref.objectives)
    np.testing.assert_allclose(ours.objectives.min(), ref.objectives.min(), rtol=1e-9)


def test_prepared_student_solvers_are_the_ones_the_search_runs(monkeypatch):
    """`prepare_students` builds, in the background, exactly the solvers that the race blocks,
    the polish and the one-start valley polish then call (no other compilation on their path)."""
    from scalelaw import _jax
    from scalelaw.fit.distill import MAX_ITER, N_POLISH, RACE_ITER, prepare_students
    from scalelaw.fit.solver import solve_multistart, solve_queued

    logs, log_y = _students()
    monkeypatch.setattr(_jax, "_EXPORTED", {})
    prepare_students(logs, log_y, delta=DISTILL.default_delta)
    prepared = set(_jax._EXPORTED)
    assert len(prepared) == 2
    starts = DISTILL.from_natural(PUBLISHED_DISTILL) + np.random.default_rng(0).normal(0, 0.05, (N_POLISH, DISTILL.n_params))
    race = solve_multistart(DISTILL, logs, log_y, starts, delta=1e-2, max_iter=RACE_ITER)  # a race block
    solve_queued(DISTILL, logs, log_y, race.thetas, delta=DISTILL.default_delta, max_iter=MAX_ITER)  # the polish
    solve_queued(DISTILL, logs, log_y, race.thetas[:1], delta=DISTILL.default_delta, max_iter=20)  # the valley
    assert set(_jax._EXPORTED) == prepared
