"""Law registry. A law lives in one module of this package and is registered here by name."""

from __future__ import annotations

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


__all__ = ["Law", "REGISTRY", "get_law", "law_names"]
