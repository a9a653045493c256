"""Text-to-image: a grid of images drawn from fixed prompts every few epochs (PNG + W&B)."""

from __future__ import annotations

import lightning as L
import torch

from seqlab.callbacks.media_budget import media_allowed, media_time
from seqlab.data.images.captions import DIGIT_WORDS
from seqlab.figures.images import image_grid
from seqlab.figures.worker import plot_to_run


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
        self.prompts = list(prompts or [f"a handwritten {d}" for d in DIGIT_WORDS])
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
        if not last and not media_allowed(trainer, "image samples"):
            return
        with media_time(trainer):
            self._draw(trainer, pl_module)

    def _draw(self, trainer, pl_module) -> None:
        generator = torch.Generator(device=pl_module.device).manual_seed(self.seed)
        prompts = [p for p in self.prompts for _ in range(self.per_prompt)]
        images = pl_module.generate_images(
            prompts, temperature=self.temperature, top_k=self.top_k, generator=generator
        )
        pixels = pl_module.to_pixels(images).detach().float().cpu()
        prompts, per_prompt = list(self.prompts), self.per_prompt
        plot_to_run(
            trainer,
            f"samples_epoch{trainer.current_epoch:03d}",
            lambda: image_grid(pixels, prompts, per_prompt),
        )
