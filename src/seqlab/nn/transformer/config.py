"""One config object for every Transformer in seqlab, passed down the stack (as nanoGPT's
``GPTConfig`` and litgpt's ``Config``) instead of ten arguments through every constructor.

Field names are seqlab's one naming scheme (the same in every backbone and config):
``hidden_size`` (width, d_model), ``num_layers``, ``num_heads``, ``mlp_ratio``, ``dropout``,
``max_len`` (longest sequence; learned positions have exactly that many).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from seqlab.errors import SeqlabError
from seqlab.nn.checks import (
    check_bool,
    check_choice,
    check_fraction,
    check_heads,
    check_int,
    field,
)

POS_ENCODINGS = ("sinusoidal", "learned", "none")
ATTN_IMPLS = ("sdpa", "naive")
ACTIVATIONS = ("gelu", "relu")


@dataclass(frozen=True)
class TransformerConfig:
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    bias: bool = True
    # pre-norm x + f(LN(x)) plus a final LayerNorm; False: post-norm LN(x + f(x)) (2017)
    norm_first: bool = True
    # the feed-forward block's non-linearity: gelu (GPT, ViT) or relu (Vaswani et al. 2017)
    activation: str = "gelu"
    pos_encoding: str = "sinusoidal"
    max_len: int = 1024
    # multiply inputs by √hidden_size before adding positions (the 2017 embeddings)
    scale_inputs: bool = False
    attn_impl: str = "sdpa"

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_layers", "num_heads", "max_len"):
            check_int(name, getattr(self, name))
        check_heads("hidden_size", self.hidden_size, "num_heads", self.num_heads)
        ratio = self.mlp_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or ratio <= 0:
            raise SeqlabError(f"{field('mlp_ratio')} must be a positive number, got {ratio!r}")
        check_fraction("dropout", self.dropout)
        for name in ("bias", "norm_first", "scale_inputs"):
            check_bool(name, getattr(self, name))
        check_choice("pos_encoding", self.pos_encoding, POS_ENCODINGS)
        check_choice("activation", self.activation, ACTIVATIONS)
        if self.attn_impl not in ATTN_IMPLS:
            raise SeqlabError(
                f"{field('attn_impl')} must be 'sdpa' (fused kernels) or 'naive' (softmax "
                f"written out), got {self.attn_impl!r}"
            )

    @classmethod
    def of(cls, arguments: dict, **overrides) -> TransformerConfig:
        """The config from a constructor's arguments (``locals()``): the fields it names."""
        chosen = {f.name: arguments[f.name] for f in fields(cls) if f.name in arguments}
        chosen |= overrides
        if isinstance(chosen.get("dropout"), int) and not isinstance(chosen["dropout"], bool):
            chosen["dropout"] = float(chosen["dropout"])
        return cls(**chosen)

    def with_layers(self, num_layers: int) -> TransformerConfig:
        return replace(self, num_layers=num_layers)
