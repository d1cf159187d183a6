"""Sweep specs: a TOML file -> the list of runs it asks for.

A spec names model sizes, token budgets and the three roles (supervised runs, teachers, students
distilled from chosen teachers over a D_S grid). Layout (every table but [sweep] is optional):

    [sweep]       name, description, seeds = [0]
    [train]       defaults for every run: any training-config field (lr, batch_size, corpus, ...)
    [distill]     student defaults: lambda, tau, topk
    [[supervised]] sizes | shapes, and one of tokens | tokens_per_param | flops (isoFLOP budgets)
    [teachers.NAME] size | shape, and one of tokens | tokens_per_param | flops
    [[students]]  teachers = [NAME, ...], sizes | shapes, D_S grid as tokens | tokens_per_param
    [executor]    kind, workers, and [executor.slurm] partition, gpus_per_task, gpus_per_run, time_min, ...
    [estimate]    flops_per_s: effective training throughput used for wall-time estimates

Sizes are target non-embedding parameter counts (the trainer picks the shape from its size
preset); shapes are explicit {n_layer, d_model, n_head[, d_ff]}. Each group may carry
`train = {...}` overrides and its own `seeds = [...]` (replacing [sweep] seeds for that group).
A student distils from the teacher run of its own seed where the grid has one, else from the
teacher's first seed, so extra student seeds measure the student's run-to-run noise against one
fixed teacher. isoFLOP budgets use C = 6 N D with N non-embedding (Kaplan et al. 2020;
Hoffmann et al. 2022), so D = C / (6 N) for every size.

Every mistake is a `UserError` naming the file, the line (best effort) and the key.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from . import trainer

ROLE_ORDER = {"supervised": 0, "teacher": 1, "student": 2}
SWEEP_KEYS = {"name", "description", "seeds"}
DISTILL_KEYS = {"lambda": "distill_lambda", "tau": "distill_tau", "topk": "distill_topk"}
SIZE_KEYS = {"sizes", "shapes"}
BUDGET_KEYS = ("tokens", "tokens_per_param", "flops")
SLURM_KEYS = {"partition", "gpus_per_task", "gpus_per_run", "cpus_per_task", "mem_gb", "time_min", "array_parallelism",
              "max_num_timeout", "account", "qos", "constraint"}
EXECUTOR_KEYS = {"kind", "workers", "slurm"}
ESTIMATE_KEYS = {"flops_per_s"}
TOP_KEYS = {"sweep", "train", "distill", "supervised", "teachers", "students", "executor", "estimate"}
SHAPE_KEYS = {"n_layer", "d_model", "n_head", "d_ff"}
#: config fields that do not change what a run computes, so they stay out of its id
NOT_IDENTITY = {"device", "teacher_dir", "eval_every", "ckpt_every"}


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep, fully resolved."""

    run_id: str
    role: str
    group: str  # "supervised #1", "teacher T1", "students #1"
    config: dict  # training-config fields (teacher_dir is filled in by the store)
    N: float  # non-embedding parameters
    D: float  # training tokens (D_S for students)
    teacher: str | None = None  # teacher run id for students
    estimate: dict = field(default_factory=dict)  # flops, steps, wall_s


@dataclass
class Spec:
    name: str
    path: str
    text: str
    runs: list[PlannedRun]
    executor: dict
    slurm: dict
    flops_per_s: float
    description: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def run(self, run_id: str) -> PlannedRun:
        for r in self.runs:
            if r.run_id == run_id:
                return r
        raise KeyError(run_id)


# ---------------------------------------------------------------- error locations


class _Where:
    """Builds 'file, line k' prefixes for messages about a key (best effort: first match)."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.lines = text.splitlines()

    def __call__(self, key: str | None = None, header: str | None = None) -> str:
        start = 0
        if header is not None:
            for i, line in enumerate(self.lines):
                if line.strip().startswith(header):
                    start = i
                    break
        if key is not None:
            pat = re.compile(rf"(^|[{{,\s]){re.escape(key)}\s*=")
            for i in range(start, len(self.lines)):
                if pat.search(self.lines[i]):
                    return f"{self.path}, line {i + 1}"
        elif header is not None and start:
            return f"{self.path}, line {start + 1}"
        return self.path


def _check_keys(d: dict, allowed, where: _Where, table: str, header: str | None = None) -> None:
    if not isinstance(d, dict):
        raise UserError(f"{where(header=header)}: [{table}] must be a table, got {type(d).__name__}")
    for k in d:
        if k not in allowed:
            raise UserError(
                f"{where(k, header)}: unknown key {k!r} in [{table}]; expected one of {', '.join(sorted(allowed))}"
            )


def _numbers(v, key: str, where: _Where, header: str | None, *, positive=True) -> list[float]:
    vals = v if isinstance(v, list) else [v]
    out = []
    for x in vals:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or (positive and not x > 0):
            raise UserError(f"{where(key, header)}: {key!r} must hold positive numbers, got {x!r}")
        out.append(float(x))
    if not out:
        raise UserError(f"{where(key, header)}: {key!r} is empty")
    return out


def _check_seeds(seeds, where: _Where, header: str) -> None:
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise UserError(f"{where('seeds', header)}: seeds must be a non-empty list of integers")


# ---------------------------------------------------------------- loading


def load_spec(path: str | Path) -> Spec:
    """Parse and expand a sweep spec; UserError for any mistake in it."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such sweep spec")
    text = p.read_text()
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{p}: not valid TOML ({e})") from None
    return parse_spec(doc, str(p), text)


