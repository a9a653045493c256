"""7. Data pipeline: batches/s of each datamodule's train loader alone vs the model's steps/s.

The loader is the experiment's own (``datamodule.train_dataloader()``, its configured
workers), iterated without a model; a new epoch's iterator is made when one runs out, as in
training. The model's rate is the seqlab step rate measured by benchmark 1 in the same
invocation; when that did not run, the raw loop's step rate is measured here. A loader
that is not at least 5x faster than the model would leave the model waiting for data.
"""

from __future__ import annotations

import time

from benchmarks.common import CONFIGS, Section, Settings, entry
from benchmarks.overhead import Experiment, RawLoop, available_experiments

TARGET = 5.0


def _experiments() -> tuple[list[Experiment], list[str]]:
    experiments, skipped = available_experiments()
    images = any("vit" in e.name or "digits" in e.name for e in experiments)
    if not images and (CONFIGS / "data" / "digits.yaml").is_file():
        experiments.append(Experiment("digits (default model)", ["data=digits"]))
        skipped = [s for s in skipped if not s.startswith("vit_digits")]
    return experiments, skipped


def loader_rates(loader, batches: int, reps: int, warmup: int) -> list[float]:
    """Batches/s over ``reps`` samples of ``batches`` batches each."""
    iterator = iter(loader)

    def fetch(n: int) -> float:
        nonlocal iterator
        start = time.perf_counter()
        for _ in range(n):
            try:
                next(iterator)
            except StopIteration:
                iterator = iter(loader)
                next(iterator)
        return n / (time.perf_counter() - start)

    for _ in range(warmup):
        fetch(batches)
    return [fetch(batches) for _ in range(reps)]


def run(settings: Settings) -> Section:
    section = Section(
        name="data_pipeline",
        title="7. Data pipeline: train loader alone vs the model's training step",
        a_label="loader (batches/s)",
        b_label="model (steps/s)",
        ratio_label="loader / model rate",
        target=f"≥ {TARGET:g}x",
    )
    experiments, skipped = _experiments()
    section.notes.extend(skipped)
    step_times = settings.shared.get("step_time", {})
    batches = settings.pick(50, 4)
    for exp in experiments:
        raw = RawLoop(exp, settings)
        rates = loader_rates(raw.loader, batches, settings.reps, settings.warmup)
        known = step_times.get(exp.name)
        if known:
            model_rate, source = 1.0 / known["seqlab"], "seqlab step rate from benchmark 1"
        else:
            model_rate = 1.0 / raw.step_seconds(settings.pick(30, 3))
            source = "raw-loop step rate measured here (benchmark 1 not run)"
        row = entry(
            exp.name,
            rates,
            [model_rate] * len(rates),
            unit="/s",
            extra={
                "model_rate_source": source,
                "batch_size": getattr(raw.loader, "batch_size", None),
                "num_workers": getattr(raw.loader, "num_workers", None),
                "batches_per_sample": batches,
            },
        )
        row.extra["meets_target"] = row.ratio >= TARGET
        section.entries.append(row)
    section.notes.append(
        "The model column is one number per experiment (its median step rate), so the spread "
        "is the loader's alone."
    )
    return section
