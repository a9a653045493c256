"""Positional encodings: fixed sinusoids or one learned vector per position. Both take an
offset, the position of the first step fed (incremental decoding with a cache)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlab.nn.transformer.config import TransformerConfig


def sinusoidal_encoding(positions: Tensor, dim: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)).

    positions (T,) -> (T, dim).
    """
    two_i = torch.arange(0, dim, 2, device=positions.device, dtype=dtype)
    angles = positions.to(dtype)[:, None] / 10000.0 ** (two_i / dim)  # (T, ceil(dim/2))
    # sin at even, cos at odd features: interleaved, no Python length (an exported or traced
    # graph keeps T dynamic)
    pe = torch.stack((torch.sin(angles), torch.cos(angles)), dim=-1)  # (T, ceil(dim/2), 2)
    return pe.flatten(-2)[:, :dim]


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal encoding of positions offset, ..., offset+T-1 (no length cap).

    The inputs are not scaled by √dim here; ``TransformerConfig.scale_inputs`` does that (the
    2017 embeddings), off by default because seqlab's inputs are often features, not embeddings.
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


def make_positions(config: TransformerConfig) -> nn.Module | None:
    if config.pos_encoding == "sinusoidal":
        return SinusoidalPositionalEncoding(dim=config.hidden_size)
    if config.pos_encoding == "learned":
        return LearnedPositionalEncoding(dim=config.hidden_size, max_len=config.max_len)
    return None
