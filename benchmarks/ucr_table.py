"""Test accuracy on UCR/UEA sets: seqlab's models next to 1-NN DTW and MiniROCKET, one run
each.

    python -m benchmarks.ucr_table                     # writes benchmarks/results/ucr_table.md
    python -m benchmarks.ucr_table GunPoint ArrowHead  # some sets only (prints, writes nothing)

Each run: `python train.py experiment=series_classification data.name=<set> model=<model>`
(300 epochs of a fixed schedule, seed 42, the final model tested; FCN at width 64 on ACSF1 as
in experiment=fcn_acsf1); the time column is the whole command's wall time on this 2-core
machine, baselines included. The reference classifiers come from the same runs.
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
OVERRIDES = {("fcn", "ACSF1"): ["model.backbone.hidden_size=64"]}  # as in experiment=fcn_acsf1


def run(dataset: str, model: str, out: Path) -> tuple[dict, float]:
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "experiment=series_classification",
        f"data.name={dataset}",
        f"model={model}",
        *OVERRIDES.get((model, dataset), []),
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
    header = ["dataset", *MODELS, "1-NN DTW", "MiniROCKET", "majority", "seconds per run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in chosen:
            cells, seconds, base = [], [], {}
            for model in MODELS:
                test, took = run(dataset, model, Path(tmp) / f"{dataset}-{model}")
                cells.append(f"{test['test/acc']:.3f}")
                seconds.append(f"{took:.0f}")
                base = test
            references = [
                "—" if base.get(key) is None else f"{base[key]:.3f}"
                for key in ("test/baseline_dtw_acc", "test/baseline_rocket_acc")
            ]
            lines.append(
                f"| {dataset} | "
                + " | ".join(cells + references)
                + f" | {base['test/baseline_majority_acc']:.3f} | "
                + "/".join(seconds)
                + " |"
            )
            print(lines[-1], flush=True)
    if sys.argv[1:]:
        return
    out = ROOT / "benchmarks" / "results" / "ucr_table.md"
    out.write_text("Test accuracy (UCR/UEA official test split)\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
