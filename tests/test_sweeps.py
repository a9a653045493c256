"""README promises about sweeps, end to end (subprocesses: all slow, CI runs them).

Every multirun job is its own W&B run (group = <task>/<sweep folder>, job_type = the model,
name = the job's overrides); a failed job's W&B run is marked failed; summary.csv lists every
job; an Optuna trial that fails is recorded as failed; the vanishing-gradients comparison
figure comes from a real multirun; and DALL·E's stage 2 keeps its frozen stage-1 tokenizer
and works with the stage-1 file deleted.
"""

from __future__ import annotations

import csv
import json
import math
import re

import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import SHORT, compose_config, train_summary
from tests.helpers.promise_probes import read_wandb_run
from tests.test_cli import run_cli

PROBES = "tests.helpers.promise_probes"
TINY = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "model.backbone.hidden_size=8",
    "model.backbone.num_layers=1",
    "extras.print_config=false",
    "callbacks.progress_bar=null",
    "callbacks.model_summary=null",
]
SUMMARY_COLUMNS = [
    "job",
    "overrides",
    "status",
    "val/loss",
    "test/loss",
    "test/mse",
    "test/baseline_mse",
    "test/acc",
    "test/bpc",
    "epochs",
    "wall_s",
    "error",
]


@pytest.mark.slow  # a two-job multirun in a subprocess, W&B offline, ~30 s
def test_multirun_jobs_are_grouped_wandb_runs_failed_marked_and_tabled(tmp_path):
    sweep = tmp_path / "sweep"
    overrides = ["model=rnn,lstm", "data=stocks"]
    result = run_cli(
        "train.py",
        "-m",
        *overrides,
        *TINY,
        f"+callbacks.fail._target_={PROBES}.FailInTraining",
        "+callbacks.fail.backbone=LSTM",  # job 1 fails after its W&B run started
        f"hydra.sweep.dir={sweep}",
        home=tmp_path,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr[-3000:]  # one job failed, the table written

    jobs = {}
    for num, model in ((0, "rnn"), (1, "lstm")):
        (run_file,) = (sweep / str(num) / "wandb").glob("offline-run-*/run-*.wandb")
        jobs[num] = read_wandb_run(run_file)
        job_overrides = [
            str(o) for o in OmegaConf.load(sweep / str(num) / ".hydra" / "overrides.yaml")
        ]
        assert job_overrides[:2] == [f"model={model}", "data=stocks"]
        assert jobs[num]["group"] == f"train/{sweep.name}", jobs[num]
        assert jobs[num]["job_type"] == model, jobs[num]
        # the job's overrides, cut to 120 characters
        assert jobs[num]["name"] == f"train#{num}:{','.join(job_overrides)}"[:120], jobs[num]
    assert jobs[0]["id"] != jobs[1]["id"]  # one W&B run per job
    assert jobs[0]["exit_code"] == 0  # finished
    assert jobs[1]["exit_code"] not in (None, 0)  # failed, not finished

    with (sweep / "summary.csv").open(newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    assert reader.fieldnames == SUMMARY_COLUMNS
    assert [(r["job"], r["status"]) for r in rows] == [("0", "ok"), ("1", "failed")]
    assert rows[0]["overrides"].startswith("model=rnn data=stocks")
    assert rows[1]["overrides"].startswith("model=lstm data=stocks")
    ok = json.loads((sweep / "0" / "summary.json").read_text())
    assert float(rows[0]["val/loss"]) == pytest.approx(ok["val"]["val/loss"])
    assert float(rows[0]["test/mse"]) == pytest.approx(ok["test"]["test/mse"])
    assert rows[0]["test/acc"] == rows[0]["error"] == ""
    assert rows[1]["error"] == "RuntimeError: deliberate failure of the LSTM job"
    assert rows[1]["val/loss"] == ""
    # how far each job got: the finished one ran its planned epochs (the failed one wrote none)
    planned = ok["stopped"]["epochs_planned"]
    assert rows[0]["epochs"] == f"{ok['stopped']['epochs_done']}/{planned}"
    assert float(rows[0]["wall_s"]) == pytest.approx(ok["wall_s"])


@pytest.mark.slow  # an Optuna sweep of three trials in a subprocess, ~30 s
def test_an_optuna_trial_that_fails_is_recorded_as_failed(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep = tmp_path / "sweep"
    result = run_cli(
        "train.py",
        "-m",
        "hparams_search=lstm_stocks_optuna",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.sampler.n_startup_trials=2",
        *[o for o in TINY if not o.startswith("model.backbone")],
        "logger=csv",
        f"+callbacks.fail._target_={PROBES}.FailJob",
        "+callbacks.fail.num=1",  # the second trial fails: its job returns NaN
        "allow_failed_jobs=true",
        f"hydra.sweep.dir={sweep}",
        home=tmp_path,
        timeout=400,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]  # the sweep goes on
    assert re.search(r"Trial 1 failed|Failed experiment", output), output[-3000:]
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1", "2"]
    failed = json.loads((sweep / "1" / "summary.json").read_text())
    assert failed["status"] == "failed" and "deliberate failure of job 1" in failed["error"]
    with (sweep / "summary.csv").open(newline="") as file:
        statuses = [row["status"] for row in csv.DictReader(file)]
    assert statuses == ["ok", "failed", "ok"]
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    assert math.isfinite(best.best_value)  # the failed trial is not the best one


@pytest.mark.slow  # three trainings in a subprocess, ~40 s
def test_vanishing_gradients_experiment_draws_the_comparison_from_its_jobs(tmp_path):
    logs = tmp_path / "logs"
    result = run_cli(
        "train.py",
        "experiment=vanishing_gradients",
        "data.max_chars=40000",
        "data.block_size=32",
        "data.batch_size=8",
        "model.backbone.hidden_size=8",
        "model.backbone.input_size=8",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "callbacks.gradient_flow.every_n_steps=2",
        "callbacks.progress_bar=null",
        "callbacks.model_summary=null",
        "extras.print_config=false",
        "logger=csv",
        f"paths.log_dir={logs}",
        home=tmp_path,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (logs / "vanishing_gradients" / "multiruns").iterdir()
    for num in (0, 1, 2):
        rows = (sweep / str(num) / "gradient_flow.csv").read_text().splitlines()
        assert rows[0] == ",".join(["global_step", *[f"t{t}" for t in range(32)]])
        assert [row.split(",", 1)[0] for row in rows[1:]] == ["0", "2"]
    figure = sweep / "gradient_flow_comparison.png"
    assert figure.stat().st_size > 10_000
    assert f"gradient flow comparison: {figure}" in result.stderr + result.stdout
    # drawn after the jobs, from their tables
    newest_table = max((sweep / str(n) / "gradient_flow.csv").stat().st_mtime for n in (0, 1, 2))
    assert figure.stat().st_mtime >= newest_table


@pytest.mark.slow  # both DALL·E stages, ~30 s
def test_dalle_stage_two_keeps_the_frozen_tokenizer_and_needs_no_stage_one_file(tmp_path):
    from seqlab.cli.evaluate import run as evaluate
    from seqlab.cli.generate import run as generate

    tiny = [*SHORT, "callbacks.progress_bar=null", "data.batch_size=16", "data=mnist_captions"]
    stage1 = train_summary(tmp_path / "vq", *tiny, "model=vqvae", "model.backbone.hidden_size=16")
    stage1_file = tmp_path / "vq" / "checkpoints" / "last.ckpt"
    assert stage1["last_checkpoint"] == str(stage1_file)
    stage2 = train_summary(
        tmp_path / "dalle",
        *tiny,
        "model=dalle",
        "model.backbone.hidden_size=32",
        "model.backbone.num_layers=1",
        "trainer.limit_train_batches=6",
        f"model.tokenizer_ckpt={stage1_file}",
        "callbacks.image_samples.per_prompt=1",
    )
    assert stage2["global_step"] == 6
    vq = torch.load(stage1_file, weights_only=False)["state_dict"]
    vq = {k.removeprefix("backbone."): v for k, v in vq.items() if k.startswith("backbone.")}
    for name in ("last_checkpoint", "best_checkpoint"):
        weights = torch.load(stage2[name], weights_only=False)["state_dict"]
        copied = {
            k.removeprefix("image_tokenizer."): v
            for k, v in weights.items()
            if k.startswith("image_tokenizer.")
        }
        assert copied.keys() == vq.keys()  # weights and buffers (EMA codebook statistics)
        for key, value in vq.items():
            assert torch.equal(copied[key], value), (name, key)

    stage1_file.unlink()  # stage 2 must not need it any more
    (images,) = generate(
        compose_config(
            "generate",
            [
                f"ckpt_path={stage2['last_checkpoint']}",
                "prompt=a thin handwritten three",
                "num_images=2",
                "wandb=false",
            ],
            tmp_path / "gen",
        )
    )
    assert (tmp_path / "gen" / "images.png").stat().st_size > 1_000 and images
    metrics = evaluate(
        compose_config(
            "eval",
            [
                f"ckpt_path={stage2['last_checkpoint']}",
                "trainer.accelerator=cpu",
                "trainer.limit_test_batches=2",
            ],
            tmp_path / "eval",
        )
    )
    assert metrics["test/image_nll"] == pytest.approx(stage2["test"]["test/image_nll"], rel=1e-4)
