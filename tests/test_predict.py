"""predict.py from a checkpoint alone: new series (.ts, long CSV) and images (PNG folder,
.npy), with the training data gone; the numbers equal what eval scored; input that does not
fit is refused in one line naming what differs and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from seqlab.data.package_files import package_file
from seqlab.errors import SeqlabError
from tests.conftest import SHORT, compose_config, train_summary

TINY = [
    "model.backbone.hidden_size=16",
    "model.backbone.num_layers=1",
    "model.backbone.dropout=0.0",
    "trainer.limit_test_batches=1.0",
]


def run_predict(out: Path, ckpt: str, *overrides: str) -> pd.DataFrame:
    from hydra.core.global_hydra import GlobalHydra

    from seqlab.cli.predict import run

    cfg = compose_config("predict", [f"ckpt_path={ckpt}", *overrides], out)
    try:
        path = run(cfg)
    finally:
        GlobalHydra.instance().clear()
    return pd.read_csv(path, dtype={"series": str, "image": str, "predicted": str, "class": str})


def accuracy(table: pd.DataFrame, id_name: str, truth) -> float:
    first = table.drop_duplicates(id_name)
    return float((first["predicted"].astype(str).to_numpy() == np.asarray(truth, str)).mean())


# ---------------------------------------------------------------------- series
@pytest.fixture(scope="module")
def vowels(tmp_path_factory):
    """An LSTM trained on a copy of JapaneseVowels (12 channels, 7-29 steps); the copy is
    deleted before any prediction. Returns (summary, checkpoint, new TEST file, task spec)."""
    root = tmp_path_factory.mktemp("vowels")
    data = root / "data"
    data.mkdir()
    for split in ("TRAIN", "TEST"):
        source = package_file(
            "aeon",
            f"datasets/data/JapaneseVowels/JapaneseVowels_{split}.ts",
            field="data.name",
            hint="pip install --no-deps aeon",
        )
        shutil.copy(source, data / f"vowels_{split}.ts")
    new = root / "new" / "vowels_new.ts"
    new.parent.mkdir()
    shutil.copy(data / "vowels_TEST.ts", new)
    summary = train_summary(
        root / "run",
        *SHORT,
        *TINY,
        "experiment=series_classification",
        "trainer.check_val_every_n_epoch=1",  # validates, so a checkpoint is written
        "model=lstm",
        "model.backbone.input_size=16",
        f"data.path={data / 'vowels_TRAIN.ts'}",
        "data.dtw_baseline=false",
        "data.rocket_baseline=false",
        "logger=csv",
    )
    shutil.rmtree(data)  # prediction needs the checkpoint and the new file only
    from seqlab.tasks.registry import load_task

    task, _ = load_task(summary["last_checkpoint"])
    return summary, summary["last_checkpoint"], new, task


def ts_series(path: Path) -> tuple[list[np.ndarray], list[str]]:
    from seqlab.prediction.series import read_ts

    new = read_ts(path, 12)
    return new.values, new.labels


def test_new_ts_file_labels_equal_what_eval_scored(vowels, tmp_path):
    summary, ckpt, new, task = vowels
    table = run_predict(tmp_path, ckpt, f"data.path={new}", "parquet=true")
    _, labels = ts_series(new)
    assert table["series"].nunique() == len(labels) == 370
    assert sorted(table["class"].unique()) == sorted(task.spec.class_names)
    sums = table.groupby("series", sort=False)["probability"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-6)
    # the label column of the file travels along; accuracy is the test split's as scored
    assert accuracy(table, "series", labels) == pytest.approx(summary["test"]["test/acc"], abs=1e-6)
    assert (table.drop_duplicates("series")["true_label"].astype(str) == labels).all()
    parquet = pd.read_parquet(tmp_path / "predictions.parquet")
    assert len(parquet) == len(table)


def long_csv(path: Path, values: list[np.ndarray], labels=None, shuffle: bool = True) -> Path:
    rows = []
    for i, series in enumerate(values):
        for t, step in enumerate(series):
            row = {"series": f"s{i}", "step": t, **{f"c{c}": v for c, v in enumerate(step)}}
            if labels is not None:
                row["label"] = labels[i]
            rows.append(row)
    frame = pd.DataFrame(rows)
    if shuffle:  # time_column orders the steps, not the file
        frame = frame.sample(frac=1.0, random_state=0)
    frame.to_csv(path, index=False)
    return path


COLUMNS = "data.value_columns=[" + ",".join(f"c{c}" for c in range(12)) + "]"


def test_long_csv_in_any_row_order_gives_the_ts_predictions(vowels, tmp_path):
    summary, ckpt, new, _ = vowels
    values, labels = ts_series(new)
    csv = long_csv(tmp_path / "new.csv", values, labels)
    table = run_predict(
        tmp_path / "csv",
        ckpt,
        f"data.path={csv}",
        "data.time_column=step",
        "data.label_column=label",
        COLUMNS,
    )
    first = table.drop_duplicates("series")
    assert (first["predicted"] == first["true_label"].astype(str)).mean() == pytest.approx(
        summary["test"]["test/acc"], abs=1e-6
    )
    # the same series (s<i> is the i-th of the .ts file) get the same probabilities
    from_ts = run_predict(tmp_path / "ts", ckpt, f"data.path={new}")
    expected = from_ts["probability"].to_numpy().reshape(len(values), -1)
    index = table["series"].str[1:].astype(int).to_numpy().reshape(len(values), -1)[:, 0]
    got = table["probability"].to_numpy().reshape(len(values), -1)
    np.testing.assert_allclose(got, expected[index], atol=1e-6)


def predict_series(task, path: Path, **data) -> pd.DataFrame:
    from seqlab.prediction import predict

    cfg = OmegaConf.create({"ckpt_path": "x.ckpt", "data": {"path": str(path), **data}})
    return predict(task, task.spec, cfg)


def mismatched(case: str, tmp: Path, values: list[np.ndarray]) -> tuple[Path, dict]:
    """A new file that does not fit the model in one way, and the settings to read it."""
    few = values[:4]
    if case == "channels_ts":
        lines = ["@classLabel false", "@data"]
        lines += [":".join(",".join(map(str, s[:, c])) for c in range(11)) for s in few]
        (tmp / "x.ts").write_text("\n".join(lines) + "\n")
        return tmp / "x.ts", {}
    if case == "channels_csv":
        path = long_csv(tmp / "x.csv", [s[:, :11] for s in few])
        return path, {"time_column": "step"}
    if case == "columns_unnamed":
        return long_csv(tmp / "x.csv", few), {"time_column": "step"}
    if case == "missing_id":
        path = long_csv(tmp / "x.csv", few)
        pd.read_csv(path).rename(columns={"series": "id"}).to_csv(path, index=False)
        return path, {"time_column": "step"}
    if case == "missing_value_column":
        return long_csv(tmp / "x.csv", few), {"time_column": "step", "value_columns": ["c0", "zz"]}
    if case == "non_numeric":
        path = long_csv(tmp / "x.csv", few, shuffle=False)
        frame = pd.read_csv(path).astype({"c3": object})
        frame.loc[5, "c3"] = "1,5"  # a decimal comma
        frame.to_csv(path, index=False)
        return path, {"time_column": "step", "value_columns": [f"c{c}" for c in range(12)]}
    if case == "missing_value":
        path = long_csv(tmp / "x.csv", few, shuffle=False)
        frame = pd.read_csv(path)
        frame.loc[9, "c0"] = None
        frame.to_csv(path, index=False)
        return path, {"time_column": "step", "value_columns": [f"c{c}" for c in range(12)]}
    if case == "non_numeric_ts":
        lines = ["@data", ":".join(["1,2,x,4,5,6,7,8"] * 12)]
        (tmp / "x.ts").write_text("\n".join(lines) + "\n")
        return tmp / "x.ts", {}
    if case == "too_short":
        return long_csv(tmp / "x.csv", [few[0], few[1][:3]]), {
            "time_column": "step",
            "value_columns": [f"c{c}" for c in range(12)],
        }
    if case == "duplicate_step":
        path = long_csv(tmp / "x.csv", few, shuffle=False)
        frame = pd.read_csv(path)
        frame.loc[1, "step"] = 0
        frame.to_csv(path, index=False)
        return path, {"time_column": "step", "value_columns": [f"c{c}" for c in range(12)]}
    raise AssertionError(case)


REFUSALS = {
    "channels_ts": r"line 3 has 11 channel\(s\); the model was trained on 12\. Fix:",
    "channels_csv": r"11 value column\(s\).*trained on 12 channel\(s\)\. Fix: data\.value_columns",
    "columns_unnamed": r"12 value columns .* no channel names .* Fix: data\.value_columns",
    "missing_id": r"no column 'series' \(data\.id_column\).*Fix: data\.id_column=",
    "missing_value_column": r"no column 'zz' \(data\.value_columns\)",
    "non_numeric": r"row 7 column 'c3' is '1,5', not a number.*Fix:",
    "missing_value": r"row 11 column 'c0' is empty \(a missing value\).*Fix:",
    "non_numeric_ts": r"line 2 is not numeric.*Fix:",
    "too_short": r"series 's1' has 3 step\(s\).*shortest the model was trained on.*Fix:",
    "duplicate_step": r"series 's0' has two rows at step=0\. Fix:",
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_series_that_do_not_fit_are_refused_in_one_line(vowels, tmp_path, case):
    _, _, new, task = vowels
    values, _ = ts_series(new)
    path, data = mismatched(case, tmp_path, values)
    with pytest.raises(SeqlabError, match=REFUSALS[case]) as caught:
        predict_series(task, path, **data)
    assert "\n" not in str(caught.value)


def test_shorter_series_are_accepted_when_asked(vowels, tmp_path):
    from seqlab.prediction import predict

    _, _, new, task = vowels
    values, _ = ts_series(new)
    path, data = mismatched("too_short", tmp_path, values)
    cfg = OmegaConf.create({"data": {"path": str(path), **data}, "min_length": 3})
    assert predict(task, task.spec, cfg)["series"].nunique() == 2


# ---------------------------------------------------------------------- images
@pytest.fixture(scope="module")
def digits_vit(tmp_path_factory):
    """A tiny ViT trained on sklearn's digits; the raw test split saved as .npy (0..16)."""
    from seqlab.data.images.datamodule import DigitsDataModule

    root = tmp_path_factory.mktemp("digits")
    summary = train_summary(
        root / "run",
        *SHORT,
        *TINY,
        "experiment=vit_digits",
        "model.backbone.num_heads=2",
        "logger=csv",
    )
    dm = DigitsDataModule(augment=False)
    dm.setup()
    test = dm.splits["test"]
    np.save(root / "test.npy", test.images.numpy())
    return summary, summary["last_checkpoint"], root / "test.npy", test.labels.numpy()


