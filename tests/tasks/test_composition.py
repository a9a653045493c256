"""model × data: every model trains on every dataset it claims (forward + backward)."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.tasks.registry import BACKBONE_TASKS, build_task
from tests.conftest import CONFIGS, compose_config

MODELS = sorted(p.stem for p in (CONFIGS / "model").glob("*.yaml"))
DATA = {
    "stocks": ["data.batch_size=8"],
    "shakespeare": [
        "data.max_chars=60000",
        "data.ngram_order=0",
        "data.batch_size=4",
        "data.block_size=32",
    ],
}


@pytest.fixture(scope="module")
def datamodules(tmp_path_factory):
    built = {}
    for name, overrides in DATA.items():
        cfg = compose_config("train", [f"data={name}", *overrides], tmp_path_factory.mktemp(name))
        datamodule = instantiate(cfg.data)
        datamodule.setup("fit")
        built[name] = datamodule
    return built


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("model", MODELS)
def test_model_trains_on_data(model, data, datamodules, tmp_path):
    cfg = compose_config("train", [f"model={model}", f"data={data}", *DATA[data]], tmp_path)
    datamodule = datamodules[data]
    torch.manual_seed(0)
    task = build_task(cfg.model, datamodule.spec, data=cfg.data)
    x, y = next(iter(datamodule.train_dataloader()))
    out = task(x)
    prediction = out[0] if isinstance(out, tuple) else out
    loss = task.last_step_loss(task.backbone(task.embed_inputs(x))[0], y)
    loss = loss + prediction.float().pow(2).mean() * 0  # every head takes part
    loss.backward()
    assert torch.isfinite(loss)
    missing = [n for n, p in task.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing}"


def test_incompatible_pair_names_the_models_that_fit():
    spec = DataSpec(
        task="forecasting",
        num_features=2,
        num_targets=1,
        extra={"target_mean": 0.0, "target_std": 1.0},
    )
    model = {"backbone": {"_target_": "seqlab.nn.recurrent.LSTM", "input_size": 4}}
    BACKBONE_TASKS["tests.FakeImageOnly"] = ("classification",)
    try:
        fake = {"backbone": {"_target_": "tests.FakeImageOnly"}}
        with pytest.raises(
            SeqlabError, match=r"cannot do forecasting; models that fit this data: .*lstm"
        ):
            build_task(fake, spec)
    finally:
        del BACKBONE_TASKS["tests.FakeImageOnly"]
    assert build_task(model, spec) is not None
