"""Farseer's "differential piecewise fitting" (Li et al. 2025, arXiv 2506.10972, Sec. 3,
App. C, Alg. 1-2), the way its authors fit the nine-parameter law.

Every sub-fit is ordinary least squares in log space inside a 1-D grid search over one exponent:

1. Differences. For each model size N, pair runs whose token counts differ by lambda ~ sqrt(2)
   and take R_N(D) = L(N, D) - L(N, lambda D). Under the law, G(N) cancels and
   R_N(D) = B_N (1 - lambda^-A_N) D^-A_N, so OLS of log R on log D gives per-N A_N and B_N.
2. Stretched exponentials. Fit log A_N = a1 n^g1 + b1 and log B_N = a2 n^g2 + b2 (n = N in
   billions) by a grid over the exponent ([-0.5, 0.5) step 1e-4, 10,000 values, all solved in
   one array operation) with the linear pair (a, b) by OLS at each grid value. Then refine
   alternately: with B's triple fixed, re-choose g1 (and its OLS pair) as the grid value whose
   law best reconstructs the observed differences R (mean absolute relative error); then the
   same for g2 with A's triple fixed; repeat until neither exponent moves (1-2 rounds).
   As in the authors' code, B's fit is constrained to a2 > 0, g2 < 0.
3. Floor. O(N, D) = L - B(N) D^-A(N); G_N = mean over D of O; fit log G_N = a3 n^g3 + b3 by the
   same grid-plus-OLS (step 1e-3).

The data must be a grid: several model sizes, each trained at sqrt(2)-spaced token counts.
When it is not (isoFLOP data with one D per N, too few pairs, too few sizes) `fit_piecewise`
raises UserError saying what is missing; the end-to-end fit (`fit_law`) works on any data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ScalelawWarning, UserError
from ..laws.farseer import FARSEER, N_UNIT

LAMBDA = float(np.sqrt(2.0))
#: the authors' exponent grids
AB_GRID = np.round(np.arange(-5000, 5000) * 1e-4, 10)  # [-0.5, 0.5) step 1e-4: 10,000 values
G_GRID = np.round(np.arange(-500, 500) * 1e-3, 10)  # [-0.5, 0.5) step 1e-3
MIN_PAIRS = 5
MIN_SIZES = 4
HINT = "use the end-to-end fit instead (--method end-to-end)"


@dataclass(frozen=True)
class Differences:
    """Neighbouring-pair loss differences, one entry per pair (lo, hi = lambda * lo)."""

    n: np.ndarray  # (P,) model size of the pair, billions
    D_lo: np.ndarray  # (P,)
    D_hi: np.ndarray  # (P,)
    R: np.ndarray  # (P,) L(N, D_lo) - L(N, D_hi)
    size: np.ndarray  # (P,) index into `sizes`
    sizes: np.ndarray  # (K,) model sizes (billions) with >= MIN_PAIRS pairs


@dataclass(frozen=True)
class Triple:
    """log y(n) = a n^g + b."""

    a: float
    g: float
    b: float

    def log(self, n):
        return self.a * np.power(n, self.g) + self.b


def finite_differences(N, D, L, *, lam: float = LAMBDA, rtol: float = 0.02,
                       min_pairs: int = MIN_PAIRS, min_sizes: int = MIN_SIZES):
    """Stage 1a: pair each run with the run of the same N whose D is closest to lam * D.

    Pairs whose ratio is off lam by more than `rtol` are not used. Sizes with fewer than
    `min_pairs` usable pairs are left out of stages 1-2 (with a warning) but still enter
    stage 3. Returns (Differences, notes).
    """
    n_all = np.asarray(N, dtype=np.float64) / N_UNIT
    D = np.asarray(D, dtype=np.float64)
    L = np.asarray(L, dtype=np.float64)
    counts, out = [], {k: [] for k in ("n", "D_lo", "D_hi", "R", "size")}
    sizes, notes = [], []
    n_negative = 0
    tol = np.log1p(rtol)
    for n in np.unique(n_all):
        at = n_all == n
        d, l = D[at], L[at]
        d_u, inv = np.unique(d, return_inverse=True)
        l_u = np.bincount(inv, weights=l) / np.bincount(inv)  # repeated (N, D): mean loss
        logd = np.log(d_u)
        gap = np.abs(logd[None, :] - logd[:, None] - np.log(lam))  # (i, j): |log(d_j/d_i) - log lam|
        j = np.argmin(gap, axis=1)
        ok = gap[np.arange(len(d_u)), j] <= tol
        i, j = np.flatnonzero(ok), j[ok]
        R = l_u[i] - l_u[j]
        n_negative += int((R <= 0).sum())
        keep = R > 0
        i, j, R = i[keep], j[keep], R[keep]
        counts.append(len(R))
        if len(R) < min_pairs:
            continue
        out["n"].append(np.full(len(R), n))
        out["D_lo"].append(d_u[i])
        out["D_hi"].append(d_u[j])
        out["R"].append(R)
        out["size"].append(np.full(len(R), len(sizes)))
        sizes.append(n)
    n_sizes = len(counts)
    if len(sizes) < min_sizes:
        most = max(counts) if counts else 0
        one_d = all(np.unique(D[n_all == n]).size == 1 for n in np.unique(n_all))
        why = "every model size has a single D (isoFLOP-style data)" if one_d else (
            f"only {len(sizes)} of {n_sizes} model sizes have >= {min_pairs} pairs of runs whose D differ "
            f"by a factor ~{lam:.4g} (most at one size: {most})")
        raise UserError(
            f"farseer piecewise fit needs >= {min_sizes} model sizes, each trained at >= {min_pairs + 1} "
            f"token counts spaced by a factor {lam:.4g}; {why}; {HINT}")
    if len(sizes) < n_sizes:
        notes.append(f"{n_sizes - len(sizes)} model size(s) with < {min_pairs} sqrt(2)-spaced pairs "
                     f"enter only the G(N) stage")
    if n_negative:
        notes.append(f"{n_negative} pair(s) with L(D) <= L(lambda D) (noise) left out of the differences")
    cat = {k: np.concatenate(v) for k, v in out.items()}
    return Differences(sizes=np.asarray(sizes), **cat), notes


def per_size_power_laws(diffs: Differences, lam: float = LAMBDA):
    """Stage 1b: OLS of log R on log D per size -> (A_N, B_N), each (K,)."""
    K = len(diffs.sizes)
    x, y, k = np.log(diffs.D_lo), np.log(diffs.R), diffs.size
    cnt = np.bincount(k, minlength=K)
    xm = np.bincount(k, x, K) / cnt
    ym = np.bincount(k, y, K) / cnt
    xc, yc = x - xm[k], y - ym[k]
    slope = np.bincount(k, xc * yc, K) / np.bincount(k, xc * xc, K)
    A = -slope
    B = np.exp(ym + A * xm) / (1.0 - lam ** (-A))
    return A, B


def ols_over_exponents(n, y, grid):
    """For every exponent g in `grid`, OLS of y on n^g: returns a, b, sse, each (G,).

    One array operation over the whole grid (G x K); a g that makes n^g constant gets sse inf.
    """
    X = np.power(n[None, :], grid[:, None])  # (G, K)
    xm = X.mean(axis=1, keepdims=True)
    Xc = X - xm
    var = np.einsum("gk,gk->g", Xc, Xc)
    yc = y - y.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        a = Xc @ yc / var
        b = y.mean() - a * xm[:, 0]
        sse = np.sum((y[None, :] - a[:, None] * X - b[:, None]) ** 2, axis=1)
    bad = ~np.isfinite(sse) | (var <= 1e-14 * np.maximum(1.0, (X * X).sum(axis=1)))
    return a, b, np.where(bad, np.inf, sse)


def best_triple(a, b, score, grid, allowed=None) -> Triple:
    ok = np.isfinite(score) if allowed is None else np.isfinite(score) & allowed
    score = np.where(ok, score, np.inf)
    i = int(np.argmin(score))
    if not np.isfinite(score[i]):
        raise UserError(f"farseer piecewise fit: no exponent in the grid gives a finite fit; {HINT}")
    return Triple(float(a[i]), float(grid[i]), float(b[i]))


def _diff_mare(R_pred, R):
    """Mean absolute relative error of reconstructed differences, per grid row."""
    return np.mean(np.abs(R_pred - R[None, :]) / np.abs(R)[None, :], axis=1)


def _power_gap(A, diffs):
    """D_lo^-A - D_hi^-A for exponent array A (..., P)."""
    return np.exp(-A * np.log(diffs.D_lo)) - np.exp(-A * np.log(diffs.D_hi))


def fit_exponent_laws(diffs: Differences, A_N, B_N, *, max_rounds: int = 5, score_rtol: float = 1e-4):
    """Stage 2: grid + OLS fits of A(N), B(N), then alternating refinement against R.

    A round re-chooses A's exponent with B fixed, then B's with A fixed. The rounds stop when
    neither exponent moves or the differences' error (MARE) improves by less than `score_rtol`
    relative: the A/B exponents trade off along a flat ridge, and chasing it further changes
    the surface by far less than the noise. Returns (triple_A, triple_B, rounds, converged).
    """
    n, grid = diffs.sizes, AB_GRID
    aA, bA, sseA = ols_over_exponents(n, np.log(A_N), grid)
    aB, bB, sseB = ols_over_exponents(n, np.log(B_N), grid)
    a_ok = np.isfinite(sseA)
    b_ok = np.isfinite(sseB) & (grid < 0) & (aB > 0)  # the authors' constraint: a2 > 0, beta < 0
    tA = best_triple(aA, bA, sseA, grid)
    tB = best_triple(aB, bB, sseB, grid, b_ok)

    npair = diffs.n
    with np.errstate(invalid="ignore", over="ignore"):
        logA_rows = aA[:, None] * np.power(npair[None, :], grid[:, None]) + bA[:, None]  # (G, P)
        logB_rows = aB[:, None] * np.power(npair[None, :], grid[:, None]) + bB[:, None]
        gapA_rows = _power_gap(np.exp(logA_rows), diffs)  # depends only on A's candidate
    last = np.inf
    for rounds in range(1, max_rounds + 1):
        old = (tA.g, tB.g)
        with np.errstate(invalid="ignore", over="ignore"):
            R_pred = np.exp(tB.log(npair))[None, :] * gapA_rows  # A's candidates, B fixed
            tA = best_triple(aA, bA, _diff_mare(R_pred, diffs.R), grid, a_ok)
            R_pred = np.exp(logB_rows) * _power_gap(np.exp(tA.log(npair)), diffs)[None, :]
            scoreB = _diff_mare(R_pred, diffs.R)
        tB = best_triple(aB, bB, scoreB, grid, b_ok)
        score = float(np.min(np.where(b_ok & np.isfinite(scoreB), scoreB, np.inf)))
        if (tA.g, tB.g) == old or last - score <= score_rtol * score:
            return tA, tB, rounds, True
        last = score
    return tA, tB, max_rounds, False


def fit_floor(n_all, D, L, tA: Triple, tB: Triple):
    """Stage 3: G_N = mean_D [L - B(N) D^-A(N)] per size, then the grid + OLS fit of log G."""
    O = L - np.exp(tB.log(n_all) - np.exp(tA.log(n_all)) * np.log(D))
    sizes, inv = np.unique(n_all, return_inverse=True)
    G_N = np.bincount(inv, O) / np.bincount(inv)
    if np.any(G_N <= 0):
        bad = sizes[G_N <= 0][0] * N_UNIT
        raise UserError(f"farseer piecewise fit: the fitted D-term exceeds the loss at N={bad:.4g} "
                        f"(G(N) <= 0), the data do not follow the Farseer form; {HINT}")
    a, b, sse = ols_over_exponents(sizes, np.log(G_N), G_GRID)
    return best_triple(a, b, sse, G_GRID)


def _columns(runs_or_df):
    from ..runs import Runs, from_frame

    runs = runs_or_df if isinstance(runs_or_df, Runs) else from_frame(runs_or_df)
    return runs.column("N"), runs.column("D"), runs.column("loss")


@dataclass(frozen=True)
class PiecewiseEstimate:
    theta: np.ndarray  # (9,) Farseer parameters, N in billions
    rounds: int
    converged: bool
    notes: list
    A_N: np.ndarray  # per-size discrete exponents (stage 1)
    B_N: np.ndarray
    sizes: np.ndarray  # billions, sizes used in stages 1-2
    n_pairs: int


def estimate_piecewise(N, D, L, *, lam: float = LAMBDA, rtol: float = 0.02, max_rounds: int = 5):
    """All three stages on raw arrays (N raw count, D tokens, L loss) -> PiecewiseEstimate."""
    N, D, L = (np.asarray(x, dtype=np.float64) for x in (N, D, L))
    n_all = N / N_UNIT
    if np.unique(n_all).size < MIN_SIZES:
        raise UserError(f"farseer piecewise fit needs >= {MIN_SIZES} model sizes, the data has "
                        f"{np.unique(n_all).size}; {HINT}")
    diffs, notes = finite_differences(N, D, L, lam=lam, rtol=rtol)
    A_N, B_N = per_size_power_laws(diffs, lam)
    good = np.isfinite(A_N) & (A_N > 0) & np.isfinite(B_N) & (B_N > 0)
    if good.sum() < MIN_SIZES:
        raise UserError(f"farseer piecewise fit: only {int(good.sum())} model sizes have losses falling "
                        f"with D as a power law; {HINT}")
    if not good.all():
        notes.append(f"{int((~good).sum())} model size(s) whose losses do not fall with D as a power law "
                     f"enter only the G(N) stage")
        keep = good[diffs.size]
        remap = np.cumsum(good) - 1
        diffs = Differences(n=diffs.n[keep], D_lo=diffs.D_lo[keep], D_hi=diffs.D_hi[keep], R=diffs.R[keep],
                            size=remap[diffs.size[keep]], sizes=diffs.sizes[good])
        A_N, B_N = A_N[good], B_N[good]
    tA, tB, rounds, converged = fit_exponent_laws(diffs, A_N, B_N, max_rounds=max_rounds)
    tG = fit_floor(n_all, D, L, tA, tB)
    if not converged:
        notes.append(f"refinement did not settle in {max_rounds} rounds")
    for name, g, lim in (("g1", tA.g, AB_GRID), ("g2", tB.g, AB_GRID), ("g3", tG.g, G_GRID)):
        if g <= lim[0] or g >= lim[-1]:
            notes.append(f"exponent {name}={g:+.4f} is at the edge of its search grid")
    theta = np.array([tA.a, tA.g, tA.b, tB.a, tB.g, tB.b, tG.a, tG.g, tG.b])
    return PiecewiseEstimate(theta, rounds, converged, notes, A_N, B_N, diffs.sizes, int(len(diffs.R)))


def fit_piecewise(runs_or_df, *, lam: float = LAMBDA, rtol: float = 0.02, max_rounds: int = 5,
                  delta: float | None = None):
    """Fit the Farseer law by differential piecewise fitting; returns a FitResult.

    `runs_or_df` is a `Runs` or a table with columns N (raw count), D (tokens), loss.
    The result's `objective` is the same Huber-in-log objective the end-to-end fitter minimises
    (delta = the law's default), so the two fits are comparable.
    """
    N, D, L = _columns(runs_or_df)
    est = estimate_piecewise(N, D, L, lam=lam, rtol=rtol, max_rounds=max_rounds)
    for note in est.notes:
        warnings.warn(f"farseer piecewise: {note}", ScalelawWarning, stacklevel=2)
    return _as_fit_result(est, N, D, L, delta=delta, lam=lam)


def _as_fit_result(est: PiecewiseEstimate, N, D, L, *, delta, lam):
    """Wrap the piecewise estimate in the generic fitter's FitResult."""
    from . import FitResult
    from .solver import huber

    law = FARSEER
    delta = law.default_delta if delta is None else float(delta)
    r = np.log(L) - np.log(law.predict(est.theta, N=N, D=D))
    return FitResult(
        law=law,
        theta=est.theta,
        objective=float(np.sum(np.asarray(huber(r, delta)))),
        n_points=int(len(L)),
        n_starts=1,
        n_best=1,
        iterations=int(est.rounds),
        status="converged" if est.converged else "max-iter",
        warnings=tuple(est.notes),
        delta=delta,
        settings={"method": "piecewise", "lam": lam, "rounds": int(est.rounds), "n_pairs": est.n_pairs,
                  "sizes_fitted_billions": [float(x) for x in est.sizes]},
    )
