"""Hydra callbacks: a table of every multirun job (overrides -> final metrics) at the end."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from seqlab.utils.files import atomic_write_text

log = logging.getLogger(__name__)


def collect_jobs(sweep_dir: Path, metrics: list[str]) -> list[dict[str, Any]]:
    rows = []
    jobs = [p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    for job in sorted(jobs, key=lambda p: int(p.name)):
        overrides_file = job / ".hydra" / "overrides.yaml"
        overrides = OmegaConf.load(overrides_file) if overrides_file.is_file() else []
        row: dict[str, Any] = {"job": int(job.name), "overrides": " ".join(map(str, overrides))}
        summary_file = job / "summary.json"
        if summary_file.is_file():
            summary = json.loads(summary_file.read_text())
            row["status"] = summary.get("status", "ok")
            flat = {**summary.get("val", {}), **summary.get("test", {})}
            for metric in metrics:
                row[metric] = flat.get(metric, "")
            row["epochs"] = epochs_cell(summary.get("stopped"))
            row["wall_s"] = summary.get("wall_s", "")
            row["error"] = summary.get("error", "")
        else:
            row.update({"status": "failed", "error": "no summary.json (killed?)"})
        rows.append(row)
    return rows


def epochs_cell(stopped: dict | None) -> str:
    """'37/300 (max_time)' for a job its time bound cut short, '300/300' for one that ran its
    course, '' when the summary does not say."""
    if not stopped:
        return ""
    planned = stopped.get("epochs_planned")
    cell = f"{stopped.get('epochs_done')}/{planned if planned is not None else '-'}"
    reason = stopped.get("reason")
    return f"{cell} ({reason})" if reason in ("max_time", "interrupted", "early_stopping") else cell


# (failed, total, table) of the last multirun in this process, for the exit status
LAST_MULTIRUN: dict[str, Any] = {}


def multirun_exit_status() -> int:
    """1 after a multirun with failed jobs (unless ``allow_failed_jobs=true``), else 0."""
    failed, total = LAST_MULTIRUN.get("failed", 0), LAST_MULTIRUN.get("total", 0)
    if not failed or LAST_MULTIRUN.get("allowed"):
        return 0
    print(
        f"error: {failed} of {total} multirun job(s) failed; table: {LAST_MULTIRUN['table']} "
        "(allow_failed_jobs=true keeps exit status 0)",
        file=sys.stderr,
    )
    return 1


class MultirunSummary(Callback):
    """Writes ``summary.csv`` and ``summary.md`` into the multirun folder and remembers how
    many jobs failed, so that the sweep exits non-zero after every job ran."""

    def __init__(self, metrics: list[str] | None = None) -> None:
        self.metrics = list(metrics or ["val/loss", "test/loss"])

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        rows = collect_jobs(sweep_dir, self.metrics)
        if not rows:
            return
        columns = ["job", "overrides", "status", *self.metrics, "epochs", "wall_s", "error"]
        table = io.StringIO(newline="")
        writer = csv.DictWriter(table, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(sweep_dir / "summary.csv", table.getvalue())
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in rows:
            cells = [_cell(row.get(c, "")) for c in columns]
            lines.append("| " + " | ".join(cells) + " |")
        atomic_write_text(sweep_dir / "summary.md", "\n".join(lines) + "\n")
        failed = sum(row["status"] != "ok" for row in rows)
        LAST_MULTIRUN.update(
            failed=failed,
            total=len(rows),
            table=str(sweep_dir / "summary.md"),
            allowed=bool(config.get("allow_failed_jobs", False)),
        )
        log.info(
            "multirun: %d job(s), %d failed; table: %s", len(rows), failed, sweep_dir / "summary.md"
        )
        print("\n".join(lines))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("|", "/").replace("\n", " ")[:200]


class GradientFlowComparison(Callback):
    """After a multirun: one figure comparing ‖∂L_T/∂x_t‖ over t across the jobs (e.g.
    rnn vs lstm vs gru), from each job's ``gradient_flow.csv`` (first and last logged step)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        import numpy as np

        sweep_dir = Path(config.hydra.sweep.dir)
        curves = []
        for job in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()):
            table = job / "gradient_flow.csv"
            if not table.is_file():
                continue
            rows = np.loadtxt(table, delimiter=",", skiprows=1, ndmin=2)
            overrides_file = job / ".hydra" / "overrides.yaml"
            overrides = (
                list(map(str, OmegaConf.load(overrides_file))) if overrides_file.is_file() else []
            )
            curves.append(
                (
                    overrides or [job.name],
                    rows[0, 1:],
                    rows[-1, 1:],
                    int(rows[0, 0]),
                    int(rows[-1, 0]),
                )
            )
        if not curves:
            return
        common = set.intersection(*(set(c[0]) for c in curves))
        curves = [(" ".join(o for o in c[0] if o not in common) or "job", *c[1:]) for c in curves]
        from seqlab.figures.gradients import gradient_flow_comparison_figure
        from seqlab.figures.worker import save_png

        out = save_png(
            gradient_flow_comparison_figure(curves),
            sweep_dir / "gradient_flow_comparison.png",
            bbox_inches=None,
        )
        log.info("gradient flow comparison: %s", out)


