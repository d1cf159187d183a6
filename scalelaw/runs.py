"""The run record: the one definition of what a logged training run looks like.

Sweeps write it, fits read it, public data is converted to it. A run record is a row of a CSV
(or Parquet) file; the columns are listed in `COLUMNS` with their meaning. Only `N`, `D` and
`loss` are needed to fit a supervised law; everything else is optional but, where present,
is checked.

Loading validates precisely: every problem a user can cause is a `UserError` naming the file,
the line (as a text editor numbers it: the header is line 1) and the column. Rows that cannot
be fitted but are legitimate records (NaN loss, status `diverged`/`failed`) are excluded with a
warning, never silently.
"""

from __future__ import annotations

import hashlib
import math
import os
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ScalelawWarning, UserError
from .paths import runs_file

#: column -> meaning. Units travel with the data: N_kind and loss_kind say what N and loss are.
COLUMNS: dict[str, str] = {
    "run_id": "unique id of the run (deterministic from its config for our sweeps)",
    "role": "supervised | teacher | student",
    "N": "model parameters, of the kind named in N_kind",
    "N_kind": "which parameters N counts: non-embedding | embedding | total | free text for public data",
    "D": "training tokens (for students: distillation tokens D_S)",
    "loss": "validation cross-entropy",
    "loss_kind": "what loss is, e.g. 'val CE (nats/token)'",
    "teacher_run_id": "students: run_id of the teacher",
    "N_T": "students: teacher parameters (same kind as N)",
    "D_T": "students: teacher training tokens",
    "L_T": "students: teacher validation loss",
    "params_nonembedding": "non-embedding parameters",
    "params_embedding": "embedding parameters (input + untied output)",
    "params_total": "all parameters",
    "flops_6nd": "6 N D with N non-embedding",
    "flops_exact": "counted training FLOPs incl. attention (and teacher forwards for students)",
    "tokens_per_s": "training throughput",
    "mfu": "model FLOPs utilisation (empty on CPU)",
    "device": "device the run trained on",
    "seed": "random seed",
    "status": "ok | diverged | failed",
    "wall_s": "wall-clock seconds of training",
    "git_sha": "commit of the code that trained it",
}
ROLES = ("supervised", "teacher", "student")
STATUSES = ("ok", "diverged", "failed")
N_KINDS = ("non-embedding", "embedding", "total")
#: columns that must hold positive finite numbers where they are used
POSITIVE = ("N", "D", "N_T", "D_T", "L_T")
#: internal column: the file line a row came from (header = line 1)
LINE = "_line"
#: internal column: a tracker's own run state, kept to say why a run was excluded
STATE = "_state"
LOSS_UNITS = ("nats", "bits")
#: Weights & Biases run states -> our status. Only finished runs are data; a crashed, failed,
#: killed or still-running run is a record that is excluded (with a warning), like a diverged one.
WANDB_STATES = {"finished": "ok", "crashed": "failed", "failed": "failed", "killed": "failed",
                "running": "failed", "preempted": "failed"}


