"""Two-stage fit of the distillation scaling law (Busbridge et al. 2025, arXiv 2502.08606, §4.3, App. F).

Stage 1 fits a supervised law (chinchilla-gamma, their Eq. 1, by default) on the runs whose role
is `supervised` or `teacher`. Stage 2 fits the distillation law (their Eq. 8, `laws.busbridge.DISTILL`)
on the `student` runs, with each student's measured teacher loss L_T and
Ltilde_S = the stage-1 prediction at the student's (N_S, D_S). Both stages minimise the sum of
Huber(delta) of log residuals; the distillation delta defaults to 1e-4 as in the paper.

Search. The paper ran L-BFGS-B from each of 216,000 grid points. Here the objective is evaluated
at all 216,000 points of `DISTILL.grid()` in one vectorised pass (cheap: no gradients, no
iterations), and the batched Newton solver (`solve_multistart`) runs only from the `n_refine`
best of them (256 by default). A basin that no good grid point falls into is a basin L-BFGS-B
from the grid would also rarely reach; `benchmarks/bench_distill.py` checks the optimum against
L-BFGS-B run from a large sample of the grid.

Bootstrap. Each resample of the students is solved from the fit's BOOT_STARTS leading local
optima (`leading_optima`), keeping the best, rather than from the point estimate alone: the law's
valley is flat enough (A', alpha', gamma', B', beta', c1, d1 trade off at ~1e-5 relative change of
the objective on 0.5%-noise data) that warm-started resamples stay near the point estimate and
their intervals miss the truth for most parameters (2-5 of 9 covered in our synthetic recovery
test, against 9 of 9 this way, at ~5x the cost). The resulting wide intervals are the honest
statement that those parameters are weakly identified.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ScalelawWarning, UserError
from ..laws import get_law
from ..laws.busbridge import DISTILL, DISTILL_GRID_AXES, log_power_sum, student_log_loss, teacher_gap
from .core import (
    SAME_OPTIMUM, BootstrapResult, bootstrap, continuation, fit_law, fit_result, prepare_fit, race, resample_counts,
)
from .solver import CONVERGED, QUEUE_ROWS, pointwise_loss, prepare_multistart, solve_queued
from .solver import grid_objectives as generic_grid_objectives
from .spec import FitSpec
from ..runs import (
    Runs, RunFormat, apply_where, check_single_n_kind, exclude_unusable, read_validated, resolve_teachers, validate,
)

#: roles that train on data alone: the supervised stage's runs
SUPERVISED_ROLES = ("supervised", "teacher")
N_REFINE = 128
#: the engine races all starts for 30 iterations, then polishes the best N_POLISH up to MAX_ITER
N_POLISH = 16
#: iterations of each stage of the race (the engine's default)
RACE_ITER = 30
MAX_ITER = 400
#: iterations of the final polish of the winner along the law's flat valley
VALLEY_ITER = 2000
#: bootstrap resamples start from this many of the fit's leading local optima (see `leading_optima`)
BOOT_STARTS = 8
SEARCH_NOTE = (f"objective on all 216,000 grid points; solver from the best {N_REFINE}: 30-iteration race, "
               f"best {N_POLISH} polished to {MAX_ITER} iterations; winner polished to {VALLEY_ITER}")


def split_roles(path_or_runs, *, where: str | None = None, fmt: RunFormat | None = None) -> tuple[Runs, Runs]:
    """(supervised-stage runs, student runs) with teachers linked, filtered and cleaned.

    Accepts a path (CSV/Parquet), a `Runs` or a DataFrame. Teacher links are resolved on the
    whole file before `where` filters rows, so a filter may drop teachers but keep their students.
    """
    if isinstance(path_or_runs, (str, os.PathLike)):
        src = str(path_or_runs)
        df = read_validated(Path(path_or_runs), fmt)
    elif isinstance(path_or_runs, Runs):
        src, df = path_or_runs.source, validate(path_or_runs.df, path_or_runs.source)
    elif isinstance(path_or_runs, pd.DataFrame):
        src, df = "<memory>", validate(path_or_runs, "<memory>")
    else:
        raise TypeError(f"expected a path, Runs or DataFrame, got {type(path_or_runs).__name__}")
    if "role" not in df:
        raise UserError(f"{src}: missing column 'role'; a distillation fit needs rows with role "
                        "supervised|teacher (stage 1) and student (stage 2)")
    df = resolve_teachers(df, src)
    df = apply_where(df, where, src)
    df, notes = exclude_unusable(df, src)
    check_single_n_kind(df, src)
    roles = df["role"].fillna("supervised").astype(str)
    out = []
    for want, what in ((SUPERVISED_ROLES, "supervised or teacher"), (("student",), "student")):
        part = df[roles.isin(want)].reset_index(drop=True)
        if len(part) == 0:
            raise UserError(f"{src}: no usable runs with role {what}; the distillation fit needs both "
                            "supervised/teacher runs and student runs")
        out.append(Runs(df=part, source=src, where=where, excluded=notes, format=fmt or RunFormat()))
    return out[0], out[1]


def student_logs(students: Runs, l_sup: np.ndarray) -> tuple[dict, np.ndarray]:
    """Log inputs of the distillation law and log losses of the students."""
    logs = {
        "N": np.log(students.column("N")),
        "D": np.log(students.column("D")),
        "L_T": np.log(students.column("L_T")),
        "L_sup": np.log(np.asarray(l_sup, dtype=np.float64)),
    }
    return logs, np.log(students.column("loss"))


def grid_objectives(logs: dict, log_y: np.ndarray, *, delta: float) -> np.ndarray:
    """Objective at every point of `DISTILL.grid()`, in its order, exploiting the grid's product form.

    The law is three pieces (`laws.busbridge.student_log_loss`): the power term depends only on
    (a, b, alpha, beta), 900 of the 216,000 combinations, and the teacher gap only on (f1, d1),
    10 of them. Each is evaluated once per combination and data point; only the final
    log-sum-exp and the Huber loss are paid per grid point and data point (2 of the law's 6
    transcendental functions). Same values as the generic `solver.grid_objectives`, ~5x faster
    (`benchmarks/bench_distill.py`). Data points are summed in chunks of at most GRID_ROWS, so
    memory stays ~GRID_ROWS x 15,000 floats whatever the file's size.
    """
    from .._jax import enable_compile_cache, exported_call, x64

    x64()
    enable_compile_cache()
    n = len(log_y)
    n_chunks = -(-n // GRID_ROWS)
    rows = -(-n // n_chunks)
    pad = n_chunks * rows - n
    mask = np.pad(np.ones(n), (0, pad)).reshape(n_chunks, rows)
    cols = {k: np.pad(np.asarray(v, dtype=np.float64), (0, pad), mode="edge").reshape(n_chunks, rows)
            for k, v in dict(logs, y=log_y).items()}
    total, code = 0.0, _grid_code()
    for i in range(n_chunks):  # numpy arguments, not jnp.asarray: each asarray shape is a kernel to compile
        part = {k: v[i] for k, v in cols.items()}
        y = part.pop("y")
        total = total + np.asarray(exported_call(_grid_kernel, (part, y, mask[i], np.float64(delta)), code=code))
    return np.where(np.isfinite(total), total, np.inf)


#: data points per chunk of the grid evaluation (chunk x 15,000 floats of working memory: ~250 MB)
GRID_ROWS = 2048


@functools.cache
def _grid_code() -> str:
    """What the grid kernel runs (`_jax.exported_call`): this module, the laws, the solver's loss."""
    from .._jax import source_digest
    from ..laws import code_digest
    from . import solver

    return f"grid-factorised:distill:{source_digest(__file__, solver.__file__)}:{code_digest()}"


