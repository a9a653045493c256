"""UCR/UEA series classification from the aeon wheel: official splits, lengths that vary."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from seqlab.baselines.dtw import dtw_distances
from seqlab.data.series.ucr import UCRDataModule, read_ts
from seqlab.errors import SeqlabError
from tests.conftest import compose_config


@pytest.fixture(scope="module")
def vowels():
    dm = UCRDataModule(name="JapaneseVowels", dtw_baseline=False, rocket_baseline=False)
    dm.setup()
    return dm


def test_official_splits_and_varying_lengths(vowels):
    sizes = {k: len(v) for k, v in vowels.splits.items()}
    assert sizes["train"] + sizes["val"] == 270 and sizes["test"] == 370  # the archive's files
    assert vowels.lengths[0] == 7 and vowels.lengths[-1] == 29
    spec = vowels.spec
    assert spec.num_features == 12 and spec.num_targets == 9 and spec.extra["variable_length"]
    x, y, lengths = next(iter(vowels.train_dataloader()))
    assert x.shape[0] == y.shape[0] == lengths.shape[0] and x.shape[1] == int(lengths.max())
    short = int(lengths.argmin())
    assert torch.all(x[short, lengths[short] :] == 0)  # right-padded with zeros


def test_validation_is_a_stratified_share_of_train(vowels):
    train = torch.bincount(vowels.splits["train"].labels, minlength=9)
    val = torch.bincount(vowels.splits["val"].labels, minlength=9)
    assert (val > 0).all() and torch.allclose(val / (train + val), torch.full((9,), 0.2), atol=0.05)


def test_a_bad_ts_file_names_the_line(tmp_path):
    path = tmp_path / "bad.ts"
    path.write_text("@problemName x\n@data\n1,2,3:4,5,6:a\n1,2,x:4,5,6:b\n")
    with pytest.raises(SeqlabError, match="line 4, channel 1 is not numeric"):
        read_ts(path)
    path.write_text("@data\n1,2,3:4,5:a\n")
    with pytest.raises(SeqlabError, match="channels of different lengths"):
        read_ts(path)


def test_an_lstm_learns_the_vowels_through_the_cli(tmp_path):
    from seqlab.cli.train import run

    out = tmp_path / "run"
    run(
        compose_config(
            "train",
            [
                "data=japanese_vowels",
                "data.dtw_baseline=false",
                "data.rocket_baseline=false",
                "model=lstm",
                "model.backbone.hidden_size=32",
                "model.backbone.num_layers=1",
                "trainer.max_epochs=3",
                "trainer.accelerator=cpu",
                "logger=csv",
                "extras.print_config=false",
                "callbacks.progress_bar=null",
            ],
            out,
        )
    )
    test = json.loads((out / "summary.json").read_text())["test"]
    assert test["test/acc"] > test["test/baseline_majority_acc"] + 0.3


def _dtw_reference(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook O(n·m) recursion, one pair at a time."""
    D = np.full((len(a) + 1, len(b) + 1), np.inf)
    D[0, 0] = 0.0
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = float(((a[i - 1] - b[j - 1]) ** 2).sum())
            D[i, j] = cost + min(D[i - 1, j], D[i, j - 1], D[i - 1, j - 1])
    return D[-1, -1]


def test_dtw_matches_the_textbook_recursion_for_series_of_any_length():
    rng = np.random.default_rng(0)
    queries = [rng.normal(size=(n, 3)) for n in (4, 9, 6)]
    refs = [rng.normal(size=(n, 3)) for n in (7, 3, 9, 5)]
    ours = dtw_distances(queries, refs)
    expected = np.array([[_dtw_reference(q, r) for r in refs] for q in queries])
    assert np.allclose(ours, expected, rtol=1e-10)
    shifted = np.concatenate([refs[0][:1], refs[0]])  # a repeated first step costs nothing
    assert dtw_distances([refs[0]], [shifted])[0, 0] == pytest.approx(0.0, abs=1e-9)


def test_one_nn_dtw_and_minirocket_are_logged_beside_the_model():
    dm = UCRDataModule(name="BasicMotions")
    dm.setup()
    baselines = dm.spec.baselines
    assert 0.8 <= baselines["test"]["dtw_acc"] <= 1.0  # published 1-NN DTW: 0.975
    assert baselines["test"]["rocket_acc"] >= 0.95  # published MiniROCKET: 1.0
    assert {"dtw_acc", "rocket_acc", "majority_acc"} <= set(baselines["val"])
    assert baselines["test"]["majority_acc"] == pytest.approx(0.25)


