"""Fitting a law to run records: multi-start fit (Huber-in-log by default) and the bootstrap.

`fit_law` follows Hoffmann et al. 2022 / Besiroglu et al. 2024 (Huber loss on log residuals,
multi-start from a grid) with a faster schedule: the objective is evaluated on the law's whole
initialisation grid in one vectorised pass; a mix of the best and of random grid points (seeded)
is raced for a few Newton iterations (`solver.solve_multistart`) on the smooth problem (Huber
delta 1e-2), by successive halving (`halving_rungs`); the leaders are carried down a delta
continuation to the target and polished to convergence there. `n_best` counts the polished
leaders that reached the best objective; where too few did (`AGREEMENT`), the full race runs too.
`bootstrap` refits K resamples of the points at once, each resample expressed as integer weights,
warm-started from the best fit.

What is minimised comes from a `FitSpec`: the objective kind and over-prediction penalty, the
law's box narrowed by the spec's bounds and collapsed to a point for fixed parameters (in fit
space, via the law's declared `coords`), and per-run weights. The bootstrap reuses the fit's spec,
so a fixed parameter stays fixed in every draw.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import ScalelawWarning, UserError
from ..laws import get_law
from ..laws.base import Law
from ..runs import Runs, from_frame
from .solver import CONVERGED, STATUS_NAMES, grid_objectives, prepare_multistart, solve_multistart
from .spec import WEIGHT_RULES, FitSpec

#: relative objective tolerance for "this start reached the best value"
SAME_OPTIMUM = 1e-6


@dataclass(frozen=True)
class BootstrapResult:
    """Parameter draws from refitting resampled data: thetas (K, P) in fit space."""

    law: Law
    thetas: np.ndarray
    seed: int = 0
    n_failed: int = 0

    def natural(self) -> dict[str, np.ndarray]:
        rows = [self.law.natural(t) for t in self.thetas]
        return {k: np.array([r[k] for r in rows]) for k in rows[0]}

    def ci(self, level: float = 0.9) -> dict[str, tuple[float, float]]:
        """Percentile intervals for every natural parameter."""
        q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
        return {k: tuple(float(x) for x in np.percentile(v, q)) for k, v in self.natural().items()}

    def predict_draws(self, **inputs) -> np.ndarray:
        """Predictions under every draw: shape (K, *broadcast(inputs))."""
        from ..laws.evaluate import log_loss

        return np.exp(log_loss(self.law, self.thetas, **{k: np.asarray(v, dtype=np.float64)[None] for k, v in inputs.items()}))


@dataclass
class FitResult:
    """A fitted law: best parameters, how the optimisation went, where the data came from."""

    law: Law
    theta: np.ndarray
    objective: float
    n_points: int
    n_starts: int = 0
    n_best: int = 0
    iterations: int = 0
    status: str = "converged"
    warnings: tuple[str, ...] = ()
    delta: float = 1e-3
    boot: BootstrapResult | None = None
    supervised: "FitResult | None" = None
    data: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    #: the choices the fit was made with (None = the default spec for the law)
    spec: FitSpec | None = None

    def __post_init__(self):
        if self.spec is None:
            self.spec = FitSpec(law=self.law.name)

    @property
    def params(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.law.natural(self.theta).items()}

    def predict(self, **inputs) -> np.ndarray:
        return self.law.predict(self.theta, **inputs)

    def ci(self, level: float = 0.9) -> dict[str, tuple[float, float]] | None:
        return None if self.boot is None else self.boot.ci(level)

    def predict_interval(self, level: float = 0.9, *, noise: bool = True, seed: int = 0, **inputs):
        """(lo, hi) band for L at the inputs from the bootstrap draws.

        With noise=False: a confidence interval of the fitted curve (parameter uncertainty only).
        With noise=True: a prediction interval for a new run, adding the fit's own log-residual
        scatter (resampled) to each draw.
        """
        if self.boot is None:
            raise UserError("prediction intervals need a bootstrapped fit (use --bootstrap K)")
        draws = self.boot.predict_draws(**inputs)
        if noise and self.settings.get("residual_sd"):
            rng = np.random.default_rng(seed)
            res = np.asarray(self.settings["log_residuals"])
            draws = draws * np.exp(rng.choice(res, size=draws.shape))
        q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
        lo, hi = np.percentile(draws, q, axis=0)
        return lo, hi

    def to_dict(self, level: float = 0.9) -> dict:
        d = {
            "scalelaw_fit": 1,
            "law": self.law.name,
            "formula": self.law.formula,
            "params": self.params,
            "theta": [float(x) for x in self.theta],
            "objective": float(self.objective),
            "n_points": int(self.n_points),
            "n_starts": int(self.n_starts),
            "n_best": int(self.n_best),
            "iterations": int(self.iterations),
            "status": self.status,
            "warnings": list(self.warnings),
            "delta": float(self.delta),
            "spec": self.spec.to_dict(),
            "data": self.data,
            "settings": {k: v for k, v in self.settings.items() if k != "log_residuals"},
        }
        derived = derived_quantities(self.params)
        if derived:
            d["derived"] = derived
        if self.boot is not None:
            d["ci_level"] = level
            d["ci"] = {k: list(v) for k, v in self.boot.ci(level).items()}
            d["bootstrap"] = {
                "n": int(len(self.boot.thetas)),
                "seed": int(self.boot.seed),
                "n_failed": int(self.boot.n_failed),
                "thetas": [[float(x) for x in t] for t in self.boot.thetas],
            }
        if self.supervised is not None:
            d["supervised"] = self.supervised.to_dict(level)
        return d


# ------------------------------------------------------------------ derived quantities


def derived_quantities(params: dict, compute: float | None = None) -> dict:
    """Compute-optimal allocation exponents of laws with A, B, alpha, beta (C = 6ND).

    For L = E + (A/N^alpha + B/D^beta)^gamma (gamma = 1: Chinchilla) the optimum of N at fixed
    C = 6ND does not depend on E or gamma. Closed form of Hoffmann et al. 2022, Eq. 4.
    """
    if not {"A", "B", "alpha", "beta"} <= set(params) or "c0" in params:
        return {}
    from ..laws.chinchilla import compute_optimal

    A, B, al, be = params["A"], params["B"], params["alpha"], params["beta"]
    if al + be <= 0:
        return {}
    out = {"a": be / (al + be), "b": al / (al + be), "G": (al * A / (be * B)) ** (1 / (al + be))}
    if compute is not None:
        n, d = compute_optimal(A, B, al, be, compute)
        out.update({"compute": compute, "N_opt": float(n), "D_opt": float(d)})
    return out


def derived_ci(boot: BootstrapResult, compute: float | None, level: float = 0.9) -> dict:
    """Percentile intervals of the derived quantities over the bootstrap draws."""
    nat = boot.natural()
    rows = [derived_quantities({k: v[i] for k, v in nat.items()}, compute) for i in range(len(boot.thetas))]
    rows = [r for r in rows if r]
    if not rows:
        return {}
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return {k: [float(x) for x in np.percentile([r[k] for r in rows], q)] for k in rows[0] if k != "compute"}


# ------------------------------------------------------------------ inputs


def _as_runs(runs) -> Runs:
    if isinstance(runs, Runs):
        return runs
    if isinstance(runs, pd.DataFrame):
        return from_frame(runs)
    raise TypeError(f"expected Runs or a DataFrame, got {type(runs).__name__}")


def law_inputs(law: Law, runs: Runs, extra_inputs: dict | None = None) -> tuple[dict, np.ndarray]:
    """log-inputs dict and log-loss for a law, checked positive and finite."""
    extra = extra_inputs or {}
    logs = {}
    for k in law.inputs:
        if k in extra:
            v = np.asarray(extra[k], dtype=np.float64)
        elif k in runs.df:
            v = pd.to_numeric(runs.df[k], errors="coerce").to_numpy(dtype=np.float64)
        else:
            raise UserError(f"{runs.source}: law {law.name!r} needs column {k!r}, which is missing")
        bad = ~np.isfinite(v) | (v <= 0)
        if bad.any():
            raise UserError(f"{runs.where_line(int(np.flatnonzero(bad)[0]))}, column {k!r}: expected a positive number for law {law.name!r}")
        logs[k] = np.log(v)
    return logs, np.log(runs.column("loss"))


# ------------------------------------------------------------------ fitting


def spec_box(law: Law, spec: FitSpec) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) in fit space: the law's box, narrowed by bounds, pinned by fixed values."""
    spec.check_names(law.natural_names)
    lower, upper = np.array(law.lower, dtype=np.float64), np.array(law.upper, dtype=np.float64)
    for name, lo, hi in spec.bounds:
        i, flo = law.fit_coordinate(name, lo)
        _, fhi = law.fit_coordinate(name, hi)
        lower[i], upper[i] = max(lower[i], flo), min(upper[i], fhi)
        if not lower[i] <= upper[i]:
            raise UserError(f"--bound {name}={lo:g}:{hi:g} does not overlap the range law {law.name!r} allows for it")
    for name, value in spec.fixed:
        i, v = law.fit_coordinate(name, value)
        if not np.isfinite(v):
            raise UserError(f"--fix {name}={value:g}: not a valid value for law {law.name!r} (must be positive)")
        lower[i] = upper[i] = v
    return lower, upper


