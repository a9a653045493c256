"""Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words").

    patches  x_p ∈ R^{N × (P²·C)}          N = HW / P² non-overlapping P×P patches, row-major
    z_0 = [x_class; x_p¹E; …; x_pᴺE] + E_pos    E ∈ R^{(P²·C) × D}, E_pos ∈ R^{(N+1) × D}
    z_l = Transformer encoder block(z_{l-1}),  l = 1..L          (pre-norm, seqlab.nn.transformer)
    y   = LN(z_L)[class token]   (pool="cls")   or the mean over the patch tokens (pool="mean")

The encoder is `seqlab.nn.transformer.TransformerEncoder` (non-causal, ``pos_encoding="none"``
since the ViT adds its own learned positions; its final LayerNorm is the LN above), so the
attention is seqlab's one `MultiHeadAttention`.

Interface: not a sequence backbone. ``forward(images (B, C, H, W)) -> features (B, hidden_size)``,
``output_size = hidden_size``; the classification task puts the head on top.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from einops import rearrange
from torch import Tensor, nn

from seqlab.errors import SeqlabError
from seqlab.nn.checks import check_heads
from seqlab.nn.checks import check_int as _check_int
from seqlab.nn.checks import field as _field
from seqlab.nn.checks import image_hw as _image_hw
from seqlab.nn.transformer import TransformerEncoder

__all__ = ["ViT"]

POOLS = ("cls", "mean")


class ViT(nn.Module):
    """Patches -> linear embedding + class token + learned positions -> encoder -> pooled."""

    kind: ClassVar[str] = "image"

    def __init__(
        self,
        *,
        image_size: int | tuple[int, int] = 32,
        patch_size: int = 4,
        channels: int = 3,
        hidden_size: int = 64,
        num_layers: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
        pool: str = "cls",
        attn_impl: str = "sdpa",
    ) -> None:
        super().__init__()
        H, W = _image_hw(image_size)
        _check_int("patch_size", patch_size)
        _check_int("channels", channels)
        dim = _check_int("hidden_size", hidden_size)
        _check_int("num_layers", num_layers)
        _check_int("num_heads", num_heads)
        if H % patch_size or W % patch_size:
            fits = [p for p in range(1, min(H, W) + 1) if H % p == 0 and W % p == 0]
            raise SeqlabError(
                f"{_field('patch_size')}={patch_size} does not divide the image size {H}x{W} "
                f"({_field('image_size')}, from the data): choose one of {fits}"
            )
        check_heads("hidden_size", dim, "num_heads", num_heads)
        if pool not in POOLS:
            raise SeqlabError(f"{_field('pool')} must be one of {list(POOLS)}, got {pool!r}")
        self.image_size = (H, W)
        self.patch_size = patch_size
        self.channels = channels
        self.hidden_size = dim
        self.pool = pool
        self.grid = (H // patch_size, W // patch_size)
        self.num_patches = self.grid[0] * self.grid[1]
        self.patch_dim = channels * patch_size * patch_size
        self.output_size = dim

        self.patch_embed = nn.Linear(self.patch_dim, dim)  # E
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))  # x_class
        self.pos_embedding = nn.Parameter(torch.zeros(1, self.num_patches + 1, dim))  # E_pos
        nn.init.trunc_normal_(self.pos_embedding, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.encoder = TransformerEncoder(
            hidden_size=dim,
            num_layers=num_layers,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            norm_first=True,  # pre-norm blocks + final LayerNorm, as in the paper
            pos_encoding="none",
            max_len=self.num_patches + 1,
            attn_impl=attn_impl,
            causal=False,
        )

    def patchify(self, images: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, N, P·P·C), patches in row-major order of the patch grid."""
        if images.dim() != 4 or tuple(images.shape[1:]) != (self.channels, *self.image_size):
            raise ValueError(
                f"expected images of shape (batch, {self.channels}, {self.image_size[0]}, "
                f"{self.image_size[1]}), got {tuple(images.shape)}"
            )
        p = self.patch_size
        return rearrange(images, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p)

    def tokens(self, images: Tensor) -> Tensor:
        """(B, C, H, W) -> z_0 (B, N + 1, dim): class token first, positions added."""
        x = self.patch_embed(self.patchify(images))  # (B, N, dim)
        cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, dim)
        return torch.cat([cls, x], dim=1) + self.pos_embedding

    def forward(self, images: Tensor) -> Tensor:
        """(B, C, H, W) -> features (B, dim)."""
        z, _ = self.encoder(self.tokens(images))  # (B, N + 1, dim), final LayerNorm applied
        return z[:, 0] if self.pool == "cls" else z[:, 1:].mean(dim=1)

    @torch.no_grad()
    def attention_maps(self, images: Tensor) -> list[Tensor]:
        """Class-token attention over the patches, per layer: each (B, heads, N).

        Row 0 of each layer's (B, heads, N+1, N+1) weights, without the class token's
        attention to itself (rows sum to 1 minus that). Reshape the last dim to ``self.grid``
        for a map over the image. Uses the naive attention path; call in eval mode.
        """
        maps = self.encoder.attention_maps(self.tokens(images))
        return [w[:, :, 0, 1:] for w in maps]

    def extra_repr(self) -> str:
        return (
            f"image_size={self.image_size}, patch_size={self.patch_size}, "
            f"channels={self.channels}, num_patches={self.num_patches}, pool={self.pool!r}"
        )
