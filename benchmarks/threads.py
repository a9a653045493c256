"""5. Threads: training steps/s of the default experiment with 1 vs 2 intra-op threads.

The lstm_stocks task, loader, optimiser and clipping driven in-process by the raw loop of
`benchmarks.overhead` (no Lightning: the point is how the model's step scales), with
``torch.set_num_threads`` switched between blocks of steps; the process's setting is
restored afterwards. With more than 2 cores available, 1 vs all of them is added.
"""

from __future__ import annotations

import itertools
import os
import time

from benchmarks.common import Section, Settings, entry
from benchmarks.overhead import EXPERIMENTS, RawLoop


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run(settings: Settings) -> Section:
    import torch

    section = Section(
        name="threads",
        title="5. Threads: lstm_stocks training steps/s, 2 threads vs 1",
        a_label="N threads (steps/s)",
        b_label="1 thread (steps/s)",
        ratio_label="speed-up N threads / 1 thread",
    )
    exp = next(e for e in EXPERIMENTS if e.name == "lstm_stocks")
    raw = RawLoop(exp, settings)
    batches = itertools.cycle(list(raw.loader))  # one epoch in memory: no loader in the timing
    raw.task.train()
    steps = settings.pick(20, 1)
    warmup = settings.pick(settings.warmup, 0)
    original = torch.get_num_threads()
    counts = [2]
    cores = _available_cores()
    if cores > 2:
        counts.append(cores)

    def rate(threads: int) -> float:
        torch.set_num_threads(threads)
        start = time.perf_counter()
        for i in range(steps):
            raw.step(next(batches), i)
        return steps / (time.perf_counter() - start)

    try:
        for n in counts:
            for _ in range(warmup):
                rate(1)
                rate(n)
            many, one = [], []
            for rep in range(settings.reps):
                if rep % 2 == 0:
                    many.append(rate(n))
                    one.append(rate(1))
                else:
                    one.append(rate(1))
                    many.append(rate(n))
            section.entries.append(
                entry(
                    f"lstm_stocks, {n} vs 1 threads",
                    many,
                    one,
                    unit="steps/s",
                    extra={"threads": n, "steps_per_sample": steps},
                )
            )
    finally:
        torch.set_num_threads(original)
    section.notes.append(
        f"{cores} cores available to this process (affinity); each sample = {steps} training "
        "steps (forward, loss, backward, clipping, AdamW) on batches held in memory. On a "
        "shared machine a second thread competes with other work: expect less than 2x."
    )
    return section
