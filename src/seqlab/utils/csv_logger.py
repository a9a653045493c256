"""Lightning's CSV logger, but appending to an existing ``metrics.csv`` instead of deleting it.

Lightning's writer removes the file whenever a new writer starts in a non-empty folder and
forgets the header it had: a resumed run lost its earlier rows, and under ``ddp_spawn`` the
test stage (a fresh process) crashed rewriting a header it did not know.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from seqlab.utils.files import atomic_write_text


class AppendingExperimentWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        """Keep an existing metrics.csv: rows are appended to it."""

    def save(self) -> None:
        if not self.metrics_keys and os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as file:
                self.metrics_keys = next(csv.reader(file), [])
        super().save()


class CSVLogger(LightningCSVLogger):
    @property
    def experiment(self) -> AppendingExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = AppendingExperimentWriter(log_dir=self.log_dir)
        return self._experiment


def drop_rows_after_step(metrics_file: str | os.PathLike, step: int) -> int:
    """Resuming from a checkpoint at ``step``: rows logged after it (by a run killed before
    its next checkpoint) are re-logged by the resumed run, so drop them. Returns how many."""
    path = Path(metrics_file)
    if not path.is_file():
        return 0
    with path.open(newline="") as file:
        rows = list(csv.reader(file))
    if not rows or "step" not in rows[0]:
        return 0
    column = rows[0].index("step")
    kept = [rows[0]] + [r for r in rows[1:] if not (r[column] and int(float(r[column])) > step)]
    dropped = len(rows) - len(kept)
    if dropped:
        text = io.StringIO(newline="")
        csv.writer(text).writerows(kept)
        atomic_write_text(path, text.getvalue())
    return dropped
