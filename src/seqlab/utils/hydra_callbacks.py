"""Hydra callbacks: a table of every multirun job (overrides -> final metrics) at the end."""

from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

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
        with (sweep_dir / "summary.csv").open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in rows:
            cells = [_cell(row.get(c, "")) for c in columns]
            lines.append("| " + " | ".join(cells) + " |")
        (sweep_dir / "summary.md").write_text("\n".join(lines) + "\n")
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
        from seqlab.callbacks.media import matplotlib_headless

        matplotlib_headless()
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
        for label, first, last, *_steps in curves:
            axes[0].semilogy(first, label=label)
            axes[1].semilogy(last, label=label)
        axes[0].set_title(f"at initialisation (step {curves[0][3]})")
        axes[1].set_title(f"after training (step {curves[0][4]})")
        for ax in axes:
            ax.set_xlabel("input time step t (the loss is at the last step)")
        axes[0].set_ylabel("‖∂L_T / ∂x_t‖")
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        out = sweep_dir / "gradient_flow_comparison.png"
        fig.savefig(out, dpi=110)
        plt.close(fig)
        log.info("gradient flow comparison: %s", out)
