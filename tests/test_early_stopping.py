"""seqlab's EarlyStopping: waits for the first validation, strict after it."""

from __future__ import annotations

import types

import pytest
import torch

from seqlab.callbacks.early_stopping import EarlyStopping


def _trainer(metrics: dict, sanity: bool = False):
    from lightning.pytorch.trainer.states import TrainerFn

    return types.SimpleNamespace(
        state=types.SimpleNamespace(fn=TrainerFn.FITTING),
        callback_metrics=metrics,
        sanity_checking=sanity,
        fast_dev_run=False,
        should_stop=False,
        global_rank=0,
        world_size=1,
        strategy=types.SimpleNamespace(reduce_boolean_decision=lambda d, all=True: d),
    )


def test_before_any_validation_a_missing_metric_is_no_error():
    stop = EarlyStopping(monitor="val/loss")
    stop._run_early_stopping_check(_trainer({"train/loss": torch.tensor(1.0)}))
    stop.on_validation_end(_trainer({}, sanity=True), None)  # the sanity check is no validation
    stop._run_early_stopping_check(_trainer({"train/loss": torch.tensor(1.0)}))


def test_after_a_validation_a_missing_metric_is_as_strict_as_lightning():
    stop = EarlyStopping(monitor="val/lss", check_on_train_epoch_end=True)
    stop.on_validation_end(_trainer({"val/loss": torch.tensor(1.0)}), None)
    with pytest.raises(RuntimeError, match="conditioned on metric `val/lss`"):
        stop._run_early_stopping_check(_trainer({"val/loss": torch.tensor(1.0)}))
