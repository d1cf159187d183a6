"""Vectorised box-constrained minimisation for many small problems at once.

The planner solves hundreds of 1-D or 2-D problems (one per student size x budget x scenario x
bootstrap draw). Each is cheap but can have several basins and infeasible regions, so instead of a
per-problem local optimiser we use one batched procedure for all of them:

1. a coarse grid over the whole box (the safety net: the answer is never worse than its best point),
2. `n_starts` restarts taken from the grid's best points, kept apart from each other,
3. zoom refinement: a small local grid around each start, shrinking every round unless the best
   point is on the window's edge (then the window moves instead); the centre is always
   re-evaluated, so a round can never make a start worse.

Objectives take points of shape (B, M, d) and return values (B, M); infeasible points return inf.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

Objective = Callable[[np.ndarray], np.ndarray]

#: multiples of the last displacement tried by the pattern move
_PATTERN = np.array([1.0, 3.0, 9.0, 27.0])


class SearchResult(NamedTuple):
    x: np.ndarray  # (B, d) best point per problem
    fun: np.ndarray  # (B,) objective there (inf: no feasible point was found)
    grid_fun: np.ndarray  # (B,) best value on the coarse grid (fun <= grid_fun always)
    starts: np.ndarray  # (B, k, d) every refined restart
    starts_fun: np.ndarray  # (B, k)


def _unit_grid(n: int, d: int) -> np.ndarray:
    """Points of a regular grid on [0, 1]^d: shape (n^d, d)."""
    axes = np.meshgrid(*([np.linspace(0.0, 1.0, n)] * d), indexing="ij")
    return np.stack([a.ravel() for a in axes], axis=1)


def _evaluate(f: Objective, X: np.ndarray) -> np.ndarray:
    F = np.asarray(f(X), dtype=np.float64)
    return np.where(np.isnan(F), np.inf, F)


def _spread_starts(F: np.ndarray, U: np.ndarray, k: int, radius: float) -> np.ndarray:
    """Indices (B, k) of the best grid points, each at least `radius` (unit box) from the others."""
    B = F.shape[0]
    F = F.copy()
    picks = np.zeros((B, k), dtype=np.int64)
    for j in range(k):
        idx = np.argmin(F, axis=1)
        picks[:, j] = idx
        near = np.max(np.abs(U[None, :, :] - U[idx][:, None, :]), axis=2) < radius  # (B, G)
        F = np.where(near, np.inf, F)
    return picks


def zoom_minimise(
    f: Objective,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    n_grid: int = 48,
    n_starts: int = 4,
    n_local: int = 9,
    rounds: int = 14,
    shrink: float = 2.5,
) -> SearchResult:
    """Minimise `f` over the boxes [lo, hi] (each (B, d)) for all B problems at once."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    B, d = lo.shape
    U = _unit_grid(n_grid, d)  # (G, d)
    X = lo[:, None, :] + U[None] * (hi - lo)[:, None, :]  # (B, G, d)
    F = _evaluate(f, X)
    grid_best = F.min(axis=1)

    k = min(n_starts, U.shape[0])
    picks = _spread_starts(F, U, k, radius=3.0 / max(n_grid - 1, 1))
    S = np.take_along_axis(X, picks[:, :, None], axis=1)  # (B, k, d)
    FS = np.take_along_axis(F, picks, axis=1)  # (B, k)

    offsets = (_unit_grid(n_local, d) * 2.0 - 1.0) * ((n_local - 1) / 2.0)  # (L, d), in steps
    on_edge = np.max(np.abs(offsets), axis=1) >= (n_local - 1) / 2.0  # (L,)
    step = np.broadcast_to((hi - lo)[:, None, :] / max(n_grid - 1, 1), (B, k, d))  # (B, k, d)
    for _ in range(rounds):
        cand = S[:, :, None, :] + offsets[None, None] * step[:, :, None, :]  # (B, k, L, d)
        cand = np.clip(cand, lo[:, None, None, :], hi[:, None, None, :])
        Fc = _evaluate(f, cand.reshape(B, -1, d)).reshape(B, k, -1)
        j = np.argmin(Fc, axis=2)  # (B, k)
        Fbest = np.take_along_axis(Fc, j[:, :, None], axis=2)[:, :, 0]
        better = Fbest < FS
        S_new = np.where(better[:, :, None], np.take_along_axis(cand, j[:, :, None, None], axis=2)[:, :, 0], S)
        FS = np.where(better, Fbest, FS)
        # pattern moves: extrapolate along this round's displacement (follows curved, narrow valleys
        # that an axis-aligned window would only creep along)
        move = S_new - S  # (B, k, d)
        ext = np.clip(S_new[:, :, None, :] + _PATTERN[None, None, :, None] * move[:, :, None, :],
                      lo[:, None, None, :], hi[:, None, None, :])  # (B, k, m, d)
        # ... and snaps of one coordinate to either bound (optima on a flat, bounded direction)
        snaps = np.repeat(S_new[:, :, None, :], 2 * d, axis=2)  # (B, k, 2d, d)
        for c in range(d):
            snaps[:, :, 2 * c, c] = lo[:, None, c]
            snaps[:, :, 2 * c + 1, c] = hi[:, None, c]
        ext = np.concatenate([ext, snaps], axis=2)
        Fe = _evaluate(f, ext.reshape(B, -1, d)).reshape(B, k, -1)
        je = np.argmin(Fe, axis=2)
        Fe_best = np.take_along_axis(Fe, je[:, :, None], axis=2)[:, :, 0]
        jump = Fe_best < FS
        S = np.where(jump[:, :, None], np.take_along_axis(ext, je[:, :, None, None], axis=2)[:, :, 0], S_new)
        FS = np.where(jump, Fe_best, FS)
        better = better & ~jump
        # a start whose best point is on its window's edge is still travelling: move, don't shrink
        step = np.where((better & on_edge[j])[:, :, None], step, step / shrink)

    i = np.argmin(FS, axis=1)
    x = np.take_along_axis(S, i[:, None, None], axis=1)[:, 0]
    fun = np.take_along_axis(FS, i[:, None], axis=1)[:, 0]
    return SearchResult(x=x, fun=fun, grid_fun=grid_best, starts=S, starts_fun=FS)


