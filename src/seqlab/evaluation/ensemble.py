"""An ensemble of trained classifiers: the mean of their class probabilities.

InceptionTime is by definition five networks of different seeds whose softmax outputs are
averaged (Ismail Fawaz et al. 2020), and HIVE-COTE-style ensembles mix model families; both
are one evaluation here: every member reads the test split of the data it was trained on,
its probabilities (N, K) are averaged, and the ensemble is scored beside each member and the
data's own references (majority class, 1-NN DTW, MiniROCKET) with the same metrics.

Members may differ in architecture and preprocessing (each reads its own data config), but
must have been tested on the same series in the same order: their test labels are compared,
and a member whose labels differ is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

from seqlab.errors import SeqlabError


@dataclass
class MemberOutput:
    name: str  # the checkpoint path, as the user gave it
    probabilities: torch.Tensor  # (N, K) softmax over classes
    labels: torch.Tensor  # (N,)
    classes: tuple = ()  # the training's class names, in the probabilities' column order


@torch.no_grad()
def member_output(name: str, task, test_batches) -> MemberOutput:
    """Class probabilities of one trained task over the test batches, in their order."""
    if task.spec.task != "classification":
        raise SeqlabError(
            f"ensemble: {name} is a {task.spec.task} model; ensembles average class "
            "probabilities, so every member must be a classifier (data with labels)."
        )
    task.eval()
    probabilities, labels = [], []
    for batch in test_batches:
        x, y, *rest = batch
        probabilities.append(torch.softmax(task(x, *rest).float(), dim=-1))
        labels.append(y)
    classes = tuple(task.spec.class_names or ())
    return MemberOutput(name, torch.cat(probabilities), torch.cat(labels), classes)


def _scores(probabilities: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    k = probabilities.shape[1]
    pred = probabilities.argmax(dim=-1)
    picked = probabilities[torch.arange(len(labels)), labels].clamp_min(1e-12)
    return {
        "acc": float(multiclass_accuracy(pred, labels, k, average="micro")),
        "f1": float(multiclass_f1_score(pred, labels, k, average="macro")),
        "nll": float(-picked.log().mean()),  # what probability averaging improves first
    }


def score_ensemble(members: list[MemberOutput]) -> dict[str, float]:
    """``test/ensemble_*`` for the mean of the members' probabilities, ``test/member<i>_*``
    for each member and ``test/members_mean_acc``: the ensemble's gain is read off one table."""
    if len(members) < 2:
        raise SeqlabError(
            f"ensemble: {len(members)} member(s); an ensemble needs at least 2 checkpoints. Fix: "
            "ensemble='[run1/checkpoints/last.ckpt,run2/checkpoints/last.ckpt]' (globs work)."
        )
    first = members[0]
    for member in members[1:]:
        if (
            member.probabilities.shape != first.probabilities.shape
            or not torch.equal(member.labels, first.labels)
            or member.classes != first.classes
        ):
            raise SeqlabError(
                f"ensemble: {member.name} was tested on other series or classes than "
                f"{first.name} ({tuple(member.probabilities.shape)} vs "
                f"{tuple(first.probabilities.shape)} probabilities, or other labels or class names). Fix: "
                "members trained on the same data (same test file, same classes)."
            )
    metrics: dict[str, float] = {}
    for i, member in enumerate(members):
        for key, value in _scores(member.probabilities, member.labels).items():
            metrics[f"test/member{i}_{key}"] = value
    mean = torch.stack([m.probabilities for m in members]).mean(dim=0)
    metrics.update({f"test/ensemble_{k}": v for k, v in _scores(mean, first.labels).items()})
    metrics["test/members_mean_acc"] = sum(
        metrics[f"test/member{i}_acc"] for i in range(len(members))
    ) / len(members)
    metrics["test/ensemble_size"] = float(len(members))
    return metrics
