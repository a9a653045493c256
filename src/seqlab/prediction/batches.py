"""Shared by the prediction modules: batched inference and the long output table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch


@torch.inference_mode()
def class_probabilities(
    task: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor | None]]
) -> np.ndarray:
    """Softmax of the task's logits over every batch, concatenated: (N, K) float64.

    ``batches`` yields (inputs, lengths or None) in model units (normalised)."""
    task.eval()
    device = next(task.parameters()).device
    chunks = []
    for x, lengths in batches:
        args = (x.to(device),) if lengths is None else (x.to(device), lengths.to(device))
        logits = task(*args).float()  # (B, K)
        chunks.append(torch.softmax(logits, dim=-1).double().cpu())
    return torch.cat(chunks).numpy()


def long_table(
    id_name: str,
    ids: Sequence[str],
    probabilities: np.ndarray,
    class_names: Sequence[str],
    true_labels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per (item, class): item, predicted (its argmax class), class, probability and,
    when the input carried labels, the true label. probabilities: (N, K)."""
    n, k = probabilities.shape
    names = np.asarray([str(c) for c in class_names], dtype=object)
    frame = pd.DataFrame(
        {
            id_name: np.repeat(np.asarray(ids, dtype=object), k),
            "predicted": np.repeat(names[probabilities.argmax(axis=1)], k),
            "class": np.tile(names, n),
            "probability": probabilities.reshape(-1),
        }
    )
    if true_labels is not None:
        frame["true_label"] = np.repeat(np.asarray(true_labels, dtype=object), k)
    return frame
