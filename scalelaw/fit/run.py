"""The library side of `scalelaw fit` and `scalelaw predict`: load, fit, report as a dict."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .._jax import enable_compile_cache
from ..errors import UserError
from ..laws import get_law
from ..runs import load_runs
from .core import bootstrap, derived_ci, derived_quantities, fit_law
from .io import load_fit
from .spec import METHODS, FitSpec


def _is_piecewise(law, method: str) -> bool:
    if method not in METHODS:
        raise UserError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    return law.name == "farseer" and method == "piecewise"


def _options_given(spec: FitSpec) -> bool:
    """True when the spec asks for more than a law, method and Huber delta."""
    return not replace(spec, delta=None).is_default


def fit_supervised(law_or_spec, runs, *, method: str | None = None, delta=None, n_starts: int | None = None,
                   seed: int = 0):
    """Fit a supervised law: Farseer by its authors' piecewise procedure unless method is
    end-to-end; every other law (and end-to-end Farseer) with the multi-start fitter.

    `law_or_spec` is a law name, a Law or a FitSpec; `method` and `delta`, if given, override
    the spec's."""
    if isinstance(law_or_spec, FitSpec):
        spec = law_or_spec
    else:
        name = law_or_spec if isinstance(law_or_spec, str) else law_or_spec.name
        spec = FitSpec(law=name)
    spec = replace(spec, method=method or spec.method, delta=spec.delta if delta is None else float(delta))
    law = get_law(spec.law)
    if _is_piecewise(law, spec.method):
        if _options_given(spec):
            raise UserError("--objective, --overestimate-penalty, --fix, --bound and --weights apply to the generic "
                            "fitter; use --method end-to-end with farseer")
        from .piecewise import fit_piecewise

        fit = fit_piecewise(runs, delta=spec.delta)
        fit.spec = spec
        return fit
    kw = {} if n_starts is None else {"n_starts": n_starts}
    return fit_law(spec, runs, seed=seed, **kw)


def stage1_spec(supervised_law: str, **options) -> FitSpec:
    """The stage-1 spec of a distillation fit from the command-line fitting options.

    The options shape the supervised law that gives Ltilde_S, where a known floor (--fix E=...)
    or a penalty means something; stage 2 follows the paper's fixed procedure."""
    sup_law = get_law(supervised_law)
    spec = FitSpec.from_options(sup_law.name, **options)
    try:
        spec.check_names(sup_law.natural_names)
    except UserError as e:
        raise UserError(f"--fix/--bound with --law distill name parameters of the stage-1 supervised law "
                        f"({sup_law.name}): {e}") from None
    return spec


def warn_below_floor(fit, df) -> None:
    """Warn when a fitted E lies below the loss floor the runs themselves record.

    Runs on a corpus whose Bayes-optimal loss is known exactly (our synthetic corpus writes it in
    `loss_floor`) bound E from below: no model can beat it, so a fit that puts E under it has found a
    curve the data cannot pin down, and its plans will promise losses that cannot be reached."""
    if "loss_floor" not in df or "E" not in fit.params or any(n == "E" for n, _ in fit.spec.fixed):
        return
    floor = df["loss_floor"].dropna()
    if floor.empty:
        return
    floor = float(floor.max())
    if fit.params["E"] < floor * (1 - 1e-6):
        import warnings

        from ..errors import ScalelawWarning

        warnings.warn(f"{fit.law.name}: fitted E = {fit.params['E']:.4g} is below the runs' recorded loss floor "
                      f"{floor:.5g} (column loss_floor): these runs do not pin E down; refit with --fix E={floor:.5g}",
                      ScalelawWarning, stacklevel=2)


