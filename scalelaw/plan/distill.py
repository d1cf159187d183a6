"""Distillation planning: split a budget C between student, teacher logits and teacher training.

Busbridge et al. 2025 (arXiv 2502.08606, §5, App. D, H; LAWS.md §5): for a fixed student size N_S,
total compute
    C = 3 F(N_S) D_S + F(N_T) (delta_lgt D_S + delta_pre 3 D_T)
and the student's loss L_S(N_S, D_S, L_T) from the distillation law, with the teacher's loss
L_T = L(N_T, D_T) from the supervised law. Four scenarios set (delta_lgt, delta_pre):

    best                   (0, 0)  teacher free: choose the best L_T
    inference              (1, 0)  the teacher exists; pay for its logits on the student's tokens
    pretraining            (0, 1)  train the teacher; logits stored and reused
    pretraining+inference  (1, 1)  train the teacher and pay its logits for one student

We minimise L_S over (log N_T, log D_T) with D_S eliminated by the compute equality (best case:
over log L_T within the range the supervised law can reach), all within bounds on N_T, D_S and
D_T (default the paper's [1e6, 1e17]; pass `bounds=(lo, hi)` for laws fitted at other scales),
with the batched grid + restarts + zoom search of `search.py`: every (N_S, C, scenario,
parameter draw) is one row of one batch. The supervised baseline for the same N_S spends all of C on
D = C / (3 F(N_S)) (or C / 6 N_S under the 6ND convention).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from ..errors import UserError
from ..flops import BUSBRIDGE2025, FlopPreset, flops_per_token
from ..laws.evaluate import log_loss
from .search import newton_polish, zoom_minimise
from .sources import PlanFit, as_planfit
from .supervised import check_budget, check_convention

#: scenario -> (delta_lgt, delta_pre)
SCENARIOS = {"best": (0, 0), "inference": (1, 0), "pretraining": (0, 1), "pretraining+inference": (1, 1)}
#: default bounds on N_T, D_S, D_T (the paper's SLSQP bounds); every planner takes `bounds=(lo, hi)`
BOUNDS = (1e6, 1e17)


def check_bounds(bounds) -> tuple[float, float]:
    """(lo, hi) as floats, with 0 < lo < hi < inf, else a UserError."""
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise UserError(f"--bounds {bounds!r}: expected two numbers LO,HI") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        raise UserError(f"--bounds {lo:.4g},{hi:.4g}: expected 0 < LO < HI (parameters and tokens)")
    return lo, hi


def parse_scenarios(spec) -> list[str]:
    names = list(SCENARIOS) if spec in (None, "all") else ([spec] if isinstance(spec, str) else list(spec))
    for s in names:
        if s not in SCENARIOS:
            raise UserError(f"--scenario {s!r}: expected all or one of {', '.join(SCENARIOS)}")
    return names


def forward_flops(N, flops: str, preset: FlopPreset = BUSBRIDGE2025):
    """Forward FLOPs per token under a convention (2N for 6ND, F(N) for attention)."""
    return flops_per_token(N, flops, preset) / 3.0


def student_log_loss(sup: PlanFit, dist: PlanFit, sup_theta, dist_theta, N_S, D_S, L_T):
    """log L_S; Ltilde_S comes from the supervised law at the student's (N_S, D_S)."""
    l_sup = np.exp(log_loss(sup.law, sup_theta, N=N_S, D=D_S))
    return log_loss(dist.law, dist_theta, N=N_S, D=D_S, L_T=L_T, L_sup=l_sup)


