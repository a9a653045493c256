"""Config values a user types wrong end as SeqlabError (one line at the CLI), never as a
ValueError from deep inside sklearn, torch or a callback (a traceback)."""

from __future__ import annotations

import re

import pytest
from omegaconf import OmegaConf

from seqlab.errors import SeqlabError


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: __import__("seqlab.callbacks.grad_norm", fromlist=["x"]).GradNorm(0),
            r"callbacks.grad_norm.every_n_steps must be >= 1, got 0\. Fix:",
        ),
        (
            lambda: __import__("seqlab.callbacks.media_budget", fromlist=["x"]).MediaBudget(2),
            r"callbacks.media_budget.max_share must be in \(0, 1\] or null, got 2\. Fix:",
        ),
        (
            lambda: __import__("seqlab.callbacks.text_samples", fromlist=["x"]).TextSamples(
                every_n_validations=0
            ),
            r"callbacks.text_samples.every_n_validations must be >= 1, got 0\. Fix:",
        ),
    ],
    ids=["grad_norm", "media_budget", "text_samples"],
)
def test_callback_settings_are_user_errors(make, message):
    with pytest.raises(SeqlabError, match=message):
        make()


def test_a_validation_share_smaller_than_the_classes_is_named():
    from seqlab.data.images.datamodule import DigitsDataModule

    with pytest.raises(SeqlabError) as err:
        DigitsDataModule(val_frac=0.001).setup()
    text = str(err.value)
    assert "data.val_frac=0.001" in text and "10 classes" in text and "Fix:" in text
    with pytest.raises(SeqlabError, match=r"data.test_frac=0.002.*10 classes"):
        DigitsDataModule(test_frac=0.002).setup()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("temperature=-1", r"temperature=-1.0: must be >= 0"),
        ("top_k=-3", r"top_k=-3: null, 0 \(all tokens\) or a positive integer"),
        ("max_new_tokens=0", r"max_new_tokens=0: a positive integer"),
        ("num_samples=0", r"num_samples=0: a positive integer"),
        ("num_images=0", r"num_images=0: a positive integer"),
    ],
)
def test_sampling_settings_are_checked_before_the_checkpoint_loads(override, message):
    from seqlab.cli.generate import check_sampling

    base = OmegaConf.create(
        {"temperature": 0.8, "top_k": 50, "max_new_tokens": 5, "num_samples": 1, "num_images": 4}
    )
    check_sampling(base)  # the defaults pass
    key, value = override.split("=")
    base[key] = float(value) if key == "temperature" else int(value)
    with pytest.raises(SeqlabError, match=message) as err:
        check_sampling(base)
    assert "Fix:" in str(err.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seed=abc", r"seed='abc': an integer, or null\. Fix:"),
        ("trainer.accumulate_grad_batches=0", r"trainer.accumulate_grad_batches=0: a whole number"),
        ("trainer.check_val_every_n_epoch=0", r"trainer.check_val_every_n_epoch=0: a whole number"),
    ],
)
def test_counts_lightning_divides_by_are_refused_before_anything_runs(tmp_path, override, message):
    from seqlab.cli.train import run
    from tests.conftest import compose_config

    short = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "test=false"]
    short += ["trainer.limit_val_batches=1", "extras.print_config=false", "logger=csv"]
    with pytest.raises(SeqlabError, match=message):
        run(compose_config("train", [*short, override], tmp_path))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.precision=17", r"^trainer: Precision 17 is invalid\..* Fix: correct that"),
        (
            "trainer.val_check_interval=1.5",
            r"^trainer: .*invalid value 1\.5 for val_check_interval",
        ),
    ],
)
def test_a_trainer_argument_lightning_rejects_is_one_line(tmp_path, override, message):
    from hydra.utils import instantiate

    from seqlab.cli.preflight import trainer_error
    from tests.conftest import compose_config

    cfg = compose_config("train", [override], tmp_path)
    with pytest.raises(Exception) as raised:
        instantiate(cfg.trainer)
    refused = trainer_error(raised.value)
    assert isinstance(refused, SeqlabError) and "\n" not in str(refused)
    assert re.search(message, str(refused)), str(refused)
    assert trainer_error(RuntimeError("a bug, not a setting")) is None  # bugs stay tracebacks


def test_the_cli_turns_a_rejected_trainer_argument_into_a_user_error(tmp_path):
    from seqlab.cli.train import run
    from tests.conftest import compose_config

    cfg = compose_config("train", ["trainer.precision=17", "logger=csv"], tmp_path)
    with pytest.raises(SeqlabError, match=r"^trainer: Precision 17 is invalid"):
        run(cfg)
