"""model=minirocket: the reference's features through the task, fitted once, padding-free,
reproduced from its checkpoint by predict.py, and as accurate as the reference on real data."""

from __future__ import annotations

import shutil

import lightning as L
import numpy as np
import pytest
import torch

from seqlab.baselines.minirocket import MiniRocket
from seqlab.data.collate import pad_collate
from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.nn.minirocket import MiniRocketFeatures
from seqlab.tasks.registry import build_task, load_task

BACKBONE = {"_target_": "seqlab.nn.minirocket.MiniRocketFeatures", "num_features": 336}
ADAM = {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 0.001}


def _series(seed: int, lengths, channels: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, channels)).cumsum(axis=0) for n in lengths]


def _padded(series: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """[(T_i, C)] -> (N, T_max, C) float64 right-padded, lengths (N,)."""
    lengths = torch.tensor([len(s) for s in series])
    x = torch.zeros(len(series), int(lengths.max()), series[0].shape[1], dtype=torch.float64)
    for i, s in enumerate(series):
        x[i, : len(s)] = torch.from_numpy(s)
    return x, lengths


@pytest.mark.parametrize(("channels", "lengths"), [(1, [50] * 6), (3, [12, 40, 25, 33, 9, 40])])
def test_the_models_features_are_the_reference_transforms(channels, lengths):
    train = _series(0, lengths, channels)
    test = _series(1, [s - 3 for s in lengths], channels)
    reference = MiniRocket(num_features=840, seed=5).fit(train)
    model = MiniRocketFeatures(input_size=channels, num_features=840, seed=5)
    fitted = model.fit(*_padded(train))
    np.testing.assert_array_equal(
        model.transform(*_padded(train)).numpy(), reference.transform(train)
    )
    np.testing.assert_array_equal(
        model.transform(*_padded(test)).numpy(), reference.transform(test)
    )
    # forward: the same features standardised with the training statistics (what fit returned)
    out, state = model(*_padded(train)[:1], lengths=_padded(train)[1])
    assert state is None and out.dtype == torch.float64 and out.shape == (6, 840)
    torch.testing.assert_close(out, fitted)
    assert fitted.mean(0).abs().max() < 1e-9  # centred; unit std where a feature varies


def spec(channels: int = 2, classes: int = 3, variable: bool = True) -> DataSpec:
    return DataSpec(
        task="classification",
        num_features=channels,
        num_targets=classes,
        seq_len=40,
        class_names=tuple(f"c{k}" for k in range(classes)),
        extra={
            "variable_length": variable,
            "channel_mean": [0.0] * channels,
            "channel_std": [1.0] * channels,
            "train_min_length": 5,
        },
    )


class Series(L.LightningDataModule):
    """Labelled random walks of lengths 5-40 whose class sets their drift."""

    def __init__(self, n: int = 24, channels: int = 2, seed: int = 0) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.labels = rng.integers(3, size=n)
        self.items = [
            (
                torch.tensor(
                    rng.normal(0.5 * y, 1.0, size=(int(rng.integers(5, 41)), channels)).cumsum(0),
                    dtype=torch.float32,
                ),
                torch.tensor(y),
            )
            for y in self.labels
        ]

    def train_dataloader(self):
        return torch.utils.data.DataLoader(
            self.items, batch_size=8, shuffle=True, collate_fn=pad_collate
        )

    def test_dataloader(self):
        return torch.utils.data.DataLoader(self.items, batch_size=8, collate_fn=pad_collate)


def make_task(head: str = "ridge", **backbone):
    return build_task(
        {"backbone": {**BACKBONE, **backbone}, "optimizer": ADAM, "head": head}, spec()
    )


def fit(task, data, tmp_path, **kwargs) -> L.Trainer:
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        num_sanity_val_steps=0,
    )
    trainer.fit(task, datamodule=data, **kwargs)
    return trainer


def test_raw_channels_in_pooled_features_out_and_input_size_from_the_data():
    task = make_task()
    assert task.input_proj is None and task.pooled and task.backbone.input_size == 2
    assert task.hparams.model["backbone"]["input_size"] == 2  # saved: checkpoints rebuild it
    with pytest.raises(SeqlabError, match=r"input_size=3: .*the data has 2"):
        make_task(input_size=3)
    with pytest.raises(SeqlabError, match=r"model.head=ridge .*LSTM"):
        build_task(
            {
                "backbone": {
                    "_target_": "seqlab.nn.recurrent.LSTM",
                    "input_size": 8,
                    "hidden_size": 8,
                },
                "optimizer": ADAM,
                "head": "ridge",
            },
            spec(),
        )


