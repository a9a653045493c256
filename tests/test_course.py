"""docs/course.md cites real things: every file, test, config and experiment it names exists,
and the course benchmark runs (tiny sizes; how fast is never checked)."""

from __future__ import annotations

import re

from tests.conftest import CONFIGS, ROOT

COURSE = ROOT / "docs" / "course.md"


def test_every_file_and_test_the_course_names_exists():
    text = COURSE.read_text()
    missing = []
    last_file = None
    # `path`, `path::test`, and the shorthand `::test` (in the file named just before)
    for path, test in re.findall(r"`((?:src|tests|benchmarks)/[\w/.]+)?(?:::(test_\w+))?", text):
        if path:
            if not (ROOT / path).exists():
                missing.append(path)
                continue
            last_file = path if path.endswith(".py") else None
        defined = last_file is not None and re.search(
            rf"^def {test}\(", (ROOT / last_file).read_text(), flags=re.M
        )
        if test and not defined:
            missing.append(f"{last_file}::{test}")
    assert not missing, f"docs/course.md names what does not exist: {missing}"


def test_every_config_the_course_names_exists():
    text = COURSE.read_text()
    named = set(re.findall(r"\b(experiment|model|data)=(\w+)", text))
    assert ("experiment", "recall") in named and ("model", "transformer_vaswani") in named
    missing = [f"{g}={o}" for g, o in sorted(named) if not (CONFIGS / g / f"{o}.yaml").exists()]
    assert not missing, missing


def test_course_throughput_benchmark_runs_at_tiny_sizes():
    from benchmarks.course import throughput, throughput_table

    res = throughput(width=16, heads=2, tokens_per_call=64, contexts=(8, 16), reps=1, warmup=0)
    assert [(r["T"], r["batch"]) for r in res["rows"]] == [(8, 8), (16, 4), (8, 1), (16, 1)]
    for row in res["rows"]:
        assert row["lstm_tokens_per_s"] > 0 and row["attention_tokens_per_s"] > 0
    assert "| 16 | 4 |" in throughput_table(res)
