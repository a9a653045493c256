"""Series of unequal length brought to one length by linear interpolation (uniform scaling).

The alternative to padding with a mask: a series of T steps becomes ``length`` steps spanning
the same start and end, so every series is read over its whole course at one resolution. Tan
et al. (2019, "Time series classification for varying length series") find this right when
lengths differ because of the sampling rate or the speed of the movement (gestures), and
padding right when series start or end at different points of one process.
"""

from __future__ import annotations

import numpy as np

from seqlab.errors import SeqlabError


def resample(series: np.ndarray, length: int) -> np.ndarray:
    """(T, C) -> (length, C): each channel linearly interpolated at ``length`` evenly spaced
    points from its first to its last step (a 1-step series is repeated)."""
    if int(length) < 1:
        raise SeqlabError(
            f"data.resample={length}: a number of steps >= 1, or null (no resampling)."
        )
    steps = len(series)
    if steps == length:
        return np.asarray(series, dtype=np.float64)
    if steps == 1:
        return np.repeat(np.asarray(series, dtype=np.float64), length, axis=0)
    old = np.linspace(0.0, 1.0, steps)
    new = np.linspace(0.0, 1.0, int(length))
    return np.stack([np.interp(new, old, series[:, c]) for c in range(series.shape[1])], axis=1)


def resample_length(option: int | str | None, train_lengths: list[int]) -> int | None:
    """``data.resample``: null (keep each length), "longest" (the longest training series) or
    a number of steps."""
    if option is None or option is False:
        return None
    if option == "longest":
        return int(max(train_lengths))
    try:
        return int(option)
    except (TypeError, ValueError) as err:
        raise SeqlabError(
            f"data.resample={option!r}: null (keep lengths; models read padding masks), "
            "'longest' or a number of steps."
        ) from err
