"""`scalelaw demo`: the whole pipeline on a CPU in minutes — sweep -> runs.csv -> fit -> plan -> report.

1. Runs the embedded sweep `sweeps/tiny-cpu.toml` into DIR (finished runs are reused, partial ones
   resume), on the synthetic corpus whose true entropy rate is known.
2. Fits the supervised laws (chinchilla, chinchilla-gamma) on the supervised and teacher runs
   with E held at the corpus's entropy floor (the runs' `loss_floor`, the Bayes-optimal loss the
   synthetic corpus computes exactly), since E is known and runs this far above it cannot pin it
   down. The largest supervised size is also held out of one chinchilla fit and predicted, with a
   bootstrap predictive interval, against its measured loss. The distillation law (Busbridge et
   al. 2025, Eq. 8) is fitted with the two-stage fit (stage 1 with the same fixed E) on the
   demo's students together with the shipped CPU distillation study (STUDY_DATA): the demo's 18
   students over a 5x D_S range alone do not identify the law's D_S dependence.
3. Plans at scales derived from the data (`plan_setting`): budgets from the largest run's compute
   up to PLAN_SPAN times it, the largest swept student size, and planner bounds that bracket the
   swept N and D, under C = 3F(N)D with an F(N) preset matching the sweep's models. These are
   extrapolations, and the report says by how much and when an optimum sits on a bound.
4. Writes DIR/report.md, DIR/plots/*.png and DIR/fits/*.json.

With so few, so small and so noisy runs the fits may hit bounds or warn; every warning is copied
into the report, and a stage that cannot produce a result says why instead of stopping the demo.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UserError
from .flops import FlopPreset

DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "sweeps" / "tiny-cpu.toml"
#: our own teacher/student runs on the same corpus, fitted together with the demo's students
STUDY_DATA = Path(__file__).resolve().parent.parent / "data" / "cpu-distill-study.csv"
#: bootstrap resamples and level of the held-out prediction's interval
HOLDOUT_BOOT, HOLDOUT_LEVEL = 200, 0.9
SUPERVISED_LAWS = ("chinchilla", "chinchilla-gamma")
#: plan budgets: PLAN_POINTS log-spaced from the largest run's compute to PLAN_SPAN times it
PLAN_SPAN, PLAN_POINTS = 30.0, 5
#: planner bounds bracket the data: [smallest swept N or D / BELOW, largest * ABOVE]
BOUND_BELOW, BOUND_ABOVE = 100.0, 1000.0
#: a log-distance below this from a bound counts as "at the bound"
AT_BOUND_TOL = 1e-3


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

    floor = _floor(df)
    fits = {}
    with _Stage("supervised fits", notes):
        fits = _supervised_fits(runs_csv, out, notes, floor)
        if fits:
            from .plot import plot_law_surfaces
            from .runs import load_runs

            sup = load_runs(runs_csv, role=("supervised", "teacher")).df
            p = out / "plots" / "supervised_fits.png"
            plot_law_surfaces(fits, sup["N"], sup["D"], sup["loss"], path=p)
            plots["fitted supervised surfaces"] = str(p)

    holdout = None
    with _Stage("held-out prediction", notes):
        holdout = holdout_prediction(runs_csv, floor)

    dist, dist_data = None, None
    with _Stage("distillation fit", notes):
        dist, dist_data = _distill_fit(runs_csv, out, plots, floor)

    plans, setting = {}, None
    with _Stage("compute plan", notes):
        setting = plan_setting(df, n_ctx=max(int(r.config["block_size"]) for r in s.runs))
        plans = _plans(fits, dist, setting, out, plots, notes)

    doc = {
        "dir": str(out), "report": str(out / "report.md"), "sweep": s.name, "spec": str(spec_path),
        "counts": summary["counts"], "sweep_wall_s": t_sweep, "wall_s": time.time() - t0,
        "fits": {k: _fit_summary(f) for k, f in fits.items()},
        "distill": _fit_summary(dist) if dist is not None else None,
        "plans": plans, "plan_setting": setting.to_dict() if setting is not None else None,
        "plots": plots, "notes": notes,
        "entropy_floor": floor, "holdout": holdout, "distill_data": dist_data,
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


def _sup_spec(name: str, floor: float | None):
    from .fit.spec import FitSpec

    return FitSpec(law=name, fixed=(("E", floor),) if floor is not None else ())


def _supervised_fits(runs_csv: Path, out: Path, notes: list, floor: float | None) -> dict:
    from .fit import fit_law, save_fit
    from .runs import load_runs

    runs = load_runs(runs_csv, role=("supervised", "teacher"))
    fits = {}
    for name in SUPERVISED_LAWS:
        with _Stage(f"fit {name}", notes):
            fit = fit_law(_sup_spec(name, floor), runs)
            save_fit(fit, out / "fits" / f"{name}.json")
            fits[name] = fit
    return fits


def holdout_prediction(runs_csv: Path, floor: float | None, *, n_boot: int = HOLDOUT_BOOT,
                       level: float = HOLDOUT_LEVEL, seed: int = 0) -> dict:
    """Fit chinchilla (E at the floor) without the largest supervised size; predict that size's runs."""
    from .fit import bootstrap, fit_law
    from .fit.validate_distill import predictive_interval
    from .runs import load_runs

    runs = load_runs(runs_csv, role=("supervised", "teacher"))
    N = runs.column("N")
    top = float(N.max())
    train, test = runs.df[N < top].reset_index(drop=True), runs.df[N >= top].reset_index(drop=True)
    if train["N"].nunique() < 2:
        raise ValueError("too few model sizes to hold the largest out")
    fit = fit_law(_sup_spec("chinchilla", floor), train)
    fit.boot = bootstrap(fit, train, n_boot=n_boot, seed=seed)
    t_in = {"N": train["N"].to_numpy(float), "D": train["D"].to_numpy(float)}
    x_in = {"N": test["N"].to_numpy(float), "D": test["D"].to_numpy(float)}
    t_obs = train["loss"].to_numpy(float)
    lo, hi = predictive_interval(fit, x_in, (t_in, t_obs, np.asarray(fit.predict(**t_in), float)),
                                 level=level, seed=seed)
    pred = np.asarray(fit.predict(**x_in), float)
    rows = [{"N": float(n), "D": float(d), "predicted": float(p), "measured": float(o), "lo": float(a), "hi": float(b)}
            for n, d, p, o, a, b in zip(x_in["N"], x_in["D"], pred, test["loss"].to_numpy(float), lo, hi)]
    return {"N": top, "level": level, "n_train": len(train), "params": {k: float(v) for k, v in fit.params.items()},
            "rows": rows}


