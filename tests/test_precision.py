"""bf16-mixed on the CPU trains every model (the fused LSTM runs in float32 under autocast)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from seqlab.cli.train import run
from tests.conftest import compose_config

TINY = [
    "trainer.precision=bf16-mixed",
    "trainer.accelerator=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "extras.print_config=false",
    "logger=csv",
]
PAIRS = [
    ("ar", "stocks"),
    ("rnn", "stocks"),
    ("lstm", "stocks"),
    ("gru", "stocks"),
    ("gpt", "stocks"),
    ("transformer", "stocks"),
    ("seq2seq", "stocks"),
    ("vit", "digits"),
]


def _train(tmp_path: Path, *overrides: str, callbacks: str = "callbacks=none") -> dict:
    run(compose_config("train", [*TINY, callbacks, *overrides], tmp_path))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["global_step"] == 3
    assert all(math.isfinite(v) for v in summary["test"].values()), summary["test"]
    return summary


@pytest.mark.parametrize(("model", "data"), PAIRS, ids=[f"{m}-{d}" for m, d in PAIRS])
def test_bf16_mixed_on_cpu(model, data, tmp_path):
    _train(tmp_path, f"model={model}", f"data={data}")


def test_bf16_mixed_text_to_image_both_stages(tmp_path):
    stage1 = _train(
        tmp_path / "vq", "model=vqvae", "data=mnist_captions", callbacks="callbacks=default"
    )
    _train(
        tmp_path / "dalle",
        "model=dalle",
        "data=mnist_captions",
        f"model.tokenizer_ckpt={stage1['last_checkpoint']}",
    )


@pytest.mark.slow
def test_model_compile_trains_and_its_checkpoint_evaluates(tmp_path):
    """model.compile=true: torch.compile on the backbone (~30 s to compile on a CPU)."""
    from seqlab.cli.evaluate import run as evaluate

    summary = _train(
        tmp_path / "run",
        "model=gpt",
        "model.compile=true",
        "model.backbone.n_layer=1",
        "model.backbone.input_size=32",
        "trainer.precision=32-true",
        callbacks="callbacks=default",
    )
    cfg = compose_config(
        "eval",
        [
            f"ckpt_path={summary['best_checkpoint']}",
            "trainer.accelerator=cpu",
            "trainer.limit_test_batches=2",
        ],
        tmp_path / "eval",
    )
    assert evaluate(cfg)["test/loss"] == pytest.approx(summary["test"]["test/loss"], rel=1e-4)