@dataclass(frozen=True)
class RunFormat:
    """How to read a user's run file: which of their columns is which of ours, and in what unit.

    `columns` pairs (our name, their column), e.g. (("N", "params"), ("loss", "val/loss")).
    `loss_unit` is the unit of their loss (and teacher loss) column: bits are converted to nats
    on load (x ln 2). `n_kind` declares what N counts for files without an N_kind column.
    """

    columns: tuple[tuple[str, str], ...] = ()
    loss_unit: str = "nats"
    n_kind: str | None = None
    origin: str = "--columns"

    def __post_init__(self):
        if self.loss_unit not in LOSS_UNITS:
            raise UserError(f"--loss-unit must be one of {', '.join(LOSS_UNITS)}, got {self.loss_unit!r}")
        seen: dict[str, str] = {}
        for ours, theirs in self.columns:
            if ours not in COLUMNS:
                raise UserError(f"{self.origin}: unknown column name {ours!r} in {ours}={theirs} "
                                f"(ours are {', '.join(c for c in COLUMNS)})")
            if ours in seen:
                raise UserError(f"{self.origin}: {ours!r} is mapped twice ({seen[ours]!r} and {theirs!r})")
            seen[ours] = theirs
        by_theirs: dict[str, str] = {}
        for ours, theirs in self.columns:
            if theirs in by_theirs:
                raise UserError(f"{self.origin}: column {theirs!r} is mapped twice "
                                f"(to {by_theirs[theirs]} and {ours})")
            by_theirs[theirs] = ours

    @property
    def mapping(self) -> dict[str, str]:
        """our name -> their column"""
        return dict(self.columns)

    @property
    def is_default(self) -> bool:
        return not self.columns and self.loss_unit == "nats" and self.n_kind is None

    def to_dict(self) -> dict:
        return {"columns": self.mapping, "loss_unit": self.loss_unit, "N_kind_declared": self.n_kind}

    @classmethod
    def from_options(cls, columns: str | None = None, columns_file=None, loss_unit: str | None = None,
                     n_kind: str | None = None) -> "RunFormat":
        """The format from the command line: `--columns N=params,loss=val/loss`, a TOML
        `--columns-file` (a [columns] table, optional top-level loss_unit and N_kind keys; the
        command line wins where both give a value), `--loss-unit` and `--N-kind`."""
        pairs: list[tuple[str, str]] = []
        origin = "--columns"
        if columns_file is not None:
            origin = str(columns_file)
            try:
                with open(columns_file, "rb") as f:
                    doc = tomllib.load(f)
            except FileNotFoundError:
                raise UserError(f"--columns-file {columns_file}: no such file") from None
            except tomllib.TOMLDecodeError as e:
                raise UserError(f"--columns-file {columns_file}: not valid TOML ({e})") from None
            unknown = sorted(set(doc) - {"columns", "loss_unit", "N_kind"})
            if unknown:
                raise UserError(f"{columns_file}: unknown key(s) {unknown}; expected a [columns] table, "
                                "loss_unit, N_kind")
            table = doc.get("columns", {})
            if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
                raise UserError(f"{columns_file}: [columns] must map our names to column names (strings)")
            pairs += list(table.items())
            loss_unit = loss_unit or doc.get("loss_unit")
            n_kind = n_kind or doc.get("N_kind")
        if columns:
            origin = "--columns" if columns_file is None else f"{columns_file} + --columns"
            given = []
            for item in columns.split(","):
                if not item.strip():
                    continue
                ours, eq, theirs = item.partition("=")
                if not eq or not ours.strip() or not theirs.strip():
                    raise UserError(f"--columns: expected OURS=THEIRS, got {item.strip()!r}")
                given.append((ours.strip(), theirs.strip()))
            over = {o for o, _ in given}
            if len(over) == len(given):  # duplicates within --columns are reported by the check
                pairs = [(o, t) for o, t in pairs if o not in over]
            pairs += given
        return cls(columns=tuple(pairs), loss_unit=loss_unit or "nats", n_kind=n_kind, origin=origin)


@dataclass
class Runs:
    """Validated run records plus where they came from."""

    df: pd.DataFrame
    source: str = "<memory>"
    sha256: str | None = None
    where: str | None = None
    excluded: list[str] = field(default_factory=list)
    format: RunFormat = field(default_factory=RunFormat)

    def __len__(self) -> int:
        return len(self.df)

    @property
    def n_kind(self) -> str | None:
        return _single_value(self.df, "N_kind")

    @property
    def loss_kind(self) -> str | None:
        return _single_value(self.df, "loss_kind")

    def column(self, name: str) -> np.ndarray:
        return self.df[name].to_numpy(dtype=np.float64)

    def where_line(self, i: int) -> str:
        """'file, line k' for the i-th kept row."""
        return f"{self.source}, line {int(self.df[LINE].iloc[i])}"


