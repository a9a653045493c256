"""model × data: every model trains on every dataset it claims (forward + backward)."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import get_class, instantiate

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.nn.contract import fits_on_data
from seqlab.tasks.registry import build_task, tasks_for
from tests.conftest import CONFIGS, compose_config

MODELS = sorted(p.stem for p in (CONFIGS / "model").glob("*.yaml") if p.stem != "custom")
DATA = {
    "stocks": ["data.batch_size=8", "data.horizon=3"],
    "shakespeare": [
        "data.max_chars=60000",
        "data.ngram_order=0",
        "data.batch_size=4",
        "data.block_size=32",
    ],
    # images: ViT reads them; sequence models read them row by row
    "digits": ["data.batch_size=8"],
    "mnist": ["data.batch_size=8"],
    # text-to-image: stage 1 (vqvae) trains here; stage 2 (dalle) needs a stage-1 checkpoint
    "mnist_captions": ["data.batch_size=8"],
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


@pytest.fixture(scope="module")
def stage1_checkpoint(datamodules, tmp_path_factory):
    """A (untrained) VQ-VAE checkpoint as stage 1 writes it, for the DALL·E stage."""
    cfg = compose_config(
        "train", ["model=vqvae", "data=mnist_captions"], tmp_path_factory.mktemp("vq")
    )
    task = build_task(cfg.model, datamodules["mnist_captions"].spec, data=cfg.data)
    path = tmp_path_factory.mktemp("vq") / "stage1.ckpt"
    checkpoint = {"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)}
    task.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)
    return path


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("model", MODELS)
def test_model_trains_on_data(model, data, datamodules, stage1_checkpoint, tmp_path):
    extra = [f"model.tokenizer_ckpt={stage1_checkpoint}"] if model == "dalle" else []
    cfg = compose_config("train", [f"model={model}", f"data={data}", *DATA[data], *extra], tmp_path)
    datamodule = datamodules[data]
    claimed = tasks_for(get_class(cfg.model.backbone._target_))
    if datamodule.spec.task not in claimed:
        # e.g. a ViT on prices or text: refused up front, naming the models that fit
        refused = rf"cannot do {datamodule.spec.task}; models that fit"
        with pytest.raises(SeqlabError, match=refused):
            build_task(cfg.model, datamodule.spec, data=cfg.data)
        return
    torch.manual_seed(0)
    if "head" in cfg.model:  # a closed-form head trains nothing: train the head here
        cfg.model.head = "trained"
    task = build_task(cfg.model, datamodule.spec, data=cfg.data)
    batch = next(iter(datamodule.train_dataloader()))
    if fits_on_data(task.backbone):  # fixed features: fitted before training (on_fit_start)
        x, _, *lengths = batch
        task.backbone.fit(task.embed_inputs(x), *lengths)
    loss = task.training_step(batch, 0)
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
    fake = {"backbone": {"_target_": "tests.tasks.test_composition.FakeImageOnly"}}
    with pytest.raises(
        SeqlabError,
        match=r"model=tests.tasks.test_composition.FakeImageOnly cannot do forecasting; "
        r"models that fit this data: .*lstm",
    ):
        build_task(fake, spec)
    assert build_task(model, spec) is not None


class FakeImageOnly(torch.nn.Module):
    kind = "image"
    tasks = ("classification",)


@pytest.mark.parametrize("task", ["forecasting", "language_modeling"])
def test_vit_on_sequences_is_refused_with_the_fitting_models(task):
    extra = {"target_mean": 0.0, "target_std": 1.0} if task == "forecasting" else {}
    spec = DataSpec(task=task, num_features=2, num_targets=1, vocab_size=10, extra=extra)
    vit = {"backbone": {"_target_": "seqlab.nn.vit.ViT", "patch_size": 4}}
    with pytest.raises(SeqlabError, match=rf"cannot do {task}; models that fit this data: ") as err:
        build_task(vit, spec)
    fitting = str(err.value).split("models that fit this data: ")[1].rstrip(".").split(", ")
    assert {"lstm", "gru", "rnn", "ar"} <= set(fitting) and "vit" not in fitting


# what each built-in backbone serves, derived from its kind and capabilities and the task
# modules' `serves` pairs; no backbone but DLinear/N-BEATS (forecast-only) lists tasks itself
DERIVED = {
    "seqlab.nn.recurrent.LSTM": {"forecasting", "language_modeling", "classification"},
    "seqlab.nn.ar.AR": {"forecasting", "language_modeling", "classification"},
    "seqlab.nn.transformer.GPTBackbone": {"forecasting", "language_modeling", "classification"},
    "seqlab.nn.transformer.TransformerEncoder": {"forecasting", "classification"},
    "seqlab.nn.conv.FCN": {"forecasting", "classification"},
    # pooled: one vector per series, so classification only
    "seqlab.nn.minirocket.MiniRocketFeatures": {"classification"},
    "seqlab.nn.linear_forecast.DLinear": {"forecasting"},
    "seqlab.nn.vit.ViT": {"classification"},
    "seqlab.nn.transformer.EncoderDecoder": {"forecasting"},
    "seqlab.nn.text_to_image.dalle.DALLE": {"text_to_image"},
    # the caption data's pairs, learnt contrastively: what the contrastive task module serves
    "seqlab.nn.text_to_image.clip.CLIP": {"text_to_image"},
    # stage 1 trains on any image data: what its task module reads, not a claim of the VQ-VAE
    "seqlab.nn.text_to_image.image_tokenizer.VQVAE": {"text_to_image", "classification"},
}


@pytest.mark.parametrize("target", sorted(DERIVED))
def test_tasks_are_derived_from_kind_and_capabilities(target):
    cls = get_class(target)
    assert set(tasks_for(cls)) == DERIVED[target]
    if "DLinear" not in target:
        assert "tasks" not in vars(cls), f"{target} lists tasks instead of declaring capabilities"


def test_a_new_task_module_extends_what_every_backbone_of_its_kind_serves(monkeypatch):
    from seqlab.tasks import registry

    class Anomaly:
        serves = (("anomaly", "sequence"),)

    table = registry.task_classes()
    monkeypatch.setattr(
        registry, "task_classes", lambda: {**table, ("anomaly", "sequence"): Anomaly}
    )
    assert "anomaly" in tasks_for(get_class("seqlab.nn.conv.FCN"))
    assert "anomaly" not in tasks_for(get_class("seqlab.nn.vit.ViT"))


def test_a_checkpoint_naming_a_moved_module_still_loads(stage1_checkpoint, tmp_path):
    """The VQ-VAE and DALL·E moved to seqlab.nn.text_to_image; a checkpoint written before
    the move names seqlab.nn.image_tokenizer and loads as the same model."""
    from seqlab.nn.text_to_image.image_tokenizer import VQVAE
    from seqlab.tasks.registry import load_task

    checkpoint = torch.load(stage1_checkpoint, weights_only=True)
    target = checkpoint["hyper_parameters"]["model"]["backbone"]["_target_"]
    assert target == "seqlab.nn.text_to_image.image_tokenizer.VQVAE"
    old = "seqlab.nn.image_tokenizer.VQVAE"
    checkpoint["hyper_parameters"]["model"]["backbone"]["_target_"] = old
    torch.save(checkpoint, tmp_path / "old.ckpt")
    task, _ = load_task(str(tmp_path / "old.ckpt"))
    assert isinstance(task.backbone, VQVAE)
    for name, value in task.state_dict().items():
        assert torch.equal(value, checkpoint["state_dict"][name])
