"""KV caches of a whole stack, for incremental decoding."""

from __future__ import annotations

from seqlab.nn.attention import KVCache


class TransformerCache:
    """KV caches of a stack: ``self_attn[i]`` (appending) and ``cross_attn[i]`` (static, for
    decoders) for layer i. ``offset`` is the number of steps seen, the position of the next."""

    def __init__(self, num_layers: int, *, cross_attention: bool = False) -> None:
        self.self_attn = [KVCache() for _ in range(num_layers)]
        self.cross_attn = (
            [KVCache(static=True) for _ in range(num_layers)] if cross_attention else None
        )

    @property
    def offset(self) -> int:
        return self.self_attn[0].seq_len

    def reset(self) -> None:
        for c in self.self_attn + (self.cross_attn or []):
            c.reset()

    def __repr__(self) -> str:
        return (
            f"TransformerCache(num_layers={len(self.self_attn)}, offset={self.offset}, "
            f"cross_attention={self.cross_attn is not None})"
        )