def check_student(N_S, C, flops: str, preset: FlopPreset = BUSBRIDGE2025, bounds=BOUNDS):
    bnd = check_bounds(bounds)
    N_S = np.asarray(N_S, dtype=np.float64)
    bad = ~np.isfinite(N_S) | (N_S < bnd[0]) | (N_S > bnd[1])
    if bad.any():
        raise UserError(f"--student {N_S[bad][0]:.4g}: expected a parameter count in [{bnd[0]:.3g}, {bnd[1]:.3g}]")
    D_max = C / flops_per_token(N_S, flops, preset)
    small = D_max < bnd[0]
    if small.any():
        i = np.flatnonzero(small)[0]
        need = flops_per_token(N_S[i], flops, preset) * bnd[0]
        raise UserError(f"--student {N_S[i]:.4g} is too large for --compute {C[i]:.4g}: training it on even "
                        f"{bnd[0]:.3g} tokens needs {need:.3g} FLOPs ({flops})")
    big = D_max > bnd[1]
    if big.any():
        i = np.flatnonzero(big)[0]
        raise UserError(f"--compute {C[i]:.4g} is absurd for --student {N_S[i]:.4g}: it would train on "
                        f"{D_max[i]:.3g} tokens (bound {bnd[1]:.3g})")


def _search(f, lo, hi, *, n_grid: int, n_starts: int = 6, rounds: int = 8, polish: bool = True, **_):
    """Grid + restarts + zoom, then Newton polish of every restart (which never makes one worse)."""
    res = zoom_minimise(f, lo, hi, n_grid=n_grid, n_starts=n_starts, rounds=rounds)
    if not polish:
        return res
    S = newton_polish(f, res.starts, lo, hi, h=1e-3)
    B, k, d = S.shape
    FS = np.asarray(f(S), dtype=np.float64)
    FS = np.where(np.isnan(FS), np.inf, FS)
    i = np.argmin(FS, axis=1)
    x, fx = S[np.arange(B), i], FS[np.arange(B), i]
    keep = fx < res.fun
    return res._replace(x=np.where(keep[:, None], x, res.x), fun=np.where(keep, fx, res.fun))


def solve(sup: PlanFit, dist: PlanFit, N_S, C, scenario: str, *, flops: str = "attention",
          preset: FlopPreset = BUSBRIDGE2025, sup_theta=None, dist_theta=None, bounds=BOUNDS, **search) -> dict:
    """Optimal allocation for rows (N_S[b], C[b]) in one scenario; arrays of shape (B,).

    sup_theta/dist_theta default to the fits' point estimates; pass (B, P) arrays to solve one
    parameter draw per row. N_T, D_S and D_T stay within `bounds`. Returns L_S, L_T, N_T, D_T
    (nan in the best case), D_S, the three compute fractions, and grid_L_S (the coarse grid's
    best, never better than L_S).
    """
    N_S, C = np.broadcast_arrays(np.asarray(N_S, np.float64).reshape(-1), np.asarray(C, np.float64).reshape(-1))
    B = N_S.size
    st = sup.theta if sup_theta is None else np.asarray(sup_theta, np.float64)
    dt = dist.theta if dist_theta is None else np.asarray(dist_theta, np.float64)
    d_lgt, d_pre = SCENARIOS[scenario]
    bnd = check_bounds(bounds)
    fS = forward_flops(N_S, flops, preset)[:, None]  # (B, 1)
    lo_b, hi_b = np.log(bnd[0]), np.log(bnd[1])

    if scenario == "best":
        D_S = (C[:, None] / (3.0 * fS))  # all compute to the student
        corners = np.log(np.exp(log_loss(sup.law, st, N=np.array([[bnd[1], bnd[0]]]) + 0 * fS,
                                          D=np.array([[bnd[1], bnd[0]]]) + 0 * fS)))

        def f(X):  # X (B, M, 1) = log L_T
            return student_log_loss(sup, dist, st, dt, N_S[:, None], D_S, np.exp(X[..., 0]))

        res = _search(f, corners[:, :1], corners[:, 1:], **{**search, "n_grid": search.get("n_grid_1d", 96)})
        L_T = np.exp(res.x[:, 0])
        N_T = D_T = np.full(B, np.nan)
        D_S = D_S[:, 0]
        fr = (np.ones(B), np.zeros(B), np.zeros(B))
    else:
        def split(X):
            N_T, D_T = np.exp(X[..., 0]), np.exp(X[..., 1])
            fT = forward_flops(N_T, flops, preset)
            D_S = (C[:, None] - d_pre * 3.0 * fT * D_T) / (3.0 * fS + d_lgt * fT)
            return N_T, D_T, D_S

        def f(X):  # X (B, M, 2) = (log N_T, log D_T); D_S from the compute equality
            N_T, D_T, D_S = split(X)
            ok = (D_S >= bnd[0]) & (D_S <= bnd[1])
            D_S = np.where(ok, D_S, 1e9)
            L_T = np.exp(log_loss(sup.law, st, N=N_T, D=D_T))
            return np.where(ok, student_log_loss(sup, dist, st, dt, N_S[:, None], D_S, L_T), np.inf)

        box = np.array([[lo_b, lo_b]] * B), np.array([[hi_b, hi_b]] * B)
        res = _search(f, *box, **{"n_grid": 40, **search})
        N_T, D_T, D_S = (a[:, 0] for a in split(res.x[:, None, :]))
        L_T = np.exp(log_loss(sup.law, st, N=N_T, D=D_T))
        fT = forward_flops(N_T, flops, preset)
        fr = (3.0 * fS[:, 0] * D_S / C, d_lgt * fT * D_S / C, d_pre * 3.0 * fT * D_T / C)
    return {
        "L_S": np.exp(res.fun), "grid_L_S": np.exp(res.grid_fun), "L_T": L_T, "N_T": N_T, "D_T": D_T,
        "D_S": D_S, "frac_student": fr[0], "frac_logits": fr[1], "frac_teacher": fr[2],
        "feasible": np.isfinite(res.fun),
    }


