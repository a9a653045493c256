"""README promises pinned by tests that fail when the promise breaks (issue 18).

Threads, the 16-mixed warning, model.compile, resume=last / resume=<dir> through the real
argv path, last.ckpt after every validation, the same W&B run id on resume, streaming
generation, seq2seq generating step by step, the sequence-attention plot, gradient_flow.csv
from a real run, captions re-drawn every batch, and DALL·E's frozen stage-1 tokenizer.
"""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from seqlab.cli.resume import rewrite_argv
from seqlab.cli.train import run
from tests.conftest import ROOT, SHORT, compose_config, train_summary
from tests.helpers.promise_probes import read_wandb_run
from tests.helpers.wandb_reader import read_history

QUIET = ["callbacks.progress_bar=null", "callbacks.model_summary=null"]
PROBES = "tests.helpers.promise_probes"
# a tiny character language model: seconds on a CPU
TEXT = [
    "data=shakespeare",
    "data.max_chars=40000",
    "data.block_size=32",
    "data.ngram_order=2",
    "data.batch_size=16",
]


# ----------------------------------------------------------------------------- configuration
def test_threads_sets_torchs_intra_op_threads_for_the_run(tmp_path):
    """`threads=N` sets torch's intra-op threads: a probe reads them inside a training step."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_summary(
            tmp_path,
            *SHORT,
            "callbacks=none",
            "model=ar",
            "threads=2",
            f"+callbacks.threads._target_={PROBES}.ThreadsProbe",
        )
        seen = json.loads((tmp_path / "threads.json").read_text())["threads"]
    finally:
        torch.set_num_threads(before)
    assert seen == 2


def test_16_mixed_on_cpu_warns_and_runs_bf16(tmp_path, caplog):
    """`trainer.precision=16-mixed` on a CPU: seqlab warns, and Lightning autocasts to bf16."""
    from tests.test_precision import AutocastProbe

    with caplog.at_level(logging.WARNING, logger="seqlab"):
        summary = train_summary(
            tmp_path,
            *SHORT,
            "callbacks=none",
            "model=ar",
            "trainer.precision=16-mixed",
            "+callbacks.autocast_probe._target_=tests.test_precision.AutocastProbe",
        )
    assert summary["global_step"] == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "trainer.precision=16-mixed on the CPU" in r.getMessage()
        and "bf16-mixed instead" in r.getMessage()
        for r in warnings
    ), [r.getMessage() for r in warnings]
    assert (True, torch.bfloat16) in AutocastProbe.seen, AutocastProbe.seen


def _stocks_task(tmp_path, *overrides: str):
    from hydra.utils import instantiate

    from seqlab.tasks.registry import build_task

    cfg = compose_config("train", [*SHORT, *overrides], tmp_path)
    GlobalHydra.instance().clear()
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.setup("fit")
    return build_task(cfg.model, datamodule.spec, data=cfg.data), datamodule


def test_model_compile_wraps_the_backbone_in_torch_compile(tmp_path):
    """`model.compile=true` puts the backbone behind torch.compile (an OptimizedModule around
    the same backbone class); the default leaves it a plain module."""
    from torch._dynamo.eval_frame import OptimizedModule

    from seqlab.nn.ar import AR

    compiled, _ = _stocks_task(tmp_path, "model=ar", "model.compile=true")
    assert isinstance(compiled.backbone, OptimizedModule), type(compiled.backbone)
    assert isinstance(compiled.backbone._orig_mod, AR)
    plain, _ = _stocks_task(tmp_path, "model=ar")
    assert isinstance(plain.backbone, AR) and not isinstance(plain.backbone, OptimizedModule)


@pytest.mark.slow  # the first compile on a CPU takes tens of seconds
def test_model_compile_really_compiles_the_forward_pass(tmp_path):
    """A forward pass through the compiled backbone is captured by dynamo (a graph is
    compiled) and gives the uncompiled backbone's output."""
    from torch._dynamo.utils import counters

    task, datamodule = _stocks_task(tmp_path, "model=ar", "model.compile=true")
    x, _ = next(iter(datamodule.val_dataloader()))
    inputs = task.embed_inputs(x[:4]).detach()
    counters.clear()
    out, _ = task.backbone(inputs)
    assert counters["stats"]["unique_graphs"] >= 1, dict(counters["stats"])
    reference, _ = task.backbone._orig_mod(inputs)
    torch.testing.assert_close(out, reference)


# ----------------------------------------------------------------------------- resume
def _fake_run(root: Path, task: str, name: str, mtime: float) -> Path:
    run_dir = root / "logs" / task / "runs" / name
    last = run_dir / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"checkpoint")
    os.utime(last, (mtime, mtime))
    return run_dir


