"""The loss curve as a small PNG (Pillow only: no plotting library, no torch), written beside the run's
metrics and shown by the Dagster layer on the `finetune` asset."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from pipeline.atomic import write_bytes

_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 56, 16, 28, 36


def loss_curve_png(curve: Sequence[Sequence[float]], width: int = 640, height: int = 320,
                   title: str = "training loss") -> bytes:
    """[(step, loss), ...] drawn as a line with its points, axes labelled with the step and loss range."""
    points = [(float(s), float(v)) for s, v in curve]
    if not points:
        raise ValueError("an empty loss curve has nothing to draw")
    font = ImageFont.load_default(size=12)
    im = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(im)
    x0, y0 = _MARGIN_LEFT, _MARGIN_TOP
    x1, y1 = width - _MARGIN_RIGHT, height - _MARGIN_BOTTOM
    steps = [s for s, _ in points]
    losses = [v for _, v in points]
    s_lo, s_hi = min(steps), max(steps)
    l_lo, l_hi = min(losses), max(losses)
    pad = (l_hi - l_lo) * 0.05 or max(abs(l_hi) * 0.05, 1e-3)  # a flat curve still gets a visible band
    l_lo, l_hi = l_lo - pad, l_hi + pad

    def at(step: float, loss: float) -> tuple[float, float]:
        fx = (step - s_lo) / (s_hi - s_lo) if s_hi > s_lo else 0.5
        return x0 + fx * (x1 - x0), y1 - (loss - l_lo) / (l_hi - l_lo) * (y1 - y0)

    for k in range(5):  # horizontal grid with loss labels
        loss = l_lo + (l_hi - l_lo) * k / 4
        _, y = at(s_lo, loss)
        draw.line((x0, y, x1, y), fill="#e5e5e5")
        draw.text((4, y - 7), f"{loss:.3g}", fill="#444444", font=font)
    draw.rectangle((x0, y0, x1, y1), outline="#888888")
    xy = [at(s, v) for s, v in points]
    if len(xy) > 1:
        draw.line(xy, fill="#1f77b4", width=2)
    for x, y in xy:
        draw.ellipse((x - 2.5, y - 2.5, x + 2.5, y + 2.5), fill="#1f77b4")
    draw.text((x0, y1 + 6), f"step {s_lo:g}", fill="#444444", font=font)
    right = f"step {s_hi:g}"
    draw.text((x1 - draw.textlength(right, font=font), y1 + 6), right, fill="#444444", font=font)
    draw.text((x0, 6), f"{title}: {losses[0]:.4g} -> {losses[-1]:.4g} over {len(points)} logged steps",
              fill="black", font=font)
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def write_loss_curve(curve: Sequence[Sequence[float]], dest: Path) -> Path:
    """The PNG written atomically to `dest` (e.g. `<output_dir>/loss_curve.png`); an identical picture
    already there is left alone, so re-reporting a finished run rewrites nothing."""
    data = loss_curve_png(curve)
    if not (dest.is_file() and dest.read_bytes() == data):
        write_bytes(dest, data)
    return dest