def _single_value(df: pd.DataFrame, col: str) -> str | None:
    if col not in df:
        return None
    vals = df[col].dropna().unique()
    return str(vals[0]) if len(vals) == 1 else None


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV or Parquet file of run records, raising UserError for unreadable input."""
    p = runs_file(path)
    if p.suffix.lower() in (".parquet", ".pq"):
        try:
            return pd.read_parquet(p)
        except ImportError:
            raise UserError(f"{p}: reading Parquet needs pyarrow (pip install pyarrow)") from None
        except Exception as e:  # pyarrow raises many types for bad files
            raise UserError(f"{p}: not a readable Parquet file ({e})") from None
    if p.suffix.lower() in (".jsonl", ".ndjson"):
        try:
            df = pd.read_json(p, lines=True, dtype=False)
        except ValueError as e:
            raise UserError(f"{p}: not readable JSON Lines ({str(e).strip()})") from None
        df[LINE] = np.arange(len(df)) + 1  # one record per line, no header
        return df
    try:
        df = pd.read_csv(p, comment=None, skipinitialspace=True, sep="\t" if _is_tsv(p) else ",")
    except pd.errors.EmptyDataError:
        raise UserError(f"{p}: no columns found, expected a header line with columns N, D, loss") from None
    except pd.errors.ParserError as e:
        raise UserError(f"{p}: malformed CSV ({str(e).strip()})") from None
    except UnicodeDecodeError:
        raise UserError(f"{p}: not a text CSV file (could not decode as UTF-8)") from None
    return df


def _is_tsv(p: Path) -> bool:
    """A .tsv file, or a header with tabs and no commas."""
    if p.suffix.lower() == ".tsv":
        return True
    try:
        with open(p, encoding="utf-8", errors="replace") as f:
            head = f.readline()
    except OSError:
        return False
    return "\t" in head and "," not in head


def apply_format(df: pd.DataFrame, fmt: RunFormat, source: str) -> pd.DataFrame:
    """Rename a user's columns to ours as `fmt` says; tracker states become statuses."""
    if fmt is None or not fmt.columns:
        return df
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    found = [c for c in df.columns if c != LINE]
    for ours, theirs in fmt.columns:
        if theirs not in df.columns:
            raise UserError(f"{source}: {fmt.origin} maps {ours}={theirs}, but there is no column {theirs!r}; "
                            f"found {found[:12]}")
    mapped = set(fmt.mapping.values())
    # a column of the file that already has one of our names gives way to the one mapped to it
    shadowed = [o for o in fmt.mapping if o in df.columns and o not in mapped]
    df = df.drop(columns=shadowed).rename(columns={t: o for o, t in fmt.columns})
    if "status" in fmt.mapping:
        raw = df["status"].astype(object)
        low = raw.where(raw.isna(), raw.astype(str).str.strip().str.lower())
        tracker = low.isin(list(WANDB_STATES)) & ~low.isin(STATUSES)
        if tracker.any():
            df[STATE] = raw.where(tracker)
            df["status"] = low.map(lambda v: WANDB_STATES.get(v, v) if isinstance(v, str) else v)
    return df


def _bad_line(df: pd.DataFrame, mask: np.ndarray) -> int:
    return int(df[LINE].to_numpy()[np.flatnonzero(mask)[0]])


def _named(col: str, names: dict[str, str] | None) -> str:
    """How a column is named in messages: the user's own name where the column was mapped."""
    theirs = (names or {}).get(col)
    return repr(col) if theirs is None else f"{theirs!r} (mapped to {col})"


def _numeric(df: pd.DataFrame, col: str, src: str, *, allow_missing, names=None) -> pd.Series:
    """Column as float; UserError naming the first line whose value is not a number.

    `allow_missing` is a bool or a row mask of rows whose cell may be empty."""
    raw = df[col]
    vals = pd.to_numeric(raw, errors="coerce")
    bad = vals.isna() & raw.notna()
    if allow_missing is not True:
        bad |= raw.isna() & ~np.asarray(allow_missing, dtype=bool)
    if bad.any():
        line = _bad_line(df, bad.to_numpy())
        got = raw[bad].iloc[0]
        raise UserError(f"{src}, line {line}, column {_named(col, names)}: expected a number, got {got!r}")
    return vals.astype(np.float64)


