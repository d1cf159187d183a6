"""JAX set-up shared by the fitting and planning entry points.

Fitting is float64 (the Chinchilla problem has condition number ~1e11), but enabling x64 at
import would change JAX's behaviour for anyone importing us, so entry points call `x64()`.
"""

import jax


def x64() -> None:
    """Enable float64 in JAX (idempotent)."""
    if not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)


def jit(fn):
    """`jax.jit(fn)` with the XLA options every scalelaw kernel is compiled with (`compiler_options`)."""
    return jax.jit(fn, compiler_options=compiler_options())


_OPTIONS: list = []


def compiler_options() -> dict:
    """XLA options for our kernels: on the CPU, XLA's elemental emitters rather than its newer
    MLIR fusion emitters (`xla_cpu_use_fusion_emitters`). Compiling is most of a first fit's
    cost, and with them the solver kernels compile in ~0.6x the time (the distillation solver
    ~0.8 s instead of ~1.4 s) and run as fast; `benchmarks/bench_compile.py` compiles every kernel
    of three real fits both ways and found their outputs identical bit for bit. Elsewhere the two
    may round differently in the last bit, as batches of other widths do (a start creeping along
    the distillation law's flat valley then stops ~1e-11 relative away). An XLA that no longer
    knows the option, or another backend, gets none. Only our kernels: a user's JAX code is untouched."""
    if not _OPTIONS:
        _OPTIONS.append(_supported({"xla_cpu_use_fusion_emitters": False}) if jax.default_backend() == "cpu" else {})
    return _OPTIONS[0]


def _supported(opts: dict) -> dict:
    """`opts` if this XLA compiles with them, else none (an unknown option fails at compile time,
    so a trivial kernel finds out, once per process)."""
    import numpy as np

    try:
        jax.jit(lambda x: x + 1, compiler_options=opts).lower(np.zeros(1)).compile()
    except Exception:
        return {}
    return opts


_CACHE_SET = False
#: where this process keeps compiled kernels and exported traces (None: no persistent cache)
_CACHE_ROOT = None


def enable_compile_cache() -> None:
    """Reuse compiled kernels across processes (JAX's persistent compilation cache).

    A first fit spends most of its time compiling. The cache lives in
    $XDG_CACHE_HOME/scalelaw/jax (default ~/.cache/scalelaw/jax); SCALELAW_NO_JAX_CACHE=1 turns it
    off. Called by the CLI and by the solver before its first compilation (so the Python API
    shares the cache), never at import; idempotent.
    """
    import os
    from pathlib import Path

    global _CACHE_SET, _CACHE_ROOT
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
    _CACHE_ROOT = root


#: exported traces loaded (or made) in this process: key -> jitted call
_EXPORTED: dict = {}


def source_digest(*files) -> str:
    """SHA-256 over the bytes of source files: names the code a traced function runs."""
    import hashlib

    from pathlib import Path

    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).read_bytes())
    return h.hexdigest()


def exported_call(fn, args: tuple, *, code: str):
    """`jax.jit(fn)(*args)`, traced once per code version and argument shapes across processes.

    The persistent cache stores compiled kernels, but every process still traces and lowers the
    function to find the cache key, and for the solver that costs more than solving a few
    hundred rows. So the lowered function itself is kept too (`jax.export`, a versioned,
    serialisable form of the trace), in the cache directory under a key made of `code` (which
    must name everything `fn` executes, e.g. a `source_digest` of its modules), the JAX version,
    the backend and the arguments' pytree, shapes and dtypes. A later process deserialises it
    and goes straight to the compiled kernel. Without the persistent cache (opted out,
    unwritable home), without the `flatbuffers` package that jax.export writes with, or for a
    function jax.export cannot serialise, this is plain jit. The first process and later ones
    run the same exported module, so their results agree bit for bit.
    """
    key = _key(args, code)
    call = _EXPORTED.get(key)
    if call is None:
        call = _EXPORTED[key] = _load_or_export(fn, args, key)
    elif not callable(call):  # being prepared in the background (`prepare_call`): wait for it
        call = _EXPORTED[key] = call.result()
    return call(*args)


def prepare_call(fn, args: tuple, *, code: str) -> None:
    """Get `exported_call(fn, args, code=code)` ready in a background thread: load (or trace) and
    compile it while this thread goes on, e.g. the fit's polish while its race runs. Tracing holds
    the GIL, but compiling and loading kernels do not, so on a cold cache two compilations
    overlap. Only the shapes and dtypes of `args` matter; a later exported_call with the same
    signature waits for the result (and raises what the preparation raised)."""
    key = _key(args, code)
    if key in _EXPORTED:
        return

    def work():
        return _load_or_export(fn, args, key).lower(*args).compile()

    _EXPORTED[key] = _background().submit(work)


_POOL: list = []


def _background():
    from concurrent.futures import ThreadPoolExecutor

    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="scalelaw-compile"))
    return _POOL[0]


def _key(args: tuple, code: str) -> str:
    import hashlib

    leaves, tree = jax.tree_util.tree_flatten(args)
    sig = [(tuple(x.shape), str(x.dtype)) for x in leaves]
    return hashlib.sha256(repr((code, jax.__version__, jax.default_backend(), jax.config.jax_enable_x64, str(tree),
                                sig)).encode()).hexdigest()[:32]


def _can_serialize() -> bool:
    """jax.export writes its files with `flatbuffers`; without it, traces are not kept."""
    import importlib.util

    return importlib.util.find_spec("flatbuffers") is not None


def _load_or_export(fn, args, key: str):
    import os

    from jax import export

    if _CACHE_ROOT is None or not _can_serialize():
        return jit(fn)
    path = _CACHE_ROOT / "exported" / f"{key}.bin"
    try:
        return jit(export.deserialize(bytearray(path.read_bytes())).call)
    except Exception:  # absent, or written by another version: trace afresh below
        pass
    shapes = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), args)
    try:
        exp = export.export(jax.jit(fn))(*shapes)
        blob = exp.serialize()
    except Exception:  # something jax.export does not support (e.g. a kernel it will not serialise): no file
        return jit(fn)
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_bytes(blob)
        os.replace(tmp, path)  # atomic: concurrent fits never read half a file
    except OSError:
        pass
    return jit(exp.call)
