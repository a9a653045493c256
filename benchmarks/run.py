"""Run the benchmarks: ``python -m benchmarks.run [--smoke] [--only NAME,...] [--out DIR]``.

Writes ``<out>/<machine>-<YYYY-MM-DD>.json`` (every sample), ``<machine>-<YYYY-MM-DD>.md``
(the tables) and a copy of the tables as ``<out>/latest.md``; smoke runs add ``-smoke`` to
these names, so they never overwrite real results. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    Entry,
    Section,
    Settings,
    machine_info,
    machine_slug,
    offline_env,
)

# In the order they run: data_pipeline reuses the step times measured by overhead.
BENCHMARKS: dict[str, str] = {
    "overhead": "Framework overhead: seqlab vs raw PyTorch training step",
    "recurrent": "Fused vs scratch recurrent cells (rnn, lstm, gru)",
    "attention": "MultiHeadAttention sdpa vs naive: time and peak memory",
    "generation": "GPT generation with vs without KV cache",
    "threads": "lstm_stocks steps/s with 1 vs 2 threads",
    "startup": "train.py --help and time to the first training step",
    "data_pipeline": "train loaders alone vs the model's step rate",
    "nanogpt_style": "seqlab vs a nanoGPT-style single-file trainer (same GPT and tokens)",
    "prediction": "batch prediction (series/s, images/s) vs a plain torch loop",
}
DEFAULT_OUT = ROOT / "benchmarks" / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="seqlab benchmarks: side-by-side comparisons, reported as ratios.",
        epilog="benchmarks: " + ", ".join(BENCHMARKS),
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, one repetition: proves it runs"
    )
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 5; smoke 1)")
    parser.add_argument(
        "--breakdown",
        choices=("auto", "always", "never"),
        default="auto",
        help="overhead per default switched off: auto = when over 5%% (not in smoke mode)",
    )
    parser.add_argument("--keep-work", action="store_true", help="keep the scratch run folders")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser.parse_args(argv)


def selected(only: str) -> list[str]:
    if not only:
        return list(BENCHMARKS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    return [n for n in BENCHMARKS if n in names]


# ----------------------------------------------------------------------------- formatting


def fmt(value: float) -> str:
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def fmt_ratio(value: float, style: str) -> str:
    return f"{(value - 1) * 100:+.1f}%" if style == "pct" else f"{value:.2f}x"


def fmt_spread(row: Entry, style: str) -> str:
    if row.n < 2:
        return "n=1"
    return f"{fmt_ratio(row.ratio_q1, style)} … {fmt_ratio(row.ratio_q3, style)}"


def markdown(report: dict[str, Any], sections: list[Section]) -> str:
    info = report["machine"]
    mode = report["mode"]
    reps = report["settings"]["reps"]
    lines = [
        f"# seqlab benchmarks: {report['slug']}, {report['date']}",
        "",
        "| | |",
        "|---|---|",
        f"| machine | {info['hostname']}: {info['cpu']}, {info['logical_cores']} logical cores "
        f"({info['available_cores']} available) |",
        f"| software | Python {info['python']}, torch {info['torch']}, "
        f"Lightning {info.get('lightning', '?')}, {info['platform']} |",
        f"| threads | torch intra-op {info['torch_threads']}, inter-op "
        f"{info['torch_interop_threads']}, OMP_NUM_THREADS={info['OMP_NUM_THREADS'] or 'unset'} |",
        f"| mode | {mode}: {reps} repetition(s) after {report['settings']['warmup']} warm-up |",
        f"| command | `{report['command']}` ({report['total_seconds']:.0f} s) |",
        "",
        f"Numbers are medians of {reps} repetition(s) on a shared machine: absolute times move "
        "with whatever else runs, so read the ratios. A and B are measured side by side in one "
        "process (or one invocation), interleaved; *ratio* is the median of the per-repetition "
        "ratios and *spread* their interquartile range (q1 … q3). ✓/✗: the issue's target.",
    ]
    if mode == "smoke":
        lines += [
            "",
            "**Smoke run**: tiny sizes, one repetition. It proves the code runs; "
            "its numbers mean nothing.",
        ]
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        lines.append(
            f"A = {section.a_label}, B = {section.b_label}; ratio = {section.ratio_label}."
            + (f" Target: {section.target}." if section.target else "")
        )
        if section.error:
            lines += ["", f"**Failed**: `{section.error.strip().splitlines()[-1]}`"]
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


def write(report: dict[str, Any], sections: list[Section], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    suffix = "-smoke" if report["mode"] == "smoke" else ""
    stem = f"{report['slug']}-{report['date']}{suffix}"
    json_path = out / f"{stem}.json"
    md_path = out / f"{stem}.md"
    latest = out / f"latest{suffix}.md"
    text = markdown(report, sections)
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(text)
    latest.write_text(text)
    return [json_path, md_path, latest]


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for name, what in BENCHMARKS.items():
            print(f"{name:14s} {what}")
        return 0
    names = selected(args.only)
    offline_env()
    work = Path(tempfile.mkdtemp(prefix="seqlab-bench-"))
    settings = Settings(
        smoke=args.smoke,
        reps=args.reps or (1 if args.smoke else 5),
        warmup=1 if args.smoke else 2,
        work_dir=work,
        breakdown=args.breakdown,
    )
    info = machine_info()
    started = time.perf_counter()
    sections: list[Section] = []
    try:
        for name in names:
            print(f"[bench] {name}: {BENCHMARKS[name]} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                section = importlib.import_module(f"benchmarks.{name}").run(settings)
            except Exception:
                section = Section(name, name, "A", "B", "A / B", error=traceback.format_exc())
                print(section.error, file=sys.stderr)
            section.seconds = time.perf_counter() - t0
            sections.append(section)
            print(f"[bench] {name}: {section.seconds:.1f} s", file=sys.stderr, flush=True)
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    report = {
        "schema": 1,
        "date": dt.date.today().isoformat(),
        "mode": "smoke" if args.smoke else "full",
        "command": "python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv),
        "slug": machine_slug(info),
        "machine": info,
        "settings": {"reps": settings.reps, "warmup": settings.warmup, "breakdown": args.breakdown},
        "total_seconds": time.perf_counter() - started,
        "benchmarks": {s.name: s.to_dict() for s in sections},
    }
    paths = write(report, sections, args.out)
    print(markdown(report, sections))
    print("written: " + ", ".join(str(p) for p in paths), file=sys.stderr)
    if args.keep_work:
        print(f"run folders kept in {work}", file=sys.stderr)
    failed = [s.name for s in sections if s.error]
    if failed:
        print(f"[bench] failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
