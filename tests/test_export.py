"""Every exportable model round-trips through ONNX and TorchScript within 1e-5; what cannot
export is refused with the reason. Tiny untrained models (the weights do not matter to a
round trip), real shapes: several batch sizes and lengths, so a shape baked in fails."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from tests.conftest import CONFIGS, FAST_MODEL

pytest.importorskip("onnxruntime")

SERIES = DataSpec(
    task="classification",
    num_features=3,
    num_targets=4,
    seq_len=20,
    class_names=("a", "b", "c", "d"),
    extra={
        "variable_length": True,
        "channel_mean": [1.0, -2.0, 0.5],
        "channel_std": [2.0, 0.5, 1.5],
        "train_min_length": 5,
    },
)
DIGITS = DataSpec(
    task="classification",
    num_features=8,
    num_targets=10,
    seq_len=8,
    image_shape=(1, 8, 8),
    class_names=tuple(str(d) for d in range(10)),
    extra={"mean": [4.9], "std": [6.0], "pixel_max": 16.0},
)
TEXT = DataSpec(
    task="language_modeling",
    vocab_size=23,
    seq_len=16,
    extra={"tokenizer": {"kind": "char", "itos": ["<unk>", *"abcdefghijklmnopqrstuv"]}},
)


def tiny_task(model: str, spec: DataSpec, **backbone):
    """model=<name> from configs/model with the suite's tiny sizes, around ``spec``."""
    from seqlab.tasks.registry import build_task

    config = yaml.safe_load((CONFIGS / "model" / f"{model}.yaml").read_text())
    config.pop("scheduler", None)  # reads ${trainer.max_epochs}; not needed to predict
    config["backbone"].update({k: v for k, v in FAST_MODEL.items() if k in config["backbone"]})
    config["backbone"].update(backbone)
    torch.manual_seed(0)
    return build_task(config, spec).eval()


def series_batches():
    g = torch.Generator().manual_seed(1)
    raw = [(5, 9), (3, 14), (2, 20), (6, 5)]  # (batch, length): several of each
    return [(torch.randn(b, t, 3, generator=g) * 2 + 1,) for b, t in raw]


def image_batches():
    g = torch.Generator().manual_seed(2)
    return [(torch.randint(0, 17, (b, 1, 8, 8), generator=g).float(),) for b in (7, 3, 2)]


def token_batches():
    g = torch.Generator().manual_seed(3)
    return [(torch.randint(0, 23, (b, t), generator=g),) for b, t in ((4, 10), (2, 16), (3, 7))]


CASES = {
    "rnn": ("rnn", SERIES, series_batches),
    "lstm": ("lstm", SERIES, series_batches),
    "gru": ("gru", SERIES, series_batches),
    "transformer": ("transformer", SERIES, series_batches),
    "gpt": ("gpt", SERIES, series_batches),
    "fcn": ("fcn", SERIES, series_batches),
    "ar": ("ar", SERIES, series_batches),
    "vit": ("vit", DIGITS, image_batches),
    "gpt_forward": ("gpt", TEXT, token_batches),
}
# ONNX export takes seconds per model: the default suite keeps an image model here, an LSTM
# through both exporters (test_an_axis_the_dynamo_exporter_fixes_...) and a trained LSTM end
# to end (tests/test_predict.py); the rest run with -m slow
QUICK_ONNX = {"vit"}


def _params(fmt: str):
    for name in CASES:
        slow = fmt == "onnx" and name not in QUICK_ONNX
        yield pytest.param(name, id=name, marks=[pytest.mark.slow] if slow else [])


def _round_trip(name: str, fmt: str, tmp_path) -> dict:
    from seqlab.prediction.export import export_model

    model, spec, batches = CASES[name]
    task = tiny_task(model, spec)
    report = export_model(task, fmt, tmp_path, batches(), tolerance=1e-5)
    assert report["max_abs_diff"] <= 1e-5
    # every shape ran through the one file: batch and length are dynamic (nn.RNN, which the
    # dynamo exporter unrolls over time, is written again by the TorchScript-based exporter)
    assert report["fixed_axes"] == {}
    assert len({tuple(s) for s in report["shapes"]}) == len(batches())
    return report


@pytest.mark.parametrize("name", list(_params("torchscript")))
def test_torchscript_round_trip(name, tmp_path):
    report = _round_trip(name, "torchscript", tmp_path)
    assert (tmp_path / "model.pt").is_file()
    assert report["format"] == "torchscript"


