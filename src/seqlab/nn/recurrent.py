"""Recurrent backbones: RNN, LSTM, GRU.

Two implementations behind one interface:

- ``impl="fused"`` wraps ``torch.nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (cuDNN / oneDNN kernels).
- ``impl="scratch"`` writes each cell from its equations and loops over time in Python: slow,
  but every gate is a line you can read, print or change.

Both store their weights under the same names and shapes as torch (``rnn.weight_ih_l0``,
``rnn.weight_hh_l0_reverse``, ...; gate order LSTM i,f,g,o and GRU r,z,n) and use torch's state
format, so checkpoints, weights (``copy_weights_from``) and states move freely between them.

Interface shared by every backbone in ``seqlab.nn``:
``forward(x (B, T, input_size), state=None) -> (out (B, T, output_size), state)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import SeqlabError
from seqlab.nn.checks import check_int

__all__ = ["GRU", "LSTM", "RNN"]

# RNN / GRU: h (L*D, B, H). LSTM: (h, c), each (L*D, B, H). L = num_layers, D = 1 or 2 directions.
State = Tensor | tuple[Tensor, Tensor]
# A cell maps (W_ih x_t + b_ih, per-direction state, W_hh, b_hh) to the new per-direction state.
Cell = Callable[[Tensor, tuple[Tensor, ...], Tensor, Tensor], tuple[Tensor, ...]]


# -----------------------------------------------------------------------------
# cells, written from the course equations. W·[h, x] + b is split as W_hh h + W_ih x + b_hh + b_ih
# so the weights line up one-to-one with torch's; gx = W_ih x_t + b_ih is computed for all t at
# once outside the time loop.


def rnn_cell(gx: Tensor, state: tuple[Tensor, ...], w_hh: Tensor, b_hh: Tensor) -> tuple[Tensor]:
    # H_t = tanh(W_hh H_{t-1} + W_xh X_t + b)
    (h,) = state
    return (torch.tanh(gx + F.linear(h, w_hh, b_hh)),)


def lstm_cell(
    gx: Tensor, state: tuple[Tensor, ...], w_hh: Tensor, b_hh: Tensor
) -> tuple[Tensor, Tensor]:
    h, c = state
    i, f, g, o = (gx + F.linear(h, w_hh, b_hh)).chunk(4, dim=-1)  # each (B, H)
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
    g = torch.tanh(g)  # candidate cell C~_t
    c = f * c + i * g
    h = o * torch.tanh(c)
    return h, c


def gru_cell_pytorch(
    gx: Tensor, state: tuple[Tensor, ...], w_hh: Tensor, b_hh: Tensor
) -> tuple[Tensor]:
    (h,) = state
    xr, xz, xn = gx.chunk(3, dim=-1)
    hr, hz, hn = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)  # reset applied *after* the hidden matmul (and its bias)
    return ((1 - z) * n + z * h,)  # z = how much of the old state to keep


def gru_cell_classic(
    gx: Tensor, state: tuple[Tensor, ...], w_hh: Tensor, b_hh: Tensor
) -> tuple[Tensor]:
    (h,) = state
    H = h.shape[-1]
    xr, xz, xn = gx.chunk(3, dim=-1)
    hr, hz = F.linear(h, w_hh[: 2 * H], b_hh[: 2 * H]).chunk(2, dim=-1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + F.linear(r * h, w_hh[2 * H :], b_hh[2 * H :]))  # reset *before* matmul
    return ((1 - z) * h + z * n,)  # z = how much of the candidate to let in


# -----------------------------------------------------------------------------
# scratch stack: a Python-loop twin of nn.RNNBase (same parameter names, shapes and state format)


class ScratchRecurrent(nn.Module):
    def __init__(
        self,
        *,
        cell: Cell,
        mode: str,
        num_gates: int,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        bidirectional: bool,
    ) -> None:
        super().__init__()
        self.cell = cell
        self.mode = mode  # same strings as nn.RNNBase.mode: "RNN_TANH", "LSTM", "GRU"
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.num_directions = 2 if bidirectional else 1
        G, H = num_gates, hidden_size
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else H * self.num_directions
            for suffix in self._suffixes():
                name = f"l{layer}{suffix}"
                self.register_parameter(
                    f"weight_ih_{name}", nn.Parameter(torch.empty(G * H, layer_in))
                )
                self.register_parameter(f"weight_hh_{name}", nn.Parameter(torch.empty(G * H, H)))
                self.register_parameter(f"bias_ih_{name}", nn.Parameter(torch.empty(G * H)))
                self.register_parameter(f"bias_hh_{name}", nn.Parameter(torch.empty(G * H)))
        self.reset_parameters()

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse")[: self.num_directions]

    def reset_parameters(self) -> None:
        # torch's init: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        # lengths (B,): steps >= lengths[b] are padding: the state stops there (as with packed
        # sequences), their outputs are 0, and the reverse direction starts at lengths[b] - 1
        B, T, _ = x.shape
        LD, H = self.num_layers * self.num_directions, self.hidden_size
        steps = torch.arange(T, device=x.device)
        valid = None if lengths is None else steps[None, :] < lengths.to(x.device)[:, None]
        reverse = (
            None
            if lengths is None
            else torch.where(valid, lengths.to(x.device)[:, None] - 1 - steps[None, :], steps)
        )
        if state is None:
            zeros = x.new_zeros(LD, B, H)
            states = (zeros, zeros) if self.mode == "LSTM" else (zeros,)
        else:
            states = state if isinstance(state, tuple) else (state,)
            for s in states:
                if s.shape != (LD, B, H):
                    raise ValueError(f"expected state of shape {(LD, B, H)}, got {tuple(s.shape)}")

        final = []  # per (layer, direction): tuple of (B, H)
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(self._suffixes()):
                name = f"l{layer}{suffix}"
                w_ih, w_hh = getattr(self, f"weight_ih_{name}"), getattr(self, f"weight_hh_{name}")
                b_ih, b_hh = getattr(self, f"bias_ih_{name}"), getattr(self, f"bias_hh_{name}")
                seq = _reverse(x, reverse) if d == 1 else x  # backwards over the valid steps
                gx = F.linear(seq, w_ih, b_ih)  # (B, T, G*H), input projections for all steps
                s = tuple(t[layer * self.num_directions + d] for t in states)  # each (B, H)
                hs = []
                for t in range(T):
                    new = self.cell(gx[:, t], s, w_hh, b_hh)
                    if valid is not None:  # padding: keep the state, output 0
                        keep = valid[:, t, None]
                        new = tuple(torch.where(keep, n, o) for n, o in zip(new, s, strict=True))
                        hs.append(torch.where(keep, new[0], torch.zeros_like(new[0])))
                    else:
                        hs.append(new[0])
                    s = new
                y = torch.stack(hs, dim=1)  # (B, T, H)
                outs.append(_reverse(y, reverse) if d == 1 else y)
                final.append(s)
            x = torch.cat(outs, dim=-1)  # (B, T, D*H), [fwd, bwd] like torch
            if layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, self.training)

        h_n = torch.stack([s[0] for s in final])  # (L*D, B, H)
        if self.mode == "LSTM":
            return x, (h_n, torch.stack([s[1] for s in final]))
        return x, h_n


def _reverse(x: Tensor, index: Tensor | None) -> Tensor:
    """x (B, T, C) reversed in time: all of it, or (index) only each sequence's valid steps."""
    if index is None:
        return x.flip(1)
    return x.gather(1, index[:, :, None].expand(-1, -1, x.shape[-1]))


