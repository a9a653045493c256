"""What the entry points report: final metrics, ``summary.json``-style files, result tables.

Shared by ``train.py`` and ``eval.py`` (and anything else that summarises a run).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seqlab.utils.files import atomic_write_text


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number


def metrics_of(callback_metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    return {
        key: _number(value)
        for key, value in sorted(callback_metrics.items())
        if key.startswith(prefix) and _number(value) is not None
    }


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def print_results(metrics: dict[str, float], title: str) -> None:
    """Model next to baseline: `x` pairs with `baseline_x`; other baselines get own rows."""
    import rich
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("model", justify="right")
    table.add_column("baseline", justify="right")
    paired = set()
    for key, value in metrics.items():
        stage, name = key.split("/", 1)
        if name.startswith("baseline_"):
            continue
        base_key = f"{stage}/baseline_{name}"
        base = metrics.get(base_key)
        paired.add(base_key)
        table.add_row(key, f"{value:.6g}", "" if base is None else f"{base:.6g}")
    for key, value in metrics.items():
        if "/baseline_" in key and key not in paired:
            table.add_row(key, "", f"{value:.6g}")
    rich.print(table)
