"""Transformers built on `seqlab.nn.attention.MultiHeadAttention`, one config object down the
stack (`TransformerConfig`):

- `config`: `TransformerConfig` (the one naming scheme, validated);
- `positions`: sinusoidal and learned positional encodings;
- `blocks`: `EncoderBlock`, `DecoderBlock` and their feed-forward `MLP` (GELU or ReLU);
- `cache`: `TransformerCache`, KV caches of a stack for incremental decoding;
- `stack`: `SelfAttentionStack`, the trunk shared by the encoder and GPT;
- `encoder_decoder`: `TransformerEncoder` (a backbone), `TransformerDecoder`, `EncoderDecoder`;
- `gpt`: `GPTBackbone`, the one GPT.

Incremental decoding: ``cache = model.new_cache()``, then feed the steps in chunks (e.g. one at
a time) with that cache; each call sees the cached steps and appends its own, and gives the
outputs of one full causal pass. Pass the cache as ``state`` to the backbones and as ``cache``
to the decoder and `EncoderDecoder.decode`.
"""

from seqlab.nn.transformer.blocks import MLP, DecoderBlock, EncoderBlock
from seqlab.nn.transformer.cache import TransformerCache
from seqlab.nn.transformer.config import (
    ACTIVATIONS,
    ATTN_IMPLS,
    POS_ENCODINGS,
    TransformerConfig,
)
from seqlab.nn.transformer.encoder_decoder import (
    EncoderDecoder,
    TransformerDecoder,
    TransformerEncoder,
)
from seqlab.nn.transformer.gpt import GPTBackbone
from seqlab.nn.transformer.positions import (
    LearnedPositionalEncoding,
    SinusoidalPositionalEncoding,
    sinusoidal_encoding,
)
from seqlab.nn.transformer.stack import SelfAttentionStack

__all__ = [
    "ACTIVATIONS",
    "ATTN_IMPLS",
    "MLP",
    "POS_ENCODINGS",
    "DecoderBlock",
    "EncoderBlock",
    "EncoderDecoder",
    "GPTBackbone",
    "LearnedPositionalEncoding",
    "SelfAttentionStack",
    "SinusoidalPositionalEncoding",
    "TransformerCache",
    "TransformerConfig",
    "TransformerDecoder",
    "TransformerEncoder",
    "sinusoidal_encoding",
]
