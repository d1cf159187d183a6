"""JAX set-up shared by the fitting and planning entry points.

Fitting is float64 (the Chinchilla problem has condition number ~1e11), but enabling x64 at
import would change JAX's behaviour for anyone importing us, so entry points call `x64()`.
"""

import jax


def x64() -> None:
    """Enable float64 in JAX (idempotent)."""
    if not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)


_CACHE_SET = False


def enable_compile_cache() -> None:
    """Reuse compiled kernels across processes (JAX's persistent compilation cache).

    A first fit spends most of its time compiling. The cache lives in
    $XDG_CACHE_HOME/scalelaw/jax (default ~/.cache/scalelaw/jax); SCALELAW_NO_JAX_CACHE=1 turns it
    off. Called by the CLI and by the solver before its first compilation (so the Python API
    shares the cache), never at import; idempotent.
    """
    import os
    from pathlib import Path

    global _CACHE_SET
    if _CACHE_SET or os.environ.get("SCALELAW_NO_JAX_CACHE"):
        return
    _CACHE_SET = True
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scalelaw" / "jax"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home: run without the cache
        return
    jax.config.update("jax_compilation_cache_dir", str(root))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
