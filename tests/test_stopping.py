"""A run says why it stopped: epochs done of planned, and a recipe cut by its time bound."""

from __future__ import annotations

from tests.conftest import SHORT, train_summary


def test_a_run_cut_by_its_time_bound_says_so(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="seqlab.cli.stopping"):
        summary = train_summary(
            tmp_path,
            *SHORT,
            "data=sunspots",
            "model=gru",
            "model.backbone.hidden_size=8",
            "trainer.max_epochs=5000",
            "trainer.max_time=00:00:00:02",
            "callbacks.early_stopping=null",
        )
    stopped = summary["stopped"]
    assert stopped["reason"] == "max_time" and stopped["epochs_planned"] == 5000
    assert 0 < stopped["epochs_done"] < 5000
    assert "cut by its time bound (trainer.max_time) after" in caplog.text
    card = (tmp_path / "model_card.md").read_text()
    assert "cut short by its time bound" in card
    assert summary["status"] == "ok" and summary["test"]  # it still tests and summarises


def test_a_run_that_ends_its_epochs_says_that(tmp_path):
    summary = train_summary(
        tmp_path,
        *SHORT,
        "data=sunspots",
        "model=gru",
        "model.backbone.hidden_size=8",
        "trainer.max_epochs=2",
    )
    assert summary["stopped"] == {
        "reason": "max_epochs",
        "epochs_done": 2,
        "epochs_planned": 2,
        "steps": summary["global_step"],
    }
