"""Config values a user types wrong end as SeqlabError (one line at the CLI), never as a
ValueError from deep inside sklearn, torch or a callback (a traceback)."""

from __future__ import annotations

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
