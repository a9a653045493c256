"""Reference losses for language modelling, in nats/token on val and test.

Add-one unigram and bigram models (:func:`ngram_baselines`) and an interpolated modified
Kneser-Ney n-gram model (:class:`seqlab.baselines.ngram.NGramLM`), all fitted on the train
stream; :func:`text_baselines` gathers them into the ``spec.extra`` entries.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import torch

from seqlab.baselines.ngram import NGramLM
from seqlab.utils.files import atomic_write_text

CACHE_FORMAT = 1


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
    streams: dict[str, torch.Tensor],
    vocab_size: int,
    ngram_order: int,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """``baseline_*`` entries of ``spec.extra`` for token ``streams`` (train, val, test).

    ``ngram_order=0`` skips the Kneser-Ney model (the slowest to fit). With ``cache_dir`` the
    result is kept on disk, keyed by a hash of the token streams, the vocabulary size and the
    order: a run on the same data starts without refitting (seconds on the plays).
    """
    cache = _cache_file(streams, vocab_size, ngram_order, cache_dir)
    if cache is not None and cache.is_file():
        try:
            return json.loads(cache.read_text())
        except ValueError:
            pass  # a corrupt entry: refit and overwrite
    out = _fit_baselines(streams, vocab_size, ngram_order)
    if cache is not None:
        atomic_write_text(cache, json.dumps(out))
    return out


def _cache_file(streams, vocab_size: int, ngram_order: int, cache_dir: str | None) -> Path | None:
    if cache_dir is None:
        return None
    h = hashlib.sha256(f"ngram|v{CACHE_FORMAT}|{vocab_size}|{ngram_order}|".encode())
    for name in ("train", "val", "test"):
        h.update(name.encode())
        h.update(streams[name].to(torch.int64).numpy().tobytes())
    return Path(cache_dir).expanduser() / f"ngram-{h.hexdigest()[:24]}.json"


def _fit_baselines(
    streams: dict[str, torch.Tensor], vocab_size: int, ngram_order: int
) -> dict[str, Any]:
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
