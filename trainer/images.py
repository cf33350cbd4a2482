"""Image preprocessing as LLaVA-1.5 trains (`image_aspect_ratio pad`): pad to a square with the CLIP
mean colour, then the CLIP image processor's PIL path (resize, crop, normalise). Padding keeps the
whole image inside the crop."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image


def expand_to_square(image: Image.Image, mean: tuple[float, ...]) -> Image.Image:
    """LLaVA's expand2square: centred on a square canvas of `int(c * 255)` per channel (truncated, not
    rounded: (122, 116, 104) for CLIP's mean)."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), tuple(int(c * 255) for c in mean[:3]))
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def load_pixels(path: Path, image_processor: Any) -> torch.Tensor:
    """Decode fully (load() catches truncated JPEGs that verify() passes) and return (3, H, W).

    `image_processor` must be the PIL backend (CLIPImageProcessorPil, `backend="pil"`), whose resize
    is PIL's bicubic as in the transformers 4.31 that LLaVA-1.5 used; the torchvision backend differs
    by one grey level in a fraction of the values."""
    if getattr(image_processor, "backend", "pil") != "pil":
        raise ValueError(f"{type(image_processor).__name__} is not the PIL backend LLaVA-1.5's pixels need")
    with Image.open(path) as handle:
        handle.load()
        image = handle.convert("RGB")
    image = expand_to_square(image, tuple(image_processor.image_mean))
    return image_processor(images=image, return_tensors="pt")["pixel_values"][0]
