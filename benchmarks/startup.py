"""6. Startup: wall time of ``python train.py --help`` and of a run up to its first step.

Each sample is a fresh subprocess (the same interpreter as the benchmark). The time to the
first training step is written by `FirstStepTimer`, injected with a Hydra override
(``+callbacks.first_step._target_=benchmarks.startup.FirstStepTimer``): at the first
training batch it writes the seconds since the parent started the process
(``SEQLAB_BENCH_T0``, set just before the spawn; without it, the process start time from
``/proc/self/stat``). The reference for it is the bare import floor,
``python -c "import torch, lightning"``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import lightning as L

from benchmarks.common import ROOT, Section, Settings, entry

HELP_TARGET_S = 1.5
T0_ENV = "SEQLAB_BENCH_T0"


def seconds_since_process_start() -> tuple[float, str]:
    """(seconds, source): from the parent's timestamp when given, else from /proc."""
    t0 = os.environ.get(T0_ENV)
    if t0:
        return time.time() - float(t0), "parent timestamp"
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        # field 22 (starttime, clock ticks after boot); the command name may contain spaces
        stat = Path("/proc/self/stat").read_text()
        start = int(stat.rsplit(")", 1)[1].split()[19]) / ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start, "/proc/self/stat"
    except (OSError, ValueError, IndexError):
        return float("nan"), "unavailable"


class FirstStepTimer(L.Callback):
    """Writes ``{"seconds": ..., "source": ...}`` to ``path`` at the first training batch."""

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self.done = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.done:
            return
        self.done = True
        seconds, source = seconds_since_process_start()
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        Path(self.path).write_text(json.dumps({"seconds": seconds, "source": source}))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", HYDRA_FULL_ERROR="1")
    return env


def timed_subprocess(args: list[str], cwd: Path, timeout: float = 300) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        args,
        cwd=cwd,
        env=_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} ... failed:\n{result.stderr[-2000:]}")
    return seconds


def first_step_seconds(settings: Settings, index: int) -> tuple[float, float]:
    """(seconds to the first training step, total wall seconds) of one debug=fdr run."""
    out = settings.work_dir / f"startup-fdr-{index}"
    marker = out / "first_step.json"
    args = [
        sys.executable,
        str(ROOT / "train.py"),
        "debug=fdr",
        "logger=csv",
        "extras.print_config=false",
        f"hydra.run.dir={out}",
        "+callbacks.first_step._target_=benchmarks.startup.FirstStepTimer",
        f"+callbacks.first_step.path={marker}",
    ]
    env = _env()
    env[T0_ENV] = repr(time.time())
    start = time.perf_counter()
    result = subprocess.run(
        args,
        cwd=settings.work_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    total = time.perf_counter() - start
    if result.returncode != 0 or not marker.is_file():
        raise RuntimeError(f"train.py debug=fdr failed:\n{result.stderr[-3000:]}")
    return float(json.loads(marker.read_text())["seconds"]), total


def run(settings: Settings) -> Section:
    section = Section(
        name="startup",
        title="6. Startup: train.py --help, and a run to its first training step",
        a_label="seqlab (s)",
        b_label="reference (s)",
        ratio_label="seqlab / reference",
        target=f"--help under {HELP_TARGET_S:g} s (ratio ≤ 1)",
    )
    cwd = settings.work_dir
    help_args = [sys.executable, str(ROOT / "train.py"), "--help"]
    floor_args = [sys.executable, "-c", "import torch, lightning"]
    if not settings.smoke:
        timed_subprocess(help_args, cwd)  # warm the file cache
    helps = [timed_subprocess(help_args, cwd) for _ in range(settings.pick(5, 1))]
    section.entries.append(
        entry(
            "train.py --help vs target",
            helps,
            [HELP_TARGET_S] * len(helps),
            unit="s",
            extra={"meets_target": sorted(helps)[len(helps) // 2] <= HELP_TARGET_S},
        )
    )
    firsts, totals, floors = [], [], []
    for i in range(settings.pick(3, 1)):
        first, total = first_step_seconds(settings, i)
        firsts.append(first)
        totals.append(total)
        floors.append(timed_subprocess(floor_args, cwd))
    section.entries.append(
        entry(
            "debug=fdr logger=csv to first step vs import torch+lightning",
            firsts,
            floors,
            unit="s",
            extra={"total_run_s": totals},
        )
    )
    section.notes.append(
        "Fresh subprocesses, OS file cache warm. The reference of the first row is the "
        f"{HELP_TARGET_S:g} s target itself; that of the second row is "
        "`python -c 'import torch, lightning'`, the floor any Lightning run pays."
    )
    return section
