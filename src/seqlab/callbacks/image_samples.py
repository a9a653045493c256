"""Text-to-image: a grid of images drawn from fixed prompts every few epochs (PNG + W&B)."""

from __future__ import annotations

import lightning as L
import torch

from seqlab.callbacks.media import matplotlib_headless, save_figure

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


class ImageSamples(L.Callback):
    def __init__(
        self,
        prompts: list[str] | None = None,
        per_prompt: int = 4,
        every_n_epochs: int = 2,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int = 0,
    ) -> None:
        self.prompts = list(prompts or [f"a handwritten {d}" for d in DIGITS])
        self.per_prompt = per_prompt
        self.every_n_epochs = every_n_epochs
        self.temperature, self.top_k, self.seed = temperature, top_k, seed

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if not hasattr(pl_module, "generate_images"):
            return
        last = trainer.current_epoch + 1 >= (trainer.max_epochs or 0)
        if (trainer.current_epoch + 1) % self.every_n_epochs != 0 and not last:
            return
        generator = torch.Generator(device=pl_module.device).manual_seed(self.seed)
        prompts = [p for p in self.prompts for _ in range(self.per_prompt)]
        images = pl_module.generate_images(
            prompts, temperature=self.temperature, top_k=self.top_k, generator=generator
        )
        fig = image_grid(pl_module.to_pixels(images), self.prompts, self.per_prompt)
        save_figure(fig, trainer, f"samples_epoch{trainer.current_epoch:03d}")


def image_grid(pixels: torch.Tensor, prompts: list[str], per_prompt: int):
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