@pytest.fixture
def no_training_images(monkeypatch):
    """Reading the training images fails: prediction must not need them."""
    from seqlab.data.images import datamodule, sources

    def gone():
        raise AssertionError("prediction read the training data")

    monkeypatch.setattr(sources, "read_digits", gone)
    monkeypatch.setattr(datamodule, "read_digits", gone)


def test_npy_labels_equal_what_eval_scored(digits_vit, tmp_path, no_training_images):
    summary, ckpt, npy, labels = digits_vit
    table = run_predict(tmp_path, ckpt, f"data.path={npy}")
    assert table["image"].nunique() == len(labels)
    assert accuracy(table, "image", labels) == pytest.approx(summary["test"]["test/acc"], abs=1e-6)


def write_pngs(folder: Path, images: np.ndarray, scale: int = 2, mode: str = "L") -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        pixels = np.round(image[0].astype(np.float64) * 255 / 16).astype(np.uint8)
        pixels = np.kron(pixels, np.ones((scale, scale), dtype=np.uint8))  # bigger, same content
        Image.fromarray(pixels, "L").convert(mode).save(folder / f"digit_{i:03d}.png")
    return folder


def test_png_folder_of_another_size_and_mode_is_labelled(digits_vit, tmp_path, no_training_images):
    """16x16 RGB PNGs (8-bit) of the test digits: converted to grey, box-resized to 8x8,
    scaled to 0..16 — the labels of the .npy of the same digits (up to 8-bit rounding)."""
    _, ckpt, npy, _ = digits_vit
    images = np.load(npy)[:60]
    folder = write_pngs(tmp_path / "pngs", images, scale=2, mode="RGB")
    table = run_predict(tmp_path / "png", ckpt, f"data.path={folder}")
    np.save(tmp_path / "few.npy", images)
    reference = run_predict(tmp_path / "npy", ckpt, f"data.path={tmp_path / 'few.npy'}")
    assert list(table["image"].unique()[:2]) == ["digit_000.png", "digit_001.png"]
    got = table["probability"].to_numpy().reshape(60, -1)
    expected = reference["probability"].to_numpy().reshape(60, -1)
    np.testing.assert_allclose(got, expected, atol=0.02)  # pixels rounded to 8 bits