def parse_spec(doc: dict, path: str = "<spec>", text: str = "") -> Spec:
    where = _Where(path, text)
    _check_keys(doc, TOP_KEYS, where, "top level")
    sweep = doc.get("sweep", {})
    _check_keys(sweep, SWEEP_KEYS, where, "sweep", "[sweep]")
    name = sweep.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name or ""):
        raise UserError(f"{where('name', '[sweep]')}: [sweep] needs name = \"...\" (letters, digits, _ . -)")
    seeds = sweep.get("seeds", [0])
    _check_seeds(seeds, where, "[sweep]")

    base = dict(doc.get("train", {}))
    _check_keys(base, trainer.config_fields(), where, "train", "[train]")
    distill = doc.get("distill", {})
    _check_keys(distill, set(DISTILL_KEYS), where, "distill", "[distill]")
    for k, v in distill.items():
        base[DISTILL_KEYS[k]] = v

    executor = dict(doc.get("executor", {}))
    _check_keys(executor, EXECUTOR_KEYS, where, "executor", "[executor]")
    slurm = executor.pop("slurm", {})
    _check_keys(slurm, SLURM_KEYS, where, "executor.slurm", "[executor.slurm]")
    if executor.get("kind", "local") not in ("local", "slurm"):
        raise UserError(f"{where('kind', '[executor]')}: executor kind must be 'local' or 'slurm', got {executor['kind']!r}")
    est = doc.get("estimate", {})
    _check_keys(est, ESTIMATE_KEYS, where, "estimate", "[estimate]")
    flops_per_s = float(est.get("flops_per_s", 2e9))

    ex = _Expander(where, base, seeds)
    sup = doc.get("supervised", [])
    if isinstance(sup, dict):
        sup = [sup]
    for i, g in enumerate(sup, 1):
        ex.group(g, "supervised", f"supervised #{i}", "[[supervised]]")
    teachers = doc.get("teachers", {})
    _check_keys(teachers, set(teachers), where, "teachers")
    teacher_runs: dict[str, list[PlannedRun]] = {}
    for tname, g in teachers.items():
        teacher_runs[tname] = ex.group(g, "teacher", f"teacher {tname}", f"[teachers.{tname}]", single=True)
    studs = doc.get("students", [])
    if isinstance(studs, dict):
        studs = [studs]
    for i, g in enumerate(studs, 1):
        header = "[[students]]"
        names = g.get("teachers") if isinstance(g, dict) else None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise UserError(f"{where('teachers', header)}: students #{i} needs teachers = [\"NAME\", ...]")
        for n in names:
            if n not in teacher_runs:
                known = ", ".join(sorted(teacher_runs)) or "none defined"
                raise UserError(
                    f"{where('teachers', header)}: students #{i} names teacher {n!r}, which is not in the grid "
                    f"(teachers: {known})"
                )
        g = {k: v for k, v in g.items() if k != "teachers"}
        for n in names:
            ex.group(g, "student", f"students #{i} <- {n}", header, teachers=teacher_runs[n])
    if not ex.runs:
        raise UserError(f"{path}: the spec defines no runs (add [[supervised]], [teachers.NAME] or [[students]])")
    by_id = {r.run_id: r for r in ex.runs}
    for r in ex.runs:
        tcfg = by_id[r.teacher].config if r.teacher else None
        r.estimate.update(trainer.estimate(r.config, flops_per_s, tcfg))
    return Spec(name=name, path=path, text=text, runs=ex.runs, executor=executor, slurm=slurm,
                flops_per_s=flops_per_s, description=str(sweep.get("description", "")))


def _teachers_for(teachers: list[PlannedRun] | None, seed: int) -> list:
    """The teacher run a student of `seed` distils from: the one of the same seed, else the first."""
    if not teachers:
        return [None]
    same = [t for t in teachers if t.config.get("seed") == seed]
    return same or teachers[:1]


