"""Corpora: the synthetic language's stated entropy vs empirical estimates; splits; token files."""

import json

import numpy as np
import pytest

from scalelaw.errors import UserError
from scalelaw.train.corpus import TokenCorpus, load_corpus, write_token_file
from scalelaw.train.synthetic import SyntheticLanguage


def test_synthetic_rows_are_distributions():
    P = SyntheticLanguage().transition_matrix()
    np.testing.assert_allclose(P.sum(-1), 1.0, atol=1e-12)


def test_stated_entropy_matches_plug_in_estimate():
    """Count-based conditional entropy of the next token given (language, previous token) on 2M
    sampled tokens (Miller-Madow bias correction) vs the exact floor: they must agree."""
    lang = SyntheticLanguage()
    T = 64
    docs = lang.sample(32_000, T + 1, np.random.default_rng(123))  # ~2M target tokens
    K, V = lang.n_languages, lang.n_content
    m = np.repeat(docs[:, :1], T, axis=1)
    prev = np.concatenate([np.full((len(docs), 1), V), docs[:, 1:-1] - K], axis=1)  # V = "start" context
    nxt = docs[:, 1:] - K
    ctx = (m * (V + 1) + prev).ravel()
    counts = np.zeros((K * (V + 1), V))
    np.add.at(counts, (ctx, nxt.ravel()), 1)
    n_ctx = counts.sum(1)
    used = n_ctx > 0
    c, n = counts[used], n_ctx[used]
    with np.errstate(divide="ignore", invalid="ignore"):
        h_ctx = -np.where(c > 0, c / n[:, None] * np.log(c / n[:, None]), 0).sum(1)
    mm = ((c > 0).sum(1) - 1) / (2 * n)  # Miller-Madow correction per context
    estimate = float(((h_ctx + mm) * n).sum() / n.sum())
    assert abs(estimate - lang.optimal_loss(T)) < 0.01


def test_true_model_nll_matches_stated_entropy():
    """Monte Carlo: the mean true -log p of sampled tokens equals the exact floor within 4 SE."""
    lang = SyntheticLanguage(seed=3)
    docs = lang.sample(8000, 33, np.random.default_rng(7))
    per_doc = lang.nll(docs).mean(1)
    se = per_doc.std(ddof=1) / np.sqrt(len(per_doc))
    assert abs(per_doc.mean() - lang.optimal_loss(32)) < 4 * se
    assert lang.entropy_rate() < lang.optimal_loss(32) < np.log(lang.n_content)


def test_synthetic_batches_are_deterministic_and_splits_independent():
    c = load_corpus("synthetic", seed=0)
    a = c.batch("teacher", (0, 5, 0, 0), 4, 16)
    np.testing.assert_array_equal(a, c.batch("teacher", (0, 5, 0, 0), 4, 16))
    assert not np.array_equal(a, c.batch("student", (0, 5, 0, 0), 4, 16))
    np.testing.assert_array_equal(c.validation(256, 16), load_corpus("synthetic", seed=0).validation(256, 16))
    assert a.shape == (4, 17) and a.max() < c.vocab_size


def test_file_corpus_splits_are_disjoint(tmp_path):
    tokens = np.arange(10_000) % 500
    c = TokenCorpus(tokens, 500, "x", val_fraction=0.1)
    t_lo, t_hi = c.regions["teacher"]
    s_lo, s_hi = c.regions["student"]
    v_lo, v_hi = c.regions["val"]
    assert t_hi <= s_lo and s_hi <= v_lo and v_hi == 10_000
    pos = np.arange(10_000)
    c2 = TokenCorpus(pos, 10_000, "pos", val_fraction=0.1)
    for step in range(20):
        b = c2.batch("teacher", (0, step, 0, 0), 8, 32)
        assert b.max() < t_hi
        b = c2.batch("student", (0, step, 0, 0), 8, 32)
        assert b.min() >= s_lo and b.max() < s_hi
    v = c2.validation(10**6, 32)
    assert v.min() >= v_lo and len(np.unique(v)) == v.size


def test_text_and_token_files(tmp_path):
    (tmp_path / "a.txt").write_text("hello world " * 100)
    c = load_corpus(str(tmp_path / "a.txt"))
    assert c.vocab_size == 256 and len(c.tokens) == 1200
    d = tmp_path / "dir"
    d.mkdir()
    (d / "x.txt").write_text("abc" * 50)
    (d / "y.txt").write_text("xyz" * 50)
    assert len(load_corpus(str(d)).tokens) == 300
    p = write_token_file(tmp_path / "toks", np.arange(5000) % 1000, 1000)
    tc = load_corpus(str(p))
    assert tc.vocab_size == 1000 and json.loads(p.with_suffix(".json").read_text())["dtype"] == "uint16"
    np.testing.assert_array_equal(tc.tokens[:5], [0, 1, 2, 3, 4])


@pytest.mark.parametrize("make,msg", [
    (lambda p: p / "missing.txt", "no such file"),
    (lambda p: (p / "e.txt").write_text("") or p / "e.txt", "empty"),
    (lambda p: ((p / "t.bin").write_bytes(b"\0\0"), p / "t.bin")[1], "side-car"),
    (lambda p: (p / "sub").mkdir() or p / "sub", "no .txt"),
])
def test_bad_corpora_raise_user_error(tmp_path, make, msg):
    with pytest.raises(UserError, match=msg):
        load_corpus(str(make(tmp_path)))