def image_mismatch(case: str, tmp: Path, images: np.ndarray) -> tuple[Path, dict]:
    few = images[:5]
    if case == "npy_channels":
        np.save(tmp / "x.npy", np.repeat(few, 3, axis=1))
        return tmp / "x.npy", {}
    if case == "npy_channels_last":
        np.save(tmp / "x.npy", few.transpose(0, 2, 3, 1))
        return tmp / "x.npy", {}
    if case == "npy_range":
        np.save(tmp / "x.npy", few.astype(np.float32) * 255 / 16)
        return tmp / "x.npy", {}
    if case == "npy_size":
        np.save(tmp / "x.npy", np.kron(few, np.ones((1, 1, 2, 2), dtype=few.dtype)))
        return tmp / "x.npy", {}
    if case == "npy_text":
        np.save(tmp / "x.npy", np.array([["a"] * 8] * 8))
        return tmp / "x.npy", {}
    if case == "png_size":
        return write_pngs(tmp / "pngs", few, scale=2), {"resize": False}
    if case == "empty_folder":
        (tmp / "empty").mkdir()
        (tmp / "empty" / "notes.txt").write_text("no images here")
        return tmp / "empty", {}
    if case == "broken_png":
        folder = write_pngs(tmp / "pngs", few, scale=1)
        (folder / "digit_001.png").write_bytes(b"not a png")
        return folder, {}
    raise AssertionError(case)


