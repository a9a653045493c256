"""``model_card.md`` in every run folder: what the model is, what it was trained and tested
on, its test scores beside every baseline, what it cost, where it came from, how to use it,
and its known limits — all read from the run's ``summary.json`` (and its config), so the
card never says more than the run measured."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from seqlab.utils.files import atomic_write_text

# which way is better, by the metric's last word (test/baseline_naive_mase -> "mase")
HIGHER = {"acc", "f1", "diracc", "r2", "auroc", "precision", "recall"}
LOWER = {"loss", "mse", "mae", "rmse", "mase", "smape", "mape", "owa", "nll", "bpc", "ppl"}


def hardware() -> dict[str, Any]:
    """Where the run trained: CPU, core count, threads, GPU if any."""
    import torch

    found: dict[str, Any] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        found["gpu"] = torch.cuda.get_device_name(0)
        found["gpus"] = torch.cuda.device_count()
    return found


def direction(metric: str) -> str | None:
    """'higher' or 'lower' is better for ``metric`` (e.g. test/acc), None if unknown."""
    name = metric.split("/", 1)[-1]
    for known, way in ((HIGHER, "higher"), (LOWER, "lower")):
        if name in known or any(name.endswith("_" + k) for k in known):
            return way
    return None


def pairs(test: dict[str, float]) -> list[tuple[str, str, float, float]]:
    """(model metric, baseline metric, model value, baseline value) for every baseline: the
    baseline ``test/baseline_<name>_<m>`` (or ``test/baseline_<m>``) beside ``test/<m>``."""
    model = {k.split("/", 1)[1]: k for k in test if not k.split("/", 1)[1].startswith("baseline_")}
    found = []
    for key, value in test.items():
        rest = key.split("/", 1)[1]
        if not rest.startswith("baseline_"):
            continue
        rest = rest[len("baseline_") :]
        matches = [m for m in model if rest == m or rest.endswith("_" + m)]
        if matches:
            m = max(matches, key=len)
            found.append((model[m], key, test[model[m]], value))
    return found


def limits(test: dict[str, float]) -> list[str]:
    """'loses to <baseline> on <metric>' for each baseline the model does not beat."""
    lines = []
    for metric, base, ours, theirs in pairs(test):
        way = direction(metric)
        if way is None:
            continue
        loses = ours < theirs if way == "higher" else ours > theirs
        if loses or ours == theirs:
            verb = "loses to" if loses else "only ties"
            lines.append(
                f"{verb} `{base.split('/', 1)[1]}` on `{metric}` ({ours:.4g} vs {theirs:.4g}, "
                f"{way} is better)"
            )
    return lines


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def model_card(summary: dict[str, Any], config: dict[str, Any]) -> str:
    """The card's Markdown from a run's summary and its resolved config (plain dicts)."""
    model_cfg = config.get("model") or {}
    backbone = {k: v for k, v in (model_cfg.get("backbone") or {}).items() if k != "_target_"}
    data_cfg = {k: v for k, v in (config.get("data") or {}).items() if k != "_target_"}
    test = summary.get("test") or {}
    provenance = summary.get("provenance") or {}
    code = provenance.get("code") or {}
    versions = provenance.get("versions") or {}
    hw = summary.get("hardware") or {}
    ckpt = summary.get("best_checkpoint") or summary.get("last_checkpoint") or "<checkpoint>"
    run_dir = summary.get("run_dir", "")
    model_name = str(summary.get("model", "")).rsplit(".", 1)[-1]
    out = [
        f"# Model card: {model_name} for {summary.get('task')} on "
        f"{str(summary.get('data', '')).rsplit('.', 1)[-1]}",
        "",
        f"Run folder `{run_dir}`; every number below is read from its `summary.json`.",
        "",
        "## Model",
        "",
        f"- backbone `{summary.get('model')}`, {summary.get('params', '?'):,} parameters"
        if isinstance(summary.get("params"), int)
        else f"- backbone `{summary.get('model')}`",
        f"- settings: {', '.join(f'{k}={_fmt(v)}' for k, v in backbone.items()) or 'defaults'}",
        f"- task `{summary.get('task')}`",
        "",
        "## Data and split",
        "",
        f"- data `{summary.get('data')}`: "
        + (", ".join(f"{k}={_fmt(v)}" for k, v in data_cfg.items()) or "defaults"),
        f"- test data fingerprint: `{summary.get('data_fingerprint')}`"
        if summary.get("data_fingerprint")
        else "- test data fingerprint: not recorded by this datamodule",
        "",
        "## Test scores beside every baseline",
        "",
    ]
    paired = pairs(test)
    if paired:
        out += ["| metric | model | baseline | baseline score | better |", "|---|---|---|---|---|"]
        for metric, base, ours, theirs in paired:
            way = direction(metric)
            winner = ""
            if way and ours != theirs:
                wins = ours > theirs if way == "higher" else ours < theirs
                winner = "model" if wins else "baseline"
            elif way:
                winner = "tie"
            base_name = base.split("/", 1)[1]
            out.append(f"| `{metric}` | {ours:.4g} | `{base_name}` | {theirs:.4g} | {winner} |")
    alone = sorted(set(test) - {p[0] for p in paired} - {p[1] for p in paired})
    if alone:
        out += ["", "Other test metrics: " + ", ".join(f"`{k}` {test[k]:.4g}" for k in alone)]
    if not test:
        out.append("Not tested (`test=false`): no scores.")
    wall = summary.get("wall_s")
    out += [
        "",
        "## Training",
        "",
        f"- {summary.get('epochs')} epoch(s), {summary.get('global_step')} optimiser steps"
        + (f", {wall:.1f} s from start to summary" if isinstance(wall, int | float) else ""),
        *_stopped_line(summary.get("stopped")),
        "- hardware: " + (", ".join(f"{k} {v}" for k, v in hw.items()) or "not recorded"),
        f"- host `{provenance.get('host', '?')}`, started {provenance.get('started', '?')}",
        "",
        "## Provenance",
        "",
        f"- code: commit `{code.get('commit')}`"
        + (
            " with uncommitted changes (`code.diff` in the run folder)" if code.get("dirty") else ""
        ),
        f"- command: `{provenance.get('command', '?')}`",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
        "",
        "## Use it",
        "",
        "```bash",
        f"python eval.py ckpt_path='{ckpt}'                      # re-score the test split",
    ]
    if summary.get("model") == "seqlab.nn.text_to_image.clip.CLIP":
        out.append(
            f"python generate.py ckpt_path=<a DALL·E run's ckpt> rerank_ckpt='{ckpt}' "
            "candidates=8 prompt=...   # re-rank drawings"
        )
    elif summary.get("task") in ("language_modeling", "text_to_image"):
        out.append(f"python generate.py ckpt_path='{ckpt}' prompt=...   # sample from it")
    else:
        out.append(f"python predict.py ckpt_path='{ckpt}' data.path=<new data>")
    out += [
        f"python export.py ckpt_path='{ckpt}' format=onnx       # or format=torchscript",
        "```",
        "",
        "## Known limits",
        "",
    ]
    found = limits(test)
    if found:
        out += [f"- {line}" for line in found]
    elif paired:
        out.append("- beats every baseline it was tested against (on this one split, one seed)")
    else:
        out.append(
            "- no baseline was scored beside it: nothing says it is better than a trivial rule"
        )
    out.append("- one training run, one seed, one test split: no spread is measured")
    return "\n".join(out) + "\n"


def _stopped_line(stopped: dict | None) -> list[str]:
    if not stopped:
        return []
    planned = stopped.get("epochs_planned")
    line = f"- stopped by {stopped['reason']} after {stopped['epochs_done']} of {planned} epochs"
    if stopped["reason"] == "max_time":
        line += " (**cut short by its time bound**: the scores are those of a shortened run)"
    return [line]


def write_model_card(output_dir: Path, summary: dict[str, Any], config: dict[str, Any]) -> Path:
    return atomic_write_text(Path(output_dir) / "model_card.md", model_card(summary, config))
