"""The course's measured claims (docs/course.md): what the Markov assumption costs on text,
and the two limits of sequential models that motivate attention.

    python -m benchmarks.course                                  # all three sections
    python -m benchmarks.course --only throughput                # one of them
    python -m benchmarks.course --only markov --lstm-run logs/<task>/runs/<timestamp>
    python -m benchmarks.course --only recall --recall-runs logs/recall/multiruns/<timestamp>

Sections (each writes its table into ``benchmarks/results/course.md``, every number also
into ``course.json``):

- ``throughput``: tokens/s of one recurrent layer (``seqlab.nn.recurrent.LSTM``, fused
  ``torch.nn.LSTM``) vs one attention block (``seqlab.nn.transformer.GPTBackbone`` with
  ``num_layers=1``), forward + backward, at equal width and equal tokens per call, for
  T = 64, 256, 1024. Both sides run interleaved in one process (``benchmarks.common``);
  the ratio is the median of the per-repetition ratios.
- ``markov``: bits/char on the validation split of ``data=shakespeare`` (char) of Markov
  chains of growing order (interpolated modified Kneser–Ney n-grams, ``seqlab.baselines.ngram``;
  order n = a Markov chain that sees n − 1 characters), the datamodule's add-one bigram
  baseline, and, with ``--lstm-run``, the LSTM of that run (its last ``val/bpc``).
- ``recall``: the key-recall accuracy of every job of a ``python train.py -m
  experiment=recall`` multirun (``--recall-runs``): test accuracy per model and distance.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, interleaved, median, percentile

RESULTS = ROOT / "benchmarks" / "results"
SECTIONS = ("throughput", "markov", "recall")


# ----------------------------------------------------------------------------- throughput


def throughput(
    *,
    width: int = 128,
    heads: int = 4,
    tokens_per_call: int = 8192,
    contexts: tuple[int, ...] = (64, 256, 1024),
    reps: int = 5,
    warmup: int = 2,
    threads: int | None = None,
) -> dict[str, Any]:
    """LSTM layer vs attention block, forward + backward, tokens/s at each context."""
    import torch

    if threads:
        torch.set_num_threads(threads)

    from seqlab.nn.recurrent import LSTM
    from seqlab.nn.transformer import GPTBackbone

    rows = []
    for t, batch in [(t, max(tokens_per_call // t, 1)) for t in contexts] + [
        (t, 1) for t in contexts
    ]:
        torch.manual_seed(0)
        lstm = LSTM(input_size=width, hidden_size=width, num_layers=1, impl="fused")
        gpt = GPTBackbone(hidden_size=width, num_layers=1, num_heads=heads, max_len=t)
        x = torch.randn(batch, t, width, requires_grad=True)

        def step(module, x=x):
            module.zero_grad(set_to_none=True)
            x.grad = None
            out, _ = module(x)  # (B, T, width)
            out.square().mean().backward()

        a, b = interleaved(
            lambda lstm=lstm: step(lstm),
            lambda gpt=gpt: step(gpt),
            reps=reps,
            warmup=warmup,
            inner=max(1, 2048 // (batch * t)),  # calls of at least ~2k tokens per sample
        )
        ratios = [ai / bi for ai, bi in zip(a, b, strict=True)]  # time LSTM / time attention
        tokens = batch * t
        # forward multiply-adds per token: LSTM 4 gates x (input + hidden) x hidden; the block
        # 4 d^2 (q, k, v, out) + 8 d^2 (MLP) + 2 T d (scores and weighted sum, dense count)
        lstm_macs = 4 * width * (width + width)
        attention_macs = 12 * width * width + 2 * t * width
        rows.append(
            {
                "T": t,
                "batch": batch,
                "lstm_tokens_per_s": tokens / median(a),
                "attention_tokens_per_s": tokens / median(b),
                "attention_over_lstm": median(ratios),
                "lstm_macs_per_token": lstm_macs,
                "attention_macs_per_token": attention_macs,
                "lstm_gmacs": tokens / median(a) * lstm_macs / 1e9,
                "attention_gmacs": tokens / median(b) * attention_macs / 1e9,
                "spread": [percentile(ratios, 25), percentile(ratios, 75)],
                "lstm_params": sum(p.numel() for p in lstm.parameters()),
                "attention_params": sum(p.numel() for p in gpt.parameters()),
                "lstm_s": a,
                "attention_s": b,
            }
        )
    return {
        "width": width,
        "heads": heads,
        "tokens_per_call": tokens_per_call,
        "threads": torch.get_num_threads(),
        "rows": rows,
    }


def throughput_table(res: dict[str, Any]) -> str:
    r0 = res["rows"][0]
    lines = [
        f"{res['threads']} torch thread(s). One layer each, width {res['width']}, forward + "
        "backward: `seqlab.nn.recurrent.LSTM` (fused torch.nn.LSTM, "
        f"{r0['lstm_params']:,} parameters) vs `GPTBackbone(num_layers=1, num_heads="
        f"{res['heads']})` (causal self-attention + MLP block, {r0['attention_params']:,} "
        "parameters). Upper rows: the same tokens per call at every T (batch × T = "
        f"{res['tokens_per_call']}); lower rows: one sequence per call (batch 1), where only "
        "parallelism over time can help.",
        "",
        "Forward multiply–adds per token: LSTM 8·d² (4 gates over [x, h]); attention block "
        "12·d² + 2·T·d (q, k, v, output projections, a 4× MLP, and the scores and weighted sum "
        "over T keys, counted dense). GMAC/s = tokens/s × that: how much of the hardware each "
        "layer keeps busy.",
        "",
        "| T | batch | LSTM tokens/s | attention tokens/s | attention / LSTM (speed) | spread "
        "| LSTM GMAC/s | attention GMAC/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        lo, hi = r["spread"]
        lines.append(
            f"| {r['T']} | {r['batch']} | {r['lstm_tokens_per_s']:,.0f} | "
            f"{r['attention_tokens_per_s']:,.0f} | {r['attention_over_lstm']:.2f}× | "
            f"{lo:.2f} … {hi:.2f} | {r['lstm_gmacs']:.1f} | {r['attention_gmacs']:.1f} |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- markov


def markov(*, orders: tuple[int, ...] = (1, 2, 3, 4, 5, 6), lstm_run: Path | None = None):
    """bits/char on shakespeare's val split: n-gram orders, the add-one bigram, the LSTM."""
    from seqlab.baselines.language import ngram_baselines
    from seqlab.baselines.ngram import NGramLM
    from seqlab.data.text.datamodule import ShakespeareDataModule

    dm = ShakespeareDataModule(tokenizer="char", ngram_order=0, cache_dir=str(ROOT / ".cache"))
    dm.setup()
    v = dm.spec.vocab_size
    train, val = dm.train_tokens, dm.val_tokens
    bits = 1 / math.log(2)
    rows = []
    _, bigram = ngram_baselines(train, val, v)
    rows.append(
        {
            "model": "bigram, add-one (the datamodule's `baseline_bigram`)",
            "context": 1,
            "bpc": bigram * bits,
        }
    )
    for n in orders:
        start = time.perf_counter()
        lm = NGramLM(n, discount=None).fit(train.numpy(), v)
        nll = lm.nll(val.numpy())
        rows.append(
            {
                "model": f"{n}-gram, interpolated modified Kneser–Ney",
                "context": n - 1,
                "bpc": nll * bits,
                "fit_and_score_s": time.perf_counter() - start,
            }
        )
    out: dict[str, Any] = {
        "vocab_size": v,
        "tokens": {k: int(s.numel()) for k, s in (("train", train), ("val", val))},
        "rows": rows,
    }
    if lstm_run is not None:
        out["lstm"] = lstm_from_run(Path(lstm_run))
    return out