def _grid_kernel(logs, log_y, mask, delta):
    """The factorised grid objective of one chunk of points (`grid_objectives`)."""
    import jax
    import jax.numpy as jnp

    AX = DISTILL_GRID_AXES

    def mesh(*names):  # numpy constants of the kernel
        return [m.ravel() for m in np.meshgrid(*[np.asarray(AX[k], dtype=np.float64) for k in names], indexing="ij")]

    a, b, alpha, beta = mesh("a", "b", "alpha", "beta")  # (900,) each, in grid order
    log_f1, log_d1 = mesh("log_f1", "log_d1")  # (10,)
    gamma, c0, log_c1 = (np.asarray(AX[k], dtype=np.float64) for k in ("gamma", "c0", "log_c1"))
    col = lambda v: v[:, None]  # noqa: E731  (combination, data point)
    power = log_power_sum(col(a), col(b), col(alpha), col(beta), logs["N"][None], logs["D"][None])  # (900, n)
    gap = teacher_gap(col(log_f1), col(log_d1), {k: v[None] for k, v in logs.items()})  # (10, n)

    def rows(p):  # one power row p (n,): the 2*3*4*10 remaining combinations, grid order
        log_pred = student_log_loss(logs["L_T"], c0[None, :, None, None, None], log_c1[None, None, :, None, None],
                                    log_f1[None, None, None, :, None], gap[None, None, None],
                                    gamma[:, None, None, None, None], p)
        val = jnp.sum(mask * pointwise_loss("huber-log", log_y, log_pred, delta, 1.0), axis=-1)
        return jnp.where(jnp.isfinite(val), val, jnp.inf).ravel()

    return jax.lax.map(rows, power, batch_size=20).ravel()


