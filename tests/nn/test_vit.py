"""Vision Transformer: patches, class token, positions, attention maps, config errors."""

from __future__ import annotations

import pytest
import torch

from seqlab.errors import SeqlabError
from seqlab.nn.transformer import TransformerEncoder
from seqlab.nn.vit import ViT


def small(**kwargs) -> ViT:
    args = dict(
        image_size=28,
        patch_size=7,
        channels=1,
        hidden_size=32,
        num_layers=2,
        num_heads=4,
        dropout=0.0,
    )
    return ViT(**{**args, **kwargs})


def test_patch_embedding_shapes_and_count():
    torch.manual_seed(0)
    vit = small()
    images = torch.randn(3, 1, 28, 28)
    assert vit.num_patches == 16 and vit.grid == (4, 4)
    assert vit.patchify(images).shape == (3, 16, 49)  # (28/7)^2 patches of 7*7*1 pixels
    assert vit.tokens(images).shape == (3, 17, 32)  # + class token
    assert vit.pos_embedding.shape == (1, 17, 32)  # one learned position per token
    assert vit.cls_token.shape == (1, 1, 32)
    assert isinstance(vit.encoder, TransformerEncoder) and vit.encoder.pos is None
    assert vit(images).shape == (3, 32) and vit.output_size == 32
    rgb = ViT(
        image_size=[8, 12], patch_size=4, channels=3, hidden_size=16, num_layers=1, num_heads=2
    )
    assert rgb.num_patches == 6 and rgb.grid == (2, 3)
    assert rgb.patchify(torch.randn(2, 3, 8, 12)).shape == (2, 6, 48)
    assert rgb.pos_embedding.shape == (1, 7, 16)


def test_patches_are_blocks_in_row_major_order():
    vit = ViT(image_size=[4, 6], patch_size=2, channels=2, hidden_size=8, num_layers=1, num_heads=2)
    images = torch.randn(1, 2, 4, 6)
    patches = vit.patchify(images)[0]  # (6, 8)
    for index, (r, c) in enumerate((r, c) for r in range(2) for c in range(3)):
        block = images[0, :, 2 * r : 2 * r + 2, 2 * c : 2 * c + 2]  # (C, p, p)
        assert torch.equal(patches[index], block.permute(1, 2, 0).reshape(-1))  # (p1 p2 c)


def test_class_token_path_and_pooling():
    torch.manual_seed(0)
    vit = small().eval()
    images = torch.randn(2, 1, 28, 28)
    encoded, _ = vit.encoder(vit.tokens(images))
    assert torch.allclose(vit(images), encoded[:, 0])  # pool=cls reads the class token
    with torch.no_grad():
        vit.cls_token.add_(1.0)
    assert not torch.allclose(vit(images), encoded[:, 0])  # and the class token matters
    mean = small(pool="mean").eval()
    mean.load_state_dict(vit.state_dict())
    encoded, _ = mean.encoder(mean.tokens(images))
    assert torch.allclose(mean(images), encoded[:, 1:].mean(1))


def test_positions_make_the_model_see_where_patches_are():
    torch.manual_seed(0)
    vit = small().eval()
    images = torch.randn(1, 1, 28, 28)
    swapped = images.clone()
    swapped[..., :7, :7], swapped[..., :7, 7:14] = images[..., :7, 7:14], images[..., :7, :7]
    assert not torch.allclose(vit(images), vit(swapped), atol=1e-6)
    with torch.no_grad():
        vit.pos_embedding.zero_()
    # without positions, attention is permutation-invariant over the patches
    assert torch.allclose(vit(images), vit(swapped), atol=1e-5)


def test_attention_maps_are_class_token_rows():
    """Each layer's map is row 0 (the class token as query) of softmax(QK^T/sqrt(d)) over the
    patch keys, recomputed here from what each block's attention really received in a plain
    forward pass (the fused path, not the one attention_maps uses)."""
    torch.manual_seed(0)
    vit = small(num_layers=3).eval()
    images = torch.randn(2, 1, 28, 28)
    inputs = []
    hooks = [
        block.attn.register_forward_hook(lambda m, args, out: inputs.append((m, args[0])))
        for block in vit.encoder.blocks
    ]
    with torch.no_grad():
        vit(images)
    for hook in hooks:
        hook.remove()
    maps = vit.attention_maps(images)
    assert len(maps) == len(inputs) == 3
    for layer, (m, (attn, h)) in enumerate(zip(maps, inputs, strict=True)):
        assert m.shape == (2, 4, 16)  # (B, heads, patches)
        q = attn.q_proj(h).view(2, 17, 4, 8).transpose(1, 2)  # (B, heads, N + 1, d_head)
        k = attn.k_proj(h).view(2, 17, 4, 8).transpose(1, 2)
        weights = (q @ k.transpose(-2, -1) / 8**0.5).softmax(-1)  # (B, heads, N + 1, N + 1)
        torch.testing.assert_close(m, weights[:, :, 0, 1:], msg=f"layer {layer}")
        # without the class token's attention to itself: rows sum to 1 minus that
        torch.testing.assert_close(m.sum(-1), 1 - weights[:, :, 0, 0])


def test_sdpa_and_naive_attention_agree_and_gradients_reach_everything():
    torch.manual_seed(0)
    fused = small(attn_impl="sdpa")
    naive = small(attn_impl="naive")
    naive.load_state_dict(fused.state_dict())
    images = torch.randn(4, 1, 28, 28)
    assert torch.allclose(fused(images), naive(images), atol=1e-5)
    fused(images).pow(2).mean().backward()
    assert all(p.grad is not None for p in fused.parameters())


def test_config_errors_name_the_field():
    with pytest.raises(
        SeqlabError, match=r"model.backbone.patch_size=5 .*28x28.*\[1, 2, 4, 7, 14, 28\]"
    ):
        small(patch_size=5)
    with pytest.raises(SeqlabError, match=r"model.backbone.num_heads"):
        small(hidden_size=30, num_heads=4)
    with pytest.raises(SeqlabError, match=r"model.backbone.pool"):
        small(pool="max")
    with pytest.raises(SeqlabError, match=r"model.backbone.image_size"):
        small(image_size=[28])
    with pytest.raises(ValueError, match=r"expected images of shape \(batch, 1, 28, 28\)"):
        small()(torch.randn(2, 3, 28, 28))
