"""Saving figures, and the background thread that draws them while training goes on.

The figures themselves live by domain beside this module (`seqlab.figures.forecasting`,
``classification``, ``images``, ``sequences``, ``gradients``): every ``*_figure`` function
takes plain arrays and returns a matplotlib figure; saving is here (`save_png` for a file,
`save_figure` for a run's ``plots/`` folder plus W&B).
matplotlib is imported inside the functions, never at ``import seqlab`` time, and always
with the headless Agg backend.

Callbacks draw through `plot_to_run`: while a `PlotWorker` runs (the ``background_plots``
callback starts one for each fit/validate/test and joins it when the stage ends), the figure
is built and saved on that single background thread and the training thread goes on; the
W&B image is logged from the training thread once the PNG is complete. Without a worker the
figure is drawn on the spot.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# pyplot keeps global state: figures are built and saved under this lock, on whichever thread
_PYPLOT = threading.RLock()


def matplotlib_headless() -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)


def save_png(fig, path: str | os.PathLike, *, dpi: int = 110, bbox_inches: str | None = "tight"):
    """Write ``fig`` to ``path`` as a PNG atomically (never a half-written plot), close it."""
    import matplotlib.pyplot as plt

    from seqlab.utils.files import atomic_path

    path = Path(path)
    with _PYPLOT, atomic_path(path, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches=bbox_inches)
        plt.close(fig)
    return path


def save_figure(fig, trainer, name: str) -> Path:
    """Write ``<run dir>/plots/<name>.png`` and log it to every W&B logger."""
    from seqlab.tracking import wandb_loggers

    out = save_png(fig, Path(trainer.default_root_dir) / "plots" / f"{name}.png")
    for logger in wandb_loggers(trainer):
        logger.log_image(key=f"plots/{name}", images=[str(out)])
    log.info("plot saved: %s", out)
    return out


def plot_to_run(trainer, name: str, make_figure: Callable[[], Any]) -> None:
    """``<run dir>/plots/<name>.png`` from ``make_figure()`` (a closure over plain arrays that
    returns a figure), and a W&B image ``plots/<name>`` at the current global step.

    With a `PlotWorker` running, the figure is built and saved there and this returns at
    once; the W&B image is logged on this thread when the worker is drained or joined. Else
    it is drawn now. Either way the PNG appears complete (written atomically) or not at all.
    """
    from seqlab.tracking import wandb_loggers

    path = Path(trainer.default_root_dir) / "plots" / f"{name}.png"
    loggers = wandb_loggers(trainer, shown=True)  # none for a disabled W&B: no image to make
    step = getattr(trainer, "global_step", None)

    def draw() -> Path:
        with _PYPLOT:  # the figures lay themselves out (tight_layout): no second draw pass
            return save_png(make_figure(), path, bbox_inches=None)

    def announce(out: Path) -> None:
        for logger in loggers:
            logger.log_image(key=f"plots/{name}", images=[str(out)], step=step)
        log.info("plot saved: %s", out)

    worker = _WORKER[0]
    if worker is None:
        announce(draw())
    else:
        worker.submit(name, draw, announce)


# -----------------------------------------------------------------------------
# the background plot worker

_WORKER: list[PlotWorker | None] = [None]
# seconds, over the process: rendering on the worker, and the training thread waiting for it
_STATS = {"busy_s": 0.0, "wait_s": 0.0, "plots": 0}


def plot_worker_stats() -> dict[str, float]:
    """Totals since the process started: ``busy_s`` (drawing on the worker), ``wait_s``
    (the training thread waiting for it in `PlotWorker.join`), ``plots`` (figures drawn)."""
    return dict(_STATS)


class PlotWorker:
    """One daemon thread that builds and saves figures in the order they were submitted.

    ``submit(name, draw, then)`` queues ``draw()`` (returns the PNG path); ``then(path)`` runs
    later on the thread that calls `drain` or `join` (W&B logging stays on the training
    thread). `join` waits until every queued figure is on disk, runs the pending ``then``s
    and raises the first drawing error, so a failed plot still fails the run (once the other
    plots are saved). ``nice`` lowers the thread's CPU priority (Linux; 0 leaves it) so that
    drawing takes the cycles training leaves idle. `warm` has it import pyplot ahead of the
    first plot (``BackgroundPlots`` asks after the first training step: earlier, the import
    would compete with the run's start-up).
    """

    def __init__(self, nice: int = 0) -> None:
        self.nice = int(nice)
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._pending = 0
        self._done: list[tuple[Callable[[Any], None], Any]] = []
        self._errors: list[tuple[str, BaseException]] = []
        self._thread = threading.Thread(target=self._loop, name="seqlab-plots", daemon=True)
        self._thread.start()

    def submit(self, name: str, draw: Callable[[], Any], then: Callable[[Any], None]) -> None:
        with self._cond:
            self._pending += 1
        self._jobs.put((name, draw, then))

    def _loop(self) -> None:
        if self.nice:  # not Linux, or not allowed: normal priority
            with contextlib.suppress(AttributeError, OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
        while True:
            item = self._jobs.get()
            if item is None:
                return
            if item == "warm":
                with contextlib.suppress(Exception), _PYPLOT:  # no matplotlib: a plot says so
                    matplotlib_headless()
                    import matplotlib.pyplot  # noqa: F401
                continue
            name, draw, then = item
            start = time.perf_counter()
            try:
                result, error = draw(), None
            except BaseException as err:  # reported by join, on the training thread
                result, error = None, err
            with self._cond:
                _STATS["busy_s"] += time.perf_counter() - start
                _STATS["plots"] += 1
                if error is None:
                    self._done.append((then, result))
                else:
                    self._errors.append((name, error))
                self._pending -= 1
                self._cond.notify_all()

    def warm(self) -> None:
        """Import pyplot on the worker now, ahead of the first plot."""
        self._jobs.put("warm")

    def drain(self) -> None:
        """Run the follow-ups (W&B images) of the figures finished so far, on this thread."""
        with self._cond:
            done, self._done = self._done, []
        for then, result in done:
            then(result)

    def join(self, *, raise_errors: bool = True) -> None:
        """Wait until every submitted figure is saved, then `drain`; raise the first error."""
        start = time.perf_counter()
        with self._cond:
            self._cond.wait_for(lambda: self._pending == 0)
            errors, self._errors = self._errors, []
        _STATS["wait_s"] += time.perf_counter() - start
        self.drain()
        for name, error in errors[1:]:
            log.error("plot %s failed: %r", name, error)
        if errors:
            name, error = errors[0]
            if raise_errors:
                raise RuntimeError(f"plot {name!r} failed: {error}") from error
            log.error("plot %s failed: %r", name, error)

    def close(self, *, raise_errors: bool = True) -> None:
        """`join`, then stop the thread."""
        try:
            self.join(raise_errors=raise_errors)
        finally:
            self._jobs.put(None)
            self._thread.join(timeout=60)


_RUN_SCOPE = [False]


@contextlib.contextmanager
def plots_joined_at_exit() -> Iterator[None]:
    """Within this block a plot worker, once started, keeps running from stage to stage
    (the plots drawn at the end of fit overlap the test stage); it is joined and stopped
    when the block exits (``python train.py`` wraps fit and test in it)."""
    _RUN_SCOPE[0] = True
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        _RUN_SCOPE[0] = False
        stop_plot_worker(raise_errors=not failed)


def plots_join_at_exit() -> bool:
    """Whether a `plots_joined_at_exit` block owns the worker's end."""
    return _RUN_SCOPE[0]


def start_plot_worker(nice: int = 0) -> PlotWorker:
    """Start the process's plot worker (or return the running one): `plot_to_run` uses it."""
    if _WORKER[0] is None:
        _WORKER[0] = PlotWorker(nice=nice)
    return _WORKER[0]


def running_plot_worker() -> PlotWorker | None:
    return _WORKER[0]


def stop_plot_worker(*, raise_errors: bool = True) -> None:
    """Join and stop the plot worker, if one runs: every submitted plot is then on disk."""
    worker, _WORKER[0] = _WORKER[0], None
    if worker is not None:
        worker.close(raise_errors=raise_errors)


# -----------------------------------------------------------------------------
# figures
