"""Region marks for a model that takes no region input: each box outlined and tagged with its label.

SpatialRGPT-Bench names objects "Region [i]" and gives their boxes; SpatialRGPT feeds the boxes as
masks, LLaVA cannot. Spatial-LLaVA's evaluation passes the question text with the picture, so the
regions are drawn into the picture: box i outlined in the i-th colour, "Region [i]" written in a
filled tag at its top-left corner (inside the image), the text naming the same labels."""
from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

COLOURS = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240))


def mark_regions(image: Image.Image, regions: list[dict]) -> Image.Image:
    """A copy of `image` with every region's box and label drawn (regions: {label, box x0 y0 x1 y1})."""
    if not regions:
        return image
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    w, h = out.size
    line = max(2, round(min(w, h) / 160))
    font = ImageFont.load_default(size=max(10, round(min(w, h) / 28)))
    for i, region in enumerate(regions):
        colour = COLOURS[i % len(COLOURS)]
        x0, y0, x1, y1 = region["box"][:4]
        x0, x1 = sorted((min(max(x0, 0), w - 1), min(max(x1, 0), w - 1)))
        y0, y1 = sorted((min(max(y0, 0), h - 1), min(max(y1, 0), h - 1)))
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=line)
        left, top, right, bottom = draw.textbbox((0, 0), region["label"], font=font)
        tw, th = right - left + 2 * line, bottom - top + 2 * line
        tx, ty = min(x0, w - tw), min(y0, h - th)
        draw.rectangle((tx, ty, tx + tw, ty + th), fill=colour)
        draw.text((tx + line - left, ty + line - top), region["label"], fill=(255, 255, 255), font=font)
    return out
