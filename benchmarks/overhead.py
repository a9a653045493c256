"""1. Framework overhead: a training step through seqlab vs a raw PyTorch loop.

seqlab side: ``seqlab.cli.train.run`` on the composed experiment config, with the default
callbacks and loggers on (W&B offline, CSV), plus `StepTimer` (added by a Hydra override),
which stamps every ``on_train_batch_start``. Raw side (`RawLoop`): a second instance of the
same task module, used as a plain ``nn.Module`` (its forward and loss), the same
datamodule's train loader, the same optimiser (from the task's ``configure_optimizers``),
the same gradient clipping, and a hand-written loop.

The two sides are interleaved inside one training run: every ``block`` steps StepTimer
hands the CPU to the raw loop for ``block`` steps of its own (outside the timed seqlab
intervals), so both sides see the same machine load, minute by minute. A per-step time is
the interval from one batch start to the next: fetching the batch, the step and every
per-step hook (progress bar, logging, callbacks). Intervals that cross an epoch boundary
(validation, checkpoints, early stopping) and warm-up steps are dropped on both sides; each
block's mean step time is one sample (so periodic costs such as a logger write every N
steps are counted), paired with the raw block run just before it.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L

from benchmarks.common import (
    CONFIGS,
    Section,
    Settings,
    clear_hydra,
    compose_train,
    entry,
    median,
    slug,
)

TARGET_PCT = 5.0

# The raw loop that StepTimer interleaves with the seqlab steps: set by `seqlab_blocks`
# (Hydra builds the callback from a config, so the object cannot travel through it).
_PARTNER: dict[str, Any] = {}


class StepTimer(L.Callback):
    """Stamps every training batch start and, when a raw loop is registered, runs blocks of
    raw steps between blocks of seqlab steps. Writes its stamps and the raw block times as
    JSON to ``path`` when training ends.

    A stamp is (epoch, batch_idx, t_in, t_out): t_in closes the previous step's interval,
    t_out opens this one, so the raw block run in between is not charged to seqlab.
    """

    def __init__(self, path: str, warmup: int = 0, block: int = 0, steps: int = 0) -> None:
        self.path = str(path)
        self.warmup, self.block, self.steps = int(warmup), int(block), int(steps)
        self.stamps: list[tuple[int, int, float, float]] = []
        self.raw_blocks: list[list[float]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        t_in = time.perf_counter()
        step = len(self.stamps)
        raw = _PARTNER.get("raw")
        if raw is not None and self.block > 0:
            if step == 0:
                raw.block(self.warmup)  # the raw side's warm-up
            elif self.warmup <= step < self.warmup + self.steps and (
                (step - self.warmup) % self.block == 0
            ):
                self.raw_blocks.append(raw.block(self.block))
        self.stamps.append((int(trainer.current_epoch), int(batch_idx), t_in, time.perf_counter()))

    def on_train_end(self, trainer, pl_module) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        payload = {"stamps": self.stamps, "raw_blocks": self.raw_blocks}
        Path(self.path).write_text(json.dumps(payload))


# ----------------------------------------------------------------------------- experiments


@dataclass
class Experiment:
    name: str
    overrides: list[str]
    # extra overrides in smoke mode (tiny sizes)
    smoke: list[str] = field(default_factory=list)
    # config file (relative to configs/) that must exist, else the experiment is skipped
    requires: str = ""

    def available(self) -> bool:
        return not self.requires or (CONFIGS / self.requires).is_file()

    def config_overrides(self, settings: Settings) -> list[str]:
        return [*self.overrides, *(self.smoke if settings.smoke else [])]


EXPERIMENTS = [
    Experiment("lstm_stocks", ["experiment=lstm_stocks"]),
    Experiment(
        "gpt_shakespeare_small",
        [
            "experiment=gpt_shakespeare",
            "model.backbone.num_layers=2",
            "model.backbone.hidden_size=64",
            "model.backbone.num_heads=4",
            "data.max_chars=1200000",  # >= 500 batches an epoch: val_check_interval=500 fits
        ],
        smoke=["data.max_chars=60000", "data.ngram_order=0", "trainer.val_check_interval=1.0"],
    ),
    Experiment("vit_digits", ["experiment=vit_digits"], requires="experiment/vit_digits.yaml"),
]

# Run settings shared by both sides: CPU, no test stage, stop on steps, not epochs.
COMMON = [
    "trainer.accelerator=cpu",
    "trainer.max_time=null",  # the raw blocks run inside the fit: no wall-clock limit
    "test=false",
    "extras.print_config=false",
]

# Hooks Lightning calls on every training step: a callback without any of them only acts at
# epoch or fit boundaries, which are not timed.
PER_STEP_HOOKS = (
    "on_train_batch_start",
    "on_train_batch_end",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_before_zero_grad",
)


def has_per_step_hook(target: str) -> bool:
    from hydra.utils import get_class

    try:
        cls = get_class(target)
    except Exception:
        return True  # cannot tell: measure it
    return any(getattr(cls, h, None) is not getattr(L.Callback, h) for h in PER_STEP_HOOKS)


def breakdown_variants(cfg) -> list[tuple[str, list[str]]]:
    """One default switched off at a time, from the experiment's composed config: the
    progress bar, logger writes, the W&B logger, each other callback with a per-step hook,
    then all callbacks without one together, then everything ("bare Lightning")."""
    from omegaconf import DictConfig

    def targets(group) -> dict[str, str]:
        items = (group or {}).items()
        return {k: v._target_ for k, v in items if isinstance(v, DictConfig) and "_target_" in v}

    callbacks, loggers = targets(cfg.get("callbacks")), targets(cfg.get("logger"))
    variants: list[tuple[str, list[str]]] = []
    if "progress_bar" in callbacks:
        off = ["callbacks.progress_bar=null", "++trainer.enable_progress_bar=false"]
        variants.append(("no progress bar", off))
    if loggers:
        variants.append(
            ("loggers write rarely (log_every_n_steps=10^6)", ["trainer.log_every_n_steps=1000000"])
        )
    if "wandb" in loggers and len(loggers) > 1:
        variants.append(("no W&B logger", ["~logger.wandb"]))
    rest = [k for k in callbacks if k != "progress_bar"]
    per_step = [k for k in rest if has_per_step_hook(callbacks[k])]
    for name in per_step:
        variants.append((f"no {name}", [f"callbacks.{name}=null"]))
    quiet = [k for k in rest if k not in per_step]
    if quiet:
        label = f"no callbacks without per-step hooks ({len(quiet)})"
        variants.append((label, [f"callbacks.{k}=null" for k in quiet]))
    bare = ["callbacks=none", "~logger", "++trainer.enable_progress_bar=false"]
    variants.append(("bare Lightning (all of the above off)", bare))
    return variants


def available_experiments() -> tuple[list[Experiment], list[str]]:
    found, skipped = [], []
    for exp in EXPERIMENTS:
        if exp.available():
            found.append(exp)
        else:
            skipped.append(f"{exp.name}: skipped (configs/{exp.requires} does not exist yet)")
    return found, skipped


def _overrides(exp: Experiment, settings: Settings, max_steps: int) -> list[str]:
    return [
        *exp.config_overrides(settings),
        *COMMON,
        "trainer.max_epochs=100000",
        f"++trainer.max_steps={max_steps}",
    ]


def compose(exp: Experiment, settings: Settings, max_steps: int, extra: Sequence[str], out: Path):
    """The experiment's config, stopped after ``max_steps`` steps.

    Stopping mid-epoch means the last epoch ends without validation: a strict EarlyStopping
    would call that an error at the end of fit, and ``run`` could not return the sweep
    objective. Both are made lenient here (they act only at epoch ends, which are not timed):
    early stopping is not strict, and the objective is dropped after the callbacks' monitors
    have been resolved from it.
    """
    from omegaconf import OmegaConf, open_dict

    cfg = compose_train([*_overrides(exp, settings, max_steps), *extra], out)
    OmegaConf.resolve(cfg)
    with open_dict(cfg):
        cfg.optimized_metric = None
        early = (cfg.get("callbacks") or {}).get("early_stopping")
        if early is not None:
            early.strict = False
    return cfg


_RUNS = [0]


def run_dir(settings: Settings, what: str) -> Path:
    _RUNS[0] += 1
    return settings.work_dir / f"{_RUNS[0]:03d}-{slug(what)}"


# ----------------------------------------------------------------------------- raw loop


def raw_loss(task: Any, batch: Any, batch_idx: int):
    """The task's forward and loss, as a plain module would compute them."""
    import torch.nn.functional as F

    from seqlab.tasks.forecasting import ForecastingTask
    from seqlab.tasks.language_modeling import LanguageModelingTask

    if isinstance(task, ForecastingTask):
        x, y = batch
        return F.mse_loss(task(x), y)
    if isinstance(task, LanguageModelingTask) and task.automatic_optimization:
        x, y = batch
        logits, _ = task(x, None)
        return task._loss(logits, y)
    if not task.automatic_optimization:
        raise NotImplementedError(f"{type(task).__name__}: manual optimisation has no raw twin")
    # Other tasks: their own training_step; self.log without a trainer is a no-op.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = task.training_step(batch, batch_idx)
    return out["loss"] if isinstance(out, dict) else out


