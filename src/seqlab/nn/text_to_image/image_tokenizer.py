"""A discrete image autoencoder: VQ-VAE (van den Oord et al. 2017, "Neural Discrete
Representation Learning"), the image tokenizer for `seqlab.nn.text_to_image.dalle.DALLE`.

    z   = Enc(x)                   (B, D, h, w)   stride-2 convs: h = ⌈H / downsample⌉
    k   = argmin_j ‖z - e_j‖²      (B, h, w)      nearest of the K codebook vectors e_j
    z_q = z + (e_k - z).detach()                  straight-through: forward e_k, backward ∂/∂z
    x̂   = Dec(z_q)                 (B, C, H, W)

Loss (added by the task): ‖x - x̂‖² + vq_loss, with vq_loss = β‖z - sg(e_k)‖² (commitment) plus,
with ``ema=False``, the codebook loss ‖sg(z) - e_k‖². With ``ema=True`` (default) the codebook
is not trained by gradients but set to exponential moving averages of the encoder outputs
assigned to each code (the paper's appendix; more stable): N_j ← γN_j + (1-γ)n_j,
m_j ← γm_j + (1-γ)Σ z, e_j = m_j / N_j.

Codebook usage: perplexity = exp(entropy of the batch's code histogram), from 1 (one code) to K
(all equally used). Dead codes: a code unused for ``dead_code_threshold`` training steps is
restarted at a random encoder output of the current batch. The codebook is initialised from
the first training batch's encoder outputs.

Output space: ``output="linear"`` (default) decodes raw values, for standardised pixels as
seqlab's image loaders give them (mean/std of the training split); ``output="sigmoid"`` squashes
into [0, 1] for pixels scaled to [0, 1]. Either way use MSE against the same inputs.

Sizes: each stride-2 level uses kernel 4 on even sizes (exact halving) and kernel 3 on odd ones
(⌈n/2⌉), and the decoder's transposed convs mirror them, so decode(encode(x)) has x's shape:
28x28 with downsample 4 -> 7x7 codes, 8x8 with downsample 2 -> 4x4, 28x28 with 8 -> 4x4.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import SeqlabError
from seqlab.nn.checks import check_int as _check_int
from seqlab.nn.checks import field as _field
from seqlab.nn.checks import image_hw as _image_hw

__all__ = ["VQVAE", "VectorQuantizer"]

OUTPUTS = ("linear", "sigmoid")


def _check_number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise SeqlabError(f"{_field(name)} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


class VectorQuantizer(nn.Module):
    """Nearest-codebook quantisation with a straight-through gradient, EMA or loss-trained
    codebook, perplexity and dead-code restarts. Codebook: ``embedding`` (K, D)."""

    def __init__(
        self,
        *,
        codebook_size: int,
        code_dim: int,
        commitment: float = 0.25,
        ema: bool = True,
        decay: float = 0.99,
        eps: float = 1e-5,
        dead_code_threshold: int | None = 50,
    ) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.code_dim = code_dim
        self.commitment = commitment
        self.ema = ema
        self.decay = decay
        self.eps = eps
        self.dead_code_threshold = dead_code_threshold
        embedding = torch.randn(codebook_size, code_dim)
        if ema:
            self.register_buffer("embedding", embedding)
            self.register_buffer("cluster_size", torch.ones(codebook_size))
            self.register_buffer("embed_sum", embedding.clone())
        else:
            self.embedding = nn.Parameter(embedding)
        self.register_buffer("unused_steps", torch.zeros(codebook_size, dtype=torch.long))
        self.register_buffer("initialized", torch.tensor(False))

    def nearest(self, flat: Tensor) -> Tensor:
        """flat (M, D) -> index (M,) of the nearest codebook vector."""
        e = self.embedding.float()
        d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.t() + e.pow(2).sum(1)  # (M, K)
        return d.argmin(dim=1)

    @torch.no_grad()
    def _set_codes(self, index: Tensor, vectors: Tensor) -> None:
        self.embedding.data[index] = vectors.to(self.embedding.dtype)
        if self.ema:
            self.cluster_size[index] = 1.0
            self.embed_sum[index] = vectors
        self.unused_steps[index] = 0

    @torch.no_grad()
    def _update(self, flat: Tensor, codes: Tensor, counts: Tensor) -> int:
        """Training-step updates: data init, EMA, dead-code restarts. Returns the restarts."""
        if self.ema:
            sums = torch.zeros_like(self.embed_sum).index_add_(0, codes, flat)  # (K, D)
            if dist.is_available() and dist.is_initialized():
                dist.all_reduce(counts)
                dist.all_reduce(sums)
            self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
            self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
            # Laplace smoothing keeps never-used codes from dividing by zero
            n = self.cluster_size.sum()
            size = (self.cluster_size + self.eps) / (n + self.codebook_size * self.eps) * n
            self.embedding.copy_(self.embed_sum / size[:, None])
        if not self.dead_code_threshold:
            return 0
        self.unused_steps.add_(1).masked_fill_(counts > 0, 0)
        dead = (self.unused_steps >= self.dead_code_threshold).nonzero().squeeze(1)
        if len(dead):
            pick = torch.randint(len(flat), (len(dead),), device=flat.device)
            self._set_codes(dead, flat[pick])
        return len(dead)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """z (B, D, h, w) -> z_q (B, D, h, w), vq_loss (scalar), info: codes (B, h, w),
        perplexity (scalar), restarts (dead codes restarted this step)."""
        B, D, h, w = z.shape
        # distances and EMA statistics in float32, also under autocast
        with torch.autocast(device_type=z.device.type, enabled=False):
            zf = z.float()
            flat = zf.permute(0, 2, 3, 1).reshape(-1, D)  # (B*h*w, D)
            if self.training and not bool(self.initialized):
                with torch.no_grad():
                    pick = torch.randint(len(flat), (self.codebook_size,), device=flat.device)
                    self._set_codes(
                        torch.arange(self.codebook_size, device=flat.device), flat[pick]
                    )
                    self.initialized.fill_(True)
            codes = self.nearest(flat.detach())  # (M,)
            counts = torch.bincount(codes, minlength=self.codebook_size).float()  # (K,)
            probs = counts / counts.sum()
            perplexity = torch.exp(-(probs * torch.log(probs.clamp_min(1e-10))).sum())
            restarts = 0
            if self.training:
                restarts = self._update(flat.detach(), codes, counts.clone())
            q = self.embedding.float()[codes].view(B, h, w, D).permute(0, 3, 1, 2)  # (B, D, h, w)
            loss = self.commitment * F.mse_loss(zf, q.detach())
            if not self.ema:
                loss = loss + F.mse_loss(q, zf.detach())
            z_q = zf + (q - zf).detach()
        info = {
            "codes": codes.view(B, h, w),
            "perplexity": perplexity,
            "restarts": torch.tensor(restarts),
        }
        return z_q.to(z.dtype), loss, info

    def lookup(self, codes: Tensor) -> Tensor:
        """codes (B, h, w) long -> codebook vectors (B, D, h, w)."""
        return self.embedding[codes].permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (
            f"codebook_size={self.codebook_size}, code_dim={self.code_dim}, "
            f"commitment={self.commitment}, ema={self.ema}, "
            f"dead_code_threshold={self.dead_code_threshold}"
        )


class ResBlock(nn.Module):
    def __init__(self, *, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class VQVAE(nn.Module):
    """Conv encoder -> `VectorQuantizer` -> conv-transpose decoder; see the module docstring."""

    kind: ClassVar[str] = "image_tokenizer"

    def __init__(
        self,
        *,
        image_size: int | tuple[int, int] = 28,
        channels: int = 1,
        hidden_size: int = 64,
        codebook_size: int = 128,
        code_dim: int = 32,
        downsample: int = 4,
        num_res_blocks: int = 1,
        commitment: float = 0.25,
        ema: bool = True,
        decay: float = 0.99,
        dead_code_threshold: int | None = 50,
        output: str = "linear",
    ) -> None:
        super().__init__()
        H, W = _image_hw(image_size)
        for name, value in (
            ("channels", channels),
            ("hidden_size", hidden_size),
            ("codebook_size", codebook_size),
            ("code_dim", code_dim),
            ("downsample", downsample),
        ):
            _check_int(name, value)
        _check_int("num_res_blocks", num_res_blocks, least=0)
        if downsample & (downsample - 1):
            raise SeqlabError(
                f"{_field('downsample')} must be a power of 2 (each level halves the image), "
                f"got {downsample}: use one of 1, 2, 4, 8"
            )
        _check_number("commitment", commitment, 0.0, math.inf)
        _check_number("decay", decay, 0.0, 1.0)
        if dead_code_threshold is not None:
            _check_int("dead_code_threshold", dead_code_threshold, least=0)
        if output not in OUTPUTS:
            raise SeqlabError(
                f"{_field('output')} must be 'linear' (standardised pixels) or 'sigmoid' "
                f"(pixels in [0, 1]), got {output!r}"
            )
        self.image_size = (H, W)
        self.channels = channels
        self.output = output

        # per level: kernel 4 halves an even size exactly, kernel 3 gives ⌈n/2⌉ for an odd one
        levels = int(math.log2(downsample))
        kernels, h, w = [], H, W
        for _ in range(levels):
            kernels.append((4 if h % 2 == 0 else 3, 4 if w % 2 == 0 else 3))
            h, w = (h + 1) // 2, (w + 1) // 2
        if h < 1 or w < 1 or min(H, W) < downsample:
            raise SeqlabError(
                f"{_field('downsample')}={downsample} is too large for {H}x{W} images"
            )
        self.grid_size = (h, w)
        self.num_tokens = h * w

        enc: list[nn.Module] = []
        c_in = channels
        for k in kernels:
            enc += [nn.Conv2d(c_in, hidden_size, k, stride=2, padding=1), nn.ReLU()]
            c_in = hidden_size
        enc += [nn.Conv2d(c_in, hidden_size, 3, padding=1)]
        enc += [ResBlock(channels=hidden_size) for _ in range(num_res_blocks)]
        enc += [nn.ReLU(), nn.Conv2d(hidden_size, code_dim, 1)]
        self.encoder = nn.Sequential(*enc)

        self.quantizer = VectorQuantizer(
            codebook_size=codebook_size,
            code_dim=code_dim,
            commitment=commitment,
            ema=ema,
            decay=decay,
            dead_code_threshold=dead_code_threshold,
        )

        dec: list[nn.Module] = [nn.Conv2d(code_dim, hidden_size, 3, padding=1)]
        dec += [ResBlock(channels=hidden_size) for _ in range(num_res_blocks)]
        dec += [nn.ReLU()]
        for i, k in enumerate(reversed(kernels)):
            last = i == levels - 1
            dec += [
                nn.ConvTranspose2d(hidden_size, channels if last else hidden_size, k, 2, padding=1)
            ]
            if not last:
                dec += [nn.ReLU()]
        if levels == 0:
            dec += [nn.Conv2d(hidden_size, channels, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    @property
    def codebook_size(self) -> int:
        return self.quantizer.codebook_size

    def _check_images(self, images: Tensor) -> None:
        if images.dim() != 4 or tuple(images.shape[1:]) != (self.channels, *self.image_size):
            raise ValueError(
                f"expected images of shape (batch, {self.channels}, {self.image_size[0]}, "
                f"{self.image_size[1]}), got {tuple(images.shape)}"
            )

    def _decode_latent(self, z_q: Tensor) -> Tensor:
        x = self.decoder(z_q)  # (B, C, H, W)
        return torch.sigmoid(x) if self.output == "sigmoid" else x

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """images (B, C, H, W) -> recon (B, C, H, W), vq_loss (scalar), info: codes
        (B, h*w) long, perplexity, restarts. Training mode updates the codebook."""
        self._check_images(images)
        z = self.encoder(images)  # (B, D, h, w)
        z_q, vq_loss, info = self.quantizer(z)
        info["codes"] = info["codes"].flatten(1)  # (B, h*w), row-major
        return self._decode_latent(z_q), vq_loss, info

    @torch.no_grad()
    def encode(self, images: Tensor) -> Tensor:
        """images (B, C, H, W) -> codes (B, h*w) long, row-major over the grid; no updates."""
        self._check_images(images)
        z = self.encoder(images).float()  # (B, D, h, w)
        B, D, h, w = z.shape
        return self.quantizer.nearest(z.permute(0, 2, 3, 1).reshape(-1, D)).view(B, h * w)

    def decode(self, codes: Tensor) -> Tensor:
        """codes (B, h*w) long -> images (B, C, H, W)."""
        if codes.dim() != 2 or codes.shape[1] != self.num_tokens:
            raise ValueError(
                f"expected codes of shape (batch, {self.num_tokens}), got {tuple(codes.shape)}"
            )
        z_q = self.quantizer.lookup(codes.view(-1, *self.grid_size))  # (B, D, h, w)
        return self._decode_latent(z_q)

    def extra_repr(self) -> str:
        return (
            f"image_size={self.image_size}, channels={self.channels}, "
            f"grid_size={self.grid_size}, output={self.output!r}"
        )
