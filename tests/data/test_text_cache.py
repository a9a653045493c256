"""n-gram baselines are cached on disk by the token streams they were fitted on."""

from __future__ import annotations

import torch

from seqlab.baselines import language as tb


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


def test_cleaned_plays_are_cached_by_their_bytes(tmp_path, monkeypatch):
    from seqlab.data.text import plays as tp

    (_, _, source), *_ = tp.select_plays(["macbeth"])
    play = tmp_path / "macbeth.md"
    play.write_bytes(source.read_bytes())
    cache = tmp_path / "cache"
    fresh = tp.clean_play_markdown(source.read_text(encoding="utf-8"))
    tp._cleaned_in_process.cache_clear()  # this test is about the files
    assert tp.cleaned_play(play, cache) == fresh
    (entry,) = (cache / "plays").glob("macbeth-*.txt")

    calls = []
    real_clean = tp.clean_play_markdown
    monkeypatch.setattr(tp, "clean_play_markdown", lambda md: calls.append(md) or real_clean(md))
    assert tp.cleaned_play(play, cache) == fresh and calls == []  # read back, not cleaned
    assert [t for _, t in tp.play_texts(["macbeth"], cache_dir=cache)] == [fresh]

    play.write_bytes(source.read_bytes().replace(b"MACBETH", b"MACBOTH"))  # an edited play
    assert tp.cleaned_play(play, cache) == fresh.replace("MACBETH", "MACBOTH")
    assert len(calls) == 1 and len(list((cache / "plays").glob("macbeth-*.txt"))) == 2

    entry.write_bytes(b"\xff\xfe broken")  # an unreadable entry is cleaned and rewritten
    play.write_bytes(source.read_bytes())
    tp._cleaned_in_process.cache_clear()
    assert tp.cleaned_play(play, cache) == fresh and len(calls) == 2
    assert entry.read_text(encoding="utf-8") == fresh


def test_a_play_is_cleaned_once_per_process_without_a_cache_folder(tmp_path, monkeypatch):
    from seqlab.data.text import plays as tp

    (_, _, source), *_ = tp.select_plays(["macbeth"])
    play = tmp_path / "macbeth.md"
    play.write_bytes(source.read_bytes())
    tp._cleaned_in_process.cache_clear()
    calls = []
    real_clean = tp.clean_play_markdown
    monkeypatch.setattr(tp, "clean_play_markdown", lambda md: calls.append(md) or real_clean(md))
    first = tp.cleaned_play(play)
    assert tp.cleaned_play(play) == first and len(calls) == 1
    play.write_bytes(source.read_bytes().replace(b"MACBETH", b"MACBOTH"))  # keyed by the bytes
    assert tp.cleaned_play(play) == first.replace("MACBETH", "MACBOTH") and len(calls) == 2