def test_fitted_once_not_again_on_a_second_fit_nor_on_resume(tmp_path, monkeypatch):
    calls = []
    original = MiniRocketFeatures.fit

    def counted(self, x, lengths=None):
        calls.append(len(x))
        return original(self, x, lengths)

    monkeypatch.setattr(MiniRocketFeatures, "fit", counted)
    data = Series()
    task = make_task()
    trainer = fit(task, data, tmp_path)
    assert calls == [24] and bool(task.backbone.fitted)  # the whole split, once
    biases, head = task.backbone.biases.clone(), task.head.weight.detach().clone()
    assert head.abs().sum() > 0
    ckpt = tmp_path / "one.ckpt"
    trainer.save_checkpoint(ckpt)
    fit(task, data, tmp_path)  # a second fit of the same model
    assert calls == [24]
    resumed = make_task()
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(resumed, datamodule=data, ckpt_path=ckpt, weights_only=True)
    assert calls == [24] and torch.equal(resumed.backbone.biases, biases)
    assert torch.equal(resumed.head.weight.detach(), head)  # a ridge head is never stepped


def test_ridge_head_predicts_what_the_reference_classifier_predicts(tmp_path):
    data = Series(n=30, seed=3)
    task = make_task()
    trainer = fit(task, data, tmp_path)
    # the epoch logs the fitted head's training accuracy (from the fit's features, not again)
    x, y, lengths = pad_collate(data.items)
    train_acc = float((task(x, lengths).argmax(-1) == y).float().mean())
    assert float(trainer.callback_metrics["train/acc"]) == pytest.approx(train_acc, abs=1e-6)
    test = Series(n=40, seed=4)
    x, y, lengths = pad_collate(test.items)
    ours = float((task(x, lengths).argmax(-1) == y).float().mean())
    train = [s.double().numpy() for s, _ in data.items]
    # the reference with the model's feature count: same biases, same scaler, same ridge
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rocket = MiniRocket(num_features=336, seed=0).fit(train)
    clf = make_pipeline(
        StandardScaler(with_mean=False), RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))
    )
    clf.fit(rocket.transform(train), data.labels)
    predicted = clf.predict(rocket.transform([s.double().numpy() for s, _ in test.items]))
    expected = float((predicted == y.numpy()).mean())
    assert ours == pytest.approx(expected, abs=1 / 40)  # float32 data: a tie may flip


def test_padding_never_changes_features_or_logits(tmp_path):
    task = make_task()
    fit(task, Series(), tmp_path)
    task.eval()
    short, long_ = Series(n=2, seed=9).items[0][0][:7], torch.randn(40, 2)
    alone = task(short[None])
    x, _, lengths = pad_collate([(short, torch.tensor(0)), (long_, torch.tensor(1))])
    beside = task(x, lengths)
    torch.testing.assert_close(beside[0], alone[0], rtol=0, atol=1e-6)  # the head: float32 GEMM
    features, _ = task.backbone(short[None])
    padded_features, _ = task.backbone(x, lengths=lengths)
    torch.testing.assert_close(padded_features[0], features[0], rtol=0, atol=0)


def test_checkpoint_rebuilds_the_fitted_model(tmp_path):
    data = Series()
    task = make_task()
    trainer = fit(task, data, tmp_path)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    loaded, _ = load_task(str(tmp_path / "m.ckpt"))
    x, _, lengths = pad_collate(data.items)
    task.eval(), loaded.eval()
    torch.testing.assert_close(loaded(x, lengths), task(x, lengths), rtol=0, atol=0)
    assert loaded.backbone.channels.shape == task.backbone.channels.shape


def test_a_trained_head_learns_on_the_fixed_features(tmp_path):
    data = Series()
    task = make_task(head="trained")
    before = task.head.weight.detach().clone()
    fit(task, data, tmp_path)
    assert not torch.equal(task.head.weight.detach(), before)  # the optimizer stepped