def validate(df: pd.DataFrame, source: str = "<memory>", *, need: tuple[str, ...] = ("N", "D", "loss"),
             names: dict[str, str] | None = None) -> pd.DataFrame:
    """Check a table of run records; returns a cleaned copy (numeric columns as float).

    Raises UserError for missing columns, non-numeric or non-positive sizes, duplicate run ids
    and unknown roles/statuses. Loss NaN/inf is allowed here (excluded later, with a warning), and
    so are empty cells on runs whose status is not ok (a crashed run logs nothing). `names` (our
    name -> the user's column) makes messages name the user's columns.
    """
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    if LINE not in df:
        df[LINE] = np.arange(len(df)) + 2
    missing = [c for c in need if c not in df.columns]
    if missing:
        found = [c for c in df.columns if c != LINE]
        hint = ""
        if len(found) == 1 and any(s in found[0] for s in ";\t|"):
            hint = " (is the file comma-separated? the header was read as one column)"
        raise UserError(
            f"{source}: missing column(s) {', '.join(_named(c, names) for c in missing)}; found {found[:12]}{hint}"
        )
    if len(df) == 0:
        raise UserError(f"{source}: no rows after the header")
    not_ok = (df["status"].notna() & (df["status"].astype(str) != "ok")).to_numpy() if "status" in df \
        else np.zeros(len(df), dtype=bool)
    for col in POSITIVE:
        if col not in df:
            continue
        optional = col in ("N_T", "D_T", "L_T")
        df[col] = _numeric(df, col, source, allow_missing=True if optional else not_ok, names=names)
        vals = df[col].to_numpy()
        bad = np.isfinite(vals) & (vals <= 0) | np.isinf(vals)
        if bad.any():
            line = _bad_line(df, bad)
            raise UserError(
                f"{source}, line {line}, column {_named(col, names)}: expected a positive finite number, "
                f"got {vals[bad][0]!r}"
            )
    if "loss" in df:
        df["loss"] = _numeric(df, "loss", source, allow_missing=True, names=names)
        vals = df["loss"].to_numpy()
        bad = np.isfinite(vals) & (vals <= 0)
        if bad.any():
            raise UserError(
                f"{source}, line {_bad_line(df, bad)}, column {_named('loss', names)}: expected a positive "
                f"cross-entropy, got {vals[bad][0]!r}"
            )
    if "run_id" in df:
        ids = df["run_id"].astype(str)
        dup = ids.duplicated(keep=False) & df["run_id"].notna()
        if dup.any():
            first = ids[dup].iloc[0]
            lines = df.loc[ids == first, LINE].tolist()
            raise UserError(f"{source}, column {_named('run_id', names)}: duplicate run id {first!r} on lines {lines}")
    else:
        df["run_id"] = [f"row{int(k)}" for k in df[LINE]]
    for col, allowed in (("role", ROLES), ("status", STATUSES)):
        if col in df:
            bad = df[col].notna() & ~df[col].astype(str).isin(allowed)
            if bad.any():
                raise UserError(
                    f"{source}, line {_bad_line(df, bad.to_numpy())}, column {_named(col, names)}: "
                    f"expected one of {', '.join(allowed)}, got {df.loc[bad, col].iloc[0]!r}"
                )
    return df


def apply_where(df: pd.DataFrame, where: str | None, source: str) -> pd.DataFrame:
    """Filter rows with a pandas query expression, e.g. ``dataset == 'c4_original' and N < 5e8``."""
    if not where:
        return df
    try:
        out = df.query(where, engine="python")
    except Exception as e:  # pandas raises SyntaxError, NameError/UndefinedVariableError, TypeError...
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"--where {where!r} on {source}: {type(e).__name__}: {msg}") from None
    if not isinstance(out, pd.DataFrame):
        raise UserError(f"--where {where!r} on {source}: expected a row filter (a boolean expression)")
    if len(out) == 0:
        raise UserError(f"--where {where!r} matches no rows of {source} ({len(df)} rows before filtering)")
    return out


def exclude_unusable(df: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[str]]:
    """Drop runs that are records but not data (status != ok, NaN/inf loss), warning for each group."""
    notes = []
    keep = np.ones(len(df), dtype=bool)
    if "status" in df:
        st = df["status"].fillna("ok").astype(str).to_numpy()
        bad = st != "ok"
        if bad.any():
            lines = df[LINE].to_numpy()[bad].tolist()
            why = df[STATE].where(df[STATE].notna(), df["status"]) if STATE in df else df["status"]
            counts = why[bad].astype(str).value_counts()
            by = ", ".join(f"{k}: {v}" for k, v in counts.items())
            notes.append(f"{source}: excluded {int(bad.sum())} run(s) with status != ok ({by}; lines {_short(lines)})")
        keep &= ~bad
    if "loss" in df:
        loss = df["loss"].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(loss) & keep
        if bad.any():
            lines = df[LINE].to_numpy()[bad].tolist()
            notes.append(f"{source}: excluded {int(bad.sum())} run(s) with NaN/inf loss (lines {_short(lines)})")
        keep &= np.isfinite(loss)
    for n in notes:
        warnings.warn(n, ScalelawWarning, stacklevel=3)
    return df[keep], notes


def _short(lines: list[int], k: int = 8) -> str:
    s = ", ".join(str(x) for x in lines[:k])
    return s + (f", ... ({len(lines)} in all)" if len(lines) > k else "")


