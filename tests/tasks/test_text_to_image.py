"""DALL·E in miniature end to end: stage 1, stage 2, generate.py, eval with a classifier."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from seqlab.cli.evaluate import run as evaluate
from seqlab.cli.generate import run as generate
from seqlab.errors import SeqlabError
from tests.conftest import SHORT, compose_config, train_summary

TINY = [*SHORT, "callbacks.progress_bar=null", "data.batch_size=16"]


def _train(out: Path, *overrides: str) -> dict:
    return train_summary(out, *TINY, *overrides)


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    root = tmp_path_factory.mktemp("t2i")
    stage1 = _train(
        root / "vq", "model=vqvae", "data=mnist_captions", "model.backbone.hidden_size=16"
    )
    stage2 = _train(
        root / "dalle",
        "model=dalle",
        "data=mnist_captions",
        "model.backbone.hidden_size=32",
        "model.backbone.num_layers=1",
        f"model.tokenizer_ckpt={stage1['last_checkpoint']}",
        "callbacks.image_samples.per_prompt=1",
    )
    classifier = _train(root / "vit", "model=vit", "data=mnist")
    return root, stage1, stage2, classifier


def test_stages_log_their_metrics(stages):
    root, stage1, stage2, _ = stages
    assert {"test/recon_mse", "test/perplexity"} <= set(stage1["test"])
    assert "test/image_nll" in stage2["test"]
    assert list((root / "dalle" / "plots").glob("samples_epoch*.png"))


def test_generate_writes_a_png_grid_and_refuses_unknown_words(stages, tmp_path):
    _, _, stage2, _ = stages
    args = [f"ckpt_path={stage2['last_checkpoint']}", "num_images=4", "wandb=false"]
    (path,) = generate(
        compose_config("generate", [*args, "prompt=a thin handwritten three"], tmp_path / "a")
    )
    assert Path(path).stat().st_size > 2_000
    cfg = compose_config("generate", [*args, "prompt=a purple dragon"], tmp_path / "b")
    with pytest.raises(
        SeqlabError, match=r"unknown word\(s\) \['purple', 'dragon'\]; known words: .*seven"
    ):
        generate(cfg)


def test_eval_scores_drawings_with_a_classifier(stages, tmp_path):
    _, _, stage2, classifier = stages
    cfg = compose_config(
        "eval",
        [
            f"ckpt_path={stage2['last_checkpoint']}",
            f"classifier_ckpt={classifier['last_checkpoint']}",
            "images_per_digit=3",
            "trainer.accelerator=cpu",
        ],
        tmp_path,
    )
    metrics = evaluate(cfg)
    images = 30  # images_per_digit x 10 digits
    assert metrics["t2i/images"] == images
    assert metrics["t2i/temperature"] == 1.0
    # accuracies: shares of the 30 drawings (or of the real test set) the classifier got right
    for key in ("t2i/prompt_accuracy", "t2i/random_tokens_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, (key, metrics[key])
        assert metrics[key] * images == pytest.approx(round(metrics[key] * images)), key
    assert 0.0 <= metrics["t2i/classifier_accuracy_real_test"] <= 1.0
    # L2 distances between 28x28 images with pixels in [0, 1]: at most sqrt(784) = 28, and a
    # drawing or a held-out test digit is not a pixel-exact copy of a training image
    for key in ("t2i/nearest_train_distance_generated", "t2i/nearest_train_distance_real_test"):
        assert 0.0 < metrics[key] <= math.sqrt(28 * 28), (key, metrics[key])
