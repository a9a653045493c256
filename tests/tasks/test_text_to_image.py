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


class _Oracle:
    """Stand-ins with known answers: images are flat grey, level 20 (d + 1) / 255 for digit
    d (whole bytes), and the classifier reads the level back (a right drawing is always read)."""

    @staticmethod
    def pixels(digits, offset: float = 0.0):
        import torch

        levels = (torch.as_tensor(digits, dtype=torch.float64) + 1) * 20 / 255 + offset
        return levels.view(-1, 1, 1, 1).expand(-1, 1, 28, 28).clone()

    class Classifier:
        def __init__(self):
            import types

            self.spec = types.SimpleNamespace(extra={"mean": [0.0], "std": [1.0]})

        def eval(self):
            return self

        def __call__(self, x):
            import torch

            digit = (x.mean(dim=(1, 2, 3)) / 20 - 1).round().long().clamp(0, 9)
            return torch.nn.functional.one_hot(digit, 10).float()

    class Task:
        """Draws the prompt's digit (plus ``shift``); random codes decode to the digit 3."""

        def __init__(self, shift: int = 0):
            import types

            self.shift = shift
            self.image_tokenizer = types.SimpleNamespace(
                codebook_size=8,
                num_tokens=4,
                decode=lambda codes: _Oracle.pixels([3] * len(codes)),
            )

        def eval(self):
            return self

        def generate_images(self, prompts, **kwargs):
            from seqlab.data.images.captions import DIGIT_WORDS

            digits = [(DIGIT_WORDS.index(p.split()[-1]) + self.shift) % 10 for p in prompts]
            return _Oracle.pixels(digits)

        def to_pixels(self, images):
            return images


def test_the_text_to_image_scores_against_a_hand_count():
    """Known drawings, a classifier with known answers: each score is the hand count."""
    import types

    import torch

    from seqlab.evaluation.text_to_image import evaluate_text_to_image

    train_digits = torch.arange(10).repeat(2)
    test_digits = torch.arange(10).repeat(2)
    test_labels = test_digits.clone()
    test_labels[:5] = (test_labels[:5] + 1) % 10  # 5 of 20 mislabelled: the classifier's 0.75
    split = types.SimpleNamespace
    datamodule = types.SimpleNamespace(
        splits={
            "train": split(images=(_Oracle.pixels(train_digits) * 255).round().byte()),
            # test digits 3 grey levels brighter than their training twins: at 28 * 3 / 255
            "test": split(
                images=(_Oracle.pixels(test_digits, 3 / 255) * 255).round().byte(),
                labels=test_labels,
            ),
        }
    )
    per_digit = 3
    exact = evaluate_text_to_image(_Oracle.Task(), _Oracle.Classifier(), datamodule, per_digit=3)
    assert exact["t2i/images"] == 10 * per_digit
    assert exact["t2i/prompt_accuracy"] == 1.0  # every drawing is its prompt's digit
    assert exact["t2i/random_tokens_accuracy"] == pytest.approx(0.1)  # all 3s: 3 of 30
    assert exact["t2i/classifier_accuracy_real_test"] == pytest.approx(0.75)
    assert exact["t2i/nearest_train_distance_generated"] == pytest.approx(0.0, abs=1e-6)  # copies
    assert exact["t2i/nearest_train_distance_real_test"] == pytest.approx(28 * 3 / 255)
    shifted = evaluate_text_to_image(_Oracle.Task(1), _Oracle.Classifier(), datamodule)
    assert shifted["t2i/prompt_accuracy"] == 0.0  # each drawing is the next digit
