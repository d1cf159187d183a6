"""Prediction intervals calibrated by backtests, and a law recommended from the user's runs.

The model of extrapolation error is one line: a held-out run at extrapolation distance d
(`backtest.extrapolation_distance`, e-folds outside the training box) has log error

    e ~ Normal(0, s^2 + b^2 + (k d)^2)    (b only where d > 0)

where s is the fit's own in-range scatter (sd of its non-outlier log residuals), b the offset
any model outside the training runs carries (neighbouring sizes of a sweep differ by more than
runs of one size: shapes, learning rates), and k (log error per e-fold) the growth; b and k are
fitted by maximum likelihood to the rolling-origin backtest errors on the training runs. An interval for a new prediction is, in log space, the bootstrap interval of the
fitted curve (parameter uncertainty; none without draws) widened in quadrature by z s and by
z sqrt(b^2 + (k d)^2), so inside the data's range (d = 0) it is the bootstrap prediction interval. With fewer than MIN_ORIGINS backtest origins the
slope is not trusted: k is raised to at least PRIOR_SLOPE and the calibration says so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import UserError
from .backtest import Backtest, extrapolation_distance, scatter_sd

#: fewer backtest origins than this cannot pin the slope down
MIN_ORIGINS = 3
#: conservative floor on the slope (log error per e-fold of extrapolation) when they are too few:
#: 3% per e-fold, about 7% at a 10x extrapolation, chosen a priori as a generous bound
PRIOR_SLOPE = 0.03


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


@dataclass(frozen=True)
class Calibration:
    """How the log-error spread grows outside the training runs: sd(d) = sqrt(s^2 + (slope d)^2)."""

    slope: float
    #: extra log-error sd of any run outside the training box (a new model size carries its own offset)
    offset: float
    scatter: float  # in-range scatter (backtest.scatter_sd) of the fit's own log residuals
    N_max: float  # the training box the distance is measured from
    D_max: float
    n_origins: int
    n_points: int
    calibrated: bool
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> "Calibration":
        return cls(**{k: d.get(k, 0.0) if k == "offset" else d[k] for k in cls.__dataclass_fields__ if k in d or k == "offset"})

    def distance(self, N, D) -> np.ndarray:
        return extrapolation_distance(N, D, self.N_max, self.D_max)

    def extrapolation_sd(self, N, D) -> np.ndarray:
        """The log-error sd added outside the training box: sqrt(b^2 + (k d)^2), 0 inside."""
        d = self.distance(N, D)
        return np.where(d > 0, np.sqrt(self.offset ** 2 + (self.slope * d) ** 2), 0.0)


def mle_growth(log_err, distance, scatter) -> tuple[float, float]:
    """Maximum-likelihood (offset b, slope k) for e_i ~ N(0, s_i^2 + [d_i > 0] b^2 + k^2 d_i^2)."""
    from scipy.optimize import minimize

    e, d = np.asarray(log_err, float), np.asarray(distance, float)
    s2 = np.maximum(np.asarray(scatter, float) ** 2, 1e-12)
    if not np.any(d > 0):
        return 0.0, 0.0
    out = (d > 0).astype(float)
    lo, hi = math.log(1e-5), math.log(2.0)

    def nll(p):
        b, k = np.exp(np.clip(p, lo, hi))
        v = s2 + out * b ** 2 + (k * d) ** 2
        return float(np.sum(np.log(v) + e ** 2 / v))

    best = min((minimize(nll, x0, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-9})
                for x0 in ([math.log(1e-2), math.log(1e-2)], [math.log(1e-4), math.log(3e-2)],
                           [math.log(3e-2), math.log(1e-4)])), key=lambda r: r.fun)
    b, k = np.exp(np.clip(best.x, lo, hi))
    return (0.0 if b <= 2e-5 else float(b)), (0.0 if k <= 2e-5 else float(k))


def mle_slope(log_err, distance, scatter) -> float:
    """The slope k of `mle_growth`."""
    return mle_growth(log_err, distance, scatter)[1]


def fit_calibration(bt: Backtest, fit, train_df) -> Calibration:
    """Calibration of `fit` (fitted on train_df) from the backtest of its spec on train_df."""
    from .backtest import log_residuals

    s = scatter_sd(log_residuals(fit, train_df))
    N_max, D_max = float(train_df["N"].max()), float(train_df["D"].max())
    b, k = mle_growth(bt.log_err, bt.distance, bt.scatter) if bt.log_err.size else (0.0, 0.0)
    ok = bt.n_origins >= MIN_ORIGINS
    note = "" if ok else (f"only {bt.n_origins} backtest origin(s) (< {MIN_ORIGINS} held-out size groups): slope "
                          f"raised to at least {PRIOR_SLOPE} per e-fold")
    if not ok:
        k = max(k, PRIOR_SLOPE)
    return Calibration(slope=float(k), offset=float(b), scatter=s, N_max=N_max, D_max=D_max, n_origins=bt.n_origins,
                       n_points=int(bt.log_err.size), calibrated=ok, note=note)


def _scatter(fit) -> float:
    res = fit.settings.get("log_residuals")
    return scatter_sd(res) if res else float(fit.settings.get("residual_sd") or 0.0)


def calibrated_interval(fit, cal: Calibration | None, level: float, N, D):
    """(pred, lo, hi): a prediction interval for a new run at (N, D).

    In log space each side is the bootstrap's percentile interval of the fitted curve (when the
    fit has draws) widened in quadrature by z·s (the in-range run-to-run scatter) and by
    z·slope·distance (the calibrated extrapolation term; zero inside the training box)."""
    N, D = np.asarray(N, float), np.asarray(D, float)
    pred = np.asarray(fit.predict(N=N, D=D), dtype=float)
    c = np.log(pred)
    lo_b = hi_b = np.zeros_like(c)
    if fit.boot is not None and len(fit.boot.thetas):
        lo, hi = fit.predict_interval(level, noise=False, N=N, D=D)
        lo_b, hi_b = np.maximum(c - np.log(lo), 0.0), np.maximum(np.log(hi) - c, 0.0)
    z = _z(level)
    s = cal.scatter if cal is not None else _scatter(fit)
    ext = 0.0 if cal is None else z * cal.extrapolation_sd(N, D)
    lo = np.exp(c - np.sqrt(lo_b ** 2 + (z * s) ** 2 + ext ** 2))
    hi = np.exp(c + np.sqrt(hi_b ** 2 + (z * s) ** 2 + ext ** 2))
    return pred, lo, hi


# ------------------------------------------------------------------ recommendation


def candidates():
    """The fixed candidate fits `--recommend` / `--law auto` choose among (default first)."""
    from .spec import FitSpec

    return (FitSpec(law="chinchilla"),
            FitSpec(law="chinchilla", overestimate_penalty=2.0),
            FitSpec(law="chinchilla-gamma"),
            FitSpec(law="farseer", method="piecewise"))


#: a candidate replaces the default only if its backtest score is below this fraction of the
#: default's: inner backtests are few and noisy, and switching on a small edge overfits them
SWITCH_MARGIN = 0.8


def spec_label(spec) -> str:
    extra = []
    if spec.law == "farseer":
        extra.append(spec.method)
    if spec.overestimate_penalty != 1:
        extra.append(f"overestimate-penalty {spec.overestimate_penalty:g}")
    return spec.law + (f" ({', '.join(extra)})" if extra else "")


def recommend(train_runs, k_max: int = 3, *, n_starts: int | None = None, backtests: dict | None = None):
    """Choose among `candidates()` by rolling-origin backtests on `train_runs` only.

    Rule: every candidate is backtested on the same origins; one whose fit fails at any origin
    (or has no origins) is out; the default (first) candidate is kept unless there are at least
    MIN_ORIGINS origins and another's score (mean over origins of mean |log error|) is below
    SWITCH_MARGIN times the default's, in which case the lowest score wins. Returns (spec, why, {label: Backtest}).
    `backtests` may carry already-run backtests keyed by spec, to avoid refitting."""
    from .backtest import rolling_origin

    backtests = dict(backtests or {})
    scores, bts = {}, {}
    for spec in candidates():
        bt = backtests.get(spec) or rolling_origin(train_runs, spec, k_max, n_starts=n_starts)
        bts[spec_label(spec)] = bt
        if bt.skipped or bt.n_origins == 0:
            continue
        scores[spec] = bt.score()
    default = candidates()[0]
    if default not in scores:
        if not scores:
            raise UserError("no candidate law could be backtested on these runs (too few model sizes?)")
        default = min(scores, key=scores.get)
    best = min(scores, key=scores.get)
    enough = bts[spec_label(default)].n_origins >= MIN_ORIGINS
    choice = best if enough and scores[best] < SWITCH_MARGIN * scores[default] else default
    parts = ", ".join(f"{spec_label(s)} {100 * v:.2f}%" for s, v in scores.items())
    out = [spec_label(s) for s in candidates() if s not in scores]
    why = (f"backtest mean |log error| over {bts[spec_label(default)].n_origins} origin(s) on the training runs: "
           f"{parts}" + (f"; not backtestable: {', '.join(out)}" if out else "") + "; "
           + (f"{spec_label(choice)} beats the default by more than {100 * (1 - SWITCH_MARGIN):.0f}%"
              if choice != default else f"kept {spec_label(default)} (" + (
                  f"no candidate beat it by {100 * (1 - SWITCH_MARGIN):.0f}%)" if enough else
                  f"fewer than {MIN_ORIGINS} backtest origins: too little evidence to switch)")))
    return choice, why, bts
