"""Which windows of a series train, validate and test: the protocols forecasters use.

A window is named by its **origin** ``o``: the index of its first target. Its targets are
``values[o : o + horizon]``; its inputs are the ``window`` steps before ``o``. Only the
*targets* must lie inside a split; inputs may reach back into earlier periods (a validation
window reads training data, as any forecast made at that time would). A series shorter than
``window`` before an origin is read with its first value repeated on the left, as long as it has
``min_inputs`` real steps.

- ``holdout`` (the M-competition protocol, the default for many series): each series' last
  ``test_size`` points are its test, the ``val_size`` points before them its validation;
- ``backtest`` (rolling origin): ``windows`` origins ``step`` apart at the end of each series;
- ``calendar``: one cut of the whole time axis at ``train_frac`` / ``train_frac + val_frac``,
  the same calendar dates for every series.

A series too short for validation trains without it; one too short for a test window is
trained on and reported as untested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

SPLITS = ("auto", "holdout", "backtest", "calendar")


@dataclass
class SeriesPlan:
    """Origins (first target index) of one series' windows per split; ``fit_end`` is where the
    history a reference model may be fitted on ends for each test origin's block."""

    train: list[int] = field(default_factory=list)
    val: list[int] = field(default_factory=list)
    test: list[int] = field(default_factory=list)
    train_end: int = 0  # targets before this index are training targets

    def origins(self, split: str) -> list[int]:
        return getattr(self, split)


def split_cut_dates(dates: pd.Series, train_frac: float, val_frac: float) -> tuple[Any, Any]:
    """Calendar dates where val and test begin, shared by every series (no look-ahead)."""
    unique = np.sort(dates.unique())
    n = len(unique)
    return unique[int(n * train_frac)], unique[int(n * (train_frac + val_frac))]


def _span(start: int, stop: int, step: int = 1) -> list[int]:
    return list(range(start, stop + 1, step)) if stop >= start else []


def plan_series(
    length: int,
    *,
    mode: str,
    window: int,
    horizon: int,
    min_inputs: int,
    test_size: int,
    val_size: int,
    step: int = 1,
    windows: int = 1,
    cuts: tuple[int, int] | None = None,
) -> SeriesPlan:
    """The windows of one series of ``length`` model values.

    ``cuts``: for ``calendar``, the number of values before the validation and test cuts."""
    plan = SeriesPlan()
    if mode == "calendar":
        assert cuts is not None
        val_start, test_start = cuts
        plan.test = _span(max(test_start, min_inputs), length - horizon)
        plan.val = _span(max(val_start, min_inputs), test_start - horizon)
        plan.train_end = val_start
    else:
        if mode == "backtest":
            last = length - horizon
            tests = [last - step * k for k in range(windows - 1, -1, -1)]
            tests = [o for o in tests if o >= min_inputs]
        else:
            tests = _span(max(length - test_size, min_inputs), length - horizon)
        if not tests:  # too short to test: all of it trains
            plan.train_end = length
        else:
            plan.test = tests
            first_test = tests[0]
            val_start = first_test - val_size
            if val_size and val_start >= min_inputs:
                plan.val = _span(val_start, first_test - horizon)
                plan.train_end = val_start
            else:
                plan.train_end = first_test
    # training windows read a whole window when the series has one, else what there is
    first = window if plan.train_end - horizon >= window else min_inputs
    plan.train = _span(first, plan.train_end - horizon)
    return plan
