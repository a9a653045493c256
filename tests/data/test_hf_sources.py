"""Hugging Face datasets as sources, offline first: save_to_disk folders, Parquet/Arrow files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqlab.data.series.datamodule import SeriesDataModule
from seqlab.errors import SeqlabError


def _long_table() -> pd.DataFrame:
    months = pd.date_range("2015-01-01", periods=48, freq="MS").strftime("%Y-%m-%d")
    rows = [
        {"id": name, "month": m, "y": float(10 * (k + 1) + np.sin(i / 2) + i / 10)}
        for k, name in enumerate(["a", "b"])
        for i, m in enumerate(months)
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("kind", ["save_to_disk", "parquet", "arrow"])
def test_a_forecasting_table_is_read_from_a_datasets_source(tmp_path, kind):
    from datasets import Dataset

    frame = _long_table()
    dataset = Dataset.from_pandas(frame, preserve_index=False)
    if kind == "save_to_disk":
        source = tmp_path / "saved"
        dataset.save_to_disk(str(source))
    elif kind == "parquet":
        source = tmp_path / "table.parquet"
        dataset.to_parquet(str(source))
    else:
        dataset.save_to_disk(str(tmp_path / "saved"))
        (source,) = (tmp_path / "saved").glob("*.arrow")
    dm = SeriesDataModule(
        path=str(source), time_column="month", target="y", group_column="id", window=12, horizon=2
    )
    dm.setup("fit")
    assert sorted(dm.levels) == ["a", "b"] and len(dm.levels["a"]) == 48
    assert dm.levels["b"]["y"].iloc[0] == pytest.approx(frame["y"].iloc[48])


def test_a_source_with_several_splits_is_refused_for_forecasting(tmp_path):
    from datasets import Dataset, DatasetDict

    part = Dataset.from_pandas(_long_table(), preserve_index=False)
    DatasetDict({"train": part, "test": part}).save_to_disk(str(tmp_path / "two"))
    dm = SeriesDataModule(
        path=str(tmp_path / "two"), time_column="month", target="y", group_column="id"
    )
    with pytest.raises(
        SeqlabError, match=r"has the splits \['train', 'test'\].*seqlab splits per series"
    ):
        dm.setup("fit")


def _text_source(tmp_path, kind: str):
    from datasets import Dataset, DatasetDict

    lines = [f"line {i}: to be, or not to be, that is the question." for i in range(400)]
    splits = DatasetDict(
        {
            "train": Dataset.from_dict({"text": lines[:300]}),
            "test": Dataset.from_dict({"text": lines[300:]}),
        }
    )
    if kind == "save_to_disk":
        splits.save_to_disk(str(tmp_path / "corpus"))
        return tmp_path / "corpus"
    splits["train"].to_parquet(str(tmp_path / "corpus.parquet"))
    return tmp_path / "corpus.parquet"


@pytest.mark.parametrize("kind", ["save_to_disk", "parquet"])
def test_text_comes_from_a_local_datasets_source_while_offline(tmp_path, kind, monkeypatch):
    from seqlab.data.text.datamodule import ShakespeareDataModule

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = _text_source(tmp_path, kind)
    dm = ShakespeareDataModule(
        hub_dataset=str(source),
        plays=None,
        genres=None,
        block_size=16,
        cache_dir=str(tmp_path / "cache"),
    )
    dm.setup("fit")
    assert dm.spec.vocab_size < 40  # the characters of the lines above, not the plays'
    text = next((tmp_path / "cache").glob("hub-*.txt")).read_text()
    assert text.startswith("line 0: to be") and ("line 399" in text) == (kind == "save_to_disk")


def test_a_hub_name_not_in_any_cache_fails_at_once_with_the_offline_fix(tmp_path, monkeypatch):
    import time

    from seqlab.data.hf import load_hf

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(
        SeqlabError, match=r"'someone/never-downloaded' is not a local folder.*save_to_disk"
    ):
        load_hf("someone/never-downloaded", field="data.hub_dataset")
    assert time.monotonic() - start < 10


def test_text_already_kept_on_disk_is_used_without_the_hub(tmp_path, monkeypatch):
    from seqlab.data.text.hub_text import _slug, hub_text_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    kept = tmp_path / f"hub-{_slug('karpathy/tiny_shakespeare')}-text.txt"
    kept.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n")
    path = hub_text_file(
        "karpathy/tiny_shakespeare", field="text", cache_dir=str(tmp_path), offline_hint="x"
    )
    assert path == kept


def test_a_language_model_trains_on_a_save_to_disk_folder_through_the_cli(tmp_path, monkeypatch):
    from tests.conftest import SHORT, train_summary

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = _text_source(tmp_path, "save_to_disk")
    summary = train_summary(
        tmp_path / "run",
        *SHORT,
        "data=tiny_shakespeare_hub",
        f"data.hub_dataset={source}",
        f"data.cache_dir={tmp_path / 'cache'}",
        "data.block_size=16",
        "model=gru",
        "model.backbone.hidden_size=8",
        "model.backbone.num_layers=1",
    )
    assert summary["status"] == "ok" and summary["test"]["test/loss"] > 0


def test_series_of_varying_length_are_classified_from_a_datasets_source(tmp_path, monkeypatch):
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

    from seqlab.data.series.ucr import UCRDataModule

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rng = np.random.default_rng(0)

    def part(n: int) -> Dataset:
        rows = {"series": [], "label": []}
        for k in range(n):
            steps = int(rng.integers(10, 30))
            rows["series"].append(
                (np.sin(np.arange(steps) * (1 + k % 2)) + rng.normal(0, 0.1, steps)).tolist()
            )
            rows["label"].append(k % 2)
        features = Features(
            {"series": Sequence(Value("float64")), "label": ClassLabel(names=["slow", "fast"])}
        )
        return Dataset.from_dict(rows, features=features)

    DatasetDict({"train": part(40), "test": part(20)}).save_to_disk(str(tmp_path / "sines"))
    dm = UCRDataModule(
        name=None, path=str(tmp_path / "sines"), val_frac=0.25, rocket_baseline=False
    )
    dm.setup()
    assert dm.class_names == ["fast", "slow"] and len(dm.splits["test"]) == 20
    assert dm.spec.extra["variable_length"] and dm.spec.baselines["test"]["dtw_acc"] > 0.8
    DatasetDict({"train": part(10), "validation": part(4)}).save_to_disk(str(tmp_path / "other"))
    with pytest.raises(
        SeqlabError, match=r"splits \['train', 'validation'\].*name the splits train and test"
    ):
        UCRDataModule(name=None, path=str(tmp_path / "other")).setup()


@pytest.mark.slow  # three short trainings through the CLI
@pytest.mark.parametrize("modality", ["forecasting", "images", "series_classification"])
def test_every_modality_trains_a_step_from_a_datasets_source_through_the_cli(
    tmp_path, monkeypatch, modality
):
    import datasets

    from tests.conftest import SHORT, train_summary

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rng = np.random.default_rng(0)
    if modality == "forecasting":
        source = tmp_path / "table.parquet"
        datasets.Dataset.from_pandas(_long_table(), preserve_index=False).to_parquet(str(source))
        data = ["data=series", f"data.path={source}", "data.time_column=month", "data.target=y"]
        data += ["data.group_column=id", "data.window=12", "model=gru"]
    elif modality == "images":
        features = datasets.Features(
            {"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])}
        )
        rows = {"image": [rng.integers(0, 255, (8, 8), dtype=np.uint8) for _ in range(40)]}
        part = datasets.Dataset.from_dict(
            rows | {"label": [i % 2 for i in range(40)]}, features=features
        )
        datasets.DatasetDict({"train": part, "test": part}).save_to_disk(str(tmp_path / "imgs"))
        data = ["data=mnist_hub", f"data.dataset={tmp_path / 'imgs'}", "model=vit"]
        data += ["model.backbone.patch_size=4"]
    else:
        rows = {"series": [rng.normal(size=int(rng.integers(8, 20))).tolist() for _ in range(30)]}
        part = datasets.Dataset.from_dict(rows | {"label": [str(i % 2) for i in range(30)]})
        datasets.DatasetDict({"train": part, "test": part}).save_to_disk(str(tmp_path / "s"))
        data = ["data=ucr", "data.name=null", f"data.path={tmp_path / 's'}", "model=gru"]
        data += ["data.rocket_baseline=false"]
    summary = train_summary(tmp_path / "run", *SHORT, *data, "trainer.max_epochs=1")
    assert summary["status"] == "ok" and summary["test"]
