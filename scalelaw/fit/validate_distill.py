"""Held-out validation of the two-stage distillation fit: predict students the fit never saw.

Busbridge et al. (2025, arXiv 2502.08606, §4.3) judge their law by how well it predicts student
losses (<~1% error). Here the students are split by a filter (a pandas expression such as
``loss < 2.6`` or ``N >= 5e4``, or the K largest student sizes); stage 1 is fitted on every
supervised and teacher run (the students' teachers and supervised twins are data a practitioner
has before distilling), stage 2 on the remaining students only, and the held-out students are
predicted from their (N_S, D_S, L_T) and the stage-1 prediction Ltilde_S.

The interval is predictive: each bootstrap draw of the student law (students resampled, solved
from the fit's leading optima, `fit.distill.multistart_bootstrap`) is combined with one draw of
the training students' log-residual scatter, so it covers run-to-run noise as well as parameter
uncertainty. The result carries the same keys as the supervised laws' validation
(`heldout_mean_rel_err`, `heldout_coverage`, `interval_level`, `heldout_median_halfwidth_rel`).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from ..errors import UserError
from .spec import FitSpec


def _student_mask(students: pd.DataFrame, holdout: str | None, holdout_largest: int | None) -> tuple[np.ndarray, str]:
    from .validate import holdout_mask

    mask, desc = holdout_mask(students, largest=holdout_largest, expr=holdout)
    if not mask.any():
        raise UserError(f"--holdout {desc!r} selects no student")
    if mask.all():
        raise UserError(f"--holdout {desc!r} selects every student; nothing is left to fit stage 2 on")
    return mask, f"students: {desc}"


def validate_distill(path_or_runs, *, holdout: str | None = None, holdout_largest: int | None = None,
                     where: str | None = None, supervised_law: str | FitSpec = "chinchilla-gamma",
                     n_boot: int = 200, level: float = 0.9, seed: int = 0, fmt=None) -> dict:
    """Fit stage 2 without the held-out students, predict them; a JSON-ready dict.

    Exactly one of `holdout` (a row filter on the students) and `holdout_largest` (the K largest
    student sizes) may be given; neither holds out the largest student size.
    """
    from .distill import fit_distill, split_roles

    if not 0 < level < 1:
        raise UserError(f"--level must be in (0, 1), got {level}")
    if n_boot < 0:
        raise UserError(f"--bootstrap must be >= 0, got {n_boot}")
    sup, students = split_roles(path_or_runs, where=where, fmt=fmt)
    test, desc = _student_mask(students.df, holdout, holdout_largest)
    train_df = pd.concat([sup.df, students.df[~test]], ignore_index=True)
    test_df = students.df[test].reset_index(drop=True)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_distill(train_df, supervised_law=supervised_law, n_boot=n_boot, seed=seed)
    out = {
        "law": fit.law.name, "method": "two-stage", "holdout": desc,
        "n_train": int(len(students.df) - test.sum()), "n_test": int(test.sum()), "n_supervised": int(len(sup.df)),
        "status": fit.status, "supervised_status": fit.supervised.status,
        "params": {k: float(v) for k, v in fit.params.items()},
        "supervised_params": {k: float(v) for k, v in fit.supervised.params.items()},
        "warnings": list(dict.fromkeys(str(w.message) for w in caught)),
    }
    parts = {}
    for name, part in (("train", students.df[~test]), ("test", test_df)):
        inputs = _inputs(fit, part)
        parts[name] = (inputs, part["loss"].to_numpy(float), np.asarray(fit.predict(**inputs), dtype=float))
    rel = {k: np.abs(p - o) / o for k, (_, o, p) in parts.items()}
    if not all(np.all(np.isfinite(r)) for r in rel.values()):
        raise UserError("distill: the fit predicts non-finite student losses on this data")
    out.update(heldout_mean_rel_err=float(rel["test"].mean()), heldout_max_rel_err=float(rel["test"].max()),
               inrange_mean_rel_err=float(rel["train"].mean()), inrange_max_rel_err=float(rel["train"].max()),
               interval_level=level, heldout_coverage=None, heldout_median_halfwidth_rel=None)
    inputs, obs, pred = parts["test"]
    if fit.boot is not None:
        lo, hi = predictive_interval(fit, inputs, parts["train"], level=level, seed=seed)
        out["heldout_coverage"] = float(np.mean((obs >= lo) & (obs <= hi)))
        out["heldout_median_halfwidth_rel"] = float(np.median((hi - lo) / 2 / pred))
        out["interval_kind"] = "bootstrap draws x training-student log-residual scatter"
    out["points"] = [
        {"N": float(n), "D": float(d), "L_T": float(lt), "loss": float(o), "predicted": float(p)}
        for n, d, lt, o, p in zip(inputs["N"], inputs["D"], inputs["L_T"], obs, pred)
    ]
    out["seconds"] = time.perf_counter() - t0
    return out


def _inputs(fit, part: pd.DataFrame) -> dict:
    N, D = part["N"].to_numpy(float), part["D"].to_numpy(float)
    return {"N": N, "D": D, "L_T": part["L_T"].to_numpy(float),
            "L_sup": np.asarray(fit.supervised.predict(N=N, D=D), dtype=float)}


def predictive_interval(fit, inputs: dict, train, *, level: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap predictions each times exp(a residual draw)."""
    t_inputs, t_obs, t_pred = train
    sd = float(np.std(np.log(t_obs) - np.log(t_pred), ddof=1)) if len(t_obs) > 1 else 0.0
    draws = np.asarray(fit.boot.predict_draws(**inputs), dtype=float)  # (n_boot, n)
    ok = np.all(np.isfinite(draws), axis=1)
    draws = draws[ok]
    if len(draws) == 0:
        raise UserError("distill: every bootstrap draw predicts non-finite losses")
    rng = np.random.default_rng(seed + 17)
    draws = draws * np.exp(sd * rng.standard_normal(draws.shape))
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    lo, hi = np.percentile(draws, q, axis=0)
    return lo, hi


def table(doc: dict) -> str:
    """One human-readable line per figure of the validation."""
    cov = doc["heldout_coverage"]
    return (f"{doc['law']} ({doc['method']}), held out {doc['holdout']}: {doc['n_test']} test / {doc['n_train']} "
            f"train students, {doc['n_supervised']} supervised runs; held-out mean rel. error "
            f"{100 * doc['heldout_mean_rel_err']:.3f}% (max {100 * doc['heldout_max_rel_err']:.3f}%), in-range "
            f"{100 * doc['inrange_mean_rel_err']:.3f}%"
            + (f"; {100 * cov:.0f}% of held-out inside the {100 * doc['interval_level']:.0f}% interval "
               f"(median half-width {100 * doc['heldout_median_halfwidth_rel']:.2f}%)" if cov is not None else "")
            + f"; fit status {doc['status']} (stage 1 {doc['supervised_status']})")
