"""A few training series of every class, drawn once when training starts (PNG in the run's
plots/ folder and a W&B image): the first look at a classification dataset."""

from __future__ import annotations

import lightning as L
import numpy as np

from seqlab.figures.classification import series_per_class_figure
from seqlab.figures.worker import plot_to_run


class SeriesPerClassPlot(L.Callback):
    """Reads the training split of any sequence-classification datamodule: items ``(x (T, C),
    label, ...)``; a no-op for images (x of another rank) and for other tasks."""

    def __init__(self, per_class: int = 3, max_scanned: int = 5000) -> None:
        self.per_class, self.max_scanned = int(per_class), int(max_scanned)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        spec = getattr(pl_module, "spec", None)
        if not trainer.is_global_zero or spec is None or spec.task != "classification":
            return
        if spec.image_shape:
            return
        dataset = trainer.train_dataloader.dataset
        names = list(spec.class_names) or [str(k) for k in range(spec.num_targets)]
        examples: dict[str, list[np.ndarray]] = {}
        for index in range(min(len(dataset), self.max_scanned)):
            x, label, *_ = dataset[index]
            if getattr(x, "ndim", 0) != 2:
                return  # not a (T, C) sequence
            chosen = examples.setdefault(names[int(label)], [])
            if len(chosen) < self.per_class:
                chosen.append(np.asarray(x, dtype=float))
        ordered = {name: examples[name] for name in names if name in examples}
        data = trainer.datamodule
        title = f"training series per class: {getattr(data, 'name', None) or type(data).__name__}"
        plot_to_run(trainer, "series_per_class", lambda: series_per_class_figure(ordered, title))
