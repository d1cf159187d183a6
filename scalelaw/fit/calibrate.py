"""Prediction intervals calibrated by backtests, and a law recommended from the user's runs.

A held-out run at extrapolation distance d (`backtest.extrapolation_distance`, e-folds outside
the training box) has log error made of three independent parts,

    e ~ Normal(0, s^2 + p(x)^2 + m(d)^2),    m(d)^2 = b^2 + (k d)^2    (b only where d > 0)

s the fit's own in-range scatter (sd of its non-outlier log residuals), p(x) the fit's parameter
noise at that point (its bootstrap), and m(d) the misspecification of the law: b the offset any
model outside the training runs carries (neighbouring sizes of a sweep differ by more than runs
of one size: shapes, learning rates), k its growth per e-fold. The rolling-origin backtests
measure the whole error of fits that extrapolated before; b and k are fitted to them by maximum
likelihood with each backtest run's own s and p (from a bootstrap of that origin's fit) in its
variance, so that parameter noise, which the full fit's bootstrap already carries into the
interval, is not counted a second time through b and k. Without a bootstrap of the full fit p is
0 on both sides and b, k carry the parameter noise as well.

The interval for a new prediction is, in log space, the bootstrap percentile interval of the
fitted curve (p; none without draws) widened in quadrature by z s and by q m+(d), so inside the
data's range (d = 0) it is the bootstrap prediction interval. Two things are known a priori
about the misspecification term and used as such:

* b and k are estimated from few effectively independent samples: one per backtest origin
  (the runs held out at one origin share their model sizes' offsets and one fit, so they are
  not independent). An sd estimated from n zero-mean samples and used as if known gives too
  narrow intervals; the predictive quantile of the next draw is Student-t with n degrees of
  freedom, so q is the t quantile with n_origins degrees of freedom (z when there is none).
* Nothing is known about the error beyond the farthest distance the backtests reached
  (`Backtest.reach`, r), and there the fitted k may be 0. A law fitted in log space is pinned
  near the centre of its runs (for a straight-line fit, the error a wrong slope makes grows in
  proportion to the distance from the mean of the x values), so beyond r the term keeps growing
  at least in proportion to the distance from that pivot, c = ln N_max - mean ln N of the
  training runs inside the box edge: m+(d) = m(d) for d <= r, and beyond it the offset b is
  scaled by (d + c) / (r + c), so that m+ grows at least like m(r) (d + c) / (r + c).

With fewer than MIN_ORIGINS backtest origins the slope is not trusted: k is raised to at least
PRIOR_SLOPE and the calibration says so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

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


def misfit_quantile(level: float, n_origins: int) -> float:
    """Two-sided `level` quantile for the misspecification term: Student-t with one degree of
    freedom per backtest origin (b and k are estimated from that many samples), normal without."""
    if n_origins < 1:
        return _z(level)
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, df=n_origins))


@dataclass(frozen=True)
class Calibration:
    """How the log-error spread grows outside the training runs (see the module docstring)."""

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
    #: the farthest distance the backtests tested; beyond it the term grows in proportion (0: no backtest)
    reach: float = 0.0
    #: ln N_max - mean ln N of the training runs: how far inside the box edge the fit is pinned
    pivot: float = 0.0
    #: b and k were fitted net of the backtest fits' own parameter noise (the fit has a bootstrap)
    net_of_parameter_noise: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> "Calibration":
        """From `to_dict` output; fields added later take their defaults (old fit files load)."""
        defaults = {"offset": 0.0, "note": "", "reach": 0.0, "pivot": 0.0, "net_of_parameter_noise": False}
        return cls(**{f.name: d.get(f.name, defaults.get(f.name)) for f in fields(cls)
                      if f.name in d or f.name in defaults})

    def distance(self, N, D) -> np.ndarray:
        return extrapolation_distance(N, D, self.N_max, self.D_max)

    def extrapolation_sd(self, N, D) -> np.ndarray:
        """The misspecification sd m+(d) outside the training box, 0 inside: sqrt((b g)^2 + (k d)^2),
        g = max(1, (d + pivot) / (reach + pivot)) (growth beyond the farthest backtested distance)."""
        d = np.asarray(self.distance(N, D), dtype=float)
        g = np.maximum(1.0, (d + self.pivot) / (self.reach + self.pivot)) if self.reach > 0 else 1.0
        return np.where(d > 0, np.sqrt((self.offset * g) ** 2 + (self.slope * d) ** 2), 0.0)

    def quantile(self, level: float) -> float:
        """The multiplier of `extrapolation_sd` in a `level` interval (`misfit_quantile`)."""
        return misfit_quantile(level, self.n_origins)

    def log_halfwidths(self, level: float, N, D, boot_lo=0.0, boot_hi=0.0):
        """(lower, upper) log half-widths of the calibrated `level` interval at (N, D), given the
        bootstrap's own log half-widths of the curve there (0 without a bootstrap)."""
        extra = (_z(level) * self.scatter) ** 2 + (self.quantile(level) * self.extrapolation_sd(N, D)) ** 2
        return np.sqrt(np.asarray(boot_lo) ** 2 + extra), np.sqrt(np.asarray(boot_hi) ** 2 + extra)