def spec_weights(spec: FitSpec, runs: Runs, logs: dict) -> np.ndarray | None:
    """Per-run weights of the spec, normalised to mean 1 (None = all equal)."""
    rule = spec.weights
    if rule is None:
        return None
    if rule in WEIGHT_RULES:
        if not {"N", "D"} <= set(logs):
            raise UserError(f"--weights {rule}: law {spec.law!r} has no N and D inputs to compute 6ND from")
        log_c = np.log(6.0) + logs["N"] + logs["D"]
        power = 0.5 if rule == "sqrt-compute" else 1.0
        w = np.exp(power * (log_c - log_c.max()))  # scaled by the largest: no overflow, same after normalising
    else:
        if rule not in runs.df:
            raise UserError(f"{runs.source}: --weights column {rule!r} is missing "
                            f"(or use sqrt-compute or compute)")
        w = pd.to_numeric(runs.df[rule], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            raise UserError(f"{runs.where_line(int(np.flatnonzero(bad)[0]))}, --weights column {rule!r}: "
                            "expected a non-negative number")
    if not w.sum() > 0:
        raise UserError(f"--weights {rule}: every weight is zero")
    return w / w.mean()


def _start_grid(law: Law, lower, upper) -> np.ndarray:
    """The law's grid clipped into the box. Clipping onto a fixed value or a narrowed bound makes
    duplicate starts, dropped: they would only inflate the count of starts reaching the optimum."""
    grid = law.grid()
    if np.any(lower > np.asarray(law.lower)) or np.any(upper < np.asarray(law.upper)):
        grid = np.unique(np.clip(grid, lower, upper), axis=0)
    return grid


def choose_starts(law: Law, logs, log_y, *, delta: float, n_starts: int, seed: int,
                  spec: FitSpec | None = None, weights=None, box=None) -> tuple[np.ndarray, int]:
    """Half the best grid points by initial objective, half drawn at random from the rest."""
    spec = spec or FitSpec(law=law.name)
    lower, upper = box if box is not None else spec_box(law, spec)
    grid = _start_grid(law, lower, upper)
    f0 = grid_objectives(law, logs, log_y, grid, delta=delta, weights=weights, kind=spec.objective,
                         penalty=spec.overestimate_penalty)
    ok = np.flatnonzero(np.isfinite(f0))
    if len(ok) == 0:
        raise UserError(f"law {law.name!r}: the objective is not finite anywhere on the initial grid")
    if len(ok) <= n_starts:
        return grid[ok], len(grid)
    order = ok[np.argsort(f0[ok], kind="stable")]
    n_top = n_starts // 2
    rest = np.random.default_rng(seed).choice(order[n_top:], size=n_starts - n_top, replace=False)
    return grid[np.concatenate([order[:n_top], rest])], len(grid)


#: files with more rows race their starts on a seeded subsample of this many rows
RACE_ROWS = 4096


def race_subsample(n: int, seed: int):
    """Rows the start search and race use: all of them, or RACE_ROWS drawn without replacement.

    Which basin a start falls into is decided by the law's shape over the data's range, which a
    few thousand rows pin down; the optimum itself is polished on every row.
    """
    if n <= RACE_ROWS:
        return slice(None)
    return np.sort(np.random.default_rng(seed).choice(n, size=RACE_ROWS, replace=False))


#: the race halves its starts by this factor per rung (successive halving)
HALVING = 4
#: a halved race is trusted when at least this share of its polished leaders reach the best
#: objective (a majority); otherwise the full race runs as well
AGREEMENT = 0.5


def halving_rungs(n_starts: int, keep: int, race_iter: int, factor: int = HALVING) -> tuple:
    """Successive-halving rungs for `race` (Jamieson & Talwalkar 2016): from `n_starts` down to
    `keep` by `factor` per rung, the rung before the last at race_iter / factor iterations, the one
    before it at race_iter / factor^2, and so on (each rung gets about the same number of
    start-iterations). 256 starts, 16 kept, 30 iterations: 64 go on after 2 iterations and 16 after
    8, a sixth of the full race's work."""
    rungs, n = [], n_starts
    while n > keep:
        n = max(keep, -(-n // factor))
        rungs.append(n)
    s = len(rungs)
    return tuple((max(1, round(race_iter / factor ** (s - j))), kept) for j, kept in enumerate(rungs))


def continuation(delta: float, start: float = 1e-2) -> list[float]:
    """Huber deltas from `start` down to `delta` by factors of 10.

    With a small delta and noisy data most residuals sit in Huber's linear part and the objective
    is nearly L1: Newton crawls along its kinks. Solving first with a delta large enough that the
    objective is smooth least squares, then shrinking it warm-started, reaches the same optimum
    ~50x faster on the distillation problem (delta 1e-4).
    """
    out = [start]
    while out[-1] / 10 > delta * (1 + 1e-9):
        out.append(out[-1] / 10)
    return [d for d in out if d > delta] + [delta] if delta < start else [delta]


def _resolve_spec(law_or_spec, delta) -> tuple[Law, FitSpec]:
    if isinstance(law_or_spec, FitSpec):
        spec = law_or_spec
        law = get_law(spec.law)
    else:
        law = get_law(law_or_spec) if isinstance(law_or_spec, str) else law_or_spec
        spec = FitSpec(law=law.name)
    if delta is not None:
        spec = replace(spec, delta=float(delta))
    return law, spec


def race(law: Law, logs: dict, log_y, starts, *, deltas: list[float], race_iter: int, keep: int, rungs=(), **kw):
    """Race every start `race_iter` Newton iterations on the smooth problem (the first delta of the
    continuation), then carry the `keep` leaders down the remaining deltas; returns the leaders,
    best first, and their iterations in the last stage. `kw` goes to `solve_multistart`.

    `rungs` ((iterations, kept), ...), with iterations below `race_iter`, prune the first stage
    early (successive halving): after each rung's total of iterations only its `kept` best starts
    go on. A start that goes on continues from its last step, so it follows the path it would have
    followed uninterrupted, and the leaders are those of a full race whenever the eventual leaders
    were among the best at every rung.

    The starts run in blocks of `keep` rows (the last padded with copies of its last row), so the
    race and the polish of the leaders share one compiled solver per law and data size, whatever
    the number of starts: a compilation costs ~1-2 s, while a 16-wide batch steps a start within
    ~15% of the cost in a 256-wide one (each start's path depends only on its own state).
    """
    survivors = np.asarray(starts, dtype=np.float64)
    for j, d in enumerate(deltas):
        stage = [(it, k) for it, k in rungs if it < race_iter] if j == 0 else []
        last, done = np.zeros_like(survivors), 0
        for until, kept in stage + [(race_iter, keep)]:
            n, width = len(survivors), min(keep, len(survivors))
            rows, steps = (np.concatenate([a, np.repeat(a[-1:], -n % width, axis=0)]) for a in (survivors, last))
            parts = [solve_multistart(law, logs, log_y, rows[i : i + width], delta=d, max_iter=until - done,
                                      last_step=steps[i : i + width], **kw)
                     for i in range(0, len(rows), width)]
            thetas, objs, iters, last = (np.concatenate([getattr(r, f) for r in parts])[:n]
                                         for f in ("thetas", "objectives", "iterations", "last_step"))
            iters = iters + (0 if done == 0 else last_iters)
            order = np.argsort(np.where(np.isfinite(objs), objs, np.inf), kind="stable")[:kept]
            survivors, last, last_iters, done = thetas[order], last[order], iters[order], until
    return survivors, last_iters


class _Problem(NamedTuple):
    """What `fit_law` minimises: the law and spec, the runs and their logs, the box, the solver
    keywords, and the subsample (and its keywords) the start search and the race use."""

    law: Law
    spec: FitSpec
    runs: Runs
    delta: float
    logs: dict
    log_y: np.ndarray
    box: tuple
    kw: dict
    r_logs: dict
    r_y: np.ndarray
    r_kw: dict
    deltas: list


def _problem(law, runs, delta, weights, extra_inputs, seed) -> _Problem:
    law, spec = _resolve_spec(law, delta)
    runs = _as_runs(runs)
    delta = law.default_delta if spec.delta is None else float(spec.delta)
    if not delta > 0:
        raise UserError(f"Huber delta must be positive, got {delta}")
    logs, log_y = law_inputs(law, runs, extra_inputs)
    n = len(log_y)
    box = spec_box(law, spec)
    n_free = int(np.sum(box[0] < box[1]))
    if n < n_free:
        raise UserError(f"{runs.source}: {n} usable runs cannot determine the {n_free} free parameters of {law.name!r}")
    w = spec_weights(spec, runs, logs)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64) * (1.0 if w is None else w)
    kw = {"weights": w, "kind": spec.objective, "penalty": spec.overestimate_penalty, "lower": box[0], "upper": box[1]}
    # the start search and the race run on a fixed subsample of a large file; only the polish
    # sees every point (it starts next to the optimum, so a few Newton steps at full size)
    sub = race_subsample(n, seed)
    r_kw = dict(kw, weights=None if w is None else w[sub])
    # the delta continuation smooths Huber's kinks; squared objectives are smooth already
    deltas = continuation(delta) if spec.objective == "huber-log" else [delta]
    return _Problem(law, spec, runs, delta, logs, log_y, box, kw, {k: v[sub] for k, v in logs.items()}, log_y[sub],
                    r_kw, deltas)


def _prepare_race(p: _Problem, *, n_starts: int, n_polish: int, race_iter: int) -> None:
    # the race's solver compiles (or loads) in the background while the grid is searched; it
    # will race blocks of n_polish starts, or all of them if the grid has fewer (a grid point
    # with a non-finite objective is never a start, so the guess can only be too large, which
    # costs a spare compilation and nothing else)
    prepare_multistart(p.law, p.r_logs, p.r_y, min(n_polish, n_starts, len(_start_grid(p.law, *p.box))),
                       delta=p.deltas[0], max_iter=race_iter, **p.r_kw)


def prepare_fit(law: Law | str | FitSpec, runs, *, delta: float | None = None, n_starts: int = 256,
                n_polish: int = 16, race_iter: int = 30, weights=None, extra_inputs=None, seed: int = 0) -> None:
    """Start what `fit_law` with the same arguments starts first: compiling (or loading) its race's
    solver in the background. Kernels are prepared one at a time in the order asked for, so a
    caller that will prepare others before this fit runs (the distillation fit prepares its
    student solvers during its supervised stage) calls this first; `fit_law` then finds it under way."""
    _prepare_race(_problem(law, runs, delta, weights, extra_inputs, seed), n_starts=n_starts, n_polish=n_polish,
                  race_iter=race_iter)


def fit_law(
    law: Law | str | FitSpec,
    runs,
    *,
    delta: float | None = None,
    n_starts: int = 256,
    n_polish: int = 16,
    race_iter: int = 30,
    max_iter: int = 200,
    weights=None,
    extra_inputs: dict | None = None,
    starts=None,
    seed: int = 0,
) -> FitResult:
    """Fit a law to run records by multi-start minimisation.

    `law` is a law name, a `Law` or a `FitSpec` (objective, penalty, fixed values, bounds,
    weights); a name or Law means the default spec. `delta` overrides the spec's Huber delta;
    `weights` (n,), if given, multiplies the spec's weights. `starts` overrides the initial
    points (S, P); otherwise `n_starts` are chosen from the law's grid. Non-convergence or a
    parameter on its bound is a warning and a status, never an error.
    """
    p = _problem(law, runs, delta, weights, extra_inputs, seed)
    law, spec, runs, delta, logs, log_y, box, kw, r_logs, r_y, r_kw, deltas = p
    n = len(log_y)
    if starts is None:
        _prepare_race(p, n_starts=n_starts, n_polish=n_polish, race_iter=race_iter)
        starts, grid_size = choose_starts(law, r_logs, r_y, delta=delta, n_starts=n_starts, seed=seed, spec=spec,
                                          weights=r_kw["weights"], box=box)
    else:
        starts = np.clip(np.atleast_2d(np.asarray(starts, dtype=np.float64)), *box)
        grid_size = len(starts)
    # the polish's solver compiles (or loads) in the background while the race runs (with a
    # race subsample it is another kernel; otherwise the race's own)
    n_polished = min(n_polish, len(starts))
    prepare_multistart(law, logs, log_y, n_polished, delta=delta, max_iter=max_iter, **kw)
    rungs = halving_rungs(len(starts), n_polish, race_iter)

    def race_and_polish(rungs):
        """(best objective, its index, polished leaders reaching it, the polish, the race's iterations)"""
        survivors, race_iters = race(law, r_logs, r_y, starts, deltas=deltas, race_iter=race_iter, keep=n_polish,
                                     rungs=rungs, **r_kw)
        polish = solve_multistart(law, logs, log_y, survivors, delta=delta, max_iter=max_iter, **kw)
        b = int(np.argmin(polish.objectives))
        best = float(polish.objectives[b])
        # relative tolerance, with an absolute floor for (near-)exact data whose optimum is ~0
        n_best = int(np.sum(polish.objectives <= best * (1 + SAME_OPTIMUM) + 1e-12 * delta**2 * n))
        return best, b, n_best, polish, race_iters

    raced = race_and_polish(rungs)
    # Halving drops starts on their first few iterations. Where its leaders agree, the basin they
    # found is the one most starts lead to; where they do not, the landscape has several basins of
    # similar depth and a start dropped early may have led to a deeper one: every start then runs
    # the full race as well, and the better polish wins.
    full_race = bool(rungs) and raced[2] < AGREEMENT * n_polished
    if full_race:
        raced = min(raced, race_and_polish(()), key=lambda r: r[0])  # ties keep the halved race's
    best, b, n_best, polish, race_iters = raced
    theta = polish.thetas[b]
    fit = fit_result(
        law, spec, runs, logs, log_y, theta, best, status=int(polish.status[b]), n_starts=len(starts), n_best=n_best,
        iterations=int(race_iters[b] + polish.iterations[b]),  # last race stage + polish
        delta=delta, max_iter=max_iter,
        settings={"delta": delta, "delta_continuation": deltas, "n_starts": len(starts), "grid_size": grid_size,
                  "race_iter": race_iter, "race_rungs": [list(r) for r in rungs], "full_race": full_race,
                  "n_polish": n_polished, "max_iter": max_iter, "seed": seed, "race_rows": len(r_y)},
    )
    for msg in fit.warnings:
        warnings.warn(f"{law.name}: {msg}", ScalelawWarning, stacklevel=2)
    return fit


def fit_result(law: Law, spec: FitSpec, runs: Runs, logs: dict, log_y, theta, objective: float, *, status: int,
               n_starts: int, n_best: int, iterations: int, delta: float, max_iter: int, settings: dict) -> FitResult:
    """The FitResult of an optimum `theta` found by a search: diagnostics (bounds, distinct sizes,
    starts at the optimum, the iteration limit), residuals and the data's description. Warns of
    nothing: the caller shows `.warnings`."""
    box = spec_box(law, spec)
    notes = _diagnose(law, runs, logs, theta, n_best, box)
    name = STATUS_NAMES[status]
    if any(n.startswith("at bound") for n in notes):
        name = "at-bound"
    if name == "max-iter":
        notes.append(f"the best start stopped at the iteration limit ({max_iter}) before converging")
    resid = log_y - np.log(law.predict(theta, **{k: np.exp(v) for k, v in logs.items()}))
    return FitResult(
        law=law, theta=np.asarray(theta, dtype=np.float64), objective=float(objective), n_points=len(log_y),
        n_starts=n_starts, n_best=n_best, iterations=iterations, status=name, warnings=tuple(notes), delta=delta,
        spec=spec, data=_data_meta(runs, logs),
        settings=dict(settings, residual_sd=float(np.std(resid)), log_residuals=resid.tolist()),
    )


def _diagnose(law: Law, runs: Runs, logs, theta, n_best, box) -> list[str]:
    notes = []
    lo, hi = box
    law_span = np.asarray(law.upper) - np.asarray(law.lower)
    span = np.where(np.isfinite(law_span), law_span, 1.0)
    for i, name in enumerate(law.params):
        if lo[i] >= hi[i]:  # fixed: on its "bound" by construction
            continue
        for bound, label in ((lo[i], "lower"), (hi[i], "upper")):
            kind = "exponent" if name in law.exponents else "parameter"
            gap = abs(theta[i] - bound)
            if np.isfinite(bound) and gap <= 1e-6 * span[i]:
                notes.append(f"at bound: {kind} {name} = {theta[i]:.6g} sits on its {label} bound; "
                             "the data may not identify it (too little range in N or D?)")
            elif np.isfinite(bound) and gap <= 1e-3 * span[i]:
                # on a flat valley the solver stops just short of the bound it is drifting to
                notes.append(f"near bound: {kind} {name} = {theta[i]:.6g} is within {gap:.3g} of its {label} "
                             f"bound {bound:.6g}; the data may not identify it (profile it to check)")
    for k in ("N", "D"):
        if k in logs and len(np.unique(np.round(logs[k], 6))) < 3:
            notes.append(f"only {len(np.unique(np.round(logs[k], 6)))} distinct {k} values: too few to identify its exponent")
    if n_best == 1:
        notes.append("only one start reached the best objective; the optimum may not be global (try more starts)")
    return notes


def _data_meta(runs: Runs, logs) -> dict:
    meta = {"source": runs.source, "sha256": runs.sha256, "where": runs.where, "n_kind": runs.n_kind,
            "loss_kind": runs.loss_kind, "excluded": list(runs.excluded)}
    if getattr(runs, "format", None) is not None:  # how the user's file was read: column mapping, loss unit
        meta.update(runs.format.to_dict())
    for k, v in logs.items():
        meta[f"{k}_range"] = [float(np.exp(v.min())), float(np.exp(v.max()))]
    if "N" in logs and "D" in logs:
        nd = logs["N"] + logs["D"]
        lo, hi = int(np.argmin(nd)), int(np.argmax(nd))
        meta["C_range_6nd"] = [float(6 * np.exp(nd[lo])), float(6 * np.exp(nd[hi]))]
        # the runs at either end, so a planner can count their compute under any FLOP convention
        meta["ND_at_C_min"] = [float(np.exp(logs["N"][lo])), float(np.exp(logs["D"][lo]))]
        meta["ND_at_C_max"] = [float(np.exp(logs["N"][hi])), float(np.exp(logs["D"][hi]))]
    return meta


# ------------------------------------------------------------------ bootstrap


def resample_counts(rng, n_boot: int, n: int) -> np.ndarray:
    """(n_boot, n) multiplicities of n points drawn with replacement: a resample as weights."""
    idx = rng.integers(0, n, size=(n_boot, n))
    counts = np.zeros((n_boot, n))
    np.add.at(counts, (np.repeat(np.arange(n_boot), n), idx.ravel()), 1.0)
    return counts


def bootstrap(
    fit: FitResult,
    runs,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    extra_inputs: dict | None = None,
    max_iter: int = 100,
    chunk: int = 500,
) -> BootstrapResult:
    """Refit K resamples (points drawn with replacement) in batches, warm-started at the fit.

    Each refit minimises the fit's own spec (objective, penalty, box with fixed values, weights
    times the resample counts). Deterministic for a given seed; attach the result as `fit.boot`.
    """
    if n_boot < 2:
        raise UserError(f"--bootstrap needs at least 2 resamples, got {n_boot}")
    runs = _as_runs(runs)
    law = fit.law
    logs, log_y = law_inputs(law, runs, extra_inputs)
    n = len(log_y)
    spec = fit.spec
    lower, upper = spec_box(law, spec)
    base = spec_weights(spec, runs, logs)
    # resamples are drawn chunk by chunk from one stream (the same draws as all at once), so the
    # weights in memory are chunk x rows, never n_boot x rows
    rng = np.random.default_rng(seed)
    thetas, failed = [], 0
    for i in range(0, n_boot, chunk):
        w = resample_counts(rng, min(chunk, n_boot - i), n)
        if base is not None:
            w = w * base[None, :]
        res = solve_multistart(law, logs, log_y, np.tile(fit.theta, (len(w), 1)), delta=fit.delta, weights=w,
                               max_iter=max_iter, kind=spec.objective, penalty=spec.overestimate_penalty,
                               lower=lower, upper=upper)
        thetas.append(res.thetas)
        failed += int(np.sum(res.status != CONVERGED))
    if failed:
        warnings.warn(f"{law.name}: {failed} of {n_boot} bootstrap refits stopped at the iteration limit", ScalelawWarning, stacklevel=2)
    return BootstrapResult(law=law, thetas=np.concatenate(thetas), seed=seed, n_failed=failed)
