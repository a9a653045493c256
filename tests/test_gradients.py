"""Gradients made visible: the gradient-flow measure ‖∂L_T/∂x_t‖ (exact: per sequence, eval
mode, float64) and the total gradient norm logged before clipping (exploding gradients)."""

from __future__ import annotations

import json
import logging
import math
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import Logger
from omegaconf import OmegaConf

from seqlab.callbacks.grad_norm import GradNorm
from seqlab.callbacks.gradient_flow import GradientFlow
from seqlab.cli.sweep_callbacks import GradNormComparison, read_metric_columns
from seqlab.data.spec import DataSpec
from seqlab.tasks.forecasting import ForecastingTask
from seqlab.tasks.language_modeling import LanguageModelingTask
from tests.conftest import ROOT

VOCAB = 11


def _backbone(*, num_layers=1, dropout=0.0, hidden_size=16, impl="fused"):
    return {
        "_target_": "seqlab.nn.recurrent.RNN",
        "input_size": 8,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "dropout": dropout,
        "impl": impl,
    }


OPTIM = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1}


def _lm_task(**backbone):
    torch.manual_seed(0)
    spec = DataSpec(task="language_modeling", vocab_size=VOCAB, seq_len=100)
    model = {"backbone": _backbone(**backbone), "optimizer": OPTIM}
    return LanguageModelingTask(model=model, spec=spec.to_dict())


def _forecast_task(**backbone):
    torch.manual_seed(0)
    spec = DataSpec(task="forecasting", num_features=3, num_targets=2, seq_len=100)
    model = {"backbone": _backbone(**backbone), "optimizer": OPTIM}
    return ForecastingTask(model=model, spec=spec.to_dict())


def _tokens(batch, steps, seed=1):
    return torch.randint(0, VOCAB, (batch, steps), generator=torch.Generator().manual_seed(seed))


def _window(batch, steps, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, steps, 3, generator=gen), torch.randn(batch, 2, generator=gen)


def _by_hand(task, x, y) -> torch.Tensor:
    """‖∂L_T/∂x_t‖ of one forecasting window, the tanh recurrence unrolled by hand in
    float64: x_t = W_in u_t + b_in, h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),
    L_T = mean((W_out h_T + b_out - y)^2)."""
    d = {name: p.detach().double() for name, p in task.named_parameters()}
    inputs = (x[0].double() @ d["input_proj.weight"].T + d["input_proj.bias"]).requires_grad_(True)
    h = torch.zeros(task.backbone.hidden_size, dtype=torch.float64)
    for t in range(len(inputs)):  # (T, C)
        h = torch.tanh(
            d["backbone.rnn.weight_ih_l0"] @ inputs[t]
            + d["backbone.rnn.bias_ih_l0"]
            + d["backbone.rnn.weight_hh_l0"] @ h
            + d["backbone.rnn.bias_hh_l0"]
        )
    prediction = d["head.weight"] @ h + d["head.bias"]
    loss = ((prediction - y[0].double()) ** 2).mean()
    (grad,) = torch.autograd.grad(loss, inputs)
    return grad.norm(dim=-1)  # (T,)


def test_input_gradient_norms_equal_a_hand_computation_in_float64():
    task = _forecast_task()  # float32 parameters: the measure makes its own float64 copies
    x, y = _window(1, 30)
    norms = task.input_gradient_norms((x, y))
    assert norms.dtype == torch.float64 and norms.shape == (30,)
    torch.testing.assert_close(norms, _by_hand(task, x, y), rtol=1e-12, atol=0)
    assert next(task.parameters()).dtype == torch.float32  # the module is untouched


def test_input_gradient_norms_do_not_depend_on_the_batch_size():
    task = _lm_task(num_layers=2)
    x = _tokens(6, 40)
    batch = task.input_gradient_norms((x, x))
    one_by_one = torch.stack([task.input_gradient_norms((x[i : i + 1],) * 2) for i in range(6)])
    torch.testing.assert_close(batch, one_by_one.mean(0), rtol=1e-12, atol=0)
    # the same sequence 8 times measures what it measures alone (no 1/B factor)
    torch.testing.assert_close(
        task.input_gradient_norms((x[:1].repeat(8, 1),) * 2), one_by_one[0], rtol=1e-12, atol=0
    )


def test_input_gradient_norms_see_no_dropout_and_restore_the_mode():
    task = _lm_task(num_layers=2, dropout=0.5)
    x = _tokens(4, 40)
    task.train()
    first, second = (task.input_gradient_norms((x, x)) for _ in range(2))
    assert task.training and task.backbone.rnn.training  # training mode restored
    torch.testing.assert_close(first, second, rtol=0, atol=0)  # no dropout noise
    task.eval()
    torch.testing.assert_close(task.input_gradient_norms((x, x)), first, rtol=0, atol=0)
    assert not task.training


