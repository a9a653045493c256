"""DALLE: teacher forcing, causality, text-loss masking, cached generation, config errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqlab.errors import SeqlabError
from seqlab.nn.text_to_image.dalle import DALLE
from seqlab.nn.transformer import GPTBackbone

L, V_TXT, V_IMG, GRID = 5, 11, 13, (3, 4)
N = GRID[0] * GRID[1]


def small(**kwargs) -> DALLE:
    args = dict(
        text_vocab_size=V_TXT,
        text_len=L,
        image_vocab_size=V_IMG,
        image_tokens=N,
        grid_size=GRID,
        hidden_size=32,
        num_layers=2,
        num_heads=4,
    )
    return DALLE(**{**args, **kwargs})


def batch(b: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    text = torch.randint(1, V_TXT, (b, L), generator=g)
    text[:, -2:] = 0  # padding
    return text, torch.randint(V_IMG, (b, N), generator=g)


def test_shapes_and_loss_is_image_cross_entropy():
    torch.manual_seed(0)
    model = small()
    text, codes = batch()
    logits, loss = model(text, codes)
    assert logits.shape == (3, N, V_IMG)
    assert isinstance(model.backbone, GPTBackbone) and model.backbone.pos is None
    assert model.text_head is None  # text_loss_weight = 0: no text head
    expected = F.cross_entropy(logits.reshape(-1, V_IMG), codes.reshape(-1))
    assert torch.allclose(loss, expected)
    assert loss.item() == pytest.approx(torch.log(torch.tensor(float(V_IMG))).item(), rel=0.05)


def test_prediction_of_code_i_sees_only_codes_before_i():
    torch.manual_seed(0)
    model = small().eval()
    text, codes = batch()
    logits, _ = model(text, codes)
    for j in (0, 5, N - 1):
        changed = codes.clone()
        changed[:, j] = (changed[:, j] + 1) % V_IMG
        new, _ = model(text, changed)
        assert torch.allclose(new[:, : j + 1], logits[:, : j + 1], atol=1e-6)  # predict <= j
        if j < N - 1:
            assert not torch.allclose(new[:, j + 1 :], logits[:, j + 1 :], atol=1e-6)
    other = text.clone()
    other[:, 0] = (other[:, 0] + 1) % V_TXT
    assert not torch.allclose(model(other, codes)[0][:, 0], logits[:, 0], atol=1e-6)


def test_grid_positions_matter():
    torch.manual_seed(0)
    model = small().eval()
    text, codes = batch()
    logits, _ = model(text, codes)
    with torch.no_grad():
        model.col_pos.weight[1].add_(torch.randn(32))  # not a constant: LayerNorm
    new, _ = model(text, codes)
    assert torch.allclose(new[:, :2], logits[:, :2], atol=1e-6)  # codes at column 1 come later
    assert not torch.allclose(new[:, 2:], logits[:, 2:], atol=1e-6)


def test_text_loss_weight_masks_text_targets():
    torch.manual_seed(0)
    text, codes = batch()
    off = small()
    out = off.losses(text, codes)
    assert out["text"].item() == 0 and torch.equal(out["loss"], out["image"])
    out["loss"].backward()
    assert off.text_emb.weight.grad.abs().sum() > 0  # text still conditions the image

    torch.manual_seed(0)
    on = small(text_loss_weight=0.5)
    out = on.losses(text, codes)
    assert torch.allclose(out["loss"], out["image"] + 0.5 * out["text"])
    out["loss"].backward()
    assert on.text_head.weight.grad.abs().sum() > 0
    # the text term: next-token CE on t_2..t_L, ignoring padding targets
    h, _ = on.backbone(torch.cat([on._prefix(text), on._embed_image(codes[:, :-1])], dim=1))
    logits = on.text_head(h[:, : L - 1])
    keep = text[:, 1:] != 0
    expected = F.cross_entropy(logits[keep], text[:, 1:][keep])
    assert torch.allclose(out["text"], expected, atol=1e-6)

    # what the model predicts at a position whose target is padding changes nothing (that
    # target is ignored); what it predicts where the target is a word does
    def text_loss_with_noise_where(rows: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(3, L - 1, V_TXT, generator=torch.Generator().manual_seed(1)) * 10
        hook = on.text_head.register_forward_hook(lambda m, i, logits: logits + noise * rows)
        with torch.no_grad():
            loss = on.losses(text, codes)["text"]
        hook.remove()
        return loss

    padding_targets = (text[:, 1:] == 0).unsqueeze(-1).float()  # (B, L-1, 1)
    assert padding_targets.sum() > 0 and (1 - padding_targets).sum() > 0
    assert torch.allclose(text_loss_with_noise_where(padding_targets), out["text"], atol=1e-6)
    assert not torch.allclose(
        text_loss_with_noise_where(1 - padding_targets), out["text"], atol=1e-3
    )
    one_word = torch.zeros_like(text)
    one_word[:, 0] = 3
    assert on.losses(one_word, codes)["text"].item() == 0  # no targets: 0, not NaN


def test_generation_is_reproducible_and_cache_matches_recompute():
    torch.manual_seed(0)
    model = small().eval()
    text, _ = batch()
    a = model.generate(text, generator=torch.Generator().manual_seed(1), top_k=5)
    b = model.generate(text, generator=torch.Generator().manual_seed(1), top_k=5)
    c = model.generate(text, generator=torch.Generator().manual_seed(1), use_cache=False, top_k=5)
    assert a.shape == (3, N) and a.dtype == torch.long
    assert a.min() >= 0 and a.max() < V_IMG
    assert torch.equal(a, b) and torch.equal(a, c)
    greedy = model.generate(text, temperature=0)
    assert torch.equal(greedy, model.generate(text, temperature=0, use_cache=False))
    # greedy codes are the argmax of the teacher-forced logits on themselves
    logits, _ = model(text, greedy)
    assert torch.equal(logits.argmax(-1), greedy)


def test_config_errors_name_the_field():
    with pytest.raises(
        SeqlabError, match=r"model\.backbone\.hidden_size \(30\).*model\.backbone\.num_heads \(4\)"
    ):
        small(hidden_size=30)
    with pytest.raises(SeqlabError, match=r"model\.backbone\.grid_size"):
        small(grid_size=(3, 3))
    with pytest.raises(SeqlabError, match=r"model\.backbone\.text_loss_weight"):
        small(text_loss_weight=-1.0)
    with pytest.raises(SeqlabError, match=r"model\.backbone\.pad_id"):
        small(pad_id=V_TXT)
    with pytest.raises(ValueError, match="expected text"):
        small()(torch.zeros(2, L + 1, dtype=torch.long), torch.zeros(2, N, dtype=torch.long))


def test_guidance_mixes_the_conditional_and_unconditional_logits():
    """Ho & Salimans 2022: l = l_uncond + w (l_cond - l_uncond), checked greedily step by step
    against teacher-forced passes of the caption and of the empty caption."""
    torch.manual_seed(0)
    model = small().eval()
    text, _ = batch(2)
    empty = torch.zeros_like(text)  # all padding: the empty caption
    w = 3.0
    codes = torch.zeros(2, N, dtype=torch.long)
    with torch.no_grad():
        for i in range(N):
            cond, uncond = model(text, codes)[0][:, i], model(empty, codes)[0][:, i]
            codes[:, i] = (uncond + w * (cond - uncond)).argmax(dim=-1)
    assert torch.equal(model.generate(text, temperature=0, guidance=w), codes)
    assert torch.equal(model.generate(text, temperature=0, guidance=w, use_cache=False), codes)

    def seeded():
        return torch.Generator().manual_seed(0)

    # w = 1 is plain conditional sampling: the same draws from the same seed
    plain = model.generate(text, generator=seeded())
    assert torch.equal(model.generate(text, generator=seeded(), guidance=1.0), plain)
    # w = 0 samples the empty caption
    assert torch.equal(
        model.generate(text, generator=seeded(), guidance=0.0),
        model.generate(empty, generator=seeded()),
    )


def test_caption_dropout_trains_on_empty_captions_and_only_in_training():
    text, codes = batch(4)
    torch.manual_seed(0)
    model = small(caption_dropout=0.999)
    torch.manual_seed(1)
    dropped = model.losses(text, codes)["image"]
    assert torch.allclose(dropped, model.losses(torch.zeros_like(text), codes)["image"])
    model.eval()
    kept = model.losses(text, codes)["image"]
    assert not torch.allclose(kept, dropped)
    with pytest.raises(SeqlabError, match="caption_dropout"):
        small(caption_dropout=1.0)
