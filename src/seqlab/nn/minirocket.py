"""MiniROCKET (Dempster, Schmidt & Webb 2021) as a backbone: fixed convolutions turned into
proportion-of-positive-values (PPV) features, the field's fast series classifier.

One implementation serves two rooms: the functions here are the algorithm (kernels,
dilations, biases fitted from training series, PPV), used by the reference classifier
`seqlab.baselines.minirocket` (features + sklearn's RidgeClassifierCV, logged as
``baseline_rocket_acc``) and by `MiniRocketFeatures`, the backbone of ``model=minirocket``.

The algorithm, as its authors wrote it:

- 84 kernels of length 9: weight −1 everywhere and +2 at 3 of the 9 positions (all
  C(9, 3) choices), so each kernel sums to zero;
- dilations 2^e for e evenly spaced on [0, log2((T − 1) / 8)] (32 per kernel at most,
  duplicates merged), each dilation taking a share of the ~10,000 features;
- per (dilation, kernel): the convolution of one random training series, "same" zero
  padding; biases are its quantiles at the low-discrepancy sequence (k·φ) mod 1;
- feature = PPV = the share of steps where the convolution exceeds the bias; (dilation,
  kernel) pairs alternate between all steps and the steps the padding never reaches;
- several channels: each (dilation, kernel) sums the convolutions of a random subset of
  1 to min(C, 9) channels (the multivariate variant).

Series of different lengths (right-padded, with their lengths) are read at their own
length: the "same" padding of a short series is the zeros beyond its end, and PPV counts
only its own steps; the dilations come from the longest training series, and a short
series whose unpadded region is empty falls back to all of its steps. Everything is
computed in float64 (as the reference), whatever the input dtype: autocast is off inside, and
the fitted buffers stay float64 when the module is cast (``.half()``, a "-true" precision).

**The backbone** (`MiniRocketFeatures`) holds no trainable parameter. What it fits from the
training series — dilations, features per dilation, channel subsets, biases, and the
per-feature mean and standard deviation of the training features — are **buffers**, so they
travel in every checkpoint and ``predict.py`` reproduces the run. It is a pooled sequence
backbone (`seqlab.nn.contract`): it reads the raw channels (``reads_raw_inputs``: no input
projection; ``input_size`` is the data's channel count) and returns one standardised feature
vector per series, ``forward(x (B, T, C), state=None, *, lengths=None) -> ((B, output_size),
None)``. ``fit(x, lengths)`` is called once, by the task, before training (the ``fitted``
buffer says it happened: a resumed run does not refit).

The head is the task's (``model.head`` in ``configs/model/minirocket.yaml``). The default,
``ridge``, is the reference's RidgeClassifierCV solved in closed form on the standardised
training features when the backbone is fitted, so training takes one pass and gives the
reference's predictions (its logits scaled by a leave-one-out temperature, so that their
softmax is a probability; no prediction moves). ``trained`` (AdamW and cross-entropy over the epochs) was measured
less accurate and 4–5 times slower (benchmarks/results/minirocket_model.md).

Fed the same values, the model's features are the reference's, bit for bit. In a run the
model reads the datamodule's float32 batches, and the reference reads float64 series. On
data with flat stretches (a zero-sum kernel gives 0 there, next to a bias near 0) that
rounding can move a feature: PLAID's test accuracy differs by one series of 537.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.nn.checks import check_int

KERNEL_LENGTH = 9
# (84, 3): the positions of the +2 weights in each kernel
POSITIVE = np.array(list(itertools.combinations(range(KERNEL_LENGTH), 3)))
NUM_KERNELS = len(POSITIVE)
CHUNK_ELEMENTS = 2**23  # convolution outputs held at once (64 MiB of float64)


def kernel_weights() -> Tensor:
    """(84, 9) float64: −1 everywhere, +2 at each kernel's three positions."""
    weights = -torch.ones(NUM_KERNELS, KERNEL_LENGTH, dtype=torch.float64)
    weights[torch.arange(NUM_KERNELS)[:, None], torch.from_numpy(POSITIVE)] = 2.0
    return weights


