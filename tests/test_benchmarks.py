"""`python -m benchmarks.run --smoke` writes its results: one entry per benchmark, positive
numbers. No timing assertions: the smoke sizes only prove that the benchmark code runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmarks.run import BENCHMARKS
from tests.conftest import ROOT


@pytest.mark.slow  # ~30 s on 2 cores: too slow for the default suite; CI runs it with -m slow
def test_smoke_run_writes_every_benchmark(tmp_path):
    out = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(OMP_NUM_THREADS="1", WANDB_MODE="offline", HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-5000:]

    (json_path,) = out.glob("*-smoke.json")
    md_path = json_path.with_suffix(".md")
    assert (out / "latest-smoke.md").read_text() == md_path.read_text()

    report = json.loads(json_path.read_text())
    assert report["mode"] == "smoke"
    assert report["machine"]["torch"] and report["machine"]["available_cores"] >= 1
    assert set(report["benchmarks"]) == set(BENCHMARKS)
    for name, section in report["benchmarks"].items():
        assert not section["error"], f"{name}: {section['error']}"
        assert section["entries"], f"{name}: no entries"
        for row in section["entries"]:
            for key in ("a", "b", "ratio", "ratio_q1", "ratio_q3"):
                assert row[key] > 0, f"{name} / {row['case']}: {key}={row[key]}"
            assert row["n"] >= 1 and len(row["a_samples"]) == row["n"]

    text = md_path.read_text()
    assert text.count("| case | A | B | ratio | spread |") == len(BENCHMARKS)
    for section in report["benchmarks"].values():
        assert section["title"] in text
        for row in section["entries"]:
            assert f"| {row['case']} |" in text
