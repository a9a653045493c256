"""AR(τ) solved exactly: ``model=ar model.fit=least_squares``.

The course's AR(τ) is linear in the last τ inputs, so its best coefficients are the ordinary
least-squares solution on the training windows: β = argmin ‖[X, 1]β − Y‖², X the flattened
last τ steps of each window (oldest first), Y the next ``horizon`` targets. Solved in float64
before training and written into the task's three linear maps (input projection, AR map,
head) so that the task computes exactly x̂ = [x_{t−τ+1}, …, x_t]·β + b. With
``data.window = model.backbone.order`` the samples are those statsmodels' ``AutoReg`` uses,
and the coefficients agree with it (tested). With ``model.normalize=window`` the same regression
runs in each window's own units (inputs and targets less the window's mean, over its standard
deviation), the exact linear AR of the normalised task.
"""

from __future__ import annotations

from typing import Any

import torch

from seqlab.errors import SeqlabError


def solve_ar_least_squares(task: Any, loader: Any) -> torch.Tensor:
    """Fit and install the OLS AR(τ); returns β (τ·F + 1, H), the intercept last."""
    backbone = task.backbone
    order = getattr(backbone, "order", None)
    if order is None or getattr(backbone, "hidden_size", 1) != 0:
        raise SeqlabError(
            "model.fit=least_squares solves a linear AR(τ) exactly: it needs model=ar with "
            "model.backbone.hidden_size=0. Fix: those, or model.fit=gradient."
        )
    F, H = task.spec.num_features, task.spec.num_targets
    if backbone.input_size < F or backbone.output_size < H:
        raise SeqlabError(
            f"model.fit=least_squares: model.backbone.input_size ({backbone.input_size}) must be "
            f">= the data's features ({F}) and output_size ({backbone.output_size}) >= its "
            f"targets ({H})."
        )
    rows, targets = [], []
    for x, y, *_ in loader:
        if task.normalize == "window":
            x, level, scale = task.window_stats(x)
            y = task.to_window_units(y, level, scale)
        if x.shape[1] < order:
            raise SeqlabError(
                f"model.fit=least_squares: data.window ({x.shape[1]}) is shorter than "
                f"model.backbone.order ({order})."
            )
        rows.append(x[:, -order:, :].reshape(len(x), order * F).double())  # oldest step first
        targets.append(y.double())
    X, Y = torch.cat(rows), torch.cat(targets)
    design = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], dim=1)
    beta = torch.linalg.lstsq(design, Y).solution  # (τ·F + 1, H)
    _install(task, beta, order, F, H)
    return beta


@torch.no_grad()
def _install(task: Any, beta: torch.Tensor, order: int, F: int, H: int) -> None:
    proj, net, head = task.input_proj, task.backbone.net, task.head
    C = task.backbone.input_size
    proj.weight.zero_()
    proj.weight[:F, :F] = torch.eye(F)  # the first F channels carry the features unchanged
    proj.bias.zero_()
    net.weight.zero_()
    for k in range(order):
        for f in range(F):
            net.weight[:H, k * C + f] = beta[k * F + f].to(net.weight.dtype)
    net.bias.zero_()
    net.bias[:H] = beta[-1].to(net.bias.dtype)
    head.weight.zero_()
    head.weight[:H, :H] = torch.eye(H)
    head.bias.zero_()
