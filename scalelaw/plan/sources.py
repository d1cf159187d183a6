"""What the planner plans from: a law, its fitted parameters and, optionally, bootstrap draws.

`as_planfit` accepts a fit-engine `FitResult` (anything with `.law` and `.theta`, optional
`.boot.thetas` and `.to_dict()["data_range"]`), a `PlanFit`, or a tuple `(law, theta[, boot])`, so
the planner works with any fitted law. `load_plan_fit` reads a fit file or a built-in parameter set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import UserError


@dataclass(frozen=True)
class PlanFit:
    law: object  # scalelaw.laws.Law
    theta: np.ndarray  # (P,) fit-space parameters
    boot: Optional[np.ndarray] = None  # (K, P) bootstrap draws of theta, if any
    data_range: Optional[dict] = None  # {"N": [lo, hi], "D": [lo, hi]} of the fitted data, if known
    source: str = ""
    #: the fit's backtest calibration of its intervals (calibrate.Calibration as a dict), if any
    calibration: Optional[dict] = None

    @property
    def params(self) -> dict:
        return self.law.natural(self.theta)

    def as_fit_result(self):
        """This law, parameters and draws as a fit-engine `FitResult`, so that the planner evaluates
        intervals with the fit's own definitions (`calibrate.calibrated_interval`) rather than a copy."""
        from ..fit.core import BootstrapResult, FitResult

        boot = None if self.boot is None or not len(self.boot) else BootstrapResult(self.law, self.boot)
        return FitResult(self.law, self.theta, objective=float("nan"), n_points=0, boot=boot)


def as_planfit(obj, source: str = "") -> PlanFit:
    if isinstance(obj, PlanFit):
        return obj
    if isinstance(obj, tuple):
        law, theta, *rest = obj
        boot = np.asarray(rest[0], dtype=np.float64) if rest and rest[0] is not None else None
        return PlanFit(law, np.asarray(theta, dtype=np.float64), boot, None, source)
    boot = getattr(getattr(obj, "boot", None), "thetas", None)
    data = getattr(obj, "data", None) or {}
    data_range = {k: data[f"{k}_range"] for k in ("N", "D") if f"{k}_range" in data}
    data_range.update({k: data[k] for k in ("ND_at_C_min", "ND_at_C_max") if k in data})
    data_range = data_range or None
    return PlanFit(
        obj.law,
        np.asarray(obj.theta, dtype=np.float64),
        None if boot is None else np.asarray(boot, dtype=np.float64),
        data_range,
        source,
        (getattr(obj, "settings", None) or {}).get("calibration"),
    )


def load_plan_fit(spec: str) -> tuple[PlanFit, Optional[PlanFit]]:
    """(supervised, distill) fits from a fit file or built-in name; distill is None for a supervised fit."""
    from ..fit import load_fit

    fit = load_fit(spec)
    if fit.law.kind == "distill":
        if getattr(fit, "supervised", None) is None:
            raise UserError(f"{spec}: distillation fit has no supervised fit attached (needed for Ltilde_S and L_T)")
        return as_planfit(fit.supervised, spec + " (supervised)"), as_planfit(fit, spec)
    return as_planfit(fit, spec), None


def require_supervised(spec: str, sup: PlanFit, dist: Optional[PlanFit]) -> PlanFit:
    if dist is not None:
        raise UserError(f"{spec}: holds a distillation law; `scalelaw plan` needs a supervised law "
                        "(use `scalelaw plan distill` for distillation)")
    if sup.law.kind == "frontier":  # an isoflop fit answers N*(C) directly
        return sup
    if sup.law.kind != "supervised" or set(sup.law.inputs) != {"N", "D"}:
        raise UserError(f"{spec}: law {sup.law.name!r} is not a supervised L(N, D) law")
    return sup


def require_distill(spec: str, sup: PlanFit, dist: Optional[PlanFit]) -> tuple[PlanFit, PlanFit]:
    if dist is None:
        raise UserError(f"{spec}: holds the supervised law {sup.law.name!r}; `scalelaw plan distill` needs a "
                        "distillation fit (law 'distill') or the built-in busbridge2025")
    return sup, dist


# ------------------------------------------------------------------ parameter-rounding draws

BUILTINS = ("busbridge2025", "epoch-chinchilla")

#: Decimal places printed in Table 6 of Busbridge et al. 2025 (for draws within the rounding).
PUBLISHED_DECIMALS = {
    "chinchilla-gamma": {"E": 3, "A": 0, "B": 0, "alpha": 3, "beta": 3, "gamma": 3},
    "distill": {"A": 0, "B": 0, "alpha": 3, "beta": 3, "gamma": 3, "c0": 3, "c1": 1, "f1": 3, "d1": 3},
    "chinchilla": {"E": 4, "A": 1, "B": 1, "alpha": 4, "beta": 4},  # Epoch's refit as printed in LAWS.md §1
}


def _default_decimals(value: float, sig: int = 3) -> int:
    """Decimals of `value` rounded to `sig` significant figures (a guess when nothing is known)."""
    if value == 0:
        return sig
    return int(sig - 1 - np.floor(np.log10(abs(value))))


def rounding_draws(fit: PlanFit, n: int, seed: int = 0) -> np.ndarray:
    """(n, P) parameter vectors drawn uniformly within half a unit of each printed digit.

    Published laws come without bootstrap draws; their parameters are only known to the printed
    precision, which already moves decisions such as crossover budgets (LAWS.md §5).
    """
    rng = np.random.default_rng(seed)
    nat = fit.params
    decimals = PUBLISHED_DECIMALS.get(fit.law.name, {}) if fit.source.startswith(BUILTINS) else {}
    out = np.empty((n, fit.theta.size))
    draws = {k: v + rng.uniform(-0.5, 0.5, n) * 10.0 ** -decimals.get(k, _default_decimals(v))
             for k, v in nat.items()}
    for i in range(n):
        out[i] = fit.law.from_natural({k: d[i] for k, d in draws.items()})
    return out
