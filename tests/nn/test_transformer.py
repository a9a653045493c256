import math
import re

import pytest
import torch
from torch.testing import assert_close

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.nn.transformer import (
    EncoderDecoder,
    GPTBackbone,
    SinusoidalPositionalEncoding,
    TransformerConfig,
    TransformerDecoder,
    TransformerEncoder,
    sinusoidal_encoding,
)
from seqlab.tasks.language_modeling import LanguageModelingTask
from tests.conftest import EXACT

D = torch.float64
VOCAB = 11


def gpt(tie_weights: bool = True, **kw):
    """The one GPT as a language model: token embedding -> GPTBackbone -> (tied) head."""
    torch.manual_seed(0)
    backbone = dict(_target_="seqlab.nn.transformer.GPTBackbone", max_len=8, num_layers=2)
    backbone |= dict(num_heads=2, hidden_size=16, **kw)
    model = {"backbone": backbone, "optimizer": {"_target_": "torch.optim.SGD", "_partial_": True}}
    spec = DataSpec(task="language_modeling", vocab_size=VOCAB, seq_len=8)
    model["tie_weights"] = tie_weights
    return LanguageModelingTask(model=model, spec=spec.to_dict()).to(D).eval()


def encoder(**kw):
    torch.manual_seed(0)
    return (
        TransformerEncoder(**{"hidden_size": 8, "num_layers": 2, "num_heads": 2, **kw}).to(D).eval()
    )


def backbone(**kw):
    torch.manual_seed(0)
    return GPTBackbone(hidden_size=8, num_layers=2, num_heads=2, max_len=12, **kw).to(D).eval()


def enc_dec(**kw):
    torch.manual_seed(0)
    return EncoderDecoder(hidden_size=8, num_heads=2, **kw).to(D).eval()


# -----------------------------------------------------------------------------
# positional encodings


