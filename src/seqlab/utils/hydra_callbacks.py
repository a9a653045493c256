"""Hydra callbacks: a table of every multirun job (overrides -> final metrics) at the end."""

from __future__ import annotations

import csv
import io
import json
import logging
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
            row["error"] = summary.get("error", "")
        else:
            row.update({"status": "failed", "error": "no summary.json (killed?)"})
        rows.append(row)
    return rows


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
        columns = ["job", "overrides", "status", *self.metrics, "error"]
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
        from seqlab.plotting import gradient_flow_comparison_figure, save_png

        out = save_png(
            gradient_flow_comparison_figure(curves),
            sweep_dir / "gradient_flow_comparison.png",
            bbox_inches=None,
        )
        log.info("gradient flow comparison: %s", out)
