"""The small CLIP (seqlab.nn.text_to_image.clip) against the paper's pseudo-code, written again here in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqlab.errors import SeqlabError
from seqlab.nn.text_to_image.clip import CLIP, contrastive_loss


def _clip(**kwargs) -> CLIP:
    torch.manual_seed(0)
    defaults = dict(text_vocab_size=20, text_len=6, image_size=8, channels=1, patch_size=4)
    defaults.update(
        hidden_size=16, num_layers=1, num_heads=2, text_hidden_size=16, text_num_layers=1
    )
    return CLIP(**{**defaults, "embed_size": 8, **kwargs})


def _batch(n: int = 5, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 1, 8, 8, generator=g)
    ids = torch.randint(2, 20, (n, 6), generator=g)
    ids[:, 4:] = 0  # right padding
    return images, ids


def _reference_loss(image_features, text_features, W_i, W_t, t) -> float:
    """Radford et al. 2021, Figure 3, in numpy: normalised projections, scaled cosine logits,
    cross-entropy along both axes (log-softmax written out, no torch)."""

    def l2_normalize(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def cross_entropy(logits, labels, axis):
        logits = logits if axis == 1 else logits.T
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -log_softmax[np.arange(len(labels)), labels].mean()

    I_e = l2_normalize(image_features @ W_i)
    T_e = l2_normalize(text_features @ W_t)
    logits = I_e @ T_e.T * np.exp(t)
    labels = np.arange(len(logits))
    return (cross_entropy(logits, labels, 0) + cross_entropy(logits, labels, 1)) / 2


def test_the_loss_is_the_papers_symmetric_cross_entropy():
    model = _clip().double()
    images, ids = _batch()
    with torch.no_grad():
        logits, loss = model(images.double(), ids)
    with torch.no_grad():
        expected = _reference_loss(
            model.image_encoder(images.double()).numpy(),
            model.text_encoder(ids).numpy(),
            model.image_projection.weight.numpy().T,  # nn.Linear stores W^T
            model.text_projection.weight.numpy().T,
            float(model.logit_scale),
        )
    assert float(loss) == pytest.approx(expected, rel=1e-10)
    assert logits.shape == (5, 5)
    # the loss as torch writes it: both directions of one matrix
    labels = torch.arange(5)
    both = torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(
        logits.T, labels
    )
    assert float(loss) == pytest.approx(float(both) / 2, rel=1e-12)


def test_embeddings_are_unit_length_with_the_papers_temperature_and_clamp():
    model = _clip()
    images, ids = _batch(3)
    image_e, text_e = model.encode_image(images), model.encode_text(ids)
    assert image_e.shape == text_e.shape == (3, 8)
    assert torch.allclose(image_e.norm(dim=-1), torch.ones(3), atol=1e-6)
    assert torch.allclose(text_e.norm(dim=-1), torch.ones(3), atol=1e-6)
    assert float(model.scale()) == pytest.approx(1 / 0.07, rel=1e-5)  # initial temperature
    with torch.no_grad():
        model.logit_scale.fill_(10.0)  # e^10 > 100
    assert float(model.scale()) == pytest.approx(100.0, rel=1e-5)
    logits, _ = model(images, ids)
    assert logits.abs().max() <= 100.0 + 1e-4  # cosines in [-1, 1] times at most 100


def test_padding_never_changes_a_captions_embedding():
    model = _clip().eval()
    ids = torch.tensor([[5, 6, 7, 0, 0, 0]])
    longer = _clip(text_len=9).eval()
    longer.load_state_dict(
        {
            k: (v if k != "text_encoder.pos" else torch.cat([v, torch.zeros(1, 3, 16)], dim=1))
            for k, v in model.state_dict().items()
        }
    )
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    assert torch.allclose(model.encode_text(ids), longer.encode_text(padded), atol=1e-6)


def test_a_few_steps_lower_the_loss():
    model = _clip()
    images, ids = _batch(8)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        _, loss = model(images, ids)
        first = float(loss) if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss) < 0.5 * first


def test_the_loss_is_lowest_when_the_diagonal_matches():
    eye = 10.0 * torch.eye(4)
    assert float(contrastive_loss(eye)) < float(contrastive_loss(eye.roll(1, dims=1)))


def test_bad_settings_are_refused_by_name():
    with pytest.raises(SeqlabError, match="init_temperature"):
        _clip(init_temperature=0.0)
    with pytest.raises(SeqlabError, match="pad_id"):
        _clip(pad_id=50)
    with pytest.raises(ValueError, match=r"expected text of shape \(batch, 6\)"):
        _clip().encode_text(torch.zeros(2, 4, dtype=torch.long))
