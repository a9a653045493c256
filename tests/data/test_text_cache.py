"""n-gram baselines are cached on disk by the token streams they were fitted on."""

from __future__ import annotations

import torch

from seqlab.data import text_baselines as tb


def _streams(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        k: torch.randint(0, 7, (n,), generator=g)
        for k, n in (("train", 400), ("val", 80), ("test", 80))
    }


def test_the_cache_returns_what_a_fit_gives_and_refits_other_data(tmp_path, monkeypatch):
    streams = _streams(0)
    fitted = tb.text_baselines(streams, 7, 3, cache_dir=str(tmp_path))
    assert fitted == tb.text_baselines(streams, 7, 3)  # the cached entry is the fit
    (entry,) = tmp_path.glob("ngram-*.json")

    calls = []
    monkeypatch.setattr(tb, "_fit_baselines", lambda *a: calls.append(a) or {"fitted": True})
    assert tb.text_baselines(streams, 7, 3, cache_dir=str(tmp_path)) == fitted  # from disk
    assert calls == []
    assert tb.text_baselines(_streams(1), 7, 3, cache_dir=str(tmp_path)) == {"fitted": True}
    assert tb.text_baselines(streams, 7, 2, cache_dir=str(tmp_path)) == {"fitted": True}
    entry.write_text("{not json")
    assert tb.text_baselines(streams, 7, 3, cache_dir=str(tmp_path)) == {"fitted": True}
    assert len(calls) == 3
