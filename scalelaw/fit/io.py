"""Saving and loading fits, and the built-in published parameter sets.

A fit file is the JSON of `FitResult.to_dict()`: law, natural parameters, fit-space theta,
the `FitSpec` it was fitted with, optimisation report, CIs and bootstrap draws, settings, and the
data's source, SHA-256 and filter, so a fit can be reloaded, audited and planned with. Built-in
names stand for published laws so they can be queried without a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..laws import get_law
from .core import BootstrapResult, FitResult
from .spec import FitSpec


def _builtin_epoch():
    from ..laws.chinchilla import CHINCHILLA, EPOCH_CHINCHILLA

    return FitResult(law=CHINCHILLA, theta=CHINCHILLA.from_natural(EPOCH_CHINCHILLA), objective=float("nan"),
                     n_points=240, status="published",
                     data={"source": "Besiroglu et al. 2024 (Epoch AI) refit of Hoffmann et al. 2022, Fig. 4 data",
                           "n_kind": "total (model size as plotted)", "loss_kind": "nats/token, MassiveText",
                           "N_range": [4.4e7, 1.6e10], "D_range": [6e8, 4e11]})


def _builtin_busbridge():
    from ..laws.busbridge import CHINCHILLA_GAMMA, DISTILL, PUBLISHED_DISTILL, PUBLISHED_SUPERVISED

    src = "Busbridge et al. 2025, Table 6"
    sup = FitResult(law=CHINCHILLA_GAMMA, theta=CHINCHILLA_GAMMA.from_natural(PUBLISHED_SUPERVISED),
                    objective=float("nan"), n_points=73, status="published",
                    data={"source": src, "n_kind": "non-embedding", "loss_kind": "nats/token, C4",
                          "N_range": [1.43e8, 1.26e10], "D_range": [1e9, 5e11]})
    return FitResult(law=DISTILL, theta=DISTILL.from_natural(PUBLISHED_DISTILL), objective=float("nan"),
                     n_points=697, status="published", delta=1e-4, supervised=sup,
                     data={"source": src, "n_kind": "non-embedding", "loss_kind": "nats/token, C4"})


#: name -> builder of a FitResult holding published parameters
BUILTINS = {
    "epoch-chinchilla": _builtin_epoch,
    "busbridge2025": _builtin_busbridge,
    "busbridge2025-supervised": lambda: _builtin_busbridge().supervised,
}


def save_fit(fit: FitResult, path: str | os.PathLike, level: float = 0.9) -> None:
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(fit.to_dict(level), indent=2, default=_plain))
    os.replace(tmp, p)


def _plain(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def fit_from_dict(d: dict, source: str = "<dict>") -> FitResult:
    try:
        law = get_law(d["law"])
        theta = np.asarray(d["theta"], dtype=np.float64) if "theta" in d else law.from_natural(d["params"])
        if theta.shape != (law.n_params,):
            raise UserError(f"{source}: law {law.name!r} has {law.n_params} parameters, the file has {theta.size}")
        boot = None
        if d.get("bootstrap", {}).get("thetas"):
            b = d["bootstrap"]
            boot = BootstrapResult(law=law, thetas=np.asarray(b["thetas"], dtype=np.float64),
                                   seed=int(b.get("seed", 0)), n_failed=int(b.get("n_failed", 0)))
        sup = fit_from_dict(d["supervised"], source) if d.get("supervised") else None
        # files written before specs were recorded were fitted with the default spec
        spec = FitSpec.from_dict(d["spec"]) if d.get("spec") else FitSpec(law=law.name)
        return FitResult(
            law=law, theta=theta, objective=float(d.get("objective", float("nan"))), n_points=int(d.get("n_points", 0)),
            n_starts=int(d.get("n_starts", 0)), n_best=int(d.get("n_best", 0)), iterations=int(d.get("iterations", 0)),
            status=str(d.get("status", "converged")), warnings=tuple(d.get("warnings", ())),
            delta=float(d.get("delta", law.default_delta)), boot=boot, supervised=sup, spec=spec,
            data=dict(d.get("data", {})), settings=dict(d.get("settings", {})),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{source}: not a scalelaw fit file ({type(e).__name__}: {e})") from None


def load_fit(name_or_path: str | os.PathLike) -> FitResult:
    """A fit from a JSON file written by `save_fit`, or a built-in published set by name."""
    key = str(name_or_path)
    if key in BUILTINS:
        return BUILTINS[key]()
    p = Path(key)
    if not p.exists():
        raise UserError(f"{p}: no such fit file (built-in fits: {', '.join(BUILTINS)})")
    try:
        d = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{p}: not a JSON fit file ({e})") from None
    if not isinstance(d, dict) or "law" not in d:
        raise UserError(f"{p}: not a scalelaw fit file (no 'law' key)")
    return fit_from_dict(d, str(p))
