"""Synthetic teacher / supervised / student runs drawn from the distillation scaling law.

No public teacher-student dataset exists (Busbridge et al. 2025, arXiv 2502.08606, released no
runs), so this module generates run records on the paper's three experimental designs (§4.1):

1. fixed-M teachers, isoFLOP students: teachers at M_T = D_T/N_T = 20; for each teacher,
   students along isoFLOP profiles of the student's own training compute, from 103M to 12.6B
   on every budget (the big students at small budgets carry the D_S term);
2. isoFLOP teachers, fixed-M students: teachers along supervised isoFLOP profiles; students at
   M_S = 20;
3. fixed-M teachers, fixed-M students: teachers at M_T = 20; students at M_S in {20, 40, 80,
   160, 320}.

Model sizes are the paper's Table 13 family (non-embedding N); isoFLOP tokens use C = 3 F(N) D
(`scalelaw.flops`, "attention" convention, the paper's accounting). The exact size and budget
choices below are ours (the paper gives the designs, not every grid point); they give 744
students (the paper: 697). Losses come from the supervised law (teachers, supervised runs)
and the distillation law (students, with the teacher's drawn loss as L_T and the noise-free
supervised law as Ltilde_S), each times exp(noise * z), z ~ N(0, 1).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .flops import forward_flops_per_token, tokens_for_budget
from .laws.busbridge import CHINCHILLA_GAMMA, DISTILL, PUBLISHED_DISTILL, PUBLISHED_SUPERVISED

#: Non-embedding parameter counts of the Table 13 model family (Busbridge et al. 2025, App. I).
TABLE13_N = np.array([
    0.1028, 0.1434, 0.1983, 0.2657, 0.3398, 0.4348, 0.546, 0.6636, 0.8096, 0.9755, 1.147, 1.355,
    1.586, 1.821, 2.102, 2.41, 2.718, 3.082, 3.478, 3.87, 4.329, 4.823, 5.309, 5.873, 6.476,
    7.066, 7.747, 8.47, 9.173, 10.05, 10.84, 11.66, 12.61,
]) * 1e9

#: design 1: fixed-M teachers (M_T = 20) and the students' isoFLOP budgets (FLOPs, 3 F(N) D)
D1_TEACHERS = (0.1983e9, 0.546e9, 0.9755e9, 1.821e9, 4.823e9, 7.747e9)
D1_BUDGETS = (3e19, 1e20, 3e20, 1e21)
#: design 1 student sizes: every other Table 13 size, 103M to 12.6B, on every budget. Keeping the
#: large students at the small budgets (M_S down to ~0.03 for 12.6B at 3e19) matters: there the
#: B'/D_S^beta' term is ~7% of A'/N_S^alpha' at Table 6's values, while at M_S >= 4 it is < 1%.
D1_STUDENTS = TABLE13_N[::2]
D1_TOKENS_PER_PARAM = (0.0, 128.0)  # only the long runs of the smallest students are left out
#: design 2: teacher isoFLOP budgets and the fixed-M (M_S = 20) student sizes
D2_BUDGETS = (3e19, 1e20, 3e20, 1e21, 3e21)
D2_TOKENS_PER_PARAM = (8.0, 128.0)
D2_STUDENTS = (0.1434e9, 0.2657e9, 0.4348e9, 0.6636e9, 0.9755e9, 1.355e9)
#: design 3: fixed-M teachers and students at M_S in {20, 40, 80, 160, 320}
D3_TEACHERS = (0.1983e9, 0.546e9, 1.821e9, 4.823e9, 7.747e9)
D3_STUDENTS = (0.1028e9, 0.1434e9, 0.2657e9, 0.546e9, 0.9755e9, 1.821e9)
D3_M = (20, 40, 80, 160, 320)
#: extra supervised runs (role "supervised") covering the students' (N, D) range
SUP_M = (5, 20, 80, 320, 1280)
SUP_N = (0.1028e9, 0.2657e9, 0.6636e9, 1.821e9, 4.823e9)

LOSS_KIND = "val CE (nats/token), synthetic"
CONVENTION = "attention"


def _tag(n: float) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def _isoflop_sizes(C: float, m_range: tuple[float, float], sizes: np.ndarray = TABLE13_N) -> list[tuple[float, float]]:
    """(N, D) on the isoFLOP profile of budget C for the given sizes with D/N inside m_range."""
    D = tokens_for_budget(sizes, C, CONVENTION)
    M = D / sizes
    keep = (M >= m_range[0]) & (M <= m_range[1])
    return [(float(n), float(d)) for n, d in zip(sizes[keep], D[keep])]


def design() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The noise-free design: (teacher/supervised rows, student rows) without losses.

    Teacher rows have run_id, role, N, D, design; student rows have run_id, N, D,
    teacher_run_id, design. Every teacher appears once even when several designs use it.
    """
    teachers: dict[str, dict] = {}

    def teacher(n: float, d: float, label: str, role: str = "teacher") -> str:
        rid = f"{'T' if role == 'teacher' else 'S'}-{_tag(n)}-D{d:.3g}"
        teachers.setdefault(rid, {"run_id": rid, "role": role, "N": n, "D": d, "design": label})
        return rid

    students = []

    def student(n: float, d: float, tid: str, label: str) -> None:
        students.append({"run_id": f"st{len(students):04d}-{_tag(n)}-D{d:.3g}", "N": n, "D": d,
                         "teacher_run_id": tid, "design": label})

    for nt in D1_TEACHERS:
        tid = teacher(nt, 20 * nt, "fixedM-teacher")
        for C in D1_BUDGETS:
            for ns, ds in _isoflop_sizes(C, D1_TOKENS_PER_PARAM, D1_STUDENTS):
                student(ns, ds, tid, "1:fixedM-teacher/isoFLOP-student")
    for C in D2_BUDGETS:
        for nt, dt in _isoflop_sizes(C, D2_TOKENS_PER_PARAM):
            tid = teacher(nt, dt, "isoFLOP-teacher")
            for ns in D2_STUDENTS:
                student(ns, 20 * ns, tid, "2:isoFLOP-teacher/fixedM-student")
    for nt in D3_TEACHERS:
        tid = teacher(nt, 20 * nt, "fixedM-teacher")
        for ns in D3_STUDENTS:
            for m in D3_M:
                student(ns, m * ns, tid, "3:fixedM-teacher/fixedM-student")
    for n in SUP_N:
        for m in SUP_M:
            teacher(n, m * n, "supervised-grid", role="supervised")
    return pd.DataFrame(list(teachers.values())), pd.DataFrame(students)