# -----------------------------------------------------------------------------
# backbones


def _packed(rnn: nn.Module, x: Tensor, state: State | None, lengths: Tensor | None):
    """torch's fused RNN over right-padded sequences of the given lengths."""
    if lengths is None:
        return rnn(x, state)
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, state = rnn(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, state


class _PackedCall(nn.Module):
    """`_packed` as a module, for torch.func.functional_call with upcast weights."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x, state, lengths):
        return _packed(self.rnn, x, state, lengths)


def _needs_fp32(x: Tensor, rnn: nn.Module) -> bool:
    if x.device.type != "cpu":
        return False
    fp = (torch.float32, torch.float64)
    w = next(rnn.parameters())
    return torch.is_autocast_enabled("cpu") or x.dtype not in fp or w.dtype not in fp


def _map_state(state: State | None, fn: Callable[[Tensor], Tensor]) -> State | None:
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(fn(s) for s in state)
    return fn(state)


class _Recurrent(nn.Module):
    kind: ClassVar[str] = "sequence"

    @property
    def causal(self) -> bool:
        """Output t depends on inputs <= t only: true unless bidirectional."""
        return not self.bidirectional

    @property
    def carries_state(self) -> bool:
        """Whether chunks can be read one after another with the state carried between them
        (truncated BPTT, stateful streams): not backwards in time."""
        return not self.bidirectional

    def __init__(
        self,
        *,
        fused_cls: type[nn.RNNBase],
        cell: Cell,
        num_gates: int,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        bidirectional: bool,
        impl: str,
    ) -> None:
        super().__init__()
        check_int("input_size", input_size)
        check_int("hidden_size", hidden_size)
        check_int("num_layers", num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, int | float):
            raise SeqlabError(f"model.backbone.dropout must be a number in [0, 1), got {dropout!r}")
        if not 0.0 <= dropout < 1.0:
            raise SeqlabError(f"model.backbone.dropout must be in [0, 1), got {dropout!r}")
        if not isinstance(bidirectional, bool):
            raise SeqlabError(
                f"model.backbone.bidirectional must be true or false, got {bidirectional!r}"
            )
        if impl not in ("fused", "scratch"):
            raise SeqlabError(
                f"model.backbone.impl must be 'fused' (torch kernels) or 'scratch' (Python loop), "
                f"got {impl!r}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.impl = impl
        self.output_size = hidden_size * (2 if bidirectional else 1)
        kw = dict(num_layers=num_layers, dropout=float(dropout), bidirectional=bidirectional)
        self.rnn: nn.Module
        if impl == "fused":
            self.rnn = fused_cls(input_size, hidden_size, batch_first=True, **kw)
        else:
            self.rnn = ScratchRecurrent(
                cell=cell,
                mode="RNN_TANH" if fused_cls is nn.RNN else fused_cls.__name__,
                num_gates=num_gates,
                input_size=input_size,
                hidden_size=hidden_size,
                **kw,
            )

    def forward(
        self, x: Tensor, state: State | None = None, *, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        # x: (B, T, input_size) -> out: (B, T, output_size); state: see `State` above.
        # lengths (B,): true lengths of right-padded sequences; padding never changes a result
        # (fused: packed sequences; scratch: masked steps), padded outputs are 0.
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"expected input of shape (batch, time, {self.input_size}), got {tuple(x.shape)}"
            )
        if self.impl == "scratch":
            return self.rnn(x, state, lengths)
        if _needs_fp32(x, self.rnn):
            return self._fused_fp32(x, state, lengths)
        return _packed(self.rnn, x, state, lengths)

    def _fused_fp32(
        self, x: Tensor, state: State | None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        # oneDNN has no dependable low-precision RNN kernel on CPU: nn.LSTM under bf16 autocast
        # fails with "could not create a primitive descriptor for the LSTM forward propagation
        # primitive" on CPUs without native bf16. Run the kernel in float32 with autocast off and
        # return float32; bf16 weights (bf16-true precision) are upcast on the fly, grads flow back.
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        x, state = x.to(dtype), _map_state(state, lambda s: s.to(dtype))
        with torch.autocast("cpu", enabled=False):
            params = dict(self.rnn.named_parameters())
            if all(p.dtype == dtype for p in params.values()):
                return _packed(self.rnn, x, state, lengths)
            params = {k: p.to(dtype) for k, p in params.items()}
            return torch.func.functional_call(
                _PackedCall(self.rnn),
                {f"rnn.{k}": v for k, v in params.items()},
                (x, state, lengths),
            )

    @torch.no_grad()
    def copy_weights_from(self, src: nn.Module) -> _Recurrent:
        """Copy weights from a torch nn.RNN/LSTM/GRU or from one of these backbones (any impl).

        Shapes must match; gates line up because both sides use torch's names and gate order.
        (A GRU's weights load into either variant, but the two variants compute different
        functions of them.)
        """
        if isinstance(src, _Recurrent):
            src = src.rnn
        if getattr(src, "mode", None) != self.rnn.mode:
            raise ValueError(
                f"cannot copy weights from {type(src).__name__} "
                f"(mode={getattr(src, 'mode', None)!r}) into {type(self).__name__} "
                f"(mode={self.rnn.mode!r})"
            )
        self.rnn.load_state_dict(src.state_dict())
        return self

    def extra_repr(self) -> str:
        return f"impl={self.impl!r}"


class RNN(_Recurrent):
    """Elman RNN, the latent autoregressive model: H_t = tanh(W_hh H_{t-1} + W_xh X_t + b)."""

    def __init__(
        self,
        *,
        input_size: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        impl: str = "fused",
    ) -> None:
        super().__init__(
            fused_cls=nn.RNN,
            cell=rnn_cell,
            num_gates=1,
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
            impl=impl,
        )


class LSTM(_Recurrent):
    """LSTM. State is (h, c), each (num_layers * num_directions, B, hidden_size).

    f_t = σ(W_f·[h_{t-1}, x_t] + b_f)      i_t = σ(W_i·[h_{t-1}, x_t] + b_i)
    C~_t = tanh(W_C·[h_{t-1}, x_t] + b_C)  C_t = f_t * C_{t-1} + i_t * C~_t
    o_t = σ(W_o·[h_{t-1}, x_t] + b_o)      h_t = o_t * tanh(C_t)

    ``forget_bias`` initialises b_f (torch's default init gives b_f ≈ 0, f_t ≈ 0.5, so the
    cell forgets half of itself per step and gradients through C still vanish over ~100
    steps; b_f = 1..2 keeps the additive cell path open at the start of training, as
    recommended by Gers et al. 2000 and Jozefowicz et al. 2015). ``None`` keeps torch's init.
    """

    def __init__(
        self,
        *,
        input_size: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        impl: str = "fused",
        forget_bias: float | None = None,
    ) -> None:
        super().__init__(
            fused_cls=nn.LSTM,
            cell=lstm_cell,
            num_gates=4,
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
            impl=impl,
        )
        self.forget_bias = forget_bias
        if forget_bias is not None:
            self.init_forget_bias(forget_bias)

    @torch.no_grad()
    def init_forget_bias(self, value: float) -> None:
        """b_f = value (split as b_ih = value, b_hh = 0); gate order is i, f, g, o."""
        h = self.hidden_size
        for name, param in self.named_parameters():
            if "bias_ih" in name:
                param[h : 2 * h] = value
            elif "bias_hh" in name:
                param[h : 2 * h] = 0.0


class GRU(_Recurrent):
    """GRU in one of two variants that share weight shapes but compute different functions.

    variant="classic" (the course's form, as in Chung et al. 2014; scratch only):
        z_t = σ(W_z·[h_{t-1}, x_t] + b_z)     r_t = σ(W_r·[h_{t-1}, x_t] + b_r)
        h~_t = tanh(W·[r_t * h_{t-1}, x_t] + b)
        h_t = (1 - z_t) * h_{t-1} + z_t * h~_t
    variant="pytorch" (what torch.nn.GRU computes; fused or scratch):
        r = σ(W_ir x + b_ir + W_hr h + b_hr)   z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h
    Cho et al. 2014 write h_t = z_t * h_{t-1} + (1 - z_t) * h~_t: the same function with W_z and
    b_z negated, since 1 - σ(a) = σ(-a).
    Differences: torch applies the reset gate *after* the hidden matmul (to W_hn h + b_hn, not to
    h), and z's role is swapped (in torch z keeps the old state, in the classic form z admits the
    candidate), so a classic z corresponds to a torch 1 - z.
    """

    def __init__(
        self,
        *,
        input_size: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        impl: str = "fused",
        variant: str = "pytorch",
    ) -> None:
        if variant not in ("pytorch", "classic"):
            raise SeqlabError(
                f"model.backbone.variant must be 'pytorch' (torch.nn.GRU) or 'classic' (the course's form), "
                f"got {variant!r}"
            )
        if variant == "classic" and impl == "fused":
            raise SeqlabError(
                "model.backbone.variant=classic has no fused kernel (torch.nn.GRU computes the 'pytorch' "
                "variant): set model.backbone.impl=scratch, or model.backbone.variant=pytorch to keep impl=fused"
            )
        super().__init__(
            fused_cls=nn.GRU,
            cell=gru_cell_classic if variant == "classic" else gru_cell_pytorch,
            num_gates=3,
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
            impl=impl,
        )
        self.variant = variant

    def extra_repr(self) -> str:
        return f"impl={self.impl!r}, variant={self.variant!r}"
