"""A nanoGPT-style single-file trainer: the peer that `benchmarks/nanogpt_style.py` races.

Written here (not copied), in the manner of karpathy/nanoGPT's ``train.py``: the training
tokens are a memory-mapped uint16 array (``train.bin``/``val.bin`` plus ``meta.json`` with
``vocab_size``, written once beforehand, as nanoGPT's ``prepare.py`` does), each batch is
``batch`` random windows of ``block`` tokens, the model is seqlab's GPT trunk
(`seqlab.nn.transformer.GPTBackbone`) between a token embedding and a tied head, trained
with AdamW, a cosine learning rate with linear warm-up, and gradient clipping by norm. At
the steps given by ``--eval-at`` it evaluates the whole validation stream (contiguous
windows, as seqlab's validation does) and saves a checkpoint when the loss improved.

It imports only numpy, torch and ``seqlab.nn``. Timing goes to ``--out`` as JSON: the
wall-clock time of every training step's start (after its batch is drawn), the time of
the first step and of the end counted from ``SEQLAB_BENCH_T0`` (set by the parent just
before it started this process; else from this script's first line), the losses::

    python -m benchmarks.nanogpt_raw --data DIR --steps 300 --out timings.json
"""

from __future__ import annotations

import os
import time

T0 = float(os.environ.get("SEQLAB_BENCH_T0") or time.time())

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
from pathlib import Path  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.nanogpt_raw", description=__doc__)
    p.add_argument("--data", type=Path, required=True, help="folder with train.bin, val.bin")
    p.add_argument("--out", type=Path, required=True, help="timings JSON")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--eval-at", default="", help="comma-separated steps to evaluate after")
    p.add_argument("--eval-batches", type=int, default=0, help="per evaluation (0: all)")
    p.add_argument("--ckpt-dir", type=Path, default=None, help="checkpoints (default: none)")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--block", type=int, default=64)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=1337)
    return p.parse_args(argv)


def train(args: argparse.Namespace, t0: float = T0) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    from seqlab.nn.transformer import GPTBackbone

    torch.manual_seed(args.seed)
    vocab = int(json.loads((args.data / "meta.json").read_text())["vocab_size"])

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.trunk = GPTBackbone(
                hidden_size=args.width,
                num_layers=args.layers,
                num_heads=args.heads,
                dropout=args.dropout,
                max_len=args.block,
            )
            self.wte = nn.Embedding(vocab, args.width)
            nn.init.normal_(self.wte.weight, mean=0.0, std=0.02)
            self.head = nn.Linear(args.width, vocab, bias=False)
            self.head.weight = self.wte.weight  # tied

        def forward(self, idx: torch.Tensor) -> torch.Tensor:
            hidden, _ = self.trunk(self.wte(idx))
            return self.head(hidden)  # (B, T, V)

    model = GPT()
    # AdamW with weight decay on the matrices only (nanoGPT's grouping)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": args.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=args.lr,
        betas=(0.9, 0.99),
    )

    def lr_at(it: int) -> float:  # linear warm-up, then cosine down to min_lr
        if it < args.warmup:
            return args.lr * (it + 1) / (args.warmup + 1)
        progress = (it - args.warmup) / max(1, args.steps - args.warmup)
        return args.min_lr + 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))) * (
            args.lr - args.min_lr
        )

    def tokens(split: str) -> np.memmap:  # a fresh memmap per use, as nanoGPT (no leak)
        return np.memmap(args.data / f"{split}.bin", dtype=np.uint16, mode="r")

    def get_batch() -> tuple[torch.Tensor, torch.Tensor]:
        data = tokens("train")
        ix = torch.randint(len(data) - args.block, (args.batch,))
        x = torch.stack([torch.from_numpy(data[i : i + args.block].astype(np.int64)) for i in ix])
        y = torch.stack(
            [torch.from_numpy(data[i + 1 : i + 1 + args.block].astype(np.int64)) for i in ix]
        )
        return x, y

    @torch.no_grad()
    def evaluate() -> float:
        data = torch.from_numpy(tokens("val").astype(np.int64))
        windows = (len(data) - 1) // args.block
        x_all = data[: windows * args.block].view(windows, args.block)
        y_all = data[1 : windows * args.block + 1].view(windows, args.block)
        model.eval()
        total, count = 0.0, 0
        stop = windows if not args.eval_batches else min(windows, args.eval_batches * args.batch)
        for i in range(0, stop, args.batch):
            x, y = x_all[i : i + args.batch], y_all[i : i + args.batch]
            logits = model(x)
            total += F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1)).item() * len(x)
            count += len(x)
        model.train()
        return total / max(count, 1)

    eval_at = {int(s) for s in str(args.eval_at).split(",") if s.strip()}
    best = float("inf")
    stamps: list[float] = []
    losses: list[tuple[int, float]] = []
    evals: list[tuple[int, float]] = []
    model.train()
    for it in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(it)
        x, y = get_batch()
        stamps.append(time.time())
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        step = it + 1
        if step % args.log_every == 0:
            losses.append((step, loss.item()))
            print(f"step {step}: loss {losses[-1][1]:.4f}", flush=True)
        if step in eval_at:
            val = evaluate()
            evals.append((step, val))
            print(f"step {step}: val loss {val:.4f}", flush=True)
            if val < best and args.ckpt_dir is not None:
                best = val
                args.ckpt_dir.mkdir(parents=True, exist_ok=True)
                state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
                torch.save({**state, "step": step, "val": val}, args.ckpt_dir / "ckpt.pt")
    end = time.time()
    return {
        "first_step_s": stamps[0] - t0 if stamps else float("nan"),
        "total_s": end - t0,
        "stamps": stamps,
        "train_losses": losses,
        "val_losses": evals,
        "params": sum(p.numel() for p in model.parameters()),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = train(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
