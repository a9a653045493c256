"""The Transformer of "Attention is all you need": `TransformerEncoder` (a backbone on its
own), `TransformerDecoder` and `EncoderDecoder` (what they exchange: only the encoder's output,
the "memory", which every decoder block cross-attends)."""

from __future__ import annotations

from dataclasses import asdict
from typing import ClassVar

import torch
from torch import Tensor, nn

from seqlab.nn.checks import check_bool, check_int
from seqlab.nn.transformer.blocks import DecoderBlock
from seqlab.nn.transformer.cache import TransformerCache
from seqlab.nn.transformer.config import TransformerConfig
from seqlab.nn.transformer.positions import make_positions
from seqlab.nn.transformer.stack import SelfAttentionStack


class TransformerEncoder(SelfAttentionStack):
    """Stack of `EncoderBlock`s; a sequence backbone with input_size = output_size = hidden_size.

    ``causal`` (constructor default, overridable per call) makes step t attend steps <= t only;
    a causal encoder can be fed in chunks with ``state=new_cache()``.
    """

    kind: ClassVar[str] = "sequence"

    def __init__(
        self,
        *,
        hidden_size: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        bias: bool = True,
        norm_first: bool = True,
        activation: str = "gelu",
        pos_encoding: str = "sinusoidal",
        max_len: int = 1024,
        scale_inputs: bool = False,
        attn_impl: str = "sdpa",
        causal: bool = False,
    ) -> None:
        config = TransformerConfig.of(locals())
        super().__init__(config)
        self.causal = check_bool("causal", causal)

    def forward(
        self,
        x: Tensor,
        state: TransformerCache | None = None,
        *,
        key_padding_mask: Tensor | None = None,
        causal: bool | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, TransformerCache | None]:
        # x: (B, T, hidden) -> (B, T, hidden); key_padding_mask (B, T_cached + T), True = padding;
        # lengths (B,) of right-padded sequences: steps >= lengths[b] are masked as keys
        causal = self.causal if causal is None else causal
        if lengths is not None and key_padding_mask is None:
            steps = torch.arange(x.shape[1], device=x.device)
            key_padding_mask = steps[None, :] >= lengths.to(x.device)[:, None]
        out, _ = self.run(x, causal=causal, key_padding_mask=key_padding_mask, cache=state)
        return out, state

    @torch.no_grad()
    def attention_maps(
        self, x: Tensor, *, key_padding_mask: Tensor | None = None, causal: bool | None = None
    ) -> list[Tensor]:
        """Per-layer attention weights, each (B, H, T, T), computed with the naive path."""
        causal = self.causal if causal is None else causal
        return self.run(x, causal=causal, key_padding_mask=key_padding_mask, need_weights=True)[1]


class TransformerDecoder(nn.Module):
    """Stack of `DecoderBlock`s: causal over tgt, cross-attending memory (the encoder output)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.hidden_size = config.hidden_size
        self.num_layers = config.num_layers
        self.pos = make_positions(config)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(DecoderBlock(config) for _ in range(config.num_layers))
        self.norm = (
            nn.LayerNorm(config.hidden_size, bias=config.bias)
            if config.norm_first
            else nn.Identity()
        )

    def new_cache(self) -> TransformerCache:
        return TransformerCache(self.num_layers, cross_attention=True)

    def _run(
        self,
        tgt: Tensor,
        memory: Tensor,
        *,
        tgt_key_padding_mask: Tensor | None,
        memory_key_padding_mask: Tensor | None,
        cache: TransformerCache | None,
        need_weights: bool,
    ) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        for name, t in (("tgt", tgt), ("memory", memory)):
            if t.dim() != 3 or t.shape[-1] != self.hidden_size:
                raise ValueError(
                    f"expected {name} of shape (batch, time, {self.hidden_size}), "
                    f"got {tuple(t.shape)}"
                )
        if cache is not None and cache.cross_attn is None:
            raise ValueError("the decoder needs a cache with cross_attention: use new_cache()")
        if self.config.scale_inputs:
            tgt = tgt * self.config.hidden_size**0.5
        x = tgt if self.pos is None else self.pos(tgt, 0 if cache is None else cache.offset)
        x = self.drop(x)
        maps = []
        for i, block in enumerate(self.blocks):
            x, w = block(
                x,
                memory,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                self_cache=None if cache is None else cache.self_attn[i],
                cross_cache=None if cache is None else cache.cross_attn[i],
                need_weights=need_weights,
            )
            if need_weights:
                maps.append(w)
        return self.norm(x), maps

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        *,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        cache: TransformerCache | None = None,
    ) -> Tensor:
        # tgt: (B, T, hidden), memory: (B, S, hidden) -> (B, T, hidden)
        return self._run(
            tgt,
            memory,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            cache=cache,
            need_weights=False,
        )[0]

    @torch.no_grad()
    def attention_maps(
        self,
        tgt: Tensor,
        memory: Tensor,
        *,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
    ) -> list[tuple[Tensor, Tensor]]:
        """Per layer (self (B, H, T, T), cross (B, H, T, S)) weights, via the naive path."""
        return self._run(
            tgt,
            memory,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            cache=None,
            need_weights=True,
        )[1]


class EncoderDecoder(nn.Module):
    """Encoder over src, decoder over tgt cross-attending the encoder output ("memory").

    Generation: ``memory = encode(src)``, ``cache = new_cache()``, then ``decode(step, memory,
    cache)`` one step (B, 1, hidden) at a time; the cache holds one memory, use a new one per src.
    """

    kind: ClassVar[str] = "encoder_decoder"

    def __init__(
        self,
        *,
        hidden_size: int = 64,
        num_heads: int = 4,
        num_encoder_layers: int = 2,
        num_decoder_layers: int = 2,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        bias: bool = True,
        norm_first: bool = True,
        activation: str = "gelu",
        pos_encoding: str = "sinusoidal",
        max_len: int = 1024,
        scale_inputs: bool = False,
        attn_impl: str = "sdpa",
    ) -> None:
        super().__init__()
        check_int("num_encoder_layers", num_encoder_layers)
        check_int("num_decoder_layers", num_decoder_layers)
        config = TransformerConfig.of(locals(), num_layers=num_encoder_layers)
        self.hidden_size = self.input_size = self.output_size = hidden_size
        self.max_len = max_len
        self.encoder = TransformerEncoder(**asdict(config), causal=False)
        self.decoder = TransformerDecoder(config.with_layers(num_decoder_layers))

    def new_cache(self) -> TransformerCache:
        return self.decoder.new_cache()

    def encode(self, src: Tensor, *, src_key_padding_mask: Tensor | None = None) -> Tensor:
        # src: (B, S, hidden) -> memory (B, S, hidden)
        return self.encoder(src, key_padding_mask=src_key_padding_mask)[0]

    def decode(
        self,
        tgt: Tensor,
        memory: Tensor,
        cache: TransformerCache | None = None,
        *,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        # tgt: (B, T, hidden) (the steps after those in cache) -> (B, T, hidden)
        return self.decoder(
            tgt,
            memory,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            cache=cache,
        )

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        *,
        src_key_padding_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        memory = self.encode(src, src_key_padding_mask=src_key_padding_mask)
        return self.decode(
            tgt,
            memory,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=src_key_padding_mask,
        )