class RawLoop:
    """The experiment's task, loader, optimiser and clipping, driven by a plain loop."""

    def __init__(self, exp: Experiment, settings: Settings, max_steps: int = 1) -> None:
        import torch
        from hydra.utils import instantiate

        from seqlab.tasks.registry import build_task

        out = run_dir(settings, f"{exp.name}-raw")
        cfg = compose(exp, settings, max_steps, [], out)
        clear_hydra()
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        self.cfg = cfg
        self.datamodule = instantiate(cfg.data)
        self.datamodule.prepare_data()
        self.datamodule.setup("fit")
        self.task = build_task(cfg.model, self.datamodule.spec, data=cfg.data)
        self.loader = self.datamodule.train_dataloader()
        opt = self.task.configure_optimizers()
        if isinstance(opt, dict):
            opt = opt["optimizer"]
        elif isinstance(opt, list | tuple):
            opt = opt[0]
        self.optimizer: torch.optim.Optimizer = opt
        self.clip = cfg.trainer.get("gradient_clip_val") or 0.0
        self.clip_algorithm = cfg.trainer.get("gradient_clip_algorithm") or "norm"
        self._iterator = None
        self._batch_idx = -1

    def step(self, batch: Any, batch_idx: int) -> None:
        import torch

        loss = raw_loss(self.task, batch, batch_idx)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip:
            params = [p for p in self.task.parameters() if p.grad is not None]
            if self.clip_algorithm == "value":
                torch.nn.utils.clip_grad_value_(params, self.clip)
            else:
                torch.nn.utils.clip_grad_norm_(params, self.clip)
        self.optimizer.step()

    def _fetch(self) -> tuple[Any, bool]:
        """The next batch, and whether a new epoch (a new iterator) had to start for it."""
        if self._iterator is not None:
            try:
                batch = next(self._iterator)
                self._batch_idx += 1
                return batch, False
            except StopIteration:
                pass
        self._iterator = iter(self.loader)
        self._batch_idx = 0
        return next(self._iterator), True

    def block(self, steps: int) -> list[float]:
        """Run ``steps`` steps; seconds per step (the step plus fetching the next batch, as
        seqlab's intervals), without those whose fetch started a new epoch."""
        import torch

        self.task.train()
        times: list[float] = []
        batch, _ = self._fetch()
        with torch.enable_grad():
            for _ in range(steps):
                start = time.perf_counter()
                self.step(batch, self._batch_idx)
                batch, restarted = self._fetch()
                if not restarted:
                    times.append(time.perf_counter() - start)
        return times

    def step_seconds(self, steps: int) -> float:
        """Median seconds per raw step over ``steps`` steps (after two warm-up steps)."""
        self.block(2)
        return median(self.block(steps) or [float("nan")])