def test_resume_last_picks_the_newest_run_of_that_task(tmp_path):
    older = _fake_run(tmp_path, "train", "2026-01-01_10-00-00-000_aaaa", 1_000_000)
    newest = _fake_run(tmp_path, "train", "2026-01-02_10-00-00-000_bbbb", 2_000_000)
    other_task = _fake_run(tmp_path, "lstm_stocks", "2026-01-03_10-00-00-000_cccc", 3_000_000)
    (tmp_path / "logs" / "train" / "runs" / "no-checkpoint").mkdir()  # a run that saved nothing

    argv = rewrite_argv(["train.py", "resume=last", "trainer.max_epochs=30"], tmp_path)
    assert argv[-2:] == [f"resume={newest}", f"hydra.run.dir={newest}"]
    assert "trainer.max_epochs=30" in argv and str(older) not in " ".join(argv)
    # the task is named by task_name= or by the experiment (whose task_name is its name)
    for arg in ("task_name=lstm_stocks", "experiment=lstm_stocks"):
        argv = rewrite_argv(["train.py", "resume=last", arg], tmp_path)
        assert argv[-1] == f"hydra.run.dir={other_task}", arg


def _write_hydra_overrides(run_dir: Path, overrides: list[str]) -> None:
    """What Hydra writes into every run folder: the command line's overrides."""
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(overrides), run_dir / ".hydra" / "overrides.yaml")


def _resume_through_argv(run_dir: Path, *added: str):
    """`python train.py resume=<run_dir> <added>`: rewrite_argv (as train.py does before Hydra
    composes), then compose the rewritten command line into the folder it names."""
    argv = rewrite_argv(["train.py", f"resume={run_dir}", *added], ROOT)
    assert argv[-1] == f"hydra.run.dir={run_dir}"
    return compose_config("train", argv[1:], run_dir)


def test_resume_dir_rereads_the_stored_overrides_through_the_argv_path(tmp_path):
    first = [
        *SHORT,
        *QUIET,
        "model=gru",
        "model.backbone.hidden_size=12",
        "data.window=20",
        "trainer.max_epochs=2",
        "test=false",
    ]
    run_dir = tmp_path / "run"
    run(compose_config("train", first, run_dir))
    _write_hydra_overrides(run_dir, first)

    cfg = _resume_through_argv(run_dir, "trainer.max_epochs=3")
    # the stored overrides come back; what the user adds now wins
    assert cfg.model.backbone._target_.endswith(".GRU")
    assert cfg.model.backbone.hidden_size == 12 and cfg.data.window == 20
    assert cfg.trainer.max_epochs == 3 and cfg.resume == str(run_dir)
    run(cfg)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["global_step"] == 9  # 2 epochs before, 1 more after, 3 batches each
    assert summary["last_checkpoint"] == str(run_dir / "checkpoints" / "last.ckpt")


def test_last_ckpt_is_refreshed_after_every_validation_without_a_new_best(tmp_path):
    """lr=0: val/loss never improves after epoch 0, so the best checkpoint stays at epoch 0
    while last.ckpt follows every epoch (Lightning's save_last would stay at epoch 0 too)."""
    summary = train_summary(
        tmp_path,
        *SHORT,
        *QUIET,
        "model=lstm",
        "model.backbone.hidden_size=8",
        "model.optimizer.lr=0",
        "model.scheduler=null",
        "trainer.max_epochs=3",
        "test=false",
        f"+callbacks.last_probe._target_={PROBES}.LastCheckpointProbe",
    )
    seen = json.loads((tmp_path / "last_steps.json").read_text())
    assert [(s["when"], s["last_ckpt_step"]) for s in seen] == [
        ("start of epoch 1", 3),
        ("start of epoch 2", 6),
        ("end of fit", 9),
    ]
    assert Path(summary["best_checkpoint"]).name == "epoch_000.ckpt"  # no new best after 0


@pytest.mark.slow  # two runs with W&B (offline) in this process, ~10 s
def test_resume_continues_the_same_wandb_run(tmp_path):
    first = [*SHORT, *QUIET, "logger=default", "model=ar", "trainer.max_epochs=2", "test=false"]
    run_dir = tmp_path / "run"
    run(compose_config("train", first, run_dir))
    _write_hydra_overrides(run_dir, first)
    run(_resume_through_argv(run_dir, "trainer.max_epochs=3"))

    files = sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 2, files  # one W&B run file per process, both for the same run
    before, after = (read_wandb_run(f) for f in files)
    remembered = (run_dir / "wandb_run_id").read_text().strip()
    assert before["id"] == after["id"] == remembered
    assert before["exit_code"] == after["exit_code"] == 0
    # the history continues: the resumed part logs the epoch after the first part's last
    epochs = [[r["epoch"] for r in read_history(f)[0] if "val/loss" in r] for f in files]
    assert epochs == [[0, 1], [2]], epochs


