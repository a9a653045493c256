"""3. Attention: ``MultiHeadAttention(impl="sdpa")`` vs ``impl="naive"``, same weights.

Causal self-attention, forward + backward, at several context lengths: time per call, and
the peak of the memory allocated during one call. Peak memory on the CPU comes from torch's
profiler (``profile_memory=True``): its memory timeline lists every tensor created and
destroyed during the call, and the running total's maximum is the peak on top of what
existed before (weights, inputs). Where that private API is not available, the table
falls back to the theoretical bytes of one (B, H, T, T) float32 attention matrix and says so.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.common import Section, Settings, entry, interleaved

MIB = 2**20


def peak_bytes(fn: Callable[[], object]) -> int | None:
    """Peak CPU bytes allocated while ``fn`` runs (above the level at its start), or None."""
    try:
        from torch.profiler import ProfilerActivity, profile
        from torch.profiler._memory_profiler import Action

        with profile(
            activities=[ProfilerActivity.CPU],
            profile_memory=True,
            record_shapes=True,
            with_stack=True,
        ) as prof:
            fn()
        current = peak = 0
        for _t, action, (key, _version), size in prof._memory_profile().timeline:
            if key.device.type != "cpu":
                continue
            if action == Action.CREATE:
                current += size
            elif action == Action.DESTROY:
                current -= size
            peak = max(peak, current)
        return peak
    except Exception:  # private API: absent or changed in this torch version
        return None


def run(settings: Settings) -> Section:
    import torch

    from seqlab.nn.attention import MultiHeadAttention

    section = Section(
        name="attention",
        title="3. Attention: sdpa (fused) vs naive (softmax written out)",
        a_label="sdpa",
        b_label="naive",
        ratio_label="naive / sdpa (time: sdpa speed-up; memory: sdpa saving)",
    )
    batch, dim, heads = settings.pick((8, 128, 4), (2, 32, 4))
    contexts = settings.pick((64, 256, 1024), (8, 16, 32))
    theoretical = False
    for t in contexts:
        torch.manual_seed(0)
        sdpa = MultiHeadAttention(dim=dim, n_head=heads, impl="sdpa")
        naive = MultiHeadAttention(dim=dim, n_head=heads, impl="naive")
        naive.load_state_dict(sdpa.state_dict())
        x = torch.randn(batch, t, dim, requires_grad=True)

        def step(module, x=x):
            module.zero_grad(set_to_none=True)
            x.grad = None
            out, _ = module(x, is_causal=True)
            out.square().mean().backward()

        a, b = interleaved(
            lambda sdpa=sdpa: step(sdpa),
            lambda naive=naive: step(naive),
            reps=settings.reps,
            warmup=settings.warmup,
        )
        matrix = batch * heads * t * t * 4  # one float32 (B, H, T, T) score matrix
        section.entries.append(
            entry(
                f"T={t} time",
                [s * 1e3 for s in a],
                [s * 1e3 for s in b],
                unit="ms",
                ratio=lambda a, b: b / a,
                extra={"batch": batch, "dim": dim, "heads": heads, "attn_matrix_bytes": matrix},
            )
        )
        mem_a = peak_bytes(lambda sdpa=sdpa: step(sdpa))
        mem_b = peak_bytes(lambda naive=naive: step(naive))
        measured = bool(mem_a and mem_b and mem_a > 0 and mem_b > 0)
        if not measured:
            theoretical = True
            mem_a, mem_b = matrix, matrix * 3  # scores, masked scores, softmax (forward)
        section.entries.append(
            entry(
                f"T={t} peak memory" + ("" if measured else " (theoretical)"),
                [mem_a / MIB],
                [mem_b / MIB],
                unit="MiB",
                ratio=lambda a, b: b / a,
                extra={"attn_matrix_bytes": matrix, "measured": measured},
            )
        )
    section.notes.append(
        f"Causal self-attention, batch {batch}, dim {dim}, {heads} heads, float32, forward + "
        "backward of mean(out²). One (B, H, T, T) float32 attention matrix is "
        + ", ".join(f"{batch * heads * t * t * 4 / MIB:.3g} MiB at T={t}" for t in contexts)
        + "."
    )
    section.notes.append(
        "Peak memory: torch profiler memory timeline (profile_memory=True), bytes allocated "
        "during one forward + backward above the level at its start; one measurement "
        "(deterministic), so no spread."
    )
    if theoretical:
        section.notes.append(
            "Rows marked (theoretical): peak memory could not be measured on this torch build; "
            "they show theoretical bytes (sdpa: one attention matrix, naive: three)."
        )
    return section
