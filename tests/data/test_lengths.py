"""data.resample / data.pad: series of unequal length brought to one length (interpolated, or
padded with the training mean and read as data), in training, test and predict.py alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqlab.data.package_files import package_file
from seqlab.data.series.lengths import pad, resample, target_length
from seqlab.data.series.ucr import UCRDataModule
from seqlab.errors import SeqlabError
from tests.conftest import SHORT, compose_config, train_summary


def test_resampling_keeps_the_ends_and_interpolates_linearly():
    x = np.array([[0.0, 10.0], [1.0, 20.0], [4.0, 40.0]])  # (T=3, C=2)
    out = resample(x, 5)
    assert out.shape == (5, 2)
    np.testing.assert_allclose(out[:, 0], [0.0, 0.5, 1.0, 2.5, 4.0])
    np.testing.assert_allclose(out[:, 1], [10.0, 15.0, 20.0, 30.0, 40.0])
    np.testing.assert_allclose(resample(out, 3), x)  # back at the original points
    assert resample(np.array([[2.0]]), 4).ravel().tolist() == [2.0] * 4


def test_padding_appends_the_training_mean_and_cuts_longer_series():
    x = np.array([[1.0], [2.0]])
    np.testing.assert_array_equal(pad(x, 4).ravel(), [1.0, 2.0, 0.0, 0.0])
    np.testing.assert_array_equal(pad(np.arange(5.0)[:, None], 3).ravel(), [0.0, 1.0, 2.0])


def test_padded_archive_set_is_read_as_data_without_a_mask():
    dm = UCRDataModule(
        name="PickupGestureWiimoteZ", pad="longest", dtw_baseline=False, rocket_baseline=False
    )
    dm.setup()
    assert {len(s) for split in dm.splits.values() for s in split.series} == {361}
    assert dm.spec.extra["pad"] == 361 and dm.spec.extra["variable_length"] is False
    x, _, lengths = next(iter(dm.train_dataloader()))
    assert x.shape[1] == 361 and (lengths == 361).all()  # nothing masked
    with pytest.raises(SeqlabError, match=r"data.resample=longest and data.pad=longest: two ways"):
        UCRDataModule(name="GunPoint", resample="longest", pad="longest")


def test_the_option_names_its_values():
    assert target_length(None, [3, 9]) is None
    assert target_length("longest", [3, 9]) == 9
    assert target_length(12, [3, 9]) == 12
    with pytest.raises(SeqlabError, match=r"data.resample='long'.*'longest' or a number"):
        target_length("long", [3])


def test_variable_length_archive_set_resampled_to_its_longest_series():
    dm = UCRDataModule(
        name="PickupGestureWiimoteZ", resample="longest", dtw_baseline=False, rocket_baseline=False
    )
    dm.setup()
    lengths = {len(s) for split in dm.splits.values() for s in split.series}
    assert lengths == {361}
    spec = dm.spec
    assert spec.extra["resample"] == 361 and spec.extra["variable_length"] is False


# the FCN recipe pads by default (data.pad: longest); resampling replaces it
@pytest.mark.parametrize("option", ["resample=40 data.pad=null", "pad=longest"])
def test_predict_brings_new_series_to_the_training_length(tmp_path, option):
    from hydra.core.global_hydra import GlobalHydra

    from seqlab.cli.predict import run as predict
    from seqlab.data.series.ucr import read_ts

    summary = train_summary(
        tmp_path / "run",
        *SHORT,
        "experiment=fcn_series_classification",
        "data.name=PickupGestureWiimoteZ",
        *(f"data.{o}" if not o.startswith("data.") else o for o in option.split()),
        "data.dtw_baseline=false",
        "data.rocket_baseline=false",
        "model.backbone.hidden_size=8",
        "trainer.limit_test_batches=1.0",
    )
    test_file = package_file(
        "aeon",
        "datasets/data/PickupGestureWiimoteZ/PickupGestureWiimoteZ_TEST.ts",
        field="data.name",
        hint="pip install --no-deps aeon",
    )
    cfg = compose_config(
        "predict", [f"ckpt_path={summary['last_checkpoint']}", f"data.path={test_file}"], tmp_path
    )
    try:
        path = predict(cfg)
    finally:
        GlobalHydra.instance().clear()
    table = pd.read_csv(path, dtype={"series": str, "predicted": str})
    _, labels = read_ts(test_file)
    first = table.drop_duplicates("series")
    # series of 29-361 steps read at 40 steps, as in training: the test accuracy again
    accuracy = float((first["predicted"].to_numpy() == np.asarray(labels, str)).mean())
    assert accuracy == pytest.approx(summary["test"]["test/acc"], abs=1e-6)
    # and each series' probabilities are the model's on the test split as it was evaluated
    import torch
    from hydra.utils import instantiate

    from seqlab.tasks.registry import load_task

    task, _ = load_task(summary["last_checkpoint"])
    dm = instantiate(task.hparams["data"], _convert_="all")
    dm.setup("test")
    with torch.no_grad():
        expected = torch.cat(
            [torch.softmax(task.eval()(x, n), -1) for x, _, n in dm.test_dataloader()]
        ).numpy()
    got = table["probability"].to_numpy().reshape(len(labels), -1)
    np.testing.assert_allclose(got, expected, atol=1e-5)
