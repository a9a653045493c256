"""Where a ViT looks: class-token attention over the patches, overlaid on validation images."""

from __future__ import annotations

import lightning as L
import torch

from seqlab.callbacks.media_budget import media_allowed, media_time
from seqlab.figures.images import patch_attention_figure
from seqlab.figures.worker import plot_to_run


class AttentionMaps(L.Callback):
    """At the end of fit (and every ``every_n_epochs`` validation epochs when set), plot the
    first ``num_images`` validation images with the class token's attention over the patches
    in each layer (mean over heads), as ``plots/attention_maps.png`` and a W&B image.

    A no-op unless the task reads images with a backbone that has ``attention_maps(images)``
    returning per-layer (B, heads, num_patches) weights and a patch ``grid`` (the ViT).
    """

    def __init__(self, num_images: int = 6, every_n_epochs: int | None = None) -> None:
        self.num_images = int(num_images)
        self.every_n_epochs = every_n_epochs

    @staticmethod
    def applies(pl_module: L.LightningModule) -> bool:
        backbone = getattr(pl_module, "backbone", None)
        backbone = getattr(backbone, "_orig_mod", backbone)
        return (
            bool(getattr(pl_module, "reads_images", False))
            and hasattr(backbone, "attention_maps")
            and hasattr(backbone, "grid")
        )

    def _images(self, trainer: L.Trainer) -> tuple[torch.Tensor, torch.Tensor] | None:
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is None:
            return None
        xs, ys, count = [], [], 0
        for x, y in datamodule.val_dataloader():
            xs.append(x)
            ys.append(y)
            count += len(y)
            if count >= self.num_images:
                break
        if not xs:
            return None
        return torch.cat(xs)[: self.num_images], torch.cat(ys)[: self.num_images]

    def plot(self, trainer: L.Trainer, pl_module: L.LightningModule, name: str) -> None:
        if not self.applies(pl_module) or not trainer.is_global_zero or self.num_images < 1:
            return
        batch = self._images(trainer)
        if batch is None:
            return
        images, labels = batch
        backbone = getattr(pl_module.backbone, "_orig_mod", pl_module.backbone)
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            images = images.to(pl_module.device)
            maps = backbone.attention_maps(images)  # per layer (B, heads, N)
            preds = pl_module(images).argmax(-1).cpu()
        pl_module.train(was_training)
        gh, gw = backbone.grid
        layers = [m.float().mean(1).reshape(-1, gh, gw).cpu().numpy() for m in maps]
        pictures = images.float().cpu().numpy()
        names, epoch = list(pl_module.spec.class_names), trainer.current_epoch
        plot_to_run(
            trainer,
            name,
            lambda: patch_attention_figure(pictures, labels, preds, layers, names, epoch),
        )

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        n = self.every_n_epochs
        if not n or trainer.sanity_checking or (trainer.current_epoch + 1) % n:
            return
        if media_allowed(trainer, "ViT attention maps"):
            with media_time(trainer):
                self.plot(trainer, pl_module, f"attention_maps_epoch{trainer.current_epoch:03d}")

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        with media_time(trainer):
            self.plot(trainer, pl_module, "attention_maps")