def newton_polish(f: Objective, x: np.ndarray, lo, hi, *, h: float = 1e-4, iters: int = 6) -> np.ndarray:
    """Damped Newton steps from x (B, d) or (B, k, d) with finite-difference derivatives, all at once.

    Curvature matters where a zoom search is slow: narrow curved valleys and flat directions that
    end on a bound. Each iteration builds the gradient and Hessian from a 3^d stencil of step h,
    tries the steps -(H + mu I)^-1 g for several dampings mu in parallel (clipped to the box), and
    keeps the best one only if it lowers f. It can never make a point worse.
    """
    x = np.asarray(x, dtype=np.float64)
    single = x.ndim == 2
    x = (x[:, None, :] if single else x).copy()  # (B, k, d)
    B, k, d = x.shape
    lo = np.asarray(lo, dtype=np.float64).reshape(B, 1, d)
    hi = np.asarray(hi, dtype=np.float64).reshape(B, 1, d)
    stencil = (_unit_grid(3, d) * 2.0 - 1.0)  # (3^d, d) in {-1, 0, 1}
    n_s = stencil.shape[0]
    centre = np.flatnonzero(~stencil.any(axis=1))[0]
    mus = (0.0, 1e-6, 1e-4, 1e-2, 1.0)
    for _ in range(iters):
        pts = x[:, :, None, :] + h * stencil[None, None]  # (B, k, 3^d, d)
        F = _evaluate(f, pts.reshape(B, -1, d)).reshape(B, k, n_s)
        f0 = F[:, :, centre]
        # At a feasibility edge, flatten the stencil onto the centre. A start that is itself
        # infeasible (a problem without any feasible grid point) has no derivatives: zero its
        # stencil so g = H = 0, its step is null and it stays put (inf - inf would give nan).
        F = np.where(np.isfinite(F), F, np.where(np.isfinite(f0), f0, 0.0)[:, :, None])
        # central differences (= least-squares quadratic on the stencil)
        g = np.einsum("bks,sd->bkd", F, stencil) / (2 * h * 3 ** (d - 1))
        H = np.empty((B, k, d, d))
        for a in range(d):
            for c in range(d):
                if a == c:
                    w = np.where(stencil[:, a] == 0, -2.0, 1.0) / 3 ** (d - 1)
                else:
                    w = stencil[:, a] * stencil[:, c] / 4.0 / 3 ** (d - 2)
                H[:, :, a, c] = F @ w / h**2
        lam, V = np.linalg.eigh(np.where(np.isfinite(H), H, 0.0))
        scale = np.maximum(np.abs(lam).max(axis=-1), 1e-300)
        steps = []
        for mu in mus:
            inv = 1.0 / (np.abs(lam) + mu * scale[..., None] + 1e-300)  # (B, k, d)
            steps.append(-np.einsum("bkij,bkj,bklj,bkl->bki", V, inv, V, g))
        cand = np.clip(x[:, :, None, :] + np.stack(steps, axis=2), lo[:, :, None, :], hi[:, :, None, :])
        Fc = _evaluate(f, cand.reshape(B, -1, d)).reshape(B, k, len(mus))
        j = np.argmin(Fc, axis=2)
        Fb = np.take_along_axis(Fc, j[..., None], axis=2)[..., 0]
        better = Fb < f0
        x = np.where(better[..., None], np.take_along_axis(cand, j[..., None, None], axis=2)[:, :, 0], x)
    return x[:, 0] if single else x