def synth_distill(
    *,
    noise: float = 0.005,
    seed: int = 0,
    supervised: Mapping[str, float] = PUBLISHED_SUPERVISED,
    distill: Mapping[str, float] = PUBLISHED_DISTILL,
) -> pd.DataFrame:
    """Run records (scalelaw.runs schema) for the three designs, losses drawn from the laws.

    `supervised` / `distill` are natural parameter dicts (default: Busbridge et al. Table 6).
    Each loss is multiplied by exp(noise * z); the student's L_T is its teacher's drawn loss and
    its Ltilde_S the noise-free supervised law. Extra columns: `true_loss` (the noise-free law
    value given the drawn L_T), `design`, `flops_exact` (3 F(N) D, plus F(N_T) D_S for the
    teacher's logits on student rows).
    """
    rng = np.random.default_rng(seed)
    sup, stu = design()
    sup_true = CHINCHILLA_GAMMA.predict_natural(supervised, N=sup["N"].to_numpy(), D=sup["D"].to_numpy())
    sup["true_loss"] = sup_true
    sup["loss"] = sup_true * np.exp(noise * rng.standard_normal(len(sup)))
    sup["flops_exact"] = 3 * forward_flops_per_token(sup["N"].to_numpy()) * sup["D"].to_numpy()

    t = sup.set_index("run_id").loc[stu["teacher_run_id"]]
    stu["N_T"], stu["D_T"], stu["L_T"] = t["N"].to_numpy(), t["D"].to_numpy(), t["loss"].to_numpy()
    ns, ds = stu["N"].to_numpy(), stu["D"].to_numpy()
    l_sup = CHINCHILLA_GAMMA.predict_natural(supervised, N=ns, D=ds)
    true = DISTILL.predict_natural(distill, N=ns, D=ds, L_T=stu["L_T"].to_numpy(), L_sup=l_sup)
    stu["true_loss"] = true
    stu["loss"] = true * np.exp(noise * rng.standard_normal(len(stu)))
    stu["role"] = "student"
    stu["flops_exact"] = (3 * forward_flops_per_token(ns) + forward_flops_per_token(stu["N_T"].to_numpy())) * ds

    df = pd.concat([sup, stu], ignore_index=True)
    df["N_kind"] = "non-embedding"
    df["loss_kind"] = LOSS_KIND
    df["status"] = "ok"
    df["seed"] = seed
    cols = ["run_id", "role", "N", "N_kind", "D", "loss", "loss_kind", "teacher_run_id", "N_T", "D_T",
            "L_T", "flops_exact", "seed", "status", "design", "true_loss"]
    return df[cols]


def params_from_fit(path: str) -> tuple[dict, dict]:
    """(supervised, distill) natural parameter dicts from a saved distill fit or a built-in name."""
    from .errors import UserError
    from .fit import load_fit

    fit = load_fit(path)
    if fit.law.name != "distill" or fit.supervised is None:
        raise UserError(f"{path}: expected a distillation fit (law 'distill' with a supervised sub-fit), "
                        f"got law {fit.law.name!r}")
    if fit.supervised.law.name != "chinchilla-gamma":
        raise UserError(f"{path}: the generator needs a chinchilla-gamma supervised sub-fit, "
                        f"got {fit.supervised.law.name!r}")
    return dict(fit.supervised.params), dict(fit.params)
