"""Early stopping that waits for the first validation before it asks for its metric."""

from __future__ import annotations

from lightning.pytorch.callbacks import EarlyStopping as LightningEarlyStopping


class EarlyStopping(LightningEarlyStopping):
    """Lightning's ``EarlyStopping``, except before the first real validation.

    Lightning checks at every training-epoch end, so a run that ends inside its first epoch
    (``trainer.max_steps=20``, ``max_time``) raises "conditioned on metric `val/loss` which is
    not available" and loses its test and summary. Until a validation has run there is
    nothing to stop on, so the check waits; afterwards a missing metric (a typo in
    ``monitor``) is as strict an error as in Lightning.
    """

    _validated = False  # set on the instance by its first real validation; keeps the signature

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._validated = True
        super().on_validation_end(trainer, pl_module)

    def _run_early_stopping_check(self, trainer) -> None:
        if not self._validated and self.monitor not in trainer.callback_metrics:
            return
        super()._run_early_stopping_check(trainer)
