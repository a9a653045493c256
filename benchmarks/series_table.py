"""MASE on the test split of each bundled series: seqlab's models next to the classical
baselines, every number from one `python train.py` run (seed 42, defaults otherwise).

    python -m benchmarks.series_table            # writes benchmarks/results/series_table.md
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERIES = ["elec_equip", "sunspots", "nile", "co2"]
MODELS = ["ar", "rnn", "lstm", "gru", "transformer", "seq2seq"]
BASELINES = ["naive", "seasonal_naive", "ar", "ets"]


def run(series: str, model: str, out: Path) -> dict:
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        f"data={series}",
        f"model={model}",
        "trainer.max_epochs=60",
        "logger=csv",
        "extras.print_config=false",
        "callbacks.progress_bar=null",
        f"hydra.run.dir={out}",
    ]
    subprocess.run(command, check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return json.loads((out / "summary.json").read_text())["test"]


def main() -> None:
    rows = []
    chosen = sys.argv[1:] or SERIES
    with tempfile.TemporaryDirectory() as tmp:
        for series in chosen:
            results = {m: run(series, m, Path(tmp) / f"{series}-{m}") for m in MODELS}
            first = next(iter(results.values()))
            cells = [f"{results[m]['test/mase']:.3f}" for m in MODELS]
            cells += [f"{first[f'test/baseline_{b}_mase']:.3f}" for b in BASELINES]
            rows.append(f"| {series} | " + " | ".join(cells) + " |")
            print(rows[-1], flush=True)
    header = (
        "| series | "
        + " | ".join(MODELS)
        + " | "
        + " | ".join(f"{b} (baseline)" for b in BASELINES)
        + " |"
    )
    table = "\n".join([header, "|" + "---|" * (1 + len(MODELS) + len(BASELINES)), *rows])
    out = (
        ROOT
        / "benchmarks"
        / "results"
        / ("series_table.md" if chosen == SERIES else "series_table_partial.md")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        "Test MASE (lower is better; < 1 beats the in-sample seasonal-naive)\n\n" + table + "\n"
    )
    print(table)


if __name__ == "__main__":
    main()