def _distill_fit(runs_csv: Path, out: Path, plots: dict, floor: float | None):
    from .fit import save_fit
    from .fit.distill import fit_distill, split_roles
    from .plot import plot_student_fit

    data, note = pd.read_csv(runs_csv), "the demo's runs only (no shipped study found)"
    if STUDY_DATA.is_file():
        study = pd.read_csv(STUDY_DATA)
        data = pd.concat([data, study[~study["run_id"].isin(data["run_id"])]], ignore_index=True)
        note = f"the demo's runs plus the shipped CPU distillation study ({STUDY_DATA.name}, {len(study)} runs)"
    fit = fit_distill(data, supervised_law=_sup_spec("chinchilla-gamma", floor))
    save_fit(fit, out / "fits" / "distill.json")
    _, students = split_roles(data)
    p = out / "plots" / "distill_fit.png"
    plot_student_fit(fit, students.df, path=p)
    plots["distillation law vs students"] = str(p)
    return fit, note


@dataclass(frozen=True)
class PlanSetting:
    """Where the demo plans: scales derived from the swept runs, not the paper's defaults."""

    compute: tuple  # budgets (FLOPs, `flops` convention with `preset`)
    data_compute: float  # the largest run's compute (a student's includes its teacher's logits)
    student_N: float  # the largest swept student size
    n_bounds: tuple  # supervised plan: N search range
    d_min: float  # supervised plan: fewest tokens a model may get
    bounds: tuple  # distillation plan: range of N_T, D_S, D_T
    data_N: tuple  # (min, max) swept N, teachers included
    data_D: tuple  # (min, max) swept D, teachers' D_T included
    flops: str
    preset: FlopPreset

    def to_dict(self) -> dict:
        from dataclasses import asdict

        d = {k: v for k, v in self.__dict__.items() if k != "preset"}
        return {**d, "preset": asdict(self.preset)}


