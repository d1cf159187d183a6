"""Extrapolation validation: fit each law on the smaller models, predict the larger ones.

A scaling law is worth its extrapolation. `validate_laws` splits runs into a training part and a
held-out part (the K largest model sizes, or a row filter such as ``N > 1e9``), fits every law on
the training part and reports the relative error |pred - obs| / obs on the held-out runs and
on the training runs ("in range"), as in Li et al. 2025 (Farseer, Sec. 4). `rollout` repeats
this holding out the largest size, then the two largest, and so on.

With `calibrate=K` every law's interval for the held-out runs is its in-range interval widened
by the extrapolation term learned from K rolling-origin backtests on the training runs only
(`calibrate.py`), and `heldout_coverage` is the fraction of held-out runs inside it. Runs whose
training residual is extreme (`backtest.outlier_mask`) are listed in `outliers`, and refitted
without when `exclude_outliers` is set. `recommended` picks a fit by nested backtests on the
training runs (`calibrate.recommend`) and scores it on the held-out runs like any law.

Farseer is fitted by the authors' differential piecewise procedure by default; where the data
cannot support it (no sqrt(2)-spaced D grid), that law is reported as skipped with the reason,
unless it was the only law asked for, which is a user error.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..errors import UserError
from .run import fit_supervised
from .spec import METHODS, FitSpec



@dataclass
class LawValidation:
    """One law's fit on the training runs and its errors."""

    law: str
    method: str
    holdout: str
    n_train: int
    n_test: int
    heldout_mean_rel_err: float | None = None
    heldout_max_rel_err: float | None = None
    inrange_mean_rel_err: float | None = None
    inrange_max_rel_err: float | None = None
    max_train_N: float | None = None
    #: how far the held-out runs reach: max ln N/N_max-train and max ln C/C_max-train (C = 6ND)
    heldout_max_log_N_ratio: float | None = None
    heldout_max_log_C_ratio: float | None = None
    status: str | None = None
    params: dict | None = None
    seconds: float | None = None
    warnings: list = field(default_factory=list)
    error: str | None = None
    #: set on the entry `recommend` chose: the reason, with every candidate's backtest error
    why: str | None = None
    k: int | None = None  # rollout step: number of largest sizes held out
    interval_level: float | None = None
    heldout_coverage: float | None = None
    heldout_median_halfwidth_rel: float | None = None
    #: the same for the in-range (bootstrap + scatter) interval without the extrapolation term
    heldout_coverage_uncalibrated: float | None = None
    heldout_median_halfwidth_rel_uncalibrated: float | None = None
    calibration: dict | None = None
    backtest: dict | None = None
    #: training runs flagged by their residual: [{"N", "D", "loss", "log_residual", "robust_sigmas"}]
    outliers: list = field(default_factory=list)
    excluded_outliers: bool = False
    #: per-run arrays for plots: N, D, observed, predicted (train and test)
    points: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "points"}
        if self.k is None:
            d.pop("k")
        return d


def holdout_mask(df: pd.DataFrame, *, largest: int | None = None, expr: str | None = None) -> tuple[np.ndarray, str]:
    """Boolean mask of held-out rows and a description of the split.

    Exactly one of `largest` (hold out the K largest distinct N) and `expr` (a pandas query
    expression selecting the held-out rows) may be given; neither means `largest=1`.
    """
    if largest is not None and expr is not None:
        raise UserError("give either --holdout-largest or --holdout, not both")
    if expr is not None:
        try:
            mask = df.eval(expr, engine="python")
        except Exception as e:  # pandas raises many types for a bad expression
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"--holdout {expr!r}: {type(e).__name__}: {msg}") from None
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (len(df),):
            raise UserError(f"--holdout {expr!r}: expected a boolean row filter such as \"N > 1e9\"")
        return mask, expr
    k = 1 if largest is None else int(largest)
    sizes = np.unique(df["N"].to_numpy(float))
    if k < 1:
        raise UserError(f"--holdout-largest must be >= 1, got {k}")
    if k >= sizes.size:
        raise UserError(f"--holdout-largest {k} leaves no training runs: the data has {sizes.size} model "
                        f"size(s)")
    cut = sizes[-k]
    return df["N"].to_numpy(float) >= cut, f"{k} largest size(s) (N >= {cut:.4g})"


