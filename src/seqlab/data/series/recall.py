"""Recall at a distance: the task that shows what a fixed-size recurrent state forgets.

Each sequence shows a *key* (one of ``num_symbols`` symbols) at step 0, then exactly
``distance`` filler tokens (drawn at random from ``num_fillers`` tokens that are never keys),
then a *query* token; the label is the key. The query is therefore ``distance + 1`` steps
after the key, and the sequence is ``distance + 2`` steps long:

    step:   0     1 … distance     distance + 1
    token:  key   filler × distance  query          label = key

A recurrent model must carry the key through ``distance`` updates of its state (and its
gradient back through as many Jacobians); an attention model reads step 0 directly from
the query step, whatever the distance. Chance is ``1 / num_symbols``.

Inputs are one-hot vectors over the ``num_symbols + num_fillers + 1`` tokens, so this is a
plain sequence-classification dataset (``DataSpec.task="classification"``,
``num_features`` = the token count, ``num_targets = num_symbols``): every sequence backbone
reads it, causal ones (lstm, gru, rnn, gpt, ar) through their last step, the query's.

The splits are drawn once, from their own seeds (``seed``, ``seed + 1``, ``seed + 2``), and
kept as token ids; the one-hot vectors are made per example.
"""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import Dataset

from seqlab.baselines.majority import majority_accuracy
from seqlab.data.checks import check_int
from seqlab.data.loaders import SplitLoaders
from seqlab.data.spec import DataSpec

SPLITS = ("train", "val", "test")


def recall_tokens(
    n: int, *, distance: int, num_symbols: int, num_fillers: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences as token ids (n, distance + 2) and their labels (n,).

    Token ids: keys ``0 … num_symbols − 1``, fillers ``num_symbols … num_symbols +
    num_fillers − 1``, the query ``num_symbols + num_fillers``.
    """
    g = torch.Generator().manual_seed(int(seed))
    keys = torch.randint(num_symbols, (n,), generator=g)
    fillers = num_symbols + torch.randint(num_fillers, (n, distance), generator=g)
    query = torch.full((n, 1), num_symbols + num_fillers)
    tokens = torch.cat([keys[:, None], fillers, query], dim=1)  # (n, distance + 2)
    return tokens, keys


class RecallSplit(Dataset):
    """Token ids (N, T) and labels (N,); an example is (one-hot (T, V) float32, label)."""

    def __init__(self, tokens: torch.Tensor, labels: torch.Tensor, vocab: int) -> None:
        self.tokens, self.labels, self.vocab = tokens, labels, vocab

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        one_hot = torch.nn.functional.one_hot(self.tokens[index], self.vocab)
        return one_hot.float(), self.labels[index]  # (T, V), ()


class RecallDataModule(SplitLoaders, L.LightningDataModule):
    """``data=recall data.distance=200``: name the key seen ``distance + 1`` steps ago."""

    def __init__(
        self,
        *,
        distance: int = 50,
        num_symbols: int = 8,
        num_fillers: int = 8,
        train_size: int = 8192,
        val_size: int = 1024,
        test_size: int = 1024,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.distance = check_int("data.distance", distance, 0)
        self.num_symbols = check_int("data.num_symbols", num_symbols, 2)
        self.num_fillers = check_int("data.num_fillers", num_fillers, 1)
        self.sizes = {
            "train": check_int("data.train_size", train_size),
            "val": check_int("data.val_size", val_size),
            "test": check_int("data.test_size", test_size),
        }
        self.batch_size = check_int("data.batch_size", batch_size)
        self.num_workers = check_int("data.num_workers", num_workers, 0)
        self.seed = int(seed)
        self.vocab = self.num_symbols + self.num_fillers + 1
        self.splits: dict[str, RecallSplit] = {}
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        for offset, name in enumerate(SPLITS):
            tokens, labels = recall_tokens(
                self.sizes[name],
                distance=self.distance,
                num_symbols=self.num_symbols,
                num_fillers=self.num_fillers,
                seed=self.seed + offset,
            )
            self.splits[name] = RecallSplit(tokens, labels, self.vocab)

    @property
    def spec(self) -> DataSpec:
        train = self.splits["train"].labels
        extra = {"distance": self.distance, "variable_length": False}
        baselines = {
            split: {"majority_acc": majority_accuracy(train, self.splits[split].labels)}
            for split in ("val", "test")
        }
        return DataSpec(
            task="classification",
            num_features=self.vocab,
            num_targets=self.num_symbols,
            seq_len=self.distance + 2,
            class_names=tuple(f"key{i}" for i in range(self.num_symbols)),
            feature_names=(
                *(f"key{i}" for i in range(self.num_symbols)),
                *(f"filler{i}" for i in range(self.num_fillers)),
                "query",
            ),
            baselines=baselines,
            extra=extra,
        )