@pytest.mark.parametrize("name", list(_params("onnx")))
def test_onnx_round_trip(name, tmp_path):
    _round_trip(name, "onnx", tmp_path)


def test_an_axis_the_dynamo_exporter_fixes_is_written_again_dynamic(tmp_path, monkeypatch):
    """The dynamo exporter once fixed an LSTM's time axis after other work in the same
    process (order-dependent); whatever the cause, the file is written again by the
    TorchScript-based exporter and every length runs through it."""
    from seqlab.prediction import export

    real = export.fixed_axes
    calls = []

    def first_call_fixed(path, graph):  # the dynamo file "fixed" time at its example's length
        calls.append(path)
        return {1: 14} if len(calls) == 1 else real(path, graph)

    monkeypatch.setattr(export, "fixed_axes", first_call_fixed)
    model, spec, batches = CASES["lstm"]
    report = export.export_model(
        tiny_task(model, spec), "onnx", tmp_path, batches(), tolerance=1e-5
    )
    assert len(calls) == 2 and report["fixed_axes"] == {}
    assert len({tuple(s) for s in report["shapes"]}) == len(batches())
    assert (tmp_path / "model.onnx").is_file()
    readme = (tmp_path / "model.README.md").read_text()
    assert "## Inputs" in readme and "onnxruntime" in readme


def test_series_graph_standardises_inside_and_equals_predict(tmp_path):
    """The exported graph takes raw values: its probabilities are predict.py's (which
    standardises with the stored statistics before calling the task)."""
    from seqlab.prediction import series
    from seqlab.prediction.export import export_model

    task = tiny_task("lstm", SERIES)
    batches = series_batches()
    export_model(task, "torchscript", tmp_path, batches)
    loaded = torch.jit.load(str(tmp_path / "model.pt"))
    mean, std = series.stats(SERIES)
    for (raw,) in batches:
        values = [((v.numpy().astype(np.float64) - mean) / std).astype(np.float32) for v in raw]
        expected = series.probabilities(task, values)
        with torch.inference_mode():
            _, probs = loaded(raw)
        np.testing.assert_allclose(probs.numpy(), expected, atol=1e-5, rtol=0)
    stats = json.loads((tmp_path / "model.preprocessing.json").read_text())
    assert stats["normalisation_in_graph"] == {"mean": [1.0, -2.0, 0.5], "std": [2.0, 0.5, 1.5]}
    assert stats["class_names"] == ["a", "b", "c", "d"]


def test_a_graph_that_disagrees_is_refused_and_not_kept(tmp_path, monkeypatch):
    from seqlab.prediction import export

    task = tiny_task("gru", SERIES)
    real = export.torch_outputs
    monkeypatch.setattr(export, "torch_outputs", lambda g, b: [o + 1e-3 for o in real(g, b)])
    with pytest.raises(SeqlabError, match="differs from torch"):
        export.export_model(task, "torchscript", tmp_path, series_batches())
    assert not (tmp_path / "model.pt").exists()


def test_scratch_recurrent_is_refused_with_the_fix(tmp_path):
    from seqlab.prediction.export import export_model

    task = tiny_task("lstm", SERIES, impl="scratch")
    with pytest.raises(SeqlabError, match=r"impl=scratch.*Fix: .*impl=fused"):
        export_model(task, "onnx", tmp_path, series_batches())
    assert not list(tmp_path.iterdir())


def test_vqvae_is_refused_with_the_reason(tmp_path):
    from seqlab.prediction.export import export_model

    spec = DataSpec(
        task="classification",
        num_features=28,
        num_targets=10,
        seq_len=28,
        image_shape=(1, 28, 28),
        class_names=tuple(str(d) for d in range(10)),
        extra={"mean": [33.0], "std": [78.0]},
    )
    task = tiny_task("vqvae", spec, hidden_size=8, codebook_size=8, code_dim=4)
    with pytest.raises(SeqlabError, match="VQVAE cannot be exported: a VQ-VAE"):
        export_model(task, "onnx", tmp_path, image_batches())


def test_unknown_format_is_refused(tmp_path):
    from seqlab.prediction.export import export_model

    with pytest.raises(SeqlabError, match=r"format='tflite'.*Fix: format=onnx"):
        export_model(tiny_task("gru", SERIES), "tflite", tmp_path, series_batches())
