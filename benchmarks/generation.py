"""4. Generation: tokens/s of a GPT language model's ``generate`` with and without the KV cache.

A small language-modelling task around ``seqlab.nn.transformer.GPTBackbone`` (the one GPT;
random weights: speed does not depend on them) with ``max_len`` above prompt + new tokens, so
the cached path is used for every step. Greedy
decoding (temperature 0) of batch 1 from a short prompt. Without the cache every step
re-runs the whole context, so the gap grows with the number of new tokens.
"""

from __future__ import annotations

from benchmarks.common import Section, Settings, entry, interleaved


def run(settings: Settings) -> Section:
    import torch

    from seqlab.data.spec import DataSpec
    from seqlab.tasks.language_modeling import LanguageModelingTask

    section = Section(
        name="generation",
        title="4. Generation: GPT with vs without KV cache",
        a_label="with cache (tok/s)",
        b_label="without cache (tok/s)",
        ratio_label="with / without cache throughput",
    )
    num_layers, hidden_size, num_heads = settings.pick((2, 128, 4), (1, 32, 4))
    lengths = settings.pick((256, 1024), (8, 16))
    prompt_len = 8
    max_len = max(lengths) + prompt_len + settings.pick(248, 8)
    torch.manual_seed(0)
    backbone = {
        "_target_": "seqlab.nn.transformer.GPTBackbone",
        "max_len": max_len,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "hidden_size": hidden_size,
        "dropout": 0.0,
    }
    model = LanguageModelingTask(
        model={
            "backbone": backbone,
            "optimizer": {"_target_": "torch.optim.SGD", "_partial_": True},
        },
        spec=DataSpec(task="language_modeling", vocab_size=65, seq_len=max_len).to_dict(),
    ).eval()
    prompt = torch.randint(0, 65, (1, prompt_len))
    for i, new in enumerate(lengths):
        outputs: dict[bool, torch.Tensor] = {}

        def gen(use_cache: bool, new: int = new, outputs=outputs):
            outputs[use_cache] = model.generate(prompt, new, temperature=0.0, use_cache=use_cache)

        # Uncached 1024 tokens re-run a context of up to ~1k tokens per token (~20 s on one
        # core): at most 3 repetitions, and the model is warm after the first length.
        a, b = interleaved(
            lambda: gen(True),
            lambda: gen(False),
            reps=settings.reps if new < 1000 else min(settings.reps, 3),
            warmup=max(0, settings.warmup - 1) if i == 0 else 0,
        )
        same = torch.equal(outputs[True], outputs[False])  # the cache must not change tokens
        section.entries.append(
            entry(
                f"{new} new tokens",
                [new / t for t in a],
                [new / t for t in b],
                unit="tok/s",
                extra={"same_tokens": same, "prompt": prompt_len, "max_len": max_len},
            )
        )
    section.notes.append(
        f"GPT num_layers={num_layers}, hidden_size={hidden_size}, num_heads={num_heads}, vocab 65, "
        f"max_len {max_len} (> prompt {prompt_len} + new tokens: the cache path is used throughout); "
        "batch 1, greedy; the with/without outputs are checked equal (extra.same_tokens)."
    )
    return section
