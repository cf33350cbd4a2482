"""Image preprocessing as LLaVA-1.5 trains: pad to a square with the CLIP mean colour, then the
CLIP image processor (resize, crop, normalise). Padding keeps the whole image inside the crop."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image


def pad_to_square(image: Image.Image, mean: tuple[float, ...]) -> Image.Image:
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    fill = tuple(int(round(c * 255)) for c in mean[:3])
    canvas = Image.new(image.mode, (side, side), fill)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def load_pixels(path: Path, image_processor: Any) -> torch.Tensor:
    """Decode fully (load() catches truncated JPEGs that verify() passes) and return (3, H, W)."""
    with Image.open(path) as handle:
        handle.load()
        image = handle.convert("RGB")
    image = pad_to_square(image, tuple(image_processor.image_mean))
    return image_processor(images=image, return_tensors="pt")["pixel_values"][0]
