"""`scalelaw demo`: the whole pipeline on a CPU in minutes — sweep -> runs.csv -> fit -> plan -> report.

1. Runs the embedded sweep `sweeps/tiny-cpu.toml` into DIR (finished runs are reused, partial ones
   resume), on the synthetic corpus whose true entropy rate is known.
2. Fits the supervised laws (chinchilla, chinchilla-gamma) on the supervised and teacher runs, and
   the distillation law (Busbridge et al. 2025, Eq. 8) with the two-stage fit on the students.
3. Plans: compute-optimal supervised allocation and the distil-or-train comparison at a few
   budgets beyond the sweep (an extrapolation, and the report says so).
4. Writes DIR/report.md, DIR/plots/*.png and DIR/fits/*.json.

With so few, so small and so noisy runs the fits may hit bounds or warn; every warning is copied
into the report, and a stage that cannot produce a result says why instead of stopping the demo.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UserError

DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "sweeps" / "tiny-cpu.toml"
SUPERVISED_LAWS = ("chinchilla", "chinchilla-gamma")
#: budgets for the plans (FLOPs): beyond the sweep's largest run (~2e12), inside the planner's bounds
PLAN_COMPUTE = (1e14, 1e15, 1e16)
STUDENT_N = 1e6  # the planner's smallest model size


class _Stage:
    """Collects warnings and failures of one stage for the report."""

    def __init__(self, name: str, notes: list):
        self.name, self.notes = name, notes

    def __enter__(self):
        self._cm = warnings.catch_warnings(record=True)
        self.caught = self._cm.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, typ, exc, tb):
        self._cm.__exit__(None, None, None)
        counts: dict[str, int] = {}
        for w in self.caught:
            msg = f"{self.name}: warning: {w.message}"
            counts[msg] = counts.get(msg, 0) + 1
        self.notes += [m + (f" (x{k})" if k > 1 else "") for m, k in counts.items()]
        if exc is not None and isinstance(exc, (UserError, ValueError, FloatingPointError, np.linalg.LinAlgError)):
            self.notes.append(f"{self.name}: could not finish: {exc}")
            return True  # recorded; the demo goes on
        return False


def run_demo(out: str | Path, *, spec: str | Path | None = None, workers: int | None = None,
             progress: bool = True) -> dict:
    """Run the demo into `out`; returns a summary with the report's path."""
    from .sweep import load_spec, run_local

    out = Path(out)
    spec_path = Path(spec) if spec is not None else DEFAULT_SPEC
    if not spec_path.is_file():
        raise UserError(f"{spec_path}: sweep spec not found (the demo needs the repository's sweeps/ folder)")
    t0 = time.time()
    s = load_spec(spec_path)
    summary = run_local(s, out, workers=workers, progress=progress)
    t_sweep = time.time() - t0
    notes: list[str] = []
    runs_csv = out / "runs.csv"
    if not runs_csv.exists():
        raise UserError(f"{out}: no run finished, nothing to fit (see {out}/runs/*/log.txt)")
    df = pd.read_csv(runs_csv)
    (out / "plots").mkdir(exist_ok=True)
    (out / "fits").mkdir(exist_ok=True)
    plots: dict[str, str] = {}

    with _Stage("loss curves", notes):
        plots["loss curves"] = _loss_curves(out, s)

    fits = {}
    with _Stage("supervised fits", notes):
        fits = _supervised_fits(runs_csv, out, notes)
        if fits:
            from .plot import plot_law_surfaces
            from .runs import load_runs

            sup = load_runs(runs_csv, role=("supervised", "teacher")).df
            p = out / "plots" / "supervised_fits.png"
            plot_law_surfaces(fits, sup["N"], sup["D"], sup["loss"], path=p)
            plots["fitted supervised surfaces"] = str(p)

    dist = None
    with _Stage("distillation fit", notes):
        dist = _distill_fit(runs_csv, out, plots)

    plans = {}
    with _Stage("compute plan", notes):
        plans = _plans(fits, dist, out, plots, notes)

    doc = {
        "dir": str(out), "report": str(out / "report.md"), "sweep": s.name, "spec": str(spec_path),
        "counts": summary["counts"], "sweep_wall_s": t_sweep, "wall_s": time.time() - t0,
        "fits": {k: _fit_summary(f) for k, f in fits.items()},
        "distill": _fit_summary(dist) if dist is not None else None,
        "plans": plans, "plots": plots, "notes": notes,
        "entropy_floor": _floor(df),
    }
    _write_report(out / "report.md", doc, df)
    return doc


# ---------------------------------------------------------------- stages


def _loss_curves(out: Path, spec) -> str:
    from .plot import plot_loss_curves

    curves = []
    for r in spec.runs:
        m = out / "runs" / r.run_id / "metrics.csv"
        if not m.exists():
            continue
        mdf = pd.read_csv(m)
        if "val_loss" not in mdf:
            continue
        mdf = mdf.dropna(subset=["val_loss"])
        curves.append((r.run_id, r.role, mdf["tokens"].to_numpy(float), mdf["val_loss"].to_numpy(float)))
    p = out / "plots" / "loss_curves.png"
    plot_loss_curves(curves, path=p)
    return str(p)


def _supervised_fits(runs_csv: Path, out: Path, notes: list) -> dict:
    from .fit import fit_law, save_fit
    from .laws import get_law
    from .runs import load_runs

    runs = load_runs(runs_csv, role=("supervised", "teacher"))
    fits = {}
    for name in SUPERVISED_LAWS:
        with _Stage(f"fit {name}", notes):
            fit = fit_law(get_law(name), runs)
            save_fit(fit, out / "fits" / f"{name}.json")
            fits[name] = fit
    return fits


