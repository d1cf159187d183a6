"""isoFLOP Approach 2 (Hoffmann et al. 2022, §3.2): parabolas per compute budget, power laws through their minima.

1. Group runs by compute budget. In order of preference: a `budget` column of the run file; budgets
   given by the caller (each run joins the nearest one in log C if within `tol` dex, else it is left
   out and counted); otherwise clusters of C = 6ND. Clustering sorts log10 C and starts a new budget
   wherever two neighbours are more than `gap` dex apart (default 0.015 dex, a 3.5% step in C): runs
   planned at one budget agree on C to rounding, while distinct budgets of a sweep are spaced by
   factors of 1.5-10. The budget's C is the geometric mean of its runs'.
2. Per budget, least squares of loss on a parabola in log10 N. A budget is refused, with the reason,
   when it has fewer than 3 distinct sizes, when the parabola opens downwards, or when its minimum
   is not bracketed by the sampled sizes (the vertex outside their range, or the lowest observed
   loss at the smallest or largest size): an edge minimum says where the sweep stopped, not where
   the optimum is.
3. Over the accepted budgets (at least 2), least squares in log-log: log N* = log k + a log C; the
   same for L*. D* = C / (6 N*), so the log-log fit of D* has b = 1 - a and k_D = 1/(6k) exactly.
4. Bootstrap: resample runs with replacement within each accepted budget, refit every parabola and
   then the power laws (all draws at once, as weighted normal equations in numpy). A budget whose
   resample loses its interior minimum drops out of that draw; a draw left with fewer than 2 budgets
   is counted as failed.

The result is a `FitResult` of the registered law "isoflop" (`scalelaw.laws.isoflop`), so fit files,
CIs and `scalelaw plan` work as for any law.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..laws import get_law
from ..runs import Runs
from .core import BootstrapResult, FitResult, _as_runs

#: clustering: split sorted log10(6ND) where neighbours differ by more than this (dex)
GAP = 0.015
#: given budgets: a run joins the nearest budget within this distance in log10 C (dex)
TOL = 0.05
#: the fewest distinct model sizes a parabola is fitted to
MIN_SIZES = 3


@dataclass(frozen=True)
class Budget:
    C: float
    index: np.ndarray  # rows of the runs in this budget


def group_budgets(runs: Runs, budgets=None, *, gap: float = GAP, tol: float = TOL) -> tuple[list[Budget], str, int]:
    """(budgets, how they were found, runs left out), following the rules in the module docstring."""
    df = runs.df
    N, D = runs.column("N"), runs.column("D")
    if "budget" in df:
        c = df["budget"].to_numpy(dtype=np.float64)
        ok = np.isfinite(c) & (c > 0)
        if not ok.any():
            raise UserError(f"{runs.source}: column 'budget' has no positive numbers")
        out = [Budget(float(v), np.flatnonzero(ok & (c == v))) for v in np.unique(c[ok])]
        return out, "budget column", int((~ok).sum())
    lc = np.log10(6.0 * N * D)
    if budgets is not None:
        b = np.log10(np.asarray(sorted(float(x) for x in budgets), dtype=np.float64))
        if b.size == 0 or not np.all(np.isfinite(b)):
            raise UserError("isoflop budgets must be positive numbers of FLOPs")
        dist = np.abs(lc[:, None] - b[None, :])
        near, ok = dist.argmin(1), dist.min(1) <= tol
        out = [Budget(float(10 ** b[j]), np.flatnonzero(ok & (near == j))) for j in range(b.size)]
        return [x for x in out if x.index.size], f"given budgets (within {tol} dex)", int((~ok).sum())
    order = np.argsort(lc)
    cuts = np.flatnonzero(np.diff(lc[order]) > gap) + 1
    out = [Budget(float(10 ** lc[g].mean()), np.sort(g)) for g in np.split(order, cuts)]
    return out, f"clusters of 6ND (gap > {gap} dex)", 0


def _design(x: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, x * x], axis=-1)


def fit_parabola(N, loss):
    """(coefficients c0, c1, c2 of loss = c0 + c1 x + c2 x^2 in x = log10 N - centre, centre) by least squares."""
    x = np.log10(N)
    centre = 0.5 * (x.min() + x.max())
    coef, *_ = np.linalg.lstsq(_design(x - centre), loss, rcond=None)
    return coef, centre


def _budget_minimum(b: Budget, N, L) -> dict:
    n, l = N[b.index], L[b.index]
    sizes = np.unique(n)
    row = {"C": b.C, "n_runs": int(n.size), "n_sizes": int(sizes.size),
           "N_range": [float(sizes.min()), float(sizes.max())]}
    if sizes.size < MIN_SIZES:
        return {**row, "reason": f"{sizes.size} distinct model size(s); a parabola needs >= {MIN_SIZES}"}
    coef, centre = fit_parabola(n, l)
    if coef[2] <= 0:
        return {**row, "reason": "loss is not convex in log N here (the parabola opens downwards): no minimum"}
    xs = -coef[1] / (2 * coef[2])
    x = np.log10(n) - centre
    n_opt = float(10 ** (xs + centre))
    if not x.min() < xs < x.max():
        return {**row, "reason": f"parabola minimum N={n_opt:.3g} lies outside the sampled sizes "
                                  f"[{sizes.min():.3g}, {sizes.max():.3g}]"}
    best = n[np.argmin(l)]
    if best in (sizes.min(), sizes.max()):
        edge = "smallest" if best == sizes.min() else "largest"
        return {**row, "reason": f"lowest loss is at the {edge} sampled size N={best:.3g}: the minimum is not bracketed"}
    return {**row, "N_opt": n_opt, "D_opt": b.C / (6 * n_opt), "loss_opt": float(coef @ [1, xs, xs * xs]),
            "coef": [float(v) for v in coef], "centre": float(centre)}


def _power_law(logC, logY, w):
    """Weighted least squares log Y = p + q log C, batched: logC (J,), logY (K, J), w (K, J) -> (p, q) of (K,)."""
    sw = w.sum(1)
    mc = (w * logC).sum(1) / sw
    my = (w * logY).sum(1) / sw
    dc = logC - mc[:, None]
    q = (w * dc * (logY - my[:, None])).sum(1) / (w * dc * dc).sum(1)
    return my - q * mc, q


def _bootstrap(budgets, N, L, n_boot: int, seed: int):
    """Draws (K', 4) of the frontier parameters and the number of failed draws."""
    rng = np.random.default_rng(seed)
    J = len(budgets)
    logn = np.full((n_boot, J), np.nan)
    logl = np.full((n_boot, J), np.nan)
    for j, (b, row) in enumerate(budgets):
        n, l = N[b.index], L[b.index]
        x = np.log10(n) - row["centre"]
        w = rng.multinomial(n.size, np.full(n.size, 1.0 / n.size), size=n_boot).astype(np.float64)  # (K, n)
        X = _design(x)
        A = np.einsum("kn,ni,nj->kij", w, X, X)
        y = np.einsum("kn,ni,n->ki", w, X, l)
        sizes, member = np.unique(n, return_inverse=True)
        present = (w @ np.eye(sizes.size)[member] > 0).sum(1)
        ok = present >= MIN_SIZES
        A[~ok] = np.eye(3)  # keep the batch solvable; these draws are masked out below
        coef = np.linalg.solve(A, y[..., None])[..., 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            xs = -coef[:, 1] / (2 * coef[:, 2])
        lmin = coef[:, 0] + coef[:, 1] * xs + coef[:, 2] * xs ** 2
        ok &= (coef[:, 2] > 0) & (xs > x.min()) & (xs < x.max()) & (lmin > 0)
        logn[ok, j] = (xs[ok] + row["centre"]) * np.log(10)
        logl[ok, j] = np.log(lmin[ok])
    logC = np.log([b.C for b, _ in budgets])
    w = np.isfinite(logn) & np.isfinite(logl)
    good = w.sum(1) >= 2
    w, logn, logl = w[good].astype(np.float64), np.nan_to_num(logn[good]), np.nan_to_num(logl[good])
    p, q = _power_law(logC, logn, w)
    pl, ql = _power_law(logC, logl, w)
    return np.stack([p, q, pl, ql], axis=1), int((~good).sum())


def fit_isoflop(runs, *, budgets=None, n_boot: int = 0, seed: int = 0, gap: float = GAP, tol: float = TOL) -> FitResult:
    """Approach 2 on `runs` (Runs or DataFrame with N, D, loss); see the module docstring."""
    runs = _as_runs(runs)
    N, L = runs.column("N"), runs.column("loss")
    groups, how, left_out = group_budgets(runs, budgets, gap=gap, tol=tol)
    rows = [_budget_minimum(b, N, L) for b in groups]
    accepted = [(b, r) for b, r in zip(groups, rows) if "N_opt" in r]
    refused = [r for r in rows if "reason" in r]
    if len(accepted) < 2:
        why = "; ".join(f"C={r['C']:.3g}: {r['reason']}" for r in refused[:3])
        raise UserError(f"{runs.source}: isoflop needs >= 2 budgets with an interior minimum over >= {MIN_SIZES} "
                        f"sizes; found {len(accepted)} of {len(groups)} budgets ({how})" + (f" — {why}" if why else ""))
    logC = np.log([b.C for b, _ in accepted])[None]
    lnN = np.log([r["N_opt"] for _, r in accepted])[None]
    lnL = np.log([r["loss_opt"] for _, r in accepted])[None]
    one = np.ones_like(logC)
    p, q = _power_law(logC[0], lnN, one)
    pl, ql = _power_law(logC[0], lnL, one)
    theta = np.array([p[0], q[0], pl[0], ql[0]])
    resid = lnN[0] - (theta[0] + theta[1] * logC[0])
    law = get_law("isoflop")
    boot = None
    if n_boot:
        thetas, failed = _bootstrap(accepted, N, L, n_boot, seed)
        boot = BootstrapResult(law=law, thetas=thetas, seed=seed, n_failed=failed)
    used = np.concatenate([b.index for b, _ in accepted])
    c_lo, c_hi = accepted[0][1], accepted[-1][1]
    warn = [f"budget C={r['C']:.3g} refused: {r['reason']}" for r in refused]
    if left_out:
        warn.append(f"{left_out} runs belong to no budget ({how})")
    data = {"source": runs.source, "sha256": runs.sha256, "where": runs.where, "n_kind": runs.n_kind,
            "loss_kind": runs.loss_kind, "N_range": [float(N[used].min()), float(N[used].max())],
            # the planner's compute range: the optima at the smallest and largest accepted budgets
            "ND_at_C_min": [c_lo["N_opt"], c_lo["D_opt"]], "ND_at_C_max": [c_hi["N_opt"], c_hi["D_opt"]]}
    points = [{"C": b.C, "N": N[b.index].tolist(), "loss": L[b.index].tolist()} for b in groups]
    settings = {"grouping": how, "gap_dex": gap, "tol_dex": tol, "n_budgets": len(groups),
                "budgets": [r for _, r in accepted], "refused": refused, "points": points,
                "log_residual_sd_N": float(resid.std(ddof=2)) if resid.size > 2 else None}
    return FitResult(law=law, theta=theta, objective=float((resid ** 2).sum()), n_points=int(used.size),
                     status="converged", warnings=tuple(warn), boot=boot, data=data, settings=settings)


def run_isoflop(runs: Runs, *, n_boot: int, seed: int, level: float, compute=None, n_starts: int = 256):
    """(JSON-ready dict, FitResult) for `scalelaw fit --law isoflop`, with Approach 3 on the same runs."""
    from .core import derived_quantities, fit_law

    fit = fit_isoflop(runs, n_boot=n_boot, seed=seed)
    doc = fit.to_dict(level)
    doc.pop("bootstrap", None)
    st = doc.pop("settings")
    doc["budgets"] = st.pop("budgets")
    doc["refused"] = st.pop("refused")
    st.pop("points")
    doc["settings"] = st
    if fit.boot is not None:
        doc["bootstrap_failed"] = fit.boot.n_failed
    # Approach 3 (a parametric Chinchilla fit) on the same runs, for comparison of a and b
    a3 = fit_law("chinchilla", runs, seed=seed, n_starts=n_starts)
    d3 = derived_quantities(a3.params)
    fit.settings["approach3"] = doc["approach3"] = {"law": "chinchilla", "params": a3.params, "status": a3.status,
                                                     "a": d3["a"], "b": d3["b"]}
    if compute is not None:
        from ..laws.isoflop import allocate

        al = allocate(fit.theta, [compute])
        doc["derived"] = {"compute": compute, "N_opt": float(al["N"][0]), "D_opt": float(al["D"][0])}
    return doc, fit
