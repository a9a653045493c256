"""Exit status tells the truth: interrupted runs, failed sweeps, settings that train nothing."""

from __future__ import annotations

import csv
import logging
import os
import signal

import lightning as L
import pytest

from seqlab.cli import sweep_callbacks as hydra_callbacks
from seqlab.cli.errors import exit_on_user_error
from seqlab.cli.train import run
from seqlab.errors import SeqlabError
from seqlab.utils.csv_logger import drop_rows_after_step
from tests.conftest import compose_config

QUICK = [
    "trainer.accelerator=cpu",
    "trainer.max_epochs=2",
    "+trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "model.backbone.hidden_size=8",
    "model.backbone.num_layers=1",
    "extras.print_config=false",
    "callbacks.progress_bar=null",
    "logger=csv",
    "test=false",
]


class SignalAfterSteps(L.Callback):
    """Deliver a real signal to this process in the middle of training."""

    def __init__(self, signum: int, step: int = 2) -> None:
        self.signum, self.step = int(signum), step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_run_exits_non_zero_and_says_how_to_resume(tmp_path, capsys, signum, status):
    cfg = compose_config(
        "train",
        [
            *QUICK,
            "+callbacks.stop._target_=tests.test_exit_status.SignalAfterSteps",
            f"+callbacks.stop.signum={int(signum)}",
        ],
        tmp_path,
    )
    previous = signal.getsignal(signal.SIGINT)
    # Python's Ctrl+C handler, also when the suite was started in the background, which
    # inherits SIGINT ignored (`make test &` in a script): then no signal would arrive
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(SystemExit) as stopped:
            exit_on_user_error(run)(cfg)
    finally:
        signal.signal(signal.SIGINT, previous)  # Lightning ignores Ctrl+C while it shuts down
    assert stopped.value.code == status
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"interrupted by {signum.name}; resume with: python train.py resume={tmp_path}"
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert not (tmp_path / "summary.json").exists()  # no "ok" for a run that did not finish


def test_a_sweep_with_a_failed_job_exits_1_unless_allowed(monkeypatch, capsys):
    monkeypatch.setattr(hydra_callbacks, "LAST_MULTIRUN", {})
    assert hydra_callbacks.multirun_exit_status() == 0  # no multirun in this process
    record = {"failed": 1, "total": 3, "table": "sweep/summary.md", "allowed": False}
    monkeypatch.setattr(hydra_callbacks, "LAST_MULTIRUN", record)
    assert hydra_callbacks.multirun_exit_status() == 1
    assert "1 of 3 multirun job(s) failed; table: sweep/summary.md" in capsys.readouterr().err
    monkeypatch.setitem(record, "allowed", True)
    assert hydra_callbacks.multirun_exit_status() == 0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epochs=0", "trainer.max_epochs=0 trains nothing"),
        ("trainer.max_steps=0", "trainer.max_steps=0 trains nothing"),
        ("model.optimizer.lr=-1", r"model.optimizer \(torch.optim.AdamW\): Invalid learning rate"),
        ("+model.optimizer.betas=[0.9,1.5]", "Invalid beta parameter"),
        ("trainer.precision=16-true", "float16 weights on the CPU"),
        ("trainer.accelerator=gpu", "sees no CUDA GPU on this machine"),
        ("trainer=gpu", "sees no CUDA GPU on this machine"),  # the README's spelling
    ],
)
def test_settings_that_cannot_work_are_refused_before_anything_is_built(
    tmp_path, override, message
):
    if "gpu" in override:
        pytest.importorskip("torch").cuda.is_available() and pytest.skip("this machine has a GPU")
    base = [o for o in QUICK if not (override.startswith("trainer=") and "accelerator" in o)]
    cfg = compose_config("train", [*base, override], tmp_path)
    with pytest.raises(SeqlabError, match=message):
        run(cfg)
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "csv").exists()


def test_resuming_drops_metric_rows_logged_after_the_checkpoint(tmp_path):
    cfg = compose_config("train", QUICK, tmp_path)
    run(cfg)
    metrics = tmp_path / "csv" / "metrics.csv"
    with metrics.open(newline="") as file:
        header = next(csv.reader(file))
    # a run killed (SIGKILL) after logging steps 9 and 10 but before saving them
    ghost = {name: "" for name in header} | {"step": "10", "epoch": "2", "val/loss": "123.0"}
    with metrics.open("a", newline="") as file:
        csv.DictWriter(file, fieldnames=header).writerow(ghost)
    resumed = compose_config(
        "train", [*QUICK, "trainer.max_epochs=3", f"resume={tmp_path}"], tmp_path
    )
    run(resumed)
    rows = list(csv.DictReader(metrics.open(newline="")))
    assert "123.0" not in {row["val/loss"] for row in rows}
    val_steps = [int(row["step"]) for row in rows if row["val/loss"]]
    assert val_steps == [3, 7, 11]  # one validation per epoch of 4 batches, none twice


def test_drop_rows_after_step_keeps_the_header_and_earlier_rows(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,loss\n0,3,1.0\n0,5,0.9\n1,7,0.8\n")
    assert drop_rows_after_step(path, 5) == 1
    assert path.read_text().splitlines() == ["epoch,step,loss", "0,3,1.0", "0,5,0.9"]


def test_a_worked_example_on_a_smaller_file_validates_once_per_epoch(tmp_path, caplog):
    corpus = tmp_path / "small.txt"
    corpus.write_text("ROMEO: But soft, what light through yonder window breaks?\n" * 600)
    cfg = compose_config(
        "train",
        [
            "experiment=lstm_shakespeare",
            f"data.path={corpus}",
            "data.batch_size=4",
            "model.backbone.hidden_size=8",
            "model.backbone.num_layers=1",
            "trainer.max_epochs=1",
            "trainer.accelerator=cpu",
            "extras.print_config=false",
            "callbacks.progress_bar=null",
            "logger=csv",
            "test=false",
        ],
        tmp_path / "run",
    )
    assert cfg.trainer.val_check_interval == 150
    with caplog.at_level(logging.WARNING, logger="seqlab.cli.preflight"):
        run(cfg)
    assert "validating once per epoch instead" in caplog.text
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_user_errors_stay_one_line_in_debug_logging(capsys):
    def bad() -> None:
        raise SeqlabError("data.window=0 must be >= 1.")

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        with pytest.raises(SystemExit) as stopped:
            exit_on_user_error(bad)()
    finally:
        root.setLevel(level)
    assert stopped.value.code == 2
    assert capsys.readouterr().err == "error: data.window=0 must be >= 1.\n"