class _Expander:
    """Turns groups (sizes x budgets x seeds) into PlannedRuns with deterministic ids."""

    def __init__(self, where: _Where, base: dict, seeds: list[int]):
        self.where, self.base, self.seeds = where, base, seeds
        self.runs: list[PlannedRun] = []
        self.ids: set[str] = set()

    def group(self, g, role, label, header, *, single=False, teachers=None) -> list[PlannedRun]:
        where = self.where
        allowed = {"train", "seeds"} | set(BUDGET_KEYS) | ({"size", "shape"} if single else SIZE_KEYS) | (
            set(DISTILL_KEYS) if role == "student" else set())
        _check_keys(g, allowed, where, label, header)
        over = dict(g.get("train", {}))
        _check_keys(over, trainer.config_fields(), where, f"{label} train", header)
        for k in DISTILL_KEYS:
            if k in g:
                over[DISTILL_KEYS[k]] = g[k]
        shapes = self._shapes(g, single, label, header)
        budgets = [k for k in BUDGET_KEYS if k in g]
        if len(budgets) != 1:
            raise UserError(f"{where(header=header)}: {label} needs exactly one of {', '.join(BUDGET_KEYS)}")
        if role == "student" and budgets[0] == "flops":
            raise UserError(f"{where('flops', header)}: {label}: students take a D_S grid (tokens or tokens_per_param)")
        bkey = budgets[0]
        values = _numbers(g[bkey], bkey, where, header)
        seeds = g.get("seeds", self.seeds)
        _check_seeds(seeds, where, header)
        out = []
        for shape in shapes:
            for v in values:
                for seed in seeds:
                    for teacher in _teachers_for(teachers, seed):
                        out.append(self._one(role, label, header, shape, bkey, v, seed, over, teacher))
        return out

    def _shapes(self, g, single, label, header) -> list[dict]:
        where = self.where
        skeys = [k for k in (("size", "shape") if single else ("sizes", "shapes")) if k in g]
        if len(skeys) != 1:
            want = "size or shape" if single else "sizes or shapes"
            raise UserError(f"{where(header=header)}: {label} needs exactly one of {want}")
        k = skeys[0]
        if k in ("size", "sizes"):
            return [{"target_params": int(n)} for n in _numbers(g[k], k, where, header)]
        shapes = [g[k]] if single else g[k]
        if not isinstance(shapes, list) or not shapes:
            raise UserError(f"{where(k, header)}: {k!r} must be a list of {{n_layer, d_model, n_head}} tables")
        for s in shapes:
            if not isinstance(s, dict):
                raise UserError(f"{where(k, header)}: {k!r} entries must be tables like {{n_layer=2, d_model=64, n_head=2}}")
            _check_keys(s, SHAPE_KEYS, where, f"{label} {k}", header)
            if not {"n_layer", "d_model", "n_head"} <= set(s):
                raise UserError(f"{where(k, header)}: {label}: a shape needs n_layer, d_model and n_head")
        return [dict(s) for s in shapes]

    def _one(self, role, label, header, shape, bkey, v, seed, over, teacher) -> PlannedRun:
        where = self.where
        cfg = {**self.base, **over, **shape, "role": role, "seed": seed}
        if teacher is not None:
            cfg["teacher_dir"] = f"@{teacher.run_id}"  # placeholder; the store fills in the real path
        cfg = trainer.resolve(cfg, f"{where(header=header)}: {label}")
        N = trainer.nonembedding_params(cfg)
        if bkey == "tokens":
            D = v
        elif bkey == "tokens_per_param":
            D = v * N
        else:  # isoFLOP: C = 6 N D
            D = v / (6.0 * N)
        batch = trainer.tokens_per_step(cfg)
        if D < batch:
            raise UserError(
                f"{where(bkey, header)}: {label}: {bkey} = {v:g} gives D = {D:.4g} tokens at N = {N:.4g}, "
                f"fewer than one batch ({batch} tokens = batch_size x block_size x grad_accum)"
            )
        cfg["tokens"] = int(D)
        rid = run_id(cfg, teacher.run_id if teacher else None, N)
        if rid in self.ids:
            raise UserError(f"{where(header=header)}: {label}: duplicate run (N={N:.4g}, D={D:.4g}, seed={seed}) "
                            "already defined elsewhere in the spec")
        self.ids.add(rid)
        run = PlannedRun(run_id=rid, role=role, group=label, config=cfg, N=float(N), D=float(int(D)),
                         teacher=teacher.run_id if teacher else None)
        self.runs.append(run)
        return run


def run_id(cfg: dict, teacher_id: str | None, N: float) -> str:
    """Deterministic id from the resolved config: readable prefix + hash of what the run computes."""
    ident = {k: v for k, v in cfg.items() if k not in NOT_IDENTITY}
    ident["teacher_run_id"] = teacher_id
    h = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:10]
    short = {"supervised": "sup", "teacher": "tea", "student": "stu"}[cfg["role"]]
    return f"{short}-N{N:.2g}-D{cfg['tokens']:.2g}-s{cfg['seed']}-{h}".replace("+", "")


def spec_json(spec: Spec) -> dict:
    """The plan as one JSON document (for `sweep plan --json`)."""
    runs = [
        {"run_id": r.run_id, "role": r.role, "group": r.group, "N": r.N, "D": r.D, "teacher": r.teacher,
         **r.estimate}
        for r in spec.runs
    ]
    return {
        "name": spec.name,
        "spec": spec.path,
        "n_runs": len(runs),
        "total_flops": sum(r["flops"] for r in runs),
        "total_wall_s": sum(r["wall_s"] for r in runs),
        "flops_per_s": spec.flops_per_s,
        "runs": runs,
    }
