"""The media budget: periodic samples and measurements take at most a fixed share of the
time since fit began; deferred work runs at its next chance; end-of-fit work always runs."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from seqlab.callbacks import media_budget as mb
from tests.conftest import SHORT, train_summary


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_media_may_run_while_it_took_at_most_its_share_of_the_elapsed_time(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(mb.time, "perf_counter", clock)
    budget = mb.MediaBudget(max_share=0.1)
    assert budget.allows()  # before fit: nothing to compare with
    budget.on_fit_start(None, None)
    assert budget.allows()  # nothing spent yet
    with budget.spend():
        clock.now += 1.0  # one second of media at t = 0..1
    assert budget.spent == pytest.approx(1.0)
    clock.now = 100.0 + 5.0
    assert not budget.allows()  # 1 s > 10% of 5 s
    clock.now = 100.0 + 10.0
    assert budget.allows()  # 1 s = 10% of 10 s
    budget.on_fit_start(None, None)  # a new fit (resume) starts counting again
    assert budget.spent == 0.0 and budget.allows()

    unlimited = mb.MediaBudget(max_share=None)
    unlimited.on_fit_start(None, None)
    unlimited.spent = 1e9
    assert unlimited.allows()


@pytest.mark.parametrize("share", [0, -0.1, 1.5])
def test_a_share_outside_zero_to_one_names_the_field(share):
    with pytest.raises(ValueError, match=r"callbacks.media_budget.max_share must be in \(0, 1\]"):
        mb.MediaBudget(max_share=share)


def test_the_helpers_ask_and_bill_the_trainers_budget_and_nothing_without_one(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(mb.time, "perf_counter", clock)
    ran = []
    free = type("T", (), {"callbacks": []})()
    assert mb.media_allowed(free, "text samples")
    with mb.media_time(free):
        clock.now += 50.0
        ran.append("free")
    assert ran == ["free"]  # the block runs; there is no budget to bill

    budget = mb.MediaBudget(max_share=0.1)
    trainer = type("T", (), {"callbacks": [object(), budget]})()
    budget.on_fit_start(None, None)
    clock.now += 10.0
    with mb.media_time(trainer):
        clock.now += 2.0  # 2 s of media at t = 10..12
    assert budget.spent == pytest.approx(2.0)
    assert not mb.media_allowed(trainer, "text samples")  # 2 s > 10% of 12 s
    assert mb.media_allowed(trainer, "image grid") is False
    assert budget.deferred == {"text samples", "image grid"}
    clock.now += 8.0  # 2 s = 10% of 20 s
    assert mb.media_allowed(trainer, "gradient flow") and "gradient flow" not in budget.deferred


def test_a_run_over_budget_defers_periodic_media_and_keeps_the_final_samples(tmp_path, caplog):
    """A tiny share: the first gradient-flow measurement (step 0) runs, nothing was spent
    yet; every later measurement and every validation's text sample waits, and the end of
    fit still samples the final model and draws the heatmap."""
    with caplog.at_level(logging.INFO, logger="seqlab.callbacks.media_budget"):
        summary = train_summary(
            tmp_path,
            *SHORT,
            "callbacks.progress_bar=null",
            "callbacks.model_summary=null",
            "model=gpt",
            "model.backbone.hidden_size=16",
            "model.backbone.num_layers=1",
            "model.backbone.num_heads=2",
            "data=shakespeare",
            "data.max_chars=40000",
            "data.block_size=32",
            "data.ngram_order=0",
            "data.batch_size=16",
            "trainer.max_epochs=3",
            "callbacks.text_samples.every_n_validations=1",
            "callbacks.text_samples.max_new_tokens=20",
            "callbacks.gradient_flow.every_n_steps=1",
            "callbacks.media_budget.max_share=1e-6",
        )
    assert summary["global_step"] == 9  # 3 epochs of 3 batches
    epochs = [
        block.split(" |", 1)[0]
        for block in (tmp_path / "samples.txt").read_text().split("=== epoch ")[1:]
    ]
    assert epochs == ["2", "2"]  # both prompts, from the final model only
    steps = np.loadtxt(tmp_path / "gradient_flow.csv", delimiter=",", skiprows=1, ndmin=2)[:, 0]
    assert steps.tolist() == [0.0]  # the first measurement; the budget deferred the rest
    assert (tmp_path / "plots" / "gradient_flow.png").exists()
    assert "0.0001% of training time: gradient flow, sequence attention, text samples waited" in (
        caplog.text
    )
    assert "callbacks.media_budget.max_share" in caplog.text
