"""Rolling-origin backtests of a fit on the user's own runs, and residual outlier flags.

A backtest answers "how wrong was this way of fitting when it extrapolated before?": hold out
the largest model sizes, fit on the rest, and record every held-out run's log error together
with how far outside the training runs it lies; then hold out more, and so on. The errors and
distances are what `calibrate.fit_calibration` turns into an interval that widens with
extrapolation distance, and what `calibrate.recommend` compares candidate fits by (the classical
rolling-origin evaluation of forecasting, e.g. Tashman 2000, applied along model size instead
of time).

Where the origins lie is set by distance in ln N, not by counts of sizes (`origins`). The
question the user asks of a fit is an extrapolation by some fraction of the sweep's own span of
ln N (a sweep over two decades asked about the next one: half its span), and the slope k of the
calibration can only be learned from backtests that extrapolate by distances of that order.
Holding out a fixed number of sizes does not: on a densely sampled sweep the top few sizes are
a sliver of ln N. So the K origins split the top FARTHEST_HOLDOUT = 1/2 of the training span
evenly, with no preferred distance in between: origin j holds out every size in the top j/(2K)
of it. One half, because a backtest should pose the kind of question the full fit is asked:
the last origin then extrapolates by as much as it trains on, the farthest a scaling law is
sensibly pushed (one more span of its own data), while holding out more would leave fits on a
small corner of the sweep, whose flexible parameters the data no longer pin down and whose
errors say more about that than about extrapolating the full fit. An origin always holds out at
least what the count rule would (the top j sizes, or size groups of a dense sweep), so it never
tests less than that, and one size more than the origin before it, so a gap in the grid does
not repeat an origin. It keeps at least MIN_TRAIN_SIZES sizes to train on (holding out all the
others where the span rule would leave fewer); where even that repeats the origin before, it
falls back to the count rule.

A held-out error mixes three things: the runs' own scatter, the parameter noise of the
backtest's fit (fewer runs, so larger than the full fit's), and the law's misspecification.
`parameter_noise` measures the second by a bootstrap of each origin's fit, so that calibration
can attribute to misspecification only what the other two do not explain.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import UserError
from ..laws import get_law
from .spec import FitSpec

#: more distinct sizes than this are grouped into this many equal-count groups of sizes, so
#: that one origin holds out a visible step in N rather than a single size of a dense sweep
MAX_SIZE_GROUPS = 10
#: the last rolling origin holds out this fraction of the training span of ln N (module docstring)
FARTHEST_HOLDOUT = 0.5
#: an origin by the span rule keeps at least this many training sizes: the loss along N at fixed D,
#: E' + A / N^alpha, has three free numbers, so fewer sizes cannot pin the N-term down
MIN_TRAIN_SIZES = 3
#: a residual this many robust sigmas (1.4826 * MAD) from the median is flagged as an outlier
OUTLIER_SIGMAS = 4.0


def size_groups(N) -> list[np.ndarray]:
    """Distinct model sizes, ascending, in at most MAX_SIZE_GROUPS contiguous groups."""
    sizes = np.unique(np.asarray(N, dtype=float))
    if sizes.size <= MAX_SIZE_GROUPS:
        return [sizes[i:i + 1] for i in range(sizes.size)]
    return [g for g in np.array_split(sizes, MAX_SIZE_GROUPS) if g.size]


def extrapolation_distance(N, D, N_max: float, D_max: float) -> np.ndarray:
    """How far (N, D) lies outside the training runs: max(0, ln N/N_max) + max(0, ln D/D_max).

    Zero anywhere inside the training box, so intervals there are the fit's own; it grows by
    one per e-fold of extrapolation in either coordinate.
    """
    N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
    return np.maximum(0.0, np.log(N / N_max)) + np.maximum(0.0, np.log(D / D_max))


def log_residuals(fit, df: pd.DataFrame) -> np.ndarray:
    """ln(observed) - ln(predicted) for every row of df."""
    law = fit.law
    pred = law.predict(fit.theta, **{k: df[k].to_numpy(float) for k in law.inputs})
    return np.log(df["loss"].to_numpy(float)) - np.log(np.asarray(pred, dtype=float))


def robust_sigma(r) -> float:
    r = np.asarray(r, dtype=float)
    return float(1.4826 * np.median(np.abs(r - np.median(r)))) if r.size else 0.0


def outlier_mask(r, sigmas: float = OUTLIER_SIGMAS) -> np.ndarray:
    """Residuals more than `sigmas` robust sigmas from their median (none if the scatter is 0)."""
    r = np.asarray(r, dtype=float)
    s = robust_sigma(r)
    if not s > 0:
        return np.zeros(r.shape, dtype=bool)
    return np.abs(r - np.median(r)) > sigmas * s


def scatter_sd(r) -> float:
    """Run-to-run scatter for intervals: the sd of the residuals that are not flagged outliers
    (the robust sigma itself is biased low for a Huber/L1 fit, whose residuals pile up at 0)."""
    r = np.asarray(r, dtype=float)
    keep = r[~outlier_mask(r)]
    return float(np.std(keep)) if keep.size else 0.0


@dataclass
class Backtest:
    """Held-out log errors of one fitting spec over rolling origins, one entry per held-out run."""

    spec: FitSpec
    origin: np.ndarray  # j: which rolling origin (1 = the nearest extrapolation), `origins`
    log_err: np.ndarray  # ln obs - ln pred
    distance: np.ndarray  # extrapolation_distance from that origin's training runs
    d_N: np.ndarray  # ln N / N_max-train (signed)
    d_C: np.ndarray  # ln C / C_max-train (signed), C = 6ND
    scatter: np.ndarray  # scatter_sd of that origin's training residuals
    skipped: list = field(default_factory=list)  # (k, reason) of origins whose fit failed
    #: log-prediction sd of that origin's fit from its own bootstrap (parameter noise); empty
    #: until `parameter_noise` has run
    param_sd: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: per origin, in the order of the arrays: (fit, its training rows, its held-out rows)
    fits: list = field(default_factory=list, repr=False)

    @property
    def reach(self) -> float:
        """The farthest extrapolation distance any backtest tested (0 with no origins)."""
        return float(self.distance.max()) if self.distance.size else 0.0

    @property
    def n_origins(self) -> int:
        return int(np.unique(self.origin).size)

    def origin_errors(self) -> dict[int, float]:
        """Mean |log error| at each origin."""
        return {int(k): float(np.mean(np.abs(self.log_err[self.origin == k]))) for k in np.unique(self.origin)}

    def score(self) -> float:
        """Mean over origins of the origin's mean |log error| (each origin counts once)."""
        e = self.origin_errors()
        return float(np.mean(list(e.values()))) if e else float("inf")

    def summary(self) -> dict:
        return {"spec": self.spec.to_dict(), "n_origins": self.n_origins, "n_points": int(self.log_err.size),
                "score_mean_abs_log_err": self.score(),
                "origin_mean_abs_log_err": {str(k): v for k, v in self.origin_errors().items()},
                "skipped": [{"k": k, "reason": r} for k, r in self.skipped]}


