"""Documents and tables for the `scalelaw plan` commands (the CLI only parses and prints).

Each `*_doc` function returns one JSON-ready dict; each `print_*` writes a human table to stderr.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import UserError
from .sources import load_plan_fit as _load_plan_fit
from .sources import require_distill, require_supervised


def load_plan_fit(spec: str):
    """As `sources.load_plan_fit`, with JAX's compile cache on (CLI queries are short-lived)."""
    from .._jax import enable_compile_cache

    enable_compile_cache()
    return _load_plan_fit(spec)


def supervised_doc(fit: str, compute: float, *, flops: str = "6nd", level: float = 0.9,
                   n_min: float = 1e6, n_max: float = 1e17) -> dict:
    from .supervised import plan_supervised

    sup = require_supervised(fit, *load_plan_fit(fit))
    (plan,) = plan_supervised(sup, compute, flops=flops, level=level, n_bounds=(n_min, n_max))
    return {"fit": fit, **plan.to_dict()}


def parse_bounds(text: Optional[str]) -> Optional[tuple[float, float]]:
    """`--bounds LO,HI` -> (lo, hi) with 0 < lo < hi (None stays None: the planner's default)."""
    from .distill import check_bounds

    if text is None:
        return None
    parts = str(text).split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        lo, hi = (float(x) for x in parts)
    except ValueError:
        raise UserError(f"--bounds {text!r}: expected two numbers LO,HI (e.g. 1e6,1e17)") from None
    return check_bounds((lo, hi))


def distill_doc(fit: str, student: float, compute: float, *, scenario: str = "all", flops: str = "attention",
                teacher_N: Optional[float] = None, teacher_loss: Optional[float] = None,
                teacher_D: Optional[float] = None, draws: int = 0, crossover: bool = False, seed: int = 0,
                bounds: Optional[tuple[float, float]] = None) -> dict:
    """One distillation plan; `bounds` (lo, hi) limit N_S, N_T, D_S and D_T (None: the planner's default)."""
    from .distill import BOUNDS, check_bounds, parse_scenarios, plan_distillation, plan_with_teacher

    bounds = BOUNDS if bounds is None else check_bounds(bounds)
    sup, dist = require_distill(fit, *load_plan_fit(fit))
    names = parse_scenarios(scenario)
    if teacher_N is not None or teacher_loss is not None or teacher_D is not None:
        if teacher_N is None:
            raise UserError("--teacher-loss/--teacher-D describe an existing teacher: also give its size --teacher-N")
        return {"fit": fit, **plan_with_teacher(sup, dist, student, compute, teacher_N, teacher_loss=teacher_loss,
                                                teacher_D=teacher_D, flops=flops, bounds=bounds)}
    (plan,) = plan_distillation(sup, dist, student, compute, scenarios=names, flops=flops, bounds=bounds)
    doc = {"fit": fit, **plan.to_dict(), "bounds": list(bounds)}
    if draws:
        from .decide import crossover_budget, distil_or_train

        doc["decisions"] = [distil_or_train(sup, dist, student, compute, scenario=s, flops=flops, n_draws=draws,
                                            seed=seed, bounds=bounds) for s in names]
        if crossover:
            doc["crossover"] = [crossover_budget(sup, dist, student, scenario=s, flops=flops, n_draws=draws,
                                                 seed=seed, points=19, n_grid=28, rounds=6, bounds=bounds)
                             for s in names]
    return doc


def frontier_doc(fit: str, c_min: float, c_max: float, points: int, *, student: Optional[float] = None,
                 scenario: str = "all", flops: Optional[str] = None, level: float = 0.9,
                 bounds: Optional[tuple[float, float]] = None) -> dict:
    """Plans over a log-spaced range of budgets: supervised (N*, D*, L) or distillation (per scenario).

    `bounds` (lo, hi): the search range of N (and lo the fewest tokens D) for a supervised fit, of
    N_T, D_S and D_T for a distillation fit (None: the planners' defaults).
    """
    from .distill import BOUNDS, check_bounds
    from .supervised import D_MIN, N_BOUNDS, check_budget

    check_budget([c_min, c_max], "compute-min/--compute-max")
    if not 2 <= points <= 500 or c_max <= c_min:
        raise UserError("--points must be in [2, 500] and --compute-max > --compute-min")
    C = np.logspace(np.log10(c_min), np.log10(c_max), points)
    sup, dist = load_plan_fit(fit)
    if dist is None:
        from .supervised import plan_supervised

        if student is not None:
            raise UserError(f"{fit}: --student needs a distillation fit; this one holds {sup.law.name!r}")
        n_bounds = N_BOUNDS if bounds is None else check_bounds(bounds)
        d_min = D_MIN if bounds is None else n_bounds[0]
        plans = plan_supervised(sup, C, flops=flops or "6nd", level=level, n_bounds=n_bounds, d_min=d_min,
                                strict=False)
        return {"fit": fit, "kind": "supervised", "flops": flops or "6nd", "bounds": list(n_bounds),
                "plans": [p.to_dict() for p in plans]}
    from .distill import plan_distillation

    if student is None:
        raise UserError(f"{fit}: a distillation frontier needs --student N_S")
    bounds = BOUNDS if bounds is None else check_bounds(bounds)
    plans = plan_distillation(sup, dist, student, C, scenarios=scenario, flops=flops or "attention", bounds=bounds)
    return {"fit": fit, "kind": "distill", "flops": flops or "attention", "student_N": float(student),
            "bounds": list(bounds), "plans": [p.to_dict() for p in plans]}


