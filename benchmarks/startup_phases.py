"""Where start-up goes: process start -> first training step, phase by phase.

Each command runs once as a user runs it (`python train.py ...`, one epoch of two batches,
no test stage) and reports the breakdown the run itself records (`summary.json`:
``startup_s``, see `seqlab.cli.startup`):

    python -m benchmarks.startup_phases  # writes benchmarks/results/startup_phases.md

Before/after a change: ``--compare DIR`` runs another checkout's ``train.py`` (its own
``src`` first on the path) alternately with this one, ``--reps`` times per command, and
tabulates the median of each phase for both (same machine, interleaved)::

    git worktree add /tmp/before <commit>
    python -m benchmarks.startup_phases --compare /tmp/before --reps 5 --out /tmp/cmp.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    # as users run them: W&B (offline without a key) + CSV
    "default (lstm, stocks) + W&B": ["logger=default"],
    "gpt_shakespeare + W&B": ["experiment=gpt_shakespeare", "logger=default"],
}
KEYS = ["imports_and_config", "data_and_model", "trainer_and_loggers", "run_header"]
KEYS += ["fit_start_to_first_step", "total_to_first_step"]
SHORT = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "test=false", "logger=csv"]


def measure(overrides: list[str], out: Path, tree: Path = ROOT) -> dict:
    env = dict(os.environ, WANDB_MODE=os.environ.get("WANDB_MODE", "offline"))
    env.pop("SEQLAB_T0", None)
    env.pop("SEQLAB_ROOT", None)
    env["PYTHONPATH"] = os.pathsep.join([str(tree / "src"), env.get("PYTHONPATH", "")])
    command = [sys.executable, str(tree / "train.py"), *SHORT, *overrides, f"hydra.run.dir={out}"]
    if "debug=fdr" in overrides:  # fast_dev_run writes no summary of its own loggers: same file
        command = [c for c in command if not c.startswith(("+trainer.limit", "trainer.max_epochs"))]
    subprocess.run(
        command, check=True, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
    )
    return json.loads((out / "summary.json").read_text()).get("startup_s") or {}


def table(rows: list[tuple[str, dict]]) -> list[str]:
    lines = ["| command | " + " | ".join(KEYS) + " |", "|" + "---|" * (len(KEYS) + 1)]
    lines += [
        f"| {n} | " + " | ".join(f"{p.get(k, float('nan')):.2f}" for k in KEYS) + " |"
        for n, p in rows
    ]
    return lines


def medians(samples: list[dict]) -> dict:
    return {k: statistics.median(s[k] for s in samples if k in s) for k in KEYS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup_phases")
    parser.add_argument("--compare", type=Path, default=None, help="another checkout (before)")
    parser.add_argument("--reps", type=int, default=1, help="runs per command (and side)")
    parser.add_argument("--warmup", type=int, default=0, help="untimed runs first (caches)")
    parser.add_argument("--commands", default="", help="names separated by ; (default: all)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "startup_phases.md"
    )
    args = parser.parse_args(argv)
    names = [n for n in COMMANDS if not args.commands or n in args.commands.split(";")]
    sides = {"after": ROOT, "before": args.compare} if args.compare else {"": ROOT}
    samples: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(-args.warmup, args.reps):
            for name in names:
                order = list(sides.items())
                if rep % 2:
                    order.reverse()
                for side, tree in order:
                    folder = "".join(c if c.isalnum() else "_" for c in f"{name}{side}{rep}")
                    phases = measure(COMMANDS[name], Path(tmp) / folder, tree)
                    if rep >= 0:
                        samples.setdefault((name, side), []).append(phases)
                    print(name, side or "", phases, flush=True)
    rows = [
        (f"{name} ({side})" if side else name, medians(samples[(name, side)]))
        for name in names
        for side in sides
    ]
    lines = table(rows)
    if args.compare:
        lines += ["", "| command | total after / before |", "|---|---:|"]
        for name in names:
            after = [s["total_to_first_step"] for s in samples[(name, "after")]]
            before = [s["total_to_first_step"] for s in samples[(name, "before")]]
            ratios = [a / b for a, b in zip(after, before, strict=True)]
            lines.append(f"| {name} | {statistics.median(ratios):.2f} |")
    head = f"Seconds from process start to the first training step, median of {args.reps} run(s)"
    if args.compare:
        head += f"; before = {args.compare}, after = this checkout, runs alternating"
    args.out.write_text(head + "\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
