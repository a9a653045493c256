"""MiniROCKET (Dempster, Schmidt & Webb 2021), the field's fast reference classifier: a fixed
set of convolutions turned into proportion-of-positive-values features, then a ridge
classifier.

Written here in torch (the archive maintainers' ``aeon`` implementation needs numba, which
re-pins numpy and pandas; see the README). The algorithm itself (kernels, dilations, biases,
PPV over each series' own steps) lives in `seqlab.nn.minirocket`, shared with the backbone of
``model=minirocket``; this module adds the reference's classifier: sklearn's
RidgeClassifierCV over alphas 10^-3..10^3 on standardised features, and ``ridge_head``, the
same classifier written as the weights of a linear layer (what ``model=minirocket`` uses).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import RidgeClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from seqlab.nn.minirocket import (  # noqa: F401  (the algorithm's names, re-exported)
    CHUNK_ELEMENTS,
    KERNEL_LENGTH,
    NUM_KERNELS,
    POSITIVE,
    convolve,
    fit_biases,
    fit_dilations,
    kernel_weights,
    ppv,
    quantiles,
    regions,
)

ALPHAS = np.logspace(-3, 3, 10)


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

    def fit(self, series: list[np.ndarray]) -> MiniRocket:
        x, lengths = padded(series)
        self.dilations, self.counts, self.channels, self.biases = fit_biases(
            x, lengths, self.num_features, self.max_dilations, self.seed
        )
        return self

    def transform(self, series: list[np.ndarray]) -> np.ndarray:
        x, lengths = padded(series)
        c = x.shape[1]
        if c != self.channels[0].shape[1]:
            raise ValueError(f"fitted on {self.channels[0].shape[1]} channels, got {c}")
        dilations = [int(d) for d in self.dilations]
        return ppv(x, lengths, self.weights, dilations, self.channels, self.biases).numpy()


def minirocket_accuracy(
    train: list[np.ndarray],
    train_labels: np.ndarray,
    test: list[np.ndarray],
    test_labels: np.ndarray,
    seed: int = 0,
) -> float:
    """Test accuracy of MiniROCKET features + RidgeClassifierCV fitted on ``train``."""
    rocket = MiniRocket(seed=seed).fit(train)
    classifier = make_pipeline(StandardScaler(with_mean=False), RidgeClassifierCV(alphas=ALPHAS))
    classifier.fit(rocket.transform(train), train_labels)
    return float((classifier.predict(rocket.transform(test)) == test_labels).mean())


def ridge_head(
    features: np.ndarray, labels: np.ndarray, num_classes: int, alphas: np.ndarray = ALPHAS
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The reference's RidgeClassifierCV fitted on (already standardised) features (N, F),
    written as a linear layer over ``num_classes`` logits: (weight (K, F), bias (K,), the
    alpha its leave-one-out error chose). Its argmax is the classifier's prediction: with two
    classes the one decision score s becomes the logits (−s/2, +s/2); a class absent from
    ``labels`` gets a logit of −1e4 (never predicted)."""
    ridge = RidgeClassifierCV(alphas=alphas).fit(features, labels)
    coef = np.atleast_2d(ridge.coef_)  # (K_seen, F), or (1, F) for two classes
    intercept = np.atleast_1d(ridge.intercept_)
    if len(ridge.classes_) == 2:
        coef, intercept = (
            np.concatenate([-coef, coef]) / 2,
            np.concatenate([-intercept, intercept]) / 2,
        )
    weight = np.zeros((num_classes, features.shape[1]))
    bias = np.full(num_classes, -1e4)
    weight[ridge.classes_], bias[ridge.classes_] = coef, intercept
    return torch.from_numpy(weight), torch.from_numpy(bias), float(ridge.alpha_)