def mle_growth(log_err, distance, scatter, param_sd=None) -> tuple[float, float]:
    """Maximum-likelihood (offset b, slope k) for e_i ~ N(0, s_i^2 + p_i^2 + [d_i > 0] b^2 + k^2 d_i^2)."""
    from scipy.optimize import minimize

    e, d = np.asarray(log_err, float), np.asarray(distance, float)
    s2 = np.asarray(scatter, float) ** 2
    if param_sd is not None and np.size(param_sd):
        s2 = s2 + np.asarray(param_sd, float) ** 2
    s2 = np.maximum(s2, 1e-12)
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


#: most bootstrap refits per backtest origin spent measuring its parameter noise (a sd read from
#: the central 90% of the draws is steady long before the full fit's bootstrap size)
MAX_BACKTEST_BOOT = 100


def fit_calibration(bt: Backtest, fit, train_df) -> Calibration:
    """Calibration of `fit` (fitted on train_df) from the backtest of its spec on train_df.

    When `fit` has a bootstrap, the backtest fits' parameter noise is measured the same way
    (unless `bt` already carries it) and b, k are fitted net of it."""
    from .backtest import bootstrappable, log_residuals, parameter_noise

    s = scatter_sd(log_residuals(fit, train_df))
    N_max, D_max = float(train_df["N"].max()), float(train_df["D"].max())
    pivot = float(math.log(N_max) - np.mean(np.log(train_df["N"].to_numpy(float))))
    boot = getattr(fit, "boot", None)
    net = boot is not None and len(boot.thetas) >= 2 and bootstrappable(bt.spec) and bt.log_err.size > 0
    if net and bt.param_sd.size != bt.log_err.size:
        bt = parameter_noise(bt, min(len(boot.thetas), MAX_BACKTEST_BOOT))
    p = bt.param_sd if net else None
    b, k = mle_growth(bt.log_err, bt.distance, bt.scatter, p) if bt.log_err.size else (0.0, 0.0)
    ok = bt.n_origins >= MIN_ORIGINS
    note = "" if ok else (f"only {bt.n_origins} backtest origin(s) (< {MIN_ORIGINS} held-out size groups): slope "
                          f"raised to at least {PRIOR_SLOPE} per e-fold")
    if not ok:
        k = max(k, PRIOR_SLOPE)
    return Calibration(slope=float(k), offset=float(b), scatter=s, N_max=N_max, D_max=D_max, n_origins=bt.n_origins,
                       n_points=int(bt.log_err.size), calibrated=ok, note=note, reach=bt.reach, pivot=pivot,
                       net_of_parameter_noise=bool(net))


def _scatter(fit) -> float:
    res = fit.settings.get("log_residuals")
    return scatter_sd(res) if res else float(fit.settings.get("residual_sd") or 0.0)


