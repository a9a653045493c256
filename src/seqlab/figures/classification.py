"""Classification figures: the confusion matrix, example series per class."""

from __future__ import annotations

import numpy as np

from seqlab.figures.worker import matplotlib_headless


def confusion_figure(matrix: np.ndarray, class_names: list[str], title: str):
    """Counts (rows = true class, columns = predicted), cells coloured by row share."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    k = len(matrix)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = min(2.0 + 0.55 * k, 14.0)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if matrix[i, j]:
                    colour = "white" if share[i, j] > 0.5 else "black"
                    ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7,
                            color=colour)  # fmt: skip
    ticks = range(k)
    ax.set_xticks(ticks, class_names, rotation=45 if k > 10 else 0, fontsize=7)
    ax.set_yticks(ticks, class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"{title} (accuracy {accuracy:.4f}, n={int(matrix.sum())})")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    return fig


def series_per_class_figure(examples: dict[str, list[np.ndarray]], title: str):
    """A few series (T_i, C) per class: one panel per class (at most 12), one line per series;
    channels beyond the first three are left out (named in the panel)."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    names = list(examples)[:12]
    cols = min(len(names), 4)
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.2 * rows), squeeze=False)
    styles = ("-", "--", ":")
    for ax, name in zip(axes.flat, names, strict=False):
        channels = examples[name][0].shape[1]
        for k, series in enumerate(examples[name]):
            for c in range(min(channels, len(styles))):
                ax.plot(series[:, c], styles[c], color=f"C{k}", linewidth=0.9)
        shown = f", channels 1-3 of {channels}" if channels > len(styles) else ""
        ax.set_title(f"class {name} ({len(examples[name])} series{shown})", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