def plan_setting(df: pd.DataFrame, *, n_ctx: int) -> PlanSetting:
    """Budgets, student size and bounds for planning, from the runs in a runs.csv frame.

    Compute is C = 3 F(N) D (Busbridge et al. 2025, LAWS.md §5) with F(N) for the sweep's own
    context length, vocabulary and d_model/n_layer: the paper's preset (32,168-token vocabulary)
    would make these tiny models' FLOPs almost all vocabulary (runs without d_model, n_layer and
    vocab_size columns fall back to C = 6ND). The budgets run from the largest
    run's compute to PLAN_SPAN times it; the bounds are the swept range widened by BOUND_BELOW
    below and BOUND_ABOVE above, so that an optimum on a bound means the law itself has none.
    """
    from .flops import BUSBRIDGE2025, FlopPreset, flops_per_token

    ok = df[df["status"].eq("ok")] if "status" in df else df
    ok = ok[np.isfinite(ok["N"]) & np.isfinite(ok["D"])]
    if ok.empty:
        raise ValueError("no finished run to size the plan from")
    arch = ["vocab_size", "d_model", "n_layer"]
    if set(arch) <= set(ok.columns) and ok[arch].notna().all().all():
        flops = "attention"
        preset = FlopPreset(n_ctx=int(n_ctx), n_vocab=int(ok["vocab_size"].max()),
                            rho=float(np.median(ok["d_model"] / ok["n_layer"])), omega=BUSBRIDGE2025.omega)
    else:
        flops, preset = "6nd", BUSBRIDGE2025
    N, D = ok["N"].to_numpy(float), ok["D"].to_numpy(float)
    N_T = ok["N_T"].to_numpy(float) if "N_T" in ok else np.full(len(ok), np.nan)
    D_T = ok["D_T"].to_numpy(float) if "D_T" in ok else np.full(len(ok), np.nan)
    run_C = flops_per_token(N, flops, preset) * D
    logits = np.where(np.isfinite(N_T), flops_per_token(np.nan_to_num(N_T, nan=1.0), flops, preset) / 3 * D, 0)
    c_max = float(np.max(run_C + logits))
    Ns, Ds = np.r_[N, N_T[np.isfinite(N_T)]], np.r_[D, D_T[np.isfinite(D_T)]]
    students = ok["role"].eq("student").to_numpy() if "role" in ok else np.zeros(len(ok), bool)
    return PlanSetting(
        compute=tuple(float(c) for c in np.geomspace(c_max, PLAN_SPAN * c_max, PLAN_POINTS)),
        data_compute=c_max,
        student_N=float(N[students].max() if students.any() else np.exp(np.median(np.log(N)))),
        n_bounds=(float(Ns.min() / BOUND_BELOW), float(Ns.max() * BOUND_ABOVE)),
        d_min=float(Ds.min() / BOUND_BELOW),
        bounds=(float(min(Ns.min(), Ds.min()) / BOUND_BELOW), float(max(Ns.max(), Ds.max()) * BOUND_ABOVE)),
        data_N=(float(Ns.min()), float(Ns.max())), data_D=(float(Ds.min()), float(Ds.max())),
        flops=flops, preset=preset,
    )


def at_bounds(scenario: dict, bounds) -> list[str]:
    """Names of a distillation scenario's solved quantities (N_T, D_T, D_S) that sit on a bound."""
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    out = []
    for key, name in (("teacher_N", "N_T"), ("teacher_D", "D_T"), ("student_D", "D_S")):
        v = scenario.get(key)
        if v is not None and np.isfinite(v) and v > 0 and min(np.log(v) - lo, hi - np.log(v)) < AT_BOUND_TOL:
            out.append(name)
    return out


def plan_all(fits: dict, dist, setting: PlanSetting, notes: list) -> dict:
    """Supervised plan (chinchilla fit) and distillation plan (two-stage fit) at the setting's budgets."""
    from .plan import plan_distillation, plan_supervised

    plans: dict = {}
    C = list(setting.compute)
    if "chinchilla" in fits:
        with _Stage("supervised plan", notes):
            sp = plan_supervised(fits["chinchilla"], C, flops=setting.flops, preset=setting.preset,
                                 n_bounds=setting.n_bounds, d_min=setting.d_min, strict=False)
            plans["supervised"] = [p.to_dict() for p in sp]
    if dist is not None:
        with _Stage("distil-or-train plan", notes):
            dp = plan_distillation(dist.supervised, dist, setting.student_N, C, scenarios="all",
                                   flops=setting.flops, preset=setting.preset, bounds=setting.bounds)
            plans["distill"] = [p.to_dict() for p in dp]
            for p in plans["distill"]:
                for sc in p["scenarios"]:
                    sc["at_bound"] = at_bounds(sc, setting.bounds)
    return plans