def grid_starts(logs: dict, log_y: np.ndarray, *, delta: float, n_refine: int = N_REFINE,
                grid: np.ndarray | None = None) -> np.ndarray:
    """The `n_refine` best points of the distillation grid by objective value, best first."""
    if grid is None:
        grid, f = DISTILL.grid(), grid_objectives(logs, log_y, delta=delta)
    else:
        grid = np.asarray(grid, dtype=np.float64)
        f = generic_grid_objectives(DISTILL, logs, log_y, grid, delta=delta)
    f = np.where(np.isfinite(f), f, np.inf)
    k = min(n_refine, len(grid))
    best = np.argpartition(f, k - 1)[:k]
    return grid[best[np.argsort(f[best])]]


def fit_distill(
    path_or_runs,
    *,
    where: str | None = None,
    supervised_law: str | FitSpec = "chinchilla-gamma",
    delta: float | None = None,
    sup_delta: float | None = None,
    n_boot: int = 0,
    seed: int = 0,
    boot_supervised: bool = False,
    boot_starts: int = BOOT_STARTS,
    fmt: RunFormat | None = None,
):
    """Fit the supervised law, then the distillation law; returns the distill FitResult.

    `fmt` says how to read a run file not in our schema (see `scalelaw.runs.RunFormat`).

    `supervised_law` is a law name or a `FitSpec` for stage 1 (e.g. E fixed to a known entropy
    floor). `.supervised` is the stage-1 FitResult; with `n_boot` > 0, `.boot` holds bootstrap
    parameter draws from resampling the students (and, with `boot_supervised`, also the
    supervised runs, refitting stage 1 and recomputing Ltilde_S in every replicate). Every
    replicate is solved from the `boot_starts` leading optima of the point fit's search and keeps
    the best (1 = warm start at the point estimate only, as Epoch and the paper do).
    """
    from .._jax import x64

    x64()
    sup_spec = supervised_law if isinstance(supervised_law, FitSpec) else FitSpec(law=supervised_law)
    sup_law = get_law(sup_spec.law)
    if sup_law.kind != "supervised" or tuple(sup_law.inputs) != ("N", "D"):
        raise UserError(f"--supervised-law {sup_spec.law!r} is not a supervised law of (N, D)")
    delta = DISTILL.default_delta if delta is None else float(delta)
    sup_runs, students = split_roles(path_or_runs, where=where, fmt=fmt)

    # compiling the race's student solver takes longer than the supervised fit; it needs only the
    # students' shapes, so it compiles behind stage 1's own solver, before stage 1 runs (the
    # one-slot solver compiles during the race, which leaves a core free; the grid does not)
    prepare_fit(sup_spec, sup_runs, delta=sup_delta)
    prepare_students(*student_logs(students, np.ones(len(students))), delta=delta, slots=(N_POLISH,))
    sup_fit = fit_law(sup_spec, sup_runs, delta=sup_delta)
    l_sup = sup_fit.predict(N=students.column("N"), D=students.column("D"))
    logs, log_y = student_logs(students, l_sup)
    starts = grid_starts(logs, log_y, delta=delta)
    fit = search_students(students, logs, log_y, starts, delta=delta)
    settings = dict(fit.settings, grid_size=len(DISTILL.grid()), search=SEARCH_NOTE,
                    supervised_law=sup_law.name, n_students=len(students), n_supervised=len(sup_runs))
    fit = dataclasses.replace(fit, supervised=sup_fit, settings=settings)
    if n_boot > 0:
        leads = leading_optima(fit, logs, log_y, starts, k=boot_starts)
        settings = dict(settings, boot_starts=len(leads), boot_max_iter=MAX_ITER)
        if boot_supervised:
            boot = _two_stage_bootstrap(fit, sup_runs, students, leads, n_boot=n_boot, seed=seed)
        else:
            boot = multistart_bootstrap(logs, log_y, leads, delta=fit.delta, n_boot=n_boot, seed=seed)
        fit = dataclasses.replace(fit, boot=boot, settings=settings)
    return fit


