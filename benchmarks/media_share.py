"""What the default media callbacks cost: seconds inside each one's hooks, as a share of a run.

Runs ``seqlab.cli.train.run`` in-process on a composed config (the same as ``python
train.py <overrides>``) with every hook of the media callbacks wrapped in a timer (time on
the training thread), plus the time the background plot worker spent rendering (overlapped
with training) and the time the run waited for it at the end (on the training thread)::

    python -m benchmarks.media_share                      # the default runs, shortened
    python -m benchmarks.media_share --steps 2000 --val-every 250 -- experiment=gpt_shakespeare

The share is (seconds in media hooks + waiting for the plot worker) / wall seconds of the
whole run (data set-up, fit and test; imports excluded: they are paid once per process).
Writes ``benchmarks/results/media_share.md`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import ROOT, clear_hydra, compose_train, offline_env

MEDIA = {
    "text samples": "seqlab.callbacks.text_samples.TextSamples",
    "sequence attention": "seqlab.callbacks.sequence_attention.SequenceAttentionMaps",
    "gradient flow": "seqlab.callbacks.gradient_flow.GradientFlow",
    "grad norm": "seqlab.callbacks.grad_norm.GradNorm",
    "forecast plot": "seqlab.callbacks.forecast_plot.ForecastPlot",
    "image samples": "seqlab.callbacks.image_samples.ImageSamples",
    "confusion": "seqlab.callbacks.confusion.ConfusionMatrixPlot",
    "series per class": "seqlab.callbacks.series_per_class.SeriesPerClassPlot",
    "ViT attention maps": "seqlab.callbacks.attention_maps.AttentionMaps",
}
HOOK_PREFIXES = ("on_", "setup", "teardown")

# The runs measured by default: each command's defaults, shortened to a fixed number of
# steps (and validations) so that the share is comparable from machine to machine.
RUNS = {
    "gpt_shakespeare": ["experiment=gpt_shakespeare"],
    "make train (lstm, stocks)": [],
}


@contextmanager
def timed_hooks() -> Iterator[dict[str, list[float]]]:
    """Patch every hook the media callback classes define with a wall-clock timer; yields
    ``{label: [seconds, calls]}``. The patches are undone on exit."""
    from hydra.utils import get_class
    from lightning.pytorch import Callback

    times: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    undo = []
    for label, target in MEDIA.items():
        cls = get_class(target)
        for name, fn in list(vars(cls).items()):
            if not name.startswith(HOOK_PREFIXES) or not callable(fn):
                continue
            if getattr(Callback, name, None) is None:
                continue

            def wrapper(*args, __fn=fn, __label=label, **kwargs):
                start = time.perf_counter()
                try:
                    return __fn(*args, **kwargs)
                finally:
                    slot = times[__label]
                    slot[0] += time.perf_counter() - start
                    slot[1] += 1

            functools.update_wrapper(wrapper, fn)
            setattr(cls, name, wrapper)
            undo.append((cls, name, fn))
    try:
        yield times
    finally:
        for cls, name, fn in undo:
            setattr(cls, name, fn)


def measure(overrides: Sequence[str], out: Path) -> dict:
    """One run: wall seconds, seconds per media callback, the plot worker's seconds."""
    from omegaconf import OmegaConf, open_dict

    from seqlab.cli.train import run
    from seqlab.figures import worker as plotting

    cfg = compose_train(list(overrides), out)
    OmegaConf.resolve(cfg)
    with open_dict(cfg):
        cfg.optimized_metric = None  # a run cut by max_steps may end without validating
    stats = getattr(plotting, "plot_worker_stats", None)
    before = dict(stats()) if stats else {}
    with timed_hooks() as times:
        start = time.perf_counter()
        try:
            run(cfg)
        finally:
            clear_hydra()
        wall = time.perf_counter() - start
    after = dict(stats()) if stats else {}
    worker = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    summary = json.loads((out / "summary.json").read_text())
    return {
        "wall_s": wall,
        "global_step": summary.get("global_step"),
        "callbacks": {k: {"seconds": v[0], "calls": v[1]} for k, v in times.items()},
        "worker": worker,
    }


def share(result: dict) -> float:
    on_thread = sum(v["seconds"] for v in result["callbacks"].values())
    on_thread += result["worker"].get("wait_s", 0.0)
    return on_thread / result["wall_s"]


def table(rows: list[tuple[str, dict]]) -> str:
    lines = [
        "| run | wall s | steps | callback: s on the training thread (calls) | "
        "plot worker: rendering s (overlapped) / waited s | media share |",
        "|---|---:|---:|---|---|---:|",
    ]
    for name, r in rows:
        parts = [
            f"{k} {v['seconds']:.2f} ({v['calls']})"
            for k, v in sorted(r["callbacks"].items(), key=lambda kv: -kv[1]["seconds"])
            if v["calls"]
        ]
        worker = r["worker"]
        lines.append(
            f"| {name} | {r['wall_s']:.1f} | {r['global_step']} | {'; '.join(parts)} | "
            f"{worker.get('busy_s', 0.0):.2f} / {worker.get('wait_s', 0.0):.2f} | "
            f"{share(r) * 100:.2f}% |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.media_share", description=__doc__)
    parser.add_argument(
        "--steps", type=int, default=600, help="training steps per run (0: the run's own)"
    )
    parser.add_argument(
        "--val-every", type=int, default=0, help="val_check_interval (0: the run's own)"
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("overrides", nargs="*", help="one run with these overrides instead")
    args = parser.parse_args(argv)
    offline_env()
    runs = {" ".join(args.overrides): args.overrides} if args.overrides else RUNS
    common = ["extras.print_config=false"]
    if args.steps:
        common += [
            "trainer.max_epochs=100000",
            f"++trainer.max_steps={args.steps}",
            "trainer.max_time=null",
            "callbacks.early_stopping=null",
        ]
    if args.val_every:
        common.append(f"trainer.val_check_interval={args.val_every}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, overrides) in enumerate(runs.items()):
            result = measure([*overrides, *common], Path(tmp) / f"run{i}")
            rows.append((name, result))
            print(name, json.dumps(result), file=sys.stderr, flush=True)
    text = table(rows)
    print(text)
    if not args.no_write:
        out = ROOT / "benchmarks" / "results" / "media_share.md"
        command = "python -m benchmarks.media_share " + " ".join(argv or sys.argv[1:])
        out.write_text(
            f"Media callbacks' share of a run's wall time (`{command}`)\n\n{text}\n",
        )


if __name__ == "__main__":
    main()