def supervised_baseline(sup: PlanFit, N_S, C, *, flops: str = "attention", preset: FlopPreset = BUSBRIDGE2025,
                        sup_theta=None):
    """(loss, D) of training the student alone on all of C."""
    D = np.asarray(C, np.float64) / flops_per_token(N_S, flops, preset)
    st = sup.theta if sup_theta is None else sup_theta
    return np.exp(log_loss(sup.law, st, N=N_S, D=D)), D


@dataclass
class ScenarioPlan:
    scenario: str
    student_loss: float
    teacher_loss: float
    teacher_N: Optional[float]
    teacher_D: Optional[float]
    student_D: float
    fractions: dict
    #: L_S minus the supervised baseline (negative: distillation wins)
    vs_supervised: float
    teacher_tokens_per_param: Optional[float] = None


@dataclass
class DistillPlan:
    student_N: float
    compute: float
    flops: str
    supervised: dict
    scenarios: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _opt(x) -> Optional[float]:
    return None if not np.isfinite(x) else float(x)


def plan_distillation(sup, dist, student_N, compute, *, scenarios="all", flops: str = "attention",
                      preset: FlopPreset = BUSBRIDGE2025, bounds=BOUNDS, **search) -> list[DistillPlan]:
    """Plans for every (student_N, compute) pair (broadcast), each with the requested scenarios.

    `bounds` (lo, hi) limit the student size, N_T, D_S and D_T (default: the paper's [1e6, 1e17]).
    """
    sup, dist = as_planfit(sup), as_planfit(dist)
    check_convention(flops)
    names = parse_scenarios(scenarios)
    N_S, C = np.broadcast_arrays(np.atleast_1d(np.asarray(student_N, np.float64)), check_budget(compute))
    N_S, C = N_S.ravel(), C.ravel()
    check_student(N_S, C, flops, preset, bounds)
    L_sup, D_sup = supervised_baseline(sup, N_S, C, flops=flops, preset=preset)
    plans = [DistillPlan(float(n), float(c), flops, {"loss": float(l), "D": float(d)})
             for n, c, l, d in zip(N_S, C, L_sup, D_sup)]
    for name in names:
        r = solve(sup, dist, N_S, C, name, flops=flops, preset=preset, bounds=bounds, **search)
        for i, p in enumerate(plans):
            NT, DT = _opt(r["N_T"][i]), _opt(r["D_T"][i])
            p.scenarios.append(ScenarioPlan(
                scenario=name, student_loss=float(r["L_S"][i]), teacher_loss=float(r["L_T"][i]),
                teacher_N=NT, teacher_D=DT, student_D=float(r["D_S"][i]),
                fractions={"student": float(r["frac_student"][i]), "teacher_logits": float(r["frac_logits"][i]),
                           "teacher_training": float(r["frac_teacher"][i])},
                vs_supervised=float(r["L_S"][i] - L_sup[i]),
                teacher_tokens_per_param=None if NT is None else DT / NT,
            ))
    return plans