def prepare_students(logs: dict, log_y: np.ndarray, *, delta: float, slots=(N_POLISH, 1)) -> None:
    """Compile (or load) the student search's solvers in the background (`solver.prepare_multistart`),
    by their slots: N_POLISH, the race's and the polish's (N_POLISH starts, each in its own slot);
    1, the polish's last, creeping starts' and the valley polish's (QUEUE_ROWS rows, one slot)."""
    for b in slots:
        if b == N_POLISH:
            prepare_multistart(DISTILL, logs, log_y, N_POLISH, delta=delta, max_iter=MAX_ITER)
        else:
            prepare_multistart(DISTILL, logs, log_y, QUEUE_ROWS, slots=b, delta=delta, max_iter=MAX_ITER)


def search_students(students: Runs, logs: dict, log_y: np.ndarray, starts: np.ndarray, *, delta: float):
    """Race + polish from the screened starts, then a long polish of the winner.

    The student law has a long, nearly flat valley (with the D_S term small, only A'^gamma' and
    alpha' gamma' are pinned down), along which the Newton steps creep; the final polish runs up to
    VALLEY_ITER iterations from the best point. Polishes queue their starts (`solve_queued`), so a start
    that creeps does not keep the converged ones iterating. The winner becomes a fit with the
    engine's diagnostics (`core.fit_result`); its warnings are shown once.
    """
    prepare_students(logs, log_y, delta=delta, slots=(1,))  # while the race runs
    survivors, race_iters = race(DISTILL, logs, log_y, starts, deltas=continuation(delta), race_iter=RACE_ITER,
                                 keep=N_POLISH)
    polish = solve_queued(DISTILL, logs, log_y, survivors, delta=delta, max_iter=MAX_ITER)
    obj = np.where(np.isfinite(polish.objectives), polish.objectives, np.inf)
    b = int(np.argmin(obj))
    # as the engine counts starts that reached the optimum: relative tolerance, absolute floor
    n_best = int(np.sum(obj <= obj[b] * (1 + SAME_OPTIMUM) + 1e-12 * delta**2 * len(log_y)))
    valley = solve_queued(DISTILL, logs, log_y, polish.thetas[b : b + 1], delta=delta, max_iter=VALLEY_ITER)
    best, i = (valley, 0) if valley.objectives[0] < obj[b] else (polish, b)
    fit = fit_result(
        DISTILL, FitSpec(law=DISTILL.name, delta=delta), students, logs, log_y, best.thetas[i], float(best.objectives[i]),
        status=int(best.status[i]), n_starts=len(starts), n_best=n_best,
        iterations=int(race_iters[b] + polish.iterations[b] + valley.iterations[0]), delta=delta,
        max_iter=VALLEY_ITER if best is valley else MAX_ITER,
        settings={"delta": delta, "delta_continuation": continuation(delta), "n_starts": len(starts),
                  "race_iter": RACE_ITER, "n_polish": N_POLISH, "max_iter": MAX_ITER, "valley_iter": VALLEY_ITER},
    )
    for msg in fit.warnings:
        warnings.warn(f"{DISTILL.name}: {msg}", ScalelawWarning, stacklevel=3)
    return fit


