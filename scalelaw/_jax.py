"""JAX set-up shared by the fitting and planning entry points.

Fitting is float64 (the Chinchilla problem has condition number ~1e11), but enabling x64 at
import would change JAX's behaviour for anyone importing us, so entry points call `x64()`.
"""

import jax


def x64() -> None:
    """Enable float64 in JAX (idempotent)."""
    if not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