def _rel_err(pred, obs):
    return np.abs(pred - obs) / obs


def _check_law(law, df: pd.DataFrame, n_train: int):
    if law.kind != "supervised":
        raise UserError(f"law {law.name!r} is a {law.kind} law; validate extrapolates supervised laws of "
                        f"(N, D) such as chinchilla, chinchilla-gamma, farseer")
    missing = [c for c in law.inputs if c not in df]
    if missing:
        raise UserError(f"law {law.name!r} needs column(s) {missing}, not in the data")
    if n_train <= law.n_params:
        raise UserError(f"law {law.name!r} has {law.n_params} parameters but the training part has only "
                        f"{n_train} run(s); hold out fewer runs")
    if np.unique(df["N"]).size < 2 or np.unique(df["D"]).size < 2:
        raise UserError(f"law {law.name!r} cannot be fitted: the training runs need >= 2 distinct N and D")


def validate_one(law_name: str | FitSpec, df: pd.DataFrame, test: np.ndarray, holdout: str, *,
                 method: str = "piecewise", n_starts: int | None = None, n_boot: int = 0, calibrate: int = 0,
                 level: float = 0.9, exclude_outliers: bool = False, backtest=None) -> LawValidation:
    """Fit one law (a name or a FitSpec) on ~test rows and measure its errors; UserError if it
    cannot be fitted. `calibrate` > 0 backtests over that many origins (or uses `backtest`, one
    already run on the same training rows) to calibrate the intervals."""
    from ..laws import get_law
    from .backtest import log_residuals, outlier_mask, robust_sigma, rolling_origin
    from .calibrate import calibrated_interval, fit_calibration

    spec = law_name if isinstance(law_name, FitSpec) else _spec(get_law(law_name).name, method)
    law = get_law(spec.law)
    used = spec.method if law.name == "farseer" else "end-to-end"
    train_df, test_df = df[~test], df[test]
    out = LawValidation(law=law.name, method=used, holdout=holdout, n_train=len(train_df), n_test=len(test_df))
    if spec.overestimate_penalty != 1:
        out.method = f"{used}, overestimate-penalty {spec.overestimate_penalty:g}"
    _check_law(law, train_df, len(train_df))
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_supervised(spec, train_df, n_starts=n_starts)
        r = log_residuals(fit, train_df)
        flagged = outlier_mask(r)
        sig = robust_sigma(r)
        out.outliers = [{"N": float(a), "D": float(b), "loss": float(c), "log_residual": float(e),
                         "robust_sigmas": float(abs(e - np.median(r)) / sig)}
                        for a, b, c, e in zip(train_df["N"][flagged], train_df["D"][flagged],
                                              train_df["loss"][flagged], r[flagged])]
        if exclude_outliers and flagged.any():
            train_df = train_df[~flagged]
            out.n_train, out.excluded_outliers = len(train_df), True
            fit = fit_supervised(spec, train_df, n_starts=n_starts)
        if n_boot and not (law.name == "farseer" and used == "piecewise"):
            from .core import bootstrap

            fit.boot = bootstrap(fit, train_df, n_boot=n_boot)
        cal = None
        if calibrate:
            bt = backtest if backtest is not None and not exclude_outliers else \
                rolling_origin(train_df, spec, calibrate, n_starts=n_starts)
            cal = fit_calibration(bt, fit, train_df)
            out.calibration, out.backtest = cal.to_dict(), bt.summary()
    out.seconds = time.perf_counter() - t0
    prefix = f"{law.name}: "  # emitted warnings carry the law's name; fit.warnings do not
    msgs = [str(w.message) for w in caught] + list(getattr(fit, "warnings", []))
    out.warnings = list(dict.fromkeys(m[len(prefix):] if m.startswith(prefix) else m for m in msgs))
    out.status, out.params = fit.status, {k: float(v) for k, v in fit.params.items()}
    out.max_train_N = float(train_df["N"].max())
    out.heldout_max_log_N_ratio = float(np.log(test_df["N"].max() / out.max_train_N))
    out.heldout_max_log_C_ratio = float(np.log((test_df["N"] * test_df["D"]).max() / (train_df["N"] * train_df["D"]).max()))
    parts = {}
    for name, part in (("train", train_df), ("test", test_df)):
        pred = law.predict(fit.theta, **{k: part[k].to_numpy(float) for k in law.inputs})
        obs = part["loss"].to_numpy(float)
        parts[name] = (part["N"].to_numpy(float), part["D"].to_numpy(float), obs, pred)
    tr, te = _rel_err(parts["train"][3], parts["train"][2]), _rel_err(parts["test"][3], parts["test"][2])
    if not (np.all(np.isfinite(tr)) and np.all(np.isfinite(te))):
        raise UserError(f"law {law.name!r}: the fit predicts non-finite losses on this data")
    out.heldout_mean_rel_err, out.heldout_max_rel_err = float(te.mean()), float(te.max())
    out.inrange_mean_rel_err, out.inrange_max_rel_err = float(tr.mean()), float(tr.max())
    pred, lo, hi = calibrated_interval(fit, cal, level, test_df["N"].to_numpy(float), test_df["D"].to_numpy(float))
    obs = parts["test"][2]
    out.interval_level = level
    out.heldout_coverage = float(np.mean((obs >= lo) & (obs <= hi)))
    out.heldout_median_halfwidth_rel = float(np.median((hi - lo) / 2 / pred))
    if cal is not None:  # the bootstrap prediction interval without the extrapolation term, for comparison
        _, lo0, hi0 = calibrated_interval(fit, replace(cal, slope=0.0, offset=0.0), level, test_df["N"].to_numpy(float),
                                          test_df["D"].to_numpy(float))
        out.heldout_coverage_uncalibrated = float(np.mean((obs >= lo0) & (obs <= hi0)))
        out.heldout_median_halfwidth_rel_uncalibrated = float(np.median((hi0 - lo0) / 2 / pred))
    parts["interval"] = (lo, hi)
    out.points = parts
    return out


