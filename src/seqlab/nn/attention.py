"""Multi-head attention, written out: project, split into heads, attend, merge, project.

    Q = X_q W_q + b_q,  K = X_k W_k + b_k,  V = X_v W_v + b_v       (each split into H heads)
    head_h = softmax(Q_h K_hᵀ / √d_head + mask) V_h
    out = [head_1, ..., head_H] W_o + b_o

Two implementations of the core, same weights:

- ``impl="sdpa"``: ``torch.nn.functional.scaled_dot_product_attention`` (flash / memory-efficient
  kernels on GPU, fused math on CPU). Cannot return the attention weights.
- ``impl="naive"``: the softmax written out; the only path that returns weights. A call with
  ``need_weights=True`` on an sdpa module uses it for that call.

Masks use one convention throughout: a bool ``attn_mask`` is True where a query MAY attend a key
(as in ``scaled_dot_product_attention``, and the opposite of ``nn.MultiheadAttention``'s bool
``attn_mask``); ``key_padding_mask`` (B, Tk) is True at padding keys, which are ignored (as in
``nn.MultiheadAttention``). A query row whose keys are all masked gives NaN, as in torch.

Incremental decoding: pass a `KVCache` and feed only the new steps; the keys/values of earlier
steps come from the cache. With ``is_causal=True`` the new query at absolute position p attends
keys 0..p (the causal mask is aligned to the bottom-right corner of the (Tq, Tk) score matrix).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import SeqlabError

__all__ = ["KVCache", "MultiHeadAttention", "causal_mask", "load_from_torch_mha"]


def causal_mask(
    t: int, device: torch.device | str | None = None, *, tk: int | None = None
) -> Tensor:
    """(t, tk) bool, True where query i may attend key j, i.e. j <= i + (tk - t).

    tk defaults to t (the lower triangle). With tk > t the queries are the last t of tk steps
    (incremental decoding with a cache of tk - t earlier steps).
    """
    tk = t if tk is None else tk
    i = torch.arange(t, device=device)[:, None]
    j = torch.arange(tk, device=device)[None, :]
    return j <= i + (tk - t)


class KVCache:
    """Projected keys and values of one attention layer, each (B, H, T_cached, d_head).

    ``static=False`` (self-attention): every call appends the new steps' keys/values.
    ``static=True`` (cross-attention over a fixed memory): the first call projects and stores the
    memory's keys/values, later calls reuse them and ignore their key/value arguments; use a
    fresh cache (or `reset`) for a new memory.
    """

    def __init__(self, *, static: bool = False) -> None:
        self.static = static
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    @property
    def seq_len(self) -> int:
        """Number of cached steps (= position of the next step for self-attention)."""
        return 0 if self.k is None else self.k.shape[-2]

    @property
    def filled(self) -> bool:
        return self.k is not None

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append k, v (B, H, T_new, d_head); return all cached keys and values."""
        if self.k is None or self.static:
            self.k, self.v = k, v
        else:
            self.k = torch.cat([self.k, k], dim=-2)  # (B, H, T_cached + T_new, d_head)
            self.v = torch.cat([self.v, v], dim=-2)
        return self.k, self.v

    def reset(self) -> None:
        self.k = self.v = None

    def __repr__(self) -> str:
        shape = None if self.k is None else tuple(self.k.shape)
        return f"KVCache(static={self.static}, k={shape})"


def _merge_masks(
    attn_mask: Tensor | None,
    key_padding_mask: Tensor | None,
    is_causal: bool,
    tq: int,
    tk: int,
    device: torch.device,
) -> Tensor | None:
    # -> bool, True = may attend, broadcastable to (B, H, Tq, Tk); None = attend everywhere
    mask = None
    if attn_mask is not None:
        if attn_mask.dtype != torch.bool:
            raise TypeError(
                f"attn_mask must be a bool tensor (True = may attend), got {attn_mask.dtype}"
            )
        mask = attn_mask
    if key_padding_mask is not None:
        if key_padding_mask.dtype != torch.bool:
            raise TypeError(
                f"key_padding_mask must be a bool tensor (True = padding), got {key_padding_mask.dtype}"
            )
        if key_padding_mask.dim() != 2 or key_padding_mask.shape[-1] != tk:
            raise ValueError(
                f"expected key_padding_mask of shape (batch, {tk}), got {tuple(key_padding_mask.shape)}"
            )
        keep = ~key_padding_mask[:, None, None, :]  # (B, 1, 1, Tk)
        mask = keep if mask is None else mask & keep
    if is_causal and tq > 1:  # a single new query may attend every cached key
        causal = causal_mask(tq, device, tk=tk)  # (Tq, Tk)
        mask = causal if mask is None else mask & causal
    return mask