def _plans(fits: dict, dist, setting: PlanSetting, out: Path, plots: dict, notes: list) -> dict:
    plans = plan_all(fits, dist, setting, notes)
    if plans.get("distill"):
        from .plot import plot_distil_or_train

        dp = plans["distill"]
        names = [sc["scenario"] for sc in dp[0]["scenarios"]]
        scen = {n: np.array([p["scenarios"][i]["student_loss"] for p in dp]) for i, n in enumerate(names)}
        p = out / "plots" / "distil_or_train.png"
        plot_distil_or_train(np.array(setting.compute), np.array([q["supervised"]["loss"] for q in dp]), scen,
                             setting.student_N, path=p)
        plots["distil or train"] = str(p)
    (out / "fits" / "plans.json").write_text(json.dumps({**plans, "setting": setting.to_dict()}, indent=1, default=float))
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
        L.append(f"**E is fixed, not fitted:** the synthetic corpus's entropy floor (the Bayes-optimal loss at this "
                 f"block size, computed exactly by the corpus) is {floor:.4f} nats/token, and every supervised fit "
                 "below, including stage 1 of the distillation fit, holds E there; runs this far above the floor "
                 "cannot pin E down themselves.")
        L.append("")
    for name, f in doc["fits"].items():
        L.append(f"- **{name}** ({f['n_points']} runs, status {f['status']}): {_fmt_params(f['params'])}")
    if doc["distill"] is not None:
        f = doc["distill"]
        L.append(f"- **distill** (two-stage, {f['n_points']} students, status {f['status']}): {_fmt_params(f['params'])}; "
                 f"fitted on {doc['distill_data']}")
    L += _holdout_lines(doc.get("holdout"))
    if not doc["fits"] and doc["distill"] is None:
        L.append("No law could be fitted; see the notes below.")
    L += ["", "## Compute plan", ""] + _plan_lines(doc)
    L += ["", "## Plots", ""]
    for title, p in doc["plots"].items():
        L.append(f"![{title}](plots/{Path(p).name})")
    L += ["", "## Notes and warnings", ""]
    L += [f"- {n}" for n in doc["notes"]] or ["- none"]
    path.write_text("\n".join(L) + "\n")


def _holdout_lines(h: dict | None) -> list[str]:
    if not h:
        return ["", "No held-out prediction could be made; see the notes below."]
    L = ["", f"## Held-out prediction: the largest supervised size (N = {h['N']:.3g})", "",
         f"chinchilla (E fixed) fitted on the {h['n_train']} smaller supervised/teacher runs "
         f"({_fmt_params(h['params'])}), then asked for the runs it never saw; interval: "
         f"{100 * h['level']:.0f}% bootstrap predictive interval (parameter draws x residual scatter).", ""]
    for r in h["rows"]:
        inside = "inside" if r["lo"] <= r["measured"] <= r["hi"] else "**outside**"
        L.append(f"- D = {r['D']:.3g}: predicted {r['predicted']:.4f} [{r['lo']:.4f}, {r['hi']:.4f}], measured "
                 f"{r['measured']:.4f} ({100 * (r['predicted'] - r['measured']) / r['measured']:+.2f}%, {inside})")
    return L


