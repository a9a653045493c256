"""8. seqlab vs a nanoGPT-style single-file trainer, side by side on the same GPT and data.

The peer is `benchmarks/nanogpt_raw.py` (written here, in the manner of karpathy/nanoGPT's
``train.py``: memory-mapped uint16 tokens, random windows, AdamW, cosine learning rate,
gradient clipping, evaluation and a checkpoint at set steps). Both sides train seqlab's GPT
(`seqlab.nn.transformer.GPTBackbone`, token embedding and tied head) on the same token
streams: the parent builds ``experiment=gpt_shakespeare``'s data module once and writes its
train and validation tokens as ``train.bin``/``val.bin`` (nanoGPT's ``prepare.py`` step,
not timed). Full mode: 4 layers, 4 heads, width 128, block 64, batch 12, dropout 0, the
first 1.1 M characters of the plays; ``--smoke``: a tiny GPT on 30 k characters.

Rows (A = seqlab, B = the raw loop; ratio = B / A, seqlab's speed relative to the raw loop,
so ≥ 1 means seqlab is as fast or faster):

- **steady state**: mean milliseconds per training step after warm-up (the interval between
  successive step starts: batch, forward, backward, clipping, optimiser, every per-step
  hook), seqlab with ``callbacks=none``, no validation, progress bar off (its loggers, W&B
  offline and CSV, on) vs the raw loop with no evaluation;
- **start-up**: seconds from starting the process to the first training step, of the
  end-to-end runs below (seqlab: imports, Hydra, data, baselines, W&B, sanity check);
- **end to end**: wall seconds of the whole process for a fixed number of steps, seqlab
  as ``python train.py experiment=gpt_shakespeare`` runs by default (default callbacks,
  text samples, attention maps, gradient flow, checkpoints, W&B offline, validation every
  500 steps; ``test=false``: the peer has no test stage) vs the raw loop evaluating the
  whole validation stream after the same steps and saving a checkpoint when it improved.

Every side runs as a fresh process (full mode; in ``--smoke`` both run in this process,
so start-up there excludes imports), the two sides alternating, with the same threads and
environment. Standalone: ``python -m benchmarks.nanogpt_style [--smoke] [--steps N]
[--reps R]`` prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L

from benchmarks.common import (
    ROOT,
    Section,
    Settings,
    clear_hydra,
    compose_train,
    entry,
    offline_env,
)

T0_ENV = "SEQLAB_BENCH_T0"
VAL_EVERY = 500  # gpt_shakespeare's val_check_interval


class StepStamps(L.Callback):
    """Wall-clock time of every training batch start and the global step of every
    validation; written as JSON to ``path`` when training ends."""

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self.stamps: list[float] = []
        self.val_steps: list[int] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.stamps.append(time.time())

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.val_steps.append(int(trainer.global_step))

    def on_train_end(self, trainer, pl_module) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        payload = {"stamps": self.stamps, "val_steps": self.val_steps}
        Path(self.path).write_text(json.dumps(payload))


# ----------------------------------------------------------------------------- sizes


def sizes(smoke: bool) -> dict[str, Any]:
    if smoke:
        return dict(layers=1, heads=2, width=16, block=16, batch=4, chars=30_000)
    return dict(layers=4, heads=4, width=128, block=64, batch=12, chars=1_100_000)


def seqlab_overrides(size: dict[str, Any], smoke: bool) -> list[str]:
    """gpt_shakespeare with the shared sizes (what both sides train)."""
    out = [
        "experiment=gpt_shakespeare",
        f"data.max_chars={size['chars']}",
        f"data.block_size={size['block']}",
        f"data.batch_size={size['batch']}",
        f"model.backbone.num_layers={size['layers']}",
        f"model.backbone.num_heads={size['heads']}",
        f"model.backbone.hidden_size={size['width']}",
        "model.backbone.dropout=0.0",
        "trainer.max_time=null",
        "trainer.max_epochs=100000",
        "test=false",
        "extras.print_config=false",
    ]
    if smoke:  # seconds, not minutes: no n-gram baseline, no W&B, short validations
        out += ["data.ngram_order=0", "logger=csv", "trainer.limit_val_batches=2"]
    return out


def raw_args(size: dict[str, Any]) -> list[str]:
    return [
        f"--layers={size['layers']}",
        f"--heads={size['heads']}",
        f"--width={size['width']}",
        f"--block={size['block']}",
        f"--batch={size['batch']}",
    ]


def prepare_bins(size: dict[str, Any], smoke: bool, out: Path) -> dict[str, Any]:
    """The data module's train and validation tokens as uint16 files (nanoGPT's prepare)."""
    import numpy as np
    from hydra.utils import instantiate

    cfg = compose_train(seqlab_overrides(size, smoke), out / "compose")
    clear_hydra()
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    vocab = int(datamodule.spec.vocab_size)
    if vocab > 65535:
        raise ValueError(f"vocabulary of {vocab} does not fit uint16")
    out.mkdir(parents=True, exist_ok=True)
    lengths = {}
    for split in ("train", "val"):
        tokens = getattr(datamodule, f"{split}_tokens").numpy().astype(np.uint16)
        tokens.tofile(out / f"{split}.bin")
        lengths[split] = len(tokens)
    (out / "meta.json").write_text(json.dumps({"vocab_size": vocab}))
    val_batches = -(-((lengths["val"] - 1) // size["block"]) // size["batch"])
    return {"vocab": vocab, "tokens": lengths, "val_batches": val_batches}


# ----------------------------------------------------------------------------- the two sides


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", HYDRA_FULL_ERROR="1")
    return env


def run_seqlab(overrides: list[str], out: Path, smoke: bool) -> dict[str, Any]:
    """One seqlab run with StepStamps: its stamps, validation steps, first step, total."""
    path = out / "stamps.json"
    stamps = [
        "+callbacks.step_stamps._target_=benchmarks.nanogpt_style.StepStamps",
        f"+callbacks.step_stamps.path={path}",
    ]
    if smoke:
        from omegaconf import OmegaConf, open_dict

        from seqlab.cli.train import run

        t0 = time.time()
        cfg = compose_train([*overrides, *stamps], out)
        OmegaConf.resolve(cfg)
        with open_dict(cfg):
            cfg.optimized_metric = None
        try:
            run(cfg)
        finally:
            clear_hydra()
        end = time.time()
    else:
        command = [str(ROOT / "train.py"), *overrides, *stamps, f"hydra.run.dir={out}"]
        t0, end = _timed_process(command, "train.py", seqlab_clock=True)
    data = json.loads(path.read_text())
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return {
        "stamps": data["stamps"],
        "val_steps": data["val_steps"],
        "first_step_s": data["stamps"][0] - t0,
        "total_s": end - t0,
        "val_loss": (summary.get("val") or {}).get("val/loss"),
        "params": summary.get("params"),
    }


def _timed_process(args: list[str], name: str, *, seqlab_clock: bool = False):
    """Run ``python <args>`` with the start time in its environment -> (start, end)."""
    env = _env()
    t0 = time.time()
    env[T0_ENV] = repr(t0)
    if seqlab_clock:  # train.py's own start-up clock starts at the same instant
        env["SEQLAB_T0"] = repr(t0)
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    end = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    return t0, end


def run_raw(args: list[str], out: Path, smoke: bool) -> dict[str, Any]:
    from benchmarks import nanogpt_raw

    timings = out / "timings.json"
    args = [*args, f"--out={timings}"]
    if smoke:
        t0 = time.time()
        result = nanogpt_raw.train(nanogpt_raw.parse_args(args), t0=t0)
        result["total_s"] = time.time() - t0
        return result
    t0, end = _timed_process(["-m", "benchmarks.nanogpt_raw", *args], "nanogpt_raw")
    result = json.loads(timings.read_text())
    result["total_s"] = end - t0
    return result


def steady_ms(stamps: list[float], warmup: int) -> float:
    """Mean ms per step over the intervals after ``warmup`` steps."""
    tail = stamps[warmup:]
    if len(tail) < 2:
        raise RuntimeError(f"too few steps timed: {len(stamps)} with warm-up {warmup}")
    return (tail[-1] - tail[0]) / (len(tail) - 1) * 1e3


# ----------------------------------------------------------------------------- benchmark


def run(settings: Settings, steps: int | None = None) -> Section:
    offline_env()
    smoke = settings.smoke
    size = sizes(smoke)
    e2e_steps = steps or settings.pick(2000, 8)
    steady_steps = settings.pick(400, 10)
    warm = settings.pick(50, 2)
    val_every = settings.pick(VAL_EVERY, 4)
    reps = settings.pick(min(settings.reps, 2), 1)
    section = Section(
        name="nanogpt_style",
        title="8. seqlab vs a nanoGPT-style single-file trainer (same GPT, same tokens)",
        a_label="seqlab",
        b_label="nanoGPT-style raw loop",
        ratio_label="raw / seqlab (seqlab's speed relative to the raw loop; ≥ 1: as fast)",
        target="≥ 1.0 in steady state and end to end; start-up within 2× (≥ 0.5)",
    )
    work = settings.work_dir / "nanogpt_style"
    data = work / "data"
    info = prepare_bins(size, smoke, data)
    base = seqlab_overrides(size, smoke)
    if smoke:
        base.append(f"trainer.val_check_interval={val_every}")
    steady_seqlab = [
        *base,
        "callbacks=none",
        "trainer.limit_val_batches=0",
        "++trainer.num_sanity_val_steps=0",
        "++trainer.enable_progress_bar=false",
        f"++trainer.max_steps={steady_steps}",
    ]
    e2e_seqlab = [*base, f"++trainer.max_steps={e2e_steps}"]
    raw_base = [f"--data={data}", *raw_args(size)]
    if smoke:
        info["val_batches"] = 2  # as seqlab's limit_val_batches
        raw_base.append("--eval-batches=2")
    counter = [0]

    def folder(what: str) -> Path:
        counter[0] += 1
        return work / f"{counter[0]:02d}-{what}"

    if not smoke:  # warm the file cache, the n-gram cache and the kernels: one short pair
        run_seqlab([*steady_seqlab[:-1], "++trainer.max_steps=20"], folder("warm-seqlab"), smoke)
        run_raw([*raw_base, "--steps=20"], folder("warm-raw"), smoke)

    samples: dict[str, list[float]] = {
        k: [] for k in ("steady_a", "steady_b", "start_a", "start_b", "e2e_a", "e2e_b")
    }
    val_steps: list[int] | None = None
    quality: dict[str, Any] = {}
    for rep in range(reps):
        seqlab_first = rep % 2 == 0 or val_steps is None
        # end to end (the raw loop evaluates after the steps seqlab validated after)
        for side in ("seqlab", "raw") if seqlab_first else ("raw", "seqlab"):
            if side == "seqlab":
                ours = run_seqlab(e2e_seqlab, folder("e2e-seqlab"), smoke)
                val_steps = ours["val_steps"]
                samples["start_a"].append(ours["first_step_s"])
                samples["e2e_a"].append(ours["total_s"])
                quality["seqlab_val_loss"] = ours["val_loss"]
                quality["seqlab_params"] = ours["params"]
            else:
                evals = ",".join(str(s) for s in val_steps or [])
                theirs = run_raw(
                    [
                        *raw_base,
                        f"--steps={e2e_steps}",
                        f"--eval-at={evals}",
                        f"--ckpt-dir={folder('raw-ckpt')}",
                    ],
                    folder("e2e-raw"),
                    smoke,
                )
                samples["start_b"].append(theirs["first_step_s"])
                samples["e2e_b"].append(theirs["total_s"])
                if theirs["val_losses"]:
                    quality["raw_val_loss"] = theirs["val_losses"][-1][1]
                quality["raw_params"] = theirs["params"]
        # steady state
        for side in ("raw", "seqlab") if seqlab_first else ("seqlab", "raw"):
            if side == "seqlab":
                ours = run_seqlab(steady_seqlab, folder("steady-seqlab"), smoke)
                samples["steady_a"].append(steady_ms(ours["stamps"], warm))
            else:
                theirs = run_raw(
                    [*raw_base, f"--steps={steady_steps}"], folder("steady-raw"), smoke
                )
                samples["steady_b"].append(steady_ms(theirs["stamps"], warm))

    def speed(a: float, b: float) -> float:
        return b / a

    rows = [
        ("steady state: ms per training step", "steady", "ms", 1.0),
        ("start-up: process start to first step", "start", "s", 0.5),
        (f"end to end: {e2e_steps} steps, validation after {val_steps}", "e2e", "s", 1.0),
    ]
    for case, key, unit, target in rows:
        row = entry(case, samples[f"{key}_a"], samples[f"{key}_b"], unit=unit, ratio=speed)
        row.extra["meets_target"] = row.ratio >= target
        section.entries.append(row)
    section.entries[-1].extra.update(quality)
    section.notes.append(
        f"GPT {size['layers']} layers × {size['heads']} heads, width {size['width']}, block "
        f"{size['block']}, batch {size['batch']}, dropout 0; {info['tokens']['train']:,} train "
        f"and {info['tokens']['val']:,} validation tokens (vocabulary {info['vocab']}), "
        f"{info['val_batches']} validation batches per evaluation on both sides. "
        f"{reps} repetition(s), sides alternating; steady state over {steady_steps} steps "
        f"after {warm}. Final validation loss (nats/token): seqlab "
        f"{_fmt(quality.get('seqlab_val_loss'))}, raw loop {_fmt(quality.get('raw_val_loss'))} "
        f"(seqlab's schedule is its own: plateau, not cosine). Parameters: seqlab "
        f"{quality.get('seqlab_params')}, raw loop {quality.get('raw_params')}."
    )
    if smoke:
        section.notes.append(
            "smoke: both sides run inside the benchmark process (start-up excludes imports)"
        )
    return section


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "n/a"


def main(argv: list[str] | None = None) -> None:
    import shutil
    import tempfile

    from benchmarks.run import markdown

    parser = argparse.ArgumentParser(prog="python -m benchmarks.nanogpt_style")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--steps", type=int, default=None, help="end-to-end steps")
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="seqlab-nanogpt-"))
    settings = Settings(smoke=args.smoke, reps=args.reps, warmup=1, work_dir=work)
    try:
        started = time.perf_counter()
        section = run(settings, steps=args.steps)
        section.seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from benchmarks.common import machine_info, machine_slug

    info = machine_info()
    report = {
        "slug": machine_slug(info),
        "date": time.strftime("%Y-%m-%d"),
        "mode": "smoke" if args.smoke else "full",
        "machine": info,
        "settings": {"reps": 1 if args.smoke else args.reps, "warmup": 1},
        "command": "python -m benchmarks.nanogpt_style " + " ".join(argv or sys.argv[1:]),
        "total_seconds": section.seconds,
    }
    print(markdown(report, [section]))
    print(json.dumps(section.to_dict(), default=str))


if __name__ == "__main__":
    main()