def _distill_fit(runs_csv: Path, out: Path, plots: dict):
    from .fit import save_fit
    from .fit.distill import fit_distill, split_roles
    from .plot import plot_student_fit

    fit = fit_distill(runs_csv)
    save_fit(fit, out / "fits" / "distill.json")
    _, students = split_roles(runs_csv)
    p = out / "plots" / "distill_fit.png"
    plot_student_fit(fit, students.df, path=p)
    plots["distillation law vs students"] = str(p)
    return fit


def _plans(fits: dict, dist, out: Path, plots: dict, notes: list) -> dict:
    from .plan import plan_distillation, plan_supervised

    plans: dict = {}
    if "chinchilla" in fits:
        with _Stage("supervised plan", notes):
            sp = plan_supervised(fits["chinchilla"], list(PLAN_COMPUTE), strict=False)
            plans["supervised"] = [p.to_dict() for p in sp]
    if dist is not None:
        with _Stage("distil-or-train plan", notes):
            from .plot import plot_distil_or_train

            C = np.geomspace(PLAN_COMPUTE[0], PLAN_COMPUTE[-1], 7)
            dp = plan_distillation(dist.supervised, dist, STUDENT_N, C, scenarios="all")
            names = [s.scenario for s in dp[0].scenarios]
            sup_loss = np.array([p.supervised["loss"] for p in dp])
            scen = {n: np.array([p.scenarios[i].student_loss for p in dp]) for i, n in enumerate(names)}
            p = out / "plots" / "distil_or_train.png"
            plot_distil_or_train(C, sup_loss, scen, STUDENT_N, path=p)
            plots["distil or train"] = str(p)
            plans["distill"] = [p_.to_dict() for p_ in dp]
    (out / "fits" / "plans.json").write_text(json.dumps(plans, indent=1, default=float))
    return plans


# ---------------------------------------------------------------- report


def _fit_summary(fit) -> dict:
    return {"law": fit.law.name, "params": {k: float(v) for k, v in fit.params.items()}, "status": fit.status,
            "n_points": int(fit.n_points), "objective": float(fit.objective), "warnings": list(fit.warnings)}


def _floor(df: pd.DataFrame) -> float | None:
    if "loss_floor" in df and df["loss_floor"].notna().any():
        return float(df["loss_floor"].dropna().iloc[0])
    return None


def _fmt_params(p: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in p.items())


def _write_report(path: Path, doc: dict, df: pd.DataFrame) -> None:
    from .sweep.report import fmt_seconds

    c = doc["counts"]
    L = [f"# scalelaw demo: sweep `{doc['sweep']}` -> fit -> plan", ""]
    L.append(f"Spec `{doc['spec']}`; results in `{doc['dir']}` (`runs.csv`: {len(df)} runs). "
             f"Sweep wall time {fmt_seconds(doc['sweep_wall_s'])} (reused runs cost nothing), "
             f"whole demo {fmt_seconds(doc['wall_s'])}.")
    L.append("")
    L.append("Runs: " + ", ".join(f"{k} {v}" for k, v in c.items() if v) + ".")
    by_role = df.groupby("role").size().to_dict() if "role" in df else {}
    L.append("By role: " + ", ".join(f"{k} {v}" for k, v in by_role.items()) + ".")
    floor = doc["entropy_floor"]
    L += ["", "## Fitted laws (from the runs above)", ""]
    if floor is not None:
        L.append(f"The synthetic corpus's true entropy rate is {floor:.4f} nats/token: a fitted E should "
                 "approach it from above (these models are far from it, so E is poorly constrained).")
        L.append("")
    for name, f in doc["fits"].items():
        L.append(f"- **{name}** ({f['n_points']} runs, status {f['status']}): {_fmt_params(f['params'])}")
    if doc["distill"] is not None:
        f = doc["distill"]
        L.append(f"- **distill** (two-stage, {f['n_points']} students, status {f['status']}): {_fmt_params(f['params'])}")
    if not doc["fits"] and doc["distill"] is None:
        L.append("No law could be fitted; see the notes below.")
    plans = doc["plans"]
    L += ["", "## Compute plan (extrapolation well beyond the sweep's ~1e12 FLOPs)", ""]
    for p in plans.get("supervised", []):
        L.append(f"- C = {p['compute']:.0e} FLOPs: N* = {p['N']:.3g}, D* = {p['D']:.3g} "
                 f"({p['tokens_per_param']:.1f} tokens/param), loss {p['loss']:.4f}"
                 + ("" if p["interior"] else " (no interior optimum: at the size bound)"))
    for p in plans.get("distill", []):
        best = min(p["scenarios"], key=lambda s: s["student_loss"])
        verdict = "distil" if best["vs_supervised"] < 0 else "train supervised"
        L.append(f"- student N = {p['student_N']:.2g}, C = {p['compute']:.2g}: supervised {p['supervised']['loss']:.4f}, "
                 f"best distillation ({best['scenario']}) {best['student_loss']:.4f} -> {verdict}")
    if not plans:
        L.append("No plan could be made; see the notes below.")
    L += ["", "## Plots", ""]
    for title, p in doc["plots"].items():
        L.append(f"![{title}](plots/{Path(p).name})")
    L += ["", "## Notes and warnings", ""]
    L += [f"- {n}" for n in doc["notes"]] or ["- none"]
    path.write_text("\n".join(L) + "\n")
