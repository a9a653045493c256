"""bf16-mixed on the CPU trains every model (the fused LSTM runs in float32 under autocast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqlab.cli.train import run
from tests.conftest import CONFIGS, compose_config

MODELS = sorted(p.stem for p in (CONFIGS / "model").glob("*.yaml") if p.stem != "vit")


@pytest.mark.parametrize("model", MODELS)
def test_bf16_mixed_on_cpu(model, tmp_path):
    cfg = compose_config(
        "train",
        [
            f"model={model}",
            "trainer.precision=bf16-mixed",
            "trainer.accelerator=cpu",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=3",
            "trainer.limit_val_batches=2",
            "trainer.limit_test_batches=2",
            "extras.print_config=false",
            "logger=csv",
            "callbacks=none",
        ],
        tmp_path,
    )
    run(cfg)
    summary = json.loads((Path(tmp_path) / "summary.json").read_text())
    assert summary["test"]["test/loss"] == pytest.approx(summary["test"]["test/loss"])  # not NaN
    assert summary["global_step"] == 3
