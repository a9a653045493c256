"""VQ-VAE image tokenizer: shapes, straight-through gradients, codebook usage, restarts."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from seqlab.errors import SeqlabError
from seqlab.nn.text_to_image.image_tokenizer import VQVAE, VectorQuantizer


def small(**kwargs) -> VQVAE:
    args = dict(
        image_size=8, channels=1, hidden_size=16, codebook_size=16, code_dim=8, downsample=2
    )
    return VQVAE(**{**args, **kwargs})


@pytest.mark.parametrize(
    ("size", "downsample", "grid"),
    [(28, 4, (7, 7)), (8, 2, (4, 4)), (28, 8, (4, 4)), ((12, 10), 4, (3, 3)), (8, 1, (8, 8))],
)
def test_round_trip_shapes(size, downsample, grid):
    torch.manual_seed(0)
    vq = small(image_size=size, downsample=downsample)
    H, W = (size, size) if isinstance(size, int) else size
    x = torch.randn(3, 1, H, W)
    codes = vq.encode(x)
    assert vq.grid_size == grid and vq.num_tokens == grid[0] * grid[1]
    assert codes.shape == (3, vq.num_tokens) and codes.dtype == torch.long
    assert codes.min() >= 0 and codes.max() < vq.codebook_size
    assert vq.decode(codes).shape == x.shape
    recon, vq_loss, info = vq(x)
    assert recon.shape == x.shape and vq_loss.dim() == 0
    assert info["codes"].shape == (3, vq.num_tokens)


def test_encode_matches_forward_codes_and_decode_matches_recon():
    torch.manual_seed(0)
    vq = small().eval()
    x = torch.randn(4, 1, 8, 8)
    recon, _, info = vq(x)
    assert torch.equal(vq.encode(x), info["codes"])
    assert torch.allclose(vq.decode(info["codes"]), recon, atol=1e-6)
    sig = small(output="sigmoid").eval()
    out = sig.decode(sig.encode(x))
    assert (out >= 0).all() and (out <= 1).all()


@pytest.mark.parametrize("ema", [True, False])
def test_straight_through_gradients_reach_the_encoder(ema):
    torch.manual_seed(0)
    vq = small(ema=ema).train()
    x = torch.randn(4, 1, 8, 8)
    recon, _, _ = vq(x)
    F.mse_loss(recon, x).backward()  # reconstruction loss only, no vq_loss
    for p in vq.encoder.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    if not ema:  # the codebook learns from the codebook loss, not through the decoder
        vq.zero_grad()
        _, vq_loss, _ = vq(x)
        vq_loss.backward()
        assert vq.quantizer.embedding.grad.abs().sum() > 0


def test_perplexity_counts_used_codes():
    q = VectorQuantizer(codebook_size=4, code_dim=2, dead_code_threshold=None).eval()
    with torch.no_grad():
        q.embedding.copy_(torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]]))
    one = torch.zeros(2, 2, 2, 2)  # every vector at code 0
    _, _, info = q(one)
    assert info["perplexity"].item() == pytest.approx(1.0)
    all4 = q.embedding.t().reshape(1, 2, 2, 2).clone()  # each code once
    _, _, info = q(all4)
    assert torch.equal(info["codes"].flatten().sort().values, torch.arange(4))
    assert info["perplexity"].item() == pytest.approx(4.0)
    torch.manual_seed(0)
    vq = small()
    _, _, info = vq(torch.randn(8, 1, 8, 8))
    # exp(entropy) of this batch's code histogram, counted here from the codes it returned
    counts = torch.bincount(info["codes"].flatten(), minlength=vq.codebook_size).double()
    used = counts[counts > 0] / counts.sum()
    expected = math.exp(-(used * used.log()).sum().item())
    assert info["perplexity"].item() == pytest.approx(expected, rel=1e-5)
    assert 1.0 < expected < vq.codebook_size  # several codes, not uniform: a real check


@pytest.mark.parametrize("ema", [True, False])
def test_dead_codes_are_restarted_from_the_batch(ema):
    torch.manual_seed(0)
    q = VectorQuantizer(codebook_size=8, code_dim=4, ema=ema, dead_code_threshold=2).train()
    z = torch.randn(2, 4, 3, 3)
    q(z)  # first training step: codebook initialised from the batch
    assert bool(q.initialized)
    q.unused_steps.zero_()
    q._set_codes(torch.tensor([5]), torch.full((1, 4), 100.0))  # far away: never chosen
    _, _, info = q(z)  # unused for 1 step: kept
    assert info["restarts"].item() == 0 and (q.embedding[5] > 50).all()
    assert q.unused_steps[5] == 1
    _, _, info = q(z)  # 2 steps unused -> restarted
    assert info["restarts"].item() >= 1
    assert (q.embedding[5] < 50).all()
    vectors = z.permute(0, 2, 3, 1).reshape(-1, 4)
    assert torch.isclose(vectors, q.embedding[5].detach()).all(dim=1).any()  # a batch vector
    assert q.unused_steps[5] == 0
    q.eval()
    before = q.embedding.detach().clone()
    q(z + 50.0)  # eval: no updates, no restarts
    assert torch.equal(q.embedding.detach(), before)


def test_short_training_lowers_reconstruction_error():
    torch.manual_seed(0)
    # 8x8 images: a bright bar at a random row or column, on a noisy background
    n = 256
    x = 0.05 * torch.rand(n, 1, 8, 8)
    idx = torch.randint(8, (n,))
    for i in range(n):
        if i % 2:
            x[i, 0, idx[i], :] = 1.0
        else:
            x[i, 0, :, idx[i]] = 1.0
    vq = small(output="sigmoid", codebook_size=32, dead_code_threshold=10)
    opt = torch.optim.Adam(vq.parameters(), lr=3e-3)

    def mse() -> float:
        vq.eval()
        with torch.no_grad():
            return F.mse_loss(vq.decode(vq.encode(x)), x).item()

    start = mse()
    vq.train()
    for _ in range(200):
        batch = x[torch.randint(n, (32,))]
        recon, vq_loss, info = vq(batch)
        loss = F.mse_loss(recon, batch) + vq_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    end = mse()
    assert end < 0.5 * start, (start, end)
    assert info["perplexity"].item() > 2.0  # more than a couple of codes in use


def test_config_errors_name_the_field():
    with pytest.raises(SeqlabError, match=r"model\.backbone\.downsample"):
        small(downsample=3)
    with pytest.raises(SeqlabError, match=r"model\.backbone\.output"):
        small(output="tanh")
    with pytest.raises(SeqlabError, match=r"model\.backbone\.image_size"):
        small(image_size=[8])
    with pytest.raises(ValueError, match="expected images"):
        small().encode(torch.randn(2, 1, 28, 28))
