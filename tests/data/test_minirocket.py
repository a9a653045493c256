"""MiniROCKET against the algorithm as its authors wrote it, and on the archive."""

from __future__ import annotations

import numpy as np
import pytest

from seqlab.baselines.minirocket import (
    NUM_KERNELS,
    POSITIVE,
    MiniRocket,
    fit_dilations,
    kernel_weights,
    quantiles,
)


def test_the_84_kernels_are_all_choices_of_three_positive_weights_and_sum_to_zero():
    weights = kernel_weights().numpy()
    assert weights.shape == (84, 9) and NUM_KERNELS == 84
    assert {tuple(np.flatnonzero(w == 2.0)) for w in weights} == {tuple(p) for p in POSITIVE}
    assert len({tuple(w) for w in weights}) == 84
    assert np.all(weights.sum(axis=1) == 0) and set(np.unique(weights)) == {-1.0, 2.0}


@pytest.mark.parametrize("length", [5, 9, 29, 150, 1460])
def test_dilations_share_the_features_and_stay_inside_the_series(length):
    dilations, counts = fit_dilations(length, 10_000, 32)
    assert counts.sum() == 10_000 // 84  # 119 features per kernel
    assert dilations[0] == 1 and np.all(np.diff(dilations) > 0)
    assert 4 * dilations.max() <= max((length - 1) / 2, 4)  # the padding never covers a series


def test_quantiles_are_the_golden_ratio_sequence():
    assert np.allclose(quantiles(3), [0.6180339887, 0.2360679775, 0.8541019662])


def _reference_convolution(x: np.ndarray, dilation: int, positive: np.ndarray) -> np.ndarray:
    """The authors' formulation: C = C_alpha + C_gamma[i0] + C_gamma[i1] + C_gamma[i2], with
    alpha = -1 on every tap and gamma = +3 on the chosen three (so their weight is +2)."""
    t, pad = len(x), 4 * dilation
    a, g = -x, 3 * x
    c_alpha, c_gamma = a.copy(), np.zeros((9, t))
    c_gamma[4] = g
    start, end = dilation, t - pad
    for index in range(4):
        c_alpha[-end:] += a[:end]
        c_gamma[index, -end:] = g[:end]
        end += dilation
    for index in range(5, 9):
        c_alpha[:-start] += a[start:]
        c_gamma[index, :-start] = g[start:]
        start += dilation
    return c_alpha + c_gamma[positive].sum(axis=0)


def test_features_equal_the_reference_formulation_step_by_step():
    rng = np.random.default_rng(0)
    series = [rng.normal(size=(60, 1)) for _ in range(5)]
    rocket = MiniRocket(num_features=840, seed=3).fit(series)
    ours = rocket.transform(series)
    expected = []
    for x in series:
        row = []
        for index, dilation in enumerate(rocket.dilations):
            pad = 4 * int(dilation)
            for k in range(NUM_KERNELS):
                c = _reference_convolution(x[:, 0], int(dilation), POSITIVE[k])
                region = c[pad:-pad] if (index + k) % 2 else c
                row += [(region > b).mean() for b in rocket.biases[index][k].numpy()]
        expected.append(row)
    assert ours.shape == (5, 840 // 84 * 84)
    assert np.allclose(ours, np.array(expected), rtol=0, atol=1e-12)  # a flipped step: 1/60


def test_a_series_gets_the_same_features_alone_or_padded_beside_longer_ones():
    rng = np.random.default_rng(1)
    series = [rng.normal(size=(n, 3)) for n in (7, 19, 40, 12, 33)]
    rocket = MiniRocket(num_features=1000, seed=0).fit(series)
    together = rocket.transform(series)
    for k, s in enumerate(series):
        assert np.array_equal(rocket.transform([s])[0], together[k])


def test_a_channel_count_other_than_fitted_is_refused():
    rng = np.random.default_rng(2)
    rocket = MiniRocket(num_features=168).fit([rng.normal(size=(20, 2))] * 3)
    with pytest.raises(ValueError, match="fitted on 2 channels, got 3"):
        rocket.transform([rng.normal(size=(20, 3))])


def test_a_bias_reads_exactly_the_convolution_of_its_own_series():
    """Fitting convolves series k with kernel k only: the diagonal of the full convolution,
    bit for bit (the reference's biases, and so its accuracies, do not move)."""
    import torch

    from seqlab.nn.minirocket import convolve, convolve_each

    rng = np.random.default_rng(4)
    x = torch.from_numpy(rng.normal(size=(NUM_KERNELS, 7, 90)))
    channels = torch.from_numpy((rng.random((NUM_KERNELS, 7)) < 0.4).astype(np.float64))
    for dilation in (1, 3, 11):
        full = convolve(x, kernel_weights(), dilation, channels)  # (84, 84, T)
        diagonal = full[torch.arange(NUM_KERNELS), torch.arange(NUM_KERNELS)]
        assert torch.equal(convolve_each(x, kernel_weights(), dilation, channels), diagonal)
