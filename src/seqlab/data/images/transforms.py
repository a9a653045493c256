"""Turning uint8 image batches into model inputs: per-channel statistics, normalisation and
the training augmentations (random shift, horizontal flip) in plain torch ops."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import default_collate


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of raw pixel values over (N, C, H, W)."""
    x = images.to(torch.float64).transpose(0, 1).reshape(images.shape[1], -1)
    return x.mean(1).tolist(), (x.std(1) + 1e-8).tolist()


def random_shift(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Shift each image by a random offset in [-pad, pad] pixels on both axes (zeros enter).

    Same as zero padding by ``pad`` and a random crop of the original size. x: (B, C, H, W).
    """
    if pad <= 0:
        return x
    B, _, H, W = x.shape
    padded = F.pad(x, (pad, pad, pad, pad)).permute(0, 2, 3, 1)  # (B, H+2p, W+2p, C)
    dy = torch.randint(0, 2 * pad + 1, (B,))
    dx = torch.randint(0, 2 * pad + 1, (B,))
    rows = (dy[:, None] + torch.arange(H))[:, :, None]  # (B, H, 1)
    cols = (dx[:, None] + torch.arange(W))[:, None, :]  # (B, 1, W)
    batch = torch.arange(B)[:, None, None]
    return padded[batch, rows, cols].permute(0, 3, 1, 2).contiguous()  # (B, C, H, W)


def random_hflip(x: torch.Tensor, p: float = 0.5) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``. x: (B, C, H, W)."""
    flip = torch.rand(x.shape[0]) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


class ImageBatch:
    """Collate: stack uint8 images, augment (training), normalise -> float (B, C, H, W)."""

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        augment: bool = False,
        shift: int = 0,
        hflip: bool = False,
    ) -> None:
        self.mean = torch.tensor(list(mean), dtype=torch.float32)[:, None, None]
        self.std = torch.tensor(list(std), dtype=torch.float32)[:, None, None]
        self.augment = augment
        self.shift = int(shift)
        self.hflip = hflip

    def __call__(self, samples: list) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = default_collate(samples)
        x = images.float()
        if self.augment:
            x = random_shift(x, self.shift)
            if self.hflip:
                x = random_hflip(x)
        return (x - self.mean) / self.std, labels
