"""Multirun callbacks: the summary table and the gradient-flow comparison figure."""

from __future__ import annotations

import json

import numpy as np
from omegaconf import OmegaConf

from seqlab.cli.sweep_callbacks import GradientFlowComparison, MultirunSummary


def _fake_sweep(root, models=("rnn", "lstm")):
    for num, model in enumerate(models):
        job = root / str(num)
        (job / ".hydra").mkdir(parents=True)
        OmegaConf.save(
            OmegaConf.create([f"model={model}", "seed=1"]), job / ".hydra" / "overrides.yaml"
        )
        decay = 0.5 if model == "rnn" else 0.95
        profile = decay ** np.arange(10)[::-1]
        rows = np.vstack([np.r_[0, profile], np.r_[40, profile * 2]])
        np.savetxt(job / "gradient_flow.csv", rows, delimiter=",", header="step,t...", comments="")
        summary = {"status": "ok", "val": {"val/loss": 1.0 + num}, "test": {"test/loss": 2.0}}
        (job / "summary.json").write_text(json.dumps(summary))
    return OmegaConf.create({"hydra": {"sweep": {"dir": str(root)}}})


def test_multirun_summary_lists_every_job(tmp_path):
    config = _fake_sweep(tmp_path)
    MultirunSummary(metrics=["val/loss"]).on_multirun_end(config)
    table = (tmp_path / "summary.md").read_text()
    assert "| 0 | model=rnn seed=1 | ok | 1 |" in table
    assert "| 1 | model=lstm seed=1 | ok | 2 |" in table


def test_gradient_flow_comparison_figure(tmp_path):
    config = _fake_sweep(tmp_path)
    GradientFlowComparison().on_multirun_end(config)
    assert (tmp_path / "gradient_flow_comparison.png").stat().st_size > 5_000


def test_a_job_cut_by_its_time_bound_says_so_in_the_table(tmp_path):
    config = _fake_sweep(tmp_path)
    summary = json.loads((tmp_path / "1" / "summary.json").read_text())
    summary["stopped"] = {"reason": "max_time", "epochs_done": 37, "epochs_planned": 300}
    summary["wall_s"] = 270.4
    (tmp_path / "1" / "summary.json").write_text(json.dumps(summary))
    MultirunSummary(metrics=["val/loss"]).on_multirun_end(config)
    table = (tmp_path / "summary.md").read_text()
    assert "| val/loss | epochs | wall_s |" in table
    assert "| 1 | model=lstm seed=1 | ok | 2 | 37/300 (max_time) | 270.4 |" in table
