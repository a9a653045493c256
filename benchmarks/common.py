"""Timing helpers shared by the benchmarks: settings, paired A/B measurement, results.

Every comparison measures its two sides in the same process, interleaved repetition by
repetition (A then B, then B then A, ...), after warm-up. The headline number is the median
of the per-repetition ratios, and the spread is their interquartile range: on a shared CPU
absolute times drift by tens of percent between minutes, but a ratio measured side by side
is stable.
"""

from __future__ import annotations

import os
import platform
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


# ----------------------------------------------------------------------------- settings


@dataclass
class Settings:
    """How hard to measure. ``smoke``: tiny sizes and one repetition (only proves it runs)."""

    smoke: bool = False
    reps: int = 5
    warmup: int = 2
    work_dir: Path = field(default_factory=lambda: Path("."))
    breakdown: str = "auto"  # overhead breakdown: auto (when over target) | always | never
    # results of earlier benchmarks in the same invocation (e.g. step times for the data one)
    shared: dict[str, Any] = field(default_factory=dict)

    def pick(self, full: Any, smoke: Any) -> Any:
        return smoke if self.smoke else full


def offline_env() -> None:
    """W&B offline and Hugging Face offline: benchmarks never touch the network or prompt."""
    os.environ["WANDB_MODE"] = "offline"
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_CONSOLE", "off")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("SEQLAB_ROOT", str(ROOT))


# ----------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (q in [0, 100]), as numpy's default."""
    xs = sorted(values)
    if not xs:
        raise ValueError("no values")
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50.0)


def time_call(fn: Callable[[], Any], inner: int = 1) -> float:
    """Seconds per call of fn, averaged over ``inner`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def interleaved(
    fn_a: Callable[[], Any],
    fn_b: Callable[[], Any],
    *,
    reps: int,
    warmup: int,
    inner: int = 1,
) -> tuple[list[float], list[float]]:
    """Seconds per call of A and of B, ``reps`` paired samples each, after ``warmup`` calls
    of each. The order alternates every repetition so slow drift hits both sides alike."""
    for _ in range(warmup):
        fn_a()
        fn_b()
    a: list[float] = []
    b: list[float] = []
    for rep in range(reps):
        if rep % 2 == 0:
            a.append(time_call(fn_a, inner))
            b.append(time_call(fn_b, inner))
        else:
            b.append(time_call(fn_b, inner))
            a.append(time_call(fn_a, inner))
    return a, b


# ----------------------------------------------------------------------------- results


@dataclass
class Entry:
    """One row: case, the two sides (medians, in ``unit``) and their ratio.

    ``ratio`` is the median of the per-repetition ratios (paired samples), ``ratio_q1`` and
    ``ratio_q3`` their quartiles (the spread).
    """

    case: str
    a: float
    b: float
    unit: str
    ratio: float
    ratio_q1: float
    ratio_q3: float
    n: int
    a_samples: list[float] = field(default_factory=list)
    b_samples: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def entry(
    case: str,
    a_samples: Sequence[float],
    b_samples: Sequence[float],
    *,
    unit: str,
    ratio: Callable[[float, float], float] = lambda a, b: a / b,
    extra: dict[str, Any] | None = None,
) -> Entry:
    """Build a row from paired samples; ``ratio(a, b)`` per pair (default a / b)."""
    if not a_samples or len(a_samples) != len(b_samples):
        raise ValueError(f"{case}: need paired samples, got {len(a_samples)} and {len(b_samples)}")
    ratios = [ratio(a, b) for a, b in zip(a_samples, b_samples, strict=True)]
    return Entry(
        case=case,
        a=median(a_samples),
        b=median(b_samples),
        unit=unit,
        ratio=median(ratios),
        ratio_q1=percentile(ratios, 25.0),
        ratio_q3=percentile(ratios, 75.0),
        n=len(ratios),
        a_samples=[float(x) for x in a_samples],
        b_samples=[float(x) for x in b_samples],
        extra=dict(extra or {}),
    )


@dataclass
class Section:
    """One comparison: what A and B are, what the ratio means, the rows and notes."""

    name: str
    title: str
    a_label: str
    b_label: str
    ratio_label: str
    # how the ratio prints: "x" (2.31x) or "pct" (ratio - 1 as a signed percentage)
    ratio_format: str = "x"
    target: str = ""
    entries: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- machine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown-cpu"


def machine_info() -> dict[str, Any]:
    import torch

    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        available = os.cpu_count() or 1
    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "available_cores": available,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "cuda": torch.cuda.is_available(),
    }
    try:
        import lightning

        info["lightning"] = lightning.__version__
    except ImportError:
        pass
    return info


def slug(text: str, max_len: int = 40) -> str:
    text = re.sub(r"\((r|tm)\)|\bcpu\b|\bprocessor\b|@.*$|\d+-core", " ", text.lower())
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text[:max_len].strip("-") or "machine"


def machine_slug(info: dict[str, Any]) -> str:
    """Short name for result files: first label of the hostname plus the CPU model."""
    host = str(info.get("hostname", "")).split(".")[0]
    cpu = " ".join(str(info.get("cpu", "")).split()[:4])
    return slug(f"{host} {cpu}")


# ----------------------------------------------------------------------------- configs


def compose_train(overrides: Sequence[str], output_dir: Path):
    """Compose ``configs/train.yaml`` as ``python train.py <overrides>`` would, in-process,
    with the run folder at ``output_dir`` (the same dance as tests/conftest.py)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    offline_env()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = str(ROOT)
        cfg.hydra.job.num = 0
        cfg.hydra.mode = RunMode.RUN
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir / "logs")
    return cfg


def clear_hydra() -> None:
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
