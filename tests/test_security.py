"""Opening a shared checkpoint (or resuming a shared run folder) cannot run code.

Each crafted file is a valid plain dict of tensors and strings that ``weights_only=True``
accepts; what it names would run a command, unpickle a second file, or write a file.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from seqlab.errors import SeqlabError
from seqlab.security import (
    UntrustedTargetError,
    check_checkpoint,
    check_overrides,
    check_target,
)
from seqlab.tasks.registry import load_task
from tests.conftest import ROOT, compose_config

FORECASTING = "seqlab.tasks.forecasting.ForecastingTask"


class _Payload:
    """A pickle that touches a file when unpickled (what `torch.load(weights_only=False)` runs)."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _popen_checkpoint(path: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    torch.save(
        {
            "seqlab_task": "subprocess.Popen",
            "hyper_parameters": {"args": ["touch", str(marker)]},
            "state_dict": {},
        },
        path,
    )
    return path


def _torch_load_checkpoint(path: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    evil = path.with_name("payload.pt")
    torch.save(_Payload(marker), evil)
    torch.save(
        {
            "seqlab_task": FORECASTING,
            "hyper_parameters": {
                "model": {
                    "backbone": {"_target_": "torch.load", "f": str(evil), "weights_only": False}
                },
                "spec": {"task": "forecasting"},
                "data": None,
            },
            "state_dict": {},
        },
        path,
    )
    return path


def _write_text_checkpoint(path: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    torch.save(
        {
            "seqlab_task": FORECASTING,
            "hyper_parameters": {
                "model": {"backbone": {"_target_": "seqlab.nn.recurrent.LSTM"}},
                "spec": {"task": "forecasting"},
                # nested inside a list, where only a full walk finds it
                "data": {
                    "_target_": "seqlab.data.series.stocks.StockDataModule",
                    "tickers": [
                        {
                            "_target_": "pathlib.Path.write_text",
                            "self": {"_target_": "pathlib.Path", "_args_": [str(marker)]},
                            "data": "written by a checkpoint",
                        }
                    ],
                },
            },
            "state_dict": {},
        },
        path,
    )
    return path


CRAFTED = {
    "subprocess.Popen": _popen_checkpoint,
    "torch.load": _torch_load_checkpoint,
    "pathlib.Path.write_text": _write_text_checkpoint,
}


@pytest.mark.parametrize("offender", CRAFTED)
def test_crafted_checkpoints_are_refused_by_load_task(tmp_path, offender):
    marker = tmp_path / "pwned"
    ckpt = CRAFTED[offender](tmp_path / "shared.ckpt", marker)
    with pytest.raises(UntrustedTargetError) as caught:
        load_task(str(ckpt))
    message = str(caught.value)
    assert offender in message and "trusted_targets=" in message
    assert not marker.exists()


@pytest.mark.parametrize("offender", CRAFTED)
@pytest.mark.parametrize("entry", ["eval", "generate"])
def test_eval_and_generate_refuse_crafted_checkpoints(tmp_path, offender, entry):
    from seqlab.cli import evaluate, generate

    marker = tmp_path / "pwned"
    ckpt = CRAFTED[offender](tmp_path / "shared.ckpt", marker)
    cfg = compose_config(entry, [f"ckpt_path={ckpt}"], tmp_path / "out")
    runner = evaluate.run if entry == "eval" else generate.run
    with pytest.raises(UntrustedTargetError, match=offender.replace(".", r"\.")):
        runner(cfg)
    assert not marker.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.slow  # subprocess or several trainings: CI runs it with -m slow
def test_eval_py_prints_one_line_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    ckpt = _popen_checkpoint(tmp_path / "shared.ckpt", marker)
    result = subprocess.run(
        [sys.executable, str(ROOT / "eval.py"), f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path}/o"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("error: ")
        and "subprocess.Popen" in last
        and "Traceback" not in (result.stderr)
    )
    assert not marker.exists()


def _crafted_run_folder(tmp_path: pathlib.Path, marker: pathlib.Path, overrides: list[str]):
    run_dir = tmp_path / "logs" / "train" / "runs" / "shared"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / "checkpoints").mkdir()
    OmegaConf.save(OmegaConf.create(overrides), run_dir / ".hydra" / "overrides.yaml")
    return run_dir


@pytest.mark.parametrize("offender", CRAFTED)
def test_resume_refuses_a_crafted_last_checkpoint(tmp_path, offender):
    from seqlab.cli.resume import rewrite_argv
    from seqlab.cli.train import run

    marker = tmp_path / "pwned"
    run_dir = _crafted_run_folder(tmp_path, marker, ["model=lstm"])
    CRAFTED[offender](run_dir / "checkpoints" / "last.ckpt", marker)
    argv = rewrite_argv(["train.py", f"resume={run_dir}"], tmp_path)
    overrides = [a for a in argv[1:] if not a.startswith("hydra.")]
    cfg = compose_config("train", [*overrides, "trainer.max_epochs=1"], run_dir)
    with pytest.raises(UntrustedTargetError, match=offender.replace(".", r"\.")):
        run(cfg)
    assert not marker.exists()
    assert not (run_dir / "summary.json").exists()


@pytest.mark.parametrize(
    "stored",
    [
        "model.backbone._target_=subprocess.Popen",
        "+model.backbone.args={_target_:pathlib.Path.write_text,data:x}",
        "hydra.searchpath=[file:///tmp/evil]",
    ],
)
def test_resume_refuses_stored_overrides_that_could_run_code(tmp_path, stored):
    from seqlab.cli.resume import rewrite_argv

    run_dir = _crafted_run_folder(tmp_path, tmp_path / "pwned", [stored])
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"")
    with pytest.raises(UntrustedTargetError, match=r"overrides\.yaml"):
        rewrite_argv(["train.py", f"resume={run_dir}"], tmp_path)


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("seqlab.nnx.Evil", "outside the allowed modules"),
        ("seqlab.data.series.stocks.Path", "defined in"),  # reached through an imported name
        ("seqlab.utils.checkpoint_io.atomic_torch_save", "outside the allowed modules"),
        ("seqlab.data.package_files.package_file", "not a class"),
        ("torch.optim.lr_scheduler.warnings.warn", "not a class"),
        ("builtins.exec", "outside the allowed modules"),
    ],
)
def test_only_classes_defined_under_allowed_modules(target, why):
    with pytest.raises(UntrustedTargetError, match=why):
        check_target(target, "test")