def plan_with_teacher(sup, dist, student_N: float, compute: float, teacher_N: float, *,
                      teacher_loss: Optional[float] = None, teacher_D: Optional[float] = None,
                      flops: str = "attention", preset: FlopPreset = BUSBRIDGE2025, bounds=BOUNDS) -> dict:
    """"I already have this teacher": the best D_S and expected L_S (N_S, N_T, D_S within `bounds`).

    The teacher's training is sunk; its logits cost F(N_T) per student token. L_S falls
    monotonically with D_S (both the power term and, through Ltilde_S, the capacity-gap factor),
    so the best D_S spends everything: D_S = C / (3 F(N_S) + F(N_T)).
    """
    sup, dist = as_planfit(sup), as_planfit(dist)
    check_convention(flops)
    C = check_budget(compute)[0]
    N_S = float(student_N)
    bnd = check_bounds(bounds)
    check_student(np.array([N_S]), np.array([C]), flops, preset, bnd)
    if not (np.isfinite(teacher_N) and bnd[0] <= teacher_N <= bnd[1]):
        raise UserError(f"--teacher-N {teacher_N:.4g}: expected a parameter count in [{bnd[0]:.3g}, {bnd[1]:.3g}]")
    if (teacher_loss is None) == (teacher_D is None):
        raise UserError("give the existing teacher's loss (--teacher-loss) or its training tokens (--teacher-D), not both")
    if teacher_loss is None:
        if not (np.isfinite(teacher_D) and teacher_D > 0):
            raise UserError(f"--teacher-D {teacher_D:.4g}: expected a positive token count")
        teacher_loss = float(np.exp(log_loss(sup.law, sup.theta, N=teacher_N, D=teacher_D)))
    elif not (np.isfinite(teacher_loss) and teacher_loss > 0):
        raise UserError(f"--teacher-loss {teacher_loss:.4g}: expected a positive loss in nats")
    fS, fT = forward_flops(N_S, flops, preset), forward_flops(teacher_N, flops, preset)
    D_S = C / (3.0 * fS + fT)
    if D_S < bnd[0]:
        raise UserError(f"--compute {C:.4g} leaves fewer than {bnd[0]:.3g} student tokens after the teacher's logits")
    L_S = float(np.exp(student_log_loss(sup, dist, sup.theta, dist.theta, N_S, D_S, teacher_loss)))
    L_sup, D_sup = supervised_baseline(sup, N_S, C, flops=flops, preset=preset)
    return {
        "student_N": N_S, "compute": float(C), "flops": flops,
        "teacher": {"N": float(teacher_N), "loss": float(teacher_loss), "D": teacher_D},
        "student_D": float(D_S), "student_loss": L_S,
        "fractions": {"student": float(3 * fS * D_S / C), "teacher_logits": float(fT * D_S / C), "teacher_training": 0.0},
        "supervised": {"loss": float(L_sup), "D": float(D_sup)},
        "vs_supervised": float(L_S - L_sup),
    }
