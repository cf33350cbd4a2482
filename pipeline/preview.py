"""Contact sheets: a few images of an output as one small JPEG, for a person to glance at (the Dagster
layer shows it beside the asset's numbers).

A tile is a thumbnail with a caption; boxes (x0, y0, x1, y1 in the image's own pixels) are drawn on
it with their labels. A tile without an image is a placeholder that says why: a quarantined upstream
image is never a file under the data root, so its tile names the reason instead."""
from __future__ import annotations

import io
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

Box = tuple[str, tuple[float, float, float, float]]

_COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324")
_CAPTION_LINES = 2


@dataclass(frozen=True)
class Tile:
    image: Path | None          # None: a placeholder (e.g. a quarantined image)
    caption: str
    boxes: tuple[Box, ...] = ()


def contact_sheet(tiles: Sequence[Tile], columns: int = 4, size: int = 160, quality: int = 80) -> bytes:
    """The tiles as one JPEG grid (`size` px thumbnails, captions below). Small on purpose: it is stored
    with every materialization."""
    if not tiles:
        raise ValueError("a contact sheet needs at least one tile")
    font = ImageFont.load_default(size=11)
    line_h = 13
    cell_h = size + 4 + line_h * _CAPTION_LINES
    columns = min(columns, len(tiles))
    sheet = Image.new("RGB", (columns * size + (columns + 1) * 4, math.ceil(len(tiles) / columns) * (cell_h + 4) + 4),
                      "white")
    draw = ImageDraw.Draw(sheet)
    for i, tile in enumerate(tiles):
        x, y = 4 + (i % columns) * (size + 4), 4 + (i // columns) * (cell_h + 4)
        thumb = _thumbnail(tile, size, font)
        sheet.paste(thumb, (x + (size - thumb.width) // 2, y + (size - thumb.height) // 2))
        chars = max(8, size // 6)
        for n, line in enumerate(textwrap.wrap(tile.caption, chars)[:_CAPTION_LINES]):
            draw.text((x, y + size + 2 + n * line_h), line, fill="black", font=font)
    buf = io.BytesIO()
    sheet.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _thumbnail(tile: Tile, size: int, font: ImageFont.ImageFont) -> Image.Image:
    if tile.image is None:
        return _placeholder(size, "no image")
    try:
        with Image.open(tile.image) as im:
            im = im.convert("RGB")
    except (OSError, ValueError) as err:  # a preview never fails the asset: the checks judge the files
        return _placeholder(size, type(err).__name__)
    original_width = im.width
    draw = ImageDraw.Draw(im)
    width = max(2, round(max(im.size) / size * 1.5))
    for n, (label, (x0, y0, x1, y1)) in enumerate(tile.boxes):
        colour = _COLOURS[n % len(_COLOURS)]
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
    im.thumbnail((size, size))
    scale = im.width / original_width
    draw = ImageDraw.Draw(im)
    for n, (label, (x0, y0, _, _)) in enumerate(tile.boxes):  # labels drawn after scaling, to stay legible
        x, y = x0 * scale, max(0.0, y0 * scale - 12)
        left, top, right, bottom = draw.textbbox((x, y), label, font=font)
        draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=_COLOURS[n % len(_COLOURS)])
        draw.text((x, y), label, fill="white", font=font)
    return im


def _placeholder(size: int, text: str) -> Image.Image:
    im = Image.new("RGB", (size, size), "#dddddd")
    draw = ImageDraw.Draw(im)
    draw.line((0, 0, size, size), fill="#999999", width=2)
    draw.line((0, size, size, 0), fill="#999999", width=2)
    draw.text((6, size // 2 - 6), text, fill="black", font=ImageFont.load_default(size=11))
    return im


def manifest_tiles(manifests: Sequence[Path], data_root: Path, limit: int = 8, quarantined: int = 2) -> list[Tile]:
    """Tiles of what an image step wrote (copied or re-encoded, by name) and of up to `quarantined`
    images it refused (placeholders with the reason), in manifest order."""
    import pyarrow.parquet as pq

    written: list[Tile] = []
    refused: list[Tile] = []
    for manifest in manifests:
        rows = pq.read_table(manifest, columns=["path", "original", "action", "reason"]).to_pylist()
        for r in rows:
            if r["action"] == "quarantined" and len(refused) < quarantined:
                reason = (r["reason"] or "").split(":", 1)[0]
                refused.append(Tile(None, f"quarantined ({reason}): {Path(r['original'] or '').name}"))
            elif r["path"] and len(written) < limit:
                written.append(Tile(data_root / r["path"], f"{r['action']}: {Path(r['path']).name}"))
        if len(written) >= limit and len(refused) >= quarantined:
            break
    return written[:limit - len(refused)] + refused


def record_tiles(table: Path, data_root: Path, limit: int = 8) -> list[Tile]:
    """Tiles of the first records with an image: the picture and the record's first question."""
    import pyarrow.parquet as pq

    tiles = []
    for batch in pq.ParquetFile(table).iter_batches(batch_size=256, columns=["image", "conversations"]):
        for r in batch.to_pylist():
            if r["image"] and len(tiles) < limit:
                question = r["conversations"][0]["value"].replace("<image>", "").strip()
                tiles.append(Tile(data_root / r["image"], question))
        if len(tiles) >= limit:
            break
    return tiles
