"""Attention maps of sequence Transformers (per layer and head) for a fixed validation example."""

from __future__ import annotations

import lightning as L
import torch

from seqlab.plotting import save_figure, sequence_attention_figure


class SequenceAttentionMaps(L.Callback):
    """Every ``every_n_epochs`` validation epochs (and after the last), plot the attention
    weights of validation example ``index`` as a grid: rows = layers, columns = heads.
    No-op for backbones without ``attention_maps`` (recurrent models) or image backbones."""

    def __init__(self, every_n_epochs: int = 5, index: int = 0, max_heads: int = 8) -> None:
        self.every_n_epochs = every_n_epochs
        self.index = index
        self.max_heads = max_heads

    def _maps(self, trainer, pl_module) -> list[torch.Tensor] | None:
        backbone = pl_module.backbone
        if not hasattr(backbone, "attention_maps") or not hasattr(pl_module, "embed_inputs"):
            return None
        loader = trainer.val_dataloaders
        if loader is None:
            return None
        x = next(iter(loader))[0][self.index : self.index + 1].to(pl_module.device)
        if x.dim() == 4:
            return None  # images: the ViT attention callback draws those
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            maps = backbone.attention_maps(pl_module.embed_inputs(x))
        pl_module.train(was_training)
        return [m[0].float().cpu() for m in maps]  # per layer: (H, T, T)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        last = trainer.current_epoch + 1 >= (trainer.max_epochs or 0)
        if trainer.current_epoch % self.every_n_epochs != 0 and not last:
            return
        maps = self._maps(trainer, pl_module)
        if not maps:
            return
        title = f"attention, validation example {self.index}, epoch {trainer.current_epoch}"
        fig = sequence_attention_figure(maps, self.max_heads, title)
        save_figure(fig, trainer, "attention_maps")
