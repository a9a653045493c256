"""Transformer blocks built on `seqlab.nn.attention.MultiHeadAttention` (the one attention in
seqlab): `EncoderBlock` (self-attention + feed-forward) and `DecoderBlock` (causal
self-attention + cross-attention over the encoder output + feed-forward).

Pre-norm (``norm_first=True``): x + f(LN(x)); post-norm as in "Attention is all you need"
(``norm_first=False``): LN(x + f(x)).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.nn.attention import KVCache, MultiHeadAttention
from seqlab.nn.transformer.config import TransformerConfig

_ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu}


def _attention(config: TransformerConfig) -> MultiHeadAttention:
    return MultiHeadAttention(
        dim=config.hidden_size,
        n_head=config.num_heads,
        dropout=config.dropout,
        bias=config.bias,
        impl=config.attn_impl,
    )


class MLP(nn.Module):
    """Linear -> activation (GELU or ReLU) -> Linear -> dropout, hidden width mlp_ratio * dim."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        dim, hidden = config.hidden_size, int(config.mlp_ratio * config.hidden_size)
        self.fc = nn.Linear(dim, hidden, bias=config.bias)
        self.proj = nn.Linear(hidden, dim, bias=config.bias)  # a residual projection (GPT init)
        self.drop = nn.Dropout(config.dropout)
        self.act = _ACTIVATIONS[config.activation]

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.proj(self.act(self.fc(x))))


class EncoderBlock(nn.Module):
    """Self-attention + MLP, each a residual branch; causal or not per call (GPT's block)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        dim = config.hidden_size
        self.norm_first = config.norm_first
        self.norm1 = nn.LayerNorm(dim, bias=config.bias)
        self.attn = _attention(config)
        self.drop = nn.Dropout(config.dropout)
        self.norm2 = nn.LayerNorm(dim, bias=config.bias)
        self.mlp = MLP(config)

    def forward(
        self,
        x: Tensor,
        *,
        attn_mask: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
        kv_cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        # x: (B, T, dim) -> (B, T, dim); weights (B, H, T, Tk) or None
        h = self.norm1(x) if self.norm_first else x
        a, weights = self.attn(
            h,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            is_causal=is_causal,
            kv_cache=kv_cache,
            need_weights=need_weights,
        )
        x = x + self.drop(a)
        if not self.norm_first:
            x = self.norm1(x)
        x = x + self.mlp(self.norm2(x) if self.norm_first else x)
        if not self.norm_first:
            x = self.norm2(x)
        return x, weights


class DecoderBlock(nn.Module):
    """Causal self-attention + cross-attention (queries: decoder, keys/values: memory) + MLP."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        dim = config.hidden_size
        self.norm_first = config.norm_first
        self.norm1 = nn.LayerNorm(dim, bias=config.bias)
        self.self_attn = _attention(config)
        self.norm2 = nn.LayerNorm(dim, bias=config.bias)
        self.cross_attn = _attention(config)
        self.norm3 = nn.LayerNorm(dim, bias=config.bias)
        self.mlp = MLP(config)
        self.drop = nn.Dropout(config.dropout)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        *,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        self_cache: KVCache | None = None,
        cross_cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        # x: (B, T, dim), memory: (B, S, dim) -> (B, T, dim); weights (self, cross) or None
        h = self.norm1(x) if self.norm_first else x
        a, w_self = self.self_attn(
            h,
            key_padding_mask=tgt_key_padding_mask,
            is_causal=True,
            kv_cache=self_cache,
            need_weights=need_weights,
        )
        x = x + self.drop(a)
        if not self.norm_first:
            x = self.norm1(x)
        h = self.norm2(x) if self.norm_first else x
        a, w_cross = self.cross_attn(
            h,
            memory,
            key_padding_mask=memory_key_padding_mask,
            kv_cache=cross_cache,
            need_weights=need_weights,
        )
        x = x + self.drop(a)
        if not self.norm_first:
            x = self.norm2(x)
        x = x + self.mlp(self.norm3(x) if self.norm_first else x)
        if not self.norm_first:
            x = self.norm3(x)
        return x, ((w_self, w_cross) if need_weights else None)
