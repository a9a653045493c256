"""Series of unequal length brought to one length, the two ways besides masking.

- ``data.resample``: linear interpolation (uniform scaling): a series of T steps becomes
  ``length`` steps spanning the same start and end, read over its whole course at one
  resolution. Tan et al. (2019, "Time series classification for varying length series") find
  this right when lengths differ because of the sampling rate or the speed of a movement;
- ``data.pad``: the series as recorded, right-padded with the training mean (0 once
  standardised) to ``length`` steps and read as ordinary data, as the archive's own equal-length
  releases do (theirs pad with low-amplitude noise around the series' level). The padding then
  tells the model how long each series was, which a mask hides; right when the duration itself
  is informative, or when series start together and end at different points.

Without either, every series keeps its own length and every backbone masks the padding of a
batch (`seqlab.data.collate`).
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


def pad(series: np.ndarray, length: int) -> np.ndarray:
    """(T, C) standardised -> (length, C): zeros (the training mean) after the last step; a
    longer series is cut to its first ``length`` steps."""
    out = np.zeros((int(length), series.shape[1]), dtype=np.float64)
    keep = min(len(series), int(length))
    out[:keep] = series[:keep]
    return out


def target_length(
    option: int | str | None, train_lengths: list[int], field: str = "data.resample"
) -> int | None:
    """``data.resample`` / ``data.pad``: null (keep each length), "longest" (the longest
    training series) or a number of steps."""
    if option is None or option is False:
        return None
    if option == "longest":
        return int(max(train_lengths))
    try:
        return int(option)
    except (TypeError, ValueError) as err:
        raise SeqlabError(
            f"{field}={option!r}: null (keep lengths; models read padding masks), "
            "'longest' or a number of steps."
        ) from err
