import pytest
import torch
from torch.testing import assert_close

from seqlab.nn.ar import AR
from tests.conftest import EXACT


def build(order=3, hidden_size=0, **kw):
    torch.manual_seed(0)
    kw = dict(input_size=2, order=order, hidden_size=hidden_size, output_size=4, **kw)
    return AR(**kw).double()


@pytest.mark.parametrize("hidden_size", [0, 8])
def test_shapes_and_state(hidden_size):
    model = build(order=5, hidden_size=hidden_size)
    assert model.input_size == 2 and model.output_size == 4
    y, state = model(torch.randn(3, 7, 2, dtype=torch.float64))
    assert y.shape == (3, 7, 4)
    assert state.shape == (3, 4, 2)  # the last order - 1 inputs


def test_linear_matches_formula():
    """hidden_size=0: o_t = b + sum_j W_j x_{t-τ+1+j}, zeros before the sequence starts."""
    order, C = 3, 2
    model = build(order=order)
    x = torch.randn(2, 6, C, dtype=torch.float64)
    W, b = model.net.weight, model.net.bias  # (out, order * C), oldest step first
    expected = []
    for t in range(x.shape[1]):
        o = b.expand(2, -1).clone()
        for j in range(order):
            s = t - order + 1 + j
            if s >= 0:
                o = o + x[:, s] @ W[:, j * C : (j + 1) * C].T
        expected.append(o)
    assert_close(model(x)[0], torch.stack(expected, dim=1), **EXACT)


@pytest.mark.parametrize("hidden_size", [0, 8])
@pytest.mark.parametrize("order", [1, 3, 5])
def test_causal_with_finite_window(order, hidden_size):
    model = build(order=order, hidden_size=hidden_size)
    x = torch.randn(2, 10, 2, dtype=torch.float64)
    t = 4
    x2 = x.clone()
    x2[:, t] += 1.0
    y, y2 = model(x)[0], model(x2)[0]
    assert_close(y[:, :t], y2[:, :t], **EXACT)  # nothing before t sees x_t
    assert not torch.allclose(y[:, t], y2[:, t])
    assert_close(y[:, t + order :], y2[:, t + order :], **EXACT)  # window has moved past x_t


def test_order_one_is_markov():
    model = build(order=1, hidden_size=8)
    x = torch.randn(2, 5, 2, dtype=torch.float64)
    y, state = model(x)
    assert state.shape == (2, 0, 2)
    # each output depends on its own step only: same as running steps one at a time
    steps = torch.cat([model(x[:, t : t + 1])[0] for t in range(5)], dim=1)
    assert_close(y, steps, **EXACT)


@pytest.mark.parametrize("hidden_size", [0, 8])
@pytest.mark.parametrize("order", [1, 2, 5])
def test_chunked_equals_one_pass(order, hidden_size):
    model = build(order=order, hidden_size=hidden_size)
    x = torch.randn(2, 11, 2, dtype=torch.float64)
    y_full, s_full = model(x)
    # chunks shorter than order - 1 must still carry the full window
    ys, state = [], None
    for chunk in x.split([2, 1, 5, 3], dim=1):
        y, state = model(chunk, state)
        ys.append(y)
    assert_close(torch.cat(ys, dim=1), y_full, **EXACT)
    assert_close(state, s_full, **EXACT)


@pytest.mark.parametrize("hidden_size", [0, 8])
def test_forward_backward_all_params_get_finite_grads(hidden_size):
    model = build(order=3, hidden_size=hidden_size).float()
    x = torch.randn(3, 6, 2, requires_grad=True)
    y, _ = model(x)
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_runs_under_cpu_bf16_autocast():
    model = build(order=3, hidden_size=8).float()
    x = torch.randn(2, 6, 2)
    state = torch.randn(2, 2, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, _ = model(x, state)
    y.float().square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(input_size=0), "input_size"),
        (dict(input_size=2, order=0), "order"),
        (dict(input_size=2, hidden_size=-1), "hidden_size"),
        (dict(input_size=2, output_size=0), "output_size"),
        (dict(input_size=2, order=2.0), "order"),
    ],
)
def test_bad_arguments(kwargs, field):
    with pytest.raises(ValueError, match=rf"model\.backbone\.{field}"):
        AR(**kwargs)


def test_bad_input_and_state_shapes():
    model = build(order=3)
    with pytest.raises(ValueError, match="input of shape"):
        model(torch.randn(2, 5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="state of shape"):
        model(torch.randn(2, 5, 2, dtype=torch.float64), torch.zeros(2, 1, 2))
