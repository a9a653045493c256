"""Transformers built on `seqlab.nn.attention.MultiHeadAttention` (the one attention in seqlab).

- Blocks: `EncoderBlock` (self-attention + MLP) and `DecoderBlock` (causal self-attention +
  cross-attention over the encoder output + MLP). Pre-norm by default (``norm_first=True``:
  x + f(LN(x)), plus a final LayerNorm after the stack); post-norm as in "Attention is all you
  need" with ``norm_first=False`` (LN(x + f(x))).
- Positions: ``pos_encoding="sinusoidal"`` (fixed, `SinusoidalPositionalEncoding`),
  ``"learned"`` (an ``nn.Embedding`` per position, at most ``max_len`` / ``block_size``) or
  ``"none"``. Both take an offset: the position of the first step fed.
- `TransformerEncoder` and `GPTBackbone`: backbones, ``forward(x (B, T, dim), state=None) ->
  (out (B, T, dim), state)``. `TransformerDecoder` and `EncoderDecoder` for sequence-to-sequence.
- `GPT` / `GPTConfig`: a decoder-only language model after karpathy/nanoGPT's model.py.

Incremental decoding: ``cache = model.new_cache()`` (a `TransformerCache`, one `KVCache` per
attention layer), then feed the steps in chunks (e.g. one at a time) with that cache; each call
sees the cached steps and appends its own, and gives the outputs of one full causal pass. Pass the
cache as ``state`` to the backbones, as ``cache`` to the decoder, `EncoderDecoder.decode` and
`GPT.forward`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import SeqlabError
from seqlab.nn.attention import KVCache, MultiHeadAttention

__all__ = [
    "GPT",
    "DecoderBlock",
    "EncoderBlock",
    "EncoderDecoder",
    "GPTBackbone",
    "GPTConfig",
    "LearnedPositionalEncoding",
    "SinusoidalPositionalEncoding",
    "TransformerCache",
    "TransformerDecoder",
    "TransformerEncoder",
    "sinusoidal_encoding",
]

POS_ENCODINGS = ("sinusoidal", "learned", "none")
ATTN_IMPLS = ("sdpa", "naive")


# -----------------------------------------------------------------------------
# config checks (messages name the Hydra field: model.backbone.<field>)


def _field(name: str) -> str:
    return f"model.backbone.{name}"


def _check_int(name: str, value: object, least: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SeqlabError(f"{_field(name)} must be an integer >= {least}, got {value!r}")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise SeqlabError(f"{_field(name)} must be true or false, got {value!r}")


def _check_dropout(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise SeqlabError(f"{_field(name)} must be a number in [0, 1), got {value!r}")


def _check_common(
    *,
    dim: tuple[str, object],
    n_head: tuple[str, object],
    n_layers: dict[str, object],
    max_len: tuple[str, object],
    mlp_ratio: object,
    dropout: object,
    bias: object,
    norm_first: object,
    pos_encoding: object,
    attn_impl: object,
) -> None:
    for name, value in (dim, n_head, max_len, *n_layers.items()):
        _check_int(name, value)
    if dim[1] % n_head[1] != 0:
        divisors = [h for h in range(1, dim[1] + 1) if dim[1] % h == 0]
        raise SeqlabError(
            f"{_field(dim[0])} ({dim[1]}) must be divisible by {_field(n_head[0])} ({n_head[1]}): "
            f"set {_field(n_head[0])} to one of {divisors} or change {_field(dim[0])}"
        )
    if isinstance(mlp_ratio, bool) or not isinstance(mlp_ratio, int | float) or mlp_ratio <= 0:
        raise SeqlabError(f"{_field('mlp_ratio')} must be a positive number, got {mlp_ratio!r}")
    _check_dropout("dropout", dropout)
    _check_bool("bias", bias)
    _check_bool("norm_first", norm_first)
    if pos_encoding not in POS_ENCODINGS:
        raise SeqlabError(
            f"{_field('pos_encoding')} must be one of {list(POS_ENCODINGS)}, got {pos_encoding!r}"
        )
    if attn_impl not in ATTN_IMPLS:
        raise SeqlabError(
            f"{_field('attn_impl')} must be 'sdpa' (fused kernels) or 'naive' (softmax written "
            f"out), got {attn_impl!r}"
        )


# -----------------------------------------------------------------------------
# positional encodings


def sinusoidal_encoding(positions: Tensor, dim: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)).

    positions (T,) -> (T, dim).
    """
    two_i = torch.arange(0, dim, 2, device=positions.device, dtype=dtype)
    angles = positions.to(dtype)[:, None] / 10000.0 ** (two_i / dim)  # (T, ceil(dim/2))
    pe = torch.empty(len(positions), dim, device=positions.device, dtype=dtype)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : dim // 2])
    return pe


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal encoding of positions offset, ..., offset+T-1 (no length cap).

    Unlike "Attention is all you need" the input is not scaled by √dim first: the inputs here
    are features, not embeddings initialised at a particular scale.
    """

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        # x: (B, T, dim)
        positions = torch.arange(offset, offset + x.shape[1], device=x.device)
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        return x + sinusoidal_encoding(positions, self.dim, dtype).to(x.dtype)


class LearnedPositionalEncoding(nn.Module):
    """Adds a learned vector per position (``nn.Embedding(max_len, dim)``)."""

    def __init__(self, *, dim: int, max_len: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.emb = nn.Embedding(max_len, dim)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        T = x.shape[1]
        if offset + T > self.max_len:
            raise ValueError(
                f"positions {offset}..{offset + T - 1} exceed the {self.max_len} learned positions"
            )
        positions = torch.arange(offset, offset + T, device=x.device)
        return x + self.emb(positions)  # (B, T, dim) + (T, dim)


def _pos_encoding(kind: str, dim: int, max_len: int) -> nn.Module | None:
    if kind == "sinusoidal":
        return SinusoidalPositionalEncoding(dim=dim)
    if kind == "learned":
        return LearnedPositionalEncoding(dim=dim, max_len=max_len)
    return None


# -----------------------------------------------------------------------------
# blocks


class MLP(nn.Module):
    """Linear -> GELU -> Linear -> dropout, hidden width mlp_ratio * dim."""

    def __init__(self, *, dim: int, mlp_ratio: float, dropout: float, bias: bool) -> None:
        super().__init__()
        hidden = int(mlp_ratio * dim)
        self.fc = nn.Linear(dim, hidden, bias=bias)
        self.proj = nn.Linear(hidden, dim, bias=bias)  # a residual projection (scaled GPT init)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class EncoderBlock(nn.Module):
    """Self-attention + MLP, each a residual branch; causal or not per call (GPT's block)."""

    def __init__(
        self,
        *,
        dim: int,
        n_head: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        bias: bool = True,
        norm_first: bool = True,
        attn_impl: str = "sdpa",
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(dim, bias=bias)
        self.attn = MultiHeadAttention(
            dim=dim, n_head=n_head, dropout=dropout, bias=bias, impl=attn_impl
        )
        self.drop = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(dim, bias=bias)
        self.mlp = MLP(dim=dim, mlp_ratio=mlp_ratio, dropout=dropout, bias=bias)

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

    def __init__(
        self,
        *,
        dim: int,
        n_head: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        bias: bool = True,
        norm_first: bool = True,
        attn_impl: str = "sdpa",
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        attn = dict(dim=dim, n_head=n_head, dropout=dropout, bias=bias, impl=attn_impl)
        self.norm1 = nn.LayerNorm(dim, bias=bias)
        self.self_attn = MultiHeadAttention(**attn)
        self.norm2 = nn.LayerNorm(dim, bias=bias)
        self.cross_attn = MultiHeadAttention(**attn)
        self.norm3 = nn.LayerNorm(dim, bias=bias)
        self.mlp = MLP(dim=dim, mlp_ratio=mlp_ratio, dropout=dropout, bias=bias)
        self.drop = nn.Dropout(dropout)

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


class TransformerCache:
    """KV caches of a stack: ``self_attn[i]`` (appending) and ``cross_attn[i]`` (static, for
    decoders) for layer i. ``offset`` is the number of steps seen, the position of the next."""

    def __init__(self, n_layer: int, *, cross_attention: bool = False) -> None:
        self.self_attn = [KVCache() for _ in range(n_layer)]
        self.cross_attn = (
            [KVCache(static=True) for _ in range(n_layer)] if cross_attention else None
        )

    @property
    def offset(self) -> int:
        return self.self_attn[0].seq_len

    def reset(self) -> None:
        for c in self.self_attn + (self.cross_attn or []):
            c.reset()

    def __repr__(self) -> str:
        return (
            f"TransformerCache(n_layer={len(self.self_attn)}, offset={self.offset}, "
            f"cross_attention={self.cross_attn is not None})"
        )


# -----------------------------------------------------------------------------
# stacks


class _SelfAttentionStack(nn.Module):
    """positions -> dropout -> EncoderBlocks -> final LayerNorm (pre-norm only)."""

    def __init__(
        self,
        *,
        dim: int,
        n_layer: int,
        n_head: int,
        mlp_ratio: float,
        dropout: float,
        bias: bool,
        norm_first: bool,
        pos_encoding: str,
        max_len: int,
        max_len_field: str,
        attn_impl: str,
    ) -> None:
        super().__init__()
        self.input_size = dim
        self.output_size = dim
        self.n_layer = n_layer
        self.max_len = max_len
        self._max_len_field = max_len_field
        self.pos = _pos_encoding(pos_encoding, dim, max_len)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(
                dim=dim,
                n_head=n_head,
                mlp_ratio=mlp_ratio,
                dropout=dropout,
                bias=bias,
                norm_first=norm_first,
                attn_impl=attn_impl,
            )
            for _ in range(n_layer)
        )
        self.norm = nn.LayerNorm(dim, bias=bias) if norm_first else nn.Identity()

    def new_cache(self) -> TransformerCache:
        return TransformerCache(self.n_layer)

    def _run(
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
                f"at most {self.max_len} steps or raise {_field(self._max_len_field)}"
            )
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


class TransformerEncoder(_SelfAttentionStack):
    """Stack of `EncoderBlock`s; a backbone with input_size = output_size = dim.

    ``causal`` (constructor default, overridable per call) makes step t attend steps <= t only;
    a causal encoder can be fed in chunks with ``state=new_cache()``.
    """

    def __init__(
        self,
        *,
        dim: int,
        n_layer: int = 2,
        n_head: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        bias: bool = True,
        norm_first: bool = True,
        pos_encoding: str = "sinusoidal",
        max_len: int = 1024,
        attn_impl: str = "sdpa",
        causal: bool = False,
    ) -> None:
        _check_common(
            dim=("dim", dim),
            n_head=("n_head", n_head),
            n_layers={"n_layer": n_layer},
            max_len=("max_len", max_len),
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            bias=bias,
            norm_first=norm_first,
            pos_encoding=pos_encoding,
            attn_impl=attn_impl,
        )
        _check_bool("causal", causal)
        super().__init__(
            dim=dim,
            n_layer=n_layer,
            n_head=n_head,
            mlp_ratio=mlp_ratio,
            dropout=float(dropout),
            bias=bias,
            norm_first=norm_first,
            pos_encoding=pos_encoding,
            max_len=max_len,
            max_len_field="max_len",
            attn_impl=attn_impl,
        )
        self.causal = causal

    def forward(
        self,
        x: Tensor,
        state: TransformerCache | None = None,
        *,
        key_padding_mask: Tensor | None = None,
        causal: bool | None = None,
    ) -> tuple[Tensor, TransformerCache | None]:
        # x: (B, T, dim) -> (B, T, dim); key_padding_mask (B, T_cached + T), True = padding
        causal = self.causal if causal is None else causal
        out, _ = self._run(x, causal=causal, key_padding_mask=key_padding_mask, cache=state)
        return out, state

    @torch.no_grad()
    def attention_maps(
        self, x: Tensor, *, key_padding_mask: Tensor | None = None, causal: bool | None = None
    ) -> list[Tensor]:
        """Per-layer attention weights, each (B, H, T, T), computed with the naive path."""
        causal = self.causal if causal is None else causal
        return self._run(x, causal=causal, key_padding_mask=key_padding_mask, need_weights=True)[1]


class TransformerDecoder(nn.Module):
    """Stack of `DecoderBlock`s: causal over tgt, cross-attending memory (the encoder output)."""

    def __init__(
        self,
        *,
        dim: int,
        n_layer: int = 2,
        n_head: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        bias: bool = True,
        norm_first: bool = True,
        pos_encoding: str = "sinusoidal",
        max_len: int = 1024,
        attn_impl: str = "sdpa",
    ) -> None:
        super().__init__()
        _check_common(
            dim=("dim", dim),
            n_head=("n_head", n_head),
            n_layers={"n_layer": n_layer},
            max_len=("max_len", max_len),
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            bias=bias,
            norm_first=norm_first,
            pos_encoding=pos_encoding,
            attn_impl=attn_impl,
        )
        self.dim = dim
        self.n_layer = n_layer
        self.pos = _pos_encoding(pos_encoding, dim, max_len)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            DecoderBlock(
                dim=dim,
                n_head=n_head,
                mlp_ratio=mlp_ratio,
                dropout=dropout,
                bias=bias,
                norm_first=norm_first,
                attn_impl=attn_impl,
            )
            for _ in range(n_layer)
        )
        self.norm = nn.LayerNorm(dim, bias=bias) if norm_first else nn.Identity()

    def new_cache(self) -> TransformerCache:
        return TransformerCache(self.n_layer, cross_attention=True)

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
            if t.dim() != 3 or t.shape[-1] != self.dim:
                raise ValueError(
                    f"expected {name} of shape (batch, time, {self.dim}), got {tuple(t.shape)}"
                )
        if cache is not None and cache.cross_attn is None:
            raise ValueError("the decoder needs a cache with cross_attention: use new_cache()")
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
        # tgt: (B, T, dim), memory: (B, S, dim) -> (B, T, dim)
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
    cache)`` one step (B, 1, dim) at a time; the cache holds one memory, use a new one per src.
    """

    def __init__(
        self,
        *,
        dim: int,
        n_head: int = 4,
        n_encoder_layer: int = 2,
        n_decoder_layer: int = 2,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        bias: bool = True,
        norm_first: bool = True,
        pos_encoding: str = "sinusoidal",
        max_len: int = 1024,
        attn_impl: str = "sdpa",
    ) -> None:
        super().__init__()
        _check_common(
            dim=("dim", dim),
            n_head=("n_head", n_head),
            n_layers={"n_encoder_layer": n_encoder_layer, "n_decoder_layer": n_decoder_layer},
            max_len=("max_len", max_len),
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            bias=bias,
            norm_first=norm_first,
            pos_encoding=pos_encoding,
            attn_impl=attn_impl,
        )
        common = dict(
            dim=dim,
            n_head=n_head,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            bias=bias,
            norm_first=norm_first,
            pos_encoding=pos_encoding,
            max_len=max_len,
            attn_impl=attn_impl,
        )
        self.dim = dim
        self.encoder = TransformerEncoder(n_layer=n_encoder_layer, causal=False, **common)
        self.decoder = TransformerDecoder(n_layer=n_decoder_layer, **common)

    def new_cache(self) -> TransformerCache:
        return self.decoder.new_cache()

    def encode(self, src: Tensor, *, src_key_padding_mask: Tensor | None = None) -> Tensor:
        # src: (B, S, dim) -> memory (B, S, dim)
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
        # tgt: (B, T, dim) (the steps after those in cache) -> (B, T, dim)
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


# -----------------------------------------------------------------------------
# GPT (after karpathy/nanoGPT model.py)


def _gpt_init_(stack: _SelfAttentionStack) -> None:
    # nanoGPT: N(0, 0.02) for every Linear / Embedding, zero biases, and the projections that
    # add into the residual stream scaled by 1/√(2 n_layer), since 2 n_layer of them add up.
    for m in stack.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
    for block in stack.blocks:
        for w in (block.attn.out_proj.weight, block.mlp.proj.weight):
            nn.init.normal_(w, mean=0.0, std=0.02 / math.sqrt(2 * stack.n_layer))


class GPTBackbone(_SelfAttentionStack):
    """GPT's trunk on continuous inputs: positions + causal blocks + final norm, no token
    embedding or head. A backbone with input_size = output_size = n_embd; feed at most
    block_size steps (with a ``state=new_cache()``: in total)."""

    def __init__(
        self,
        *,
        input_size: int,
        n_layer: int = 4,
        n_head: int = 4,
        dropout: float = 0.0,
        block_size: int = 256,
        bias: bool = True,
        mlp_ratio: float = 4.0,
        attn_impl: str = "sdpa",
        pos_encoding: str = "learned",
        norm_first: bool = True,
    ) -> None:
        _check_common(
            dim=("input_size", input_size),
            n_head=("n_head", n_head),
            n_layers={"n_layer": n_layer},
            max_len=("block_size", block_size),
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            bias=bias,
            norm_first=norm_first,
            pos_encoding=pos_encoding,
            attn_impl=attn_impl,
        )
        super().__init__(
            dim=input_size,
            n_layer=n_layer,
            n_head=n_head,
            mlp_ratio=mlp_ratio,
            dropout=float(dropout),
            bias=bias,
            norm_first=norm_first,
            pos_encoding=pos_encoding,
            max_len=block_size,
            max_len_field="block_size",
            attn_impl=attn_impl,
        )
        self.block_size = block_size
        _gpt_init_(self)

    def forward(
        self, x: Tensor, state: TransformerCache | None = None
    ) -> tuple[Tensor, TransformerCache | None]:
        # x: (B, T, n_embd) -> (B, T, n_embd); state: None, or a cache to continue from
        return self._run(x, causal=True, cache=state)[0], state

    def attention_maps(self, x: Tensor) -> list[Tensor]:
        """Per-layer causal attention weights, each (B, H, T, T), via the naive path."""
        return self._run(x, causal=True, need_weights=True)[1]


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 256
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True
    attn_impl: str = "sdpa"
    pos_encoding: str = "learned"
    norm_first: bool = True
    mlp_ratio: float = 4.0

    def __post_init__(self) -> None:
        _check_int("vocab_size", self.vocab_size)
        _check_common(
            dim=("n_embd", self.n_embd),
            n_head=("n_head", self.n_head),
            n_layers={"n_layer": self.n_layer},
            max_len=("block_size", self.block_size),
            mlp_ratio=self.mlp_ratio,
            dropout=self.dropout,
            bias=self.bias,
            norm_first=self.norm_first,
            pos_encoding=self.pos_encoding,
            attn_impl=self.attn_impl,
        )
        _check_bool("tie_weights", self.tie_weights)


class GPT(nn.Module):
    """Decoder-only language model: token embedding -> `GPTBackbone` -> lm_head.

    ``GPT(GPTConfig(...))``, ``GPT({...})`` or ``GPT(vocab_size=..., ...)`` (Hydra). With
    tie_weights the lm_head shares the token embedding's weight.
    """

    def __init__(self, config: GPTConfig | dict | None = None, /, **kwargs: object) -> None:
        super().__init__()
        if config is None:
            config = GPTConfig(**kwargs)
        elif kwargs:
            raise TypeError("pass either a config or keyword fields, not both")
        elif isinstance(config, dict):
            config = GPTConfig(**config)
        self.config = config
        c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.backbone = GPTBackbone(
            input_size=c.n_embd,
            n_layer=c.n_layer,
            n_head=c.n_head,
            dropout=c.dropout,
            block_size=c.block_size,
            bias=c.bias,
            mlp_ratio=c.mlp_ratio,
            attn_impl=c.attn_impl,
            pos_encoding=c.pos_encoding,
            norm_first=c.norm_first,
        )
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        nn.init.normal_(self.wte.weight, mean=0.0, std=0.02)
        if c.tie_weights:
            self.lm_head.weight = self.wte.weight
        else:
            nn.init.normal_(self.lm_head.weight, mean=0.0, std=0.02)

    @property
    def block_size(self) -> int:
        return self.config.block_size

    def new_cache(self) -> TransformerCache:
        return self.backbone.new_cache()

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; non_embedding drops position embeddings (token ones are tied)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and isinstance(self.backbone.pos, LearnedPositionalEncoding):
            n -= self.backbone.pos.emb.weight.numel()
        return n

    def forward(
        self,
        idx: Tensor,
        targets: Tensor | None = None,
        *,
        cache: TransformerCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        # idx: (B, T) token ids -> logits (B, T, vocab_size); targets (B, T), -1 = ignored
        if idx.dim() != 2:
            raise ValueError(f"expected idx of shape (batch, time), got {tuple(idx.shape)}")
        h, _ = self.backbone(self.wte(idx), cache)  # (B, T, n_embd)
        logits = self.lm_head(h)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1
            )
        return logits, loss

    @torch.no_grad()
    def generate(
        self,
        idx: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        use_cache: bool = True,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Append max_new_tokens sampled tokens to idx (B, T); returns (B, T + max_new_tokens).

        temperature 0 = greedy (argmax). The context is cropped to the last block_size tokens.
        With use_cache, each step feeds only the newest token through the KV cache; once the
        context would exceed block_size the positions shift, so every step recomputes the
        cropped context (exactly what use_cache=False does). Call model.eval() first.
        """
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        cache: TransformerCache | None = None
        for _ in range(max_new_tokens):
            if use_cache and cache is not None and cache.offset < self.block_size:
                logits, _ = self(idx[:, -1:], cache=cache)  # only the newest token
            else:
                context = idx[:, -self.block_size :]
                # a full context leaves no room to append to: the next step recomputes anyway
                room = context.shape[1] < self.block_size
                cache = self.new_cache() if use_cache and room else None
                logits, _ = self(context, cache=cache)
            logits = logits[:, -1, :]  # (B, V)
            if temperature == 0:
                nxt = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
            else:
                logits = logits / temperature
                if top_k is not None:
                    v, _ = torch.topk(logits, min(top_k, logits.shape[-1]))
                    logits = logits.masked_fill(logits < v[:, [-1]], float("-inf"))
                probs = logits.softmax(dim=-1)
                nxt = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
            idx = torch.cat([idx, nxt], dim=1)
        return idx

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in asdict(self.config).items())
