"""`eval.py ensemble=[...]`: class probabilities of several checkpoints averaged, scored beside
each member and the data's references; members that were not tested on the same series are
refused by name."""

from __future__ import annotations

import json

import pytest
import torch

from seqlab.errors import SeqlabError
from seqlab.evaluation.ensemble import MemberOutput, score_ensemble
from tests.conftest import SHORT, compose_config, train_summary


def one_hot_votes(picks: list[int], k: int = 3) -> torch.Tensor:
    """(N, K) probabilities: 0.6 on the picked class, the rest shared."""
    probs = torch.full((len(picks), k), 0.4 / (k - 1))
    probs[torch.arange(len(picks)), torch.tensor(picks)] = 0.6
    return probs


def test_averaging_corrects_errors_no_single_member_avoids():
    labels = torch.tensor([0, 1, 2])
    # each member is wrong on a different series; the majority of votes is right on all
    members = [
        MemberOutput("a", one_hot_votes([1, 1, 2]), labels),
        MemberOutput("b", one_hot_votes([0, 2, 2]), labels),
        MemberOutput("c", one_hot_votes([0, 1, 0]), labels),
    ]
    metrics = score_ensemble(members)
    assert [metrics[f"test/member{i}_acc"] for i in range(3)] == pytest.approx([2 / 3] * 3)
    assert metrics["test/ensemble_acc"] == 1.0
    assert metrics["test/members_mean_acc"] == pytest.approx(2 / 3)
    assert metrics["test/ensemble_size"] == 3
    assert metrics["test/ensemble_nll"] < metrics["test/member0_nll"]


def test_an_ensemble_of_copies_scores_as_its_member():
    labels = torch.tensor([0, 1, 2, 1])
    probs = torch.softmax(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), -1)
    metrics = score_ensemble([MemberOutput(n, probs, labels) for n in "ab"])
    assert metrics["test/ensemble_acc"] == metrics["test/member0_acc"]
    assert metrics["test/ensemble_nll"] == pytest.approx(metrics["test/member1_nll"])


def test_members_tested_on_other_series_are_refused_by_name():
    a = MemberOutput("runs/a.ckpt", one_hot_votes([0, 1]), torch.tensor([0, 1]))
    b = MemberOutput("runs/b.ckpt", one_hot_votes([0, 1]), torch.tensor([1, 1]))
    with pytest.raises(SeqlabError, match=r"runs/b.ckpt was tested on other series"):
        score_ensemble([a, b])
    # same series and labels, but classes named otherwise: another data set's classifier
    c = MemberOutput("runs/c.ckpt", one_hot_votes([0, 1]), torch.tensor([0, 1]), ("x", "y"))
    d = MemberOutput("runs/d.ckpt", one_hot_votes([0, 1]), torch.tensor([0, 1]), ("1", "2"))
    with pytest.raises(SeqlabError, match=r"runs/d.ckpt was tested on other series or classes"):
        score_ensemble([c, d])
    with pytest.raises(SeqlabError, match="at least 2 checkpoints"):
        score_ensemble([a])


@pytest.fixture(scope="module")
def two_vits(tmp_path_factory):
    """Two tiny ViTs on sklearn's digits, different seeds."""
    root = tmp_path_factory.mktemp("ensemble")
    runs = []
    for seed in (1, 2):
        runs.append(
            train_summary(
                root / f"seed{seed}",
                *SHORT,
                "experiment=vit_digits",
                "model.backbone.hidden_size=16",
                "model.backbone.num_layers=1",
                "model.backbone.num_heads=2",
                "trainer.limit_test_batches=1.0",
                f"seed={seed}",
            )
        )
    return root, runs


def test_eval_averages_the_members_and_writes_the_summary(two_vits, tmp_path):
    from hydra.core.global_hydra import GlobalHydra

    from seqlab.cli.evaluate import run
    from seqlab.tasks.registry import load_task

    root, runs = two_vits
    cfg = compose_config(
        "eval", [f"ensemble=[{root}/seed*/checkpoints/last.ckpt]", "logger=csv"], tmp_path
    )
    try:
        metrics = run(cfg)
    finally:
        GlobalHydra.instance().clear()
    # each member scores what its own training run's test scored (same checkpoint, same split)
    for i, summary in enumerate(runs):
        assert metrics[f"test/member{i}_acc"] == pytest.approx(
            summary["test"]["test/acc"], abs=1e-6
        )
    assert metrics["test/baseline_majority_acc"] == pytest.approx(
        runs[0]["test"]["test/baseline_majority_acc"]
    )
    written = json.loads((tmp_path / "eval_summary.json").read_text())
    assert len(written["members"]) == 2
    assert written["members_wall_s"] == pytest.approx(sum(r["wall_s"] for r in runs), abs=0.2)
    assert written["test"]["test/ensemble_acc"] == metrics["test/ensemble_acc"]
    assert list(tmp_path.rglob("metrics.csv")), "the CSV logger got the ensemble's metrics"

    # the ensemble's accuracy is that of the mean of the members' probabilities
    from seqlab.data.images.datamodule import DigitsDataModule

    dm = DigitsDataModule(augment=False)
    dm.setup("test")
    x = torch.cat([b[0] for b in dm.test_dataloader()])
    y = torch.cat([b[1] for b in dm.test_dataloader()])
    with torch.no_grad():
        mean = sum(
            torch.softmax(load_task(r["last_checkpoint"])[0].eval()(x), -1) for r in runs
        ) / len(runs)
    assert metrics["test/ensemble_acc"] == pytest.approx(
        float((mean.argmax(-1) == y).float().mean())
    )


def test_a_forecaster_in_an_ensemble_is_refused(tmp_path):
    from seqlab.evaluation.ensemble import member_output

    class Forecaster:
        class spec:
            task = "forecasting"

    with pytest.raises(SeqlabError, match=r"f.ckpt is a forecasting model; .* classifier"):
        member_output("f.ckpt", Forecaster(), [])


def test_a_glob_that_matches_nothing_names_itself(tmp_path):
    from seqlab.cli.ensemble import member_paths

    with pytest.raises(SeqlabError, match=r"'nowhere/\*.ckpt' matches no checkpoint"):
        member_paths(["nowhere/*.ckpt"])
