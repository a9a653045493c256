"""A small CLIP (Radford et al. 2021, "Learning Transferable Visual Models From Natural Language
Supervision"): an image encoder and a text encoder trained so that an image and its caption
land close together in one embedding space.

    image  I (B, C, H, W) -> ViT (seqlab.nn.vit) -> f_I (B, hidden) -> W_i -> L2-normalise -> I_e
    text   T (B, L) ids   -> E_tok[t] + P[pos] -> TransformerEncoder (padding masked as keys)
                          -> mean over the non-padding tokens -> f_T -> W_t -> L2-normalise -> T_e
    logits = exp(t) · I_e T_eᵀ        (B, B); t is learned, initialised at log(1/0.07), and
                                      clamped so that exp(t) <= max_logit_scale (100, the paper)
    loss   = (CE(logits, arange(B)) + CE(logitsᵀ, arange(B))) / 2       (symmetric InfoNCE)

This is the paper's pseudo-code (its Figure 3) with two choices of ours, sized for 28x28 digits
and captions of a few words: the text feature is the mean of the caption's tokens (the paper
reads the [EOS] token of a causal encoder), and the logit scale is clamped where it is used
(the paper clips the parameter itself; both keep exp(t) <= 100).

Interface (``kind = "contrastive"``): ``encode_image(images) -> (B, embed_size)``,
``encode_text(ids) -> (B, embed_size)`` (both unit-norm), ``forward(images, ids) -> (logits,
loss)``. The task (`seqlab.tasks.contrastive`) serves the caption data's ``text_to_image`` task.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import SeqlabError
from seqlab.nn.checks import check_heads
from seqlab.nn.checks import check_int as _check_int
from seqlab.nn.checks import field as _field
from seqlab.nn.transformer import TransformerEncoder
from seqlab.nn.vit import ViT

__all__ = ["CLIP", "contrastive_loss"]


def contrastive_loss(logits: Tensor) -> Tensor:
    """Symmetric InfoNCE of (B, B) logits whose diagonal holds the matching pairs."""
    labels = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


class TextEncoder(nn.Module):
    """Token + learned position embeddings -> non-causal Transformer encoder -> masked mean."""

    def __init__(
        self,
        *,
        vocab_size: int,
        text_len: int,
        hidden_size: int,
        num_layers: int,
        num_heads: int,
        mlp_ratio: float,
        dropout: float,
        pad_id: int,
        attn_impl: str,
    ) -> None:
        super().__init__()
        self.text_len, self.pad_id = text_len, pad_id
        self.tok = nn.Embedding(vocab_size, hidden_size)
        self.pos = nn.Parameter(torch.zeros(1, text_len, hidden_size))
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.encoder = TransformerEncoder(
            hidden_size=hidden_size,
            num_layers=num_layers,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            norm_first=True,
            pos_encoding="none",
            max_len=text_len,
            attn_impl=attn_impl,
            causal=False,
        )

    def forward(self, ids: Tensor) -> Tensor:
        """ids (B, L) long, right-padded with pad_id -> features (B, hidden)."""
        if ids.dim() != 2 or ids.shape[1] != self.text_len:
            raise ValueError(
                f"expected text of shape (batch, {self.text_len}) (pad to text_len), "
                f"got {tuple(ids.shape)}"
            )
        pad = ids == self.pad_id  # (B, L) True = padding
        pad = pad & ~pad.all(dim=1, keepdim=True)  # an empty caption: attend to everything
        x = self.tok(ids) + self.pos  # (B, L, hidden)
        h, _ = self.encoder(x, key_padding_mask=pad)  # (B, L, hidden)
        keep = (~pad).unsqueeze(-1).to(h.dtype)  # (B, L, 1)
        return (h * keep).sum(dim=1) / keep.sum(dim=1)  # (B, hidden)


class CLIP(nn.Module):
    """ViT image encoder + Transformer text encoder, projected to one unit-norm space."""

    kind: ClassVar[str] = "contrastive"

    def __init__(
        self,
        *,
        text_vocab_size: int,
        text_len: int,
        image_size: int | tuple[int, int] = 28,
        channels: int = 1,
        patch_size: int = 7,
        hidden_size: int = 64,
        num_layers: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        text_hidden_size: int = 64,
        text_num_layers: int = 2,
        embed_size: int = 64,
        dropout: float = 0.0,
        pool: str = "mean",
        init_temperature: float = 0.07,
        max_logit_scale: float = 100.0,
        pad_id: int = 0,
        attn_impl: str = "sdpa",
    ) -> None:
        super().__init__()
        _check_int("text_vocab_size", text_vocab_size)
        _check_int("text_len", text_len)
        _check_int("text_hidden_size", text_hidden_size)
        _check_int("text_num_layers", text_num_layers)
        _check_int("embed_size", embed_size)
        check_heads("text_hidden_size", text_hidden_size, "num_heads", num_heads)
        if not init_temperature > 0 or not max_logit_scale >= 1.0:
            raise SeqlabError(
                f"{_field('init_temperature')} must be > 0 and {_field('max_logit_scale')} >= 1, "
                f"got {init_temperature!r} and {max_logit_scale!r} (the paper: 0.07 and 100)"
            )
        if not 0 <= pad_id < text_vocab_size:
            raise SeqlabError(
                f"{_field('pad_id')} must be a text token id in [0, {text_vocab_size}), got "
                f"{pad_id!r}: use the tokenizer's pad id"
            )
        self.text_vocab_size, self.text_len, self.pad_id = text_vocab_size, text_len, pad_id
        self.embed_size = embed_size
        self.image_encoder = ViT(
            image_size=image_size,
            patch_size=patch_size,
            channels=channels,
            hidden_size=hidden_size,
            num_layers=num_layers,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            pool=pool,
            attn_impl=attn_impl,
        )
        self.text_encoder = TextEncoder(
            vocab_size=text_vocab_size,
            text_len=text_len,
            hidden_size=text_hidden_size,
            num_layers=text_num_layers,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            pad_id=pad_id,
            attn_impl=attn_impl,
        )
        self.image_projection = nn.Linear(hidden_size, embed_size, bias=False)  # W_i
        self.text_projection = nn.Linear(text_hidden_size, embed_size, bias=False)  # W_t
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))  # t
        self.max_log_scale = math.log(max_logit_scale)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_encoder.channels, *self.image_encoder.image_size)

    def encode_image(self, images: Tensor) -> Tensor:
        """(B, C, H, W) -> unit-norm embeddings (B, embed_size)."""
        return F.normalize(self.image_projection(self.image_encoder(images)), dim=-1)

    def encode_text(self, ids: Tensor) -> Tensor:
        """(B, L) token ids -> unit-norm embeddings (B, embed_size)."""
        return F.normalize(self.text_projection(self.text_encoder(ids)), dim=-1)

    def scale(self) -> Tensor:
        """exp(t), clamped to at most max_logit_scale."""
        return self.logit_scale.clamp(max=self.max_log_scale).exp()

    def forward(self, images: Tensor, ids: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, C, H, W), ids (B, L) -> image-to-text logits (B, B), symmetric loss."""
        logits = self.scale() * self.encode_image(images) @ self.encode_text(ids).t()  # (B, B)
        # in float32 at least (bf16 autocast), float64 kept
        return logits, contrastive_loss(logits.to(torch.promote_types(logits.dtype, torch.float32)))

    def extra_repr(self) -> str:
        return (
            f"text_len={self.text_len}, text_vocab_size={self.text_vocab_size}, "
            f"embed_size={self.embed_size}"
        )