def test_sinusoidal_matches_formula():
    dim = 6
    pe = sinusoidal_encoding(torch.arange(7), dim, dtype=D)
    for pos in range(7):
        for i in range(dim // 2):
            angle = pos / 10000 ** (2 * i / dim)
            assert math.isclose(pe[pos, 2 * i].item(), math.sin(angle), abs_tol=1e-12)
            assert math.isclose(pe[pos, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-12)
    assert sinusoidal_encoding(torch.arange(3), 5).shape == (3, 5)  # odd dim


def test_positional_encoding_offset():
    x = torch.zeros(1, 10, 6, dtype=D)
    pe = SinusoidalPositionalEncoding(dim=6)
    assert_close(pe(x[:, :4], offset=6), pe(x)[:, 6:], **EXACT)


def test_learned_positions_are_capped_at_max_len():
    with pytest.raises(ValueError, match="max_len"):
        backbone()(torch.randn(1, 13, 8, dtype=D))


# -----------------------------------------------------------------------------
# causality


def test_gpt_is_causal():
    model = gpt()
    idx = torch.randint(VOCAB, (2, 8))
    t = 5
    idx2 = idx.clone()
    idx2[:, t] = (idx[:, t] + 1) % VOCAB
    y, y2 = model(idx)[0], model(idx2)[0]
    assert_close(y[:, :t], y2[:, :t], **EXACT)
    assert not torch.allclose(y[:, t], y2[:, t])


@pytest.mark.parametrize(
    "make",
    [
        lambda: encoder(causal=True),
        lambda: encoder(causal=True, norm_first=False, pos_encoding="learned"),
        lambda: backbone(),
        lambda: backbone(norm_first=False, pos_encoding="sinusoidal"),
    ],
    ids=["encoder", "encoder_postnorm", "gpt_backbone", "gpt_backbone_postnorm"],
)
def test_causal_backbones(make):
    model = make()
    assert model.input_size == model.output_size == 8
    x = torch.randn(2, 10, 8, dtype=D)
    t = 6
    x2 = x.clone()
    x2[:, t:] += torch.randn(2, 4, 8, dtype=D)
    (y, state), (y2, _) = model(x), model(x2)
    assert state is None and y.shape == (2, 10, 8)
    assert_close(y[:, :t], y2[:, :t], **EXACT)
    assert not torch.allclose(y[:, t], y2[:, t])


def test_encoder_causal_per_call():
    model = encoder()  # bidirectional by default
    x = torch.randn(1, 6, 8, dtype=D)
    x2 = x.clone()
    x2[:, -1] += torch.randn(8, dtype=D)  # not a constant shift: LayerNorm would remove it
    assert not torch.allclose(model(x)[0][:, 0], model(x2)[0][:, 0])
    assert_close(model(x, causal=True)[0][:, :5], model(x2, causal=True)[0][:, :5], **EXACT)


def test_encoder_key_padding_mask_hides_padding():
    model = encoder()
    x = torch.randn(2, 6, 8, dtype=D)
    kpm = torch.zeros(2, 6, dtype=torch.bool)
    kpm[:, 4:] = True
    x2 = x.clone()
    x2[:, 4:] = torch.randn(2, 2, 8, dtype=D)
    y, y2 = model(x, key_padding_mask=kpm)[0], model(x2, key_padding_mask=kpm)[0]
    assert_close(y[:, :4], y2[:, :4], **EXACT)


def test_attention_maps():
    model = encoder(causal=True)
    maps = model.attention_maps(torch.randn(2, 5, 8, dtype=D))
    assert len(maps) == 2 and maps[0].shape == (2, 2, 5, 5)
    for w in maps:
        assert torch.all(w.triu(diagonal=1) == 0)
        assert_close(w.sum(-1), torch.ones(2, 2, 5, dtype=D), **EXACT)
    dec_maps = enc_dec().decoder.attention_maps(
        torch.randn(1, 3, 8, dtype=D), torch.randn(1, 4, 8, dtype=D)
    )
    assert [(s.shape, c.shape) for s, c in dec_maps] == [((1, 2, 3, 3), (1, 2, 3, 4))] * 2


def test_attn_impls_agree_in_gpt(monkeypatch):
    """sdpa (the default) and the written-out softmax give the same logits; each really runs
    its own path (only sdpa calls torch's fused kernel)."""
    import torch.nn.functional as F

    calls = []
    fused = F.scaled_dot_product_attention

    def counting(*args, **kwargs):
        calls.append(1)
        return fused(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    sdpa, default = gpt(attn_impl="sdpa"), gpt()
    naive = gpt(attn_impl="naive")
    naive.load_state_dict(sdpa.state_dict())
    default.load_state_dict(sdpa.state_dict())
    idx = torch.randint(VOCAB, (2, 8))
    out_naive = naive(idx)[0]
    assert calls == []
    out_sdpa = sdpa(idx)[0]
    assert len(calls) == 2  # one per layer
    assert_close(out_sdpa, out_naive, **EXACT)
    assert_close(default(idx)[0], out_sdpa, **EXACT)
    assert len(calls) == 4  # the default is sdpa


# -----------------------------------------------------------------------------
# KV cache: chunked / one-step-at-a-time == one full causal pass


@pytest.mark.parametrize("sizes", [[1] * 10, [4, 1, 5]], ids=["steps", "chunks"])
@pytest.mark.parametrize(
    "make",
    [lambda: encoder(causal=True), backbone, lambda: backbone(pos_encoding="none")],
    ids=["encoder", "gpt_backbone", "no_positions"],
)
def test_backbone_cache(make, sizes):
    model = make()
    x = torch.randn(2, 10, 8, dtype=D)
    full, _ = model(x)
    state = model.new_cache()
    outs = []
    for chunk in x.split(sizes, dim=1):
        y, state = model(chunk, state)
        outs.append(y)
    assert state.offset == 10
    assert_close(torch.cat(outs, dim=1), full, **EXACT)


def test_non_causal_encoder_refuses_cache():
    model = encoder()
    with pytest.raises(ValueError, match="causal"):
        model(torch.randn(1, 2, 8, dtype=D), model.new_cache())


@pytest.mark.parametrize("norm_first", [True, False])
def test_decoder_cache_step_by_step(norm_first):
    model = enc_dec(norm_first=norm_first)
    src, tgt = torch.randn(2, 5, 8, dtype=D), torch.randn(2, 7, 8, dtype=D)
    full = model(src, tgt)
    memory = model.encode(src)
    cache = model.new_cache()
    steps = [model.decode(tgt[:, t : t + 1], memory, cache) for t in range(7)]
    assert cache.offset == 7
    assert_close(torch.cat(steps, dim=1), full, **EXACT)


def test_gpt_forward_with_cache():
    model = gpt()
    idx = torch.randint(VOCAB, (2, 8))
    full, _ = model(idx)
    cache = model.backbone.new_cache()
    steps = []
    for t in range(8):
        logits, cache = model(idx[:, t : t + 1], cache)
        steps.append(logits)
    assert_close(torch.cat(steps, dim=1), full, **EXACT)


# -----------------------------------------------------------------------------
# encoder-decoder


def test_encoder_decoder_causal_and_uses_src():
    model = enc_dec()
    src, tgt = torch.randn(2, 5, 8, dtype=D), torch.randn(2, 7, 8, dtype=D)
    y = model(src, tgt)
    assert y.shape == (2, 7, 8)
    t = 3
    tgt2 = tgt.clone()
    tgt2[:, t:] += torch.randn(7 - t, 8, dtype=D)
    y2 = model(src, tgt2)
    assert_close(y[:, :t], y2[:, :t], **EXACT)
    assert not torch.allclose(y[:, t], y2[:, t])
    src2 = src.clone()
    src2[:, -1] += torch.randn(
        8, dtype=D
    )  # the last source step reaches every target step via cross-attention
    y3 = model(src2, tgt)
    assert not torch.allclose(y[:, 0], y3[:, 0])


def test_encoder_decoder_src_padding():
    model = enc_dec()
    src, tgt = torch.randn(2, 5, 8, dtype=D), torch.randn(2, 3, 8, dtype=D)
    kpm = torch.zeros(2, 5, dtype=torch.bool)
    kpm[:, 3:] = True
    src2 = src.clone()
    src2[:, 3:] = 0.0
    y = model(src, tgt, src_key_padding_mask=kpm)
    assert_close(y, model(src2, tgt, src_key_padding_mask=kpm), **EXACT)


# -----------------------------------------------------------------------------
# generation


@pytest.mark.parametrize("prompt_len", [1, 3, 7, 8, 10])
def test_greedy_generation_cached_equals_uncached(prompt_len):
    model = gpt()
    idx = torch.randint(VOCAB, (2, prompt_len), generator=torch.Generator().manual_seed(1))
    new = 12  # crosses max_len = 8
    cached = model.generate(idx, new, temperature=0.0, use_cache=True)
    plain = model.generate(idx, new, temperature=0.0, use_cache=False)
    assert cached.shape == (2, prompt_len + new)
    assert torch.equal(cached[:, :prompt_len], idx)
    assert torch.equal(cached, plain)
    # greedy = argmax of the uncached logits, step by step
    last = model(plain[:, -9:-1])[0][:, -1].argmax(-1)
    assert torch.equal(plain[:, -1], last)


def test_sampling_cached_equals_uncached_with_seed():
    model = gpt()
    idx = torch.randint(VOCAB, (3, 2))
    kw = dict(max_new_tokens=10, temperature=0.8, top_k=4)
    a = model.generate(idx, **kw, use_cache=True, generator=torch.Generator().manual_seed(3))
    b = model.generate(idx, **kw, use_cache=False, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert a.min() >= 0 and a.max() < VOCAB


def test_top_k_one_is_greedy():
    model = gpt()
    idx = torch.randint(VOCAB, (2, 3))
    greedy = model.generate(idx, 5, temperature=0.0)
    assert torch.equal(model.generate(idx, 5, temperature=2.0, top_k=1), greedy)


# -----------------------------------------------------------------------------
# training: finite loss, a gradient for every parameter


def assert_all_grads(model):
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kw", [dict(), dict(tie_weights=False, bias=False, dropout=0.1)])
def test_gpt_backward(kw):
    model = gpt(**kw).train()
    idx = torch.randint(VOCAB, (2, 8))
    logits, _ = model(idx)
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, VOCAB), idx[:, 1:].reshape(-1)
    )
    assert logits.shape == (2, 8, VOCAB) and torch.isfinite(loss)
    loss.backward()
    assert_all_grads(model)
    assert (model.head.weight is model.embedding.weight) == kw.get("tie_weights", True)


@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_and_enc_dec_backward(norm_first):
    for model, args in [
        (encoder(norm_first=norm_first, pos_encoding="learned"), (torch.randn(2, 5, 8, dtype=D),)),
        (enc_dec(norm_first=norm_first), (torch.randn(2, 5, 8, dtype=D),) * 2),
    ]:
        out = model.train()(*args)
        out = out[0] if isinstance(out, tuple) else out
        loss = out.pow(2).mean()
        assert torch.isfinite(loss)
        loss.backward()
        assert_all_grads(model)


def test_gpt_init_scales_residual_projections():
    model = GPTBackbone(max_len=8, num_layers=8, num_heads=2, hidden_size=64)
    block = model.blocks[0]
    assert block.attn.out_proj.weight.std() < 0.5 * block.attn.q_proj.weight.std()
    assert block.mlp.proj.weight.std() < 0.5 * block.mlp.fc.weight.std()


# -----------------------------------------------------------------------------
# config validation: one config object, errors name the model.backbone field


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(hidden_size=30, num_heads=4), "num_heads"),
        (dict(num_heads=0), re.escape("model.backbone.num_heads")),
        (dict(max_len=2.5), re.escape("model.backbone.max_len")),
        (dict(dropout=1.0), re.escape("model.backbone.dropout")),
        (dict(attn_impl="flash"), re.escape("model.backbone.attn_impl")),
        (dict(pos_encoding="rope"), re.escape("model.backbone.pos_encoding")),
        (dict(activation="tanh"), re.escape("model.backbone.activation")),
        (dict(norm_first="yes"), re.escape("model.backbone.norm_first")),
    ],
)
def test_transformer_config_validation(kw, match):
    with pytest.raises(SeqlabError, match=match):
        TransformerConfig(**kw)
    with pytest.raises(SeqlabError, match=match):
        GPTBackbone(**kw)