def _ts(path, rows: list[tuple[list[list[float]], str]]) -> str:
    lines = ["@problemName mine", "@univariate false", "@classLabel true a b", "@data"]
    lines += [
        ":".join(",".join(str(v) for v in channel) for channel in series) + f":{label}"
        for series, label in rows
    ]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_your_own_archive_file_with_its_test_file_beside_it(tmp_path):
    rng = np.random.default_rng(0)
    rows = [
        ([rng.normal(size=n).tolist()], "a" if k % 2 else "b") for k, n in enumerate(range(5, 25))
    ]
    train = _ts(tmp_path / "mine_TRAIN.ts", rows)
    _ts(tmp_path / "mine_TEST.ts", rows[:6])
    dm = UCRDataModule(name=None, path=train, val_frac=0.25, rocket_baseline=False)
    dm.setup()
    assert len(dm.splits["test"]) == 6 and dm.spec.num_targets == 2
    assert dm.spec.extra["variable_length"] and dm.spec.baselines["test"]["dtw_acc"] == 1.0


@pytest.mark.parametrize(
    ("test_rows", "train_label", "message"),
    [
        ([([[1.0, 2.0], [3.0, 4.0]], "a")], None, r"different numbers of channels \[1, 2\]"),
        ([([[1.0, 2.0]], "c")], None, r"test labels \['c'\] never occur in the training file"),
        ([([[1.0, 2.0]], "a")], "a", "one class only"),
    ],
    ids=["channels", "test-only-label", "one-class"],
)
def test_bad_archive_files_get_clear_errors(tmp_path, test_rows, train_label, message):
    rows = [([[float(k), 1.0, 2.0]], train_label or ("a" if k % 2 else "b")) for k in range(8)]
    train = _ts(tmp_path / "x_TRAIN.ts", rows)
    _ts(tmp_path / "x_TEST.ts", test_rows)
    with pytest.raises(SeqlabError, match=message):
        UCRDataModule(name=None, path=train).setup()


def test_dtw_beyond_its_cell_budget_is_skipped_with_the_knob_named(caplog):
    dm = UCRDataModule(name="BasicMotions", dtw_max_cells=1e6, rocket_baseline=False)
    with caplog.at_level("INFO", logger="seqlab.data.series.ucr"):
        dm.setup()
    assert not any("dtw" in key or "rocket" in key for key in dm.spec.extra)
    assert "data.dtw_max_cells=1e+06" in caplog.text


def test_val_frac_zero_trains_on_the_whole_official_train_file(tmp_path):
    from tests.conftest import train_summary

    dm = UCRDataModule(name="BasicMotions", val_frac=0, rocket_baseline=False)
    dm.setup()
    assert len(dm.splits["train"]) == 40 and len(dm.splits["val"]) == 0
    assert dm.val_dataloader() == [] and "val" not in dm.spec.baselines
    assert "dtw_acc" in dm.spec.baselines["test"]
    with pytest.raises(SeqlabError, match=r"data.val_frac=1.0: a share in \[0, 1\)"):
        UCRDataModule(name="BasicMotions", val_frac=1.0).setup()
    summary = train_summary(
        tmp_path / "run",
        "experiment=series_classification",
        "data.name=BasicMotions",
        "data.val_frac=0",
        *("data.dtw_baseline=false", "data.rocket_baseline=false"),
        "model.backbone.hidden_size=16",
        "trainer.max_epochs=20",
        "logger=csv",
        "extras.print_config=false",
        "callbacks.progress_bar=null",
    )
    assert summary["status"] == "ok" and summary["val"] == {}  # no val/loss: a warning only
    test = summary["test"]
    assert summary["epochs"] == 20 and test["test/baseline_majority_acc"] == pytest.approx(0.25)
    assert test["test/acc"] >= test["test/baseline_majority_acc"] + 0.3  # measured 0.75


def test_sets_from_either_data_package_and_an_unknown_name_lists_them():
    from seqlab.data.series.ucr import archive_files

    train, test = archive_files("PLAID")  # sktime's wheel: 537 + 537 series, 100-1,344 steps
    assert "sktime" in str(train) and test.name == "PLAID_TEST.ts"
    assert "aeon" in str(archive_files("GunPoint")[0])
    with pytest.raises(SeqlabError, match=r"data.name=GunPont: no such set .* 'GunPoint'"):
        archive_files("GunPont")
