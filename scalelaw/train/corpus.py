"""Offline corpora: the synthetic default, byte-level text, and nanoGPT-style token files.

All corpora answer the same three questions (numpy only, no torch):
  * `vocab_size`
  * `batch(split, key, batch_size, block_size)` -> (B, T+1) int64 tokens, a pure function of
    `key` (a tuple of ints such as (seed, step, micro_step, rank)), so a resumed run sees exactly
    the batches an uninterrupted run would
  * `validation(n_tokens, block_size)` -> a fixed (n_seq, T+1) held-out set, identical for every
    run on the same corpus (it depends on corpus_seed only)

Splits: "all" (the whole training part), "teacher" and "student" (disjoint halves of it; the
distillation paper trains teachers and students on different data). For file corpora the last
`val_fraction` of the tokens is validation and the rest is cut in two halves. The synthetic
corpus is infinite: each split is an independent stream of freshly generated documents.

Token files: `NAME.bin` is a flat little-endian uint16 or uint32 array (nanoGPT's format) with a
side-car `NAME.json` holding {"vocab_size": int, "dtype": "uint16" | "uint32"}; see
`write_token_file`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from .synthetic import SyntheticLanguage

SPLIT_IDS = {"all": 1, "teacher": 2, "student": 3}
VAL_STREAM = 0
TOKEN_DTYPES = ("uint16", "uint32")


class SyntheticCorpus:
    """The embedded default: an infinite stream of documents from `SyntheticLanguage`."""

    def __init__(self, seed: int = 0, language: SyntheticLanguage | None = None):
        self.language = language or SyntheticLanguage(seed=seed)
        self.seed = seed
        self.vocab_size = self.language.vocab_size
        self.name = f"synthetic(seed={seed})"

    def batch(self, split: str, key: tuple, batch_size: int, block_size: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, SPLIT_IDS[split], *key])
        return self.language.sample(batch_size, block_size + 1, rng)

    def validation(self, n_tokens: int, block_size: int) -> np.ndarray:
        n_seq = max(1, -(-n_tokens // block_size))
        rng = np.random.default_rng([self.seed, VAL_STREAM])
        return self.language.sample(n_seq, block_size + 1, rng)

    def optimal_loss(self, block_size: int) -> float:
        """Exact loss floor of this corpus at this context length (nats/token)."""
        return self.language.optimal_loss(block_size)


class TokenCorpus:
    """A flat token array (bytes of text, or a .bin memmap) cut into train halves + validation."""

    def __init__(self, tokens: np.ndarray, vocab_size: int, name: str, val_fraction: float = 0.1):
        self.tokens = tokens
        self.vocab_size = int(vocab_size)
        self.name = name
        n = len(tokens)
        self.n_train = int(n * (1.0 - val_fraction))
        half = self.n_train // 2
        self.regions = {"all": (0, self.n_train), "teacher": (0, half), "student": (half, self.n_train),
                        "val": (self.n_train, n)}

    def _region(self, split: str, block_size: int) -> tuple[int, int]:
        lo, hi = self.regions[split]
        if hi - lo < block_size + 1:
            raise UserError(f"corpus {self.name}: the {split!r} part has {hi - lo} tokens, fewer than one "
                            f"sequence of block_size+1 = {block_size + 1}; use a larger corpus or smaller block_size")
        return lo, hi

    def batch(self, split: str, key: tuple, batch_size: int, block_size: int) -> np.ndarray:
        lo, hi = self._region(split, block_size)
        rng = np.random.default_rng([SPLIT_IDS[split], *key])
        starts = rng.integers(lo, hi - block_size, size=batch_size)  # each window fits in [lo, hi)
        idx = starts[:, None] + np.arange(block_size + 1)
        return np.asarray(self.tokens[idx], dtype=np.int64)

    def validation(self, n_tokens: int, block_size: int) -> np.ndarray:
        lo, hi = self._region("val", block_size)
        n_seq = min((hi - lo) // (block_size + 1), max(1, -(-n_tokens // block_size)))
        idx = lo + np.arange(n_seq)[:, None] * (block_size + 1) + np.arange(block_size + 1)
        return np.asarray(self.tokens[idx], dtype=np.int64)


def load_corpus(spec: str, *, seed: int = 0, val_fraction: float = 0.1):
    """'synthetic' | a .txt file | a directory of .txt files | a .bin token file (side-car .json)."""
    if spec == "synthetic":
        return SyntheticCorpus(seed)
    p = Path(spec)
    if not p.exists():
        raise UserError(f"corpus {spec!r}: no such file or directory (expected 'synthetic', a .txt file, "
                        f"a directory of .txt files or a .bin token file)")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*.txt") if f.is_file())
        if not files:
            raise UserError(f"corpus {spec!r}: directory contains no .txt files")
        data = b"".join(f.read_bytes() for f in files)
        return _text(data, spec, val_fraction)
    if p.suffix == ".bin":
        return _token_file(p, val_fraction)
    if p.suffix == ".txt":
        return _text(p.read_bytes(), spec, val_fraction)
    raise UserError(f"corpus {spec!r}: unsupported file type {p.suffix or '(none)'!r}; expected .txt or .bin")


def _text(data: bytes, name: str, val_fraction: float) -> TokenCorpus:
    if not data:
        raise UserError(f"corpus {name!r}: empty (0 bytes of text)")
    return TokenCorpus(np.frombuffer(data, dtype=np.uint8), 256, name, val_fraction)


def _token_file(p: Path, val_fraction: float) -> TokenCorpus:
    side = p.with_suffix(".json")
    if not side.is_file():
        raise UserError(f"corpus {str(p)!r}: missing side-car {side.name} with "
                        f'{{"vocab_size": ..., "dtype": "uint16"|"uint32"}}')
    try:
        meta = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{side}: not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise UserError(f"{side}: expected a JSON object with keys vocab_size and dtype")
    vocab, dtype = meta.get("vocab_size"), meta.get("dtype", "uint16")
    if not isinstance(vocab, int) or isinstance(vocab, bool) or vocab < 2:
        raise UserError(f"{side}: key 'vocab_size' must be an integer >= 2, got {vocab!r}")
    if dtype not in TOKEN_DTYPES:
        raise UserError(f"{side}: key 'dtype' must be one of {', '.join(TOKEN_DTYPES)}, got {dtype!r}")
    size = p.stat().st_size
    item = np.dtype(dtype).itemsize
    if size == 0:
        raise UserError(f"corpus {str(p)!r}: empty (0 tokens)")
    if size % item:
        raise UserError(f"corpus {str(p)!r}: size {size} bytes is not a multiple of {dtype} ({item} bytes)")
    tokens = np.memmap(p, dtype=dtype, mode="r")
    head_max = int(tokens[: 1 << 20].max())
    if head_max >= vocab:
        raise UserError(f"corpus {str(p)!r}: token id {head_max} >= vocab_size {vocab} from {side.name}")
    return TokenCorpus(tokens, vocab, str(p), val_fraction)


def write_token_file(path, tokens, vocab_size: int) -> Path:
    """Write `tokens` as a nanoGPT-style .bin (uint16 if vocab fits, else uint32) + side-car .json."""
    p = Path(path).with_suffix(".bin")
    dtype = "uint16" if vocab_size <= 1 << 16 else "uint32"
    np.asarray(tokens, dtype=dtype).tofile(p)
    p.with_suffix(".json").write_text(json.dumps({"vocab_size": int(vocab_size), "dtype": dtype}))
    return p


def corpus_vocab_size(spec: str, *, seed: int = 0) -> int:
    """The corpus's vocabulary without reading its tokens (for planning)."""
    if spec == "synthetic":
        return SyntheticLanguage(seed=seed).vocab_size
    p = Path(spec)
    if p.suffix == ".bin" and p.is_file():
        return _token_file(p, 0.1).vocab_size
    if p.exists() and (p.is_dir() or p.suffix == ".txt"):
        return 256
    return load_corpus(spec, seed=seed).vocab_size  # raises the precise UserError
