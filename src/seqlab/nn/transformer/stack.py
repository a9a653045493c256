"""A stack of self-attention blocks: (scale) -> positions -> dropout -> blocks -> final norm."""

from __future__ import annotations

import math

from torch import Tensor, nn

from seqlab.nn.checks import field
from seqlab.nn.transformer.blocks import EncoderBlock
from seqlab.nn.transformer.cache import TransformerCache
from seqlab.nn.transformer.config import TransformerConfig
from seqlab.nn.transformer.positions import LearnedPositionalEncoding, make_positions


class SelfAttentionStack(nn.Module):
    """The trunk of `TransformerEncoder` and `GPTBackbone`: (B, T, hidden_size) in and out."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.input_size = self.output_size = config.hidden_size
        self.num_layers = config.num_layers
        self.max_len = config.max_len
        self.pos = make_positions(config)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(EncoderBlock(config) for _ in range(config.num_layers))
        self.norm = (
            nn.LayerNorm(config.hidden_size, bias=config.bias)
            if config.norm_first
            else nn.Identity()
        )

    def new_cache(self) -> TransformerCache:
        return TransformerCache(self.num_layers)

    def run(
        self,
        x: Tensor,
        *,
        causal: bool,
        key_padding_mask: Tensor | None = None,
        cache: TransformerCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, list[Tensor]]:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"expected input of shape (batch, time, {self.input_size}), got {tuple(x.shape)}"
            )
        if cache is not None and not isinstance(cache, TransformerCache):
            raise ValueError(
                f"state must be None or a TransformerCache from new_cache(), got {type(cache)}"
            )
        if cache is not None and not causal:
            raise ValueError(
                "a cache needs causal attention: earlier outputs of a non-causal encoder "
                "change when later steps arrive"
            )
        offset = 0 if cache is None else cache.offset
        if isinstance(self.pos, LearnedPositionalEncoding) and offset + x.shape[1] > self.max_len:
            raise ValueError(
                f"{offset + x.shape[1]} steps exceed the {self.max_len} learned positions: feed "
                f"at most {self.max_len} steps or raise {field('max_len')}"
            )
        if self.config.scale_inputs:
            x = x * math.sqrt(self.config.hidden_size)
        if self.pos is not None:
            x = self.pos(x, offset)
        x = self.drop(x)
        maps = []
        for i, block in enumerate(self.blocks):
            x, w = block(
                x,
                key_padding_mask=key_padding_mask,
                is_causal=causal,
                kv_cache=None if cache is None else cache.self_attn[i],
                need_weights=need_weights,
            )
            if need_weights:
                maps.append(w)
        return self.norm(x), maps