def lstm_from_run(run: Path) -> dict[str, Any]:
    """The last logged val/bpc (and baselines) of a language-model run folder."""
    import csv

    rows = list(csv.DictReader((run / "csv" / "metrics.csv").open()))
    val = [r for r in rows if r.get("val/bpc")]
    if not val:
        raise SystemExit(f"{run}: no val/bpc in csv/metrics.csv")
    last = val[-1]
    summary = (
        json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
    )
    return {
        "run": str(run.relative_to(ROOT) if run.is_relative_to(ROOT) else run),
        "step": int(last["step"]) + 1,  # steps trained (the logged step is 0-based)
        "val_bpc": float(last["val/bpc"]),
        "val_bpc_best": min(float(r["val/bpc"]) for r in val),
        "baseline_bigram_bpc": float(last["val/baseline_bigram_bpc"]),
        "baseline_ngram_bpc": float(last["val/baseline_ngram_bpc"]),
        "command": (summary.get("provenance") or {}).get("command"),
    }


def markov_table(res: dict[str, Any]) -> str:
    lines = [
        f"Validation split of `data=shakespeare` (char, {res['vocab_size']} symbols, "
        f"{res['tokens']['val']:,} characters; fitted on {res['tokens']['train']:,}). "
        "An n-gram is a Markov chain of order n − 1: it sees the last n − 1 characters.",
        "",
        "| model | context (characters) | val bits/char |",
        "|---|---|---|",
    ]
    for r in res["rows"]:
        lines.append(f"| {r['model']} | {r['context']} | {r['bpc']:.3f} |")
    if "lstm" in res:
        lstm = res["lstm"]
        lines.append(
            f"| LSTM 2 × 256 (`experiment=lstm_shakespeare`, {lstm['step']} steps) | "
            f"unbounded (state carried) | {lstm['val_bpc']:.3f} |"
        )
        lines.append("")
        lines.append(
            f"The LSTM run logged the datamodule's baselines on the same split: bigram "
            f"{lstm['baseline_bigram_bpc']:.3f}, 5-gram {lstm['baseline_ngram_bpc']:.3f} "
            f"bits/char (run `{lstm['run']}`)."
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- recall


def recall(runs: Path) -> dict[str, Any]:
    """val/test accuracy of each job of a recall multirun."""
    import csv

    import yaml

    rows = []
    for summary_path in sorted(Path(runs).glob("*/summary.json")):
        summary = json.loads(summary_path.read_text())
        overrides = (summary_path.parent / ".hydra" / "overrides.yaml").read_text()
        cfg = (summary_path.parent / ".hydra" / "config.yaml").read_text()
        config = yaml.safe_load(cfg)
        test = summary.get("test") or {}
        metrics = summary_path.parent / "csv" / "metrics.csv"
        val = [r for r in csv.DictReader(metrics.open()) if r.get("val/acc")]
        rows.append(
            {
                "job": summary_path.parent.name,
                "overrides": overrides,
                "model": config["model"]["backbone"]["_target_"].rsplit(".", 1)[-1],
                "distance": config["data"]["distance"],
                "test_acc": test.get("test/acc"),
                "chance": test.get("test/baseline_majority_acc"),
                "status": summary.get("status"),
                "steps": summary.get("global_step"),
                "first_val_step": int(val[0]["step"]) + 1 if val else None,
                "first_val_acc": float(val[0]["val/acc"]) if val else None,
            }
        )
    return {"runs": str(runs), "rows": rows}


def recall_table(res: dict[str, Any]) -> str:
    distances = sorted({r["distance"] for r in res["rows"]})
    models = sorted({r["model"] for r in res["rows"]})
    by = {(r["model"], r["distance"]): r for r in res["rows"]}
    chance = next((r["chance"] for r in res["rows"] if r["chance"] is not None), None)
    lines = [
        "Test accuracy at the end of each job (training steps in the budget), and validation "
        "accuracy after the first epoch (the same number of steps for every job).",
        "",
        "| model | " + " | ".join(f"distance {d}" for d in distances) + " |",
        "|---|" + "---|" * len(distances),
    ]

    def cell(r: dict[str, Any] | None, first: bool) -> str:
        if r is None:
            return "–"
        if first:
            return f"{100 * r['first_val_acc']:.1f}% (val, step {r['first_val_step']})"
        return f"{100 * r['test_acc']:.1f}% ({r['steps']} steps)"

    for first in (False, True):
        for m in models:
            label = f"{m}, after epoch 1" if first else m
            cells = " | ".join(cell(by.get((m, d)), first) for d in distances)
            lines.append(f"| {label} | {cells} |")
    if chance is not None:
        lines.append(
            "| chance (majority key) | "
            + " | ".join(f"{100 * chance:.1f}%" for _ in distances)
            + " |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def machine() -> str:
    import torch

    return (
        f"{platform.node()}, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--lstm-run", type=Path, default=None)
    parser.add_argument("--recall-runs", type=Path, default=None)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (throughput)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"--only: unknown {unknown}; choose from {list(SECTIONS)}")

    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / "course.json"
    results = json.loads(json_path.read_text()) if json_path.exists() else {}
    for name in wanted:
        start = time.perf_counter()
        if name == "throughput":
            res = throughput(reps=args.reps, threads=args.threads)
            name = f"throughput_{res['threads']}t"
        elif name == "markov":
            res = markov(lstm_run=args.lstm_run)
        else:
            if args.recall_runs is None:
                raise SystemExit("recall: pass --recall-runs <multirun dir of experiment=recall>")
            res = recall(args.recall_runs)
        res["machine"] = machine() if name != "recall" else machine().rsplit(",", 1)[0]
        res["seconds"] = time.perf_counter() - start
        res["date"] = time.strftime("%Y-%m-%d %H:%M")
        results[name] = res
        print(f"{name}: {res['seconds']:.0f} s")
    results.pop("throughput", None)  # older layout: one table without its thread count
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")

    titles = {
        "markov": ("The Markov assumption's cost on text", markov_table),
        "throughput": ("Recurrent vs attention layer: tokens/s over T", throughput_table),
        "recall": ("Recall at a distance: LSTM vs attention", recall_table),
    }
    parts = ["# Course measurements (`python -m benchmarks.course`)", ""]
    throughputs = sorted(k for k in results if k.startswith("throughput_"))
    for name in ("markov", *throughputs, "recall"):
        if name in results:
            title, table = titles[name.split("_")[0]]
            res = results[name]
            parts += [
                f"## {title}",
                "",
                f"_{res['date']}, {res['machine']}, {res['seconds']:.0f} s; machine shared "
                "with other work: compare within a table, not across tables._",
                "",
                table(res),
                "",
            ]
    (args.out / "course.md").write_text("\n".join(parts))
    print((args.out / "course.md").read_text())


if __name__ == "__main__":
    main()
