"""Attention maps of sequence Transformers (per layer and head) for a fixed validation example."""

from __future__ import annotations

import lightning as L
import torch

from seqlab.callbacks.media_budget import media_allowed, media_time
from seqlab.figures.sequences import sequence_attention_figure
from seqlab.figures.worker import plot_to_run


class SequenceAttentionMaps(L.Callback):
    """Plot the attention weights of validation example ``index`` as a grid (rows = layers,
    columns = heads) at the first validation of every ``every_n_epochs``-th epoch (epochs
    0, n, 2n, ...; once per epoch however often it validates; null: only at the end) and at
    the end of fit. No-op for backbones without ``attention_maps`` (recurrent models) or
    image backbones. The figure is drawn by the background plot worker when one runs."""

    def __init__(self, every_n_epochs: int | None = 5, index: int = 0, max_heads: int = 8) -> None:
        self.every_n_epochs = every_n_epochs
        self.index = index
        self.max_heads = max_heads
        self._plotted: tuple[int, int] | None = None  # (epoch, global step) of the last plot

    def _maps(self, trainer, pl_module) -> list[torch.Tensor] | None:
        backbone = pl_module.backbone
        if not hasattr(backbone, "attention_maps") or not hasattr(pl_module, "embed_inputs"):
            return None
        loader = trainer.val_dataloaders
        if loader is None:
            return None
        try:
            x = next(iter(loader))[0][self.index : self.index + 1].to(pl_module.device)
        except StopIteration:  # validation switched off (limit_val_batches=0)
            return None
        if x.dim() == 4:
            return None  # images: the ViT attention callback draws those
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            maps = backbone.attention_maps(pl_module.embed_inputs(x))
        pl_module.train(was_training)
        return [m[0].float().cpu() for m in maps]  # per layer: (H, T, T)

    def _plot(self, trainer, pl_module) -> None:
        maps = self._maps(trainer, pl_module)
        if not maps:
            return
        self._plotted = (trainer.current_epoch, trainer.global_step)
        maps = [m.numpy() for m in maps]
        title = f"attention, validation example {self.index}, epoch {trainer.current_epoch}"
        max_heads = self.max_heads
        plot_to_run(
            trainer, "attention_maps", lambda: sequence_attention_figure(maps, max_heads, title)
        )

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or not self.every_n_epochs:
            return
        epoch = trainer.current_epoch
        if epoch % self.every_n_epochs != 0 or (self._plotted and self._plotted[0] == epoch):
            return
        if media_allowed(trainer, "sequence attention"):  # else the next validation tries
            with media_time(trainer):
                self._plot(trainer, pl_module)

    def on_fit_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        if self._plotted and self._plotted[1] == trainer.global_step:
            return  # the last validation drew this very model
        with media_time(trainer):
            self._plot(trainer, pl_module)
