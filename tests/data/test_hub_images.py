"""Hub image datasets as users find them: mixed sizes and colour modes, string labels,
unlabelled (-1) splits. The hub is replaced by in-memory datasets; nothing goes online."""

from __future__ import annotations

import numpy as np
import pytest

from seqlab.data.images.datamodule import HubImageDataModule
from seqlab.errors import SeqlabError


def _image(size: tuple[int, int], mode: str, value: int):
    from PIL import Image

    return Image.new(mode, size, color=value if mode in ("L", "1") else (value,) * len(mode))


def _hub(monkeypatch, splits: dict[str, list[tuple[object, object]]], label_feature=None):
    """Make ``datasets.load_dataset`` return these (image, label) rows per split."""
    import datasets

    def load(name, cache_dir=None):
        parts = {}
        for split, rows in splits.items():
            images, labels = zip(*rows, strict=True)
            label = label_feature or datasets.Value(
                "string" if isinstance(labels[0], str) else "int64"
            )
            features = datasets.Features({"image": datasets.Image(), "label": label})
            parts[split] = datasets.Dataset.from_dict(
                {"image": list(images), "label": list(labels)}, features=features
            )
        return datasets.DatasetDict(parts)

    monkeypatch.setattr(datasets, "load_dataset", load)


def _rows(n: int, size=(6, 6), mode="L", labels=(0, 1)):
    return [(_image(size, mode, 10 * k % 250), labels[k % len(labels)]) for k in range(n)]


def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text and "Fix:" in text, text
    return text


def test_colour_and_grey_images_in_one_split_become_rgb(monkeypatch):
    train = _rows(10, mode="RGB") + _rows(10, mode="L") + _rows(4, mode="RGBA")
    _hub(monkeypatch, {"train": train, "test": _rows(6, mode="L")})
    dm = HubImageDataModule(dataset="someone/mixed", val_frac=0.25)
    dm.setup()
    assert dm.spec.image_shape == (3, 6, 6)
    test = dm.splits["test"].images
    assert test.shape == (6, 3, 6, 6) and bool((test[:, 0] == test[:, 2]).all())  # grey in RGB


def test_images_of_different_sizes_are_refused_or_resized(monkeypatch):
    train = _rows(10, size=(6, 6)) + _rows(3, size=(8, 5))
    _hub(monkeypatch, {"train": train, "test": _rows(6)})
    with pytest.raises(SeqlabError) as err:
        HubImageDataModule(dataset="someone/sizes", val_frac=0.25).setup()
    text = _one_line(err)
    assert "split 'train'" in text and "6x6 (10)" in text and "5x8 (3)" in text
    assert "data.image_size" in text
    dm = HubImageDataModule(dataset="someone/sizes", val_frac=0.25, image_size=[4, 4])
    dm.setup()
    assert dm.spec.image_shape == (1, 4, 4) and len(dm.splits["test"]) == 6


def test_string_labels_are_class_names(monkeypatch):
    names = ("dog", "cat", "emu")
    _hub(monkeypatch, {"train": _rows(30, labels=names), "test": _rows(9, labels=names)})
    dm = HubImageDataModule(dataset="someone/pets", val_frac=0.2)
    dm.setup()
    assert dm.class_names == ("cat", "dog", "emu")
    assert dm.splits["test"].labels.tolist() == [1, 0, 2] * 3  # dog, cat, emu
    assert dm.spec.num_targets == 3
    _hub(monkeypatch, {"train": _rows(30, labels=names), "test": _rows(3, labels=("yak",))})
    with pytest.raises(SeqlabError) as err:
        HubImageDataModule(dataset="someone/pets", val_frac=0.2).setup()
    assert "split 'test'" in _one_line(err) and "['yak']" in str(err.value)


def test_an_unlabelled_test_split_is_refused_naming_the_split(monkeypatch):
    import datasets

    feature = datasets.ClassLabel(names=["a", "b"])
    test = [(im, -1) for im, _ in _rows(6)]
    _hub(monkeypatch, {"train": _rows(20), "test": test}, feature)
    with pytest.raises(SeqlabError) as err:
        HubImageDataModule(dataset="someone/kaggle", val_frac=0.25).setup()
    text = _one_line(err)
    assert "split 'test'" in text and "unlabelled (-1)" in text and "data.test_split" in text


def test_unlabelled_training_rows_are_dropped_and_counted(monkeypatch, caplog):
    import datasets

    feature = datasets.ClassLabel(names=["a", "b"])
    train = _rows(20) + [(im, -1) for im, _ in _rows(5)]
    _hub(monkeypatch, {"train": train, "test": _rows(6)}, feature)
    dm = HubImageDataModule(dataset="someone/partly", val_frac=0.25)
    with caplog.at_level("WARNING"):
        dm.setup()
    assert len(dm.splits["train"]) + len(dm.splits["val"]) == 20
    assert np.array_equal(dm.spec.extra["class_counts"]["test"], [3, 3])
    assert "5 unlabelled (-1)" in caplog.text
