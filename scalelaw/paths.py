"""Checks on a run file's path that need nothing heavy: the CLI makes them before it imports
pandas and JAX, so a mistyped path is one line in a fraction of a second."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UserError


def runs_file(path: str | os.PathLike) -> Path:
    """`path` as a Path, if it names a non-empty file; otherwise a UserError saying what is wrong."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file")
    if p.is_dir():
        raise UserError(f"{p}: is a directory, expected a CSV or Parquet file of runs")
    if p.stat().st_size == 0:
        raise UserError(f"{p}: file is empty, expected a header line with columns N, D, loss")
    return p
