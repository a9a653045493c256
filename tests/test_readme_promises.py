"""README promises, second pass (issue 29): each pinned by a test that fails when it breaks."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from seqlab.errors import SeqlabError
from tests.conftest import CONFIGS, ROOT, compose_config

RUN_NAME = re.compile(r"^\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-\d{3}_[0-9a-f]{4}$")


# ----------------------------------------------------------------------------- runs
def test_run_folders_are_named_by_time_with_milliseconds_and_a_random_suffix(tmp_path):
    """`2026-12-01_08-19-05-388_beb8`: timestamp, milliseconds, 4 hex characters."""
    from seqlab.cli.run_dir import unique_child

    names = {os.path.basename(unique_child(tmp_path)) for _ in range(5)}
    assert len(names) == 5 and all(RUN_NAME.match(n) for n in names), names


@pytest.mark.slow  # a real `python train.py` subprocess
def test_a_run_folder_holds_what_the_readme_table_lists(tmp_path):
    """`logs/<task_name>/runs/<timestamp>/` with `.hydra/`, `config_tree.log`, `checkpoints/`
    (best `epoch_NNN.ckpt` and `last.ckpt`), `csv/metrics.csv`, `wandb/`, `plots/`,
    `model_summary.txt`, `summary.json` and the log as `<task_name>.log`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(WANDB_MODE="offline", OMP_NUM_THREADS="1", HOME=str(tmp_path))
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            f"paths.log_dir={tmp_path}",
            "task_name=promise",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=3",
            "trainer.limit_val_batches=2",
            "trainer.limit_test_batches=2",
            "model.backbone.hidden_size=8",
            "callbacks.progress_bar=null",
        ],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (tmp_path / "promise" / "runs").iterdir()
    assert RUN_NAME.match(run.name)
    for entry in (".hydra/config.yaml", "config_tree.log", "csv/metrics.csv", "summary.json"):
        assert (run / entry).is_file(), entry
    assert "model <" in (run / "promise.log").read_text()  # <task_name>.log
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert [p.name for p in (run / "checkpoints").glob("epoch_*.ckpt")] == ["epoch_000.ckpt"]
    assert list((run / "wandb").glob("offline-run-*")) and list((run / "plots").glob("*.png"))
    assert "backbone" in (run / "model_summary.txt").read_text()


def test_make_help_lists_the_targets():
    result = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert {"install", "train", "test", "test-all", "lint", "bench", "dalle"} <= listed


# ----------------------------------------------------------------------------- data
def test_the_plays_are_38_with_about_5_million_characters():
    from seqlab.data.text.plays import available_plays, load_plays

    assert len(available_plays()) == 38
    assert 4.5e6 < len(load_plays()) < 5.5e6


@pytest.mark.parametrize(("frequency", "dates", "season"), [("MS", "MS", 12), ("W", "W-SUN", 52)])
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_series_file_in_csv_or_parquet_and_its_default_season(
    tmp_path, frequency, dates, season, suffix
):
    """`data=series data.path=` reads CSV or Parquet; `data.season` defaults from the
    frequency: 12 for monthly, 52 for weekly."""
    from seqlab.data.series.datamodule import SeriesDataModule

    time = pd.date_range("2010-01-01", periods=160, freq=dates)
    value = 10 + np.sin(np.arange(160) * 2 * np.pi / season) + np.arange(160) * 0.01
    frame = pd.DataFrame({"time": time.strftime("%Y-%m-%d"), "value": value})
    path = tmp_path / f"series{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    dm = SeriesDataModule(path=str(path), window=8, baselines=False)
    dm.setup("fit")
    assert dm.season == season and dm.table_frequency.startswith(frequency[0])
    windows = sum(len(dm.windows[s][1]) for s in ("train", "val", "test"))
    assert windows > 100 and dm.spec.num_features == 1


@pytest.mark.parametrize(
    ("name", "published"),
    [
        ("ItalyPowerDemand", 0.950),
        pytest.param("GunPoint", 0.907, marks=pytest.mark.slow),
        pytest.param("ArrowHead", 0.703, marks=pytest.mark.slow),
    ],
)
def test_one_nn_dtw_lands_on_the_archives_published_figures(name, published):
    from seqlab.data.series.ucr import UCRDataModule

    dm = UCRDataModule(name=name, rocket_baseline=False)
    dm.setup()
    assert dm.spec.baselines["test"]["dtw_acc"] == pytest.approx(published, abs=0.0015)


def test_acsf1_skips_its_dtw_baseline_by_default(caplog):
    from seqlab.data.series.ucr import UCRDataModule

    dm = UCRDataModule(name="ACSF1", rocket_baseline=False)
    with caplog.at_level("INFO", logger="seqlab.data.series.ucr"):
        dm.setup()
    assert (
        "dtw_acc" not in dm.spec.baselines["test"] and "rocket_acc" not in dm.spec.baselines["test"]
    )
    assert "2.1e+10 DP cells" in caplog.text and "data.dtw_max_cells=5e+08" in caplog.text