def validate_laws(runs, laws: list[str], *, holdout_largest: int | None = None, holdout: str | None = None,
                  method: str = "piecewise", n_starts: int | None = None, progress=None, n_boot: int = 0,
                  calibrate: int = 0, level: float = 0.9, exclude_outliers: bool = False,
                  recommend: bool = False, options: FitSpec | None = None) -> list[LawValidation]:
    """Fit every law in `laws` on the training part of `runs` and score it on the held-out part.

    A law that cannot be fitted on the data is reported with `error` set, while the others
    still run; if every law asked for fails, the first failure is raised as a UserError.
    `options` (a FitSpec whose law is ignored) carries fitting choices (objective, penalty, fixed
    values, bounds, weights) applied to every law. With `recommend`, a last entry (with `why` set) is the fit `calibrate.recommend` chose from
    backtests on the training part alone, scored on the held-out part.
    """
    df = _frame(runs)
    if method not in METHODS:  # checked up front, before any fit runs
        raise UserError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if not laws:
        raise UserError("--laws is empty; name at least one law, e.g. --laws chinchilla,farseer")
    from ..laws import get_law

    for name in laws:
        get_law(name)  # unknown names fail before any fitting
    test, desc = holdout_mask(df, largest=holdout_largest, expr=holdout)
    if not test.any():
        raise UserError(f"hold-out {desc!r} selects no runs: nothing to predict")
    if test.all():
        raise UserError(f"hold-out {desc!r} selects all {len(df)} runs: no training runs left")
    if not 0 < level < 1:
        raise UserError(f"--level must be in (0, 1), got {level}")
    results, errors, bts = [], [], {}
    one = dict(n_starts=n_starts, n_boot=n_boot, calibrate=calibrate, level=level, exclude_outliers=exclude_outliers)
    if recommend:
        from .calibrate import recommend as choose

        if progress:
            progress(f"backtesting the candidate fits on the {int((~test).sum())} training runs ...")
        spec, why, by_label = choose(df[~test], max(calibrate, 3), n_starts=n_starts)
        bts = {bt.spec: bt for bt in by_label.values()}
    for name in laws:
        if progress:
            progress(f"fitting {name} on {int((~test).sum())} runs, predicting {int(test.sum())} ...")
        try:
            spec_n = _spec(name, method, options)
            results.append(validate_one(spec_n, df, test, desc, backtest=bts.get(spec_n), **one))
        except UserError as e:
            errors.append(e)
            used = method if name == "farseer" else "end-to-end"
            results.append(LawValidation(law=name, method=used, holdout=desc, n_train=int((~test).sum()),
                                         n_test=int(test.sum()), error=str(e)))
    if len(errors) == len(laws):
        raise errors[0]
    if recommend:
        rec = validate_one(spec, df, test, desc, backtest=bts.get(spec), **dict(one, calibrate=max(calibrate, 3)))
        rec.why = why
        results.append(rec)
    return results


