"""The `scalelaw` command line: a thin typer app.

Each command parses its options, calls one library function and prints. Heavy imports (JAX,
torch, pandas) happen inside the commands, so `scalelaw --help` and `scalelaw plan --help` are
instant. A `UserError` anywhere becomes one line on stderr and exit code 2; warnings are printed
as `warning: ...` lines on stderr; `--json` output goes to stdout as exactly one document.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Optional

import typer

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
    """Console-script entry point: map user errors to one line and exit code 2."""
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


@app.callback()
def _root() -> None:
    """Scaling-law laboratory: sweep -> runs.csv -> fit -> plan."""


# ============================================================ fit / predict (issue 2)
# (commands are added below this line by the fit engine)

# ============================================================ validate (issue 3)

# ============================================================ synth (issue 4)

# ============================================================ plan (issue 5)

# ============================================================ train (issue 6)

# ============================================================ sweep / demo (issue 7)


if __name__ == "__main__":
    main()
