"""2. Fused vs scratch recurrent cells: tokens/s of forward + backward, same weights.

``seqlab.nn.recurrent.{RNN,LSTM,GRU}`` with ``impl="fused"`` (torch's oneDNN/cuDNN kernels)
against ``impl="scratch"`` (the cell equations looped over time in Python), the scratch
module loaded with the fused one's weights (``copy_weights_from``). One sample is one
forward + backward of a (batch, seq, input) float32 batch; tokens = batch x seq.
"""

from __future__ import annotations

from benchmarks.common import Section, Settings, entry, interleaved

TARGET = 2.0


def run(settings: Settings) -> Section:
    import torch

    from seqlab.nn.recurrent import GRU, LSTM, RNN

    section = Section(
        name="recurrent",
        title="2. Recurrent cells: fused (torch kernels) vs scratch (Python loop)",
        a_label="fused (tokens/s)",
        b_label="scratch (tokens/s)",
        ratio_label="fused / scratch throughput",
        target=f"≥ {TARGET:g}x on CPU",
    )
    batch, seq, hidden = settings.pick((32, 100, 128), (4, 8, 16))
    inner = settings.pick(3, 1)
    tokens = batch * seq
    for name, cls in (("rnn", RNN), ("lstm", LSTM), ("gru", GRU)):
        for layers in (1, 2):
            torch.manual_seed(0)
            kw = dict(input_size=hidden, hidden_size=hidden, num_layers=layers)
            fused = cls(**kw, impl="fused")
            scratch = cls(**kw, impl="scratch").copy_weights_from(fused)
            x = torch.randn(batch, seq, hidden)

            def step(module, x=x):
                module.zero_grad(set_to_none=True)
                out, _ = module(x)
                out.square().mean().backward()

            a, b = interleaved(
                lambda fused=fused: step(fused),
                lambda scratch=scratch: step(scratch),
                reps=settings.reps,
                warmup=settings.warmup,
                inner=inner,
            )
            row = entry(
                f"{name}, {layers} layer{'s' if layers > 1 else ''}",
                [tokens / t for t in a],
                [tokens / t for t in b],
                unit="tok/s",
                extra={"batch": batch, "seq": seq, "hidden": hidden, "input": hidden},
            )
            row.extra["meets_target"] = row.ratio >= TARGET
            section.entries.append(row)
    section.notes.append(
        f"batch {batch}, seq {seq}, input = hidden = {hidden}, float32, forward + backward "
        f"of mean(out²); torch threads {torch.get_num_threads()}."
    )
    return section
