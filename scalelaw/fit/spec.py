"""A fit's choices, in one small frozen object.

`FitSpec` holds everything that decides *what* is minimised, as opposed to how hard the solver
tries (starts, iterations): the law, the method (Farseer's piecewise procedure or the generic
end-to-end fitter), the objective and its Huber delta, an asymmetric penalty on over-prediction,
parameters held fixed, extra bounds, and how runs are weighted. The same object travels through
`fit_law`, the bootstrap, the fit file (`to_dict` / `from_dict`), `predict`, `validate` and
`plan`, so a choice made once on the command line is honoured everywhere downstream.

Fixed values and bounds are given in the paper's parameterisation (`E=1.69`, `alpha=0.1:1.0`),
the names of `Law.natural`; the engine maps them to the law's fit space.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Mapping

from ..errors import UserError

#: objectives on residuals r = log(loss) - log(predicted): Huber(delta) or squares; or squares of
#: the loss itself ("mse", the form some peers fit)
OBJECTIVES = ("huber-log", "mse-log", "mse")
#: how runs can be weighted, besides by a column of the run file
WEIGHT_RULES = ("sqrt-compute", "compute")
METHODS = ("piecewise", "end-to-end")


@dataclass(frozen=True)
class FitSpec:
    law: str = "chinchilla"
    #: farseer only: the authors' differential piecewise procedure, or the generic fitter
    method: str = "piecewise"
    objective: str = "huber-log"
    #: Huber delta on log residuals; None = the law's default
    delta: float | None = None
    #: multiplies the loss of points the law over-predicts (1 = symmetric; OLMo-core's
    #: `overestimate_penalty`)
    overestimate_penalty: float = 1.0
    #: (name, value) pairs in the paper's parameterisation, held exactly fixed
    fixed: tuple[tuple[str, float], ...] = ()
    #: (name, lo, hi) in the paper's parameterisation, narrowing the law's own box
    bounds: tuple[tuple[str, float, float], ...] = ()
    #: None (equal), a run-file column, "sqrt-compute" or "compute" (weights normalised to mean 1)
    weights: str | None = None

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise UserError(f"--objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.method not in METHODS:
            raise UserError(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.delta is not None and not (math.isfinite(self.delta) and self.delta > 0):
            raise UserError(f"Huber delta must be a positive number, got {self.delta}")
        if not (math.isfinite(self.overestimate_penalty) and self.overestimate_penalty >= 1):
            raise UserError(f"--overestimate-penalty must be a number >= 1, got {self.overestimate_penalty}")
        names = [n for n, _ in self.fixed] + [n for n, _, _ in self.bounds]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise UserError(f"parameter {dup[0]!r} is fixed or bounded twice")
        for n, lo, hi in self.bounds:
            if not lo < hi:
                raise UserError(f"--bound {n}={lo}:{hi}: the lower end must be below the upper end")

    # ------------------------------------------------------------------ views

    @property
    def fixed_dict(self) -> dict[str, float]:
        return dict(self.fixed)

    @property
    def bounds_dict(self) -> dict[str, tuple[float, float]]:
        return {n: (lo, hi) for n, lo, hi in self.bounds}

    @property
    def is_default(self) -> bool:
        """True when nothing beyond the law (and method) was chosen."""
        return replace(self, law=FitSpec.law, method=FitSpec.method) == FitSpec()

    def with_law(self, law: str) -> "FitSpec":
        return replace(self, law=law)

    def check_names(self, natural_names) -> None:
        """Every fixed or bounded name must be one of the law's parameters."""
        known = tuple(natural_names)
        for n in [n for n, _ in self.fixed] + [n for n, _, _ in self.bounds]:
            if n not in known:
                raise UserError(f"law {self.law!r} has no parameter {n!r} (its parameters: {', '.join(known)})")

    # ------------------------------------------------------------------ fit files

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fixed"] = {n: v for n, v in self.fixed}
        d["bounds"] = {n: [lo, hi] for n, lo, hi in self.bounds}
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "FitSpec":
        d = dict(d)
        d["fixed"] = tuple((str(n), float(v)) for n, v in dict(d.get("fixed") or {}).items())
        d["bounds"] = tuple((str(n), float(b[0]), float(b[1])) for n, b in dict(d.get("bounds") or {}).items())
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def from_options(cls, law: str, *, method: str = "piecewise", objective: str = "huber-log", delta=None,
                     overestimate_penalty: float = 1.0, fix: str | None = None, bound: str | None = None,
                     weights: str | None = None) -> "FitSpec":
        """A spec from command-line strings: `fix="E=1.69,alpha=0.3"`, `bound="alpha=0.1:1.0"`."""
        return cls(law=law, method=method, objective=objective, delta=delta,
                   overestimate_penalty=float(overestimate_penalty), fixed=parse_fix(fix),
                   bounds=parse_bounds(bound), weights=weights or None)


def _number(text: str, what: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise UserError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(x):
        raise UserError(f"{what}: {text!r} is not a finite number")
    return x


def _items(text: str | None, flag: str):
    for item in (text or "").replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        name, eq, value = item.partition("=")
        if not eq or not name.strip() or not value.strip():
            raise UserError(f"{flag} {item!r}: expected NAME=VALUE")
        yield name.strip(), value.strip(), item


def parse_fix(text: str | None) -> tuple[tuple[str, float], ...]:
    """'E=1.69,alpha=0.3' -> (('E', 1.69), ('alpha', 0.3))."""
    return tuple((n, _number(v, f"--fix {item}")) for n, v, item in _items(text, "--fix"))


def parse_bounds(text: str | None) -> tuple[tuple[str, float, float], ...]:
    """'alpha=0.1:1.0,beta=0:2' -> (('alpha', 0.1, 1.0), ('beta', 0.0, 2.0))."""
    out = []
    for n, v, item in _items(text, "--bound"):
        lo, colon, hi = v.partition(":")
        if not colon:
            raise UserError(f"--bound {item!r}: expected NAME=LO:HI")
        out.append((n, _number(lo, f"--bound {item}"), _number(hi, f"--bound {item}")))
    return tuple(out)