# ----------------------------------------------------------------------------- seqlab side


def seqlab_intervals(stamps: list[list[float]]) -> dict[int, float]:
    """step -> seconds from its batch start to the next one, within one epoch."""
    out = {}
    for k in range(len(stamps) - 1):
        epoch, idx, _t_in, t_out = stamps[k]
        next_epoch, next_idx, next_t_in, _ = stamps[k + 1]
        if next_epoch == epoch and next_idx == idx + 1:
            out[k] = next_t_in - t_out
    return out


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def seqlab_blocks(
    exp: Experiment,
    settings: Settings,
    raw: RawLoop,
    *,
    warmup: int,
    block: int,
    nblocks: int,
    extra: Sequence[str] = (),
) -> tuple[list[float], list[float], list[float]]:
    """One training run through ``seqlab.cli.train.run`` with raw blocks interleaved.

    Returns paired per-block mean step times (seqlab, raw) and the epoch-boundary intervals.
    """
    from seqlab.cli.train import run

    steps = block * nblocks
    out = run_dir(settings, f"{exp.name}-seqlab")
    path = out / "step_stamps.json"
    timer = [
        "+callbacks.step_timer._target_=benchmarks.overhead.StepTimer",
        f"+callbacks.step_timer.path={path}",
        f"+callbacks.step_timer.warmup={warmup}",
        f"+callbacks.step_timer.block={block}",
        f"+callbacks.step_timer.steps={steps}",
    ]
    cfg = compose(exp, settings, warmup + steps + 1, [*extra, *timer], out)
    _PARTNER["raw"] = raw
    try:
        run(cfg)
    finally:
        _PARTNER.clear()
        clear_hydra()
    data = json.loads(path.read_text())
    stamps, raw_blocks = data["stamps"], data["raw_blocks"]
    intervals = seqlab_intervals(stamps)
    ours, theirs = [], []
    for j, raw_times in enumerate(raw_blocks):
        first = warmup + j * block
        mine = _mean([intervals[k] for k in range(first, first + block) if k in intervals])
        other = _mean(raw_times)
        if mine is not None and other is not None:
            ours.append(mine)
            theirs.append(other)
    boundary = [
        stamps[k + 1][2] - stamps[k][3]
        for k in range(len(stamps) - 1)
        if stamps[k + 1][0] == stamps[k][0] + 1 and stamps[k + 1][1] == 0
    ]
    if not ours:
        raise RuntimeError(f"{exp.name}: no training steps were timed")
    return ours, theirs, boundary


