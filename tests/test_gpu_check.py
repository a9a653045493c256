"""`python -m benchmarks.gpu_check --dry-run`: the GPU check's own code on the CPU, tiny sizes.

Behaviour only (sections, rows, job results, the plan composing), never timing: the dry run
exists so that the GPU check cannot fail on a typo when a GPU is finally there. The default
suite runs the in-process sections (plan, recurrent, memory) and the job runner on stub jobs;
the whole dry run (train.py jobs, the GPT and compile runs) is marked slow (~2.5 min here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import gpu_check
from tests.conftest import ROOT


def _report(out: Path) -> tuple[dict, str]:
    return json.loads((out / "gpu-check.json").read_text()), (out / "gpu-check.md").read_text()


def _check_entries(section: dict) -> None:
    assert not section["error"], section["error"]
    assert section["entries"]
    for row in section["entries"]:
        for key in ("a", "b", "ratio"):
            assert row[key] > 0, f"{section['name']} / {row['case']}: {key}={row[key]}"


def test_dry_run_subset_writes_json_and_markdown(tmp_path):
    """The in-process sections (train.py jobs: the job-runner test below, and the slow one)."""
    out = tmp_path / "out"
    rc = gpu_check.main(["--dry-run", "--only", "plan,recurrent,memory", "--out", str(out)])
    assert rc == 0
    report, text = _report(out)
    assert report["mode"] == "dry-run"
    assert report["settings"]["precisions"] == ["32-true"]
    assert list(report["sections"]) == ["plan", "recurrent", "memory"]

    plan = report["sections"]["plan"]
    assert not plan["error"], plan["error"]
    labels = [p["label"] for p in plan["plan"]]
    for model in gpu_check.model_configs():  # every model config is in the GPU plan
        assert any(label.startswith(f"{model}-") for label in labels), model
    assert {"gpt_12x768_T1024", "gpt_6x384_T256", "vit_mnist"} <= set(labels)
    assert any("model.compile=true" in item["overrides"] for item in plan["plan"])
    assert any(label.startswith("fsdp-") for label in labels)  # composed, though not run here
    for item in plan["plan"]:  # every one on the GPU
        assert {"trainer=gpu", "trainer=ddp", "trainer=fsdp"} & set(item["overrides"]), item

    recurrent = report["sections"]["recurrent"]
    _check_entries(recurrent)
    cases = [row["case"] for row in recurrent["entries"]]
    assert sum("fused (A) vs scratch (B)" in c for c in cases) == 6  # rnn/lstm/gru × 1-2 layers
    autocast = [r for r in recurrent["entries"] if "autocast" in r["case"]]
    # on the CPU seqlab runs the fused kernel in float32 under autocast, on purpose
    assert {r["extra"]["output_dtype_under_autocast"] for r in autocast} == {"torch.float32"}

    memory = report["sections"]["memory"]
    _check_entries(memory)
    assert [r["case"].split(":")[1].strip() for r in memory["entries"]] == [
        "peak memory of a step",
        "step time",
    ] * 2
    assert memory["details"]["gradient_flow_probe"]["seconds"] > 0

    for name in ("plan", "recurrent", "memory"):
        assert f"## {gpu_check.TITLES[name]}" in text
    assert "**Dry run**" in text


def test_job_runner_reports_pass_exact_error_timeout_and_skip(tmp_path, monkeypatch):
    """Stub train.py jobs: the runner's verdicts, the exact error, the kill at the timeout,
    a stage 2 skipped after its stage 1 failed, and the Markdown table."""
    write_summary = (
        "import json, pathlib, sys; d = pathlib.Path(sys.argv[-1].split('=', 1)[1]); "
        "d.mkdir(parents=True, exist_ok=True); print('GPU available: True (cuda), used: {used}'); "
        "(d / 'summary.json').write_text(json.dumps({{'status': 'ok', 'global_step': 3, "
        "'test': {{'test/loss': 1.5}}}}))"
    )
    scripts = {
        "ar": write_summary.format(used="True"),
        "rnn": write_summary.format(used="False"),
        "gru": "raise RuntimeError('cuDNN error: CUDNN_STATUS_NOT_SUPPORTED')",
        "lstm": "import time; time.sleep(60)",
        "gpt": write_summary.format(used="True"),
    }
    monkeypatch.setattr(
        gpu_check.Job,
        "command",
        lambda self, run_dir: [sys.executable, "-c", scripts[self.model], f"x={run_dir}"],
    )
    jobs = [
        gpu_check.Job(f"{m}-stocks-16-mixed", "matrix", m, "stocks", "16-mixed", "gpu", [])
        for m in scripts
    ]
    jobs[-1].after = "gru-stocks-16-mixed"  # gpt waits for gru, which fails
    runner = gpu_check.JobRunner(tmp_path, parallel=2, job_timeout=1.5, deadline=1e12)
    runner.run(jobs)
    by = {j.model: j for j in jobs}
    assert by["ar"].status == "pass" and by["ar"].test == {"test/loss": 1.5}
    assert by["rnn"].status == "fail" and "did not use the GPU" in by["rnn"].error
    assert by["gru"].status == "fail"
    assert by["gru"].error == "RuntimeError: cuDNN error: CUDNN_STATUS_NOT_SUPPORTED"
    assert "Traceback" in by["gru"].log_tail
    assert by["lstm"].status == "timeout" and by["lstm"].seconds < 30
    assert by["gpt"].status == "skipped" and "gru-stocks-16-mixed" in by["gpt"].error

    section = gpu_check.job_section("matrix", jobs, [])
    text = "\n".join(gpu_check.job_markdown(section, ["16-mixed"]))
    assert "| ar | stocks | ✓" in text
    assert "`gru-stocks-16-mixed` (fail): `RuntimeError: cuDNN error" in text


def test_plan_catches_an_override_typo(tmp_path, monkeypatch):
    """A misspelt override in the GPU job list fails the plan here, not on the GPU."""
    typo = ("ar", "stocks", ["trainer.limt_val_batches=2"])
    monkeypatch.setattr(gpu_check, "PAIRS", [typo])
    monkeypatch.setattr(gpu_check, "model_configs", lambda: ["ar"])
    monkeypatch.setattr(gpu_check, "in_process_configs", lambda mode: [])
    monkeypatch.setattr(gpu_check, "multi_jobs", lambda gpu: ([], []))
    mode = gpu_check.make_mode(gpu_check.parse_args(["--dry-run"]), tmp_path)
    section = gpu_check.Section("plan", gpu_check.TITLES["plan"], "", "", "")
    gpu_check.run_plan(mode, section)
    assert "limt_val_batches" in section.error


def test_matrix_covers_every_model_config_in_every_gpu_precision(tmp_path):
    jobs, notes = gpu_check.matrix_jobs(gpu_check.GPU_PRECISIONS, "gpu", None, tmp_path, gpu=True)
    assert notes == []  # every configs/model/*.yaml has a data pairing
    for model in gpu_check.model_configs():
        got = {j.precision for j in jobs if j.model == model and not j.label}
        assert got == set(gpu_check.GPU_PRECISIONS), model
    for job in jobs:
        assert "trainer=gpu" in job.overrides and job.expect_gpu
    dalle = [j for j in jobs if j.model == "dalle"]
    assert all(j.after.startswith("vqvae-") for j in dalle)  # stage 2 waits for stage 1
    assert any("debug=fdr" in j.overrides for j in jobs)
    multi, _ = gpu_check.multi_jobs(gpu=True)
    assert {j.trainer for j in multi} == {"ddp", "fsdp"}
    assert all("trainer.devices=1" in j.overrides for j in multi)


def test_exact_error_picks_the_line_that_names_the_failure():
    log = "\n".join(
        [
            "Traceback (most recent call last):",
            '  File "x.py", line 1, in <module>',
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
            "[2026-12-01 10:00:00][seqlab][INFO] - bye",
        ]
    )
    assert gpu_check.exact_error(log).startswith("torch.OutOfMemoryError: CUDA out of memory")
    assert gpu_check.exact_error("noise\nerror: trainer.max_epochs=0 trains nothing\nmore") == (
        "error: trainer.max_epochs=0 trains nothing"
    )
    job = gpu_check.Job("j", "matrix", "ar", "stocks", "32-true", "gpu", [])
    gpu_check.parse_log(job, "x - GPU available: True (cuda), used: False\nUsing bf16 AMP")
    assert job.gpu_used is False


def test_wheel_check_refuses_a_missing_requirement(tmp_path, capsys):
    import zipfile

    def wheel(name: str, version: str, requires: list[str], tag: str = "py3-none-any") -> None:
        dist = f"{name}-{version}.dist-info"
        meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
            f"Requires-Dist: {r}\n" for r in requires
        )
        with zipfile.ZipFile(tmp_path / f"{name}-{version}-{tag}.whl", "w") as zf:
            zf.writestr(f"{dist}/METADATA", meta)

    wheel("alpha", "1.0", ["numpy>=1", "beta==2.0", "gamma; python_version < '3.9'"])
    wheel("beta", "2.0", [])
    assert gpu_check.check_wheels(tmp_path) == 0  # numpy is on the device, gamma not needed
    wheel("delta", "1.0", ["nowhere-to-be-found>=1"], tag="cp311-cp311-manylinux_2_17_x86_64")
    assert gpu_check.check_wheels(tmp_path) == 1
    printed = capsys.readouterr().out
    assert "delta needs nowhere-to-be-found>=1" in printed
    assert "not for CPython 3.12" in printed


def test_recurrent_fp32_fallback_is_cpu_only():
    """The float32 detour of the fused RNNs under autocast (oneDNN) is for the CPU only: on
    another device the fused kernel gets the autocast input as it is (cuDNN is fast in half
    precision). The meta device stands in for CUDA here."""
    import torch

    from seqlab.nn.recurrent import LSTM, _needs_fp32

    lstm = LSTM(input_size=4, hidden_size=4)
    x = torch.zeros(1, 3, 4, dtype=torch.bfloat16)
    assert _needs_fp32(x, lstm.rnn)
    assert not _needs_fp32(x.to("meta"), lstm.to("meta").rnn)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not _needs_fp32(torch.zeros(1, 3, 4, device="meta"), lstm.rnn)


@pytest.mark.slow  # the whole dry run: every section, subprocess jobs, torch.compile on a CPU
def test_full_dry_run(tmp_path):
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(OMP_NUM_THREADS="1", WANDB_MODE="offline", HOME=str(tmp_path))
    env.pop("OUT", None)
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", "--dry-run", "--out", str(out)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    report, text = _report(out)
    assert list(report["sections"]) == list(gpu_check.TITLES)
    for name, section in report["sections"].items():
        assert not section["error"], f"{name}: {section['error']}"
        assert f"## {section['title']}" in text
    jobs = report["sections"]["matrix"]["jobs"]
    assert {j["model"] for j in jobs} == {"ar", "gpt", "vqvae", "dalle"}
    assert all(j["status"] == "pass" for j in jobs), [(j["id"], j["error"]) for j in jobs]
    multi = report["sections"]["multi"]["jobs"]
    assert [j["trainer"] for j in multi] == ["ddp", "ddp"] and all(
        j["status"] == "pass" for j in multi
    )
    for name in ("gpt_mfu", "compile", "recurrent", "memory"):
        _check_entries(report["sections"][name])
    mfu = report["sections"]["gpt_mfu"]["entries"][0]
    assert mfu["extra"]["N"] > 0 and mfu["extra"]["tokens_per_step"] > 0
    compiled = report["sections"]["compile"]["entries"]
    assert [r["case"].split(",")[0] for r in compiled] == ["gpt_6x384_T256", "vit_mnist"]
    assert all(r["extra"]["compile_s"] > 0 for r in compiled)
