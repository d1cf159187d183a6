"""One flat configuration for one training run (torch-free, so planners can import it cheaply).

Every field has a commented default. A run is either `supervised` (cross-entropy on labels), a
`teacher` (supervised, trained on the teacher half of the data) or a `student` (distilled from
the teacher in `teacher_dir`, trained on the student half).

The model shape is given either directly (n_layer, d_model, n_head, d_ff) or, with
`target_params > 0`, chosen from a size preset: the shape whose non-embedding parameter count
is closest to `target_params` at aspect ratio `aspect_ratio` = d_model / n_layer and head
dimension `head_dim` (see `resolve_shape`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..flops import param_counts, swiglu_hidden

ROLES = ("supervised", "teacher", "student")
LR_RULES = ("constant", "steplaw")
SPLITS = ("auto", "all", "teacher", "student")
DTYPES = ("auto", "float32", "bfloat16")


@dataclass
class TrainConfig:
    # ---- what the run is
    role: str = "supervised"  # supervised | teacher | student
    # ---- model shape (ignored when target_params > 0)
    n_layer: int = 2  # transformer blocks
    d_model: int = 64  # residual width
    n_head: int = 4  # attention heads (d_model % n_head == 0)
    d_ff: int = 0  # SwiGLU hidden width; 0 = 8/3 d_model rounded up to a multiple of 16
    vocab_size: int = 0  # 0 = the corpus's vocabulary; larger values pad the output layer
    block_size: int = 64  # context length n_ctx (training sequence length)
    tie_embeddings: bool = True  # share the token table with the output head
    qk_norm: bool = False  # RMSNorm on queries and keys per head
    # ---- size preset (used when target_params > 0)
    target_params: int = 0  # non-embedding parameter target N; 0 = use the explicit shape
    aspect_ratio: float = 32.0  # d_model / n_layer for the preset
    head_dim: int = 16  # d_model / n_head for the preset
    # ---- data
    corpus: str = "synthetic"  # "synthetic" | path to a .txt file or dir of .txt | path to a .bin token file
    corpus_seed: int = 0  # seed of the synthetic language and of the fixed validation set
    split: str = "auto"  # auto (teacher->teacher half, student->student half, supervised->all) | all | teacher | student
    val_fraction: float = 0.1  # file corpora: last fraction of tokens held out for validation
    tokens: int = 500_000  # training tokens D (rounded up to whole optimizer steps)
    batch_size: int = 16  # sequences per micro-batch (per process under DDP)
    grad_accum: int = 1  # micro-batches per optimizer step
    # ---- optimisation
    lr: float = 1e-2  # peak learning rate (lr_rule "constant")
    lr_rule: str = "constant"  # constant | steplaw (lr = 1.79 N^-0.713 D^0.307, Li et al. 2025)
    warmup_steps: int = -1  # linear warmup steps; -1 = 5% of the steps (at most 2000)
    min_lr_ratio: float = 0.1  # cosine decays to min_lr_ratio * peak lr
    weight_decay: float = 0.1  # AdamW decoupled weight decay on matrices (not on norm gains)
    grad_clip: float = 1.0  # global gradient-norm clip; 0 = off
    beta1: float = 0.9  # AdamW beta1
    beta2: float = 0.95  # AdamW beta2
    # ---- evaluation and checkpoints
    eval_every: int = 0  # steps between validation passes; 0 = only at the end
    eval_tokens: int = 32_768  # size of the fixed held-out validation set (tokens)
    ckpt_every: int = 500  # steps between checkpoints; 0 = only at the end
    # ---- runtime
    seed: int = 0  # model init and batch order
    device: str = "auto"  # auto (cuda if available) | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto (bfloat16 autocast on CUDA, float32 on CPU) | float32 | bfloat16
    compile: bool = False  # torch.compile the model (CUDA only; ignored on CPU)
    cpu_threads: int = 1  # torch intra-op threads on CPU (tiny models run fastest on 1); 0 = torch default
    # ---- distillation (role "student")
    teacher_dir: str = ""  # run directory of a finished teacher (checkpoint.pt + record.json)
    distill_lambda: float = 1.0  # weight of the KD term: (1-lambda) CE + lambda tau^2 KL
    distill_tau: float = 1.0  # distillation temperature
    distill_topk: int = 0  # 0 = full-vocabulary KL; k > 0 = teacher's top-k logits only
    z_loss: float = 0.0  # weight of the z-loss mean(logsumexp^2) (Busbridge et al. use 1e-4)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, d: dict, *, where: str = "config") -> "TrainConfig":
        """Build and validate; UserError naming any unknown key or mistyped value."""
        if not isinstance(d, dict):
            raise UserError(f"{where}: expected a table of settings, got {type(d).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = [k for k in d if k not in known]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "; see scalelaw.train.TrainConfig for the keys"
            raise UserError(f"{where}: unknown key {unknown[0]!r}{hint}")
        kw = {}
        for k, v in d.items():
            kw[k] = _coerce(k, v, known[k].type, where)
        cfg = cls(**kw)
        cfg.validate(where)
        return cfg

    @classmethod
    def from_toml(cls, path) -> "TrainConfig":
        """Read a flat TOML file; relative corpus / teacher_dir paths are relative to the file."""
        p = Path(path)
        if not p.is_file():
            raise UserError(f"{p}: no such config file")
        try:
            d = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as e:
            raise UserError(f"{p}: invalid TOML ({e})") from None
        except UnicodeDecodeError:
            raise UserError(f"{p}: not a UTF-8 text file") from None
        for key in ("corpus", "teacher_dir"):
            v = d.get(key)
            if isinstance(v, str) and v and v != "synthetic" and not Path(v).is_absolute():
                d[key] = str(p.parent / v)
        return cls.from_dict(d, where=str(p))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self, where: str = "config") -> None:
        def bad(key, msg):
            raise UserError(f"{where}: key {key!r}: {msg}")

        if self.role not in ROLES:
            bad("role", f"expected one of {', '.join(ROLES)}, got {self.role!r}")
        if self.lr_rule not in LR_RULES:
            bad("lr_rule", f"expected one of {', '.join(LR_RULES)}, got {self.lr_rule!r}")
        if self.split not in SPLITS:
            bad("split", f"expected one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.dtype not in DTYPES:
            bad("dtype", f"expected one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for key in ("n_layer", "d_model", "n_head", "block_size", "tokens", "batch_size", "grad_accum",
                    "head_dim", "eval_tokens"):
            if getattr(self, key) < 1:
                bad(key, f"must be >= 1, got {getattr(self, key)}")
        for key in ("d_ff", "vocab_size", "target_params", "eval_every", "ckpt_every", "distill_topk", "cpu_threads"):
            if getattr(self, key) < 0:
                bad(key, f"must be >= 0, got {getattr(self, key)}")
        for key in ("lr", "distill_tau", "aspect_ratio"):
            if not getattr(self, key) > 0:
                bad(key, f"must be > 0, got {getattr(self, key)}")
        for key in ("weight_decay", "grad_clip", "z_loss"):
            if getattr(self, key) < 0:
                bad(key, f"must be >= 0, got {getattr(self, key)}")
        for key in ("min_lr_ratio", "distill_lambda", "beta1", "beta2"):
            if not 0 <= getattr(self, key) <= 1:
                bad(key, f"must be in [0, 1], got {getattr(self, key)}")
        if not 0 < self.val_fraction < 1:
            bad("val_fraction", f"must be in (0, 1), got {self.val_fraction}")
        if self.target_params == 0 and self.d_model % self.n_head:
            bad("n_head", f"d_model={self.d_model} is not divisible by n_head={self.n_head}")
        if self.role == "student" and not self.teacher_dir:
            bad("teacher_dir", "a student needs the run directory of its teacher")

    # ------------------------------------------------------------------ derived
    def resolve_shape(self, vocab: int) -> dict:
        """The concrete architecture: n_layer, d_model, n_head, d_ff, vocab, n_ctx, tied, qk_norm."""
        if self.target_params > 0:
            n_layer, d_model = preset_shape(self.target_params, self.aspect_ratio, self.head_dim,
                                            qk_norm=self.qk_norm)
            n_head = d_model // self.head_dim
            d_ff = swiglu_hidden(d_model)
        else:
            n_layer, d_model, n_head = self.n_layer, self.d_model, self.n_head
            d_ff = self.d_ff or swiglu_hidden(d_model)
        return dict(n_layer=n_layer, d_model=d_model, n_head=n_head, d_ff=d_ff, vocab=vocab,
                    n_ctx=self.block_size, tie_embeddings=self.tie_embeddings, qk_norm=self.qk_norm)

    def effective_split(self) -> str:
        if self.split != "auto":
            return self.split
        return {"teacher": "teacher", "student": "student"}.get(self.role, "all")


def preset_shape(target: int, aspect_ratio: float, head_dim: int, *, qk_norm: bool = False) -> tuple[int, int]:
    """(n_layer, d_model) for a non-embedding parameter target at a fixed aspect ratio.

    With N ~ 12 n_layer d^2 and d = rho n_layer, n_layer ~ (N / (12 rho^2))^(1/3). Both integer
    neighbours are tried; for each, d_model is the multiple of head_dim whose exact count is
    closest to the target (in log), and the candidate whose d/n_layer is closest to rho wins.
    """
    L0 = (target / (12.0 * aspect_ratio**2)) ** (1.0 / 3.0)
    best = None
    for L in sorted({max(1, math.floor(L0)), max(1, math.ceil(L0))}):
        def n_of(d):
            return param_counts(L, d, swiglu_hidden(d), d // head_dim, 1, qk_norm=qk_norm)["nonembedding"]
        d_guess = max(head_dim, round((target / (12.0 * L)) ** 0.5 / head_dim) * head_dim)
        cands = [d for d in (d_guess - head_dim, d_guess, d_guess + head_dim) if d >= head_dim]
        d = min(cands, key=lambda d: abs(math.log(n_of(d) / target)))
        score = abs(math.log((d / L) / aspect_ratio))
        if best is None or score < best[0]:
            best = (score, L, d)
    return best[1], best[2]


def _coerce(key: str, v, typ, where: str):
    t = typ if isinstance(typ, type) else {"str": str, "int": int, "float": float, "bool": bool}[typ]
    if t is bool:
        if isinstance(v, bool):
            return v
    elif t is int:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, float) and v.is_integer():  # 5e5 in TOML is a float
            return int(v)
    elif t is float:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    elif t is str:
        if isinstance(v, str):
            return v
    raise UserError(f"{where}: key {key!r}: expected {t.__name__}, got {type(v).__name__} {v!r}")