def run_fit(csv, *, law: str = "chinchilla", where=None, n_boot: int = 0, seed: int = 0, delta=None,
            n_starts: int = 256, compute=None, level: float = 0.9, supervised_law: str = "chinchilla-gamma",
            method: str = "piecewise", objective: str = "huber-log", overestimate_penalty: float = 1.0,
            fix: str | None = None, bound: str | None = None, weights: str | None = None, calibrate: int = 0,
            fmt=None, exclude_outliers: bool = False):
    """Fit `law` to the runs in `csv`; returns (JSON-ready dict, FitResult).

    `law="auto"` chooses among `calibrate.candidates()` by rolling-origin backtests on these runs
    (and calibrates with them); `calibrate=K` > 0 backtests the fit over K origins and stores the
    interval calibration in `settings["calibration"]`, which `predict` and `plan` then use.

    `fix` ("E=1.69,alpha=0.3"), `bound` ("alpha=0.1:1.0") and `weights` are the command-line
    strings; with `objective` and `overestimate_penalty` they make the fit's `FitSpec`. `fmt`
    (a `scalelaw.runs.RunFormat`) says how to read a file not in our schema."""
    enable_compile_cache()
    chosen = None
    if law == "auto":
        from .calibrate import recommend

        chosen = recommend(load_runs(csv, where=where, fmt=fmt), max(calibrate, 3), n_starts=n_starts)
        law, method, calibrate = chosen[0].law, chosen[0].method, max(calibrate, 3)
        objective, overestimate_penalty = chosen[0].objective, chosen[0].overestimate_penalty
    law_obj = get_law(law)
    spec = FitSpec.from_options(law, method=method, objective=objective, delta=delta,
                                overestimate_penalty=overestimate_penalty, fix=fix, bound=bound, weights=weights)
    if law_obj.kind != "distill":
        spec.check_names(law_obj.natural_names)
    if not 0 < level < 1:
        raise UserError(f"--level must be in (0, 1), got {level}")
    if compute is not None and not (math.isfinite(compute) and compute > 0):
        raise UserError(f"--compute must be a positive number of FLOPs, got {compute}")
    if n_boot < 0:
        raise UserError(f"--bootstrap must be >= 0, got {n_boot}")
    if law_obj.kind == "frontier":  # isoFLOP Approach 2 measures optima; it has no loss objective
        if _options_given(spec):
            raise UserError("--objective, --overestimate-penalty, --fix, --bound and --weights apply to loss "
                            "laws, not to the isoflop fit")
        from .isoflop import run_isoflop

        return run_isoflop(load_runs(csv, where=where, fmt=fmt), n_boot=n_boot, seed=seed, level=level, compute=compute,
                           n_starts=n_starts)
    if law_obj.kind == "distill":
        sup_spec = stage1_spec(supervised_law, objective=objective, overestimate_penalty=overestimate_penalty,
                               fix=fix, bound=bound, weights=weights)
        from .distill import fit_distill

        fit = fit_distill(csv, where=where, supervised_law=sup_spec, delta=delta, n_boot=n_boot, seed=seed,
                          fmt=fmt)
        warn_below_floor(fit.supervised, load_runs(csv, where=where, fmt=fmt).df)
    else:
        if n_boot and _is_piecewise(law_obj, method):
            raise UserError("--bootstrap is available for end-to-end fits; use --method end-to-end with farseer")
        runs = load_runs(csv, where=where, fmt=fmt)
        fit = fit_supervised(spec, runs, n_starts=n_starts, seed=seed)
        from .backtest import log_residuals, outlier_mask

        r = log_residuals(fit, runs.df)
        flagged = outlier_mask(r)
        outliers = [{"N": float(a), "D": float(b), "loss": float(c), "log_residual": float(e)} for a, b, c, e in
                    zip(runs.df["N"][flagged], runs.df["D"][flagged], runs.df["loss"][flagged], r[flagged])]
        if exclude_outliers and flagged.any():  # flagged either way; dropped only when asked
            from ..runs import from_frame

            runs = from_frame(runs.df[~flagged].reset_index(drop=True))
            fit = fit_supervised(spec, runs, n_starts=n_starts, seed=seed)
        warn_below_floor(fit, runs.df)
        fit.settings["outliers"] = outliers
        fit.settings["excluded_outliers"] = bool(exclude_outliers and flagged.any())
        if n_boot:
            fit.boot = bootstrap(fit, runs, n_boot=n_boot, seed=seed)
        if calibrate:
            from .backtest import rolling_origin
            from .calibrate import fit_calibration

            bt = next(b for b in chosen[2].values() if b.spec == chosen[0]) if chosen else \
                rolling_origin(runs, spec, calibrate, n_starts=n_starts)
            fit.settings["calibration"] = fit_calibration(bt, fit, runs.df).to_dict()
            fit.settings["backtest"] = bt.summary()
        if chosen:
            fit.settings["recommendation"] = {"why": chosen[1]}
    doc = fit.to_dict(level)
    doc.pop("bootstrap", None)  # the draws go to the fit file, not the terminal
    if "supervised" in doc:
        doc["supervised"].pop("bootstrap", None)
    if compute is not None:
        doc["derived"] = derived_quantities(fit.params, compute)
        if fit.boot is not None:
            doc["derived_ci"] = derived_ci(fit.boot, compute, level)
    return doc, fit


def _positive(name: str, x) -> float:
    if x is None or not (math.isfinite(x) and x > 0):
        raise UserError(f"{name} must be a positive finite number, got {x}")
    return float(x)


def run_predict(fit_file, *, N, D, teacher_loss=None, level: float = 0.9) -> dict:
    """Loss predicted by a fit (or built-in set) at (N, D) — for a student when a teacher loss is given."""
    enable_compile_cache()
    fit = load_fit(fit_file)
    N, D = _positive("--N", N), _positive("--D", D)
    doc = {"law": fit.law.name, "N": N, "D": D}
    if fit.law.kind == "frontier":
        raise UserError(f"{fit_file} is an isoflop fit: it gives N*(C), not a loss; use scalelaw plan --fit")
    if fit.law.kind == "distill":
        if teacher_loss is None:
            raise UserError(f"{fit_file} is a distillation fit: give the teacher's loss with --teacher-loss")
        lt = _positive("--teacher-loss", teacher_loss)
        l_sup = float(fit.supervised.predict(N=N, D=D))
        inputs = {"N": N, "D": D, "L_T": lt, "L_sup": l_sup}
        doc.update({"teacher_loss": lt, "supervised_loss": l_sup})
    else:
        if teacher_loss is not None:
            raise UserError(f"--teacher-loss applies to distillation fits; {fit_file} is a {fit.law.name!r} fit")
        inputs = {"N": N, "D": D}
    doc["loss"] = float(fit.predict(**inputs))
    if fit.settings.get("calibration") and fit.law.kind == "supervised":
        from .calibrate import Calibration, calibrated_interval

        cal = Calibration.from_dict(fit.settings["calibration"])
        _, lo, hi = calibrated_interval(fit, cal, level, N, D)
        doc["interval"], doc["interval_level"] = [float(lo), float(hi)], level
        doc["interval_kind"] = "calibrated"
        doc["extrapolation_distance"] = float(cal.distance(N, D))
        if cal.note:
            doc["calibration_note"] = cal.note
    elif fit.boot is not None:
        draws = fit.boot.predict_draws(**inputs)
        q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
        doc["interval"] = [float(x) for x in np.percentile(draws, q)]
        doc["interval_level"] = level
    return doc