def calibrated_interval(fit, cal: Calibration | None, level: float, N, D):
    """(pred, lo, hi): a prediction interval for a new run at (N, D).

    In log space each side is the bootstrap's percentile interval of the fitted curve (when the
    fit has draws) widened in quadrature by z·s (the in-range run-to-run scatter) and by
    q·m+(d) (the calibrated misspecification term, `Calibration.log_halfwidths`; zero inside the
    training box)."""
    N, D = np.asarray(N, float), np.asarray(D, float)
    pred = np.asarray(fit.predict(N=N, D=D), dtype=float)
    c = np.log(pred)
    lo_b = hi_b = np.zeros_like(c)
    if fit.boot is not None and len(fit.boot.thetas):
        lo, hi = fit.predict_interval(level, noise=False, N=N, D=D)
        lo_b, hi_b = np.maximum(c - np.log(lo), 0.0), np.maximum(np.log(hi) - c, 0.0)
    if cal is None:
        w = _z(level) * _scatter(fit)
        w_lo, w_hi = np.sqrt(lo_b ** 2 + w ** 2), np.sqrt(hi_b ** 2 + w ** 2)
    else:
        w_lo, w_hi = cal.log_halfwidths(level, N, D, lo_b, hi_b)
    return pred, np.exp(c - w_lo), np.exp(c + w_hi)


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
#: ... and only if its edge is also significant against the origin-to-origin noise: a one-sided
#: paired t-test of the per-origin differences at this level (the conventional 5%)
SWITCH_SIGNIFICANCE = 0.05


def significantly_better(bt: Backtest, default: Backtest) -> bool:
    """One-sided paired t-test, over the origins both backtests share, that `bt` has the smaller
    mean |log error|: each origin is one sample (its runs share one fit), so the test has
    n_origins - 1 degrees of freedom and needs a consistent edge, not one lucky origin."""
    from scipy.stats import t

    a, b = bt.origin_errors(), default.origin_errors()
    diff = np.array([a[k] - b[k] for k in sorted(set(a) & set(b))])
    if diff.size < 2:
        return False
    sd = float(np.std(diff, ddof=1))
    if sd == 0:
        return bool(diff.mean() < 0)
    return bool(diff.mean() / (sd / math.sqrt(diff.size)) < t.ppf(SWITCH_SIGNIFICANCE, df=diff.size - 1))


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
    MIN_ORIGINS origins and some candidate's score (mean over origins of mean |log error|) is
    below SWITCH_MARGIN times the default's and `significantly_better` (a paired test over the
    origins); the lowest score among those wins. Returns (spec, why, {label: Backtest}).
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
    enough = bts[spec_label(default)].n_origins >= MIN_ORIGINS
    by_margin = [s for s in scores if s != default and scores[s] < SWITCH_MARGIN * scores[default]]
    winners = [s for s in by_margin if significantly_better(bts[spec_label(s)], bts[spec_label(default)])]
    choice = min(winners, key=scores.get) if enough and winners else default
    parts = ", ".join(f"{spec_label(s)} {100 * v:.2f}%" for s, v in scores.items())
    out = [spec_label(s) for s in candidates() if s not in scores]
    margin, sig = f"{100 * (1 - SWITCH_MARGIN):.0f}%", f"{100 * SWITCH_SIGNIFICANCE:.0f}%"
    if choice != default:
        verdict = f"{spec_label(choice)} beats the default by more than {margin}, consistently over the origins " \
                  f"(paired t-test, {sig} level)"
    elif not enough:
        verdict = f"kept {spec_label(default)} (fewer than {MIN_ORIGINS} backtest origins: too little evidence to switch)"
    elif by_margin:
        verdict = (f"kept {spec_label(default)} ({', '.join(spec_label(s) for s in by_margin)} beat it by more than "
                   f"{margin} on average, but not consistently over the origins: paired t-test not significant at {sig})")
    else:
        verdict = f"kept {spec_label(default)} (no candidate beat it by {margin})"
    why = (f"backtest mean |log error| over {bts[spec_label(default)].n_origins} origin(s) on the training runs: "
           f"{parts}" + (f"; not backtestable: {', '.join(out)}" if out else "") + "; " + verdict)
    return choice, why, bts
