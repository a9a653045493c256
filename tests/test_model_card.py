"""model_card.md: scores beside every baseline and the limits computed from them, read from
summary.json, never more than the run measured."""

from __future__ import annotations

from seqlab.cli.model_card import direction, limits, model_card, pairs

SUMMARY = {
    "status": "ok",
    "task": "forecasting",
    "model": "seqlab.nn.recurrent.LSTM",
    "data": "seqlab.data.series.stocks.StocksDataModule",
    "run_dir": "/runs/x",
    "best_checkpoint": "/runs/x/checkpoints/best.ckpt",
    "epochs": 3,
    "global_step": 120,
    "params": 12345,
    "test": {
        "test/mse": 2.0,
        "test/baseline_mse": 1.5,
        "test/baseline_ets_mse": 2.5,
        "test/diracc": 0.55,
        "test/baseline_diracc": 0.5,
        "test/mae": 1.0,
    },
    "wall_s": 42.0,
    "hardware": {"cpu": "x86_64", "cores": 2},
    "provenance": {"code": {"commit": "abc123", "dirty": False}, "command": "python train.py"},
}


def test_every_baseline_sits_beside_its_metric():
    assert sorted(pairs(SUMMARY["test"])) == [
        ("test/diracc", "test/baseline_diracc", 0.55, 0.5),
        ("test/mse", "test/baseline_ets_mse", 2.0, 2.5),
        ("test/mse", "test/baseline_mse", 2.0, 1.5),
    ]
    assert direction("test/baseline_naive_mase") == "lower"
    assert direction("test/acc") == "higher"
    assert direction("test/coverage_80") is None


def test_limits_name_the_baselines_the_model_loses_to():
    assert limits(SUMMARY["test"]) == [
        "loses to `baseline_mse` on `test/mse` (2 vs 1.5, lower is better)"
    ]


def test_card_reads_the_summary():
    card = model_card(SUMMARY, {"model": {"backbone": {"hidden_size": 16}}, "data": {"window": 8}})
    assert "| `test/mse` | 2 | `baseline_mse` | 1.5 | baseline |" in card
    assert "| `test/mse` | 2 | `baseline_ets_mse` | 2.5 | model |" in card
    assert "| `test/diracc` | 0.55 | `baseline_diracc` | 0.5 | model |" in card
    assert "Other test metrics: `test/mae` 1" in card
    assert "- loses to `baseline_mse` on `test/mse`" in card
    assert "12,345 parameters" in card and "hidden_size=16" in card and "window=8" in card
    assert "42.0 s" in card and "cores 2" in card and "commit `abc123`" in card
    assert "python predict.py ckpt_path='/runs/x/checkpoints/best.ckpt'" in card


def test_a_model_that_beats_every_baseline_says_so_and_no_more():
    test = {"test/acc": 0.9, "test/baseline_majority_acc": 0.1}
    card = model_card({**SUMMARY, "task": "classification", "test": test}, {})
    assert "beats every baseline it was tested against" in card
    assert "loses to" not in card
