"""Fitting scaling laws (JAX, float64): multi-start Huber-in-log fits, bootstrap, fit files.

Never imports torch. x64 is enabled inside the entry points, not at import.
"""

from .core import BootstrapResult, FitResult, bootstrap, derived_ci, derived_quantities, fit_law, law_inputs
from .io import BUILTINS, fit_from_dict, load_fit, save_fit
from .solver import MultiStartResult, solve_multistart, solve_queued
from .spec import FitSpec

__all__ = [
    "BootstrapResult", "FitResult", "FitSpec", "MultiStartResult", "BUILTINS", "bootstrap", "derived_ci",
    "derived_quantities", "fit_from_dict", "fit_law", "law_inputs", "load_fit", "save_fit", "solve_multistart", "solve_queued",
]
