"""DDP inside a local Hydra multirun: each job starts only its own ranks (Hydra #2070)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_two_jobs_of_two_processes_each_get_their_own_folder_summary_and_wandb_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_API")}
    env.update(OMP_NUM_THREADS="1", WANDB_MODE="offline")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "-m",
            "trainer=ddp_cpu",
            "seed=1,2",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=5",
            "trainer.limit_val_batches=2",
            "+trainer.limit_test_batches=2",
            "model.backbone.hidden_size=8",
            "extras.print_config=false",
            "callbacks.progress_bar=null",
            f"paths.log_dir={tmp_path}",
            "+callbacks.rank_probe._target_=tests.helpers.probes.RankProbe",
        ],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "train" / "runs").exists()  # no rank escaped into a run of its own
    (sweep,) = (tmp_path / "train" / "multiruns").iterdir()
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [j.name for j in jobs] == ["0", "1"]
    seen_runs = set()
    for job in jobs:
        assert json.loads((job / "summary.json").read_text())["status"] == "ok"
        ranks = [json.loads((job / f"rank{r}.json").read_text()) for r in (0, 1)]
        assert [r["world_size"] for r in ranks] == [2, 2]
        assert not set(ranks[0]["indices"]) & set(ranks[1]["indices"])  # the sampler split
        (wandb_run,) = (job / "wandb").glob("offline-run-*")
        seen_runs.add(wandb_run.name.rsplit("-", 1)[-1])
    assert len(seen_runs) == 2
    assert "ok" in (sweep / "summary.md").read_text()
