"""MiniROCKET (Dempster, Schmidt & Webb 2021), the field's fast reference classifier: a fixed
set of convolutions turned into proportion-of-positive-values features, then a ridge
classifier.

Written here in torch (the archive maintainers' ``aeon`` implementation needs numba, which
re-pins numpy and pandas; see the README). It follows the reference algorithm:

- 84 kernels of length 9: weight −1 everywhere and +2 at 3 of the 9 positions (all
  C(9, 3) choices), so each kernel sums to zero;
- dilations 2^e for e evenly spaced on [0, log2((T − 1) / 8)] (32 per kernel at most,
  duplicates merged), each dilation taking a share of the ~10,000 features;
- per (dilation, kernel): the convolution of one random training series, "same" zero
  padding; biases are its quantiles at the low-discrepancy sequence (k·φ) mod 1;
- feature = PPV = the share of steps where the convolution exceeds the bias; (dilation,
  kernel) pairs alternate between all steps and the steps the padding never reaches;
- several channels: each (dilation, kernel) sums the convolutions of a random subset of
  1 to min(C, 9) channels (the multivariate variant);
- the classifier is sklearn's RidgeClassifierCV over alphas 10^-3..10^3 on standardised
  features.

Series of different lengths (right-padded, with their lengths) are read at their own
length: the "same" padding of a short series is the zeros beyond its end, and PPV counts
only its own steps; the dilations come from the longest training series, and a short
series whose unpadded region is empty falls back to all of its steps.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import RidgeClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

KERNEL_LENGTH = 9
# (84, 3): the positions of the +2 weights in each kernel
POSITIVE = np.array(list(itertools.combinations(range(KERNEL_LENGTH), 3)))
NUM_KERNELS = len(POSITIVE)
CHUNK_ELEMENTS = 2**23  # convolution outputs held at once (64 MiB of float64)


def kernel_weights() -> torch.Tensor:
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


def padded(series: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """[(T_i, C)] -> (N, C, T_max) float64 right-padded with zeros, and lengths (N,)."""
    lengths = torch.tensor([len(s) for s in series])
    out = torch.zeros(len(series), series[0].shape[1], int(lengths.max()), dtype=torch.float64)
    for i, s in enumerate(series):
        out[i, :, : len(s)] = torch.as_tensor(np.asarray(s, dtype=np.float64)).T
    return out, lengths


class MiniRocket:
    """``MiniRocket().fit(train_series).transform(series) -> (N, ~num_features)``."""

    def __init__(
        self, num_features: int = 10_000, max_dilations_per_kernel: int = 32, seed: int = 0
    ) -> None:
        if num_features < NUM_KERNELS:
            raise ValueError(f"num_features must be at least {NUM_KERNELS}, got {num_features}")
        self.num_features, self.max_dilations = int(num_features), int(max_dilations_per_kernel)
        self.seed = int(seed)
        self.weights = kernel_weights()

    # ------------------------------------------------------------------ convolution
    def _convolve(self, x: torch.Tensor, dilation: int, channels: torch.Tensor) -> torch.Tensor:
        """(N, C, T) -> (N, 84, T): kernel k over the sum of its channels (mask (84, C))."""
        n, c, t = x.shape
        per_channel = F.conv1d(
            x.reshape(n * c, 1, t),
            self.weights[:, None, :],
            dilation=dilation,
            padding=(KERNEL_LENGTH // 2) * dilation,
        )  # (N·C, 84, T)
        return torch.einsum("nckt,kc->nkt", per_channel.reshape(n, c, NUM_KERNELS, t), channels)

    def _regions(self, lengths: torch.Tensor, t: int, dilation_index: int, dilation: int):
        """(N, 84, T) bool: the steps each kernel's PPV counts, per series."""
        steps = torch.arange(t)[None, :]
        full = steps < lengths[:, None]  # (N, T)
        pad = (KERNEL_LENGTH // 2) * dilation
        inner = (steps >= pad) & (steps < lengths[:, None] - pad)
        inner = torch.where(inner.any(dim=1, keepdim=True), inner, full)  # empty: all steps
        unpadded_only = (dilation_index + torch.arange(NUM_KERNELS)) % 2 == 1  # (84,)
        return torch.where(unpadded_only[None, :, None], inner[:, None], full[:, None])

    # ------------------------------------------------------------------ fit / transform
    def fit(self, series: list[np.ndarray]) -> MiniRocket:
        x, lengths = padded(series)
        n, c, t = x.shape
        rng = np.random.default_rng(self.seed)
        self.dilations, self.counts = fit_dilations(t, self.num_features, self.max_dilations)
        max_channels = min(c, KERNEL_LENGTH)
        self.channels, self.biases = [], []
        q = quantiles(NUM_KERNELS * int(self.counts.sum()))
        start = 0
        for dilation, count in zip(self.dilations, self.counts, strict=True):
            # (84, C) channel subsets of 1..min(C, 9) channels, chosen at random
            sizes = (2 ** rng.uniform(0, math.log2(max_channels + 1), NUM_KERNELS)).astype(int)
            mask = torch.zeros(NUM_KERNELS, c, dtype=torch.float64)
            for k, size in enumerate(sizes):
                mask[k, rng.choice(c, size, replace=False)] = 1.0
            examples = torch.from_numpy(rng.integers(n, size=NUM_KERNELS))
            out = self._convolve(x[examples], int(dilation), mask)  # (84 series, 84, T)
            biases = np.empty((NUM_KERNELS, count))
            for k in range(NUM_KERNELS):
                valid = out[k, k, : int(lengths[examples[k]])].numpy()
                biases[k] = np.quantile(valid, q[start : start + count])
                start += count
            self.channels.append(mask)
            self.biases.append(torch.from_numpy(biases))
        return self

    def transform(self, series: list[np.ndarray]) -> np.ndarray:
        x, lengths = padded(series)
        n, c, t = x.shape
        if c != self.channels[0].shape[1]:
            raise ValueError(f"fitted on {self.channels[0].shape[1]} channels, got {c}")
        chunk = max(1, CHUNK_ELEMENTS // (c * NUM_KERNELS * t * max(self.counts)))
        features = []
        for lo in range(0, n, chunk):
            xs, ls = x[lo : lo + chunk], lengths[lo : lo + chunk]
            parts = []
            for index, dilation in enumerate(self.dilations):
                conv = self._convolve(xs, int(dilation), self.channels[index])  # (n, 84, T)
                region = self._regions(ls, t, index, int(dilation))  # (n, 84, T)
                above = conv[..., None] > self.biases[index][None, :, None, :]  # (n, 84, T, m)
                counted = (above & region[..., None]).sum(dim=2)  # (n, 84, m)
                parts.append(counted.double() / region.sum(dim=2, keepdim=True))
            features.append(torch.cat([p.reshape(len(xs), -1) for p in parts], dim=1))
        return torch.cat(features).numpy()


def minirocket_accuracy(
    train: list[np.ndarray],
    train_labels: np.ndarray,
    test: list[np.ndarray],
    test_labels: np.ndarray,
    seed: int = 0,
) -> float:
    """Test accuracy of MiniROCKET features + RidgeClassifierCV fitted on ``train``."""
    rocket = MiniRocket(seed=seed).fit(train)
    classifier = make_pipeline(
        StandardScaler(with_mean=False), RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))
    )
    classifier.fit(rocket.transform(train), train_labels)
    return float((classifier.predict(rocket.transform(test)) == test_labels).mean())
