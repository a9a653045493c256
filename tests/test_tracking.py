"""W&B falls back to offline by itself and never waits on the network."""

from __future__ import annotations

import time

from seqlab.tracking import resolve_wandb_mode


def test_user_mode_wins(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode()[0] == "disabled"


def test_no_api_key_means_offline(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "missing-netrc"))
    mode, reason = resolve_wandb_mode()
    assert mode == "offline"
    assert "API key" in reason


def test_key_but_unreachable_server_means_offline_quickly(monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # discard port: refused
    start = time.monotonic()
    mode, reason = resolve_wandb_mode(timeout=1.0)
    assert mode == "offline"
    assert "not reachable" in reason
    assert time.monotonic() - start < 5


def test_netrc_key_is_found(monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1\n  login user\n  password " + "1" * 40 + "\n")
    netrc.chmod(0o600)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    assert resolve_wandb_mode(timeout=1.0) == ("offline", "127.0.0.1 is not reachable")


def test_wandb_loggers_finds_wandb_loggers_of_a_trainer_or_a_list(tmp_path):
    from types import SimpleNamespace

    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    class MyWandbLogger(WandbLogger):
        pass

    from seqlab.tracking import wandb_loggers

    csv = CSVLogger(tmp_path)
    # not initialised: that would start wandb; only the class matters here
    wandb, mine = WandbLogger.__new__(WandbLogger), MyWandbLogger.__new__(MyWandbLogger)
    assert wandb_loggers(SimpleNamespace(loggers=[csv, wandb, mine])) == [wandb, mine]
    assert wandb_loggers([csv]) == []
    assert wandb_loggers(wandb) == [wandb]
    assert wandb_loggers(None) == []


def test_the_wandb_run_starts_in_the_background_and_experiment_waits_for_it(tmp_path):
    """`wandb_logger` starts ``wandb.init`` in a thread; ``experiment`` joins it; the logger
    pickles (ddp_spawn) without its thread, by the name it is importable under."""
    import pickle

    from seqlab import tracking

    logger = tracking.wandb_logger(save_dir=str(tmp_path), offline=True, project="t", name="x")
    try:
        assert type(logger).__name__ == "EarlyWandbLogger"
        assert logger._starter is None  # instantiating a config starts nothing
        tracking.start_wandb_runs([logger])  # train.py does, right after instantiating
        assert logger._starter is not None  # started, not waited for
        run = logger.experiment
        assert run is not None and logger._starter is None
        assert run.dir.startswith(str(tmp_path))
        clone = pickle.loads(pickle.dumps(logger))
        assert type(clone) is type(logger) and clone._experiment is None
    finally:
        tracking.finish_wandb()


def test_a_run_that_fails_while_loading_data_marks_its_early_wandb_run_failed(tmp_path):
    """The W&B run starts before the data loads: a data error still finishes it, failed."""
    import pytest

    from seqlab.cli.train import run
    from seqlab.errors import SeqlabError
    from tests.conftest import SHORT, compose_config
    from tests.helpers.promise_probes import read_wandb_run

    missing = tmp_path / "missing.txt"
    overrides = [*SHORT, "logger=default", "data=shakespeare", f"data.path={missing}"]
    with pytest.raises(SeqlabError):
        run(compose_config("train", overrides, tmp_path / "run"))
    (run_file,) = (tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb")
    assert read_wandb_run(run_file)["exit_code"] not in (None, 0)