def _console():
    from rich.console import Console

    return Console(stderr=True, width=140)


def print_supervised(doc: dict) -> None:
    from rich.table import Table

    t = Table(title=f"compute-optimal plan ({doc['law']}, C = {doc['compute']:.3g} FLOPs, {doc['flops']}, {doc['method']})")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    iv = doc.get("interval") or {}
    ci = doc.get("calibrated_interval") or {}
    if iv:
        t.add_column(f"{int(100 * doc['level'])}% bootstrap", justify="right")
    if ci:
        t.add_column(f"{int(100 * ci['level'])}% calibrated", justify="right")
    span = lambda v: f"[{v[0]:.4g}, {v[1]:.4g}]" if v else "-"  # noqa: E731
    for k in ("N", "D", "tokens_per_param", "loss"):
        row = [k, f"{doc[k]:.5g}"]
        if iv:
            row.append(span(iv[k]))
        if ci:
            row.append(span(ci.get(k)))
        t.add_row(*row)
    con = _console()
    con.print(t)
    if doc.get("extrapolation"):
        con.print(f"extrapolation factor vs fitted compute range: {doc['extrapolation']:.3g}")
    if ci:
        con.print(f"calibrated loss: the backtest-calibrated prediction interval of a run at (N*, D*), "
                  f"{ci['extrapolation_distance']:.2f} e-folds outside the data" + (f" ({ci['note']})" if ci["note"] else ""))
        if "N" in ci:
            edge = [s for s, hit in zip(("lower", "upper"), ci["N_at_bound"]) if hit]
            con.print(f"calibrated N, D: the near-optimal range, allocations on this budget whose predicted loss is within "
                      f"{100 * np.expm1(ci['near_optimal_log_loss']):.2g}% of the optimum's (the law's calibrated uncertainty "
                      "at the plan, without run-to-run scatter), joined with the bootstrap interval: the forecast cannot "
                      "tell them apart" + (f"; the {' and '.join(edge)} end is the search bound" if edge else ""))
        else:
            con.print("calibrated N, D: none without bootstrap draws (fit with --bootstrap K)")


def print_distill(doc: dict) -> None:
    from rich.table import Table

    con = _console()
    if "scenarios" not in doc:  # an existing teacher
        con.print(f"existing teacher N_T={doc['teacher']['N']:.3g}, L_T={doc['teacher']['loss']:.4f}: "
                  f"student N_S={doc['student_N']:.3g} on D_S={doc['student_D']:.4g} tokens -> L_S={doc['student_loss']:.4f} "
                  f"(supervised on all of C: {doc['supervised']['loss']:.4f}; "
                  f"{'distil' if doc['vs_supervised'] < 0 else 'train'})")
        return
    t = Table(title=f"N_S = {doc['student_N']:.3g}, C = {doc['compute']:.3g} FLOPs ({doc['flops']}); "
                    f"supervised: L = {doc['supervised']['loss']:.4f} on D = {doc['supervised']['D']:.3g}")
    for c in ("scenario", "L_S", "vs sup.", "L_T", "N_T", "D_T", "D_S", "student", "logits", "teacher"):
        t.add_column(c, justify="left" if c == "scenario" else "right")
    g = lambda x: "-" if x is None else f"{x:.3g}"  # noqa: E731
    for s in doc["scenarios"]:
        f = s["fractions"]
        t.add_row(s["scenario"], f"{s['student_loss']:.4f}", f"{s['vs_supervised']:+.4f}", f"{s['teacher_loss']:.4f}",
                  g(s["teacher_N"]), g(s["teacher_D"]), g(s["student_D"]),
                  f"{f['student']:.0%}", f"{f['teacher_logits']:.0%}", f"{f['teacher_training']:.0%}")
    con.print(t)
    for d in doc.get("decisions", []):
        con.print(f"{d['scenario']}: {d['verdict']}; P(distillation wins) = {d['p_distil_wins']:.2f} "
                  f"over {d['n_draws']} {d['draws']} draws")
    for c in doc.get("crossover", []):
        rng = "not found" if c["low"] is None else f"{c['low']:.2g} .. {c['high']:.2g} (median {c['median']:.2g})"
        con.print(f"{c['scenario']}: supervised catches up at C in {rng} [{int(100 * c['level'])}% of {c['n_found']} "
                  f"draws; {c['n_never_wins']} never distil, {c['n_beyond_range']} beyond {c['range_searched'][1]:.0e}]")


def print_frontier(doc: dict) -> None:
    con = _console()
    if doc["kind"] == "supervised":
        for p in doc["plans"]:
            flag = "" if p["interior"] else "  (no interior optimum)"
            con.print(f"C={p['compute']:.3g}  N*={p['N']:.4g}  D*={p['D']:.4g}  D/N={p['tokens_per_param']:.1f}  L={p['loss']:.4f}{flag}")
        return
    for p in doc["plans"]:
        parts = "  ".join(f"{s['scenario']}={s['student_loss']:.4f}" for s in p["scenarios"])
        con.print(f"C={p['compute']:.3g}  supervised={p['supervised']['loss']:.4f}  {parts}")
