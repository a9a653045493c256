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

import functools
import importlib.util
import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch

from seqlab.baselines.dtw import one_nn_dtw_accuracy
from seqlab.baselines.majority import majority_accuracy
from seqlab.baselines.minirocket import minirocket_accuracy
from seqlab.data.collate import pad_collate
from seqlab.data.loaders import SplitLoaders
from seqlab.data.package_files import package_file
from seqlab.data.series.lengths import pad, resample, target_length
from seqlab.data.series.ts_format import read_ts
from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError

log = logging.getLogger(__name__)
HINT = (
    "install the archive's data packages with `pip install --no-deps aeon==1.6.0 "
    "sktime==1.2.0` (`make install` does), or name a set they ship"
)
# wheels that ship the archive's .ts files (read as files, never imported)
DATA_PACKAGES = ("aeon", "sktime")


def _test_beside(train: Path) -> Path:
    """``X_TRAIN.ts`` -> ``X_TEST.ts`` in the same folder."""
    name = train.name
    for marker in ("_TRAIN", "_train", "TRAIN"):
        if marker in name:
            return train.with_name(
                name.replace(marker, marker.replace("TRAIN", "TEST").replace("train", "test"), 1)
            )
    return train.with_name(train.stem + "_TEST" + train.suffix)


def archive_files(name: str) -> tuple[Path, Path]:
    """(TRAIN, TEST) of a set shipped in a data package's wheel: aeon's first, then sktime's
    (which adds PLAID: 537 + 537 series of 100-1,344 steps)."""
    shipped: set[str] = set()
    for package in DATA_PACKAGES:
        found = importlib.util.find_spec(package)
        if not (found and found.submodule_search_locations):
            continue
        data = Path(next(iter(found.submodule_search_locations))) / "datasets" / "data"
        train, test = (data / name / f"{name}_{split}.ts" for split in ("TRAIN", "TEST"))
        if train.is_file() and test.is_file():
            return train, test
        shipped |= {p.parent.name for p in data.glob("*/*_TRAIN.ts")}
    if not shipped:  # no data package at all: the error names the install
        package_file(DATA_PACKAGES[0], "datasets/data", field=f"data.name={name}", hint=HINT)
    raise SeqlabError(
        f"data.name={name}: no such set in the installed data packages ({', '.join(DATA_PACKAGES)}). "
        f"Fix: one of {sorted(shipped)}, or your own file with data.path=<name>_TRAIN.ts."
    )


class _Sequences(torch.utils.data.Dataset):
    def __init__(self, series: list[torch.Tensor], labels: torch.Tensor) -> None:
        self.series, self.labels = series, labels

    def __len__(self) -> int:
        return len(self.series)

    def __getitem__(self, index: int):
        return self.series[index], self.labels[index]


def _is_datasets_source(path: str) -> bool:
    from seqlab.data.hf import is_hf_source

    return is_hf_source(path) or Path(path).suffix.lower() in {".parquet", ".pq", ".jsonl"}


