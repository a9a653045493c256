"""DALL·E-style text-to-image model (Ramesh et al. 2021): a decoder-only transformer over the
caption's tokens followed by the image's discrete codes (from `seqlab.nn.text_to_image.image_tokenizer.VQVAE`).

    input    [t_1 … t_L] [<soi>] [c_1 … c_{N-1}]        L = text_len (padded), N = image_tokens
    target   [t_2 … t_L]   ·     [c_1 … c_N]
    embed    text: E_text[t] + P_text[position];  <soi>: a learned vector;
             image: E_img[c] + P_row[r] + P_col[k]  (code i sits at row i // w, column i % w)

The trunk is `seqlab.nn.transformer.GPTBackbone` (causal blocks + final LayerNorm, seqlab's one
attention) without its own positions. Two heads: image logits at <soi> and at the image tokens,
text logits at the text tokens. loss = CE(image) + text_loss_weight · CE(text), the text term
ignoring padding targets; with text_loss_weight = 0 there is no text head at all (so no unused
parameters under DDP). Padding tokens stay in the sequence (every caption of a length looks
the same to the model); they are not masked out as keys.

Generation: the caption and <soi> in one pass, then one image code per step through the KV
cache (``use_cache=False`` recomputes the whole sequence each step; same result).

Classifier-free guidance (Ho & Salimans 2022): with ``caption_dropout`` = p > 0, each training
caption is replaced by the empty caption (all padding) with probability p, so the same model
also learns p(codes) without a caption. Sampling with ``guidance`` = w ≠ 1 runs the caption and
the empty caption side by side and draws each code from
l = l_uncond + w · (l_cond − l_uncond); w = 1 is plain conditional sampling (one pass).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import SeqlabError
from seqlab.nn.checks import check_heads
from seqlab.nn.checks import check_int as _check_int
from seqlab.nn.checks import field as _field
from seqlab.nn.sampling import sample_next
from seqlab.nn.transformer import ATTN_IMPLS, GPTBackbone, TransformerCache

__all__ = ["DALLE"]


class DALLE(nn.Module):
    """Decoder-only transformer over [text tokens, <soi>, image tokens]; see the module doc."""

    kind: ClassVar[str] = "text_to_image"

    def __init__(
        self,
        *,
        text_vocab_size: int,
        text_len: int,
        image_vocab_size: int,
        image_tokens: int,
        grid_size: Sequence[int],
        hidden_size: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        dropout: float = 0.0,
        text_loss_weight: float = 0.0,
        pad_id: int = 0,
        mlp_ratio: float = 4.0,
        attn_impl: str = "sdpa",
        caption_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        for name, value in (
            ("text_vocab_size", text_vocab_size),
            ("text_len", text_len),
            ("image_vocab_size", image_vocab_size),
            ("image_tokens", image_tokens),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
        ):
            _check_int(name, value)
        check_heads("hidden_size", hidden_size, "num_heads", num_heads)
        grid = tuple(grid_size) if isinstance(grid_size, Sequence) else ()
        if (
            len(grid) != 2
            or any(isinstance(g, bool) or not isinstance(g, int) or g < 1 for g in grid)
            or grid[0] * grid[1] != image_tokens
        ):
            raise SeqlabError(
                f"{_field('grid_size')} must be [rows, columns] of the image tokenizer's code "
                f"grid with rows * columns = {_field('image_tokens')} ({image_tokens}), "
                f"got {grid_size!r}"
            )
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, int | float)
            or not 0 <= dropout < 1
        ):
            raise SeqlabError(f"{_field('dropout')} must be a number in [0, 1), got {dropout!r}")
        if (
            isinstance(text_loss_weight, bool)
            or not isinstance(text_loss_weight, int | float)
            or text_loss_weight < 0
        ):
            raise SeqlabError(
                f"{_field('text_loss_weight')} must be a number >= 0 (0 = no text loss), "
                f"got {text_loss_weight!r}"
            )
        if (
            isinstance(pad_id, bool)
            or not isinstance(pad_id, int)
            or not 0 <= pad_id < text_vocab_size
        ):
            raise SeqlabError(
                f"{_field('pad_id')} must be a text token id in [0, {text_vocab_size}), "
                f"got {pad_id!r}: use the tokenizer's pad id"
            )
        if (
            isinstance(caption_dropout, bool)
            or not isinstance(caption_dropout, int | float)
            or not 0 <= caption_dropout < 1
        ):
            raise SeqlabError(
                f"{_field('caption_dropout')} must be a number in [0, 1) (0 = off; 0.1 trains "
                f"for classifier-free guidance), got {caption_dropout!r}"
            )
        if attn_impl not in ATTN_IMPLS:
            raise SeqlabError(
                f"{_field('attn_impl')} must be one of {list(ATTN_IMPLS)}, got {attn_impl!r}"
            )
        self.text_vocab_size = text_vocab_size
        self.text_len = text_len
        self.image_vocab_size = image_vocab_size
        self.image_tokens = image_tokens
        self.grid_size = (int(grid[0]), int(grid[1]))
        self.hidden_size = dim = hidden_size
        self.text_loss_weight = float(text_loss_weight)
        self.pad_id = pad_id
        self.caption_dropout = float(caption_dropout)

        self.text_emb = nn.Embedding(text_vocab_size, dim)
        self.text_pos = nn.Embedding(text_len, dim)
        self.soi = nn.Parameter(torch.zeros(dim))  # start-of-image
        self.image_emb = nn.Embedding(image_vocab_size, dim)
        self.row_pos = nn.Embedding(self.grid_size[0], dim)
        self.col_pos = nn.Embedding(self.grid_size[1], dim)
        self.backbone = GPTBackbone(
            hidden_size=dim,
            num_layers=num_layers,
            num_heads=num_heads,
            dropout=float(dropout),
            max_len=text_len + image_tokens,
            mlp_ratio=mlp_ratio,
            attn_impl=attn_impl,
            pos_encoding="none",
        )
        self.image_head = nn.Linear(dim, image_vocab_size, bias=False)
        self.text_head = nn.Linear(dim, text_vocab_size, bias=False) if text_loss_weight else None
        for p in (
            self.text_emb.weight,
            self.text_pos.weight,
            self.soi,
            self.image_emb.weight,
            self.row_pos.weight,
            self.col_pos.weight,
            self.image_head.weight,
            *([] if self.text_head is None else [self.text_head.weight]),
        ):
            nn.init.normal_(p, mean=0.0, std=0.02)

    @property
    def seq_len(self) -> int:
        return self.text_len + self.image_tokens

    def new_cache(self) -> TransformerCache:
        return self.backbone.new_cache()

    # -- embeddings ---------------------------------------------------------------------------

    def _check_text(self, text: Tensor) -> None:
        if text.dim() != 2 or text.shape[1] != self.text_len:
            raise ValueError(
                f"expected text of shape (batch, {self.text_len}) (pad to text_len), "
                f"got {tuple(text.shape)}"
            )

    def _prefix(self, text: Tensor) -> Tensor:
        """text (B, L) -> embedded [text, <soi>] (B, L + 1, dim)."""
        pos = torch.arange(self.text_len, device=text.device)
        x = self.text_emb(text) + self.text_pos(pos)  # (B, L, dim)
        soi = self.soi.to(x.dtype).expand(x.shape[0], 1, -1)  # (B, 1, dim)
        return torch.cat([x, soi], dim=1)

    def _embed_image(self, codes: Tensor, start: int = 0) -> Tensor:
        """codes (B, T) at grid positions start .. start+T-1 -> (B, T, dim)."""
        pos = torch.arange(start, start + codes.shape[1], device=codes.device)
        w = self.grid_size[1]
        return self.image_emb(codes) + self.row_pos(pos // w) + self.col_pos(pos % w)

    # -- training -----------------------------------------------------------------------------

    def losses(self, text: Tensor, image_codes: Tensor) -> dict[str, Tensor]:
        """Teacher-forced pass. text (B, L) long, image_codes (B, N) long -> logits_image
        (B, N, image_vocab), image / text cross-entropies and loss = image + weight * text
        (text is 0 without a text head)."""
        self._check_text(text)
        if image_codes.dim() != 2 or image_codes.shape[1] != self.image_tokens:
            raise ValueError(
                f"expected image_codes of shape (batch, {self.image_tokens}), "
                f"got {tuple(image_codes.shape)}"
            )
        if self.training and self.caption_dropout > 0:
            dropped = torch.rand(text.shape[0], 1, device=text.device) < self.caption_dropout
            text = text.masked_fill(dropped, self.pad_id)  # (B, L): the empty caption
        x = torch.cat([self._prefix(text), self._embed_image(image_codes[:, :-1])], dim=1)
        h, _ = self.backbone(x)  # (B, L + N, dim)
        L = self.text_len
        logits_image = self.image_head(h[:, L:])  # (B, N, V_img): <soi> predicts the first code
        image_loss = F.cross_entropy(
            logits_image.reshape(-1, self.image_vocab_size).float(), image_codes.reshape(-1)
        )
        text_loss = image_loss.new_zeros(())
        if self.text_head is not None and L > 1:
            logits_text = self.text_head(h[:, : L - 1])  # (B, L-1, V_txt): t_i predicts t_{i+1}
            targets = text[:, 1:]
            # mean over non-padding targets; 0 when a batch has none (one-word captions)
            total = F.cross_entropy(
                logits_text.reshape(-1, self.text_vocab_size).float(),
                targets.reshape(-1),
                ignore_index=self.pad_id,
                reduction="sum",
            )
            text_loss = total / (targets != self.pad_id).sum().clamp_min(1)
        loss = image_loss + self.text_loss_weight * text_loss
        return {"logits_image": logits_image, "image": image_loss, "text": text_loss, "loss": loss}

    def forward(self, text: Tensor, image_codes: Tensor) -> tuple[Tensor, Tensor]:
        """text (B, L) long, image_codes (B, N) long -> logits_image (B, N, V_img), loss."""
        out = self.losses(text, image_codes)
        return out["logits_image"], out["loss"]

    # -- sampling -----------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        text: Tensor,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
        guidance: float = 1.0,
    ) -> Tensor:
        """Sample image codes (B, N) for text (B, L), one code at a time.

        temperature 0 = greedy. A seeded ``generator`` (on the model's device) makes the
        samples reproducible. Call model.eval() first (dropout). ``guidance`` w ≠ 1:
        classifier-free guidance against the empty caption (see the module doc; twice the
        compute).
        """
        self._check_text(text)
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be None or >= 1, got {top_k}")
        guided = float(guidance) != 1.0
        if guided:  # rows B.. 2B-1: the empty caption, sampled with the same codes
            text = torch.cat([text, torch.full_like(text, self.pad_id)])
        prefix = self._prefix(text)  # (B or 2B, L + 1, dim)
        codes = text.new_zeros((text.shape[0], 0))
        cache = self.new_cache() if use_cache else None
        h, _ = self.backbone(prefix, cache)
        for i in range(self.image_tokens):
            logits = self.image_head(h[:, -1])  # (B or 2B, V_img)
            if guided:
                cond, uncond = logits.float().chunk(2)
                logits = uncond + float(guidance) * (cond - uncond)  # (B, V_img)
            nxt = sample_next(logits, temperature=temperature, top_k=top_k, generator=generator)
            if guided:
                nxt = torch.cat([nxt, nxt])  # both rows continue with the drawn code
            codes = torch.cat([codes, nxt], dim=1)  # (B or 2B, i + 1)
            if i == self.image_tokens - 1:
                break
            if cache is not None:
                h, _ = self.backbone(self._embed_image(nxt, start=i), cache)  # new step only
            else:
                h, _ = self.backbone(torch.cat([prefix, self._embed_image(codes)], dim=1))
        return codes[: len(codes) // 2] if guided else codes

    def extra_repr(self) -> str:
        return (
            f"text_len={self.text_len}, text_vocab_size={self.text_vocab_size}, "
            f"image_tokens={self.image_tokens}, grid_size={self.grid_size}, "
            f"image_vocab_size={self.image_vocab_size}, text_loss_weight={self.text_loss_weight}"
        )