def test_input_gradient_norms_do_not_underflow_100_steps_back():
    """A contracting tanh RNN: the gradient 100 steps back is far below float32's range
    (the float32 measure gave exactly 0 there); in float64 it is positive and exact."""
    task = _forecast_task(impl="scratch")
    with torch.no_grad():
        task.backbone.rnn.weight_hh_l0.mul_(0.2)
    x, y = _window(1, 101)
    norms = task.input_gradient_norms((x, y))
    assert (norms > 0).all()
    assert norms[0] < 1e-45  # float32 cannot hold it (smallest subnormal 1.4e-45)
    torch.testing.assert_close(norms, _by_hand(task, x, y), rtol=1e-10, atol=0)
    # what the float32 measure saw: zero
    inputs = task.embed_inputs(x).detach().requires_grad_(True)
    hidden, _ = task.backbone(inputs)
    (grad32,) = torch.autograd.grad(task.last_step_loss(hidden, y), inputs)
    assert grad32[0, 0].norm() == 0


def test_gradient_flow_callback_keeps_float64_in_its_csv_and_plot(tmp_path):
    """The callback keeps what the measure returns: 1e-70 stays 1e-70 in gradient_flow.csv
    (it was cast to float32, i.e. 0, before) and the heatmap has no floor."""
    task = _forecast_task(impl="scratch")
    with torch.no_grad():
        task.backbone.rnn.weight_hh_l0.mul_(0.2)
    batch = _window(4, 101)
    trainer = SimpleNamespace(
        global_step=0, is_global_zero=True, default_root_dir=str(tmp_path), loggers=[]
    )
    callback = GradientFlow(every_n_steps=1)
    callback.on_train_batch_start(trainer, task, batch, 0)
    callback.on_fit_end(trainer, task)
    table = np.loadtxt(tmp_path / "gradient_flow.csv", delimiter=",", skiprows=1, ndmin=2)
    expected = task.input_gradient_norms(batch).numpy()
    np.testing.assert_allclose(table[0, 1:], expected, rtol=1e-15)
    assert 0 < table[0, 1] < 1e-45
    assert (tmp_path / "plots" / "gradient_flow.png").stat().st_size > 10_000


# ----------------------------------------------------------------------------- item 3
class _MemoryLogger(Logger):
    """Everything a callback sends to the loggers, in memory."""

    name, version = "memory", "0"

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[int, dict]] = []

    def log_metrics(self, metrics, step=None) -> None:
        self.rows.append((step, dict(metrics)))

    def log_hyperparams(self, *args, **kwargs) -> None:
        pass

    def values(self, key: str) -> dict[int, float]:
        return {step: m[key] for step, m in self.rows if key in m}


class _GradProbe(L.Callback):
    """Gradients as the optimiser step sees them: before clipping (on_before_optimizer_step)
    and after (on_train_batch_end: Lightning zeroes them only at the next step)."""

    def __init__(self) -> None:
        self.before: list[float] = []
        self.after: list[float] = []

    @staticmethod
    def _norm(module) -> float:
        flat = torch.cat([p.grad.detach().double().flatten() for p in module.parameters()])
        return float(flat.norm())  # sqrt of the sum of every gradient entry squared

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.before.append(self._norm(pl_module))

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        self.after.append(self._norm(pl_module))


class _TinyRegression(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
        )

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(callback, *, steps=5, clip=None):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(steps * 8, 4, generator=gen)
    data = torch.utils.data.TensorDataset(x, 10 * x.sum(1, keepdim=True))
    probe, logger = _GradProbe(), _MemoryLogger()
    trainer = L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        logger=logger,
        callbacks=[callback, probe],
        gradient_clip_val=clip,
        log_every_n_steps=50,  # the grad norm does not wait for Lightning's logging interval
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(_TinyRegression(), torch.utils.data.DataLoader(data, batch_size=8))
    return probe, logger, trainer


def test_grad_norm_logs_the_total_norm_before_clipping():
    clip = 1e-3
    callback = GradNorm(every_n_steps=1)
    probe, logger, trainer = _fit(callback, clip=clip)
    logged = logger.values("train/grad_norm")
    assert sorted(logged) == [0, 1, 2, 3, 4]  # every step, at the step train/loss uses
    values = [logged[step] for step in sorted(logged)]
    assert all(math.isfinite(v) and v > 0 for v in values)
    assert values == pytest.approx(probe.before, rel=1e-6)  # torch's total 2-norm, unclipped
    assert min(values) > 100 * clip  # far above the threshold ...
    assert probe.after == pytest.approx([clip] * 5, rel=1e-3)  # ... which clipping then enforced
    assert callback.last == values[-1]
    assert float(trainer.callback_metrics["train/grad_norm"]) == pytest.approx(values[-1], rel=1e-6)