IMAGE_REFUSALS = {
    "npy_channels": r"shape \(5, 3, 8, 8\); the model reads images of \(N, 1, 8, 8\)\. Fix:",
    "npy_channels_last": r"shape \(5, 8, 8, 1\).*channels last",
    "npy_range": r"values span 0\.\.255; the model was trained on raw pixels in 0\.\.16\. Fix:",
    "npy_size": r"shape \(5, 1, 16, 16\); the model reads images of \(N, 1, 8, 8\)",
    "npy_text": r"holds <U1 values, not numbers\. Fix:",
    "png_size": r"digit_000\.png' is 16x16 pixels; the model reads 8x8\. Fix: images\.resize=true",
    "empty_folder": r"holds no image files .* Fix:",
    "broken_png": r"digit_001\.png' is not a readable image .* Fix:",
}


@pytest.mark.parametrize("case", list(IMAGE_REFUSALS))
def test_images_that_do_not_fit_are_refused_in_one_line(digits_vit, tmp_path, case):
    from seqlab.prediction import predict
    from seqlab.tasks.registry import load_task

    _, ckpt, npy, _ = digits_vit
    task, _ = load_task(ckpt)
    path, images = image_mismatch(case, tmp_path, np.load(npy))
    cfg = OmegaConf.create({"data": {"path": str(path)}, "images": images})
    with pytest.raises(SeqlabError, match=IMAGE_REFUSALS[case]) as caught:
        predict(task, task.spec, cfg)
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------------- dispatch
def test_language_models_are_pointed_to_generate():
    from seqlab.data.spec import DataSpec
    from seqlab.prediction import kind_of_prediction

    spec = DataSpec(task="language_modeling", vocab_size=10)
    with pytest.raises(SeqlabError, match=r"Fix: python generate\.py ckpt_path=a\.ckpt prompt="):
        kind_of_prediction(None, spec, "a.ckpt")


