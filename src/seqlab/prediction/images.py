"""Labels and class probabilities for new images: a folder of image files or a ``.npy`` array.

The checkpoint's ``DataSpec`` carries what the model saw: ``image_shape`` (C, H, W), the raw
pixel range (``extra.pixel_max``: 255 for 8-bit images, 16 for sklearn's digits), the
per-channel mean/std of the training split and the class names.

- image files (PNG, JPEG, BMP, GIF, TIFF, WebP; read with Pillow): converted to the model's
  channels (grey ``L`` or ``RGB``), resized to (H, W) when ``images.resize=true`` (else another
  size is refused), 8-bit values scaled to the training's pixel range; ``images.invert=true``
  turns dark-on-light drawings into the light-on-dark digits of MNIST and sklearn;
- ``.npy``: (N, H, W) for one channel or (N, C, H, W), raw values in the training's range
  (0..pixel_max); another shape, channel count or range is refused, never guessed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.prediction.batches import class_probabilities, long_table

log = logging.getLogger(__name__)

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MODES = {1: "L", 3: "RGB"}


def read_folder(folder: Path, shape: tuple[int, int, int], pixel_max: float, resize: bool):
    """Image files of ``folder`` (sorted by name) -> (names, (N, C, H, W) float64 raw pixels)."""
    from PIL import Image, UnidentifiedImageError

    channels, height, width = shape
    if channels not in MODES:
        raise SeqlabError(
            f"data.path: the model reads {channels}-channel images and image files give 1 "
            "(grey) or 3 (RGB). Fix: a .npy array of shape (N, "
            f"{channels}, {height}, {width})."
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)
    if not files:
        raise SeqlabError(
            f"data.path: '{folder}' holds no image files ({', '.join(SUFFIXES)}). Fix: a "
            "folder of images, or a .npy array."
        )
    arrays, converted, resized = [], 0, 0
    for file in files:
        try:
            with Image.open(file) as image:
                image.load()
                if image.mode != MODES[channels]:
                    converted += 1
                    image = image.convert(MODES[channels])
                if image.size != (width, height):
                    if not resize:
                        raise SeqlabError(
                            f"data.path: '{file}' is {image.size[0]}x{image.size[1]} pixels; "
                            f"the model reads {width}x{height}. Fix: images.resize=true, or "
                            "images of that size."
                        )
                    smaller = image.size[0] >= width and image.size[1] >= height
                    method = Image.Resampling.BOX if smaller else Image.Resampling.BILINEAR
                    image = image.resize((width, height), method)
                    resized += 1
                pixels = np.asarray(image, dtype=np.float64)  # (H, W) or (H, W, C), 0..255
        except (UnidentifiedImageError, OSError) as err:
            raise SeqlabError(
                f"data.path: '{file}' is not a readable image ({err}). Fix: remove it or "
                "replace it with a valid image file."
            ) from err
        pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)  # (C, H, W)
        arrays.append(pixels * (pixel_max / 255.0))
    if converted or resized:
        log.info(
            "%d image(s) converted to %s, %d resized to %dx%d",
            converted,
            MODES[channels],
            resized,
            width,
            height,
        )
    return [p.name for p in files], np.stack(arrays)


def read_array(path: Path, shape: tuple[int, int, int], pixel_max: float):
    """A ``.npy`` array of raw pixels -> (names "0".."N-1", (N, C, H, W) float64)."""
    channels, height, width = shape
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise SeqlabError(
            f"data.path: '{path}' is not a numeric .npy array ({err}). Fix: np.save() a "
            "number array (no objects)."
        ) from err
    if array.dtype.kind not in "uifb":
        raise SeqlabError(
            f"data.path: '{path}' holds {array.dtype} values, not numbers. Fix: a uint8 or "
            "float array of raw pixel values."
        )
    if array.ndim == 3 and channels == 1:
        array = array[:, None]  # (N, H, W) -> (N, 1, H, W)
    expected = (channels, height, width)
    if array.ndim != 4 or tuple(array.shape[1:]) != expected:
        hint = ""
        if array.ndim == 4 and tuple(array.shape[1:]) == (height, width, channels):
            hint = " (channels last: np.transpose(a, (0, 3, 1, 2)))"
        raise SeqlabError(
            f"data.path: '{path}' has shape {tuple(array.shape)}; the model reads images of "
            f"(N, {channels}, {height}, {width}). Fix: that shape{hint}, or image files with "
            "images.resize=true."
        )
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise SeqlabError(f"data.path: '{path}' has NaN or infinite values. Fix: finite pixels.")
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > pixel_max:
        raise SeqlabError(
            f"data.path: '{path}' values span {low:g}..{high:g}; the model was trained on raw "
            f"pixels in 0..{pixel_max:g}. Fix: scale them to 0..{pixel_max:g} (e.g. "
            f"a * {pixel_max:g} / {high:g})."
        )
    return [str(i) for i in range(len(values))], values


def read_images(cfg: Any, spec: DataSpec) -> tuple[list[str], np.ndarray]:
    data = cfg.get("data") or {}
    if not data.get("path"):
        raise SeqlabError("data.path is not set. Fix: data.path=<folder of images or .npy file>")
    path = Path(str(data["path"])).expanduser()
    shape = tuple(int(v) for v in spec.image_shape)
    pixel_max = float(spec.extra.get("pixel_max", 255.0))
    options = cfg.get("images") or {}
    if path.is_dir():
        names, pixels = read_folder(path, shape, pixel_max, bool(options.get("resize", True)))
    elif path.suffix.lower() == ".npy" and path.is_file():
        names, pixels = read_array(path, shape, pixel_max)
    else:
        raise SeqlabError(
            f"data.path: '{path}' is neither a folder of images nor a .npy file. Fix: one of those."
        )
    if options.get("invert"):
        pixels = pixel_max - pixels
    return names, pixels


def normalised(pixels: np.ndarray, spec: DataSpec) -> torch.Tensor:
    """Raw pixels (N, C, H, W) -> the training's normalisation, float32."""
    mean = np.asarray(spec.extra["mean"], dtype=np.float64)[:, None, None]
    std = np.asarray(spec.extra["std"], dtype=np.float64)[:, None, None]
    return torch.from_numpy(((pixels - mean) / std).astype(np.float32))


def probabilities(task: Any, x: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """(N, K) class probabilities of normalised images x (N, C, H, W)."""
    return class_probabilities(task, ((chunk, None) for chunk in x.split(batch_size)))


def predict(task: Any, spec: DataSpec, cfg: Any) -> pd.DataFrame:
    """The long table (image, predicted, class, probability)."""
    for key in ("mean", "std"):
        if key not in spec.extra:
            raise SeqlabError(
                f"ckpt_path: '{cfg.get('ckpt_path')}' stores no pixel statistics ({key}). Fix: "
                "train it again with this seqlab."
            )
    names, pixels = read_images(cfg, spec)
    probs = probabilities(task, normalised(pixels, spec), int(cfg.get("batch_size") or 512))
    log.info("%d images classified (%d classes)", len(names), len(spec.class_names))
    return long_table("image", names, probs, spec.class_names)