def count_origins(df: pd.DataFrame, k_max: int, n_params: int) -> list[tuple[int, np.ndarray]]:
    """(k, held-out mask) holding out the k largest sizes (or size groups, `size_groups`), k = 1..k_max,
    while the training part keeps >= 2 sizes and > n_params runs: the count rule `origins` falls back to."""
    groups = size_groups(df["N"])
    N = df["N"].to_numpy(float)
    out = []
    for k in range(1, k_max + 1):
        if k >= len(groups):
            break
        test = N >= groups[-k][0]
        if not _trainable(N, test, n_params, 2):
            break
        out.append((k, test))
    return out


def _trainable(N, test, n_params: int, min_sizes: int) -> bool:
    return np.unique(N[~test]).size >= min_sizes and int((~test).sum()) > n_params


def origins(df: pd.DataFrame, k_max: int, n_params: int) -> list[tuple[int, np.ndarray]]:
    """(j, held-out mask) for origins j = 1..k_max spaced by distance in ln N (module docstring):
    origin j holds out the sizes in the top FARTHEST_HOLDOUT * j/k_max of the training span of
    ln N, at least the count rule's origin j, and at least one size more than origin j-1 (a gap
    in the grid must not repeat an origin). One that would keep fewer than MIN_TRAIN_SIZES sizes
    to train on holds out all but the MIN_TRAIN_SIZES smallest instead; where that adds no size
    to origin j-1 (or leaves too few runs), it falls back to the count rule's origin j, and
    where that adds none either, the list ends."""
    N = df["N"].to_numpy(float)
    lnN = np.log(N)
    lo, hi = float(lnN.min()), float(lnN.max())
    sizes = np.unique(N)
    counted = dict(count_origins(df, k_max, n_params))
    out, prev = [], np.zeros(N.size, dtype=bool)
    for j in range(1, k_max + 1):
        # a relative tolerance keeps a size that sits exactly on the cut out of the held-out part
        cut = hi - FARTHEST_HOLDOUT * j / k_max * (hi - lo)
        test = lnN > cut + 1e-9 * max(1.0, abs(cut))
        if j in counted:
            test = test | counted[j]
        if (~prev).any():
            test = test | (N >= N[~prev].max())
        if not _trainable(N, test, n_params, MIN_TRAIN_SIZES):
            # as far as the span rule allows: all but the MIN_TRAIN_SIZES smallest sizes
            test = N > sizes[MIN_TRAIN_SIZES - 1] if sizes.size > MIN_TRAIN_SIZES else np.zeros(N.size, bool)
            if not ((test & ~prev).any() and _trainable(N, test, n_params, MIN_TRAIN_SIZES)):
                test = counted.get(j)
                if test is None or not (test & ~prev).any():
                    break
        out.append((j, test))
        prev = test
    return out


