"""Reference losses for language modelling, in nats/token on val and test.

Add-one unigram and bigram models (:func:`ngram_baselines`) and an interpolated modified
Kneser-Ney n-gram model (:class:`seqlab.data.ngram.NGramLM`), all fitted on the train
stream; :func:`text_baselines` gathers them into the ``spec.extra`` entries.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from seqlab.data.ngram import NGramLM


def ngram_baselines(
    train: torch.Tensor, target: torch.Tensor, vocab_size: int
) -> tuple[float, float]:
    """(unigram, bigram) NLL in nats/token of ``target``, both fitted on ``train``.

    Add-one (Laplace) smoothing for both, so unseen tokens/pairs get finite cost. Both are
    scored on the same predictions: ``target[1:]`` (bigram conditioned on ``target[:-1]``).
    Vectorised; the bigram table is kept sparse (sorted pair keys), so any vocab fits.
    """
    v = int(vocab_size)
    train = train.long()
    target = target.long()
    if target.numel() < 2 or train.numel() < 2:
        raise ValueError("need at least 2 tokens in train and target for n-gram baselines")
    prev, nxt = target[:-1], target[1:]

    uni = torch.bincount(train, minlength=v).double()
    log_p_uni = torch.log(uni + 1.0) - math.log(train.numel() + v)
    unigram = -log_p_uni[nxt].mean().item()

    train_keys = train[:-1] * v + train[1:]
    keys, counts = torch.unique(train_keys, sorted=True, return_counts=True)
    query = prev * v + nxt
    pos = torch.searchsorted(keys, query).clamp_(max=keys.numel() - 1)
    pair = torch.where(keys[pos] == query, counts[pos], torch.zeros_like(pos)).double()
    row = torch.bincount(train[:-1], minlength=v).double()
    bigram = -(torch.log(pair + 1.0) - torch.log(row[prev] + v)).mean().item()
    return float(unigram), float(bigram)


def text_baselines(
    streams: dict[str, torch.Tensor], vocab_size: int, ngram_order: int
) -> dict[str, Any]:
    """``baseline_*`` entries of ``spec.extra`` for token ``streams`` (train, val, test).

    ``ngram_order=0`` skips the Kneser-Ney model (the slowest to fit).
    """
    v = vocab_size
    uni_val, bi_val = ngram_baselines(streams["train"], streams["val"], v)
    uni_test, bi_test = ngram_baselines(streams["train"], streams["test"], v)
    out: dict[str, Any] = {
        "baseline_unigram_nll_val": uni_val,
        "baseline_bigram_nll_val": bi_val,
        "baseline_unigram_nll_test": uni_test,
        "baseline_bigram_nll_test": bi_test,
        "baseline_ngram_order": ngram_order,
    }
    if ngram_order > 0:
        # Modified Kneser-Ney (discounts estimated per order): the strongest variant.
        lm = NGramLM(ngram_order, discount=None).fit(streams["train"].numpy(), v)
        out["baseline_ngram_nll_val"] = lm.nll(streams["val"].numpy())
        out["baseline_ngram_nll_test"] = lm.nll(streams["test"].numpy())
        out["baseline_ngram_smoothing"] = "interpolated modified Kneser-Ney"
    return out