# ----------------------------------------------------------------------------- benchmark


def run(settings: Settings) -> Section:
    section = Section(
        name="overhead",
        title="1. Framework overhead: seqlab training step vs raw PyTorch loop",
        a_label="seqlab (ms/step)",
        b_label="raw loop (ms/step)",
        ratio_label="overhead = seqlab / raw − 1",
        ratio_format="pct",
        target=f"≤ {TARGET_PCT:g}%",
    )
    warmup = settings.pick(20, 2)
    block = settings.pick(50, 3)
    nblocks = settings.pick(4, 2)
    # each repetition is a whole training run (startup, validation), with blocks inside
    runs = settings.pick(min(settings.reps, 2), 1)
    experiments, skipped = available_experiments()
    section.notes.extend(skipped)
    step_times = settings.shared.setdefault("step_time", {})
    for exp in experiments:
        raw = RawLoop(exp, settings)
        a, b, boundary = [], [], []
        for _ in range(runs):
            ours, theirs, edges = seqlab_blocks(
                exp, settings, raw, warmup=warmup, block=block, nblocks=nblocks
            )
            a += ours
            b += theirs
            boundary += edges
        row = entry(
            exp.name,
            [x * 1e3 for x in a],
            [x * 1e3 for x in b],
            unit="ms",
            extra={
                "runs": runs,
                "block_steps": block,
                "warmup_steps": warmup,
                "epoch_boundary_ms_seqlab": median(boundary) * 1e3 if boundary else None,
            },
        )
        row.extra["meets_target"] = (row.ratio - 1) * 100 <= TARGET_PCT
        section.entries.append(row)
        step_times[exp.name] = {"seqlab": row.a / 1e3, "raw": row.b / 1e3}
        wanted = settings.breakdown == "always" or (
            settings.breakdown == "auto"
            and not settings.smoke
            and (row.ratio - 1) * 100 > TARGET_PCT
        )
        if wanted:  # one run per change (time budget), each with its own interleaved raw blocks
            for label, extra in breakdown_variants(raw.cfg):
                ours, theirs, _ = seqlab_blocks(
                    exp,
                    settings,
                    raw,
                    warmup=warmup,
                    block=block,
                    nblocks=2,
                    extra=extra,
                )
                section.entries.append(
                    entry(
                        f"{exp.name}: {label}",
                        [x * 1e3 for x in ours],
                        [x * 1e3 for x in theirs],
                        unit="ms",
                        extra={"overrides": extra},
                    )
                )
    if settings.breakdown == "auto" and settings.smoke:
        section.notes.append("smoke mode: no per-default breakdown (run with --breakdown always)")
    section.notes.append(
        f"Per-step time = interval between successive batch starts (batch fetch + step + every "
        f"per-step hook), averaged over blocks of {block} steps after {warmup} warm-up steps; "
        "a raw-loop block runs between seqlab blocks in the same process and the same training "
        "run, so both see the same load. Intervals that cross an epoch boundary (validation, "
        "checkpointing) are excluded on both sides. Rows '<experiment>: <change>' switch one "
        "default off (one run each, 2 blocks): the progress bar, logger writes, the W&B logger, "
        "each callback with a per-step hook, the callbacks without one (together), then all."
    )
    return section
