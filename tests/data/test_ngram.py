"""Interpolated Kneser–Ney n-gram baseline: exactness, normalisation, quality, edge cases."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from seqlab.baselines.ngram import NGramLM
from seqlab.data.text.datamodule import load_corpus, ngram_baselines
from seqlab.data.text.tokenizers import CharTokenizer


def _reference_log_probs(train, ids, order, vocab_size, discounts):
    """Textbook interpolated KN with plain dicts, one token at a time (slow, for checking)."""
    grams = {k: Counter(tuple(train[i - k + 1 : i + 1]) for i in range(k - 1, len(train)))
             for k in range(1, order + 2)}  # fmt: skip

    def count(g: tuple) -> int:
        k = len(g)
        if k == order:
            return grams[k][g]
        return sum(1 for h in grams[k + 1] if h[1:] == g)  # distinct left extensions

    def disc(k: int, c: int) -> float:
        d1, d2, d3 = discounts[k - 1]
        return 0.0 if c == 0 else d1 if c == 1 else d2 if c == 2 else d3

    def prob(w: int, h: tuple) -> float:
        k = len(h) + 1
        lower = 1.0 / vocab_size if k == 1 else prob(w, h[1:])
        cs = [count((*h, u)) for u in range(vocab_size)]
        total = sum(cs)
        if total == 0:
            return lower
        mass = sum(disc(k, c) for c in cs)
        return max(cs[w] - disc(k, cs[w]), 0.0) / total + mass / total * lower

    return [math.log(prob(ids[i], tuple(ids[max(0, i - order + 1) : i]))) for i in range(len(ids))]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("discount", [0.75, None])
def test_matches_textbook_kneser_ney(order, discount):
    rng = np.random.default_rng(order)
    v = 5  # token 4 never occurs in training
    train = rng.choice(4, size=120, p=[0.5, 0.3, 0.15, 0.05]).tolist()
    held_out = [*rng.integers(0, 4, size=25).tolist(), 4, 0, 1]
    lm = NGramLM(order, discount).fit(np.array(train), v)
    expected = _reference_log_probs(train, held_out, order, v, lm.discounts)
    np.testing.assert_allclose(lm.log_probs(held_out), expected, rtol=1e-9, atol=1e-12)
    assert lm.nll(held_out) == pytest.approx(-np.mean(expected[1:]))


@pytest.mark.parametrize("discount", [0.75, None])
def test_probabilities_sum_to_one(discount):
    text = load_corpus(plays=["macbeth"], max_chars=30_000)
    tok = CharTokenizer.fit(text)
    lm = NGramLM(5, discount).fit(tok.encode_tensor(text), tok.vocab_size)
    contexts = ["", "T", "MACBETH:\nIs this a dag", "the kin", "zqxj", "Ω\n"]  # Ω -> <unk>
    for ctx in contexts:
        p = lm.next_token_probs(tok.encode(ctx))
        assert p.shape == (tok.vocab_size,) and (p > 0).all(), ctx
        assert p.sum() == pytest.approx(1.0, abs=1e-9), ctx
    dagger = lm.next_token_probs(tok.encode("Is this a dagge"))
    assert tok.itos[int(dagger.argmax())] == "r"


def test_huge_vocabulary_does_not_overflow():
    # V ** order = 1e30 would overflow int64 keys; dense per-order ids keep them small.
    v, order = 100_000, 6
    rng = np.random.default_rng(0)
    phrase = rng.integers(0, v, size=40)
    train = np.concatenate([phrase] * 30 + [rng.integers(0, v, size=2_000)])
    lm = NGramLM(order, None).fit(torch.from_numpy(train), v)
    assert lm.nll(np.concatenate([phrase, phrase])) < 0.2
    p = lm.next_token_probs(phrase[:10])
    assert p.sum() == pytest.approx(1.0, abs=1e-9) and int(p.argmax()) == phrase[10]


def test_repeated_string_is_learned_to_near_zero_nll():
    tok = CharTokenizer.fit("abcd")
    lm = NGramLM(4).fit(tok.encode_tensor("abcd" * 500), tok.vocab_size)
    assert lm.nll(tok.encode_tensor("abcd" * 200)) < 0.01
    full_context = lm.log_probs(tok.encode_tensor("abcd" * 20))[3:]  # 3 tokens of context
    assert -full_context.mean() < 0.002
    assert 1.0 < lm.nll(tok.encode_tensor("dcba" * 20)) < math.inf  # unseen: costly, finite


def test_beats_bigram_on_held_out_shakespeare():
    train_text = load_corpus(plays=["hamlet", "king-lear", "othello"])
    held_out = load_corpus(plays=["macbeth"], max_chars=60_000)
    tok = CharTokenizer.fit(train_text)
    train, test = tok.encode_tensor(train_text), tok.encode_tensor(held_out)
    v = tok.vocab_size
    _, laplace_bigram = ngram_baselines(train, test, v)
    kn_bigram = NGramLM(2).fit(train, v).nll(test)
    kn5 = NGramLM(5, None).fit(train, v).nll(test)
    assert kn5 < min(laplace_bigram, kn_bigram) - 0.5, (kn5, laplace_bigram, kn_bigram)
    assert 1.0 < kn5 < 2.2  # nats/char: plausible for ~480k chars of training text


def test_numpy_and_torch_inputs_agree_and_bad_inputs_raise():
    ids = np.array([0, 1, 2, 1, 0, 2, 2, 1])
    a = NGramLM(3).fit(ids, 3)
    b = NGramLM(3).fit(torch.from_numpy(ids), 3)
    assert a.nll(ids) == b.nll(torch.from_numpy(ids)) == b.nll(ids.tolist())
    with pytest.raises(ValueError, match="vocab_size"):
        a.nll([0, 3])
    with pytest.raises(ValueError, match="order"):
        NGramLM(0)
    with pytest.raises(ValueError, match="discount"):
        NGramLM(3, discount=1.5)
    with pytest.raises(RuntimeError, match="not fitted"):
        NGramLM(3).nll(ids)
    short = NGramLM(6).fit(np.array([1, 2]), 3)  # shorter than the order: still normalised
    assert short.next_token_probs([1, 2, 1]).sum() == pytest.approx(1.0)
