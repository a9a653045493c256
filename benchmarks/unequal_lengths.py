"""Why a network loses on series of unequal length: the mask, padding, or resampling?

On PickupGestureWiimoteZ (50 training series of 29-361 steps, 10 gestures), the same recipe
(`experiment=fcn_series_classification`, several seeds) reads the series three ways:

- ``mask``: each series at its own length, batches padded with their lengths, the model
  masks the padding (seqlab's default until this study);
- ``archive_pad``: the archive's own equal-length release (``*_eq_*.ts`` in aeon's wheel):
  every series right-padded to 361 steps with low-amplitude noise, read as ordinary data;
- ``resample``: every series linearly interpolated to the longest training length
  (``data.resample=longest``), train, test and new series alike;
- ``pad``: seqlab's own padding read as data (``data.pad=longest``: the training mean, no
  noise), to tell the archive's noise from the padding itself.

    python -m benchmarks.unequal_lengths            # writes benchmarks/results/unequal_lengths.md
    python -m benchmarks.unequal_lengths --seeds=1  # quicker

MiniROCKET and 1-NN DTW come from the same runs (on the same reading of the data).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seqlab.data.package_files import package_file

ROOT = Path(__file__).resolve().parents[1]
NAME = "PickupGestureWiimoteZ"


def conditions() -> dict[str, list[str]]:
    eq_train = package_file(
        "aeon",
        f"datasets/data/{NAME}/{NAME}_eq_TRAIN.ts",
        field="data.name",
        hint="pip install --no-deps aeon",
    )
    return {
        "mask": [f"data.name={NAME}"],
        "archive_pad": [
            f"data.path={eq_train}",
            f"data.test_path={str(eq_train).replace('TRAIN', 'TEST')}",
        ],
        "resample": [f"data.name={NAME}", "data.resample=longest"],
        "pad": [f"data.name={NAME}", "data.pad=longest"],
    }


def run(overrides: list[str], seed: int, out: Path) -> tuple[dict, float]:
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "experiment=fcn_series_classification",
        *overrides,
        f"seed={seed}",
        # the question is the reading of the data, not the time bound: every run its 300 epochs
        "trainer.max_time=00:00:30:00",
        "logger=csv",
        "extras.print_config=false",
        "callbacks.progress_bar=null",
        f"hydra.run.dir={out}",
    ]
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        print(f"{overrides} seed {seed} failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        return {}, time.time() - start
    summary = json.loads((out / "summary.json").read_text())
    return {**summary["test"], "stopped": summary.get("stopped")}, time.time() - start


def main() -> None:
    seeds = [1, 2, 3]
    for arg in sys.argv[1:]:
        if arg.startswith("--seeds="):
            seeds = list(range(1, int(arg.split("=")[1]) + 1))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in conditions().items():
            accs, refs, took, epochs = [], {}, [], []
            for seed in seeds:
                metrics, seconds = run(overrides, seed, Path(tmp) / f"{name}-{seed}")
                took.append(seconds)
                if metrics:
                    accs.append(metrics["test/acc"])
                    refs = metrics
                    stopped = metrics.get("stopped") or {}
                    epochs.append(f"{stopped.get('epochs_done')}/{stopped.get('epochs_planned')}")
                print(name, seed, metrics.get("test/acc"), f"{seconds:.0f} s", flush=True)
            rows.append((name, accs, refs, took, epochs))
    lines = [
        f"# FCN on {NAME}: mask vs padding (the archive's, seqlab's) vs resampling",
        "",
        f"`python -m benchmarks.unequal_lengths` (seeds {seeds}; recipe "
        "`experiment=fcn_series_classification`; 2-core VM, other work running beside it, "
        "so seconds are upper bounds).",
        "",
        "| reading | FCN test acc per seed | mean | MiniROCKET | 1-NN DTW | epochs | s per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, accs, refs, took, epochs in rows:
        per_seed = ", ".join(f"{a:.3f}" for a in accs)
        mean = f"{statistics.mean(accs):.3f}" if accs else "-"
        rocket = refs.get("test/baseline_rocket_acc")
        dtw = refs.get("test/baseline_dtw_acc")
        lines.append(
            f"| {name} | {per_seed} | {mean} | {rocket if rocket is None else f'{rocket:.3f}'} "
            f"| {dtw if dtw is None else f'{dtw:.3f}'} | {', '.join(epochs)} "
            f"| {statistics.mean(took):.0f} |"
        )
    out = ROOT / "benchmarks" / "results" / "unequal_lengths.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
