"""Image figures: sample grids, a ViT's attention over patches."""

from __future__ import annotations

import numpy as np

from seqlab.figures.worker import matplotlib_headless


def image_grid(pixels, prompts: list[str], per_prompt: int):
    """pixels (len(prompts) * per_prompt, C, H, W) in [0, 1] -> a figure, one row per prompt."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    rows = len(prompts)
    fig, axes = plt.subplots(
        rows, per_prompt, figsize=(1.3 * per_prompt + 2.4, 1.3 * rows), squeeze=False
    )
    pixels = pixels.detach().cpu()
    for r, prompt in enumerate(prompts):
        for c in range(per_prompt):
            ax = axes[r, c]
            image = pixels[r * per_prompt + c]
            ax.imshow(image.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(prompt, rotation=0, ha="right", va="center", fontsize=7)
    fig.tight_layout()
    return fig


def _display(image: np.ndarray) -> np.ndarray:
    """(C, H, W) float -> (H, W) or (H, W, 3) in [0, 1] (per-image min-max)."""
    image = image - image.min()
    image = image / max(float(image.max()), 1e-8)
    return image[0] if image.shape[0] == 1 else np.transpose(image[:3], (1, 2, 0))


def patch_attention_figure(
    images: np.ndarray,
    labels,
    preds,
    layers: list[np.ndarray],
    class_names: list[str],
    epoch: int,
):
    """Images (N, C, H, W) with, per layer, an attention map (N, gh, gw) laid over them:
    one row per image (true / predicted class in the title), one column per layer."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    names = list(class_names) or [str(i) for i in range(int(labels.max()) + 1)]
    rows, cols = len(images), len(layers) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 1.8 * rows), squeeze=False)
    H, W = images.shape[-2:]
    for r in range(rows):
        picture = _display(images[r])
        cmap = "gray" if picture.ndim == 2 else None
        ax = axes[r, 0]
        ax.imshow(picture, cmap=cmap)
        ok = "ok" if int(preds[r]) == int(labels[r]) else "wrong"
        ax.set_title(
            f"true {names[int(labels[r])]} / pred {names[int(preds[r])]} ({ok})", fontsize=6
        )
        for layer, attention in enumerate(layers, start=1):
            ax = axes[r, layer]
            ax.imshow(picture, cmap=cmap)
            ax.imshow(
                attention[r],
                cmap="inferno",
                alpha=0.6,
                vmin=0.0,  # colour 0 = no attention; the brightest patch = this map's max
                extent=(-0.5, W - 0.5, H - 0.5, -0.5),
            )
            if r == 0:
                ax.set_title(f"layer {layer}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"class-token attention over patches (mean over heads), epoch {epoch}",
        fontsize=8,
    )
    fig.tight_layout()
    return fig