def test_grad_norm_every_n_steps_and_per_parameter():
    _, logger, _ = _fit(GradNorm(every_n_steps=2, per_parameter=True))
    logged = logger.values("train/grad_norm")
    assert sorted(logged) == [0, 2, 4]
    per_param = {k: v for _, m in logger.rows for k, v in m.items() if k.count("/") == 2}
    assert set(per_param) == {
        f"train/grad_norm/net.{i}.{w}" for i in (0, 2) for w in ("weight", "bias")
    }
    with pytest.raises(ValueError, match="every_n_steps"):
        GradNorm(every_n_steps=0)


def test_grad_norm_is_in_the_default_callbacks():
    cfg = OmegaConf.load(ROOT / "configs" / "callbacks" / "default.yaml")
    assert cfg.grad_norm._target_ == "seqlab.callbacks.grad_norm.GradNorm"
    assert cfg.grad_norm.every_n_steps >= 1


def _lightning_csv(path, grad_norms, losses):
    """A metrics.csv as Lightning's CSV logger writes it: one metric per row, blanks."""
    path.parent.mkdir(parents=True)
    lines = ["epoch,step,train/grad_norm,train/loss"]
    for step, (g, loss) in enumerate(zip(grad_norms, losses, strict=True)):
        lines += [f",{step},{g},", f"0,{step},,{loss}"]
    path.write_text("\n".join(lines) + "\n")


def test_grad_norm_comparison_figure_from_two_runs_csvs(tmp_path, caplog):
    exploding = [3.0 * 30.0**k for k in range(12)] + [float("inf")]
    for num, (clip, norms, losses, status) in enumerate(
        [
            ("null", exploding, [7.0 * 900.0**k for k in range(13)], "failed"),
            ("1.0", [3.0, 2.0] + [1.0] * 40, [7.0, 2.0] + [0.6] * 40, "ok"),
        ]
    ):
        job = tmp_path / str(num)
        _lightning_csv(job / "csv" / "metrics.csv", norms, losses)
        (job / ".hydra").mkdir()
        overrides = [f"trainer.gradient_clip_val={clip}", "experiment=exploding_gradients"]
        OmegaConf.save(OmegaConf.create(overrides), job / ".hydra" / "overrides.yaml")
        trainer = {"gradient_clip_val": None if clip == "null" else float(clip)}
        OmegaConf.save(OmegaConf.create({"trainer": trainer}), job / ".hydra" / "config.yaml")
        error = "NonFiniteLossError: train/loss is inf at global step 13 (epoch 0, batch 12)"
        summary = {"status": status, "error": error if status == "failed" else ""}
        (job / "summary.json").write_text(json.dumps(summary))
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    with caplog.at_level(logging.INFO, logger="seqlab.cli.sweep_callbacks"):
        GradNormComparison().on_multirun_end(config)
    assert (tmp_path / "exploding_gradients.png").stat().st_size > 10_000
    assert "no clipping: train/grad_norm first 3, largest finite 5.31e+16" in caplog.text
    assert "stopped: train/loss is inf at global step 13" in caplog.text
    assert "clip ‖g‖ at 1.0: train/grad_norm first 3, largest finite 3, last 1" in caplog.text


@pytest.mark.slow  # two trainings in a subprocess, ~20 s
def test_exploding_gradients_experiment(tmp_path):
    from tests.test_cli import run_cli

    result = run_cli(
        "train.py",
        "experiment=exploding_gradients",
        f"paths.log_dir={tmp_path / 'logs'}",
        "logger=csv",
        "extras.print_config=false",
        "callbacks.progress_bar=null",
        home=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]  # the failed job is expected
    (sweep,) = (tmp_path / "logs" / "exploding_gradients" / "multiruns").iterdir()
    assert (sweep / "exploding_gradients.png").stat().st_size > 10_000
    runs = {}
    for num in (0, 1):
        columns = read_metric_columns(
            sweep / str(num) / "csv" / "metrics.csv", ["train/grad_norm", "train/loss"]
        )
        runs[num] = {name: values for name, (_, values) in columns.items()}
    unclipped, clipped = runs[0], runs[1]
    assert max(v for v in unclipped["train/grad_norm"] if math.isfinite(v)) > 1e12
    assert json.loads((sweep / "0" / "summary.json").read_text())["status"] == "failed"
    assert json.loads((sweep / "1" / "summary.json").read_text())["status"] == "ok"
    assert max(clipped["train/grad_norm"]) < 100
    assert clipped["train/loss"][-1] < clipped["train/loss"][0]