@pytest.mark.parametrize(
    "target",
    [
        "torch.optim.AdamW",
        "torch.optim.lr_scheduler.ReduceLROnPlateau",
        "seqlab.optim.WarmupCosine",
    ],
)
def test_optimisers_schedulers_and_seqlab_classes_are_allowed(target):
    check_target(target, "test")


def test_trusted_targets_admit_the_users_own_code(tmp_path, monkeypatch):
    module = tmp_path / "my_trusted_pkg.py"
    module.write_text("def build(**kw):\n    return dict(kw)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UntrustedTargetError, match=r"trusted_targets=\[my_trusted_pkg\]"):
        check_target("my_trusted_pkg.build", "model.backbone._target_")
    check_target("my_trusted_pkg.build", "model.backbone._target_", trusted=["my_trusted_pkg"])
    monkeypatch.setenv("SEQLAB_TRUSTED_TARGETS", "my_trusted_pkg")
    from seqlab.security import user_trusted

    check_target("my_trusted_pkg.build", "x", trusted=user_trusted())
    check_overrides(["model.backbone._target_=my_trusted_pkg.build"], "o", user_trusted())


def test_a_task_class_must_be_a_seqlab_task():
    with pytest.raises(UntrustedTargetError, match="not a seqlab task"):
        check_checkpoint(
            {"seqlab_task": "seqlab.tasks.base.DataSpec", "hyper_parameters": {}}, "x.ckpt"
        )
    with pytest.raises(SeqlabError, match="hyper_parameters"):
        check_checkpoint({"seqlab_task": FORECASTING, "hyper_parameters": None}, "x.ckpt")