def test_captions_come_from_eight_templates_and_45_words():
    from seqlab.data.images.captions import TEMPLATES, WordTokenizer

    assert len(TEMPLATES) == 8 and WordTokenizer().vocab_size == 45  # 43 words, <pad>, <unk>


# ----------------------------------------------------------------------------- running
def test_the_parallel_launcher_refuses_ddp_jobs(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    from seqlab.utils.runtime import relaunches_ranks_in_multirun

    cfg = compose_config(
        "train", ["hydra/launcher=parallel", "trainer=ddp_cpu"], tmp_path, mode="MULTIRUN"
    )
    with pytest.raises(SeqlabError, match=r"parallel \(joblib\) launcher.*Fix:"):
        relaunches_ranks_in_multirun(cfg)
    single = compose_config("train", ["hydra/launcher=parallel"], tmp_path, mode="MULTIRUN")
    assert relaunches_ranks_in_multirun(single) is False  # one process per job: allowed


def test_the_media_budget_defaults_to_one_percent():
    import inspect

    from seqlab.callbacks.media_budget import MediaBudget

    configured = OmegaConf.load(CONFIGS / "callbacks" / "default.yaml").media_budget.max_share
    assert configured == 0.01 == inspect.signature(MediaBudget).parameters["max_share"].default


def test_model_compile_keeps_its_cache_in_the_projects_cache_inductor(monkeypatch):
    from seqlab.utils.runtime import apply_extras

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("SEQLAB_ROOT", "/some/project")
    apply_extras(OmegaConf.create({"extras": {}}))  # what every entry point does first
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/some/project/.cache/inductor"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/mine")  # the user's own choice stands
    apply_extras(OmegaConf.create({"extras": {}}))
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/mine"


