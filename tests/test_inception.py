"""InceptionTime (seqlab.nn.inception): shapes, the paper's structure, padding never changes a
result (backbone and pooled logits), it learns, and it is a `model=` like the FCN."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from seqlab.data.collate import pad_collate
from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.nn.inception import InceptionModule, InceptionTime
from seqlab.tasks.classification import ClassificationTask

D = torch.float64
SMALL = {"input_size": 3, "filters": 4, "bottleneck": 4, "kernel_sizes": (9, 5, 3)}


def _small(**kwargs) -> InceptionTime:
    torch.manual_seed(0)
    return InceptionTime(**(SMALL | kwargs))


def test_shapes_and_contract_attributes():
    model = InceptionTime()  # the paper's sizes
    out, state = model(torch.randn(2, 50, 32))
    assert out.shape == (2, 50, 128) and state is None
    assert (model.input_size, model.output_size) == (32, 128)
    assert InceptionTime.kind == "sequence" and InceptionTime.causal is False
    assert model.kernel_sizes == (39, 19, 9)
    with pytest.raises(ValueError, match=r"\(batch, time, 32\)"):
        model(torch.randn(2, 50, 7))


def _param_count(c_in: int, f: int, kernels: tuple[int, ...], b: int, depth: int) -> int:
    """Weights of the paper's network (no conv biases; BatchNorm: 2 per channel)."""
    width = f * (len(kernels) + 1)

    def module(c: int) -> int:
        squeezed = b if c > 1 else c
        return (c * b if c > 1 else 0) + squeezed * f * sum(kernels) + c * f + 2 * width

    total = sum(module(c_in if d == 0 else width) for d in range(depth))
    shortcuts = [c_in if i == 0 else width for i in range(depth // 3)]
    return total + sum((c * width if c != width else 0) + 2 * width for c in shortcuts)


@pytest.mark.parametrize(
    "sizes",
    [
        dict(input_size=32, filters=32, kernel_sizes=(39, 19, 9), bottleneck=32, depth=6),
        dict(input_size=1, filters=8, kernel_sizes=(40, 20, 10), bottleneck=32, depth=6),
        dict(input_size=5, filters=4, kernel_sizes=(7, 3), bottleneck=2, depth=7),
    ],
)
def test_parameter_count_follows_the_papers_structure(sizes):
    """Bottleneck only on more than one channel; a shortcut every third module, 1x1 conv + BN
    when the widths differ (the first) and BN alone when not."""
    model = InceptionTime(**sizes)
    expected = _param_count(
        sizes["input_size"],
        sizes["filters"],
        sizes["kernel_sizes"],
        sizes["bottleneck"],
        sizes["depth"],
    )
    assert sum(p.numel() for p in model.parameters()) == expected
    assert len(model.shortcuts) == sizes["depth"] // 3
    assert model.shortcuts[0].proj is not None
    assert all(s.proj is None for s in model.shortcuts[1:])
    first = model.blocks[0]
    assert (first.bottleneck is None) == (sizes["input_size"] == 1)
    assert all(b.bottleneck is not None for b in model.blocks[1:])


def test_without_residual_there_are_no_shortcuts():
    model = _small(residual=False)
    assert len(model.shortcuts) == 0
    assert _small(depth=2).shortcut_after == ()  # fewer than 3 modules: nothing to skip


def test_the_max_pool_branch_sees_only_valid_steps():
    """Negative valid steps beside zeroed padding: a pool reading the zeros would pick them at
    the last valid step; a series alone pools over its own steps only (the pool pads -inf)."""
    torch.manual_seed(0)
    module = InceptionModule(2, filters=3, kernel_sizes=(3,), bottleneck=2).to(D).eval()
    h = -torch.rand(1, 2, 4, dtype=D) - 0.1  # every valid value below the padding's 0
    padded = torch.cat([h, torch.zeros(1, 2, 2, dtype=D)], dim=-1)
    valid = torch.tensor([[[True] * 4 + [False] * 2]])
    alone = module(h)
    assert_close(module(padded, valid)[..., :4], alone, atol=1e-10, rtol=0)
    assert not torch.allclose(module(padded)[..., :4], alone)  # zeros read as data


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_a_series_alone_equals_it_padded_beside_longer_ones():
    model = _small(kernel_sizes=(40, 20, 10)).to(D).eval()  # even kernels: asymmetric padding
    short, longer = torch.randn(7, 3, dtype=D), torch.randn(30, 3, dtype=D)
    x, _, lengths = pad_collate([(short, torch.tensor(0)), (longer, torch.tensor(1))])
    batched, _ = model(x, lengths=lengths)
    assert_close(batched[0, :7], model(short[None])[0][0], atol=1e-6, rtol=0)
    assert_close(batched[1], model(longer[None])[0][0], atol=1e-6, rtol=0)
    assert torch.all(batched[0, 7:] == 0)  # padded steps carry nothing


def _task(**backbone) -> ClassificationTask:
    spec = DataSpec(
        task="classification",
        num_features=2,
        num_targets=3,
        seq_len=30,
        extra={"variable_length": True},
    )
    model = {
        "backbone": {"_target_": "seqlab.nn.inception.InceptionTime", **SMALL, **backbone},
        "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-2},
    }
    torch.manual_seed(0)
    return ClassificationTask(model=model, spec=spec.to_dict())


def test_pooled_class_logits_ignore_padding():
    task = _task().to(D).eval()
    assert task.pass_lengths and not task.last_step_readout  # mean over the valid steps
    short, longer = torch.randn(9, 2, dtype=D), torch.randn(30, 2, dtype=D)
    x, _, lengths = pad_collate([(short, torch.tensor(0)), (longer, torch.tensor(1))])
    assert_close(task(x, lengths)[0], task(short[None])[0], atol=1e-6, rtol=0)


def test_loss_goes_down_on_a_tiny_task():
    """Three classes told apart by where a bump sits: a few Adam steps learn it."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(24) % 3
    x = 0.1 * torch.randn(24, 30, 2, generator=g)
    for i, label in enumerate(y):
        start = 4 + 8 * int(label)
        x[i, start : start + 5] += 1.0
    task = _task()
    optimizer = torch.optim.Adam(task.parameters(), lr=1e-2)
    lengths = torch.full((24,), 30)
    losses = []
    for _ in range(15):
        loss = nn.functional.cross_entropy(task(x, lengths), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("filters", 0, "model.backbone.filters"),
        ("depth", 1.5, "model.backbone.depth"),
        ("kernel_sizes", 40, "model.backbone.kernel_sizes"),
        ("kernel_sizes", [40, 0], "model.backbone.kernel_sizes"),
        ("kernel_sizes", [], "model.backbone.kernel_sizes"),
        ("bottleneck", -1, "model.backbone.bottleneck"),
        ("residual", "yes", "model.backbone.residual"),
        ("dropout", 1.0, "model.backbone.dropout"),
    ],
)
def test_bad_hyperparameters_name_the_field(field, value, message):
    with pytest.raises(SeqlabError, match=message):
        InceptionTime(**{field: value})


def test_it_is_a_model_like_the_fcn(tmp_path):
    """`model=inception_time` is found by name, composes with data=ucr, and its recipe trains
    on the whole TRAIN file with the references beside it."""
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    from seqlab.tasks.registry import build_task, model_name, models_for, tasks_for
    from tests.conftest import compose_config

    assert model_name(InceptionTime) == "inception_time"
    # derived from its kind and capabilities, like the FCN's: not causal, so no language model
    assert set(tasks_for(InceptionTime)) == {"classification", "forecasting"}
    assert "inception_time" in models_for("classification")
    assert "inception_time" in models_for("forecasting")
    cfg = compose_config("train", ["model=inception_time", "data=ucr"], tmp_path)
    assert get_class(cfg.model.backbone._target_) is InceptionTime
    spec = DataSpec(
        task="classification", num_features=12, num_targets=9, extra={"variable_length": True}
    )
    task = build_task(OmegaConf.to_container(cfg.model, resolve=True), spec)
    assert isinstance(task, ClassificationTask) and isinstance(task.backbone, InceptionTime)
    recipe = compose_config(
        "train", ["experiment=inception_time_series_classification"], tmp_path / "recipe"
    )
    assert recipe.model.backbone._target_ == "seqlab.nn.inception.InceptionTime"
    assert recipe.data.val_frac == 0 and recipe.data.dtw_baseline and recipe.data.rocket_baseline
    assert recipe.trainer.max_time and recipe.model.optimizer.lr == 1e-3


@pytest.mark.slow  # a real UCR set end to end: ~20 s
def test_the_recipe_runs_on_arrowhead_and_says_how_far_it_got(tmp_path):
    from tests.conftest import train_summary

    summary = train_summary(
        tmp_path,
        "experiment=inception_time_series_classification",
        "data.name=ArrowHead",
        "logger=csv",
        "trainer.max_epochs=3",
        "extras.print_config=false",
    )
    assert summary["status"] == "ok"
    assert summary["stopped"]["epochs_done"] == summary["stopped"]["epochs_planned"] == 3
    test = summary["test"]
    assert {"test/acc", "test/baseline_rocket_acc", "test/baseline_dtw_acc"} <= set(test)