def fit_dilations(
    length: int, num_features: int, max_dilations_per_kernel: int
) -> tuple[np.ndarray, np.ndarray]:
    """(dilations, features per dilation) for series of ``length`` steps."""
    per_kernel = num_features // NUM_KERNELS
    true_max = min(per_kernel, max_dilations_per_kernel)
    multiplier = per_kernel / true_max
    max_exponent = max(math.log2(max(length - 1, 1) / (KERNEL_LENGTH - 1)), 0.0)
    dilations, counts = np.unique(
        np.logspace(0, max_exponent, true_max, base=2).astype(np.int64), return_counts=True
    )
    counts = (counts * multiplier).astype(np.int64)
    for i in range(per_kernel - int(counts.sum())):  # hand out the remainder in turn
        counts[i % len(counts)] += 1
    return dilations, counts


def quantiles(n: int) -> np.ndarray:
    """The first n points of the low-discrepancy sequence (k·φ) mod 1, k = 1..n."""
    return (np.arange(1, n + 1) * ((math.sqrt(5) + 1) / 2)) % 1


def convolve(x: Tensor, weights: Tensor, dilation: int, channels: Tensor) -> Tensor:
    """(N, C, T) -> (N, 84, T): kernel k over the sum of its channels (mask (84, C))."""
    n, c, t = x.shape
    per_channel = F.conv1d(
        x.reshape(n * c, 1, t),
        weights[:, None, :],
        dilation=dilation,
        padding=(KERNEL_LENGTH // 2) * dilation,
    )  # (N·C, 84, T)
    return torch.einsum("nckt,kc->nkt", per_channel.reshape(n, c, NUM_KERNELS, t), channels)


def convolve_each(x: Tensor, weights: Tensor, dilation: int, channels: Tensor) -> Tensor:
    """(84, C, T) -> (84, T): kernel k over the sum of its channels (mask (84, C)) of series
    k only, what fitting a bias reads (``convolve``'s diagonal, without the other 83²)."""
    k, c, t = x.shape
    per_channel = F.conv1d(
        x.reshape(1, k * c, t),
        weights.repeat_interleave(c, dim=0)[:, None, :],  # series k's channels: kernel k
        dilation=dilation,
        padding=(KERNEL_LENGTH // 2) * dilation,
        groups=k * c,
    )  # (1, 84·C, T)
    return torch.einsum("kct,kc->kt", per_channel.reshape(k, c, t), channels)


def regions(lengths: Tensor, t: int, dilation_index: int, dilation: int) -> Tensor:
    """(N, 84, T) bool: the steps each kernel's PPV counts, per series."""
    steps = torch.arange(t, device=lengths.device)[None, :]
    full = steps < lengths[:, None]  # (N, T)
    pad = (KERNEL_LENGTH // 2) * dilation
    inner = (steps >= pad) & (steps < lengths[:, None] - pad)
    inner = torch.where(inner.any(dim=1, keepdim=True), inner, full)  # empty: all steps
    unpadded_only = (dilation_index + torch.arange(NUM_KERNELS, device=lengths.device)) % 2 == 1
    return torch.where(unpadded_only[None, :, None], inner[:, None], full[:, None])


def fit_biases(
    x: Tensor, lengths: Tensor, num_features: int, max_dilations_per_kernel: int, seed: int
) -> tuple[np.ndarray, np.ndarray, list[Tensor], list[Tensor]]:
    """From training series x (N, C, T) float64 right-padded with their lengths (N,):
    (dilations, features per dilation, per dilation the (84, C) channel masks and the
    (84, count) biases)."""
    n, c, t = x.shape
    x, lengths = x.cpu(), lengths.cpu()
    weights = kernel_weights()
    rng = np.random.default_rng(seed)
    dilations, counts = fit_dilations(t, num_features, max_dilations_per_kernel)
    max_channels = min(c, KERNEL_LENGTH)
    all_channels, all_biases = [], []
    q = quantiles(NUM_KERNELS * int(counts.sum()))
    start = 0
    for dilation, count in zip(dilations, counts, strict=True):
        # (84, C) channel subsets of 1..min(C, 9) channels, chosen at random
        sizes = (2 ** rng.uniform(0, math.log2(max_channels + 1), NUM_KERNELS)).astype(int)
        mask = torch.zeros(NUM_KERNELS, c, dtype=torch.float64)
        for k, size in enumerate(sizes):
            mask[k, rng.choice(c, size, replace=False)] = 1.0
        examples = torch.from_numpy(rng.integers(n, size=NUM_KERNELS))
        out = convolve_each(x[examples], weights, int(dilation), mask)  # (84, T)
        biases = np.empty((NUM_KERNELS, count))
        for k in range(NUM_KERNELS):
            valid = out[k, : int(lengths[examples[k]])].numpy()
            biases[k] = np.quantile(valid, q[start : start + count])
            start += count
        all_channels.append(mask)
        all_biases.append(torch.from_numpy(biases))
    return dilations, counts, all_channels, all_biases


def ppv(
    x: Tensor,
    lengths: Tensor,
    weights: Tensor,
    dilations: list[int],
    channels: list[Tensor],
    biases: list[Tensor],
    chunk_elements: int | None = CHUNK_ELEMENTS,
) -> Tensor:
    """PPV features (N, Σ 84·count) float64 of x (N, C, T) float64 with lengths (N,); in
    chunks of series holding at most ``chunk_elements`` comparisons (None: all at once)."""
    n, c, t = x.shape
    widest = max(b.shape[1] for b in biases)
    chunk = (
        n if chunk_elements is None else max(1, chunk_elements // (c * NUM_KERNELS * t * widest))
    )
    features = []
    for lo in range(0, n, chunk):
        # one chunk: the batch itself (a traced slice would fix the batch size)
        xs, ls = (x, lengths) if chunk >= n else (x[lo : lo + chunk], lengths[lo : lo + chunk])
        parts = []
        for index, dilation in enumerate(dilations):
            conv = convolve(xs, weights, dilation, channels[index])  # (n, 84, T)
            region = regions(ls, t, index, dilation)  # (n, 84, T)
            above = conv[..., None] > biases[index][None, :, None, :]  # (n, 84, T, m)
            counted = (above & region[..., None]).sum(dim=2)  # (n, 84, m)
            parts.append(counted.double() / region.sum(dim=2, keepdim=True))
        features.append(torch.cat([p.flatten(1) for p in parts], dim=1))
    return torch.cat(features)


class MiniRocketFeatures(nn.Module):
    """Fixed MiniROCKET features, standardised with the training statistics: a pooled
    sequence backbone (x (B, T, C) raw channels -> (B, output_size)) fitted once by ``fit``.

    ``num_features`` is rounded down to a multiple of 84 (``output_size``); ``seed`` draws the
    channel subsets and the series each bias is read from (the reference's ``data.seed``)."""

    kind: ClassVar[str] = "sequence"
    causal: ClassVar[bool] = False  # a feature reads the whole series
    pooled: ClassVar[bool] = True  # forward returns one vector per series, not per step
    reads_raw_inputs: ClassVar[bool] = True  # no input projection: input_size = data channels
    # ONNX Runtime has no float64 convolution, and float32 would not be the reference's
    export_formats: ClassVar[tuple[str, ...]] = ("torchscript",)
    export_note: ClassVar[str] = (
        "its features are computed in float64 (as the reference's), and ONNX Runtime has no "
        "float64 convolution"
    )
    # buffers whose shapes are set by fit (the number of dilations depends on the data)
    _FITTED_SHAPES: ClassVar[tuple[str, ...]] = ("dilations", "counts", "channels")

    def __init__(
        self,
        *,
        input_size: int | None = None,
        num_features: int = 10_000,
        max_dilations_per_kernel: int = 32,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if input_size is not None:  # None: the data's channel count, filled in before the task
            check_int("input_size", input_size)
        check_int("max_dilations_per_kernel", max_dilations_per_kernel)
        check_int("num_features", num_features, NUM_KERNELS)
        self.input_size = None if input_size is None else int(input_size)
        self.seed = int(seed)
        self.num_features, self.max_dilations = int(num_features), int(max_dilations_per_kernel)
        self.output_size = self.num_features // NUM_KERNELS * NUM_KERNELS
        f64 = torch.float64
        self.register_buffer("weights", kernel_weights(), persistent=False)
        self.register_buffer("dilations", torch.zeros(0, dtype=torch.long))
        self.register_buffer("counts", torch.zeros(0, dtype=torch.long))
        self.register_buffer("channels", torch.zeros(0, NUM_KERNELS, input_size or 0, dtype=f64))
        self.register_buffer("biases", torch.zeros(self.output_size, dtype=f64))
        self.register_buffer("mean", torch.zeros(self.output_size, dtype=f64))
        self.register_buffer("std", torch.ones(self.output_size, dtype=f64))
        self.register_buffer("fitted", torch.tensor(False))
        self._plan: list[tuple[int, int]] = []  # (dilation, count) as Python ints

    # ------------------------------------------------------------------ fitting
    def fit(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Fit on the training series x (N, T, C) right-padded (with lengths (N,)): biases,
        then the features' mean and std. Returns the standardised training features
        (N, output_size) float64, what a closed-form head is fitted on."""
        x64, lengths = self._prepared(x, lengths)
        dilations, counts, channels, biases = fit_biases(
            x64, lengths, self.num_features, self.max_dilations, self.seed
        )
        device = self.biases.device
        self.dilations = torch.from_numpy(dilations).to(device)
        self.counts = torch.from_numpy(counts).to(device)
        self.channels = torch.stack(channels).to(device)  # (D, 84, C)
        self.biases = torch.cat([b.reshape(-1) for b in biases]).to(device)  # feature order
        self._plan = list(zip(dilations.tolist(), counts.tolist(), strict=True))
        features = self.transform(x, lengths)  # (N, F)
        std = features.std(dim=0, unbiased=False)
        self.mean = features.mean(dim=0)
        self.std = torch.where(std > 0, std, torch.ones_like(std))  # as sklearn's scaler
        self.fitted.fill_(True)
        return (features - self.mean) / self.std

    def _prepared(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        """(B, T, C) any float -> (B, C, T) float64 and lengths (B,) on x's device."""
        if x.dim() != 3 or x.shape[-1] != (self.input_size or x.shape[-1]):
            raise ValueError(
                f"expected input of shape (batch, time, {self.input_size}), got {tuple(x.shape)}"
            )
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
        return x.transpose(1, 2).double(), lengths.to(x.device)

    def transform(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Raw PPV features (B, output_size) float64 of x (B, T, C), as the reference's."""
        if not self._plan:
            raise RuntimeError(
                "MiniRocketFeatures is not fitted: call fit(train_x, lengths) first (the "
                "classification task does, before training)."
            )
        x64, lengths = self._prepared(x, lengths)
        with torch.autocast(x.device.type, enabled=False):  # mixed precision: still float64
            return self._ppv(x64, lengths)

    def _ppv(self, x64: Tensor, lengths: Tensor) -> Tensor:
        # whole batches while tracing (export): the chunk loop would fix the batch size
        tracing = torch.compiler.is_compiling() or torch.jit.is_tracing()
        splits = [n * NUM_KERNELS for _, n in self._plan]
        return ppv(
            x64,
            lengths,
            self.weights,
            [d for d, _ in self._plan],
            list(self.channels.unbind(0)),
            [
                b.reshape(NUM_KERNELS, n)
                for b, (_, n) in zip(self.biases.split(splits), self._plan, strict=True)
            ],
            chunk_elements=None if tracing else CHUNK_ELEMENTS,
        )

    def forward(
        self, x: Tensor, state: Any = None, *, lengths: Tensor | None = None
    ) -> tuple[Tensor, None]:
        # x: (B, T, C) raw channels -> standardised features (B, output_size); no state
        features = (self.transform(x, lengths) - self.mean) / self.std
        return features.to(x.dtype), None

    def _apply(self, fn: Any, recurse: bool = True) -> MiniRocketFeatures:
        # .to(device) moves the buffers; .half()/.to(bfloat16) (a "-true" precision trainer)
        # leaves the fitted float64 buffers float64: biases in bf16 would not be the model's
        kept = {
            n: b for n, b in self._buffers.items() if b is not None and b.dtype == torch.float64
        }
        super()._apply(fn, recurse)
        for name, old in kept.items():
            new = self._buffers[name]
            if new is not None and new.dtype != torch.float64:
                self._buffers[name] = old.to(device=new.device)
        return self

    # ------------------------------------------------------------------ checkpoints
    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any):
        # the fitted buffers take the checkpoint's shapes (the dilations depend on the data)
        for name in self._FITTED_SHAPES:
            value = state_dict.get(prefix + name)
            if value is not None:
                setattr(self, name, torch.empty_like(value, device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._plan = list(zip(self.dilations.tolist(), self.counts.tolist(), strict=True))

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, output_size={self.output_size}, "
            f"dilations={[d for d, _ in self._plan]}, seed={self.seed}"
        )
