"""Where start-up goes: process start -> first training step, phase by phase.

Each command runs once as a user runs it (`python train.py ...`, one epoch of two batches,
no test stage) and reports the breakdown the run itself records (`summary.json`:
``startup_s``, see `seqlab.cli.startup`):

    python -m benchmarks.startup_phases  # writes benchmarks/results/startup_phases.md
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "default (lstm, stocks)": [],
    "default, media off": ["callbacks.gradient_flow=null", "callbacks.model_summary=null"],
    "gpt_shakespeare": ["experiment=gpt_shakespeare"],
    "debug=fdr": ["debug=fdr"],
}
SHORT = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "test=false", "logger=csv"]


def measure(overrides: list[str], out: Path) -> dict:
    env = dict(os.environ, WANDB_MODE=os.environ.get("WANDB_MODE", "offline"))
    env.pop("SEQLAB_T0", None)
    command = [sys.executable, str(ROOT / "train.py"), *SHORT, *overrides, f"hydra.run.dir={out}"]
    if "debug=fdr" in overrides:  # fast_dev_run writes no summary of its own loggers: same file
        command = [c for c in command if not c.startswith(("+trainer.limit", "trainer.max_epochs"))]
    subprocess.run(
        command, check=True, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
    )
    return json.loads((out / "summary.json").read_text()).get("startup_s") or {}


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in COMMANDS.items():
            folder = "".join(c if c.isalnum() else "_" for c in name)
            phases = measure(overrides, Path(tmp) / folder)
            rows.append((name, phases))
            print(name, phases, flush=True)
    keys = ["imports_and_config", "data_and_model", "trainer_and_loggers", "run_header"]
    keys += ["fit_start_to_first_step", "total_to_first_step"]
    lines = ["| command | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 1)]
    lines += [
        f"| {n} | " + " | ".join(f"{p.get(k, float('nan')):.2f}" for k in keys) + " |"
        for n, p in rows
    ]
    out = ROOT / "benchmarks" / "results" / "startup_phases.md"
    out.write_text(
        "Seconds from process start to the first training step (one run each)\n\n"
        + "\n".join(lines)
        + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
