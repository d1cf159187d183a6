"""Farseer's "differential piecewise fitting" (Li et al. 2025, arXiv 2506.10972, Sec. 3,
App. C, Alg. 1-2), the way its authors fit the nine-parameter law.

Every sub-fit is ordinary least squares in log space inside a 1-D grid search over one exponent:

1. Differences. For each model size N, pair each distinct token count D (repeated (N, D) runs
   averaged) with the nearest D' >= sqrt(2) D of the same size and take
   R_N(D, D') = L(N, D) - L(N, D'). Under the law G(N) cancels and
   R = B_N (D^-A_N - D'^-A_N), so a per-size least-squares fit of log R (a 1-D search over A_N
   in [A_MIN, A_MAX], B_N > 0 in closed form) gives A_N and B_N. On the authors' design, where
   the D of a size are sqrt(2) apart, the pairs are theirs (neighbours) and the fit is exactly
   their OLS of log R on log D.
   Why these pairs: a difference's signal grows with log(D'/D) while its noise (two losses)
   does not, so on a fine or uneven grid (Gemstones' D = k D_0, k = 1..10) neighbours 10% apart
   give differences that are mostly noise; a floor of sqrt(2) keeps the authors' signal-to-noise
   and their spacing as the special case. Taking the nearest such D' (rather than every pair)
   keeps the differences local and counts each run in at most a few of them; on a coarser grid
   (Gadre's D doubling) the pairs are simply the neighbours.
   Noisy real losses are not always monotone in D: a run whose loss is not below that of a
   smaller D of its size is left out (counted in a warning) before pairing, so every R > 0 has a
   log and the difference across it spans the gap; dropping only the negative pair instead
   would keep the neighbouring pair that the same noisy run inflates. A size needs >= MIN_PAIRS usable pairs (two
   parameters plus one degree of freedom); sizes with fewer, or whose A_N lands on a bound of
   its search, are dropped from stages 1-2 with a warning naming them, and still enter stage 3.
2. Stretched exponentials. Fit log A_N = a1 n^g1 + b1 and log B_N = a2 n^g2 + b2 (n = N in
   billions) by a grid over the exponent ([-0.5, 0.5) step 1e-4, 10,000 values, all solved in
   one array operation) with the linear pair (a, b) by OLS at each grid value. Then refine
   alternately: with B's triple fixed, re-choose g1 (and its OLS pair) as the grid value whose
   law best reconstructs the observed differences R (mean absolute relative error); then the
   same for g2 with A's triple fixed; repeat until neither exponent moves (1-2 rounds).
   As in the authors' code, B's fit is constrained to a2 > 0, g2 < 0 (B falling with N); where
   no grid value satisfies it (real grids whose D-exponent grows with N, e.g. Li et al. 2025's
   Misfitting runs) B is fitted without it, with a warning.
3. Floor. O(N, D) = L - B(N) D^-A(N); G_N = mean over D of O; fit log G_N = a3 n^g3 + b3 by the
   same grid-plus-OLS (step 1e-3).

The data must be a grid: >= MIN_SIZES model sizes, each trained at enough token counts (any
spacing) for MIN_PAIRS such pairs. When it is not (isoFLOP data with one D per N, too few D
values per size, too few sizes) `fit_piecewise` raises UserError saying what is missing; the
end-to-end fit (`fit_law`) works on any data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ScalelawWarning, UserError
from ..laws.farseer import FARSEER, N_UNIT

#: the authors' exponent grids
AB_GRID = np.round(np.arange(-5000, 5000) * 1e-4, 10)  # [-0.5, 0.5) step 1e-4: 10,000 values
G_GRID = np.round(np.arange(-500, 500) * 1e-3, 10)  # [-0.5, 0.5) step 1e-3
#: per-size data exponent A_N: published D-exponents lie in ~0.1-0.7 (Farseer's refit: 0.17-0.57
#: over 10M-25B); a value outside this box says the size's differences are noise, not a power law
A_MIN, A_MAX = 0.02, 2.0
A_SEARCH = np.geomspace(A_MIN, A_MAX, 2001)  # coarse grid, refined by a bounded 1-D solve
#: smallest D_hi / D_lo of a difference: the authors' sqrt(2), less 2% for rounded token counts
MIN_RATIO = float(np.sqrt(2.0)) / 1.02
MIN_PAIRS = 3  # two parameters per size plus one degree of freedom
MIN_SIZES = 4
HINT = "use the end-to-end fit instead (--method end-to-end)"


@dataclass(frozen=True)
class Differences:
    """Consecutive-D loss differences, one entry per pair (D_lo < D_hi, same model size)."""

    n: np.ndarray  # (P,) model size of the pair, billions
    D_lo: np.ndarray  # (P,)
    D_hi: np.ndarray  # (P,)
    R: np.ndarray  # (P,) L(N, D_lo) - L(N, D_hi) > 0
    size: np.ndarray  # (P,) index into `sizes`
    sizes: np.ndarray  # (K,) model sizes (billions) with >= MIN_PAIRS usable pairs


@dataclass(frozen=True)
class Triple:
    """log y(n) = a n^g + b."""

    a: float
    g: float
    b: float

    def log(self, n):
        return self.a * np.power(n, self.g) + self.b


def _listed(items, most: int = 6) -> str:
    """The first `most` items, then how many more (real data can have hundreds of sizes)."""
    items = list(items)
    more = f", ... ({len(items) - most} more)" if len(items) > most else ""
    return ", ".join(items[:most]) + more


def _names(n_billions) -> str:
    return _listed(f"N={x * N_UNIT:.6g}" for x in n_billions)


def finite_differences(N, D, L, *, ratio: float = MIN_RATIO, min_pairs: int = MIN_PAIRS,
                       min_sizes: int = MIN_SIZES):
    """Stage 1a: pair each distinct D of a size with the nearest D at least `ratio` times larger.

    Runs whose loss is not below that of a smaller D (noise) are left out first, so every
    difference is positive. Sizes with fewer than `min_pairs` pairs are dropped from stages 1-2
    (named in a note) but still enter stage 3.
    Returns (Differences, notes); UserError when fewer than `min_sizes` sizes remain.
    """
    n_all = np.asarray(N, dtype=np.float64) / N_UNIT
    D = np.asarray(D, dtype=np.float64)
    L = np.asarray(L, dtype=np.float64)
    out = {k: [] for k in ("n", "D_lo", "D_hi", "R", "size")}
    sizes, notes, short, n_skipped = [], [], [], 0
    all_sizes = np.unique(n_all)
    for n in all_sizes:
        at = n_all == n
        d_u, inv = np.unique(D[at], return_inverse=True)
        l_u = np.bincount(inv, weights=L[at]) / np.bincount(inv)  # repeated (N, D): mean loss
        kept = [0]  # runs whose loss falls below every smaller D's: differences stay positive
        for k in range(1, len(d_u)):
            if l_u[k] < l_u[kept[-1]]:
                kept.append(k)
        n_skipped += len(d_u) - len(kept)
        d_u, l_u = d_u[kept], l_u[kept]
        j = np.searchsorted(d_u, d_u * ratio)  # first D >= ratio * D (sorted)
        i = np.flatnonzero(j < len(d_u))
        j = j[i]
        R = l_u[i] - l_u[j]
        if len(R) < min_pairs:
            short.append((n, int(np.unique(D[at]).size)))
            continue
        out["n"].append(np.full(len(R), n))
        out["D_lo"].append(d_u[i])
        out["D_hi"].append(d_u[j])
        out["R"].append(R)
        out["size"].append(np.full(len(R), len(sizes)))
        sizes.append(n)
    need = (f"each trained at token counts giving >= {min_pairs} pairs D, D' >= {ratio:.4g} D with falling "
            f"loss (>= {min_pairs + 1} D values)")
    if len(sizes) < min_sizes:
        one_d = all(np.unique(D[n_all == n]).size == 1 for n in all_sizes)
        why = "every model size has a single D (isoFLOP-style data)" if one_d else (
            f"only {len(sizes)} of {len(all_sizes)} model sizes qualify"
            + (f"; too few at {_listed(f'N={n * N_UNIT:.6g} ({k} D)' for n, k in short)}" if short else ""))
        raise UserError(f"farseer piecewise fit needs >= {min_sizes} model sizes, {need}; {why}; {HINT}")
    if short:
        notes.append(f"model size(s) with < {min_pairs} usable pairs of D values enter only the G(N) stage: "
                     + _listed(f"N={n * N_UNIT:.6g} ({k} D)" for n, k in short))
    if n_skipped:
        notes.append(f"{n_skipped} run(s) whose loss did not fall below that of a smaller D (noise) left out "
                     f"of the differences")
    cat = {k: np.concatenate(v) for k, v in out.items()}
    return Differences(sizes=np.asarray(sizes), **cat), notes


def _log_gap(A, D_lo, D_hi):
    """log(D_lo^-A - D_hi^-A), stable for small A; A broadcasts against the pair arrays."""
    return -A * np.log(D_lo) + np.log(-np.expm1(-A * np.log(D_hi / D_lo)))


def _size_sse(A, y, D_lo, D_hi):
    """Log-space SSE of R = B gap(A) with log B at its closed-form optimum, and that log B."""
    c = _log_gap(A, D_lo, D_hi)
    logB = np.mean(y - c, axis=-1, keepdims=True)
    return np.sum((y - c - logB) ** 2, axis=-1), logB[..., 0]


def per_size_power_laws(diffs: Differences):
    """Stage 1b: per size, least squares of log R = log B_N + log(D_lo^-A_N - D_hi^-A_N).

    A_N by a geometric grid over [A_MIN, A_MAX] then a bounded scalar solve in the bracket
    around the grid minimum; B_N > 0 in closed form. Returns (A, B), each (K,); a size whose
    optimum sits on a bound of A gets NaN (its differences do not identify a power law).
    """
    from scipy.optimize import minimize_scalar

    K = len(diffs.sizes)
    A, B = np.full(K, np.nan), np.full(K, np.nan)
    y_all = np.log(diffs.R)
    for k in range(K):
        at = diffs.size == k
        y, lo, hi = y_all[at], diffs.D_lo[at], diffs.D_hi[at]
        sse, _ = _size_sse(A_SEARCH[:, None], y[None, :], lo[None, :], hi[None, :])
        i = int(np.argmin(sse))
        if i == 0 or i == A_SEARCH.size - 1:
            continue
        res = minimize_scalar(lambda a: float(_size_sse(a, y, lo, hi)[0]), bounds=(A_SEARCH[i - 1], A_SEARCH[i + 1]),
                              method="bounded", options={"xatol": 1e-12})
        A[k] = res.x
        B[k] = np.exp(_size_sse(res.x, y, lo, hi)[1])
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
    the surface by far less than the noise. Returns (triple_A, triple_B, rounds, converged, notes).
    """
    n, grid = diffs.sizes, AB_GRID
    aA, bA, sseA = ols_over_exponents(n, np.log(A_N), grid)
    a_ok = np.isfinite(sseA)
    tA = best_triple(aA, bA, sseA, grid)
    aB, bB, sseB = ols_over_exponents(n, np.log(B_N), grid)
    b_ok = np.isfinite(sseB) & (grid < 0) & (aB > 0)  # the authors' constraint: a2 > 0, beta < 0
    notes = []
    if not b_ok.any():
        # their prior (B falling towards a floor as N grows) does not hold on every data set, e.g.
        # where the D-exponent grows with N; refusing would leave such grids without a fit
        b_ok = np.isfinite(sseB)
        notes.append("no B(N) = exp(a2 n^g2 + b2) with a2 > 0, g2 < 0 (B falling with N, the authors' "
                     "constraint) fits these sizes; B(N) fitted without it")
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
            return tA, tB, rounds, True, notes
        last = score
    return tA, tB, max_rounds, False, notes


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