def check_single_n_kind(df: pd.DataFrame, source: str) -> None:
    """A fit must not silently mix parameter counts of different kinds (LAWS.md §6)."""
    if "N_kind" not in df:
        return
    kinds = df["N_kind"].dropna().astype(str).unique()
    if len(kinds) > 1:
        shown = "; ".join(repr(k[:60]) for k in kinds[:4])
        raise UserError(
            f"{source}: rows mix {len(kinds)} kinds of N in column 'N_kind' ({shown}); "
            f"select one with --where, e.g. --where \"N_kind == {kinds[0]!r}\""
        )


def load_runs(
    path: str | os.PathLike,
    *,
    where: str | None = None,
    need: tuple[str, ...] = ("N", "D", "loss"),
    role: tuple[str, ...] | None = None,
    fmt: RunFormat | None = None,
) -> Runs:
    """Load, validate and filter a run file for fitting.

    `fmt` says how to read a file not in our schema (column names, loss unit, N kind). `role`
    keeps only rows whose `role` is in the tuple (rows without a role count as supervised).
    Raises UserError when nothing usable is left.
    """
    src = str(path)
    fmt = fmt or RunFormat()
    df = read_validated(path, fmt, need=need)
    df = apply_where(df, where, src)
    if role is not None and "role" in df:
        df = df[df["role"].fillna("supervised").isin(role)]
        if len(df) == 0:
            raise UserError(f"{src}: no runs with role in {role}")
    df, notes = exclude_unusable(df, src)
    if len(df) == 0:
        raise UserError(f"{src}: no usable runs (all {len(notes) and 'were excluded: ' + '; '.join(notes)})")
    check_single_n_kind(df, src)
    return Runs(df=df.reset_index(drop=True), source=src, sha256=file_sha256(path), where=where, excluded=notes,
                format=fmt)


def read_validated(path: str | os.PathLike, fmt: RunFormat | None = None, *,
                   need: tuple[str, ...] = ("N", "D", "loss")) -> pd.DataFrame:
    """Read a run file, map it to our schema as `fmt` says and validate it (all rows kept).

    Losses in bits become nats (x ln 2); a declared N kind fills a missing N_kind column."""
    src = str(path)
    fmt = fmt or RunFormat()
    df = validate(apply_format(read_table(path), fmt, src), src, need=need, names=fmt.mapping)
    if fmt.loss_unit == "bits":
        for col in ("loss", "L_T"):
            if col in df:
                df[col] = df[col] * math.log(2)
    if fmt.n_kind is not None:
        if "N_kind" not in df:
            df["N_kind"] = fmt.n_kind
        else:
            other = df["N_kind"].dropna().astype(str)
            other = other[other != fmt.n_kind]
            if len(other):
                raise UserError(f"{src}, line {int(df.loc[other.index[0], LINE])}, column "
                                f"{_named('N_kind', fmt.mapping)}: says {other.iloc[0]!r}, but --N-kind "
                                f"declares {fmt.n_kind!r}")
    return df


def from_frame(df: pd.DataFrame, *, source: str = "<memory>", where: str | None = None,
               need: tuple[str, ...] = ("N", "D", "loss")) -> Runs:
    """Validate an in-memory table (notebooks, tests) the same way as a file."""
    df = apply_where(validate(df, source, need=need), where, source)
    df, notes = exclude_unusable(df, source)
    if len(df) == 0:
        raise UserError(f"{source}: no usable runs")
    check_single_n_kind(df, source)
    return Runs(df=df.reset_index(drop=True), source=source, where=where, excluded=notes)


def write_runs(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write run records with the schema's columns first (atomic: temp file + rename)."""
    cols = [c for c in COLUMNS if c in df] + [c for c in df.columns if c not in COLUMNS and c != LINE]
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    df[cols].to_csv(tmp, index=False)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, p)