# ---------------------------------------------------------------------- real data, the CLI
@pytest.mark.slow  # two real trainings on the archive's files, then predict.py and export
def test_predict_and_export_from_the_checkpoint_reproduce_the_test(tmp_path):
    from seqlab.data.package_files import package_file
    from tests.conftest import compose_config, train_summary
    from tests.test_predict import accuracy, run_predict, ts_series

    data = tmp_path / "data"
    data.mkdir()
    for split in ("TRAIN", "TEST"):
        shutil.copy(
            package_file(
                "aeon",
                f"datasets/data/JapaneseVowels/JapaneseVowels_{split}.ts",
                field="data.name",
                hint="pip install --no-deps aeon",
            ),
            data / f"vowels_{split}.ts",
        )
    new = tmp_path / "vowels_new.ts"
    shutil.copy(data / "vowels_TEST.ts", new)
    summary = train_summary(
        tmp_path / "run",
        "experiment=minirocket_series_classification",
        f"data.path={data / 'vowels_TRAIN.ts'}",
        "data.dtw_baseline=false",
        "trainer.accelerator=cpu",
        "extras.print_config=false",
        "logger=csv",
    )
    shutil.rmtree(data)
    test = summary["test"]
    assert abs(test["test/acc"] - test["test/baseline_rocket_acc"]) <= 0.01
    table = run_predict(tmp_path / "p", summary["last_checkpoint"], f"data.path={new}")
    _, labels = ts_series(new)
    assert accuracy(table, "series", labels) == pytest.approx(test["test/acc"], abs=1e-6)

    from seqlab.cli.export import run as export

    cfg = compose_config(
        "export",
        [f"ckpt_path={summary['last_checkpoint']}", f"data.path={new}", "format=torchscript"],
        tmp_path / "x",
    )
    report = export(cfg)
    assert report["max_abs_diff"] <= 1e-5


@pytest.mark.slow  # the recipe on real sets: the reference's accuracy through the task
@pytest.mark.parametrize("name", ["GunPoint", "ItalyPowerDemand", "PickupGestureWiimoteZ"])
def test_the_recipe_reaches_the_references_accuracy(tmp_path, name):
    from tests.conftest import train_summary

    summary = train_summary(
        tmp_path,
        "experiment=minirocket_series_classification",
        f"data.name={name}",
        "data.dtw_baseline=false",
        "trainer.accelerator=cpu",
        "extras.print_config=false",
        "logger=csv",
    )
    test = summary["test"]
    assert abs(test["test/acc"] - test["test/baseline_rocket_acc"]) <= 0.01, test


def test_exports_to_torchscript_and_refuses_onnx_in_one_line(tmp_path):
    from seqlab.prediction.export import export_model

    task = make_task()
    fit(task, Series(), tmp_path)
    batches = [(torch.randn(b, t, 2),) for b, t in ((3, 20), (5, 33), (2, 9))]
    report = export_model(task, "torchscript", tmp_path / "ts", batches)
    assert report["max_abs_diff"] <= 1e-5 and len(report["shapes"]) == 3
    with pytest.raises(SeqlabError, match=r"exports to torchscript only: .*float64.*Fix: format"):
        export_model(task, "onnx", tmp_path / "onnx", batches)


def test_mixed_or_true_half_precision_leaves_the_features_float64():
    train = _series(2, [30] * 5, 2)
    model = MiniRocketFeatures(input_size=2, num_features=168)
    model.fit(*_padded(train))
    expected = model.transform(*_padded(train))
    model.to(torch.bfloat16)  # what a bf16-true trainer does to the module
    assert {
        b.dtype for n, b in model.named_buffers() if n != "fitted" and b.is_floating_point()
    } == {torch.float64}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(model.transform(*_padded(train)), expected, rtol=0, atol=0)


def test_ridge_logits_are_scaled_by_the_leave_one_out_temperature_predictions_unchanged():
    from sklearn.linear_model import Ridge, RidgeClassifierCV

    from seqlab.baselines.minirocket import ALPHAS, loo_scores, ridge_head

    rng = np.random.default_rng(0)
    x, targets = rng.normal(size=(12, 30)), rng.normal(size=(12, 3))
    brute = np.stack(
        [
            Ridge(alpha=2.0)
            .fit(np.delete(x, i, 0), np.delete(targets, i, 0))
            .predict(x[i : i + 1])[0]
            for i in range(12)
        ]
    )
    np.testing.assert_allclose(loo_scores(x, targets, 2.0), brute, atol=1e-10)
    for classes in (2, 4):
        labels = rng.integers(classes, size=40)
        features = rng.normal(size=(40, 50)) + labels[:, None] * 0.3
        weight, bias, _, scale = ridge_head(features, labels, classes + 1)
        logits = features @ weight.numpy().T + bias.numpy()
        reference = RidgeClassifierCV(alphas=ALPHAS).fit(features, labels).predict(features)
        assert 0.1 <= scale <= 100 and np.array_equal(logits.argmax(1), reference)
        assert (logits[:, classes] == -1e4).all()  # a class the training split lacks
