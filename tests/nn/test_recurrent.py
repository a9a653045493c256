import pytest
import torch
from torch import nn
from torch.testing import assert_close

from seqlab.nn.recurrent import GRU, LSTM, RNN
from tests.conftest import EXACT

OURS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
TORCH = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
# every (class, impl, variant) combination that can be built
CONFIGS = [
    ("rnn", "fused", None),
    ("rnn", "scratch", None),
    ("lstm", "fused", None),
    ("lstm", "scratch", None),
    ("gru", "fused", "pytorch"),
    ("gru", "scratch", "pytorch"),
    ("gru", "scratch", "classic"),
]


def build(kind, impl, variant=None, **kw):
    kw = dict(input_size=3, hidden_size=5, impl=impl, **kw)
    if variant is not None:
        kw["variant"] = variant
    return OURS[kind](**kw)


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def random_state(kind, num_states, batch, hidden, dtype=torch.float64):
    n = 2 if kind == "lstm" else 1
    states = tuple(torch.randn(num_states, batch, hidden, dtype=dtype) for _ in range(n))
    return states if kind == "lstm" else states[0]


def leaf_copy(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.clone().requires_grad_() for s in state)
    return state.clone().requires_grad_()


def run_with_loss(model, x, state, gy, gs):
    y, s = model(x, state)
    loss = (y * gy).sum() + sum((a * g).sum() for a, g in zip(as_tuple(s), gs, strict=True))
    loss.backward()
    return y, s


