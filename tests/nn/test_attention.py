import pytest
import torch
from torch import nn
from torch.testing import assert_close

from seqlab.errors import SeqlabError
from seqlab.nn.attention import KVCache, MultiHeadAttention, causal_mask, load_from_torch_mha
from tests.conftest import EXACT

D = torch.float64


def pair(dim=8, n_head=2, kdim=None, vdim=None, bias=True):
    """Ours and torch's nn.MultiheadAttention with the same (random, non-zero bias) weights."""
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(
        dim, n_head, bias=bias, kdim=kdim, vdim=vdim, batch_first=True, dtype=D
    )
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.5)
    ours = MultiHeadAttention(dim=dim, n_head=n_head, bias=bias, kdim=kdim, vdim=vdim).to(D)
    load_from_torch_mha(ours, ref)
    return ours.eval(), ref.eval()


def allowed_mask(tq, tk, seed=1):
    # random bool mask, True = may attend, with at least one allowed key per query
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(tq, tk, generator=g) > 0.4
    mask[torch.arange(tq), torch.arange(tq) % tk] = True
    return mask


def padding(batch, tk):
    kpm = torch.zeros(batch, tk, dtype=torch.bool)
    kpm[0, -2:] = True  # the first sequence is 2 keys shorter
    return kpm


def test_causal_mask():
    assert torch.equal(causal_mask(3), torch.ones(3, 3, dtype=torch.bool).tril())
    # 2 new queries after 3 cached keys: query i sits at absolute position 3 + i
    expected = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(causal_mask(2, tk=5), expected)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("masks", ["none", "attn", "padding", "both"])
@pytest.mark.parametrize(
    "shape",
    [(8, None, None, 5, 5), (8, None, None, 4, 6), (8, 3, 5, 4, 6)],
    ids=["self", "cross", "cross_kdim_vdim"],
)
def test_matches_torch(shape, masks, bias):
    dim, kdim, vdim, tq, tk = shape
    ours, ref = pair(dim=dim, kdim=kdim, vdim=vdim, bias=bias)
    B = 3
    q = torch.randn(B, tq, dim, dtype=D)
    if kdim is None and tq == tk:
        k = v = q  # self-attention
    else:
        k = torch.randn(B, tk, kdim or dim, dtype=D)
        v = torch.randn(B, tk, vdim or dim, dtype=D)
    mask = allowed_mask(tq, tk) if masks in ("attn", "both") else None
    kpm = padding(B, tk) if masks in ("padding", "both") else None

    ref_out, ref_w = ref(
        q, k, v, attn_mask=None if mask is None else ~mask, key_padding_mask=kpm
    )  # torch: True = not allowed
    for impl in ("sdpa", "naive"):
        ours.impl = impl
        out, w = ours(q, k, v, attn_mask=mask, key_padding_mask=kpm, need_weights=True)
        assert w.shape == (B, 2, tq, tk)
        assert_close(out, ref_out, **EXACT)
        assert_close(w.mean(dim=1), ref_w, **EXACT)  # torch averages over heads
        out, w = ours(q, k, v, attn_mask=mask, key_padding_mask=kpm)
        assert w is None
        assert_close(out, ref_out, **EXACT)


def test_self_attention_defaults_key_and_value_to_query():
    ours, _ = pair()
    x = torch.randn(2, 5, 8, dtype=D)
    assert_close(ours(x)[0], ours(x, x, x)[0], **EXACT)


def run_and_grad(mha, x, mem, **kw):
    x = x.clone().requires_grad_()
    mem = None if mem is None else mem.clone().requires_grad_()
    mha.zero_grad()
    out, _ = mha(x, mem, **kw)
    (out * torch.linspace(-1, 1, out.numel(), dtype=D).view_as(out)).sum().backward()
    grads = [x.grad] + ([] if mem is None else [mem.grad]) + [p.grad for p in mha.parameters()]
    return out, grads


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(is_causal=True),
        dict(key_padding_mask=padding(2, 6)),
        dict(is_causal=True, key_padding_mask=padding(2, 6)),
        dict(attn_mask=allowed_mask(6, 6), key_padding_mask=padding(2, 6)),
    ],
    ids=["none", "causal", "padding", "causal_padding", "attn_padding"],
)
@pytest.mark.parametrize("cross", [False, True], ids=["self", "cross"])
def test_sdpa_equals_naive_with_grads(kw, cross):
    torch.manual_seed(0)
    mha = MultiHeadAttention(dim=8, n_head=4).to(D).train()  # dropout 0: train mode is exact
    x = torch.randn(2, 6, 8, dtype=D)
    mem = torch.randn(2, 6, 8, dtype=D) if cross else None
    mha.impl = "naive"
    out_n, grads_n = run_and_grad(mha, x, mem, **kw)
    mha.impl = "sdpa"
    out_s, grads_s = run_and_grad(mha, x, mem, **kw)
    assert_close(out_s, out_n, **EXACT)
    for gs, gn in zip(grads_s, grads_n, strict=True):
        assert_close(gs, gn, **EXACT)


def test_causal_weights_are_lower_triangular():
    mha = MultiHeadAttention(dim=8, n_head=2).to(D).eval()
    _, w = mha(torch.randn(1, 5, 8, dtype=D), is_causal=True, need_weights=True)  # sdpa fallback
    assert torch.all(w.triu(diagonal=1) == 0)
    assert_close(w.sum(-1), torch.ones(1, 2, 5, dtype=D), **EXACT)


@pytest.mark.parametrize("impl", ["sdpa", "naive"])
def test_kv_cache_incremental_equals_full_causal(impl):
    torch.manual_seed(0)
    mha = MultiHeadAttention(dim=8, n_head=2, impl=impl).to(D).eval()
    x = torch.randn(2, 9, 8, dtype=D)
    full, _ = mha(x, is_causal=True)
    for sizes in ([1] * 9, [3, 1, 4, 1]):
        cache = KVCache()
        outs = [mha(chunk, is_causal=True, kv_cache=cache)[0] for chunk in x.split(sizes, dim=1)]
        assert cache.seq_len == 9 and cache.k.shape == (2, 2, 9, 4)
        assert_close(torch.cat(outs, dim=1), full, **EXACT)


def test_static_cache_reuses_memory():
    torch.manual_seed(0)
    mha = MultiHeadAttention(dim=8, n_head=2).to(D).eval()
    q, mem = torch.randn(2, 4, 8, dtype=D), torch.randn(2, 6, 8, dtype=D)
    full, _ = mha(q, mem)
    cache = KVCache(static=True)
    outs = [mha(q[:, t : t + 1], mem, kv_cache=cache)[0] for t in range(4)]
    assert cache.seq_len == 6
    assert_close(torch.cat(outs, dim=1), full, **EXACT)
    # once filled, the memory argument is not projected again
    assert_close(mha(q, torch.zeros_like(mem), kv_cache=cache)[0], full, **EXACT)


def test_bad_arguments():
    with pytest.raises(SeqlabError, match="n_head"):
        MultiHeadAttention(dim=10, n_head=3)
    with pytest.raises(SeqlabError, match="impl"):
        MultiHeadAttention(dim=8, n_head=2, impl="flash")
    mha = MultiHeadAttention(dim=8, n_head=2)
    with pytest.raises(ValueError, match="cannot copy"):
        load_from_torch_mha(mha, nn.MultiheadAttention(8, 4, batch_first=True))
    with pytest.raises(TypeError, match="bool"):
        mha(torch.randn(1, 3, 8), attn_mask=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="query"):
        mha(torch.randn(1, 3, 7))
