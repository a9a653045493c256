"""End to end through the Hydra config: real data, real training, real artifacts."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from seqlab.cli.train import run
from seqlab.errors import SeqlabError
from tests.conftest import compose_config
from tests.helpers.wandb_reader import read_history


def test_fast_dev_run_of_defaults(train_cfg):
    cfg = train_cfg("debug=fdr", "extras.print_config=true", fast=False)
    run(cfg)
    out = Path(cfg.paths.output_dir)
    assert (out / "config_tree.log").read_text().startswith("CONFIG")
    assert json.loads((out / "summary.json").read_text())["test"]["test/loss"] > 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short real run shared by the artifact tests below."""
    from hydra.core.global_hydra import GlobalHydra

    from tests.conftest import FAST

    out = tmp_path_factory.mktemp("trained") / "run"
    cfg = compose_config("train", [*FAST, "trainer.max_epochs=4"], out)
    objective = run(cfg)
    GlobalHydra.instance().clear()
    return out, json.loads((out / "summary.json").read_text()), objective


def test_objective_is_the_best_validation_loss(trained):
    out, _summary, objective = trained
    metrics = pd.read_csv(out / "csv" / "metrics.csv")
    val = metrics["val/loss"].dropna().to_numpy()
    assert len(val) == 4
    assert objective == pytest.approx(val.min(), rel=1e-5)  # what sweepers optimise


def test_training_lowers_the_loss(tmp_path):
    """On a learnable target (digits, read row by row by the default LSTM) the validation
    cross-entropy falls far below chance level, ln 10 = 2.30, and falls every epoch. (Next-day
    returns, the default data, are close to unpredictable: their loss barely moves.)"""
    from tests.conftest import FAST

    out = tmp_path / "run"
    cfg = compose_config(
        "train",
        [
            *FAST,
            "data=digits",
            "trainer.max_epochs=3",
            "model.optimizer.lr=0.01",
            "logger=csv",
            "test=false",
        ],
        out,
    )
    run(cfg)
    val = pd.read_csv(out / "csv" / "metrics.csv")["val/loss"].dropna().to_numpy()
    assert len(val) == 3
    assert all(b < a for a, b in itertools.pairwise(val)), val
    assert val[-1] < 0.5 * math.log(10), val


def test_run_folder_holds_every_artifact(trained):
    out, summary, _ = trained
    assert Path(summary["best_checkpoint"]).is_file()
    assert Path(summary["last_checkpoint"]).name == "last.ckpt"
    assert (out / "plots" / "forecast_test.png").stat().st_size > 10_000
    assert (out / "model_summary.txt").read_text().count("backbone") >= 1
    test = summary["test"]
    for key in ("test/mse", "test/mae", "test/diracc", "test/baseline_mse", "test/skill"):
        assert key in test
    # persistence baseline on daily returns: mean squared return, about 1e-4..1e-3
    assert 1e-5 < test["test/baseline_mse"] < 1e-2
    # skill = 1 - mse / baseline_mse; an honest model on daily returns lands near 0
    assert test["test/skill"] == pytest.approx(
        1 - test["test/mse"] / test["test/baseline_mse"], abs=1e-5
    )
    # the README: "within about ±1% of the baseline" (measured -0.8% here); far above is leakage
    assert abs(test["test/skill"]) < 0.015


def test_wandb_offline_run_has_the_metrics(trained):
    out, summary, _ = trained
    (run_file,) = (out / "wandb").glob("offline-run-*/run-*.wandb")
    rows, final = read_history(run_file)
    val_losses = [row["val/loss"] for row in rows if "val/loss" in row]
    assert len(val_losses) == 4
    assert final["final/test/mse"] == pytest.approx(summary["test"]["test/mse"])
    assert (run_file.parent / "files" / "model_summary.txt").exists()


def test_eval_reproduces_the_test_metrics(trained, tmp_path):
    from seqlab.cli.evaluate import run as evaluate

    _out, summary, _ = trained
    cfg = compose_config(
        "eval", [f"ckpt_path={summary['best_checkpoint']}", "trainer.accelerator=cpu"], tmp_path
    )
    metrics = evaluate(cfg)
    for key, value in summary["test"].items():
        assert metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key


def test_eval_rejects_missing_and_bogus_checkpoints(tmp_path):
    from seqlab.cli.evaluate import run as evaluate

    cfg = compose_config("eval", [f"ckpt_path={tmp_path}/none.ckpt"], tmp_path / "a")
    with pytest.raises(SeqlabError, match=r"ckpt_path: '.*none.ckpt' does not exist"):
        evaluate(cfg)
    bogus = tmp_path / "bogus.ckpt"
    bogus.write_text("not a checkpoint")
    cfg = compose_config("eval", [f"ckpt_path={bogus}"], tmp_path / "b")
    with pytest.raises(SeqlabError, match=r"ckpt_path: '.*bogus.ckpt' is not a PyTorch/Lightning"):
        evaluate(cfg)


def test_unknown_model_name_lists_the_options(tmp_path):
    from hydra.errors import MissingConfigException

    with pytest.raises(
        MissingConfigException, match=r"(?s)Could not find 'model/transformr'.*lstm"
    ):
        compose_config("train", ["model=transformr"], tmp_path)


def test_bad_data_field_fails_before_training(train_cfg):
    cfg = train_cfg("data.tickers=[AAPL,NOPE]")
    with pytest.raises(SeqlabError, match="unknown ticker"):
        run(cfg)


def test_a_run_that_stops_before_its_first_validation_tests_and_summarises(tmp_path, caplog):
    """`python train.py data=shakespeare model=lstm trainer.max_steps=20`, the quickest check a
    user runs: max_steps (no `+`) ends training inside the first epoch, before any validation,
    so early stopping and the best checkpoint have no val/loss yet. The run still tests the
    weights it has and writes its summary, and says why there is no validation score."""
    from tests.conftest import train_summary

    with caplog.at_level("WARNING", logger="seqlab"):
        summary = train_summary(
            tmp_path / "run",
            "data=shakespeare",
            "data.plays=[hamlet,macbeth,othello]",
            "data.ngram_order=0",
            "model=lstm",
            "model.backbone.hidden_size=16",
            "model.backbone.num_layers=1",
            "trainer.max_steps=3",
            "trainer.limit_test_batches=2",
            "trainer.accelerator=cpu",
            "logger=csv",
            "extras.print_config=false",
            "callbacks.progress_bar=null",
        )
    assert summary["status"] == "ok" and summary["global_step"] == 3
    assert summary["val"] == {} and summary["best_checkpoint"] in ("", None)
    assert summary["test"]["test/loss"] > 0
    assert "stopped at step 3 before its first validation" in caplog.text
