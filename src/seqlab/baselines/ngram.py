"""Interpolated Kneser–Ney n-gram language model over token ids: an honest baseline.

A model that cannot beat this on held-out text has not learned more than local
spelling/word statistics. Works for any vocabulary (characters or BPE ids).

Smoothing: **interpolated Kneser–Ney** (Chen & Goodman 1998, eq. for "interpolated KN"):

    P_k(w | h) = max(c_k(h w) - D_k(c), 0) / c_k(h .)  +  gamma_k(h) * P_{k-1}(w | h')

with ``h'`` the context ``h`` without its oldest token, ``gamma_k(h) = sum_w D_k(c_k(h w))
/ c_k(h .)`` (exactly the mass taken off, so every ``P_k(. | h)`` sums to 1), and
``P_0(w) = 1 / V`` (uniform, so unseen tokens still cost a finite amount). The counts
``c_k`` are raw counts at the highest order and *continuation counts* (the number of
distinct tokens seen just before ``h w``) at the lower orders. A context never seen in
training backs off entirely (``gamma = 1``).

``discount`` is either one absolute discount ``D`` for every count and order (the classic
setting, default 0.75), or ``None`` for *modified* KN: three discounts per order (for
counts 1, 2 and 3+) estimated from the count-of-counts, ``Y = n1 / (n1 + 2 n2)``,
``D_r = r - (r + 1) Y n_{r+1} / n_r``.

Implementation: fully vectorised, one pass per order, no Python loop over tokens. Each
distinct k-gram gets a dense id: ``key = id(prefix (k-1)-gram) * V + last token``, made
dense by ``np.unique``. Keys are therefore below ``(#distinct (k-1)-grams) * V`` and never
overflow int64, whatever ``V ** order`` is (no hashing, no collisions). Lookups at
evaluation use ``np.searchsorted`` on the sorted key table of each order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


def _as_ids(ids: np.ndarray | torch.Tensor | Sequence[int], vocab_size: int) -> np.ndarray:
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"token ids must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"token ids must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        raise ValueError(
            f"token ids must lie in [0, vocab_size={vocab_size}); got range "
            f"[{arr.min()}, {arr.max()}]"
        )
    return arr


def _gather(table: np.ndarray, index: np.ndarray, fill: float) -> np.ndarray:
    """``table[index]`` where ``index >= 0``, else ``fill``."""
    if table.size == 0:
        return np.full(index.shape, fill, dtype=np.float64)
    return np.where(index >= 0, table[np.maximum(index, 0)], fill)


def _discounts(counts: np.ndarray, discount: float | None) -> tuple[float, float, float]:
    """(D1, D2, D3+) for one order: fixed, or modified-KN estimates from count-of-counts."""
    if discount is not None:
        return (discount, discount, discount)
    n = np.bincount(np.minimum(counts, 5), minlength=6)[1:5].astype(np.float64)  # n1..n4
    if n[0] <= 0 or n[1] <= 0:
        return (0.75, 0.75, 0.75)  # too little data to estimate: classic default
    y = n[0] / (n[0] + 2.0 * n[1])
    out = []
    for r in (1, 2, 3):
        nr, nr1 = n[r - 1], n[r]
        d = r - (r + 1) * y * nr1 / nr if nr > 0 else 0.75
        out.append(float(min(max(d, 1e-3), r)))
    return (out[0], out[1], out[2])


class NGramLM:
    """Interpolated Kneser–Ney n-gram LM: context of up to ``order - 1`` tokens.

    ``NGramLM(order=5).fit(train_ids, vocab_size).nll(val_ids)`` -> nats/token.
    """

    def __init__(self, order: int = 5, discount: float | None = 0.75):
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise ValueError(f"order={order!r} must be an integer >= 1")
        if discount is not None and not 0.0 < float(discount) < 1.0:
            raise ValueError(f"discount={discount!r} must be in (0, 1), or None for modified KN")
        self.order = int(order)
        self.discount = None if discount is None else float(discount)
        self.vocab_size = 0
        # Per order k = 1..order (index k-1):
        self._keys: list[np.ndarray] = []  # sorted k-gram keys (k >= 2); unused for k = 1
        self._alpha: list[np.ndarray] = []  # discounted numerator / context total, per k-gram
        self._gamma: list[np.ndarray] = []  # back-off weight per context ((k-1)-gram id)
        self.discounts: list[tuple[float, float, float]] = []

    @property
    def fitted(self) -> bool:
        return self.vocab_size > 0

    # -- fitting ------------------------------------------------------------------------

    def fit(self, train_ids: np.ndarray | torch.Tensor | Sequence[int], vocab_size: int) -> NGramLM:
        v = int(vocab_size)
        if v < 1:
            raise ValueError(f"vocab_size={vocab_size!r} must be >= 1")
        t = _as_ids(train_ids, v)
        if t.size == 0:
            raise ValueError("cannot fit an n-gram model on an empty token sequence")
        n_ord = self.order

        # gid[k-1]: dense id of the k-gram ending at each position i = k-1 .. n-1.
        # keys[k-1]: sorted distinct keys (prefix id * V + token); gram id = index in it.
        gids: list[np.ndarray] = [t]
        keys: list[np.ndarray] = [np.arange(v, dtype=np.int64)]
        for k in range(2, n_ord + 1):
            prev = gids[-1]
            if prev.size < 2:
                gids.append(np.zeros(0, dtype=np.int64))
                keys.append(np.zeros(0, dtype=np.int64))
                continue
            uniq, inv = np.unique(prev[:-1] * v + t[k - 1 :], return_inverse=True)
            gids.append(inv.reshape(-1).astype(np.int64, copy=False))
            keys.append(uniq.astype(np.int64, copy=False))

        # Numerator counts: raw at the top order, continuation counts below it.
        counts: list[np.ndarray] = []
        for k in range(1, n_ord + 1):
            n_grams = keys[k - 1].size
            if k == n_ord:
                counts.append(np.bincount(gids[k - 1], minlength=n_grams))
                continue
            # Continuation count of a k-gram = number of distinct (k+1)-grams ending in it.
            higher = gids[k]
            suffix = np.zeros(keys[k].size, dtype=np.int64)
            suffix[higher] = gids[k - 1][1:]  # the k-gram ending where each (k+1)-gram ends
            counts.append(np.bincount(suffix, minlength=n_grams) if suffix.size else
                          np.zeros(n_grams, dtype=np.int64))  # fmt: skip

        self._keys, self._alpha, self._gamma, self.discounts = [], [], [], []
        for k in range(1, n_ord + 1):
            c = counts[k - 1].astype(np.int64)
            d1, d2, d3 = _discounts(c, self.discount)
            d_of_c = np.select([c == 1, c == 2, c >= 3], [d1, d2, d3], 0.0)
            if k == 1:
                ctx = np.zeros(c.size, dtype=np.int64)  # one (empty) context
                n_ctx = 1
            else:
                ctx = keys[k - 1] // v  # prefix (k-1)-gram id of each k-gram
                n_ctx = keys[k - 2].size
            total = np.bincount(ctx, weights=c.astype(np.float64), minlength=n_ctx)
            mass = np.bincount(ctx, weights=d_of_c, minlength=n_ctx)
            seen = total > 0
            safe = np.where(seen, total, 1.0)
            gamma = np.where(seen, mass / safe, 1.0)
            alpha = np.where(seen[ctx], np.maximum(c - d_of_c, 0.0) / safe[ctx], 0.0)
            self._keys.append(keys[k - 1])
            self._alpha.append(alpha)
            self._gamma.append(gamma)
            self.discounts.append((d1, d2, d3))
        self.vocab_size = v
        # Order-1 distribution, interpolated with uniform: a dense (V,) table.
        self._p1 = self._alpha[0] + self._gamma[0][0] / v
        return self

    # -- scoring ------------------------------------------------------------------------

    def _lookup(self, k: int, ctx_id: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Dense id of the k-gram (context id, target) (k >= 2); -1 if unseen."""
        table = self._keys[k - 1]
        out = np.full(target.shape, -1, dtype=np.int64)
        ok = ctx_id >= 0
        if table.size == 0 or not ok.any():
            return out
        q = ctx_id[ok] * self.vocab_size + target[ok]
        pos = np.minimum(np.searchsorted(table, q), table.size - 1)
        out[ok] = np.where(table[pos] == q, pos, -1)
        return out

    def _prob(self, contexts: list[np.ndarray], target: np.ndarray) -> np.ndarray:
        """P(target | context); ``contexts[j-1]`` = id of the j-gram context (-1: none)."""
        p = self._p1[target]
        for k in range(2, self.order + 1):
            ctx = contexts[k - 2]
            gram = self._lookup(k, ctx, target)
            alpha = _gather(self._alpha[k - 1], gram, 0.0)
            gamma = _gather(self._gamma[k - 1], ctx, 1.0)
            p = alpha + gamma * p
        return p

    def _stream_gram_ids(self, x: np.ndarray) -> list[np.ndarray]:
        """ids[j-1][i]: id of the j-gram ending at position i of ``x`` (-1: unseen/too short)."""
        ids = [x.copy()]
        for j in range(2, self.order):
            prev = np.full(x.shape, -1, dtype=np.int64)
            prev[1:] = ids[-1][:-1]
            ids.append(self._lookup(j, prev, x))
        return ids

    def log_probs(self, ids: np.ndarray | torch.Tensor | Sequence[int]) -> np.ndarray:
        """log P(ids[i] | ids[max(0, i-order+1) : i]) for every position i (nats)."""
        self._check_fitted()
        x = _as_ids(ids, self.vocab_size)
        contexts = []
        for g in self._stream_gram_ids(x):  # context of position i = gram ending at i - 1
            shifted = np.full(x.shape, -1, dtype=np.int64)
            shifted[1:] = g[:-1]
            contexts.append(shifted)
        return np.log(self._prob(contexts, x))

    def nll(self, ids: np.ndarray | torch.Tensor | Sequence[int]) -> float:
        """Mean negative log-likelihood (nats/token) of ``ids[1:]``; the first token has no
        context and is not scored (same positions as the unigram/bigram baselines)."""
        lp = self.log_probs(ids)
        if lp.size < 2:
            raise ValueError("need at least 2 tokens to score")
        return float(-lp[1:].mean())

    def next_token_probs(self, context: np.ndarray | torch.Tensor | Sequence[int]) -> np.ndarray:
        """P(w | context) for every w in the vocabulary: a (V,) array summing to 1."""
        self._check_fitted()
        v = self.vocab_size
        ctx = _as_ids(context, v)
        contexts = []
        grams = self._stream_gram_ids(ctx) if ctx.size else []
        for j in range(1, self.order):
            last = int(grams[j - 1][-1]) if ctx.size else -1
            contexts.append(np.full(v, last, dtype=np.int64))
        return self._prob(contexts, np.arange(v, dtype=np.int64))

    def bits_per_token(self, ids: np.ndarray | torch.Tensor | Sequence[int]) -> float:
        return self.nll(ids) / math.log(2.0)

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError("NGramLM is not fitted: call .fit(train_ids, vocab_size) first")

    def __repr__(self) -> str:
        d = "modified-KN" if self.discount is None else f"D={self.discount}"
        return f"NGramLM(order={self.order}, {d}, vocab_size={self.vocab_size})"