def test_backbone_validation_names_fields():
    with pytest.raises(
        SeqlabError, match=r"model\.backbone\.hidden_size .*model\.backbone\.num_heads"
    ):
        GPTBackbone(hidden_size=10, num_heads=4)
    with pytest.raises(SeqlabError, match=re.escape("model.backbone.num_decoder_layers")):
        EncoderDecoder(hidden_size=8, num_heads=2, num_decoder_layers=0)
    with pytest.raises(SeqlabError, match=re.escape("model.backbone.causal")):
        TransformerEncoder(hidden_size=8, causal="yes")
    with pytest.raises(ValueError, match="decoder needs a cache"):
        TransformerDecoder(TransformerConfig(hidden_size=8, num_heads=2))(
            torch.randn(1, 2, 8), torch.randn(1, 3, 8), cache=encoder().new_cache()
        )


# -----------------------------------------------------------------------------
# the 2017 Transformer: post-norm, ReLU, sinusoidal positions, inputs scaled by √d_model


def test_vaswani_encoder_equals_torch_transformer_encoder_layers():
    """model=transformer_vaswani's block is torch.nn.TransformerEncoderLayer(relu, post-norm)."""
    d, heads, layers = 8, 2, 2
    ours = encoder(
        num_layers=layers,
        norm_first=False,
        activation="relu",
        pos_encoding="sinusoidal",
        scale_inputs=True,
    )
    torch.manual_seed(1)
    ref_layers = [
        torch.nn.TransformerEncoderLayer(
            d,
            heads,
            dim_feedforward=4 * d,
            dropout=0.0,
            activation="relu",
            norm_first=False,
            batch_first=True,
            dtype=D,
        ).eval()
        for _ in range(layers)
    ]
    from seqlab.nn.attention import load_from_torch_mha

    for block, ref in zip(ours.blocks, ref_layers, strict=True):
        load_from_torch_mha(block.attn, ref.self_attn)
        block.mlp.fc.load_state_dict(ref.linear1.state_dict())
        block.mlp.proj.load_state_dict(ref.linear2.state_dict())
        block.norm1.load_state_dict(ref.norm1.state_dict())
        block.norm2.load_state_dict(ref.norm2.state_dict())
    x = torch.randn(2, 7, d, dtype=D)
    expected = x * math.sqrt(d) + sinusoidal_encoding(torch.arange(7), d, dtype=D)
    for ref in ref_layers:
        expected = ref(expected)
    assert_close(ours(x)[0], expected, **EXACT)
    gelu = encoder(num_layers=layers, norm_first=False, scale_inputs=True)
    gelu.load_state_dict(ours.state_dict())
    assert not torch.allclose(gelu(x)[0], expected)  # the activation matters
