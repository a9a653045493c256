"""`python generate.py`: stream samples from any language-model checkpoint."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from omegaconf import DictConfig

from seqlab.errors import SeqlabError

log = logging.getLogger(__name__)


class StreamPrinter:
    """Prints the decoded text as tokens arrive (decoding the whole prefix keeps multi-byte
    characters of byte-level BPE intact)."""

    def __init__(self, tokenizer, out=None) -> None:
        self.tokenizer, self._out = tokenizer, out
        self.ids: list[int] = []
        self.printed = 0

    @property
    def out(self):
        """The stream given, or sys.stdout as it is now (redirections made later apply)."""
        return self._out if self._out is not None else sys.stdout

    def __call__(self, next_id) -> None:
        self.ids.append(int(next_id[0, 0]))
        text = self.tokenizer.decode(self.ids)
        if text.endswith("\ufffd"):
            return  # an incomplete UTF-8 sequence: wait for the next byte
        self.out.write(text[self.printed :])
        self.out.flush()
        self.printed = len(text)


def draw_images(task, cfg: DictConfig) -> Path:
    """Text-to-image checkpoints: ``num_images`` drawings of ``prompt`` as one PNG grid."""
    import torch

    from seqlab.figures.images import image_grid
    from seqlab.figures.worker import save_png

    task.to(cfg.device)
    scorer = load_scorer(cfg.get("rerank_ckpt"), cfg.device)
    candidates = int(cfg.get("candidates") or (8 if scorer is not None else 1))
    generator = torch.Generator(device=cfg.device).manual_seed(int(cfg.seed))
    count = int(cfg.get("num_images") or 16)
    images = task.generate_images(
        [str(cfg.prompt)] * count,
        temperature=float(cfg.temperature),
        top_k=cfg.top_k,
        generator=generator,
        candidates=candidates,
        scorer=scorer,
        guidance=cfg.get("guidance"),
    )
    if scorer is not None:
        log.info("re-ranked: the best of %d candidates per image, by CLIP score", candidates)
    per_row = min(count, 8)
    rows = [str(cfg.prompt)] + [""] * ((count - 1) // per_row)
    padded = torch.cat([images, images.new_zeros(len(rows) * per_row - count, *images.shape[1:])])
    fig = image_grid(task.to_pixels(padded), rows, per_row)
    output = save_png(fig, Path(cfg.paths.output_dir) / "images.png")
    if cfg.get("wandb", True):
        _log_to_wandb(output, cfg)
    log.info("images saved: %s", output)
    print(output)
    return output


def load_scorer(ckpt_path, device: str = "cpu"):
    """``rerank_ckpt``: a CLIP checkpoint (experiment=clip_mnist) that scores drawings; None
    when unset."""
    if not ckpt_path:
        return None
    from seqlab.tasks.registry import load_task

    scorer, _ = load_task(str(ckpt_path), map_location=device)
    if not hasattr(scorer, "score"):
        raise SeqlabError(
            f"rerank_ckpt: '{ckpt_path}' is a {type(scorer).__name__} checkpoint, not a CLIP. "
            "Fix: train one with `python train.py experiment=clip_mnist` and pass its "
            "checkpoints/last.ckpt."
        )
    return scorer.to(device).eval()


def _log_to_wandb(path: Path, cfg: DictConfig) -> None:
    import wandb

    from seqlab.tracking import resolve_wandb_mode

    mode, _ = resolve_wandb_mode()
    if mode == "disabled":
        return
    run = wandb.init(
        project="seqlab",
        job_type="generate",
        dir=str(path.parent),
        mode=mode,
        config={"prompt": str(cfg.prompt)},
    )
    run.log({"generated": wandb.Image(str(path), caption=str(cfg.prompt))})
    run.finish()


def unknown_characters(tokenizer, prompt: str) -> list[str]:
    """Characters of ``prompt`` a character tokenizer maps to ``<unk>`` (BPE reads any byte)."""
    vocabulary = getattr(tokenizer, "stoi", None)
    if vocabulary is None:
        return []
    return sorted({c for c in prompt if c not in vocabulary})


def check_sampling(cfg: DictConfig) -> None:
    """The sampling settings, refused with the fix before a checkpoint is loaded."""
    if float(cfg.temperature) < 0:
        raise SeqlabError(
            f"temperature={float(cfg.temperature)}: must be >= 0. Fix: e.g. temperature=0.8 "
            "(0 picks the most likely token)."
        )
    top_k = cfg.get("top_k")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 0):
        raise SeqlabError(
            f"top_k={top_k}: null, 0 (all tokens) or a positive integer. Fix: e.g. top_k=50."
        )
    for key in ("max_new_tokens", "num_samples", "num_images", "candidates"):
        value = cfg.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise SeqlabError(f"{key}={value}: a positive integer. Fix: e.g. {key}=1 or more.")


def run(cfg: DictConfig) -> list[str]:
    import torch

    from seqlab.security import trust
    from seqlab.tasks.registry import load_task
    from seqlab.utils.files import atomic_write_text
    from seqlab.utils.runtime import set_threads, use_project_compile_cache

    trust(cfg.get("trusted_targets"))
    check_sampling(cfg)
    set_threads(cfg.get("threads"))
    use_project_compile_cache()
    task, _ = load_task(cfg.ckpt_path, map_location=cfg.device)
    if hasattr(task, "generate_images"):
        return [str(draw_images(task, cfg))]
    if hasattr(task, "score"):
        raise SeqlabError(
            f"ckpt_path: '{cfg.ckpt_path}' is a CLIP: it draws nothing, it scores drawings. Fix: "
            f"ckpt_path=<a DALL·E run>/checkpoints/last.ckpt rerank_ckpt={cfg.ckpt_path}"
        )
    if not hasattr(task, "generate"):
        raise SeqlabError(
            f"ckpt_path: '{cfg.ckpt_path}' is a {task.spec.task} checkpoint; generate.py samples "
            "from language models (e.g. data=shakespeare)."
        )
    task.to(cfg.device)
    tokenizer = task.tokenizer
    prompt_ids = tokenizer.encode(str(cfg.prompt))
    if not prompt_ids:
        raise SeqlabError('prompt: empty after tokenisation. Fix: e.g. prompt="ROMEO:"')
    unknown = unknown_characters(tokenizer, str(cfg.prompt))
    if unknown:
        log.warning(
            "prompt: %s not in the model's vocabulary; each becomes <unk>",
            ", ".join(repr(c) for c in unknown),
        )
    generator = torch.Generator(device=cfg.device).manual_seed(int(cfg.seed))
    samples = []
    for index in range(int(cfg.num_samples)):
        idx = torch.tensor([prompt_ids], device=cfg.device)
        printer = StreamPrinter(tokenizer) if cfg.stream else None
        if printer:
            sys.stdout.write(
                (f"\n--- sample {index} ---\n" if cfg.num_samples > 1 else "") + str(cfg.prompt)
            )
        out = task.generate(
            idx,
            int(cfg.max_new_tokens),
            temperature=float(cfg.temperature),
            top_k=cfg.top_k,
            generator=generator,
            on_token=printer,
        )
        text = str(cfg.prompt) + tokenizer.decode(out[0, len(prompt_ids) :].tolist())
        samples.append(text)
        if printer:
            sys.stdout.write("\n")
        else:
            print(text)
    output = atomic_write_text(
        Path(cfg.paths.output_dir) / "samples.txt", "\n\n".join(samples) + "\n"
    )
    log.info("samples saved: %s", output)
    return samples