def leading_optima(fit, logs: dict, log_y: np.ndarray, starts: np.ndarray, *, k: int) -> np.ndarray:
    """The fit's optimum and the k-1 next-best distinct local optima reached from the grid starts.

    Why: at Table 6's values the student law's optimum lies in a long valley (A'^gamma' and
    alpha' gamma' are pinned down, A', alpha', gamma' separately and (c1, d1) are not), along
    which the objective changes by ~1e-5 relative over A' = 10..1e5. A resample warm-started at
    the point estimate stays near it, so its intervals show only the valley's local curvature.
    Solving each resample from several of the valley's optima and keeping the best approximates
    re-running the search per resample (the estimator the bootstrap should mimic) at k times the cost.
    """
    if k <= 1:
        return fit.theta[None, :]
    res = solve_queued(DISTILL, logs, log_y, starts, delta=fit.delta, max_iter=MAX_ITER)
    order = np.argsort(np.where(np.isfinite(res.objectives), res.objectives, np.inf), kind="stable")
    leads = [fit.theta]
    for i in order:
        t = res.thetas[i]
        if np.isfinite(res.objectives[i]) and all(np.max(np.abs(t - u)) > 1e-3 for u in leads):
            leads.append(t)
        if len(leads) == k:
            break
    return np.stack(leads)


def _best_of_starts(logs, log_y, leads: np.ndarray, weights: np.ndarray, *, delta: float):
    """Solve each weighting (R, n) from every lead, all R x k queued together; (thetas (R, P), number
    not converged)."""
    r, k = len(weights), len(leads)
    res = solve_queued(DISTILL, logs, log_y, np.tile(leads, (r, 1)), delta=delta,
                       weights=np.repeat(weights, k, axis=0), max_iter=MAX_ITER)
    obj = np.where(np.isfinite(res.objectives), res.objectives, np.inf).reshape(r, k)
    best = np.arange(r) * k + np.argmin(obj, axis=1)
    return res.thetas[best], int(np.sum(res.status[best] != CONVERGED))


def multistart_bootstrap(logs, log_y, leads: np.ndarray, *, delta: float, n_boot: int, seed: int, chunk: int = 200):
    """Resample students (counts as weights); each replicate solved from every lead, best kept.

    Resamples are drawn chunk by chunk from one stream (the same draws as all at once), and each
    chunk's resamples x leads are solved as one batch.
    """
    rng = np.random.default_rng(seed)
    thetas, failed = [], 0
    for i in range(0, n_boot, chunk):
        counts = resample_counts(rng, min(chunk, n_boot - i), len(log_y))
        t, f = _best_of_starts(logs, log_y, leads, counts, delta=delta)
        thetas.append(t)
        failed += f
    _warn_failed(failed, n_boot)
    return BootstrapResult(law=DISTILL, thetas=np.concatenate(thetas), seed=seed, n_failed=failed)


def _warn_failed(failed: int, n_boot: int) -> None:
    if failed:
        warnings.warn(f"{DISTILL.name}: {failed} of {n_boot} bootstrap refits stopped at the iteration limit "
                      f"({MAX_ITER}) while creeping along the law's flat valley", ScalelawWarning, stacklevel=3)


def _two_stage_bootstrap(fit, sup_runs: Runs, students: Runs, leads: np.ndarray, *, n_boot: int, seed: int):
    """Resample supervised runs and students independently; refit both stages per replicate.

    Stage 1 is bootstrapped with the engine's `bootstrap`; each replicate's supervised parameters
    give a new Ltilde_S, and the students are refitted from every lead with counts of a student
    resample as weights, keeping the best.
    """
    sup_boot = bootstrap(fit.supervised, sup_runs, n_boot=n_boot, seed=seed)
    counts = resample_counts(np.random.default_rng(seed + 1), n_boot, len(students))
    sup_law = fit.supervised.law
    N, D = students.column("N"), students.column("D")
    thetas = np.empty((n_boot, DISTILL.n_params))
    failed = 0
    for k in range(n_boot):
        logs, log_y = student_logs(students, sup_law.predict(sup_boot.thetas[k], N=N, D=D))
        t, f = _best_of_starts(logs, log_y, leads, counts[k : k + 1], delta=fit.delta)
        thetas[k] = t[0]
        failed += f
    _warn_failed(failed, n_boot)
    return BootstrapResult(law=DISTILL, thetas=thetas, seed=seed, n_failed=failed + sup_boot.n_failed)
