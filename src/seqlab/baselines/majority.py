"""The majority class: every example gets the class most frequent in training."""

from __future__ import annotations

import numpy as np


def majority_class(train_labels) -> int:
    """The most frequent training label (the smallest one on a tie)."""
    labels = np.asarray(train_labels).astype(np.int64)
    return int(np.bincount(labels[labels >= 0]).argmax())


def majority_accuracy(train_labels, labels) -> float:
    """Accuracy on ``labels`` of always answering the training majority class."""
    labels = np.asarray(labels).astype(np.int64)
    return float((labels == majority_class(train_labels)).mean()) if len(labels) else float("nan")
