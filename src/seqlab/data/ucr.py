"""Series classification on the UCR/UEA benchmark archive, with its official splits.

The ``aeon`` wheel (the archive maintainers' toolkit) ships real benchmark sets under
``aeon/datasets/data/``: univariate GunPoint, ItalyPowerDemand, ArrowHead, OSULeaf, ACSF1;
multivariate BasicMotions and JapaneseVowels (12 channels, 7–29 steps: lengths vary);
PickupGestureWiimoteZ (univariate, lengths vary). They are read straight from their ``.ts``
files, without importing aeon (seqlab installs it with ``--no-deps`` as a data package: its
numba stack would re-pin numpy and pandas).

Each series is (T_i, C) of its own length; batches are right-padded with their lengths
(`seqlab.data.collate`), so every backbone sees padding it can ignore. Channels are
standardised with training statistics; the validation split is a seeded stratified share of
the official TRAIN file; TEST is the official test split.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from seqlab.data.collate import pad_collate
from seqlab.data.loaders import make_loader
from seqlab.data.package_files import package_file
from seqlab.data.spec import DataSpec
from seqlab.data.ucr_baselines import one_nn_dtw_accuracy
from seqlab.errors import SeqlabError

HINT = "install the archive's data package with `pip install --no-deps aeon==1.6.0`"


def read_ts(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """A ``.ts`` file -> ([series (T_i, C)], [label]). Lines: ``c1 values:c2 values:...:label``."""
    series, labels = [], []
    in_data = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *channels, label = line.split(":")
        try:
            values = [np.array([float(v) for v in c.split(",")]) for c in channels]
        except ValueError as err:
            raise SeqlabError(f"{path}: line {number} is not numeric ({err}).") from err
        if len({len(v) for v in values}) != 1:
            raise SeqlabError(f"{path}: line {number} has channels of different lengths.")
        series.append(np.stack(values, axis=1))  # (T_i, C)
        labels.append(label.strip())
    if not series:
        raise SeqlabError(f"{path}: no @data section with series.")
    return series, labels


class _Sequences(torch.utils.data.Dataset):
    def __init__(self, series: list[torch.Tensor], labels: torch.Tensor) -> None:
        self.series, self.labels = series, labels

    def __len__(self) -> int:
        return len(self.series)

    def __getitem__(self, index: int):
        return self.series[index], self.labels[index]


class UCRDataModule(L.LightningDataModule):
    """``data=ucr data.name=JapaneseVowels``: classify whole series (of varying length)."""

    def __init__(
        self,
        *,
        name: str = "JapaneseVowels",
        val_frac: float = 0.2,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        dtw_baseline: bool = True,
    ) -> None:
        super().__init__()
        self.name = name
        self.val_frac, self.batch_size = float(val_frac), int(batch_size)
        self.num_workers, self.seed = int(num_workers), int(seed)
        self.dtw_baseline = bool(dtw_baseline)
        self.splits: dict[str, _Sequences] = {}
        self.save_hyperparameters()

    def _file(self, split: str) -> Path:
        return package_file(
            "aeon",
            f"datasets/data/{self.name}/{self.name}_{split}.ts",
            field=f"data.name={self.name}",
            hint=HINT,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        train_x, train_y = read_ts(self._file("TRAIN"))
        test_x, test_y = read_ts(self._file("TEST"))
        self.class_names = sorted(set(train_y), key=lambda c: (len(c), c))
        index = {c: i for i, c in enumerate(self.class_names)}
        unknown = sorted(set(test_y) - set(index))
        if unknown:
            raise SeqlabError(f"data.name={self.name}: test labels {unknown} never occur in TRAIN.")
        y_train = np.array([index[c] for c in train_y])
        val = self._stratified_val(y_train)
        fit = [i for i in range(len(train_x)) if i not in set(val)]
        stacked = np.concatenate([train_x[i] for i in fit])
        self.mean, self.std = (
            stacked.mean(axis=0),
            np.where(stacked.std(axis=0) > 0, stacked.std(axis=0), 1.0),
        )

        def make(xs, ys) -> _Sequences:
            tensors = [torch.tensor(self._normalised(x), dtype=torch.float32) for x in xs]
            return _Sequences(tensors, torch.tensor(ys, dtype=torch.long))

        self.splits = {
            "train": make([train_x[i] for i in fit], y_train[fit]),
            "val": make([train_x[i] for i in val], y_train[val]),
            "test": make(test_x, [index[c] for c in test_y]),
        }
        self.lengths = sorted({len(x) for x in train_x + test_x})
        self.dtw_accuracy = {}
        if self.dtw_baseline:  # 1-NN DTW fitted on the training split, scored on val and test
            reference = [self._normalised(train_x[i]) for i in fit]
            for split, (xs, ys) in {
                "val": ([train_x[i] for i in val], y_train[val]),
                "test": (test_x, np.array([index[c] for c in test_y])),
            }.items():
                queries = [self._normalised(x) for x in xs]
                self.dtw_accuracy[split] = one_nn_dtw_accuracy(reference, y_train[fit], queries, ys)

    def _normalised(self, series: np.ndarray) -> np.ndarray:
        return (series - self.mean) / self.std

    def _stratified_val(self, labels: np.ndarray) -> list[int]:
        rng = np.random.default_rng(self.seed)
        picked = []
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            picked += members[: max(1, round(self.val_frac * len(members)))].tolist()
        return sorted(picked)

    @property
    def spec(self) -> DataSpec:
        train = self.splits["train"]
        counts = np.bincount(train.labels.numpy(), minlength=len(self.class_names))
        majority = int(counts.argmax())
        extra = {
            "variable_length": len(self.lengths) > 1,
            "lengths": [self.lengths[0], self.lengths[-1]],
        }
        for split in ("val", "test"):
            labels = self.splits[split].labels
            extra[f"baseline_majority_acc_{split}"] = float((labels == majority).float().mean())
            if split in self.dtw_accuracy:
                extra[f"baseline_1nn_dtw_acc_{split}"] = self.dtw_accuracy[split]
        return DataSpec(
            task="classification",
            num_features=int(train.series[0].shape[1]),
            num_targets=len(self.class_names),
            seq_len=int(self.lengths[-1]),
            class_names=tuple(self.class_names),
            extra=extra,
        )

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return make_loader(
            self.splits[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=pad_collate,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
