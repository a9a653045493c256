"""Test accuracy on UCR/UEA sets: seqlab's models next to 1-NN DTW, one run each.

    python -m benchmarks.ucr_table      # writes benchmarks/results/ucr_table.md

Each run: `python train.py data=ucr data.name=<set> model=<model>` with at most 60 epochs and
one minute of training (early stopping on val/loss), seed 42; the time column is the whole
command's wall time on this (shared, 2-core) machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ["GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "JapaneseVowels", "ACSF1"]
MODELS = ["lstm", "gru", "transformer", "fcn"]


def run(dataset: str, model: str, out: Path) -> tuple[dict, float]:
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "data=ucr",
        f"data.name={dataset}",
        f"model={model}",
        "trainer.max_epochs=60",
        "trainer.max_time=00:00:01:00",
        "logger=csv",
        "extras.print_config=false",
        "callbacks.progress_bar=null",
        f"hydra.run.dir={out}",
    ]
    start = time.time()
    subprocess.run(command, check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return json.loads((out / "summary.json").read_text())["test"], time.time() - start


def main() -> None:
    chosen = sys.argv[1:] or DATASETS
    header = ["dataset", *MODELS, "1-NN DTW", "majority", "seconds per run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in chosen:
            cells, seconds, base = [], [], {}
            for model in MODELS:
                test, took = run(dataset, model, Path(tmp) / f"{dataset}-{model}")
                cells.append(f"{test['test/acc']:.3f}")
                seconds.append(f"{took:.0f}")
                base = test
            dtw = base.get("test/baseline_dtw_acc")
            lines.append(
                f"| {dataset} | "
                + " | ".join(cells)
                + f" | {'—' if dtw is None else f'{dtw:.3f}'} | {base['test/baseline_majority_acc']:.3f} | "
                + "/".join(seconds)
                + " |"
            )
            print(lines[-1], flush=True)
    out = ROOT / "benchmarks" / "results" / "ucr_table.md"
    out.write_text("Test accuracy (UCR/UEA official test split)\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
