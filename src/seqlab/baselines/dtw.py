"""The field's reference classifier for series classification: 1-nearest neighbour under
dynamic time warping (DTW), the baseline every UCR/UEA paper reports.

Dependent multivariate DTW (one warping path for all channels, squared Euclidean cost between
time steps), no warping window, on the z-normalised series seqlab trains on:

    D[i, j] = ‖a_i − b_j‖² + min(D[i−1, j], D[i, j−1], D[i−1, j−1]),   D[0, 0] = 0,

the distance is D[len(a), len(b)]. The recursion runs for all (query, reference) pairs at once
in numpy, row by row, so series of different lengths cost nothing extra: each pair's distance
is read at its own lengths.
"""

from __future__ import annotations

import numpy as np


def _padded(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(s) for s in series])
    out = np.zeros((len(series), lengths.max(), series[0].shape[1]))
    for k, s in enumerate(series):
        out[k, : len(s)] = s
    return out, lengths


def dtw_distances(queries: list[np.ndarray], references: list[np.ndarray]) -> np.ndarray:
    """(Q, N) DTW distances between every query and every reference series (each (T, C))."""
    q, q_len = _padded(queries)  # (Q, Tq, C)
    r, r_len = _padded(references)  # (N, Tr, C)
    Q, N, Tq, Tr = len(q), len(r), q.shape[1], r.shape[1]
    previous = np.full((Q, N, Tr + 1), np.inf)
    previous[:, :, 0] = 0.0  # D[0, 0] = 0; D[0, j > 0] = inf
    result = np.full((Q, N), np.inf)
    r_sq = (r**2).sum(-1)  # (N, Tr)
    r_flat = r.reshape(N * Tr, -1)  # (N·Tr, C)
    for i in range(1, Tq + 1):
        # cost[q, n, j] = ‖q_i − r_j‖² = ‖q_i‖² + ‖r_j‖² − 2 q_i·r_j  -> (Q, N, Tr), one matmul
        q_i = q[:, i - 1]  # (Q, C)
        cross = (q_i @ r_flat.T).reshape(Q, N, Tr)
        cost = np.maximum((q_i**2).sum(-1)[:, None, None] + r_sq[None] - 2.0 * cross, 0.0)
        current = np.full((Q, N, Tr + 1), np.inf)
        for j in range(1, Tr + 1):
            best = np.minimum(
                np.minimum(previous[:, :, j], current[:, :, j - 1]), previous[:, :, j - 1]
            )
            current[:, :, j] = cost[:, :, j - 1] + best
        done = q_len == i  # queries that end at this row: read each pair at its own length
        if done.any():
            result[done] = current[done][:, np.arange(N), r_len]
        previous = current
    return result


def one_nn_dtw_accuracy(
    train: list[np.ndarray],
    train_labels: np.ndarray,
    test: list[np.ndarray],
    test_labels: np.ndarray,
) -> float:
    distances = dtw_distances(test, train)
    predicted = train_labels[distances.argmin(axis=1)]
    return float((predicted == test_labels).mean())
