"""Test accuracy on UCR/UEA sets: seqlab's models next to 1-NN DTW and MiniROCKET, one run
each.

    python -m benchmarks.ucr_table                     # writes benchmarks/results/ucr_table.md
    python -m benchmarks.ucr_table GunPoint ArrowHead  # some sets only (prints, writes nothing)
    python -m benchmarks.ucr_table --models=fcn        # some models only (prints)

Each run: `python train.py experiment=series_classification data.name=<set> model=<model>`
(300 epochs of a fixed schedule, seed 42, the final model tested; FCN on the whole TRAIN file
and at width 64 on ACSF1, as in experiment=fcn_<set>); the time column is the whole command's wall time on this 2-core
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
# as in experiment=fcn_<set>: FCN's schedule reads no validation, so it trains on the whole
# official TRAIN file (data.val_frac=0), as the references do; at width 64 on ACSF1
OVERRIDES = {
    **{("fcn", name): ["data.val_frac=0"] for name in DATASETS},
    ("fcn", "ACSF1"): ["data.val_frac=0", "model.backbone.hidden_size=64"],
}


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
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    took = time.time() - start
    if done.returncode != 0:  # the table goes on; the error is printed
        print(f"{dataset} {model} failed:\n{done.stderr[-3000:]}", file=sys.stderr, flush=True)
        return {}, took
    return json.loads((out / "summary.json").read_text())["test"], took


def main() -> None:
    args = sys.argv[1:]
    models = MODELS
    if args and args[0].startswith("--models="):  # e.g. --models=fcn GunPoint
        models, args = args[0].split("=", 1)[1].split(","), args[1:]
    chosen = args or DATASETS
    header = ["dataset", *models, "1-NN DTW", "MiniROCKET", "majority", "seconds per run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in chosen:
            cells, seconds, base = [], [], {}
            for model in models:
                test, took = run(dataset, model, Path(tmp) / f"{dataset}-{model}")
                cells.append(f"{test['test/acc']:.3f}" if test else "failed")
                seconds.append(f"{took:.0f}")
                base = test or base
            references = [
                "—" if base.get(key) is None else f"{base[key]:.3f}"
                for key in ("test/baseline_dtw_acc", "test/baseline_rocket_acc")
            ]
            lines.append(
                f"| {dataset} | "
                + " | ".join(cells + references)
                + f" | {base.get('test/baseline_majority_acc', float('nan')):.3f} | "
                + "/".join(seconds)
                + " |"
            )
            print(lines[-1], flush=True)
    if sys.argv[1:]:  # a part of the table: printed only
        return
    out = ROOT / "benchmarks" / "results" / "ucr_table.md"
    out.write_text("Test accuracy (UCR/UEA official test split)\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
