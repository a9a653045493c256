"""The entry points as a user runs them: subprocesses, stdin closed, no W&B account."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers.wandb_reader import read_history

TINY = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=5",
    "trainer.limit_val_batches=2",
    "model.backbone.hidden_size=8",
    "model.backbone.num_layers=1",
    "model.backbone.dropout=0",
    "extras.print_config=false",
]


def run_cli(script: str, *args: str, home: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(home), NETRC=str(home / ".netrc"), OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=home,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_lists_config_groups(tmp_path):
    result = run_cli("train.py", "--help", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "model: " in result.stdout and "lstm" in result.stdout
    assert "data: " in result.stdout and "stocks" in result.stdout


@pytest.mark.slow  # subprocess or several trainings: CI runs it with -m slow
def test_no_wandb_key_runs_offline_without_prompting(tmp_path):
    """No WANDB_* variables, no ~/.netrc, stdin closed: the run must finish, offline."""
    out = tmp_path / "run"
    result = run_cli("train.py", *TINY, f"hydra.run.dir={out}", home=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "W&B offline" in result.stdout + result.stderr
    assert "wandb sync" in result.stdout + result.stderr
    (run_file,) = out.glob("wandb/offline-run-*/run-*.wandb")
    rows, _ = read_history(run_file)
    assert any("val/loss" in row for row in rows)
    assert (out / ".hydra" / "config.yaml").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert "test/baseline_mse" in summary["test"]


@pytest.mark.slow  # subprocess or several trainings: CI runs it with -m slow
def test_bad_input_is_one_clear_line(tmp_path):
    result = run_cli(
        "train.py", *TINY, "data.csv_path=/no/such/prices.csv", "logger=csv", home=tmp_path
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    (line,) = result.stderr.strip().splitlines()  # one line, nothing else on stderr
    assert line.startswith("error: data.csv_path: file '/no/such/prices.csv' does not exist")
    assert "Fix: " in line


@pytest.mark.slow
def test_ddp_cpu_two_processes_one_run_dir(tmp_path):
    out = tmp_path / "ddp"
    result = run_cli(
        "train.py",
        *TINY,
        "trainer=ddp_cpu",
        "logger=csv",
        f"hydra.run.dir={out}",
        "+callbacks.rank_probe._target_=tests.helpers.probes.RankProbe",
        home=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test"]["test/loss"] > 0
    assert not list(tmp_path.glob("logs/*"))  # rank 1 wrote into the same run dir
    # both ranks trained, each saw a world of 2, and the sampler split the data between them
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["global_rank"] for r in ranks] == [0, 1]
    assert all(r["world_size"] == 2 for r in ranks)
    size = ranks[0]["dataset_size"]
    first, second = (set(r["indices"]) for r in ranks)
    assert len(ranks[0]["indices"]) == len(ranks[1]["indices"]) == -(-size // 2)
    assert first | second == set(range(size))
    assert len(first & second) <= 1  # DistributedSampler pads an odd count with one repeat


@pytest.mark.slow
def test_ddp_spawn_two_job_multirun(tmp_path):
    """The supported way to sweep with DDP on one machine: ddp_spawn, each job its own run."""
    result = run_cli(
        "train.py",
        "-m",
        *TINY,
        "trainer=ddp_cpu",
        "trainer.strategy=ddp_spawn",
        "seed=1,2",
        "logger=default",  # W&B + CSV, both across the spawned fit and test stages
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        home=tmp_path,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = (tmp_path / "sweep" / "summary.md").read_text()
    assert table.count("| ok |") == 2, table
    for job in ("0", "1"):
        summary = json.loads((tmp_path / "sweep" / job / "summary.json").read_text())
        assert summary["test"]["test/loss"] > 0
