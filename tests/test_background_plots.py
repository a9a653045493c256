"""Plots drawn on the background worker: complete on disk when fit/test returns, drawn off
the training thread, W&B images logged on the training thread, errors not lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.demos.boring_classes import BoringModel

from seqlab.callbacks.background_plots import BackgroundPlots
from seqlab.figures import worker as plotting

PNG_START = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"
# long enough that a figure asked for at the end of fit cannot be on disk unless fit waited
DRAW_SECONDS = 0.25


def complete_png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG_START) and data.endswith(PNG_END)


def slow_figure(
    threads: list[str],
    seconds: float = DRAW_SECONDS,
    fail: bool = False,
    gate: threading.Event | None = None,
):
    """A figure that takes ``seconds`` to build (or waits for ``gate``); notes the thread
    that built it."""

    def make():
        threads.append(threading.current_thread().name)
        if gate is not None:
            assert gate.wait(timeout=60)
        time.sleep(seconds)
        if fail:
            raise ValueError("no figure today")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1, 2], [1, 0, 1])
        return fig

    return make


class SlowPlots(L.Callback):
    """Asks for a slow plot at the end of every training epoch, fit and test."""

    def __init__(self, fail: bool = False) -> None:
        self.threads: list[str] = []
        self.fail = fail

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        name = f"epoch{trainer.current_epoch}"
        plotting.plot_to_run(trainer, name, slow_figure(self.threads, fail=self.fail))

    def on_fit_end(self, trainer, pl_module) -> None:
        plotting.plot_to_run(trainer, "fit_end", slow_figure(self.threads))

    def on_test_end(self, trainer, pl_module) -> None:
        plotting.plot_to_run(trainer, "test_end", slow_figure(self.threads))


def trainer_with(tmp_path: Path, *callbacks) -> L.Trainer:
    return L.Trainer(
        default_root_dir=str(tmp_path),
        max_epochs=2,
        limit_train_batches=2,
        limit_val_batches=1,
        limit_test_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=list(callbacks),
    )


def test_background_plots_are_complete_when_fit_and_test_return(tmp_path):
    slow = SlowPlots()
    trainer = trainer_with(tmp_path, BackgroundPlots(), slow)
    start = time.perf_counter()
    trainer.fit(BoringModel())
    plots = tmp_path / "plots"
    for name in ("epoch0", "epoch1", "fit_end"):  # the last one was asked for at fit end
        assert complete_png(plots / f"{name}.png"), name
    assert time.perf_counter() - start >= 3 * DRAW_SECONDS  # fit waited for the worker
    assert plotting.running_plot_worker() is None  # joined and stopped with the stage
    trainer.test(BoringModel())
    assert complete_png(plots / "test_end.png")
    assert set(slow.threads) == {"seqlab-plots"}  # never drawn on the training thread
    assert not list(plots.glob(".*"))  # no temporary files left behind


def test_without_the_callback_plots_are_drawn_on_the_spot(tmp_path):
    slow = SlowPlots()
    trainer_with(tmp_path, slow).fit(BoringModel())
    assert complete_png(tmp_path / "plots" / "fit_end.png")
    assert set(slow.threads) == {threading.current_thread().name}


def test_the_training_thread_goes_on_while_the_worker_draws(tmp_path):
    threads: list[str] = []
    trainer = type("T", (), {"default_root_dir": str(tmp_path), "global_step": 7, "loggers": []})
    gate = threading.Event()
    worker = plotting.start_plot_worker()
    try:
        plotting.plot_to_run(trainer, "later", slow_figure(threads, seconds=0.1, gate=gate))
        assert not (tmp_path / "plots" / "later.png").exists()  # handed over, not drawn here
    finally:
        gate.set()
        plotting.stop_plot_worker()
    assert complete_png(tmp_path / "plots" / "later.png")
    assert worker is not plotting.start_plot_worker()  # a fresh one after a stop
    plotting.stop_plot_worker()


def test_wandb_images_are_logged_from_the_training_thread_at_their_step(tmp_path, monkeypatch):
    logged: list[tuple[str, str, int, str]] = []

    class FakeWandb:
        def log_image(self, key, images, step=None):
            logged.append((key, images[0], step, threading.current_thread().name))

    trainer = type("T", (), {"default_root_dir": str(tmp_path), "global_step": 42})()
    monkeypatch.setattr("seqlab.tracking.wandb_loggers", lambda _trainer, shown: [FakeWandb()])
    plotting.start_plot_worker()
    plotting.plot_to_run(trainer, "heat", slow_figure([], seconds=0.1))
    trainer.global_step = 50  # training went on meanwhile
    plotting.stop_plot_worker()
    path = str(tmp_path / "plots" / "heat.png")
    assert logged == [("plots/heat", path, 42, threading.current_thread().name)]


def test_a_failed_background_plot_fails_the_fit_after_the_others_are_saved(tmp_path):
    slow = SlowPlots(fail=True)
    trainer = trainer_with(tmp_path, BackgroundPlots(), slow)
    with pytest.raises(RuntimeError, match="plot 'epoch0' failed: no figure today"):
        trainer.fit(BoringModel())
    assert complete_png(tmp_path / "plots" / "fit_end.png")
    assert plotting.running_plot_worker() is None


def test_a_run_block_keeps_the_worker_from_fit_to_test_and_joins_at_its_end(tmp_path):
    """``python train.py`` wraps fit and test in `plots_joined_at_exit`: the plots of the end
    of fit are drawn while the test stage runs; all are complete when the block exits."""
    slow = SlowPlots()
    trainer = trainer_with(tmp_path, BackgroundPlots(), slow)
    with plotting.plots_joined_at_exit():
        trainer.fit(BoringModel())
        worker = plotting.running_plot_worker()
        assert worker is not None  # still drawing the end of fit
        trainer.test(BoringModel())
        assert plotting.running_plot_worker() is worker  # the same thread for both stages
    assert plotting.running_plot_worker() is None
    for name in ("epoch0", "epoch1", "fit_end", "test_end"):
        assert complete_png(tmp_path / "plots" / f"{name}.png"), name
    assert set(slow.threads) == {"seqlab-plots"}
