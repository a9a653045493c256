"""`.ci/run`: its stages in order, the slow stage bounded by what is left of the CI budget,
each slow test by pytest-timeout, and the total time printed however CI ends. `make` is a
stand-in here that records its arguments and sleeps as long as it is told."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

from tests.conftest import ROOT

FAKE_MAKE = """#!/usr/bin/env bash
echo "make $*" >> "$CALLS"
if [ "$1" = test-all ]; then sleep "$SLOW_SLEEP"; fi
"""


def _ci(tmp_path, **env: str) -> tuple[subprocess.CompletedProcess, list[str], float]:
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", repo / ".ci" / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").write_text(FAKE_MAKE)
    (bin_dir / "make").chmod(0o755)
    calls = tmp_path / "calls"
    environ = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls)}
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(repo / ".ci" / "run")],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = calls.read_text().splitlines() if calls.exists() else []
    return result, lines, time.monotonic() - started


def test_ci_runs_suite_lint_and_bounded_slow_tests_and_prints_its_time(tmp_path):
    result, calls, _ = _ci(tmp_path, SLOW_SLEEP="0", CI_BUDGET_S="100", SLOW_STAGE_MIN_S="10")
    assert result.returncode == 0, result.stderr
    assert calls == [
        "make test ARGS=--timeout=420",
        "make lint",
        "make test-all ARGS=-m slow --timeout=420",
    ]
    budget = re.search(r"slow tests \(budget (\d+) s, 420 s per test\)", result.stdout)
    assert budget and 95 <= int(budget.group(1)) <= 100  # what was left of the 100 s
    assert result.stdout.strip().splitlines()[-1].startswith("CI total: ")


def test_a_slow_stage_over_its_budget_is_stopped_and_ci_fails_with_its_time(tmp_path):
    result, calls, took = _ci(
        tmp_path, SLOW_SLEEP="30", CI_BUDGET_S="1", SLOW_STAGE_MIN_S="1", SLOW_TEST_TIMEOUT_S="2"
    )
    assert result.returncode == 124 and took < 15  # timeout's "over budget", not 30 s later
    assert calls[-1] == "make test-all ARGS=-m slow --timeout=2"
    assert result.stdout.strip().splitlines()[-1].startswith("CI total: ")


def test_no_slow_stage_without_enough_budget_left(tmp_path):
    result, calls, _ = _ci(tmp_path, SLOW_SLEEP="0", CI_BUDGET_S="250")
    assert result.returncode == 1 and len(calls) == 2  # suite and lint ran, slow stage did not
    assert "250 s left of the 250 s budget, needs 300 s" in result.stderr
    assert "CI total: " in result.stdout