# -----------------------------------------------------------------------------
# scratch == torch reference: outputs, final states, gradients (params, input, initial state)


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "init_state"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("length", [1, 7])
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_scratch_matches_torch(kind, num_layers, batch, length, bidirectional, with_state):
    torch.manual_seed(0)
    ref = TORCH[kind](3, 5, num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
    ref = ref.double()
    ours = build(kind, "scratch", num_layers=num_layers, bidirectional=bidirectional).double()
    ours.copy_weights_from(ref)

    D = 2 if bidirectional else 1
    x_ref = torch.randn(batch, length, 3, dtype=torch.float64, requires_grad=True)
    x = x_ref.detach().clone().requires_grad_()
    s0 = random_state(kind, num_layers * D, batch, 5) if with_state else None
    s0_ref, s0_ours = leaf_copy(s0), leaf_copy(s0)
    gy = torch.randn(batch, length, 5 * D, dtype=torch.float64)
    n_states = 2 if kind == "lstm" else 1
    gs = [torch.randn(num_layers * D, batch, 5, dtype=torch.float64) for _ in range(n_states)]

    y_ref, s_ref = run_with_loss(ref, x_ref, s0_ref, gy, gs)
    y, s = run_with_loss(ours, x, s0_ours, gy, gs)

    assert y.shape == (batch, length, ours.output_size)
    assert type(s) is type(s_ref)
    assert_close(y, y_ref, **EXACT)
    for a, b in zip(as_tuple(s), as_tuple(s_ref), strict=True):
        assert_close(a, b, **EXACT)
    assert_close(x.grad, x_ref.grad, **EXACT)
    if with_state:
        for a, b in zip(as_tuple(s0_ours), as_tuple(s0_ref), strict=True):
            assert_close(a.grad, b.grad, **EXACT)
    ref_params = dict(ref.named_parameters())
    ours_params = dict(ours.rnn.named_parameters())
    assert ours_params.keys() == ref_params.keys()
    for name, p in ours_params.items():
        assert_close(p.grad, ref_params[name].grad, **EXACT, msg=name)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_scratch_dropout_matches_torch_in_eval_and_is_active_in_train(kind):
    torch.manual_seed(0)
    ref = TORCH[kind](3, 5, num_layers=2, dropout=0.5, batch_first=True).double().eval()
    ours = build(kind, "scratch", num_layers=2, dropout=0.5).double().copy_weights_from(ref)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    assert_close(ours.eval()(x)[0], ref(x)[0], **EXACT)
    ours.train()
    assert not torch.allclose(ours(x)[0], ours(x)[0])
    # one layer: no inter-layer dropout, so training is deterministic
    single = build(kind, "scratch", num_layers=1, dropout=0.5).train()
    x32 = x.float()
    assert_close(single(x32)[0], single(x32)[0])


# -----------------------------------------------------------------------------
# fused path: equals the torch module it wraps, same state format as scratch


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_fused_matches_torch_and_scratch(kind, num_layers, bidirectional):
    torch.manual_seed(0)
    kw = dict(num_layers=num_layers, bidirectional=bidirectional)
    ref = TORCH[kind](3, 5, batch_first=True, **kw).double()
    fused = build(kind, "fused", **kw).double().copy_weights_from(ref)
    scratch = build(kind, "scratch", **kw).double().copy_weights_from(fused)
    assert fused.state_dict().keys() == scratch.state_dict().keys()

    D = 2 if bidirectional else 1
    assert fused.input_size == 3
    assert fused.output_size == scratch.output_size == 5 * D
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    s0 = random_state(kind, num_layers * D, 4, 5)
    gy = torch.randn(4, 6, 5 * D, dtype=torch.float64)
    gs = [torch.randn(num_layers * D, 4, 5, dtype=torch.float64) for _ in as_tuple(s0)]
    x_ref, s0_ref = x.clone().requires_grad_(), leaf_copy(s0)
    y_ref, s_ref = run_with_loss(ref, x_ref, s0_ref, gy, gs)
    ref_grads = {name: p.grad for name, p in ref.named_parameters()}
    for model in (fused, scratch):
        x_in, s0_in = x.clone().requires_grad_(), leaf_copy(s0)
        y, s = run_with_loss(model, x_in, s0_in, gy, gs)
        assert y.shape == (4, 6, 5 * D)
        if kind == "lstm":
            assert isinstance(s, tuple) and len(s) == 2
        else:
            assert isinstance(s, torch.Tensor)
        for a, b in zip(as_tuple(s), as_tuple(s_ref), strict=True):
            assert a.shape == (num_layers * D, 4, 5)
            assert_close(a, b, **EXACT)
        assert_close(y, y_ref, **EXACT)
        # and the same gradients: inputs, initial state, every weight (same names)
        assert_close(x_in.grad, x_ref.grad, **EXACT)
        for a, b in zip(as_tuple(s0_in), as_tuple(s0_ref), strict=True):
            assert_close(a.grad, b.grad, **EXACT)
        grads = {name: p.grad for name, p in model.rnn.named_parameters()}
        assert grads.keys() == ref_grads.keys()
        for name, grad in grads.items():
            assert_close(grad, ref_grads[name], **EXACT, msg=name)


# -----------------------------------------------------------------------------
# classic GRU == the course equations, evaluated independently


def classic_gru_reference(x, h0, params, num_layers, form="course"):
    """The course's GRU (Chung et al. 2014) with W·[h, x] written as one matrix on the
    concatenation, step by step. ``form="cho"``: Cho et al. 2014's own writing, h = z·h +
    (1 − z)·h̃, fed the same weights with W_z and b_z negated (1 − σ(a) = σ(−a))."""
    H = h0.shape[-1]
    inp, finals = x, []
    for layer in range(num_layers):
        w_ih, w_hh = params[f"rnn.weight_ih_l{layer}"], params[f"rnn.weight_hh_l{layer}"]
        b_ih, b_hh = params[f"rnn.bias_ih_l{layer}"], params[f"rnn.bias_hh_l{layer}"]
        r_rows, z_rows, n_rows = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
        W_r = torch.cat([w_hh[r_rows], w_ih[r_rows]], dim=1)
        W_z = torch.cat([w_hh[z_rows], w_ih[z_rows]], dim=1)
        W = torch.cat([w_hh[n_rows], w_ih[n_rows]], dim=1)
        b_r, b_z = b_ih[r_rows] + b_hh[r_rows], b_ih[z_rows] + b_hh[z_rows]
        b = b_ih[n_rows] + b_hh[n_rows]
        h, outs = h0[layer], []
        for t in range(x.shape[1]):
            x_t = inp[:, t]
            hx = torch.cat([h, x_t], dim=-1)
            r = torch.sigmoid(hx @ W_r.T + b_r)
            h_tilde = torch.tanh(torch.cat([r * h, x_t], dim=-1) @ W.T + b)
            if form == "cho":
                z = torch.sigmoid(hx @ (-W_z).T + (-b_z))
                h = z * h + (1 - z) * h_tilde
            else:
                z = torch.sigmoid(hx @ W_z.T + b_z)
                h = (1 - z) * h + z * h_tilde
            outs.append(h)
        inp = torch.stack(outs, dim=1)
        finals.append(h)
    return inp, torch.stack(finals)


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "init_state"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_classic_gru_matches_equations(num_layers, with_state):
    torch.manual_seed(0)
    model = build("gru", "scratch", "classic", num_layers=num_layers).double()
    x = torch.randn(3, 7, 3, dtype=torch.float64)
    h0 = torch.randn(num_layers, 3, 5, dtype=torch.float64)
    y, h_n = model(x, h0 if with_state else None)
    params = {k: v.detach() for k, v in model.named_parameters()}
    y_ref, h_ref = classic_gru_reference(x, h0 if with_state else 0 * h0, params, num_layers)
    assert_close(y, y_ref, **EXACT)
    assert_close(h_n, h_ref, **EXACT)

    # Cho et al.'s writing is the same function, with the update gate's weights negated
    y_cho, _ = classic_gru_reference(x, h0 if with_state else 0 * h0, params, num_layers, "cho")
    assert_close(y_cho, y, **EXACT)

    # same weights, different function
    pytorch_variant = build("gru", "scratch", "pytorch", num_layers=num_layers).double()
    y_pt, _ = pytorch_variant.copy_weights_from(model)(x, h0)
    assert not torch.allclose(y_pt, model(x, h0)[0])


# -----------------------------------------------------------------------------
# carrying state: two chunks == one pass (and state moves between impls)


@pytest.mark.parametrize(("kind", "impl", "variant"), CONFIGS)
def test_chunked_equals_one_pass(kind, impl, variant):
    torch.manual_seed(0)
    model = build(kind, impl, variant, num_layers=2).double()
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    y_full, s_full = model(x)
    y1, s1 = model(x[:, :4])
    y2, s2 = model(x[:, 4:], s1)
    assert_close(torch.cat([y1, y2], dim=1), y_full, **EXACT)
    for a, b in zip(as_tuple(s2), as_tuple(s_full), strict=True):
        assert_close(a, b, **EXACT)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_state_moves_between_fused_and_scratch(kind):
    torch.manual_seed(0)
    fused = build(kind, "fused", num_layers=2).double()
    scratch = build(kind, "scratch", num_layers=2).double().copy_weights_from(fused)
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    y_full, _ = fused(x)
    y1, s1 = fused(x[:, :5])
    y2, _ = scratch(x[:, 5:], s1)
    assert_close(torch.cat([y1, y2], dim=1), y_full, **EXACT)


# -----------------------------------------------------------------------------
# forward + backward everywhere


@pytest.mark.parametrize(("kind", "impl", "variant"), CONFIGS)
def test_forward_backward_all_params_get_finite_grads(kind, impl, variant):
    torch.manual_seed(0)
    model = build(kind, impl, variant, num_layers=2, dropout=0.1, bidirectional=True).train()
    x = torch.randn(3, 5, 3, requires_grad=True)
    y, s = model(x)
    assert y.shape == (3, 5, 10)
    (y.square().mean() + sum(t.square().mean() for t in as_tuple(s))).backward()
    assert torch.isfinite(y).all()
    assert torch.isfinite(x.grad).all()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


# -----------------------------------------------------------------------------
# low precision on CPU: the fused path runs its kernel in float32 with autocast off


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_fused_under_cpu_bf16_autocast(kind, monkeypatch):
    torch.manual_seed(0)
    model = build(kind, "fused", num_layers=2)
    kernel = model.rnn.forward

    def guarded(x, hx=None):
        # stands in for the oneDNN failure seen on CPUs without native bf16 RNN kernels
        assert x.dtype == torch.float32, x.dtype
        assert not torch.is_autocast_enabled("cpu")
        for s in as_tuple(hx) if hx is not None else ():
            assert s.dtype == torch.float32
        return kernel(x, hx)

    monkeypatch.setattr(model.rnn, "forward", guarded)
    x = torch.randn(2, 6, 3, requires_grad=True)
    s0 = random_state(kind, 2, 2, 5, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, s = model(x, s0)
        loss = y.float().square().mean()
    loss.backward()
    assert y.dtype == torch.float32
    assert all(t.dtype == torch.float32 for t in as_tuple(s))
    assert torch.isfinite(x.grad).all()
    for p in model.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_fused_with_bf16_weights_and_inputs(kind):
    torch.manual_seed(0)
    model = build(kind, "fused").to(torch.bfloat16)
    x = torch.randn(2, 6, 3, dtype=torch.bfloat16)
    y, _ = model(x)
    y.square().mean().backward()
    assert y.dtype == torch.float32
    for p in model.parameters():
        assert p.grad is not None and p.grad.dtype == torch.bfloat16
        assert torch.isfinite(p.grad).all()
    # the module itself is left untouched (its weights stay bf16) and, once converted, runs
    # its normal float32 path to the same outputs within bf16 rounding
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    y32, _ = model.float()(x.float())
    assert_close(y32, y, atol=3e-2, rtol=3e-2)


@pytest.mark.parametrize(("kind", "variant"), [("rnn", None), ("lstm", None), ("gru", "classic")])
def test_scratch_under_cpu_bf16_autocast(kind, variant):
    torch.manual_seed(0)
    model = build(kind, "scratch", variant, num_layers=2)
    x = torch.randn(2, 6, 3, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, _ = model(x)
    y.float().square().mean().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# -----------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_bad_impl(kind):
    with pytest.raises(ValueError, match=r"model\.backbone\.impl.*'cudnn'"):
        OURS[kind](input_size=3, impl="cudnn")


def test_classic_gru_has_no_fused_kernel():
    with pytest.raises(
        ValueError, match=r"model\.backbone\.variant=classic.*model\.backbone\.impl=scratch"
    ):
        GRU(input_size=3, impl="fused", variant="classic")
    with pytest.raises(ValueError, match=r"model\.backbone\.variant"):
        GRU(input_size=3, impl="scratch", variant="cho")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(input_size=0), "input_size"),
        (dict(input_size=3, hidden_size=0), "hidden_size"),
        (dict(input_size=3, hidden_size=2.5), "hidden_size"),
        (dict(input_size=3, num_layers=0), "num_layers"),
        (dict(input_size=3, dropout=1.0), "dropout"),
        (dict(input_size=3, dropout=-0.1), "dropout"),
        (dict(input_size=3, bidirectional="yes"), "bidirectional"),
    ],
)
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_bad_arguments(kind, kwargs, field):
    with pytest.raises(ValueError, match=rf"model\.backbone\.{field}"):
        OURS[kind](**kwargs)


@pytest.mark.parametrize("impl", ["fused", "scratch"])
def test_bad_input_and_state_shapes(impl):
    model = LSTM(input_size=3, hidden_size=5, impl=impl)
    with pytest.raises(ValueError, match="input of shape"):
        model(torch.randn(2, 4, 7))
    with pytest.raises(ValueError, match="input of shape"):
        model(torch.randn(4, 3))
    bad = torch.zeros(2, 2, 5)  # num_layers * num_directions is 1
    with pytest.raises((ValueError, RuntimeError)):
        model(torch.randn(2, 4, 3), (bad, bad))


def test_copy_weights_from_wrong_kind():
    with pytest.raises(ValueError, match="cannot copy weights"):
        LSTM(input_size=3, hidden_size=5).copy_weights_from(nn.GRU(3, 5))
    with pytest.raises(ValueError, match="cannot copy weights"):
        RNN(input_size=3, hidden_size=5).copy_weights_from(nn.RNN(3, 5, nonlinearity="relu"))
    with pytest.raises(RuntimeError, match="size mismatch"):
        LSTM(input_size=3, hidden_size=5).copy_weights_from(nn.LSTM(3, 6))