def test_checkpoints_are_fsynced_before_they_replace_the_file(tmp_path, monkeypatch):
    """Written to a temporary file in the same folder, fsync'ed, then renamed over."""
    import torch

    from seqlab.utils import files
    from seqlab.utils.checkpoint_io import AtomicCheckpointIO

    target = tmp_path / "last.ckpt"
    target.write_bytes(b"the previous checkpoint")
    synced = []

    def fsync(fd):
        synced.append((os.readlink(f"/proc/self/fd/{fd}"), target.read_bytes()))

    monkeypatch.setattr(files.os, "fsync", fsync)
    AtomicCheckpointIO().save_checkpoint({"w": torch.ones(3)}, target)
    ((synced_path, target_then),) = synced
    assert os.path.dirname(synced_path) == str(tmp_path) and synced_path != str(target)
    assert target_then == b"the previous checkpoint"  # not yet replaced when synced
    assert torch.equal(torch.load(target, weights_only=True)["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


# ----------------------------------------------------------------------------- baselines
@pytest.mark.slow  # n-gram models of orders 1-6 on 4.5 M characters
def test_the_markov_chain_table_of_the_course_and_the_readmes_5_gram():
    """docs/course.md's val bits/char per n-gram order, and the README's 5-gram at about 1.51
    nats/char (2.18 bits/char), recomputed on the datamodule's own split."""
    import math

    from seqlab.baselines.ngram import NGramLM
    from seqlab.data.text.datamodule import ShakespeareDataModule

    dm = ShakespeareDataModule(cache_dir=None)
    dm.setup()
    baselines = dm.spec.baselines  # nats per character (char tokens)
    assert baselines["val"]["ngram_nll"] == pytest.approx(1.51, abs=0.005)
    assert baselines["val"]["ngram_nll"] / math.log(2) == pytest.approx(2.177, abs=0.001)
    assert baselines["val"]["bigram_nll"] / math.log(2) == pytest.approx(3.589, abs=0.001)
    train, val = dm.train_tokens.numpy(), dm.val_tokens.numpy()
    # the course's Kneser-Ney rows ("| <name> Kneser–Ney ... | <context> | <bits> |"), read from
    # the page itself: modified KN (discounts per order), as the datamodule's 5-gram
    rows = re.findall(
        r"^\| (?:unigram \(KN 1-gram\)|[\w-]+, modified Kneser–Ney[^|]*) \| (\d) \| ([\d.]+) \|$",
        (ROOT / "docs" / "course.md").read_text(),
        flags=re.M,
    )
    table = {int(context) + 1: float(bits) for context, bits in rows}
    assert sorted(table) == [1, 2, 3, 4, 6], rows
    for order, bits in table.items():
        lm = NGramLM(order=order, discount=None).fit(train, dm.spec.vocab_size)
        assert lm.nll(val) / math.log(2) == pytest.approx(bits, abs=0.001), order


def test_the_lstm_config_opens_the_forget_gate_with_bias_one():
    """ "seqlab's `lstm` config uses `forget_bias: 1.0`": b_f = 1 in every layer, as built."""
    from hydra.utils import instantiate

    backbone = OmegaConf.load(CONFIGS / "model" / "lstm.yaml").backbone
    backbone.input_size, backbone.hidden_size = 3, 4
    lstm = instantiate(backbone)
    biases = {n: p for n, p in lstm.named_parameters() if "bias" in n}
    forget = [
        (biases[n][4:8] + biases[n.replace("_ih", "_hh")][4:8]).tolist()
        for n in biases
        if "bias_ih" in n
    ]
    assert forget and all(gate == [1.0] * 4 for gate in forget)


def test_live_prices_come_through_yfinance(monkeypatch):
    """`data.source=yfinance data.tickers=[NVDA]` (network in real life; a stand-in here that
    answers like yfinance >= 0.2, with (field, ticker) columns)."""
    import sys
    import types

    from seqlab.data.series.stocks import StockDataModule

    asked = []

    def download(ticker, start, end, auto_adjust, progress):
        asked.append((ticker, start, end, auto_adjust))
        days = pd.bdate_range("2020-01-01", periods=300, name="Date")
        close = 100 * np.exp(np.cumsum(np.random.default_rng(len(asked)).normal(0, 0.01, 300)))
        fields = {"Open": close, "High": close * 1.01, "Low": close * 0.99, "Close": close}
        fields |= {"Adj Close": close, "Volume": np.full(300, 1e6)}
        columns = pd.MultiIndex.from_tuples([(f, ticker) for f in fields])
        return pd.DataFrame(np.column_stack(list(fields.values())), index=days, columns=columns)

    monkeypatch.setitem(sys.modules, "yfinance", types.SimpleNamespace(download=download))
    dm = StockDataModule(source="yfinance", tickers=["NVDA", "AMD"], window=10)
    dm.setup()
    assert [a[0] for a in asked] == ["NVDA", "AMD"] and all(a[3] is False for a in asked)
    assert set(dm.splits["train"].ticker) == {"NVDA", "AMD"}
    monkeypatch.setitem(sys.modules, "yfinance", None)  # not installed
    with pytest.raises(SeqlabError, match=r"data.source=yfinance needs .*pip install yfinance"):
        StockDataModule(source="yfinance", tickers=["NVDA"]).setup()


def test_the_forecast_table_benchmark_writes_the_table_the_readme_shows(tmp_path, monkeypatch):
    """`python -m benchmarks.forecast_table` rewrites `benchmarks/results/forecast_table.md`
    (its training runs replaced by fixed numbers here), and the README shows that file's table."""
    from benchmarks import forecast_table

    readme = (ROOT / "README.md").read_text()
    shown = (ROOT / "benchmarks" / "results" / "forecast_table.md").read_text()
    assert all(line in readme for line in shown.splitlines() if line.startswith("|"))

    def fake_run(overrides, out):
        test = {
            f"test/baseline_{r}_{m}": 0.5
            for r in forecast_table.REFERENCES
            for m in ("mase", "owa")
        }
        model = next(o for o in overrides if o.startswith("model="))
        rank = (
            ["model=ar", "model=lstm", "model=gru", "model=dlinear", "model=nbeats"].index(model)
            if "fit" not in str(overrides)
            else -1
        )
        test |= {"test/mase": 0.2 + rank / 10, "test/owa": 0.4, "test/smape": 9.0}
        return test | {"test/baseline_naive_smape": 12.0}, 1.0

    monkeypatch.setattr(forecast_table, "RESULTS", tmp_path)
    monkeypatch.setattr(forecast_table, "run", fake_run)
    monkeypatch.setattr(forecast_table, "datasets", lambda folder: {"toy": ["data=series"]})
    monkeypatch.setattr(sys, "argv", ["forecast_table"])
    forecast_table.main()
    written = (tmp_path / "forecast_table.md").read_text()
    header = [line for line in shown.splitlines() if line.startswith("| data")]
    assert header and header[0] in written  # same columns as the published table
    assert "| toy | **0.100 (0.400)** | 0.200 (0.400) | 0.300 (0.400) |" in written


@pytest.mark.slow  # two default trainings, ~25 s
@pytest.mark.parametrize(("model", "accuracy"), [("lstm", 0.957), ("transformer", 0.981)])
def test_japanese_vowels_accuracy_as_the_readme_reports(tmp_path, model, accuracy):
    """`python train.py data=japanese_vowels model=lstm`: 95.7% test accuracy (transformer
    98.1%; majority class 8.4%), within two of the 370 test series."""
    from tests.conftest import train_summary

    test = train_summary(
        tmp_path,
        "data=japanese_vowels",
        f"model={model}",
        "logger=csv",
        "extras.print_config=false",
        "callbacks.progress_bar=null",
    )["test"]
    assert test["test/acc"] == pytest.approx(accuracy, abs=2 / 370)
    assert test["test/baseline_majority_acc"] == pytest.approx(0.084, abs=0.001)