class MultiHeadAttention(nn.Module):
    def __init__(
        self,
        *,
        dim: int,
        n_head: int,
        dropout: float = 0.0,
        bias: bool = True,
        kdim: int | None = None,
        vdim: int | None = None,
        impl: str = "sdpa",
    ) -> None:
        super().__init__()
        if dim % n_head != 0:
            raise SeqlabError(
                f"attention dim ({dim}) must be divisible by n_head ({n_head}): "
                f"pick n_head among the divisors of {dim}"
            )
        if impl not in ("sdpa", "naive"):
            raise SeqlabError(
                f"attention impl must be 'sdpa' (fused kernels) or 'naive' (softmax written out), "
                f"got {impl!r}"
            )
        self.dim = dim
        self.n_head = n_head
        self.head_dim = dim // n_head
        self.dropout = float(dropout)
        self.kdim = dim if kdim is None else kdim
        self.vdim = dim if vdim is None else vdim
        self.impl = impl
        self.q_proj = nn.Linear(dim, dim, bias=bias)
        self.k_proj = nn.Linear(self.kdim, dim, bias=bias)
        self.v_proj = nn.Linear(self.vdim, dim, bias=bias)
        self.out_proj = nn.Linear(dim, dim, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # as nn.MultiheadAttention: Xavier-uniform projections, zero biases
        for lin in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            nn.init.xavier_uniform_(lin.weight)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)

    def _split(self, x: Tensor) -> Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, d_head)

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        attn_mask: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
        kv_cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """query (B, Tq, dim), key (B, Tk, kdim), value (B, Tk, vdim); key=None: self-attention.

        Returns out (B, Tq, dim) and, with need_weights, the per-head attention weights
        (B, H, Tq, Tk) (average over dim 1 for nn.MultiheadAttention's default), else None.
        With a cache, Tk counts cached plus new keys, and masks must cover all Tk keys.
        """
        if query.dim() != 3 or query.shape[-1] != self.dim:
            raise ValueError(
                f"expected query of shape (batch, time, {self.dim}), got {tuple(query.shape)}"
            )
        key = query if key is None else key
        value = key if value is None else value
        q = self._split(self.q_proj(query))  # (B, H, Tq, d_head)
        if kv_cache is not None and kv_cache.static and kv_cache.filled:
            k, v = kv_cache.k, kv_cache.v  # memory already projected
        else:
            k = self._split(self.k_proj(key))  # (B, H, Tk_new, d_head)
            v = self._split(self.v_proj(value))
            if kv_cache is not None:
                k, v = kv_cache.update(k, v)  # (B, H, Tk, d_head)
        tq, tk = q.shape[-2], k.shape[-2]
        dropout_p = self.dropout if self.training else 0.0

        weights = None
        if self.impl == "sdpa" and not need_weights:
            if is_causal and tq == tk and attn_mask is None and key_padding_mask is None:
                # no explicit mask: lets torch pick the flash kernel
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
            else:
                mask = _merge_masks(attn_mask, key_padding_mask, is_causal, tq, tk, q.device)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        else:
            mask = _merge_masks(attn_mask, key_padding_mask, is_causal, tq, tk, q.device)
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, Tq, Tk)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = F.dropout(scores.softmax(dim=-1), dropout_p, self.training)
            y = weights @ v  # (B, H, Tq, d_head)
        y = y.transpose(1, 2).reshape(query.shape[0], tq, self.dim)  # (B, Tq, dim), heads merged
        return self.out_proj(y), weights if need_weights else None

    @torch.no_grad()
    def copy_weights_from(self, src: nn.MultiheadAttention) -> MultiHeadAttention:
        load_from_torch_mha(self, src)
        return self

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_head={self.n_head}, dropout={self.dropout}, impl={self.impl!r}"


@torch.no_grad()
def load_from_torch_mha(ours: MultiHeadAttention, torch_mha: nn.MultiheadAttention) -> None:
    """Copy the weights of a ``torch.nn.MultiheadAttention`` into ours (same dims and heads).

    torch stores q/k/v as one ``in_proj_weight`` (3*dim, dim) when kdim == vdim == dim, else as
    ``q_proj_weight`` / ``k_proj_weight`` / ``v_proj_weight``; the biases are always one
    ``in_proj_bias`` (3*dim,).
    """
    t = torch_mha
    got = (t.embed_dim, t.num_heads, t.kdim, t.vdim, t.in_proj_bias is not None)
    want = (ours.dim, ours.n_head, ours.kdim, ours.vdim, ours.q_proj.bias is not None)
    if got != want:
        raise ValueError(
            f"cannot copy nn.MultiheadAttention (dim, n_head, kdim, vdim, bias) = {got} "
            f"into MultiHeadAttention with {want}"
        )
    if t.bias_k is not None:
        raise ValueError("nn.MultiheadAttention with add_bias_kv=True has no equivalent here")
    if t._qkv_same_embed_dim:
        wq, wk, wv = t.in_proj_weight.chunk(3)
    else:
        wq, wk, wv = t.q_proj_weight, t.k_proj_weight, t.v_proj_weight
    for lin, w in ((ours.q_proj, wq), (ours.k_proj, wk), (ours.v_proj, wv)):
        lin.weight.copy_(w)
    ours.out_proj.weight.copy_(t.out_proj.weight)
    if t.in_proj_bias is not None:
        for lin, b in zip(
            (ours.q_proj, ours.k_proj, ours.v_proj), t.in_proj_bias.chunk(3), strict=True
        ):
            lin.bias.copy_(b)
        ours.out_proj.bias.copy_(t.out_proj.bias)