def read_metric_columns(metrics_file: Path, names: list[str]) -> dict[str, tuple[list, list]]:
    """``{name: (steps, values)}`` from a Lightning ``metrics.csv`` (one metric per cell,
    empty cells skipped; ``nan``/``inf`` kept: they are what an exploding run logs)."""
    columns: dict[str, tuple[list, list]] = {name: ([], []) for name in names}
    with metrics_file.open(newline="") as file:
        for row in csv.DictReader(file):
            for name in names:
                if row.get(name) not in (None, "") and row.get("step") not in (None, ""):
                    columns[name][0].append(int(float(row["step"])))
                    columns[name][1].append(float(row[name]))
    return columns


class GradNormComparison(Callback):
    """After a multirun (e.g. without and with gradient clipping): one figure with every
    job's ``train/grad_norm`` (before clipping, log scale) and ``train/loss`` side by side,
    read from each job's CSV metrics, into ``<multirun dir>/<filename>``. A job stopped by
    a non-finite loss is drawn up to where it stopped, and says so in the legend."""

    def __init__(
        self, filename: str = "exploding_gradients.png", metrics_file: str = "csv/metrics.csv"
    ) -> None:
        self.filename = filename
        self.metrics_file = metrics_file

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        runs, clip_vals = [], set()
        for job in sorted(
            (p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()),
            key=lambda p: int(p.name),
        ):
            metrics_file = job / self.metrics_file
            if not metrics_file.is_file():
                log.warning("grad-norm comparison: no %s (logger=csv off?)", metrics_file)
                continue
            columns = read_metric_columns(metrics_file, ["train/grad_norm", "train/loss"])
            (grad_steps, grad_norm), (loss_steps, loss) = columns.values()
            if not grad_norm:
                log.warning("grad-norm comparison: no train/grad_norm in %s", metrics_file)
                continue
            overrides_file = job / ".hydra" / "overrides.yaml"
            overrides = (
                list(map(str, OmegaConf.load(overrides_file))) if overrides_file.is_file() else []
            )
            config_file = job / ".hydra" / "config.yaml"
            if config_file.is_file():
                clip = OmegaConf.load(config_file).get("trainer", {}).get("gradient_clip_val")
                if clip:
                    clip_vals.add(float(clip))
            runs.append(
                {
                    "overrides": overrides or [job.name],
                    "grad_steps": grad_steps,
                    "grad_norm": grad_norm,
                    "loss_steps": loss_steps,
                    "loss": loss,
                    "note": _stop_note(job, loss_steps, loss),
                }
            )
        if not runs:
            return
        common = set.intersection(*(set(r["overrides"]) for r in runs))
        for run in runs:
            kept = [o for o in run.pop("overrides") if o not in common]
            run["label"] = " ".join(_clip_label(kept)) or "job"
        from seqlab.figures.gradients import grad_norm_comparison_figure
        from seqlab.figures.worker import save_png

        figure = grad_norm_comparison_figure(
            runs, clip_val=clip_vals.pop() if len(clip_vals) == 1 else None
        )
        out = save_png(figure, sweep_dir / self.filename, bbox_inches=None)
        for run in runs:
            finite = [v for v in run["grad_norm"] if math.isfinite(v)]
            log.info(
                "%s: train/grad_norm first %.3g, largest finite %.3g, last %.3g; "
                "train/loss first %s, last %s%s",
                run["label"],
                run["grad_norm"][0],
                max(finite, default=math.nan),
                run["grad_norm"][-1],
                f"{run['loss'][0]:.4g}" if run["loss"] else "-",
                f"{run['loss'][-1]:.4g}" if run["loss"] else "-",
                f" ({run['note']})" if run["note"] else "",
            )
        log.info("grad-norm comparison: %s", out)


def _stop_note(job: Path, loss_steps: list, loss: list) -> str:
    """How a run ended badly ('stopped: train/loss is inf at global step 12'), or ''."""
    import re

    summary_file = job / "summary.json"
    if summary_file.is_file():
        summary = json.loads(summary_file.read_text())
        if summary.get("status", "ok") != "ok":
            found = re.search(r"train/loss is \S+ at global step \d+", summary.get("error", ""))
            return f"stopped: {found.group(0)}" if found else "failed"
    bad = [(s, v) for s, v in zip(loss_steps, loss, strict=True) if not math.isfinite(v)]
    return f"train/loss is {bad[0][1]} at step {bad[0][0]}" if bad else ""


def _clip_label(overrides: list[str]) -> list[str]:
    """trainer.gradient_clip_val=null -> 'no clipping'; =1.0 -> 'clip ‖g‖ at 1.0'."""
    out = []
    for item in overrides:
        key, _, value = item.partition("=")
        if key.lstrip("+") == "trainer.gradient_clip_val":
            none = value.lower() in ("null", "none", "0", "0.0", "")
            item = "no clipping" if none else f"clip ‖g‖ at {value}"
        out.append(item)
    return out
