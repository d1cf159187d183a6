"""Profile the fit objective along one parameter: is it identified by the data?

A parameter that ends on its bound, or wanders over decades between bootstrap draws, may simply
not be determined by the runs. The profile answers that directly: hold the parameter fixed at a
series of values, refit every other parameter, and read how much the best objective rises. A flat
profile (the objective within a fraction of a percent of the free optimum over decades) says the
data cannot pin the parameter down; a well-defined minimum says they can. (Profile likelihood, e.g.
Venzon & Moolgavkar 1988; here on the fit's own Huber objective rather than a likelihood.)

`profile` works for any loss law `fit_law` accepts; `profile_distill` runs stage 1 of the
two-stage distillation fit once and profiles a stage-2 (student law) parameter with the
screened grid starts of the free fit, so every refit searches the same basins.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from ..errors import UserError
from .spec import FitSpec


@dataclass(frozen=True)
class ProfilePoint:
    value: float  # the fixed value, in the paper's parameterisation
    objective: float
    rel_increase: float  # (objective - free objective) / free objective
    status: str
    params: dict

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def profile(spec: FitSpec, runs, name: str, values, *, free_objective: float | None = None, **fit_kw) -> list[ProfilePoint]:
    """Refit `spec` with `name` fixed at each of `values`; one ProfilePoint per value.

    `free_objective` is the objective of the fit with `name` free (refitted here when None);
    `fit_kw` goes to `fit_law` (starts, extra_inputs, delta, n_polish, max_iter, ...).
    """
    from . import fit_law

    if name in spec.fixed_dict:
        raise UserError(f"profile: parameter {name!r} is already fixed in the fit's spec")
    values = [float(v) for v in np.atleast_1d(values)]
    if not values:
        raise UserError("profile: give at least one value")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # at-bound notes are the point of a profile, not news
        if free_objective is None:
            free_objective = float(fit_law(spec, runs, **fit_kw).objective)
        out = []
        for v in values:
            fixed = replace(spec, fixed=tuple(spec.fixed) + ((name, v),))
            f = fit_law(fixed, runs, **fit_kw)
            out.append(ProfilePoint(value=v, objective=float(f.objective),
                                    rel_increase=(float(f.objective) - free_objective) / free_objective,
                                    status=f.status, params={k: float(x) for k, x in f.params.items()}))
    return out


def profile_distill(path_or_runs, name: str, values, *, where: str | None = None,
                    supervised_law: str | FitSpec = "chinchilla-gamma", delta: float | None = None) -> dict:
    """Profile a student-law parameter of the two-stage distillation fit.

    Returns {"parameter", "free": {value, objective}, "points": [ProfilePoint dicts]}; the free
    fit is `fit_distill`'s own, and each profiled refit starts from its screened grid starts.
    """
    from ..laws.busbridge import DISTILL
    from .distill import fit_distill, grid_starts, split_roles, student_logs

    if name not in DISTILL.natural_names:
        raise UserError(f"profile: {name!r} is not a parameter of the distillation law "
                        f"({', '.join(DISTILL.natural_names)})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        free = fit_distill(path_or_runs, where=where, supervised_law=supervised_law, delta=delta)
    _, students = split_roles(path_or_runs, where=where)
    l_sup = free.supervised.predict(N=students.column("N"), D=students.column("D"))
    logs, log_y = student_logs(students, l_sup)
    starts = grid_starts(logs, log_y, delta=free.delta)
    points = profile(FitSpec(law=DISTILL.name), students, name, values, free_objective=float(free.objective),
                     starts=starts, delta=free.delta, extra_inputs={"L_sup": l_sup}, max_iter=400)
    return {"parameter": name, "free": {"value": float(free.params[name]), "objective": float(free.objective),
                                        "status": free.status, "params": {k: float(v) for k, v in free.params.items()}},
            "points": [p.to_dict() for p in points]}


def flat_span(points: list[ProfilePoint] | list[dict], tol: float = 0.01) -> tuple[float, float] | None:
    """(min, max) of the profiled values whose objective is within `tol` (relative) of the free optimum."""
    pts = [p if isinstance(p, dict) else p.to_dict() for p in points]
    ok = [p["value"] for p in pts if p["rel_increase"] <= tol]
    return (min(ok), max(ok)) if ok else None