def resolve_teachers(df: pd.DataFrame, source: str = "<memory>") -> pd.DataFrame:
    """Link student rows to their teachers; returns a copy with L_T (and N_T, D_T) filled in.

    A student (role == "student") names its teacher in `teacher_run_id` and/or carries the
    teacher's `N_T, D_T, L_T` itself. Where only the id is given, the teacher's own row supplies
    L_T = its loss, N_T = its N, D_T = its D. Values on the student row win over the teacher's row
    (a disagreement in L_T is warned about). Raises UserError, naming file, line and run ids, for
    a teacher id that is not in the file, a student with no L_T whose teacher has no finite loss
    (or a status other than ok), a student with neither a teacher id nor L_T, and circular
    teacher references. A teacher that is itself a student is allowed, with a warning.
    Expects a frame from `validate` (it carries the file line of each row).
    """
    df = df.copy()
    if "role" not in df or not (df["role"] == "student").any():
        return df
    if LINE not in df:
        df[LINE] = np.arange(len(df)) + 2
    for col in ("teacher_run_id",):
        if col not in df:
            df[col] = pd.Series([None] * len(df), index=df.index, dtype=object)
    for col in ("N_T", "D_T", "L_T"):
        if col not in df:
            df[col] = np.nan
        df[col] = df[col].astype(np.float64)
    ids = df["run_id"].astype(str).to_numpy()
    row_of = {rid: k for k, rid in enumerate(ids)}
    roles = df["role"].astype(object).where(df["role"].notna(), "supervised").astype(str).to_numpy()
    lines = df[LINE].to_numpy()
    tids = [None if (t is None or (isinstance(t, float) and np.isnan(t))) else str(t).strip()
            for t in df["teacher_run_id"].astype(object).to_numpy()]
    tids = [t if t not in ("", "nan") else None for t in tids]
    status = df["status"].fillna("ok").astype(str).to_numpy() if "status" in df else np.full(len(df), "ok")
    loss = df["loss"].to_numpy(dtype=np.float64) if "loss" in df else np.full(len(df), np.nan)
    N, D = df["N"].to_numpy(dtype=np.float64), df["D"].to_numpy(dtype=np.float64)
    out = {c: df[c].to_numpy(dtype=np.float64).copy() for c in ("N_T", "D_T", "L_T")}

    def where(k: int) -> str:
        return f"{source}, line {int(lines[k])}"

    # circular references: follow teacher links from every student
    for k in np.flatnonzero(roles == "student"):
        chain, j = [k], k
        while roles[j] == "student" and tids[j] is not None and tids[j] in row_of:
            j = row_of[tids[j]]
            if j in chain:
                cyc = chain[chain.index(j):] + [j]
                raise UserError(
                    f"{where(k)}: circular teacher references: "
                    + " -> ".join(repr(ids[i]) for i in cyc)
                    + f" (lines {', '.join(str(int(lines[i])) for i in cyc[:-1])})"
                )
            chain.append(j)

    for k in np.flatnonzero(roles == "student"):
        sid, tid = ids[k], tids[k]
        if tid is None:
            if not np.isfinite(out["L_T"][k]):
                raise UserError(
                    f"{where(k)}: student {sid!r} has neither a teacher_run_id nor a teacher loss L_T"
                )
            continue
        j = row_of.get(tid)
        if j is None:
            raise UserError(
                f"{where(k)}, column 'teacher_run_id': student {sid!r} names teacher {tid!r}, "
                f"which is not a run_id in {source}"
            )
        if roles[j] == "student":
            warnings.warn(
                f"{where(k)}: student {sid!r} is distilled from {tid!r} ({where(j)}), which is itself "
                "a student; its measured loss is used as L_T",
                ScalelawWarning, stacklevel=2,
            )
        teacher_ok = np.isfinite(loss[j]) and status[j] == "ok"
        if not np.isfinite(out["L_T"][k]):
            if not teacher_ok:
                why = f"status {status[j]!r}" if status[j] != "ok" else f"loss {loss[j]!r}"
                raise UserError(
                    f"{where(k)}: student {sid!r} has no L_T and its teacher {tid!r} ({where(j)}) "
                    f"has no usable loss ({why})"
                )
            out["L_T"][k] = loss[j]
        elif teacher_ok and abs(out["L_T"][k] - loss[j]) > 1e-6 * loss[j]:
            warnings.warn(
                f"{where(k)}: student {sid!r} carries L_T={out['L_T'][k]!r} but its teacher {tid!r} "
                f"({where(j)}) has loss {loss[j]!r}; using the student's L_T",
                ScalelawWarning, stacklevel=2,
            )
        if not np.isfinite(out["N_T"][k]):
            out["N_T"][k] = N[j]
        if not np.isfinite(out["D_T"][k]):
            out["D_T"][k] = D[j]
    for c, v in out.items():
        df[c] = v
    return df
