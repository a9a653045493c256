"""`python train.py resume=<run dir>` (or `resume=last`, or `ckpt_path=last`) continues a run.

Before Hydra composes anything, the command line is rewritten to the original run's
overrides (from its ``.hydra/overrides.yaml``) plus whatever the user adds now (e.g.
``trainer.max_epochs=20``), with ``hydra.run.dir`` pointing back at the same folder. The
run then restarts from ``checkpoints/last.ckpt`` with the same epoch/step counters,
optimiser and scheduler state, and the same W&B run id.
"""

from __future__ import annotations

import os
from pathlib import Path

from seqlab.errors import SeqlabError
from seqlab.security import check_overrides, user_trusted

LAST = "checkpoints/last.ckpt"


def latest_run(log_dir: Path, task_name: str) -> Path:
    runs = sorted(
        (p.parent.parent for p in (log_dir / task_name / "runs").glob(f"*/{LAST}")),
        key=lambda run: (run / LAST).stat().st_mtime,
    )
    if not runs:
        raise SeqlabError(
            f"resume=last: no run of task_name={task_name} under {log_dir / task_name / 'runs'} "
            f"has {LAST}. Fix: give the run folder, resume=logs/<task>/runs/<timestamp>."
        )
    return runs[-1]


def rewrite_argv(argv: list[str], root: Path) -> list[str]:
    """The command line to compose a resumed run; unchanged when nothing asks to resume."""
    args = argv[1:]
    target = None
    kept = []
    for arg in args:
        if arg.startswith("resume="):
            target = arg.split("=", 1)[1]
        elif arg in {"ckpt_path=last", "ckpt_path='last'"}:
            target = "last"
        else:
            kept.append(arg)
    if target in (None, "", "null", "false"):
        return argv
    if "-m" in args or "--multirun" in args:
        raise SeqlabError("resume= continues one run; it cannot be combined with -m/--multirun.")
    if target in {"last", "true"}:
        task = next((a.split("=", 1)[1] for a in kept if a.startswith("task_name=")), None)
        run_dir = latest_run(root / "logs", task or _task_from_experiment(kept) or "train")
    else:
        run_dir = Path(target).expanduser().resolve()
    if not (run_dir / LAST).is_file():
        raise SeqlabError(
            f"resume: '{run_dir}' has no {LAST}. Fix: point resume= at a run folder "
            "(logs/<task>/runs/<timestamp>) that saved checkpoints."
        )
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    original: list[str] = []
    if overrides_file.is_file():
        from omegaconf import OmegaConf

        original = [str(o) for o in OmegaConf.load(overrides_file)]
        original = [o for o in original if not o.startswith(("resume=", "ckpt_path="))]
        # a run folder may come from someone else: replay nothing that could run code
        check_overrides(original, str(overrides_file), user_trusted(_trusted_from(kept)))
    return [argv[0], *original, *kept, f"resume={run_dir}", f"hydra.run.dir={run_dir}"]


def _trusted_from(args: list[str]) -> str:
    value = next((a.split("=", 1)[1] for a in args if a.startswith("trusted_targets=")), "")
    return value.strip("[]'\"")


def _task_from_experiment(args: list[str]) -> str | None:
    experiment = next((a.split("=", 1)[1] for a in args if a.startswith("experiment=")), None)
    return experiment


def resume_checkpoint(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / LAST


def wandb_run_id(run_dir: str | os.PathLike) -> str | None:
    path = Path(run_dir) / "wandb_run_id"
    return path.read_text().strip() if path.is_file() else None