def rollout(runs, laws: list[str], k_max: int, **kw) -> list[LawValidation]:
    """Hold out the largest size, then the two largest, ... up to `k_max`; one result per (k, law)."""
    df = _frame(runs)
    sizes = np.unique(df["N"].to_numpy(float)).size
    if k_max < 1 or k_max >= sizes:
        raise UserError(f"--rollout {k_max}: need 1 <= K < number of model sizes ({sizes})")
    out = []
    for k in range(1, k_max + 1):
        for r in validate_laws(df, laws, holdout_largest=k, **kw):
            r.k = k
            out.append(r)
    return out


def _spec(name: str, method: str, options: FitSpec | None = None) -> FitSpec:
    """The spec validate fits a law name with (method matters to farseer only)."""
    from dataclasses import replace

    base = FitSpec() if options is None else options
    return replace(base, law=name, method=method if name == "farseer" else FitSpec.method)


def _frame(runs) -> pd.DataFrame:
    from ..runs import Runs, from_frame

    if isinstance(runs, Runs):
        return runs.df
    return from_frame(runs).df


def table(results: list[LawValidation]) -> str:
    """Plain-text table of results (percent)."""
    pct = lambda x: "-" if x is None else f"{100 * x:.3f}%"  # noqa: E731
    head = f"{'k':>3} {'law':<17} {'method':<11} {'train':>5} {'test':>5} {'held-out mean':>13} " \
           f"{'held-out max':>12} {'in-range mean':>13} {'coverage':>8} {'half-width':>10} {'ln N/Nmax':>9}"
    lines = [head]
    for r in results:
        cov = "-" if r.heldout_coverage is None else f"{100 * r.heldout_coverage:.0f}%"
        lines.append(f"{'' if r.k is None else r.k:>3} {r.law:<17} {r.method:<11} {r.n_train:>5} {r.n_test:>5} "
                     f"{pct(r.heldout_mean_rel_err):>13} {pct(r.heldout_max_rel_err):>12} "
                     f"{pct(r.inrange_mean_rel_err):>13} {cov:>8} {pct(r.heldout_median_halfwidth_rel):>10} "
                     f"{'-' if r.heldout_max_log_N_ratio is None else f'{r.heldout_max_log_N_ratio:.2f}':>9}"
                     + (f"  skipped: {r.error}" if r.error else ""))
    return "\n".join(lines)
