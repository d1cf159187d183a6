"""Law registry. A law lives in one module of this package and is registered here by name."""

from __future__ import annotations

import functools
import importlib

from ..errors import UserError
from .base import Law

#: law name -> (module, attribute). Adding a law = one module + one line here.
REGISTRY: dict[str, tuple[str, str]] = {
    "chinchilla": ("chinchilla", "CHINCHILLA"),
    "chinchilla-gamma": ("busbridge", "CHINCHILLA_GAMMA"),
    "distill": ("busbridge", "DISTILL"),
    "farseer": ("farseer", "FARSEER"),
    "isoflop": ("isoflop", "ISOFLOP"),
}


def get_law(name: str) -> Law:
    """The registered law called `name`; a UserError naming the known laws otherwise."""
    try:
        module, attr = REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown law {name!r}; known laws: {', '.join(sorted(REGISTRY))}") from None
    return getattr(importlib.import_module(f".{module}", __name__), attr)


def law_names() -> list[str]:
    return sorted(REGISTRY)


def is_registered(law: Law) -> bool:
    """True for a law of the registry (its code is one of this package's modules), False for a Law
    built at run time."""
    return law.name in REGISTRY and get_law(law.name) is law


@functools.cache
def code_digest() -> str:
    """Digest of every law module's source: part of the key under which traces of the registered
    laws are kept between processes (`scalelaw._jax.exported_call`)."""
    from pathlib import Path

    from .._jax import source_digest

    return source_digest(*sorted(Path(__file__).resolve().parent.glob("*.py")))


__all__ = ["Law", "REGISTRY", "code_digest", "get_law", "is_registered", "law_names"]
