"""CLIP recipe sweep (benchmarks/results/dalle_clip.md): the model and data of
experiment=clip_mnist in a raw training loop (no Lightning), one thread, fit only; one JSON line
per variant with the test digits' zero-shot accuracy ("a handwritten <digit>").

    OMP_NUM_THREADS=1 python -m benchmarks.clip_sweep '{"name": "base"}' \\
        '{"name": "shift1", "augment": true, "shift": 1, "epochs": 12}'

Keys: batch, lr, epochs, wd, augment, shift, and any `seqlab.nn.text_to_image.clip.CLIP` argument.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from seqlab.data.images.captions import DIGIT_WORDS
from seqlab.data.images.mnist_captions import MNISTCaptionsDataModule
from seqlab.nn.text_to_image.clip import CLIP
from seqlab.optim import WarmupCosine


def zero_shot(model: CLIP, dm: MNISTCaptionsDataModule, split: str, limit: int | None = None):
    spec = dm.spec
    mean = torch.tensor(spec.extra["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(spec.extra["std"]).view(1, -1, 1, 1)
    data = dm.splits[split]
    images, labels = data.images[:limit], data.labels[:limit]
    prompts = [f"a handwritten {w}" for w in DIGIT_WORDS]
    ids = torch.tensor([dm.tokenizer.encode(p, spec.seq_len) for p in prompts])
    with torch.no_grad():
        image = model.encode_image((images.float() - mean) / std)
        return float(((image @ model.encode_text(ids).t()).argmax(-1) == labels).float().mean())


def run(dm, name, batch=64, lr=2e-3, epochs=8, wd=0.05, augment=False, shift=2, **kwargs):
    torch.manual_seed(0)
    dm.batch_size, dm.augment, dm.shift = batch, augment, shift
    spec = dm.spec
    model = CLIP(
        text_vocab_size=spec.vocab_size,
        text_len=spec.seq_len,
        image_size=28,
        channels=1,
        pad_id=0,
        **kwargs,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    schedule = WarmupCosine(optimizer, warmup_epochs=1, max_epochs=epochs)
    wall, cpu, steps = time.perf_counter(), time.process_time(), 0
    for _ in range(epochs):
        model.train()
        for images, text, _ in dm.train_dataloader():
            _, loss = model(images, text)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            steps += 1
        schedule.step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    model.eval()
    return {
        "name": name,
        "batch": batch,
        "lr": lr,
        "epochs": epochs,
        "augment": augment,
        "shift": shift,
        **kwargs,
        "steps": steps,
        "fit_wall_s": round(wall, 1),
        "fit_cpu_s": round(cpu, 1),
        "zero_shot_test": zero_shot(model, dm, "test"),
        "zero_shot_train_1000": zero_shot(model, dm, "train", 1000),
        "logit_scale": float(model.scale().detach()),
    }


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    dm = MNISTCaptionsDataModule(batch_size=64, val_frac=0.1, test_frac=0.2, seed=0)
    dm.setup("fit")
    for variant in argv:
        print(json.dumps(run(dm, **json.loads(variant))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
