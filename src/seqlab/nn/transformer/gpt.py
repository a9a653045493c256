"""GPT's trunk (after karpathy/nanoGPT's model.py) as a backbone: learned positions, causal
pre-norm blocks, a final LayerNorm; no token embedding and no head (the language-modelling
task adds both, tied as in nanoGPT). The one GPT in seqlab: tasks, ``generate.py``, DALL·E,
tests and benchmarks all use this class."""

from __future__ import annotations

import math
from typing import ClassVar

from torch import Tensor, nn

from seqlab.nn.transformer.cache import TransformerCache
from seqlab.nn.transformer.config import TransformerConfig
from seqlab.nn.transformer.stack import SelfAttentionStack


def gpt_init_(stack: SelfAttentionStack) -> None:
    # nanoGPT: N(0, 0.02) for every Linear / Embedding, zero biases, and the projections that
    # add into the residual stream scaled by 1/√(2 num_layers), since 2 num_layers of them add up.
    for m in stack.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
    for block in stack.blocks:
        for w in (block.attn.out_proj.weight, block.mlp.proj.weight):
            nn.init.normal_(w, mean=0.0, std=0.02 / math.sqrt(2 * stack.num_layers))


class GPTBackbone(SelfAttentionStack):
    """Decoder-only Transformer trunk on (B, T, hidden_size) inputs; feed at most ``max_len``
    steps (with a ``state=new_cache()``: in total)."""

    kind: ClassVar[str] = "sequence"
    causal: ClassVar[bool] = True

    def __init__(
        self,
        *,
        hidden_size: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        dropout: float = 0.0,
        max_len: int = 256,
        bias: bool = True,
        mlp_ratio: float = 4.0,
        activation: str = "gelu",
        attn_impl: str = "sdpa",
        pos_encoding: str = "learned",
        norm_first: bool = True,
    ) -> None:
        super().__init__(TransformerConfig.of(locals()))
        gpt_init_(self)

    def forward(
        self,
        x: Tensor,
        state: TransformerCache | None = None,
        *,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, TransformerCache | None]:
        # x: (B, T, hidden) -> (B, T, hidden); state: None, or a cache to continue from.
        # lengths: right padding cannot reach a valid step through causal attention (unused)
        return self.run(x, causal=True, cache=state)[0], state

    def attention_maps(self, x: Tensor) -> list[Tensor]:
        """Per-layer causal attention weights, each (B, H, T, T), via the naive path."""
        return self.run(x, causal=True, need_weights=True)[1]