def estimate_piecewise(N, D, L, *, max_rounds: int = 5):
    """All three stages on raw arrays (N raw count, D tokens, L loss) -> PiecewiseEstimate."""
    N, D, L = (np.asarray(x, dtype=np.float64) for x in (N, D, L))
    n_all = N / N_UNIT
    if np.unique(n_all).size < MIN_SIZES:
        raise UserError(f"farseer piecewise fit needs >= {MIN_SIZES} model sizes, the data has "
                        f"{np.unique(n_all).size}; {HINT}")
    diffs, notes = finite_differences(N, D, L)
    A_N, B_N = per_size_power_laws(diffs)
    good = np.isfinite(A_N) & np.isfinite(B_N) & (B_N > 0)
    if good.sum() < MIN_SIZES:
        raise UserError(f"farseer piecewise fit: only {int(good.sum())} model sizes have losses falling "
                        f"with D as a power law of exponent {A_MIN}-{A_MAX} (need {MIN_SIZES}); {HINT}")
    if not good.all():
        notes.append(f"model size(s) whose losses do not fall with D as a power law of exponent "
                     f"{A_MIN}-{A_MAX} enter only the G(N) stage: {_names(diffs.sizes[~good])}")
        keep = good[diffs.size]
        remap = np.cumsum(good) - 1
        diffs = Differences(n=diffs.n[keep], D_lo=diffs.D_lo[keep], D_hi=diffs.D_hi[keep], R=diffs.R[keep],
                            size=remap[diffs.size[keep]], sizes=diffs.sizes[good])
        A_N, B_N = A_N[good], B_N[good]
    tA, tB, rounds, converged, more = fit_exponent_laws(diffs, A_N, B_N, max_rounds=max_rounds)
    notes += more
    tG = fit_floor(n_all, D, L, tA, tB)
    if not converged:
        notes.append(f"refinement did not settle in {max_rounds} rounds")
    for name, g, lim in (("g1", tA.g, AB_GRID), ("g2", tB.g, AB_GRID), ("g3", tG.g, G_GRID)):
        if g <= lim[0] or g >= lim[-1]:
            notes.append(f"exponent {name}={g:+.4f} is at the edge of its search grid")
    theta = np.array([tA.a, tA.g, tA.b, tB.a, tB.g, tB.b, tG.a, tG.g, tG.b])
    return PiecewiseEstimate(theta, rounds, converged, notes, A_N, B_N, diffs.sizes, int(len(diffs.R)))


def fit_piecewise(runs_or_df, *, max_rounds: int = 5, delta: float | None = None):
    """Fit the Farseer law by differential piecewise fitting; returns a FitResult.

    `runs_or_df` is a `Runs` or a table with columns N (raw count), D (tokens), loss.
    The result's `objective` is the same Huber-in-log objective the end-to-end fitter minimises
    (delta = the law's default), so the two fits are comparable.
    """
    N, D, L = _columns(runs_or_df)
    est = estimate_piecewise(N, D, L, max_rounds=max_rounds)
    for note in est.notes:
        warnings.warn(f"farseer piecewise: {note}", ScalelawWarning, stacklevel=2)
    return _as_fit_result(est, N, D, L, delta=delta)


def _as_fit_result(est: PiecewiseEstimate, N, D, L, *, delta):
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
        settings={"method": "piecewise", "pairs": "each D with the nearest D2 >= sqrt(2) D of its size", "rounds": int(est.rounds), "n_pairs": est.n_pairs,
                  "sizes_fitted_billions": [float(x) for x in est.sizes]},
    )
