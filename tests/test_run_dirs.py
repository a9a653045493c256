"""Every run owns its folder; the processes of one distributed job share one."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from seqlab.cli import run_dir as run_dirs
from tests.conftest import ROOT

TINY = [
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "test=false",
    "extras.print_config=false",
    "callbacks.progress_bar=null",
    "model.backbone.hidden_size=8",
]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TORCHELASTIC"))}
    env.update(OMP_NUM_THREADS="1", WANDB_MODE="offline")
    return env


def test_processes_started_in_the_same_millisecond_get_their_own_folders(tmp_path):
    start = time.time() + 1.5  # every process waits for the same instant, then resolves
    code = (
        "import time, sys; from seqlab.cli.run_dir import run_dir; "
        f"time.sleep(max(0.0, {start} - time.time())); print(run_dir(sys.argv[1]))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "runs")],
            stdout=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for _ in range(6)
    ]
    folders = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert len(set(folders)) == 6, folders
    assert sorted(Path(f).name for f in folders) == sorted(
        p.name for p in (tmp_path / "runs").iterdir()
    )


def test_a_process_resolves_its_folder_once(tmp_path, monkeypatch):
    monkeypatch.setattr(run_dirs, "_chosen", {})
    first = run_dirs.run_dir(str(tmp_path))
    assert run_dirs.run_dir(str(tmp_path)) == first
    assert len(list(tmp_path.iterdir())) == 1


def test_srun_tasks_of_one_job_share_a_folder_named_after_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    folders = set()
    for task in ("0", "1"):
        monkeypatch.setattr(run_dirs, "_chosen", {})
        monkeypatch.setenv("SLURM_PROCID", task)
        folders.add(run_dirs.run_dir(str(tmp_path)))
    assert folders == {str(tmp_path / "slurm-4242.0")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _one_run(log_dir: Path) -> Path:
    runs = list((log_dir / "train" / "runs").iterdir())
    assert len(runs) == 1, runs
    run = runs[0]
    assert json.loads((run / "summary.json").read_text())["status"] == "ok"
    assert len(list((run / "wandb").glob("offline-run-*"))) == 1
    return run


@pytest.mark.slow
def test_one_torchrun_job_writes_one_folder_summary_and_wandb_run(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    result = subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node=2",
            f"--master_port={_free_port()}",
            str(ROOT / "train.py"),
            "trainer=ddp_cpu",
            f"paths.log_dir={tmp_path}",
            *WHOLE_EPOCH,
        ],
        capture_output=True,
        text=True,
        env=_env(),
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = _one_run(tmp_path)
    # the distributed sampler split the windows: each rank took half an epoch's batches (one
    # process, or two ranks each reading every window, would take twice as many steps)
    windows, batch_size = _train_windows_and_batch_size(tmp_path / "probe")
    steps = math.ceil(math.ceil(windows / 2) / batch_size)
    assert json.loads((run / "summary.json").read_text())["global_step"] == steps
    assert (run / "checkpoints" / "last.ckpt").is_file()


# one whole epoch (no limit_train_batches): the steps an epoch takes tell how windows were split
WHOLE_EPOCH = [t for t in TINY if "limit_train_batches" not in t]


def _train_windows_and_batch_size(out: Path) -> tuple[int, int]:
    from hydra.utils import instantiate

    from tests.conftest import compose_config

    cfg = compose_config("train", [], out)
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    return len(loader.dataset), loader.batch_size


@pytest.mark.slow
def test_a_two_node_torchrun_on_localhost_writes_one_folder(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    port = _free_port()
    nodes = [
        subprocess.Popen(
            [
                str(torchrun),
                "--nnodes=2",
                "--nproc_per_node=1",
                f"--node_rank={rank}",
                "--master_addr=127.0.0.1",
                f"--master_port={port}",
                str(ROOT / "train.py"),
                "trainer=ddp_cpu",
                "trainer.devices=1",
                "trainer.num_nodes=2",
                f"paths.log_dir={tmp_path}",
                *TINY,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(),
            stdin=subprocess.DEVNULL,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-3000:]
    _one_run(tmp_path)


@pytest.mark.slow
def test_two_runs_started_together_get_two_folders(tmp_path):
    command = [sys.executable, str(ROOT / "train.py"), f"paths.log_dir={tmp_path}", *TINY]
    procs = [
        subprocess.Popen(
            [*command, f"seed={seed}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(),
            stdin=subprocess.DEVNULL,
        )
        for seed in (1, 2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-3000:]
    runs = sorted((tmp_path / "train" / "runs").iterdir())
    assert len(runs) == 2
    seeds = {
        next(o for o in OmegaConf.load(r / ".hydra" / "overrides.yaml") if "seed=" in o)
        for r in runs
    }
    assert seeds == {"seed=1", "seed=2"}
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == "ok" and summary["run_dir"] == str(run)
        rows = (run / "csv" / "metrics.csv").read_text().splitlines()
        assert len(rows) == len(set(rows)), "metrics.csv rows written twice"