def _plan_lines(doc: dict) -> list[str]:
    """The report's plan section: the setting, how far it extrapolates, each plan and its caveats."""
    st, plans = doc["plan_setting"], doc["plans"]
    if st is None:
        return ["No plan could be made; see the notes below."]
    C, c0 = st["compute"], st["data_compute"]
    (n0, n1), (d0, d1) = st["data_N"], st["data_D"]
    pr = st["preset"]
    conv = (f"C = 3F(N)D and F(N) for this sweep's models (context {pr['n_ctx']}, vocabulary {pr['n_vocab']}, "
            f"d_model/n_layer {pr['rho']:g})" if st["flops"] == "attention" else
            "C = 6ND (the runs do not record the architecture F(N) needs)")
    L = [f"Budgets C = {C[0]:.3g} to {C[-1]:.3g} FLOPs ({len(C)}, log-spaced): 1x to {C[-1] / c0:.0f}x the "
         f"largest run's compute ({c0:.3g} FLOPs), with {conv}. The runs span "
         f"N = {n0:.3g}-{n1:.3g} and D = {d0:.3g}-{d1:.3g} tokens; the planner searches N in "
         f"[{st['n_bounds'][0]:.3g}, {st['n_bounds'][1]:.3g}] (supervised) and N_T, D_S, D_T in "
         f"[{st['bounds'][0]:.3g}, {st['bounds'][1]:.3g}] (distillation). **Everything below is an "
         "extrapolation of laws fitted on a handful of tiny runs**; the factors say how far.", ""]
    fits, dist = doc["fits"], doc["distill"]
    if "supervised" in plans:
        f = fits["chinchilla"]
        L.append(f"Supervised, compute-optimal (chinchilla fit, status {f['status']}):")
        for p in plans["supervised"]:
            where = ("interior optimum" if p["interior"] else
                     "**no interior optimum: N* is on the search bound**, the law keeps improving toward it")
            L.append(f"- C = {p['compute']:.3g}: N* = {p['N']:.3g} ({_x(p['N'] / n1)} the largest swept N), "
                     f"D* = {p['D']:.3g} ({_x(p['D'] / d1)} the largest swept D), {p['tokens_per_param']:.0f} "
                     f"tokens/param, loss {p['loss']:.4f}; {where}")
    else:
        why = "the chinchilla fit failed" if "chinchilla" not in fits else "planning failed"
        L.append(f"No supervised plan: {why} (see the notes below).")
    L.append("")
    if "distill" in plans:
        N_S = plans["distill"][0]["student_N"]
        L.append(f"Distil or train a student of N_S = {N_S:.3g} (the largest swept student), two-stage distillation "
                 f"fit (status {dist['status']}); the supervised baseline spends all of C on the student:")
        for p in plans["distill"]:
            ok = [sc for sc in p["scenarios"] if np.isfinite(sc["student_loss"])]
            sup = p["supervised"]
            head = (f"- C = {p['compute']:.3g}: supervised {sup['loss']:.4f} on D = {sup['D']:.3g} "
                    f"({_x(sup['D'] / d1)} the largest swept D)")
            if not ok:
                L.append(head + "; no distillation scenario is feasible")
                continue
            parts = [f"{sc['scenario']} {sc['student_loss']:.4f}"
                     + (f" (N_T {sc['teacher_N']:.3g})" if sc["teacher_N"] is not None else "")
                     + (f" [at bound: {', '.join(sc['at_bound'])}]" if sc["at_bound"] else "") for sc in ok]
            wins = [sc["scenario"] for sc in ok if sc["vs_supervised"] < 0]
            loses = [sc["scenario"] for sc in ok if sc["vs_supervised"] >= 0]
            infeasible = [sc["scenario"] for sc in p["scenarios"] if sc not in ok]
            L.append(head + "; distilled " + "; ".join(parts)
                     + f" -> distil in: {', '.join(wins) or 'none'}; train supervised in: {', '.join(loses) or 'none'}"
                     + (f"; infeasible: {', '.join(infeasible)}" if infeasible else ""))
        L.append("")
        L.append("A quantity [at bound] has no interior optimum inside the search range: with teacher training "
                 "free (inference scenario) D_T at the upper bound is expected (LAWS.md §5); elsewhere it means "
                 "the fitted law does not pin the allocation down at this scale.")
    else:
        why = "the distillation fit failed" if dist is None else "planning failed"
        L.append(f"No distillation plan: {why} (see the notes below).")
    floor = doc.get("entropy_floor")
    if floor is not None:
        low = [f"{name} (E={f['params']['E']:.3g})" for name, f in fits.items() if f["params"].get("E", floor) < floor]
        losses = [p["loss"] for p in plans.get("supervised", [])] + [
            x for p in plans.get("distill", []) for x in
            [p["supervised"]["loss"]] + [sc["student_loss"] for sc in p["scenarios"]] if np.isfinite(x)]
        below = [x for x in losses if x < floor]
        if low or below:
            L += ["", f"**Warning:** no model can beat the corpus's entropy rate ({floor:.4f} nats/token), but "
                  + (f"the fitted floor of {', '.join(low)} lies below it" if low else "")
                  + (" and " if low and below else "")
                  + (f"{len(below)} of the {len(losses)} planned losses (lowest {min(below):.4f}) do" if below else "")
                  + ": the fits cannot pin down E from runs this far above it, and the plan's losses at the "
                  "largest budgets should not be trusted."]
    return L


def _x(factor: float) -> str:
    return f"{factor:.2g}x" if factor < 10 else f"{factor:.0f}x"
