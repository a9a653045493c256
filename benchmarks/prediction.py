"""10. Batch prediction: seqlab's predict path vs calling the model in a plain torch loop.

Series: the 370 real JapaneseVowels test series (12 channels, 7-29 steps, from the aeon
wheel) repeated to 10,000, classified by an LSTM (2 layers x 64, random weights: speed does
not depend on them). A = `seqlab.prediction.series`: standardise with the stored statistics,
batches of similar length (512), forward, softmax, the long table (series, predicted, class,
probability). B = the loop a user writes: the same standardisation, batches of 512 in input
order padded with `pad_sequence`, forward with lengths, softmax. Images: sklearn's 1,797
digits repeated to 10,000 through a ViT (the vit_digits size); A = `seqlab.prediction.images`
(normalise, batches, softmax, long table), B = a loop over batches of 512. Both sides run in
one process, interleaved; the outputs are checked equal (extra.max_abs_diff).
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import Section, Settings, entry, interleaved

BATCH = 512


def _series_task(values: list[np.ndarray], classes: int):
    import torch

    from seqlab.data.spec import DataSpec
    from seqlab.tasks.registry import build_task

    stacked = np.concatenate(values)
    spec = DataSpec(
        task="classification",
        num_features=stacked.shape[1],
        num_targets=classes,
        seq_len=max(len(v) for v in values),
        class_names=tuple(str(c) for c in range(classes)),
        extra={
            "variable_length": True,
            "channel_mean": stacked.mean(0).tolist(),
            "channel_std": stacked.std(0).tolist(),
        },
    )
    torch.manual_seed(0)
    model = {
        "backbone": {
            "_target_": "seqlab.nn.recurrent.LSTM",
            "input_size": 64,
            "hidden_size": 64,
            "num_layers": 2,
            "dropout": 0.0,
        },
        "optimizer": {"_target_": "torch.optim.SGD", "_partial_": True},
    }
    return build_task(model, spec).eval(), spec


def _image_task(classes: int):
    import torch

    from seqlab.data.images.datamodule import DigitsDataModule
    from seqlab.tasks.registry import build_task

    dm = DigitsDataModule(augment=False)
    dm.setup()
    torch.manual_seed(0)
    model = {
        "backbone": {
            "_target_": "seqlab.nn.vit.ViT",
            "patch_size": 4,
            "hidden_size": 64,
            "num_layers": 4,
            "num_heads": 4,
            "mlp_ratio": 2.0,
            "dropout": 0.0,
        },
        "optimizer": {"_target_": "torch.optim.SGD", "_partial_": True},
    }
    images = np.concatenate([s.images.numpy() for s in dm.splits.values()]).astype(np.float64)
    return build_task(model, dm.spec).eval(), dm.spec, images


def series_section(settings: Settings, section: Section) -> None:
    import torch
    from torch.nn.utils.rnn import pad_sequence

    from seqlab.data.package_files import package_file
    from seqlab.prediction import series
    from seqlab.prediction.batches import long_table

    path = package_file(
        "aeon",
        "datasets/data/JapaneseVowels/JapaneseVowels_TEST.ts",
        field="benchmark",
        hint="pip install --no-deps aeon==1.6.0",
    )
    real = series.read_ts(path, 12).values
    count = settings.pick(10_000, 500)
    values = [real[i % len(real)] for i in range(count)]
    task, spec = _series_task(values, classes=9)
    mean, std = series.stats(spec)
    ids = [str(i) for i in range(count)]
    out: dict[str, np.ndarray] = {}

    def seqlab_path():
        scaled = [((v - mean) / std).astype(np.float32) for v in values]
        probs = series.probabilities(task, scaled, BATCH)
        long_table("series", ids, probs, spec.class_names)
        out["a"] = probs

    @torch.inference_mode()
    def plain_loop():
        chunks = []
        for start in range(0, count, BATCH):
            part = [
                torch.from_numpy(((v - mean) / std).astype(np.float32))
                for v in values[start : start + BATCH]
            ]
            lengths = torch.tensor([len(v) for v in part])
            x = pad_sequence(part, batch_first=True)  # (B, T_max, C)
            chunks.append(torch.softmax(task(x, lengths).float(), dim=-1))
        out["b"] = torch.cat(chunks).double().numpy()

    a, b = interleaved(seqlab_path, plain_loop, reps=settings.reps, warmup=settings.warmup)
    diff = float(np.abs(out["a"] - out["b"]).max())
    ratio = float(np.median([tb / ta for ta, tb in zip(a, b, strict=True)]))
    section.entries.append(
        entry(
            f"{count:,} JapaneseVowels series, LSTM 2x64",
            [count / t for t in a],
            [count / t for t in b],
            unit="series/s",
            extra={"max_abs_diff": diff, "meets_target": ratio >= 0.9},
        )
    )


def image_section(settings: Settings, section: Section) -> None:
    import torch

    from seqlab.prediction import images
    from seqlab.prediction.batches import long_table

    task, spec, digits = _image_task(classes=10)
    count = settings.pick(10_000, 500)
    pixels = digits[np.arange(count) % len(digits)]  # (N, 1, 8, 8) raw, 0..16
    ids = [str(i) for i in range(count)]
    mean = torch.tensor(spec.extra["mean"])[:, None, None]
    std = torch.tensor(spec.extra["std"])[:, None, None]
    out: dict[str, np.ndarray] = {}

    def seqlab_path():
        probs = images.probabilities(task, images.normalised(pixels, spec), BATCH)
        long_table("image", ids, probs, spec.class_names)
        out["a"] = probs

    @torch.inference_mode()
    def plain_loop():
        x = (torch.from_numpy(pixels).float() - mean) / std
        chunks = [torch.softmax(task(c).float(), dim=-1) for c in x.split(BATCH)]
        out["b"] = torch.cat(chunks).double().numpy()

    a, b = interleaved(seqlab_path, plain_loop, reps=settings.reps, warmup=settings.warmup)
    diff = float(np.abs(out["a"] - out["b"]).max())
    ratio = float(np.median([tb / ta for ta, tb in zip(a, b, strict=True)]))
    section.entries.append(
        entry(
            f"{count:,} digits 8x8, ViT 4x64",
            [count / t for t in a],
            [count / t for t in b],
            unit="images/s",
            extra={"max_abs_diff": diff, "meets_target": ratio >= 0.9},
        )
    )


def run(settings: Settings) -> Section:
    section = Section(
        name="prediction",
        title="10. Batch prediction: seqlab's predict path vs a plain torch loop",
        a_label="seqlab.prediction (items/s)",
        b_label="plain torch loop (items/s)",
        ratio_label="seqlab / plain throughput",
        target="≥ 0.90x (at most 10% slower)",
    )
    series_section(settings, section)
    image_section(settings, section)
    section.notes.append(
        "A includes what predict.py does beyond the model call (standardising, batching by "
        "length, the long table of probabilities); file reading is left out on both sides. "
        f"Batches of {BATCH}; extra.max_abs_diff: the two sides' probabilities agree."
    )
    return section