# ----------------------------------------------------------------------------- language models
@pytest.fixture(scope="module")
def language_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm")
    summary = train_summary(out, *SHORT, *QUIET, "callbacks.text_samples=null", "model=gpt", *TEXT)
    GlobalHydra.instance().clear()
    return summary["last_checkpoint"]


def test_stream_printer_prints_each_token_as_it_comes(language_model):
    """generate.py's StreamPrinter: after every sampled token the text decoded so far is on
    the stream already (flushed), and the whole equals the generation without streaming."""
    from seqlab.cli.generate import StreamPrinter
    from seqlab.tasks.registry import load_task

    task, _ = load_task(language_model)
    prompt = task.tokenizer.encode("ROMEO:")

    flushed: list[str] = []

    class Stream(io.StringIO):
        def flush(self) -> None:
            flushed.append(self.getvalue())

    stream = Stream()
    printer = StreamPrinter(task.tokenizer, out=stream)
    seen: list[str] = []

    def on_token(next_id):
        printer(next_id)
        seen.append(stream.getvalue())  # what the reader has at this token

    idx = torch.tensor([prompt])
    out = task.generate(idx, 12, generator=torch.Generator().manual_seed(0), on_token=on_token)
    again = task.generate(idx, 12, generator=torch.Generator().manual_seed(0))
    new_ids = out[0, len(prompt) :].tolist()
    assert torch.equal(out, again)
    assert len(seen) == 12
    for count, text in enumerate(seen, start=1):
        assert text == task.tokenizer.decode(new_ids[:count])  # the tokens so far, no more
    assert flushed == seen


