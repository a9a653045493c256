"""Classification task: image and sequence backbones, metrics, media, end to end."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
import torch.nn.functional as F

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.optim import WarmupCosine
from seqlab.tasks.classification import ClassificationTask
from seqlab.tasks.registry import build_task, load_task
from tests.conftest import SHORT, compose_config, train_summary

VIT = {
    "_target_": "seqlab.nn.vit.ViT",
    "patch_size": 4,
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 4,
    "mlp_ratio": 2.0,
    "dropout": 0.0,
}
LSTM = {"_target_": "seqlab.nn.recurrent.LSTM", "input_size": 32, "hidden_size": 64}
ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.003}


def make_task(backbone: dict, spec: DataSpec) -> ClassificationTask:
    """Built as train.py builds it: image fields resolved from the data first."""
    task = build_task({"backbone": backbone, "optimizer": ADAM}, spec)
    assert isinstance(task, ClassificationTask)
    return task


def test_image_fields_come_from_the_data(digits):
    task = make_task(VIT, digits.spec)
    assert task.reads_images and task.input_proj is None
    assert task.backbone.image_size == (8, 8) and task.backbone.channels == 1
    assert task.hparams.model["backbone"]["image_size"] == 8  # saved: checkpoints rebuild it
    assert task(torch.randn(5, 1, 8, 8)).shape == (5, 10)
    with pytest.raises(SeqlabError, match=r"model.backbone.image_size=28 .*1x8x8"):
        make_task({**VIT, "image_size": 28}, digits.spec)
    with pytest.raises(SeqlabError, match=r"model.backbone.channels=3"):
        make_task({**VIT, "channels": 3}, digits.spec)
    assert make_task({**VIT, "image_size": [8, 8], "channels": 1}, digits.spec) is not None


def test_sequence_backbones_read_the_image_row_by_row(digits):
    task = make_task(LSTM, digits.spec)
    assert not task.reads_images
    images = torch.randn(3, 1, 8, 8)
    rows = task.rows(images)
    assert rows.shape == (3, 8, 8) and torch.equal(rows[:, 5], images[:, 0, 5])
    assert task.embed_inputs(images).shape == (3, 8, 32)  # (B, H, input_size)
    hidden, _ = task.backbone(task.embed_inputs(images))
    logits = task(images)
    assert torch.allclose(logits, task.head(hidden[:, -1]))  # the last step classifies
    assert task.input_gradient_norms((images, torch.arange(3))).shape == (8,)  # one per row
    vit = make_task(VIT, digits.spec)
    with pytest.raises(NotImplementedError):
        vit.input_gradient_norms((images, torch.arange(3)))
    # rows of C*W features for colour images: channels side by side
    rgb = DataSpec(task="classification", num_features=12, num_targets=3, seq_len=4,
                   image_shape=(3, 4, 4))  # fmt: skip
    colour = make_task(LSTM, rgb)
    assert colour.rows(torch.randn(2, 3, 4, 4)).shape == (2, 4, 12)


@pytest.mark.parametrize("backbone", [VIT, LSTM], ids=["vit", "lstm"])
def test_overfits_a_small_batch(backbone, digits):
    torch.manual_seed(0)
    task = make_task(backbone, digits.spec)
    x, y = next(iter(digits._loader("train", train=False)))  # 64 real digits
    optimizer = torch.optim.Adam(task.parameters(), lr=3e-3)
    for _ in range(150):
        optimizer.zero_grad()
        F.cross_entropy(task(x), y).backward()
        optimizer.step()
    task.eval()
    assert (task(x).argmax(-1) == y).float().mean() == 1.0


def test_warmup_cosine_schedule():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = WarmupCosine(optimizer, warmup_epochs=2, max_epochs=10)
    lrs = []
    for _ in range(11):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] < lrs[1] < lrs[2] == 1.0
    assert all(a >= b for a, b in itertools.pairwise(lrs[2:])) and lrs[10] == 0.0


def test_classification_needs_images_or_feature_sequences():
    nothing = DataSpec(task="classification", num_targets=3, seq_len=5)
    with pytest.raises(SeqlabError, match="needs images or sequences of features"):
        make_task(LSTM, nothing)
    sequences = DataSpec(task="classification", num_features=4, num_targets=3, seq_len=5)
    assert make_task(LSTM, sequences)(torch.randn(2, 5, 4)).shape == (2, 3)
    with pytest.raises(SeqlabError, match="reads images; this data is sequences"):
        make_task(VIT, sequences)


@pytest.fixture(scope="module")
def vit_run(tmp_path_factory):
    """`python train.py model=vit data=digits` (short), no extra overrides for the images."""
    from hydra.core.global_hydra import GlobalHydra

    from seqlab.cli.train import run

    out = tmp_path_factory.mktemp("vit_digits") / "run"
    overrides = [
        "model=vit",
        "data=digits",
        "model.backbone.hidden_size=32",
        "model.backbone.num_layers=2",
        "trainer.max_epochs=2",
        "trainer.accelerator=cpu",
        "logger=csv",
        "extras.print_config=false",
        "callbacks.progress_bar=null",
        "callbacks.model_summary=null",
    ]
    run(compose_config("train", overrides, out))
    GlobalHydra.instance().clear()
    return out, json.loads((out / "summary.json").read_text())


def test_end_to_end_metrics_plots_and_checkpoint(vit_run, digits):
    out, summary = vit_run
    assert summary["task"] == "classification" and summary["model"] == "seqlab.nn.vit.ViT"
    test, val = summary["test"], summary["val"]
    for key in ("test/acc", "test/f1", "test/loss", "test/baseline_majority_acc"):
        assert key in test
    for key in ("val/acc", "val/f1", "val/loss", "val/baseline_majority_acc"):
        assert key in val
    assert test["test/baseline_majority_acc"] == pytest.approx(0.1, abs=0.01)
    assert "train/acc" in summary["train"]
    # the logged test metrics are those of the tested (best) checkpoint's predictions on the
    # whole test split, as scikit-learn computes them; digits are learnable: far above majority
    from sklearn.metrics import accuracy_score, f1_score

    best, _ = load_task(summary["best_checkpoint"])
    with torch.no_grad():
        pairs = [(best.eval()(x).argmax(-1), y) for x, y in digits.test_dataloader()]
    pred, true = (torch.cat(t).numpy() for t in zip(*pairs, strict=True))
    assert len(true) == 360
    assert test["test/acc"] == pytest.approx(accuracy_score(true, pred), abs=1e-6)
    assert test["test/f1"] == pytest.approx(f1_score(true, pred, average="macro"), abs=1e-6)
    assert test["test/acc"] > test["test/baseline_majority_acc"] + 0.3
    for name in ("confusion_val", "confusion_test", "attention_maps"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 5_000, name
    task, _ = load_task(summary["best_checkpoint"])
    assert isinstance(task, ClassificationTask) and task.backbone.image_size == (8, 8)
    x, _ = next(iter(digits.test_dataloader()))
    assert task.eval()(x).shape == (64, 10)


MEDIA = {
    "attention_maps.png",  # ViT classifiers
    "confusion_val.png",  # classifiers
    "confusion_test.png",
    "forecast_test.png",  # forecasters
    "samples.txt",  # language models
    "samples_epoch*.png",  # text-to-image
    "attention_maps_epoch*.png",
    "sequence_attention*.png",  # sequence Transformers
    "series_per_class.png",  # sequence classifiers
}
NO_BASELINES = ("data.dtw_baseline=false", "data.rocket_baseline=false")


@pytest.mark.parametrize(
    ("model", "data", "expected"),
    [
        ("lstm", "digits", {"confusion_val.png", "confusion_test.png"}),
        (
            "lstm",
            "japanese_vowels",
            {"confusion_val.png", "confusion_test.png", "series_per_class.png"},
        ),
        ("lstm", "stocks", {"forecast_test.png"}),
    ],
    ids=["lstm-image-classifier", "lstm-series-classifier", "lstm-forecaster"],
)
def test_media_callbacks_are_no_ops_elsewhere(model, data, expected, tmp_path):
    """A short run with every default callback on: only the task's own media appear."""
    from seqlab.callbacks.attention_maps import AttentionMaps

    out = tmp_path / "run"
    summary = train_summary(
        out,
        *SHORT,
        f"model={model}",
        f"data={data}",
        *(NO_BASELINES if data == "japanese_vowels" else ()),
        "model.backbone.hidden_size=8",
        "callbacks.progress_bar=null",
        "callbacks.model_summary=null",
        "callbacks.attention_maps.every_n_epochs=1",
        "callbacks.sequence_attention.every_n_epochs=1",
        "callbacks.image_samples.every_n_epochs=1",
        "trainer.limit_test_batches=1.0",  # the forecast plot needs the whole test split
    )
    task, _ = load_task(summary["last_checkpoint"])
    assert not AttentionMaps.applies(task)
    written = {p.name for p in out.rglob("*") if any(p.match(m) for m in MEDIA)}
    assert written == expected


def test_a_plateau_schedule_steps_only_on_the_epochs_that_validate(digits):
    import lightning as L

    plateau = {
        "_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
        "_partial_": True,
        "patience": 0,
    }
    task = build_task({"backbone": LSTM, "optimizer": ADAM, "scheduler": plateau}, digits.spec)
    trainer = L.Trainer(
        max_epochs=6,
        check_val_every_n_epoch=3,
        limit_train_batches=2,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(task, datamodule=digits)  # a stale or missing val/loss would raise here
    config = trainer.lr_scheduler_configs[0]
    assert config.frequency == 3 and config.scheduler.last_epoch == 2  # after epochs 3 and 6
