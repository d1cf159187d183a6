"""The embedded default corpus: a Zipfian mixture of random Markov sub-languages in families.

Each document (one training sequence of T+1 tokens) is written in one of K sub-languages:

    token 0      the language marker m, drawn with Zipfian frequency p_m ~ m^-a   (m = 1..K)
    token 1      a content token, uniform over the V content tokens
    token t>=2   drawn from the language's transition row
                 P_m(. | s) = w0 G(. | s) + w1 F_f(m)(. | s) + w2 L_m(. | s)

a three-level hierarchy: a row G shared by all languages, a row per family of languages, and a
row per language. Every component row puts Zipfian mass r^-e (rank r = 1..S, e ~ U(0.5, 1.5))
on S random content tokens. Vocabulary = K markers + V content tokens (default 16 + 48 = 64).

Why this language: the shared level is a plain bigram model (learnt in a few steps); the family
and language levels need attention back to the marker and storage for (F + K) V rows, so bigger
N helps; the Zipfian language frequencies mean rare languages are seen rarely, so more D keeps
helping. Rows have high entropy, so a teacher's soft targets carry far more information per
token than one label: the regime where distillation helps a small student on few tokens.

Its loss floor is known exactly: the marker is visible, so the Bayes-optimal predictor is the
true row, and the expected per-target loss over the T targets of a sequence is

    L*(T) = (1/T) [ log V + sum_{t=2..T} sum_m p_m sum_s p_{m,t-1}(s) H(P_m(. | s)) ]

with p_{m,1} uniform and p_{m,t} = p_{m,t-1} P_m, evaluated in float64 (`optimal_loss`; the
only error is floating-point rounding, < 1e-12 nats).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class SyntheticLanguage:
    n_languages: int = 16  # K sub-languages (marker tokens 0..K-1)
    n_families: int = 4  # languages are grouped into families (language m is in family m % F)
    n_content: int = 48  # V content tokens (ids K..K+V-1)
    support: int = 4  # S candidates per sparse component row
    mix: tuple[float, float, float] = (0.4, 0.3, 0.3)  # weight of the shared / family / language rows
    zipf_languages: float = 1.0  # a: language frequency p_m ~ m^-a
    row_exponent: tuple[float, float] = (0.5, 1.5)  # e ~ U(lo, hi): component row mass ~ rank^-e
    seed: int = 0

    @property
    def vocab_size(self) -> int:
        return self.n_languages + self.n_content

    # ------------------------------------------------------------------ tables
    @cached_property
    def _tables(self):
        """Language frequencies and the three levels of sparse rows: (succ, probs, cdf) each.

        Level 0: one shared row per state (V rows); level 1: one per family and state (F*V);
        level 2: one per language and state (K*V). A next token is drawn by first choosing a
        level with probabilities `mix`, then a token from that level's row, so
        P_m(. | s) = mix0 G(. | s) + mix1 F_f(m)(. | s) + mix2 L_m(. | s) exactly.
        """
        K, F, V, S = self.n_languages, self.n_families, self.n_content, self.support
        rng = np.random.default_rng([self.seed, 0x5CA1E])
        p_lang = np.arange(1, K + 1, dtype=np.float64) ** -self.zipf_languages
        p_lang /= p_lang.sum()
        levels = []
        for n_rows in (1, F, K):
            succ = np.argsort(rng.random((n_rows, V, V)), axis=-1)[..., :S]  # (n, V, S) content ids
            e = rng.uniform(*self.row_exponent, size=(n_rows, V, 1))
            probs = np.arange(1, S + 1, dtype=np.float64) ** -e  # (n, V, S)
            probs /= probs.sum(-1, keepdims=True)
            cdf = np.cumsum(probs, -1)
            cdf[..., -1] = 1.0
            levels.append((succ, probs, cdf))
        return p_lang, levels

    def _row_index(self, level: int, m):
        return (0 * m, m % self.n_families, m)[level]

    @property
    def language_probs(self) -> np.ndarray:
        return self._tables[0]

    def transition_matrix(self) -> np.ndarray:
        """Dense (K, V, V) transition probabilities over content ids 0..V-1."""
        _, levels = self._tables
        K, V = self.n_languages, self.n_content
        m = np.arange(K)
        P = np.zeros((K, V, V))
        for level, (succ, probs, _) in enumerate(levels):
            dense = np.zeros((succ.shape[0], V, V))
            np.put_along_axis(dense, succ, probs, axis=-1)
            P += self.mix[level] * dense[self._row_index(level, m)]
        return P

    # ------------------------------------------------------------------ sampling
    def sample(self, n_docs: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """(n_docs, length) int64 documents; length = T + 1 (marker + T targets)."""
        p_lang, levels = self._tables
        K, V = self.n_languages, self.n_content
        out = np.empty((n_docs, length), dtype=np.int64)
        m = rng.choice(K, size=n_docs, p=p_lang)  # (n,)
        out[:, 0] = m
        if length == 1:
            return out
        prev = rng.integers(0, V, size=n_docs)  # content ids, 0..V-1
        out[:, 1] = prev + K
        steps = max(length - 2, 0)
        level = rng.choice(3, size=(n_docs, steps), p=np.asarray(self.mix) / sum(self.mix))
        u = rng.random((n_docs, steps))
        rows = [self._row_index(lv, m) for lv in range(3)]
        for t in range(2, length):
            nxt = np.empty_like(prev)
            for lv, (succ, _, cdf) in enumerate(levels):
                sel = level[:, t - 2] == lv
                r_idx, p_sel = rows[lv][sel], prev[sel]
                r = (u[sel, t - 2, None] > cdf[r_idx, p_sel]).sum(-1)  # rank drawn from the row's CDF
                nxt[sel] = succ[r_idx, p_sel, np.minimum(r, self.support - 1)]
            prev = nxt
            out[:, t] = prev + K
        return out

    def nll(self, docs: np.ndarray) -> np.ndarray:
        """True -log p of every target token (positions 1..T) of sampled documents: (n, T)."""
        K, V = self.n_languages, self.n_content
        P = self.transition_matrix()
        m = docs[:, :1]
        cont = docs[:, 1:] - K
        first = np.full((docs.shape[0], 1), np.log(V))
        rest = -np.log(P[m, cont[:, :-1], cont[:, 1:]])
        return np.concatenate([first, rest], axis=1)

    # ------------------------------------------------------------------ the loss floor
    def optimal_loss(self, T: int) -> float:
        """Exact expected per-target loss (nats) of the Bayes-optimal model on T-target sequences."""
        return float(np.mean(self._per_position_entropy(T)))

    def entropy_rate(self, tol: float = 1e-12, max_t: int = 100_000) -> float:
        """Per-position entropy as t -> infinity: iterate the token law to stationarity (max change < tol)."""
        p_lang = self.language_probs
        P = self.transition_matrix()
        H_row = _row_entropy(P)  # (K, V)
        dist = np.full((self.n_languages, self.n_content), 1.0 / self.n_content)
        for _ in range(max_t):
            new = np.einsum("ks,ksv->kv", dist, P)
            done = float(np.abs(new - dist).max()) < tol
            dist = new
            if done:
                break
        return float(p_lang @ (dist * H_row).sum(-1))

    def _per_position_entropy(self, T: int) -> np.ndarray:
        p_lang = self.language_probs
        P = self.transition_matrix()
        H_row = _row_entropy(P)  # (K, V) entropy of each row
        out = np.empty(T)
        out[0] = np.log(self.n_content)  # first content token is uniform
        dist = np.full((self.n_languages, self.n_content), 1.0 / self.n_content)  # law of token 1
        for t in range(1, T):
            out[t] = p_lang @ (dist * H_row).sum(-1)
            dist = np.einsum("ks,ksv->kv", dist, P)
        return out


def _row_entropy(P: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(P > 0, P * np.log(P), 0.0).sum(-1)
