"""Figures used by callbacks, evaluation and the CLI alike.

Every ``*_figure`` function takes plain arrays and returns a matplotlib figure; saving is
separate (`save_png` for a file, `save_figure` for a run's ``plots/`` folder plus W&B).
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

import numpy as np

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


def confusion_figure(matrix: np.ndarray, class_names: list[str], title: str):
    """Counts (rows = true class, columns = predicted), cells coloured by row share."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    k = len(matrix)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = min(2.0 + 0.55 * k, 14.0)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if matrix[i, j]:
                    colour = "white" if share[i, j] > 0.5 else "black"
                    ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7,
                            color=colour)  # fmt: skip
    ticks = range(k)
    ax.set_xticks(ticks, class_names, rotation=45 if k > 10 else 0, fontsize=7)
    ax.set_yticks(ticks, class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"{title} (accuracy {accuracy:.4f}, n={int(matrix.sum())})")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    return fig


def series_per_class_figure(examples: dict[str, list[np.ndarray]], title: str):
    """A few series (T_i, C) per class: one panel per class (at most 12), one line per series;
    channels beyond the first three are left out (named in the panel)."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    names = list(examples)[:12]
    cols = min(len(names), 4)
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.2 * rows), squeeze=False)
    styles = ("-", "--", ":")
    for ax, name in zip(axes.flat, names, strict=False):
        channels = examples[name][0].shape[1]
        for k, series in enumerate(examples[name]):
            for c in range(min(channels, len(styles))):
                ax.plot(series[:, c], styles[c], color=f"C{k}", linewidth=0.9)
        shown = f", channels 1-3 of {channels}" if channels > len(styles) else ""
        ax.set_title(f"class {name} ({len(examples[name])} series{shown})", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def image_grid(pixels, prompts: list[str], per_prompt: int):
    """pixels (len(prompts) * per_prompt, C, H, W) in [0, 1] -> a figure, one row per prompt."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    rows = len(prompts)
    fig, axes = plt.subplots(
        rows, per_prompt, figsize=(1.3 * per_prompt + 2.4, 1.3 * rows), squeeze=False
    )
    pixels = pixels.detach().cpu()
    for r, prompt in enumerate(prompts):
        for c in range(per_prompt):
            ax = axes[r, c]
            image = pixels[r * per_prompt + c]
            ax.imshow(image.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(prompt, rotation=0, ha="right", va="center", fontsize=7)
    fig.tight_layout()
    return fig


def _display(image: np.ndarray) -> np.ndarray:
    """(C, H, W) float -> (H, W) or (H, W, 3) in [0, 1] (per-image min-max)."""
    image = image - image.min()
    image = image / max(float(image.max()), 1e-8)
    return image[0] if image.shape[0] == 1 else np.transpose(image[:3], (1, 2, 0))


def patch_attention_figure(
    images: np.ndarray,
    labels,
    preds,
    layers: list[np.ndarray],
    class_names: list[str],
    epoch: int,
):
    """Images (N, C, H, W) with, per layer, an attention map (N, gh, gw) laid over them:
    one row per image (true / predicted class in the title), one column per layer."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    names = list(class_names) or [str(i) for i in range(int(labels.max()) + 1)]
    rows, cols = len(images), len(layers) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 1.8 * rows), squeeze=False)
    H, W = images.shape[-2:]
    for r in range(rows):
        picture = _display(images[r])
        cmap = "gray" if picture.ndim == 2 else None
        ax = axes[r, 0]
        ax.imshow(picture, cmap=cmap)
        ok = "ok" if int(preds[r]) == int(labels[r]) else "wrong"
        ax.set_title(
            f"true {names[int(labels[r])]} / pred {names[int(preds[r])]} ({ok})", fontsize=6
        )
        for layer, attention in enumerate(layers, start=1):
            ax = axes[r, layer]
            ax.imshow(picture, cmap=cmap)
            ax.imshow(
                attention[r],
                cmap="inferno",
                alpha=0.6,
                vmin=0.0,  # colour 0 = no attention; the brightest patch = this map's max
                extent=(-0.5, W - 0.5, H - 0.5, -0.5),
            )
            if r == 0:
                ax.set_title(f"layer {layer}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"class-token attention over patches (mean over heads), epoch {epoch}",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def sequence_attention_figure(maps: list, max_heads: int, title: str):
    """Per layer (heads, T, T) attention weights -> a grid, rows = layers, columns = heads
    (the first ``max_heads``)."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    layers, heads = len(maps), min(maps[0].shape[0], max_heads)
    fig, axes = plt.subplots(layers, heads, figsize=(2.2 * heads, 2.2 * layers), squeeze=False)
    for layer, weights in enumerate(maps):
        for head in range(heads):
            ax = axes[layer, head]
            ax.imshow(np.asarray(weights[head]), cmap="viridis", vmin=0.0)
            ax.set_title(f"layer {layer} head {head}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    axes[-1, 0].set_xlabel("key position")
    axes[-1, 0].set_ylabel("query position")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def forecast_figure(split, pred: np.ndarray, true: np.ndarray, max_points: int):
    """One column per ticker of ``split`` (``ticker``, ``date``, ``last_price`` per row):
    predicted vs actual next-day log returns on top, the prices they imply below (the last
    ``max_points`` rows of each ticker)."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    tickers = list(dict.fromkeys(split.ticker))
    fig, axes = plt.subplots(2, len(tickers), figsize=(4.2 * len(tickers), 6), squeeze=False)
    for col, ticker in enumerate(tickers):
        rows = np.flatnonzero(split.ticker == ticker)[-max_points:]
        dates = split.date[rows]
        ax = axes[0, col]
        ax.plot(dates, true[rows], lw=0.8, label="actual")
        ax.plot(dates, pred[rows], lw=0.8, label="predicted")
        ax.axhline(0.0, color="grey", lw=0.6, ls="--", label="persistence (0)")
        ax.set_title(f"{ticker}: next-day log return")
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        # One-step-ahead implied price: P_{t+1} = P_t * exp(predicted return).
        last = split.last_price[rows]
        ax = axes[1, col]
        ax.plot(dates, last * np.exp(true[rows]), lw=0.9, label="actual")
        ax.plot(dates, last * np.exp(pred[rows]), lw=0.9, label="implied by forecast")
        ax.set_title(f"{ticker}: adjusted close")
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    # fixed margins (in inches at the sides): tight_layout's extra draw pass was a third of
    # this figure's cost, the last plot of a forecasting run (nothing left to overlap it)
    width = 4.2 * len(tickers)
    fig.subplots_adjust(
        left=0.75 / width, right=1 - 0.15 / width, bottom=0.12, top=0.95, hspace=0.5, wspace=0.25
    )
    return fig


def series_forecast_figure(panels: list[dict], reference: str | None):
    """One panel per chosen series (e.g. worst, median and best by MASE): the history before
    the last origin, the actual values after it, the model's forecast from that origin with
    its interval when there is one, and the best reference's forecast.

    Each panel: ``title``, ``history_time``/``history`` (arrays), ``time``, ``actual``,
    ``model``, optional ``lo``/``hi`` and ``reference`` (arrays over the horizon)."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.4), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        ax.plot(panel["history_time"], panel["history"], color="0.35", lw=0.9, label="history")
        ax.plot(panel["time"], panel["actual"], color="black", lw=1.2, marker=".", label="actual")
        ax.plot(panel["time"], panel["model"], color="tab:blue", lw=1.2, marker=".", label="model")
        if panel.get("lo") is not None:
            ax.fill_between(
                panel["time"], panel["lo"], panel["hi"], color="tab:blue", alpha=0.2, label="95%"
            )
        if panel.get("reference") is not None:
            ax.plot(
                panel["time"],
                panel["reference"],
                color="tab:orange",
                lw=1,
                ls="--",
                label=reference,
            )
        ax.axvline(panel["history_time"][-1], color="0.6", lw=0.6, ls=":")
        ax.set_title(panel["title"], fontsize=9)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def gradient_flow_figure(steps: list[int], table: np.ndarray, model_name: str):
    """``table`` (logged steps, T) of ‖∂L_T/∂x_t‖: a heatmap (training step × time step,
    log10) and the first and last profiles."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    image = left.imshow(np.log10(table + 1e-30), aspect="auto", origin="lower", cmap="magma")
    left.set_xlabel("input time step t")
    left.set_ylabel("logged training step")
    left.set_yticks(range(len(steps)), [str(s) for s in steps], fontsize=6)
    left.set_title("log10 ‖∂L_T / ∂x_t‖")
    fig.colorbar(image, ax=left)
    right.semilogy(table[0], label=f"step {steps[0]}")
    right.semilogy(table[-1], label=f"step {steps[-1]}")
    right.set_xlabel("input time step t")
    right.set_title(f"gradient reaching each step ({model_name})")
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig


def gradient_flow_comparison_figure(curves: list[tuple[str, Any, Any, int, int]]):
    """Curves ``(label, first profile, last profile, first step, last step)``, one per job:
    ‖∂L_T/∂x_t‖ over t at initialisation (left) and after training (right)."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for label, first, last, *_steps in curves:
        axes[0].semilogy(first, label=label)
        axes[1].semilogy(last, label=label)
    axes[0].set_title(f"at initialisation (step {curves[0][3]})")
    axes[1].set_title(f"after training (step {curves[0][4]})")
    for ax in axes:
        ax.set_xlabel("input time step t (the loss is at the last step)")
    axes[0].set_ylabel("‖∂L_T / ∂x_t‖")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def gradient_flow_log_figure(steps: list[int], table: np.ndarray, model_name: str):
    """Like `gradient_flow_figure`, without a floor: ``table`` (logged steps, T) holds exact
    float64 norms (a tanh RNN's 1e-70 stays 1e-70); zeros, if any, are left blank."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    table = np.asarray(table, dtype=np.float64)
    with np.errstate(divide="ignore"):
        logs = np.where(table > 0, np.log10(np.where(table > 0, table, 1.0)), np.nan)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    image = left.imshow(logs, aspect="auto", origin="lower", cmap="magma")
    left.set_xlabel("input time step t")
    left.set_ylabel("logged training step")
    left.set_yticks(range(len(steps)), [str(s) for s in steps], fontsize=6)
    left.set_title("log10 ‖∂L_T / ∂x_t‖ (float64, per sequence)")
    fig.colorbar(image, ax=left)
    right.semilogy(np.where(table[0] > 0, table[0], np.nan), label=f"step {steps[0]}")
    right.semilogy(np.where(table[-1] > 0, table[-1], np.nan), label=f"step {steps[-1]}")
    right.set_xlabel("input time step t")
    right.set_title(f"gradient reaching each step ({model_name})")
    right.legend(fontsize=7)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.9, wspace=0.25)  # no extra pass
    return fig


def grad_norm_comparison_figure(runs: list[dict[str, Any]], clip_val: float | None = None):
    """Exploding gradients, side by side: one dict per run with ``label``, ``grad_steps``,
    ``grad_norm`` (total 2-norm before clipping, log scale, left) and ``loss_steps``,
    ``loss`` (training loss, log scale, right); ``note`` (e.g. "stopped: train/loss is inf
    at global step 12") goes in the legend and an × marks the run's last finite values.
    ``clip_val`` draws the clipping threshold c."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for run in runs:
        label = run["label"] + (f"\n({run['note']})" if run.get("note") else "")
        color = None
        for ax, steps, values in (
            (left, run["grad_steps"], run["grad_norm"]),
            (right, run["loss_steps"], run["loss"]),
        ):
            steps, values = np.asarray(steps), np.asarray(values, dtype=np.float64)
            ok = np.isfinite(values) & (values > 0)
            (line,) = ax.semilogy(
                steps[ok], values[ok], lw=1, color=color, label=label if ax is left else None
            )
            color = line.get_color()
            if run.get("note") and ok.any():
                ax.plot(steps[ok][-1], values[ok][-1], "x", color=color, ms=8, mew=2)
    if clip_val:
        left.axhline(clip_val, color="black", ls="--", lw=0.8, label=f"c = {clip_val:g}")
    left.set_title("total gradient norm ‖g‖ before clipping")
    right.set_title("training loss")
    for ax in (left, right):
        ax.set_xlabel("training step")
    left.legend(fontsize=7)
    fig.tight_layout()
    return fig
