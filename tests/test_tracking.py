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
