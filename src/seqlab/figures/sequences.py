"""Sequence figures: attention maps over time steps."""

from __future__ import annotations

import numpy as np

from seqlab.figures.worker import matplotlib_headless


def sequence_attention_figure(maps: list, max_heads: int, title: str):
    """Per layer (heads, T, T) attention weights -> a grid, rows = layers, columns = heads
    (the first ``max_heads``)."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    layers, heads = len(maps), min(maps[0].shape[0], max_heads)
    fig, axes = plt.subplots(layers, heads, figsize=(2.2 * heads, 2.2 * layers), squeeze=False)
    for layer, weights in enumerate(maps):
        for head in range(heads):
            ax = axes[layer, head]
            ax.imshow(np.asarray(weights[head]), cmap="viridis", vmin=0.0)
            ax.set_title(f"layer {layer} head {head}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    axes[-1, 0].set_xlabel("key position")
    axes[-1, 0].set_ylabel("query position")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
