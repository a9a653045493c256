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
) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """The reference's RidgeClassifierCV fitted on (already standardised) features (N, F),
    written as a linear layer over ``num_classes`` logits: (weight (K, F), bias (K,), the
    alpha its leave-one-out error chose, the temperature). Its argmax is the classifier's
    prediction: with two classes the one decision score s becomes the logits (−s/2, +s/2); a
    class absent from ``labels`` gets a logit of −1e4 (never predicted).

    Ridge scores are fitted to targets of ±1, so their softmax is far from a probability (a
    99%-accurate GunPoint head gave a test NLL of 0.35). The logits are therefore scaled by
    one temperature, the one that minimises the cross-entropy of the leave-one-out scores
    (exact for ridge: the hat matrix of the chosen alpha) on the training series; a positive
    scale leaves every argmax, so every prediction, as it was."""
    ridge = RidgeClassifierCV(alphas=alphas).fit(features, labels)
    coef = np.atleast_2d(ridge.coef_)  # (K_seen, F), or (1, F) for two classes
    intercept = np.atleast_1d(ridge.intercept_)
    if len(ridge.classes_) == 2:
        coef, intercept = (
            np.concatenate([-coef, coef]) / 2,
            np.concatenate([-intercept, intercept]) / 2,
        )
    scale = loo_temperature(features, labels, ridge.classes_, float(ridge.alpha_))
    weight = np.zeros((num_classes, features.shape[1]))
    bias = np.full(num_classes, -1e4)
    weight[ridge.classes_], bias[ridge.classes_] = scale * coef, scale * intercept
    return torch.from_numpy(weight), torch.from_numpy(bias), float(ridge.alpha_), scale


def loo_scores(features: np.ndarray, targets: np.ndarray, alpha: float) -> np.ndarray:
    """Leave-one-out predictions (N, K) of ridge regressions (an unpenalised intercept, one
    per target column) from the hat matrix: each row as if fitted without that row."""
    n = len(features)
    x = features - features.mean(axis=0)
    eigenvalues, q = np.linalg.eigh(x @ x.T)  # the (N, N) Gram matrix of centred features
    eigenvalues = np.clip(eigenvalues, 0, None)
    shrink = eigenvalues / (eigenvalues + alpha)
    centred = targets - targets.mean(axis=0)
    fitted = targets.mean(axis=0) + q @ (shrink[:, None] * (q.T @ centred))
    leverage = 1.0 / n + (q**2) @ shrink  # diagonal of the hat matrix (intercept included)
    return targets - (targets - fitted) / np.clip(1.0 - leverage, 1e-12, None)[:, None]


def loo_temperature(
    features: np.ndarray, labels: np.ndarray, classes: np.ndarray, alpha: float
) -> float:
    """The scale of the ridge logits that minimises the mean cross-entropy of the training
    series' leave-one-out logits (searched on [0.1, 100]); 1 with fewer than 3 series."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    n = len(labels)
    if n < 3:
        return 1.0
    y = np.searchsorted(classes, labels)  # index into classes
    targets = -np.ones((n, len(classes)))
    targets[np.arange(n), y] = 1.0  # ridge's ±1 coding, one column per class
    loo = loo_scores(features, targets, alpha)
    if len(classes) == 2:  # one decision score s -> (−s/2, +s/2), as the head
        s = (loo[:, 1] - loo[:, 0]) / 2
        loo = np.stack([-s / 2, s / 2], axis=1)

    def loss(log_scale: float) -> float:
        return float(-log_softmax(np.exp(log_scale) * loo, axis=1)[np.arange(n), y].mean())

    best = minimize_scalar(loss, bounds=(np.log(0.1), np.log(100.0)), method="bounded")
    return float(np.exp(best.x))
