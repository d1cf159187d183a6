"""The `scalelaw` command line: a thin typer app.

Each command parses its options, calls one library function and prints. Heavy imports (JAX,
torch, pandas) happen inside the commands, so `scalelaw --help` and `scalelaw plan --help` are
instant. A `UserError` anywhere becomes one line on stderr and exit code 2; warnings are printed
as `warning: ...` lines on stderr; `--json` output goes to stdout as exactly one document.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Optional

import typer

from .paths import runs_file

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Scaling-law laboratory: sweep -> runs.csv -> fit -> plan.",
)


def err(msg: str) -> None:
    print(msg, file=sys.stderr)


def emit_json(doc) -> None:
    """Print exactly one JSON document on stdout."""
    print(json.dumps(doc, indent=2, default=_json_default))


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def main() -> None:
    """Run the app, mapping user errors to one line and exit code 2 (ends in SystemExit, so it can
    be called in-process; the `scalelaw` program is `entry`)."""
    from .errors import UserError

    warnings.showwarning = _show_warning
    try:
        app()  # standalone: click handles usage errors itself (exit 2)
    except UserError as e:
        err(f"scalelaw: error: {e}")
        sys.exit(2)
    except KeyboardInterrupt:
        err("scalelaw: interrupted")
        sys.exit(130)


def entry() -> None:
    """The `scalelaw` program: `main`, then `quick_exit` with its exit code."""
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code
    quick_exit(code)


def quick_exit(code) -> None:
    """Leave the process as `sys.exit(code)` would, without tearing the interpreter down.

    After a command has done its work, the interpreter's teardown (freeing every module of JAX,
    pandas and scipy, then XLA's client) takes ~0.2 s, a tenth of a whole `scalelaw fit`. What a
    normal exit does that anyone could observe happens first: the threading shutdown (it waits
    for the background compilations, so their cache files are written whole), the atexit handlers
    (logging's flush among them) and flushing stdout and stderr; then the process ends. Where the
    threading shutdown is not available (another Python), or a profiler, debugger or coverage
    tool is attached (they write their results at the normal exit), this is plain `sys.exit`.
    """
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is None or threading.current_thread() is not threading.main_thread() or _observed():
        sys.exit(code)
    if code is not None and not isinstance(code, int):  # sys.exit("message"): printed, status 1
        err(str(code))
        code = 1
    shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`) or stream: nothing more to write
            pass
    os._exit(code or 0)


def _observed() -> bool:
    """Whether a profiler, tracer or monitoring tool (coverage on Python 3.12+) watches this process."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)
    return monitoring is not None and any(monitoring.get_tool(i) is not None for i in range(6))


@app.callback()
def _root() -> None:
    """Scaling-law laboratory: sweep -> runs.csv -> fit -> plan."""


# ============================================================ fit / predict (issue 2)


# how to read a run file not in our schema: defined once, taken by every command that reads runs
_COLUMNS_OPT = typer.Option(None, "--columns", help="map our columns to yours, e.g. N=params,D=tokens,loss=val/loss,"
                            "run_id=Name,status=State (W&B states: finished = ok; crashed, failed, killed, running "
                            "are excluded with a warning)")
_COLUMNS_FILE_OPT = typer.Option(None, "--columns-file", help="TOML file with a columns table (ours = \"theirs\") "
                                 "and optional loss_unit, N_kind keys; --columns entries win")
_LOSS_UNIT_OPT = typer.Option(None, "--loss-unit", help="unit of the file's loss: nats (default) or bits "
                              "(converted to nats on load)")
_N_KIND_OPT = typer.Option(None, "--N-kind", help="what N counts (non-embedding, embedding, total) when the file "
                           "has no N_kind column")


# a fit's choices (FitSpec): defined once, taken by fit and validate
_OBJECTIVE_OPT = typer.Option("huber-log", "--objective",
                              help="huber-log (Huber of log residuals), mse-log (squared log residuals) or mse (squared loss residuals)")
_PENALTY_OPT = typer.Option(1.0, "--overestimate-penalty", metavar="K",
                            help="multiply the loss of runs the law over-predicts by K >= 1 (OLMo-core's overestimate_penalty)")
_FIX_OPT = typer.Option(None, "--fix", help="hold parameters fixed, in the paper's names, e.g. E=1.69,alpha=0.3")
_BOUND_OPT = typer.Option(None, "--bound", help="narrow parameters' ranges, e.g. alpha=0.1:1.0,beta=0.2:0.8")
_WEIGHTS_OPT = typer.Option(None, "--weights",
                            help="per-run weights (normalised to mean 1): a column of the runs, sqrt-compute (sqrt 6ND) or compute (6ND)")


def _run_format(columns, columns_file, loss_unit, n_kind):
    from .runs import RunFormat

    return RunFormat.from_options(columns=columns, columns_file=columns_file, loss_unit=loss_unit, n_kind=n_kind)


@app.command("fit")
def fit_cmd(
    csv: Path = typer.Argument(..., help="run records (CSV, TSV, Parquet or JSON Lines) with columns "
                                          "N, D, loss, or mapped with --columns"),
    law: str = typer.Option("chinchilla", "--law", help="law name: auto (chosen by rolling-origin backtests on these runs "
                            "among chinchilla, chinchilla with over-estimate penalty 2, chinchilla-gamma, farseer "
                            "piecewise; implies --calibrate 3), chinchilla, chinchilla-gamma, farseer, distill, "
                            "or isoflop (Chinchilla Approach 2: a parabola in log N per compute budget, from a "
                            "'budget' column or clusters of 6ND; power laws N* = k C^a, D* = k_D C^b through the "
                            "minima; --bootstrap resamples runs within budgets; also reports Approach 3's a, b)"),
    where: Optional[str] = typer.Option(None, "--where", help="pandas query to select rows, e.g. \"N < 5e8\""),
    bootstrap: int = typer.Option(0, "--bootstrap", help="number of bootstrap resamples for CIs (0 = none)"),
    seed: int = typer.Option(0, "--seed", help="seed for start selection and the bootstrap"),
    delta: Optional[float] = typer.Option(None, "--delta", help="Huber delta on log residuals (default: the law's)"),
    starts: int = typer.Option(256, "--starts", help="number of multi-start initial points"),
    compute: Optional[float] = typer.Option(None, "--compute", help="also report N*, D* (with CIs) at this C = 6ND"),
    level: float = typer.Option(0.9, "--level", help="confidence level of the intervals"),
    supervised_law: str = typer.Option("chinchilla-gamma", "--supervised-law", help="distill only: the supervised law for Ltilde_S"),
    method: str = typer.Option("piecewise", "--method", help="farseer only: piecewise (the authors') or end-to-end"),
    objective: str = _OBJECTIVE_OPT,
    overestimate_penalty: float = _PENALTY_OPT,
    fix: Optional[str] = _FIX_OPT,
    bound: Optional[str] = _BOUND_OPT,
    weights: Optional[str] = _WEIGHTS_OPT,
    calibrate: int = typer.Option(0, "--calibrate", metavar="K", help="backtest over K rolling origins and store an "
                                  "interval calibration (extrapolation error growth) that predict/plan use"),
    exclude_outliers: bool = typer.Option(False, "--exclude-outliers", help="refit without runs whose residual is > 4 "
                                          "robust sigmas (they are listed in settings.outliers either way)"),
    out: Optional[Path] = typer.Option(None, "--out", help="write the fit (reloadable by predict/plan) to this JSON file"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="write a diagnostic figure (PNG)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
    columns: Optional[str] = _COLUMNS_OPT,
    columns_file: Optional[Path] = _COLUMNS_FILE_OPT,
    loss_unit: Optional[str] = _LOSS_UNIT_OPT,
    n_kind: Optional[str] = _N_KIND_OPT,
) -> None:
    """Fit a scaling law to run records."""
    runs_file(csv)  # before the heavy imports: a wrong path is one line at once
    from rich.console import Console

    from .fit.run import run_fit

    fmt = _run_format(columns, columns_file, loss_unit, n_kind)
    what = f"fitting {law} to {csv}" + (f" + {bootstrap} bootstrap refits" if bootstrap else "")
    with Console(stderr=True).status(what + " ..."):
        doc, fit = run_fit(csv, law=law, where=where, n_boot=bootstrap, seed=seed, delta=delta, n_starts=starts,
                           compute=compute, level=level, supervised_law=supervised_law, method=method,
                           objective=objective, overestimate_penalty=overestimate_penalty, fix=fix, bound=bound,
                           weights=weights, calibrate=calibrate, fmt=fmt,
                           exclude_outliers=exclude_outliers)
    if out is not None:
        from .fit import save_fit

        save_fit(fit, out, level)
        doc["saved_to"] = str(out)
    if plot is not None:
        from .plot import plot_fit

        plot_fit(fit, csv, where, plot, fmt=fmt, level=level)
    if as_json:
        emit_json(doc)
    else:
        _print_fit_table(doc)


def _print_fit_table(doc: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(stderr=True)
    t = Table(title=f"{doc['law']} fit on {doc['n_points']} runs — status {doc['status']}")
    t.add_column("parameter")
    t.add_column("value", justify="right")
    if "ci" in doc:
        t.add_column(f"{int(doc['ci_level'] * 100)}% CI", justify="right")
    for k, v in doc["params"].items():
        row = [k, f"{v:.6g}"]
        if "ci" in doc:
            lo, hi = doc["ci"][k]
            row.append(f"[{lo:.5g}, {hi:.5g}]")
        t.add_row(*row)
    con.print(t)
    con.print(f"objective {doc['objective']:.10g}; {doc.get('n_best', '?')} of {doc.get('n_starts', '?')} starts reached it")
    for k, v in doc.get("derived", {}).items():
        ci = doc.get("derived_ci", {}).get(k)
        con.print(f"  {k} = {v:.6g}" + (f"  [{ci[0]:.5g}, {ci[1]:.5g}]" if ci else ""))
    if doc.get("supervised"):
        con.print(f"supervised sub-fit ({doc['supervised']['law']}): {doc['supervised']['params']}")
    for o in doc.get("settings", {}).get("outliers", []):
        con.print(f"outlier: N={o['N']:.4g} D={o['D']:.4g} loss={o['loss']:.5g} (log residual {o['log_residual']:+.4f})"
                  + (" — excluded" if doc["settings"].get("excluded_outliers") else ""))
    if doc.get("saved_to"):
        con.print(f"saved to {doc['saved_to']}")


@app.command("predict")
def predict_cmd(
    fit_file: str = typer.Argument(..., help="a fit JSON file or a built-in set: epoch-chinchilla, busbridge2025"),
    N: float = typer.Option(..., "--N", help="model parameters (of the fit's N kind)"),
    D: float = typer.Option(..., "--D", help="training (or distillation) tokens"),
    teacher_loss: Optional[float] = typer.Option(None, "--teacher-loss", help="distill fits: the teacher's loss L_T"),
    level: float = typer.Option(0.9, "--level", help="interval level when the fit carries bootstrap draws"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
) -> None:
    """Predict the loss of a run (or a distilled student) from a fit."""
    from .fit.run import run_predict

    doc = run_predict(fit_file, N=N, D=D, teacher_loss=teacher_loss, level=level)
    if as_json:
        emit_json(doc)
    else:
        kind = "calibrated interval" if doc.get("interval_kind") == "calibrated" else "interval over bootstrap draws"
        extra = f"  ({int(level * 100)}% {kind} [{doc['interval'][0]:.5g}, {doc['interval'][1]:.5g}])" if "interval" in doc else ""
        print(f"{doc['law']}: L(N={N:.4g}, D={D:.4g}) = {doc['loss']:.6g}{extra}")


# ============================================================ validate (issue 3)


@app.command("validate")
def validate_cmd(
    csv: Path = typer.Argument(..., help="run records (CSV, TSV, Parquet or JSON Lines) with columns "
                                          "N, D, loss, or mapped with --columns"),
    laws: str = typer.Option("chinchilla,chinchilla-gamma,farseer", "--laws", help="comma-separated law names"),
    where: Optional[str] = typer.Option(None, "--where", help="row filter (pandas query), e.g. \"dataset == 'c4_original'\""),
    holdout_largest: Optional[int] = typer.Option(None, "--holdout-largest", help="hold out the K largest model sizes (default 1)"),
    holdout: Optional[str] = typer.Option(None, "--holdout", help="row filter selecting the held-out runs, e.g. \"N > 1e9\""),
    rollout_k: Optional[int] = typer.Option(None, "--rollout", help="hold out the largest size, then the 2 largest, ... up to K"),
    method: str = typer.Option("piecewise", "--method", help="farseer fit: piecewise (the authors' procedure) | end-to-end"),
    n_starts: Optional[int] = typer.Option(None, "--n-starts", help="multi-start count for end-to-end fits (default: the fitter's)"),
    n_boot: int = typer.Option(100, "--bootstrap", help="bootstrap resamples for each law's in-range interval (0 = residual scatter only)"),
    calibrate: int = typer.Option(3, "--calibrate", help="rolling-origin backtests on the training runs that calibrate the intervals (0 = bootstrap only)"),
    level: float = typer.Option(0.9, "--level", help="prediction interval level for heldout_coverage"),
    recommend: bool = typer.Option(False, "--recommend", help="also choose a fit by nested backtests on the training runs and score it"),
    exclude_outliers: bool = typer.Option(False, "--exclude-outliers", help="refit without training runs whose residual is > 4 robust sigmas"),
    objective: str = _OBJECTIVE_OPT,
    overestimate_penalty: float = _PENALTY_OPT,
    fix: Optional[str] = _FIX_OPT,
    bound: Optional[str] = _BOUND_OPT,
    weights: Optional[str] = _WEIGHTS_OPT,
    json_out: bool = typer.Option(False, "--json", help="print the results as one JSON document"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="write a relative-error figure (PNG/PDF)"),
    columns: Optional[str] = _COLUMNS_OPT,
    columns_file: Optional[Path] = _COLUMNS_FILE_OPT,
    loss_unit: Optional[str] = _LOSS_UNIT_OPT,
    n_kind: Optional[str] = _N_KIND_OPT,
) -> None:
    """Fit laws on the smaller models and report relative errors on the held-out larger ones."""
    runs_file(csv)  # before the heavy imports: a wrong path is one line at once
    from .errors import UserError
    from .fit.validate import rollout, table, validate_laws
    from .runs import load_runs

    from ._jax import enable_compile_cache

    enable_compile_cache()
    fmt = _run_format(columns, columns_file, loss_unit, n_kind)
    names = [s.strip() for s in laws.split(",") if s.strip()]
    if "distill" in names:
        if names != ["distill"] or rollout_k is not None:
            raise UserError("--laws distill validates the distillation law alone, with --holdout or --holdout-largest "
                            "(no --rollout)")
        from .fit.validate_distill import table as distill_table, validate_distill

        from .fit.run import stage1_spec

        sup_spec = stage1_spec("chinchilla-gamma", objective=objective, overestimate_penalty=overestimate_penalty,
                               fix=fix, bound=bound, weights=weights)
        doc = validate_distill(csv, holdout=holdout, holdout_largest=holdout_largest, where=where,
                               supervised_law=sup_spec, n_boot=n_boot, level=level, fmt=fmt)
        err(distill_table(doc))
        if json_out:
            emit_json({"source": str(csv), "where": where, "results": [doc]})
        return
    runs = load_runs(csv, where=where, fmt=fmt)
    from .fit.spec import FitSpec

    # the fitting options apply to every law validated (fixed/bounded names must exist in each)
    options = FitSpec.from_options(names[0], method=method, objective=objective, overestimate_penalty=overestimate_penalty,
                                   fix=fix, bound=bound, weights=weights)
    kw = dict(method=method, n_starts=n_starts, progress=err, n_boot=n_boot, calibrate=calibrate, level=level,
              exclude_outliers=exclude_outliers, options=options)
    if rollout_k is not None:
        if holdout_largest is not None or holdout is not None:
            raise UserError("--rollout chooses its own hold-outs; drop --holdout-largest/--holdout")
        results = rollout(runs, names, rollout_k, **kw)
    else:
        results = validate_laws(runs, names, holdout_largest=holdout_largest, holdout=holdout, recommend=recommend,
                                **kw)
    rec = next((r for r in results if r.why is not None), None)
    results = [r for r in results if r.why is None]
    err(table(results))
    for r in results:
        for o in r.outliers:
            err(f"outlier ({r.law}): N={o['N']:.4g} D={o['D']:.4g} loss={o['loss']:.5g} residual "
                f"{o['robust_sigmas']:.1f} robust sigmas" + (" (excluded)" if r.excluded_outliers else ""))
        if r.calibration and r.calibration.get("note"):
            err(f"{r.law}: {r.calibration['note']}")
    if rec is not None:
        err(f"recommended: {rec.law} ({rec.method}): held-out mean {100 * rec.heldout_mean_rel_err:.3f}%, "
            f"coverage {100 * rec.heldout_coverage:.0f}% at {rec.interval_level:g}; {rec.why}")
    if plot is not None:
        from .plot import plot_validation

        plot_validation(results, plot)
        err(f"wrote {plot}")
    if json_out:
        doc = {"source": str(csv), "where": where, "results": [r.to_dict() for r in results]}
        if rec is not None:
            doc["recommended"] = rec.to_dict()
        emit_json(doc)


# ============================================================ synth (issue 4)

synth_app = typer.Typer(no_args_is_help=True, help="Synthetic run generators (documented as synthetic).")
app.add_typer(synth_app, name="synth")


@synth_app.command("distill")
def synth_distill_cmd(
    out: Path = typer.Option(..., "--out", help="CSV file to write the runs to"),
    noise: float = typer.Option(0.005, "--noise", help="multiplicative noise: loss * exp(noise * z), z ~ N(0,1)"),
    seed: int = typer.Option(0, "--seed", help="random seed"),
    params: Optional[str] = typer.Option(
        None, "--params", help="distill fit file or built-in name to draw from (default: Table 6 of Busbridge et al.)"
    ),
    json_out: bool = typer.Option(False, "--json", help="print a JSON summary on stdout"),
) -> None:
    """Teacher, supervised and student runs on the three designs of Busbridge et al. 2025."""
    from .errors import UserError
    from .runs import write_runs
    from .synth import params_from_fit, synth_distill

    if not (noise >= 0 and noise < 1):
        raise UserError(f"--noise {noise!r}: expected a number in [0, 1)")
    kw = {}
    if params:
        kw["supervised"], kw["distill"] = params_from_fit(params)
    if out.parent and not out.parent.exists():
        raise UserError(f"--out {out}: directory {out.parent} does not exist")
    df = synth_distill(noise=noise, seed=seed, **kw)
    write_runs(df, out)
    counts = df["role"].value_counts().to_dict()
    summary = {"out": str(out), "runs": len(df), "roles": counts, "noise": noise, "seed": seed,
               "params": params or "busbridge2025 Table 6"}
    if json_out:
        emit_json(summary)
    else:
        err(f"wrote {len(df)} synthetic runs to {out}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))


# ============================================================ plan (issue 5)

plan_app = typer.Typer(help="Compute planning: compute-optimal N and D; distillation budget splits.")
app.add_typer(plan_app, name="plan")

_FIT_HELP = "a fit JSON file or a built-in set (epoch-chinchilla, busbridge2025)"
_BOUNDS_HELP = "LO,HI: search range for N_T, D_S, D_T (default 1e6,1e17; lower it for laws fitted on small models)"


@plan_app.callback(invoke_without_command=True)
def plan_cmd(
    ctx: typer.Context,
    fit: Optional[str] = typer.Option(None, "--fit", help=_FIT_HELP + "; a supervised law"),
    compute: Optional[float] = typer.Option(None, "--compute", help="training budget C in FLOPs"),
    flops: str = typer.Option("6nd", "--flops", help="FLOP convention: 6nd (C = 6ND) or attention (C = 3F(N)D)"),
    level: float = typer.Option(0.9, "--level", help="interval level over the fit's bootstrap draws"),
    n_min: float = typer.Option(1e6, "--n-min", help="smallest model size considered"),
    n_max: float = typer.Option(1e17, "--n-max", help="largest model size considered"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
) -> None:
    """Compute-optimal supervised training: N*(C), D*(C), tokens/param and loss (or a subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    from .errors import UserError

    if fit is None or compute is None:
        raise UserError("scalelaw plan needs --fit and --compute (or a subcommand: distill, frontier)")
    from .plan.report import print_supervised, supervised_doc

    doc = supervised_doc(fit, compute, flops=flops, level=level, n_min=n_min, n_max=n_max)
    emit_json(doc) if as_json else print_supervised(doc)


@plan_app.command("distill")
def plan_distill_cmd(
    fit: str = typer.Option(..., "--fit", help=_FIT_HELP + "; a distillation fit"),
    student: float = typer.Option(..., "--student", help="student size N_S (non-embedding parameters)"),
    compute: float = typer.Option(..., "--compute", help="total budget C in FLOPs (student + teacher as the scenario says)"),
    scenario: str = typer.Option("all", "--scenario", help="all | best | inference | pretraining | pretraining+inference"),
    teacher_N: Optional[float] = typer.Option(None, "--teacher-N", help="an existing teacher's size"),
    teacher_loss: Optional[float] = typer.Option(None, "--teacher-loss", help="the existing teacher's loss L_T"),
    teacher_D: Optional[float] = typer.Option(None, "--teacher-D", help="or its training tokens (L_T from the supervised law)"),
    flops: str = typer.Option("attention", "--flops", help="FLOP convention: attention (F(N), the paper's) or 6nd"),
    draws: int = typer.Option(0, "--draws", help="parameter draws for P(distillation wins) (0 = point plan only)"),
    crossover: bool = typer.Option(False, "--crossover", help="with --draws: also the crossover-budget range"),
    seed: int = typer.Option(0, "--seed", help="seed for the parameter draws"),
    bounds: Optional[str] = typer.Option(None, "--bounds", help=_BOUNDS_HELP),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
) -> None:
    """Distil or train a student of size N_S on budget C: the four scenarios of Busbridge et al. 2025."""
    from .plan.report import distill_doc, parse_bounds, print_distill

    doc = distill_doc(fit, student, compute, scenario=scenario, flops=flops, teacher_N=teacher_N,
                      teacher_loss=teacher_loss, teacher_D=teacher_D, draws=draws, crossover=crossover, seed=seed,
                      bounds=parse_bounds(bounds))
    emit_json(doc) if as_json else print_distill(doc)


@plan_app.command("frontier")
def plan_frontier_cmd(
    fit: str = typer.Option(..., "--fit", help=_FIT_HELP),
    compute_min: float = typer.Option(1e20, "--compute-min", help="smallest budget (FLOPs)"),
    compute_max: float = typer.Option(1e26, "--compute-max", help="largest budget (FLOPs)"),
    points: int = typer.Option(13, "--points", help="budgets, log-spaced"),
    student: Optional[float] = typer.Option(None, "--student", help="distillation fits: the student size N_S"),
    scenario: str = typer.Option("all", "--scenario", help="distillation: all or one scenario"),
    flops: Optional[str] = typer.Option(None, "--flops", help="6nd or attention (default: 6nd supervised, attention distillation)"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="write the frontier figure (PNG)"),
    bounds: Optional[str] = typer.Option(None, "--bounds", help=_BOUNDS_HELP + "; supervised fits: N in [LO, HI], D >= LO"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
) -> None:
    """Plans over a range of budgets (supervised N*, D*, L; or distillation fractions and L_S per scenario)."""
    from .plan.report import frontier_doc, parse_bounds, print_frontier

    doc = frontier_doc(fit, compute_min, compute_max, points, student=student, scenario=scenario, flops=flops,
                       bounds=parse_bounds(bounds))
    if plot is not None:
        from .plot import plot_plan_frontier

        plot_plan_frontier(doc, plot)
        doc["plot"] = str(plot)
    emit_json(doc) if as_json else print_frontier(doc)

# ============================================================ train (issue 6)


@app.command("train")
def train_cmd(
    config: Path = typer.Argument(..., help="flat TOML file of TrainConfig keys"),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="continue from checkpoint.pt if present"),
    out: Optional[Path] = typer.Option(None, "--out", help="run directory (default: runs/<config stem>)"),
    json_out: bool = typer.Option(False, "--json", help="print the run record as JSON on stdout"),
) -> None:
    """Train one run (supervised, teacher or student); writes record.json, metrics, checkpoint."""
    from .train.config import TrainConfig

    cfg = TrainConfig.from_toml(config)
    from .train.run import train  # torch is imported only here

    run_dir = out if out is not None else Path("runs") / config.stem
    record = train(cfg, run_dir, resume=resume, progress=True)
    if json_out:
        emit_json(record)
    else:
        loss = record.get("loss")
        err(f"{record['run_id']}: status {record['status']}, val loss "
            f"{'n/a' if loss is None else f'{loss:.4f}'} -> {run_dir / 'record.json'}")

# ============================================================ sweep / demo (issue 7)

sweep_app = typer.Typer(no_args_is_help=True, help="Teacher/student sweeps: plan, run (local or SLURM), status.")
app.add_typer(sweep_app, name="sweep")


@sweep_app.command("plan")
def sweep_plan(
    spec: Path = typer.Argument(..., help="sweep spec (TOML), e.g. sweeps/tiny-cpu.toml"),
    json_out: bool = typer.Option(False, "--json", help="print the plan as one JSON document"),
) -> None:
    """List every run of a sweep with its FLOPs and estimated wall time, and the total."""
    from .sweep import load_spec, spec_json
    from .sweep.report import print_plan

    doc = spec_json(load_spec(spec))
    if json_out:
        emit_json(doc)
    else:
        print_plan(doc)


@sweep_app.command("run")
def sweep_run(
    spec: Path = typer.Argument(..., help="sweep spec (TOML)"),
    out: Path = typer.Option(..., "--out", help="result directory (created; re-running resumes it)"),
    executor: Optional[str] = typer.Option(None, "--executor", help="local | slurm (default: the spec's, else local)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="local: runs at a time (default: spec, else one per GPU, else 1)"),
    partition: Optional[str] = typer.Option(None, "--partition", help="slurm partition"),
    gpus: Optional[int] = typer.Option(None, "--gpus", help="slurm: GPUs per task"),
    time_min: Optional[int] = typer.Option(None, "--time", help="slurm: minutes per task before requeue"),
    array_parallelism: Optional[int] = typer.Option(None, "--array-parallelism", help="slurm: tasks running at once"),
    json_out: bool = typer.Option(False, "--json", help="print the outcome as one JSON document"),
) -> None:
    """Run (or resume) a sweep into --out: students after their teachers; finished runs are skipped."""
    from .errors import UserError
    from .sweep import load_spec, run_local, run_slurm

    s = load_spec(spec)
    kind = executor or s.executor.get("kind", "local")
    if kind == "local":
        if workers is not None and workers < 1:
            raise UserError(f"--workers must be >= 1, got {workers}")
        doc = run_local(s, out, workers=workers)
        err(f"sweep {s.name}: " + ", ".join(f"{k} {v}" for k, v in doc["counts"].items() if v) + f"; results in {out}/runs.csv")
    elif kind == "slurm":
        sub = run_slurm(s, out, overrides={"partition": partition, "gpus_per_task": gpus, "time_min": time_min,
                                            "array_parallelism": array_parallelism})
        doc = {k: v for k, v in sub.items() if k != "jobs"}
        err(f"submitted {len(sub['runs_first'])} supervised/teacher and {len(sub['runs_students'])} student runs; "
            f"watch with: scalelaw sweep status {out}")
    else:
        raise UserError(f"--executor must be local or slurm, got {kind!r}")
    if json_out:
        emit_json(doc)


@sweep_app.command("status")
def sweep_status(
    out: Path = typer.Argument(..., help="result directory of a sweep"),
    json_out: bool = typer.Option(False, "--json", help="print the status as one JSON document"),
) -> None:
    """Show done / running / failed / diverged / pending runs of a sweep directory (and, for a sweep
    submitted to SLURM, each run's job: pending / running / requeued / failed, from squeue and sacct)."""
    from .sweep import Store
    from .sweep.report import print_status
    from .sweep.slurm import with_cluster_view

    doc = with_cluster_view(Store(out).summary(), out)
    if json_out:
        emit_json(doc)
    else:
        print_status(doc)


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("scalelaw-demo"), "--out", help="directory for the runs, report.md and plots"),
    spec: Optional[Path] = typer.Option(None, "--spec", help="sweep spec (default: the embedded sweeps/tiny-cpu.toml)"),
    json_out: bool = typer.Option(False, "--json", help="print a summary as one JSON document"),
) -> None:
    """Run the tiny CPU sweep (or reuse it), fit supervised and distillation laws, plan, write a report."""
    from .demo import run_demo

    doc = run_demo(out, spec=spec)
    err(f"report: {doc['report']}")
    if json_out:
        emit_json(doc)


if __name__ == "__main__":
    entry()
