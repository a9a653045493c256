"""Every run says what produced it: code, versions, command line, host."""

from __future__ import annotations

import json
import logging
import subprocess

import torch
import yaml

from seqlab import provenance
from seqlab.cli.train import run
from seqlab.tasks.registry import load_task
from tests.conftest import ROOT, compose_config
from tests.helpers.wandb_reader import _payloads

QUICK = [
    "trainer.accelerator=cpu",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "+trainer.limit_test_batches=2",
    "model.backbone.hidden_size=8",
    "model.backbone.num_layers=1",
    "extras.print_config=false",
    "callbacks.progress_bar=null",
]


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
    ).stdout


def _wandb_config(run_dir) -> dict:
    from wandb.proto import wandb_internal_pb2 as pb

    (run_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    config: dict = {}
    for payload in _payloads(run_file):
        record = pb.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "config":
            for item in record.config.update:
                config[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return config


def test_summary_checkpoint_and_loggers_record_the_code_and_versions(tmp_path):
    run(compose_config("train", QUICK, tmp_path))
    recorded = json.loads((tmp_path / "summary.json").read_text())["provenance"]

    assert recorded["code"]["commit"] == _git("rev-parse", "HEAD").strip()
    dirty = bool(_git("status", "--porcelain").strip())
    assert recorded["code"]["dirty"] is dirty
    assert (tmp_path / "code.diff").is_file() is dirty  # the diff itself: the test below
    assert recorded["versions"]["torch"] == torch.__version__
    assert recorded["versions"]["seqlab"] and recorded["versions"]["lightning"]
    assert recorded["host"] and recorded["command"]

    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["seqlab_provenance"]["code"] == recorded["code"]
    hparams = yaml.safe_load((tmp_path / "csv" / "hparams.yaml").read_text())
    assert hparams["provenance"]["code"]["commit"] == recorded["code"]["commit"]
    assert _wandb_config(tmp_path)["provenance"]["code"]["commit"] == recorded["code"]["commit"]


def test_loading_a_checkpoint_from_other_code_says_so(tmp_path, caplog):
    run(compose_config("train", [*QUICK, "logger=csv", "test=false"], tmp_path))
    path = tmp_path / "checkpoints" / "last.ckpt"
    with caplog.at_level(logging.WARNING, logger="seqlab.tasks.registry"):
        load_task(str(path))
    assert not [r for r in caplog.records if "written by" in r.getMessage()]

    checkpoint = torch.load(path, weights_only=True)
    checkpoint["seqlab_provenance"]["code"] = {"commit": "0123456789abcdef", "dirty": True}
    checkpoint["seqlab_provenance"]["versions"]["torch"] = "1.0.0"
    torch.save(checkpoint, path)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="seqlab.tasks.registry"):
        load_task(str(path))
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "written by 0123456789ab with uncommitted changes" in messages
    assert "torch 1.0.0 -> " in messages


def test_outside_a_git_checkout_it_says_so(tmp_path):
    recorded = provenance.collect(root=tmp_path, run_dir=tmp_path)
    assert recorded["code"]["commit"] is None
    assert "not a git checkout" in recorded["code"]["note"]
    assert not (tmp_path / provenance.DIFF_FILE).exists()


def test_a_dirty_checkout_keeps_its_diff_and_untracked_names_beside_the_run(tmp_path):
    """In a temporary clone (the suite's own tree and CI's clone are clean): an edited tracked
    file and a new file; code.diff holds the edit and names the untracked file."""
    import hashlib

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--local", str(ROOT), str(clone)], check=True)
    clean = provenance.collect(root=clone, run_dir=tmp_path / "clean")
    assert clean["code"]["dirty"] is False and not (tmp_path / "clean" / "code.diff").exists()

    readme = clone / "README.md"
    readme.write_text(readme.read_text() + "one line added by the test\n")
    (clone / "notes-untracked.txt").write_text("not in git\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    recorded = provenance.collect(root=clone, run_dir=run_dir)["code"]
    diff = (run_dir / "code.diff").read_text()
    assert recorded["dirty"] is True and recorded["commit"] == clean["code"]["commit"]
    assert "+one line added by the test" in diff and "a/README.md" in diff
    assert "# untracked: notes-untracked.txt" in diff
    assert recorded["diff_sha256"] == hashlib.sha256(diff.encode()).hexdigest()
    assert recorded["diff_file"] == str(run_dir / "code.diff")