def read_datasets_series(
    source: str, *, series: str, label: str
) -> tuple[tuple[list[np.ndarray], list[str]], tuple[list[np.ndarray], list[str]]]:
    """A ``datasets`` source with ``train`` and ``test`` splits, one row per series: a sequence
    column (a list of numbers, or a list of per-step lists for several channels; lengths may
    vary) and a label column -> (series (T, C) float64, labels as strings) per split."""
    from seqlab.data.hf import load_hf

    loaded = load_hf(source, field="data.path")
    if not {"train", "test"} <= set(loaded):
        raise SeqlabError(
            f"data.path={source!r} has the splits {list(loaded)}; series classification reads "
            "its 'train' and 'test' splits (validation is held out of train, data.val_frac). "
            "Fix: name the splits train and test."
        )
    out = []
    for split in ("train", "test"):
        part = loaded[split]
        missing = [c for c in (series, label) if c not in part.column_names]
        if missing:
            raise SeqlabError(
                f"data.path={source!r}: split {split!r} has no column(s) {missing} (columns: "
                f"{part.column_names}). Fix: data.series_column / data.label_column."
            )
        xs = []
        for row, values in enumerate(part[series]):
            try:
                x = np.asarray(values, dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise SeqlabError(
                    f"data.path={source!r}: {split} row {row} of '{series}' is not a sequence of "
                    "numbers (or of per-step lists of numbers). Fix: that row."
                ) from err
            x = x[:, None] if x.ndim == 1 else x
            if x.ndim != 2 or not len(x) or not np.isfinite(x).all():
                raise SeqlabError(
                    f"data.path={source!r}: {split} row {row} of '{series}' is empty, not "
                    "(steps) or (steps, channels), or holds NaN/inf. Fix: that row."
                )
            xs.append(x)
        labels = part.features[label]
        names = getattr(labels, "names", None)
        ys = [names[v] if names else str(v) for v in part[label]]
        out.append((xs, ys))
    return out[0], out[1]


class UCRDataModule(SplitLoaders, L.LightningDataModule):
    """``data=ucr data.name=JapaneseVowels``: classify whole series (of varying length)."""

    collate_fn = staticmethod(pad_collate)  # batches padded, with lengths

    def __init__(
        self,
        *,
        name: str | None = "JapaneseVowels",
        path: str | None = None,
        test_path: str | None = None,
        val_frac: float = 0.2,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        dtw_baseline: bool = True,
        dtw_max_cells: float = 5e8,
        rocket_baseline: bool = True,
        series_column: str = "series",
        label_column: str = "label",
        resample: int | str | None = None,
        pad: int | str | None = None,
    ) -> None:
        super().__init__()
        self.name, self.path, self.test_path = name, path, test_path
        self.series_column, self.label_column = series_column, label_column
        self.val_frac, self.batch_size = float(val_frac), int(batch_size)
        self.num_workers, self.seed = int(num_workers), int(seed)
        self.dtw_baseline, self.rocket_baseline = bool(dtw_baseline), bool(rocket_baseline)
        self.dtw_max_cells = float(dtw_max_cells)
        self.resample, self.pad = resample, pad
        if resample is not None and pad is not None:
            raise SeqlabError(
                f"data.resample={resample} and data.pad={pad}: two ways to one length. Fix: "
                "set one of them (or neither: each series keeps its length, models mask)."
            )
        self.resample_to: int | None = None
        self.pad_to: int | None = None
        self.splits: dict[str, _Sequences] = {}
        self.save_hyperparameters()

    def _files(self) -> tuple[Path, Path]:
        """(TRAIN, TEST) files: a bundled set (data.name) or your own (data.path)."""
        if self.path:
            train = Path(self.path).expanduser()
            test = Path(self.test_path).expanduser() if self.test_path else _test_beside(train)
            for field, file in (("data.path", train), ("data.test_path", test)):
                if not file.is_file():
                    raise SeqlabError(
                        f"{field}: '{file}' does not exist. Fix: a .ts file of the archive's "
                        "format (the test file beside it as *_TEST.ts, or data.test_path)."
                    )
            return train, test
        if not self.name:
            raise SeqlabError("data.name or data.path must be set (e.g. data.name=GunPoint).")
        return archive_files(self.name)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        if self.path and _is_datasets_source(self.path):
            (train_x, train_y), (test_x, test_y) = read_datasets_series(
                self.path, series=self.series_column, label=self.label_column
            )
            where = str(self.path)
        else:
            train_file, test_file = self._files()
            train_x, train_y = read_ts(train_file)
            test_x, test_y = read_ts(test_file)
            where = f"{train_file.name} / {test_file.name}"
        channels = {x.shape[1] for x in train_x} | {x.shape[1] for x in test_x}
        if len(channels) > 1:
            raise SeqlabError(
                f"{where}: series have different numbers of channels {sorted(channels)} (train "
                "and test must match). Fix: the same dimensions in every series."
            )
        if len(set(train_y)) < 2:
            raise SeqlabError(f"{where}: the training file has one class only; nothing to learn.")
        self.class_names = sorted(set(train_y), key=lambda c: (len(c), c))
        index = {c: i for i, c in enumerate(self.class_names)}
        unknown = sorted(set(test_y) - set(index))
        if unknown:
            raise SeqlabError(
                f"{where}: test labels {unknown} never occur in the training file. Fix: the "
                "labels of the test file must be a subset of the training labels."
            )
        y_train = np.array([index[c] for c in train_y])
        self.resample_to = target_length(self.resample, [len(x) for x in train_x])
        self.pad_to = target_length(self.pad, [len(x) for x in train_x], "data.pad")
        if self.resample_to:  # every series (train, test, and new ones in predict) this long
            train_x = [resample(x, self.resample_to) for x in train_x]
            test_x = [resample(x, self.resample_to) for x in test_x]
        val = self._stratified_val(y_train)
        fit = [i for i in range(len(train_x)) if i not in set(val)]
        stacked = np.concatenate([train_x[i] for i in fit])
        self.mean, self.std = (
            stacked.mean(axis=0),
            np.where(stacked.std(axis=0) > 0, stacked.std(axis=0), 1.0),
        )

        def make(xs, ys) -> _Sequences:
            scaled = [self._normalised(x) for x in xs]
            if self.pad_to:  # padded with the training mean, read as data (no mask)
                scaled = [pad(x, self.pad_to) for x in scaled]
            tensors = [torch.tensor(x, dtype=torch.float32) for x in scaled]
            return _Sequences(tensors, torch.tensor(ys, dtype=torch.long))

        self.splits = {
            "train": make([train_x[i] for i in fit], y_train[fit]),
            "val": make([train_x[i] for i in val], y_train[val]),
            "test": make(test_x, [index[c] for c in test_y]),
        }
        self.lengths = sorted({len(s) for split in self.splits.values() for s in split.series})
        full = [self._normalised(x) for x in train_x]
        y_test = np.array([index[c] for c in test_y])
        self.reference_accuracy = self._reference_baselines(
            full, y_train, fit, val, [self._normalised(x) for x in test_x], y_test
        )

    def _reference_baselines(
        self,
        train: list[np.ndarray],
        labels: np.ndarray,
        fit: list[int],
        val: list[int],
        test: list[np.ndarray],
        test_labels: np.ndarray,
    ) -> dict[str, dict[str, float]]:
        """{"dtw": {"val": acc, "test": acc}, "rocket": {...}}: the field's two reference
        classifiers on the same splits. Test: fitted on the whole official TRAIN file (as
        published); val: on the training part only."""
        chosen = {}
        cells = len(train) * len(test) * max(self.lengths) ** 2
        if self.dtw_baseline and cells <= self.dtw_max_cells:
            chosen["dtw"] = one_nn_dtw_accuracy
        elif self.dtw_baseline:
            log.info(
                "1-NN DTW baseline skipped: %d x %d series of up to %d steps is %.1e DP cells "
                "(data.dtw_max_cells=%.0e); data.dtw_baseline=false silences this",
                len(test),
                len(train),
                max(self.lengths),
                cells,
                self.dtw_max_cells,
            )
        if self.rocket_baseline:
            chosen["rocket"] = functools.partial(minirocket_accuracy, seed=self.seed)
        splits = {"test": (train, labels, test, test_labels)}
        if val:
            splits["val"] = (
                [train[i] for i in fit],
                labels[fit],
                [train[i] for i in val],
                labels[val],
            )
        return {
            name: {split: accuracy(*args) for split, args in splits.items()}
            for name, accuracy in chosen.items()
        }

    def val_dataloader(self):
        # no validation split (val_frac=0): Lightning skips validation
        return super().val_dataloader() if len(self.splits["val"]) else []

    def _normalised(self, series: np.ndarray) -> np.ndarray:
        return (series - self.mean) / self.std

    def _stratified_val(self, labels: np.ndarray) -> list[int]:
        """A seeded share of each class: at least one series, never a class's last one (a
        class seen only in validation could not be learned); none with val_frac=0."""
        if not 0.0 <= self.val_frac < 1.0:
            raise SeqlabError(f"data.val_frac={self.val_frac}: a share in [0, 1).")
        if self.val_frac == 0.0:
            return []  # the published protocol: train on the whole official TRAIN file
        rng = np.random.default_rng(self.seed)
        picked = []
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            share = min(len(members) - 1, max(1, round(self.val_frac * len(members))))
            picked += members[:share].tolist()
        alone = [str(self.class_names[c]) for c in np.unique(labels) if (labels == c).sum() < 2]
        if alone:
            log.warning(
                "classes %s have one training series: it stays in training, so validation "
                "does not score them",
                alone,
            )
        return sorted(picked)

    @property
    def spec(self) -> DataSpec:
        train = self.splits["train"]
        extra = {
            "variable_length": len(self.lengths) > 1,
            "lengths": [self.lengths[0], self.lengths[-1]],
            # what prediction on new series needs (seqlab.prediction.series): the per-channel
            # standardisation of the training part and the shortest training series
            "channel_mean": [float(v) for v in self.mean],
            "channel_std": [float(v) for v in self.std],
            "train_min_length": int(min(len(s) for s in train.series)),
            # data.resample: new series are brought to this length too (null: kept)
            "resample": self.resample_to,
            "pad": self.pad_to,  # data.pad: new series are padded (or cut) to this length
        }
        baselines = {}
        for split in ("val", "test") if len(self.splits["val"]) else ("test",):
            labels = self.splits[split].labels
            baselines[split] = {"majority_acc": majority_accuracy(train.labels, labels)}
            for name, accuracy in self.reference_accuracy.items():
                baselines[split][f"{name}_acc"] = accuracy[split]
        return DataSpec(
            task="classification",
            num_features=int(train.series[0].shape[1]),
            num_targets=len(self.class_names),
            seq_len=int(self.lengths[-1]),
            class_names=tuple(self.class_names),
            baselines=baselines,
            extra=extra,
        )