def test_forecasting_goes_to_its_own_module_by_name(monkeypatch):
    """The dispatcher imports seqlab.prediction.forecasting and calls its predict(task, spec,
    cfg) (that module belongs to the forecasting data; here a stand-in records the call)."""
    import sys
    import types

    from seqlab.data.spec import DataSpec
    from seqlab.prediction import predict

    calls = []
    module = types.ModuleType("seqlab.prediction.forecasting")
    module.predict = lambda task, spec, cfg: calls.append(spec.task) or "table"
    monkeypatch.setitem(sys.modules, "seqlab.prediction.forecasting", module)
    spec = DataSpec(task="forecasting", num_features=1, num_targets=3)
    assert predict(object(), spec, OmegaConf.create({})) == "table"
    assert calls == ["forecasting"]


# ---------------------------------------------------------------------- card and export
def test_run_folder_has_a_model_card_matching_its_summary(vowels):
    summary = vowels[0]
    card = (Path(summary["run_dir"]) / "model_card.md").read_text()
    acc, base = summary["test"]["test/acc"], summary["test"]["test/baseline_majority_acc"]
    assert f"| `test/acc` | {acc:.4g} | `baseline_majority_acc` | {base:.4g} |" in card
    assert f"{summary['global_step']} optimiser steps" in card
    assert summary["provenance"]["code"]["commit"] in card
    assert summary["hardware"]["cores"] and f"cores {summary['hardware']['cores']}" in card


def test_exported_onnx_reproduces_predict_from_a_numpy_script(vowels, tmp_path):
    """export.py on the trained checkpoint (verified on the new file's series), then only
    onnxruntime and numpy: each series' probabilities are predict.py's."""
    import onnxruntime as ort

    from seqlab.cli.export import run as export

    _, ckpt, new, _ = vowels
    cfg = compose_config("export", [f"ckpt_path={ckpt}", f"data.path={new}"], tmp_path / "x")
    report = export(cfg)
    assert report["max_abs_diff"] <= 1e-5 and len(report["shapes"]) >= 3
    table = run_predict(tmp_path / "p", ckpt, f"data.path={new}")
    values, _ = ts_series(new)
    # the script a user writes: raw values in, probabilities out
    session = ort.InferenceSession(report["path"])
    probs = np.concatenate(
        [session.run(["probabilities"], {"series": v[None].astype(np.float32)})[0] for v in values]
    )
    expected = table["probability"].to_numpy().reshape(len(values), -1)
    np.testing.assert_allclose(probs, expected, atol=1e-5)


@pytest.mark.slow  # a language model trained a few steps, then two subprocesses
def test_language_model_checkpoint_cli_points_to_generate_and_exports(tmp_path):
    """predict.py on a GPT checkpoint: one line with the generate.py command, exit status 2;
    export.py verifies its graph on the test split rebuilt from the stored data config."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    summary = train_summary(
        tmp_path / "lm",
        *SHORT,
        *TINY,
        "experiment=gpt_shakespeare",
        "model.backbone.num_heads=2",
        "trainer.limit_test_batches=2",
        "trainer.val_check_interval=3",
    )
    ckpt = summary["last_checkpoint"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}

    def cli(script: str, *args: str):
        return subprocess.run(
            [sys.executable, str(ROOT / script), *args, f"paths.log_dir={tmp_path / 'logs'}"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )

    result = cli("predict.py", f"ckpt_path={ckpt}", "data.path=anything.txt")
    assert result.returncode == 2  # bad input (seqlab.cli.errors)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"Fix: python generate.py ckpt_path={ckpt} prompt=" in errors[0]
    assert not list((tmp_path / "logs").rglob("predictions.csv"))

    result = cli("export.py", f"ckpt_path={ckpt}", "format=torchscript")
    assert result.returncode == 0, result.stderr[-2000:]
    (report,) = (tmp_path / "logs").rglob("export_summary.json")
    report = json.loads(report.read_text())
    assert report["max_abs_diff"] <= 1e-5
    assert len({s[1] for s in report["shapes"]}) >= 2  # two lengths through one graph