@pytest.mark.slow  # a subprocess
def test_generate_stream_prints_the_prompt_then_the_sample(language_model, tmp_path):
    from tests.test_cli import run_cli

    args = [f"ckpt_path={language_model}", "prompt=ROMEO:", "max_new_tokens=40", "wandb=false"]
    out = tmp_path / "gen"
    result = run_cli(
        "generate.py", *args, "stream=true", f"hydra.run.dir={out}", home=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    sample = (out / "samples.txt").read_text().rstrip("\n")
    assert sample.startswith("ROMEO:") and len(sample) > len("ROMEO:")
    # the prompt, then the new tokens right after it, once (logging shares stdout)
    assert result.stdout.count(sample + "\n") == 1, (result.stdout[-500:], sample)


# ----------------------------------------------------------------------------- transformer
def test_seq2seq_validation_and_test_generate_from_their_own_predictions(tmp_path):
    """Validation and test forecasts do not read the true targets (changing them changes no
    prediction), and step k is what the decoder gives when fed its own steps < k."""
    task, datamodule = _stocks_task(
        tmp_path,
        "model=seq2seq",
        "data.horizon=4",
        "model.backbone.hidden_size=16",
        "model.backbone.num_encoder_layers=1",
        "model.backbone.num_decoder_layers=2",
    )
    task.eval()
    x, y = next(iter(datamodule.val_dataloader()))
    x, y = x[:8], y[:8]
    outputs: list[torch.Tensor] = []
    hook = task.register_forward_hook(lambda module, args, out: outputs.append(out.detach()))
    try:
        with torch.no_grad():
            for step in (task.validation_step, task.test_step):
                step((x, y), 0)
                step((x, y + torch.randn_like(y) * 10), 0)  # other true targets
                assert torch.equal(outputs[-2], outputs[-1]), step.__name__
            task.training_step((x, y), 0)
            task.training_step((x, y + 10), 0)  # teacher forcing does read them
            assert not torch.allclose(outputs[-2], outputs[-1])
            predictions = outputs[0]
            # fed its own predictions as the previous values, the decoder reproduces them
            torch.testing.assert_close(task(x, predictions), predictions)
    finally:
        hook.remove()


def test_gpt_run_writes_the_attention_plot_and_gradient_flow_csv(tmp_path):
    """A real short GPT run with the default callbacks: plots/attention_maps.png (the
    sequence_attention callback) and gradient_flow.csv with one row per measured step."""
    train_summary(
        tmp_path,
        *SHORT,
        *QUIET,
        "model=gpt",
        "model.backbone.hidden_size=16",
        "model.backbone.num_layers=2",
        "model.backbone.num_heads=2",
        "data.window=24",
        "callbacks.gradient_flow.every_n_steps=1",
        "callbacks.media_budget=null",  # every step, as asked (the budget would defer some)
    )
    assert (tmp_path / "plots" / "attention_maps.png").stat().st_size > 5_000
    with (tmp_path / "gradient_flow.csv").open() as file:
        header = file.readline().strip().split(",")
    assert header == ["global_step", *[f"t{t}" for t in range(24)]]
    table = np.loadtxt(tmp_path / "gradient_flow.csv", delimiter=",", skiprows=1, ndmin=2)
    assert table[:, 0].tolist() == [0, 1, 2]  # every step of the 3 trained
    assert np.isfinite(table[:, 1:]).all() and (table[:, 1:] > 0).all()
    assert len({tuple(row) for row in table[:, 1:]}) == 3  # measured anew, not copied


def test_rnn_run_writes_gradient_flow_csv_that_vanishes_back_in_time(tmp_path):
    """A tanh RNN on 60-day windows: ‖∂L_T/∂x_t‖ in gradient_flow.csv decays going back."""
    train_summary(
        tmp_path,
        *SHORT,
        "callbacks=none",
        "+callbacks.gradient_flow._target_=seqlab.callbacks.gradient_flow.GradientFlow",
        "+callbacks.gradient_flow.every_n_steps=2",
        "model=rnn",
        "model.backbone.hidden_size=16",
        "data.window=60",
    )
    table = np.loadtxt(tmp_path / "gradient_flow.csv", delimiter=",", skiprows=1, ndmin=2)
    assert table.shape == (2, 61) and table[:, 0].tolist() == [0, 2]
    profile = table[0, 1:]
    assert profile[0] < 1e-3 * profile[-1], profile[[0, -1]]
    assert (tmp_path / "plots" / "gradient_flow.png").is_file()


# ----------------------------------------------------------------------------- DALL·E
def test_training_captions_are_redrawn_every_batch_and_val_captions_fixed():
    from seqlab.data.images.mnist_captions import MNISTCaptionsDataModule

    dm = MNISTCaptionsDataModule(batch_size=64)
    dm.setup("fit")
    train = dm.train_dataloader()
    train.sampler.set_epoch(0)
    first = next(iter(train))
    train.sampler.set_epoch(0)  # the same images in the same order
    second = next(iter(train))
    assert torch.equal(first[0], second[0]) and torch.equal(first[2], second[2])
    differ = (first[1] != second[1]).any(dim=1).float().mean().item()
    assert differ > 0.5, differ  # a new template (and wording) for most images
    val = dm.val_dataloader()
    assert torch.equal(next(iter(val))[1], next(iter(val))[1])


def test_data_augment_shifts_training_digits_and_keeps_their_captions_true():
    from seqlab.data.images.captions import measure_attributes
    from seqlab.data.images.mnist_captions import MNISTCaptionsDataModule

    dm = MNISTCaptionsDataModule(batch_size=64, augment=True, shift=2)
    dm.setup("fit")
    train = dm.train_dataloader()
    train.sampler.set_epoch(0)
    torch.manual_seed(0)  # the shifts
    images, _, labels = next(iter(train))
    train.sampler.set_epoch(0)
    order = torch.tensor(list(iter(train.sampler))[:64])
    original = dm.splits["train"].images[order].float()  # (64, 1, 28, 28) uint8 -> float
    pixels = images * dm.std[0] + dm.mean[0]
    moved = (pixels - original).abs().amax(dim=(1, 2, 3)) > 1
    assert moved.float().mean() > 0.5  # most digits are shifted
    assert torch.equal(labels, dm.splits["train"].labels[order])
    shifted, plain = (measure_attributes(x[:, 0].round().numpy()) for x in (pixels, original))
    for name in ("stroke_width", "height", "width", "slant"):  # what the captions describe
        same = np.isclose(shifted[name], plain[name], rtol=0, atol=1e-6)
        assert same.mean() >= 0.9, (name, same.mean())  # moments and extents: shift-invariant
        # ... unless a shift pushes ink past the frame (a few digits reach it): then by at
        # most the 2 clipped rows (2/28 of the height)
        np.testing.assert_allclose(shifted[name], plain[name], rtol=0, atol=0.08, err_msg=name)
    val = next(iter(dm.val_dataloader()))[0] * dm.std[0] + dm.mean[0]
    assert torch.allclose(val, dm.splits["val"].images[:64].float(), atol=1e-3)  # not shifted
