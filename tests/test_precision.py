"""bf16-mixed on the CPU trains every model (the fused LSTM runs in float32 under autocast)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import lightning as L
import pytest
import torch
from torch import nn

from tests.conftest import SHORT, compose_config, train_summary

BF16 = [*SHORT, "trainer.precision=bf16-mixed"]
PAIRS = [
    ("ar", "stocks"),
    ("rnn", "stocks"),
    ("lstm", "stocks"),
    ("gru", "stocks"),
    ("gpt", "stocks"),
    ("transformer", "stocks"),
    ("seq2seq", "stocks"),
    ("vit", "digits"),
    ("lstm", "shakespeare"),
    ("gpt", "shakespeare"),
]
# language models: a small corpus and short windows keep the run to seconds
TEXT = ["data.max_chars=40000", "data.block_size=32", "data.ngram_order=2"]


LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)


class AutocastProbe(L.Callback):
    """Records, for every Linear and convolution run during training steps, whether CPU
    autocast was on and the dtype it returned (bf16 under bf16-mixed autocast)."""

    seen: ClassVar[set[tuple[bool, torch.dtype]]] = set()

    def on_train_start(self, trainer, pl_module) -> None:
        AutocastProbe.seen = set()

        def hook(module, inputs, output):
            AutocastProbe.seen.add((torch.is_autocast_enabled("cpu"), output.dtype))

        self.handles = [
            m.register_forward_hook(hook) for m in pl_module.modules() if isinstance(m, LAYERS)
        ]

    def on_train_end(self, trainer, pl_module) -> None:
        for handle in self.handles:
            handle.remove()


PROBE = "+callbacks.autocast_probe._target_=tests.test_precision.AutocastProbe"


def _train(out: Path, *overrides: str, callbacks: str = "callbacks=none") -> dict:
    summary = train_summary(out, *BF16, callbacks, PROBE, *overrides)
    assert summary["global_step"] == 3
    assert all(math.isfinite(v) for v in summary["test"].values()), summary["test"]
    # autocast really ran: Linear/conv layers computed in bf16 inside training steps
    assert (True, torch.bfloat16) in AutocastProbe.seen, AutocastProbe.seen
    return summary


@pytest.mark.parametrize(
    ("model", "data"),
    [
        # GPT on prices is the slowest pair and GPT is covered on text: CI runs it with -m slow
        pytest.param(
            m, d, id=f"{m}-{d}", marks=[pytest.mark.slow] if (m, d) == ("gpt", "stocks") else []
        )
        for m, d in PAIRS
    ],
)
def test_bf16_mixed_on_cpu(model, data, tmp_path):
    _train(tmp_path, f"model={model}", f"data={data}", *(TEXT if data == "shakespeare" else []))


def test_32_true_does_not_autocast(tmp_path):
    """The probe itself can tell: at 32-true no layer runs under autocast."""
    train_summary(
        tmp_path, *SHORT, "callbacks=none", PROBE, "model=ar", "trainer.precision=32-true"
    )
    assert AutocastProbe.seen == {(False, torch.float32)}


@pytest.mark.slow  # subprocess or several trainings: CI runs it with -m slow
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

    summary = train_summary(  # float32: compile, not autocast, is under test here
        tmp_path / "run",
        *BF16,
        "callbacks=default",
        "model=gpt",
        "model.compile=true",
        "model.backbone.num_layers=1",
        "model.backbone.hidden_size=32",
        "trainer.precision=32-true",
    )
    assert summary["global_step"] == 3
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


def test_bf16_mixed_with_truncated_bptt_clips_each_chunk(tmp_path):
    """Per-chunk clipping (manual optimisation) under bf16-mixed: Lightning refuses a fused
    optimiser there, so the task keeps torch's default kernel."""
    summary = train_summary(
        tmp_path,
        *BF16,
        "callbacks=none",
        PROBE,
        "model=lstm",
        "data=shakespeare",
        *TEXT,
        "model.tbptt_steps=8",
        "trainer.gradient_clip_val=1.0",
    )
    assert summary["global_step"] == 3 * 32 // 8  # one optimiser step per chunk
    assert all(math.isfinite(v) for v in summary["test"].values()), summary["test"]
    assert (True, torch.bfloat16) in AutocastProbe.seen, AutocastProbe.seen