def rolling_origin(runs, spec: FitSpec | str, k_max: int = 3, *, n_starts: int | None = None,
                   n_boot: int = 0) -> Backtest:
    """Backtest `spec` on `runs` over up to k_max rolling origins (see the module docstring);
    with n_boot >= 2 also the parameter noise of every origin's fit (`parameter_noise`)."""
    from .run import fit_supervised
    from .validate import _frame

    spec = spec if isinstance(spec, FitSpec) else FitSpec(law=spec)
    df = _frame(runs)
    law = get_law(spec.law)
    if k_max < 1:
        raise UserError(f"--rollout must be >= 1, got {k_max}")
    parts = {k: [] for k in ("origin", "log_err", "distance", "d_N", "d_C", "scatter")}
    skipped, fits = [], []
    for k, test in origins(df, k_max, law.n_params):
        train, held = df[~test], df[test]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = fit_supervised(spec, train, n_starts=n_starts)
        except UserError as e:
            skipped.append((k, str(e)))
            continue
        err = log_residuals(fit, held)
        if not np.all(np.isfinite(err)):
            skipped.append((k, "non-finite predictions"))
            continue
        Nm, Dm = float(train["N"].max()), float(train["D"].max())
        Cm = float((train["N"] * train["D"]).max())
        parts["origin"].append(np.full(err.size, k))
        parts["log_err"].append(err)
        parts["distance"].append(extrapolation_distance(held["N"], held["D"], Nm, Dm))
        parts["d_N"].append(np.log(held["N"].to_numpy(float) / Nm))
        parts["d_C"].append(np.log((held["N"] * held["D"]).to_numpy(float) / Cm))
        parts["scatter"].append(np.full(err.size, scatter_sd(log_residuals(fit, train))))
        fits.append((fit, train, held))
    arrays = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in parts.items()}
    arrays["origin"] = arrays["origin"].astype(int)
    bt = Backtest(spec=spec, skipped=skipped, fits=fits, **arrays)
    return parameter_noise(bt, n_boot) if n_boot >= 2 else bt


def bootstrappable(spec: FitSpec) -> bool:
    """Whether fits of `spec` can be bootstrapped (the piecewise Farseer procedure cannot)."""
    return not (spec.law == "farseer" and spec.method == "piecewise")


def parameter_noise(bt: Backtest, n_boot: int, seed: int = 0) -> Backtest:
    """`bt` with `param_sd` set: at every held-out run, the sd of the log prediction over an
    n_boot bootstrap of that origin's fit, read from the central 90% of the draws (a few refits
    that stop at the iteration limit must not dominate it). Zero where the spec cannot be
    bootstrapped, so calibration then treats the parameter noise as part of the error."""
    from dataclasses import replace

    from scipy.stats import norm

    from .core import bootstrap

    if not bt.fits or not bootstrappable(bt.spec):
        return replace(bt, param_sd=np.zeros(bt.log_err.size))
    z90 = float(norm.ppf(0.95))
    out = []
    for fit, train, held in bt.fits:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            boot = bootstrap(fit, train, n_boot=n_boot, seed=seed)
        logs = np.log(boot.predict_draws(**{k: held[k].to_numpy(float) for k in fit.law.inputs}))
        lo, hi = np.nanpercentile(logs, [5, 95], axis=0)
        out.append((hi - lo) / (2 * z90))
    return replace(bt, param_sd=np.concatenate(out))


def backtest_table(bt: Backtest) -> str:
    """Plain-text per-origin summary of a backtest."""
    lines = [f"rolling-origin backtest of {bt.spec.law} ({bt.spec.objective}"
             + (f", over-estimate penalty {bt.spec.overestimate_penalty:g}" if bt.spec.overestimate_penalty != 1 else "")
             + f"): {bt.n_origins} origin(s)",
             f"{'k':>3} {'runs':>5} {'mean |log err|':>15} {'max ln N/N_max':>15} {'max distance':>13}"]
    for k in np.unique(bt.origin):
        m = bt.origin == k
        lines.append(f"{k:>3} {int(m.sum()):>5} {np.mean(np.abs(bt.log_err[m])):>15.4f} {bt.d_N[m].max():>15.3f} "
                     f"{bt.distance[m].max():>13.3f}")
    lines += [f"  origin {k} skipped: {r}" for k, r in bt.skipped]
    return "\n".join(lines)
