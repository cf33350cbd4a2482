"""A small synthetic mixture in the exact LLaVA format (JPEGs under a data root + JSON list), for the
tiny preset's smoke runs, the tests and the GPU check. Answers follow from the drawn image (the colour
and side of a square), so a model can actually learn them."""
from __future__ import annotations

import random
from io import BytesIO
from pathlib import Path

import orjson
from PIL import Image, ImageDraw

from pipeline.atomic import write_bytes

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220)}


def write_synthetic_mixture(data_root: Path, dest: Path, n_image: int = 8, n_text: int = 4,
                            seed: int = 0, size: tuple[int, int] = (96, 64),
                            long_answer_words: int = 0) -> Path:
    """Images under `<data_root>/synthetic/images/`, the mixture at `dest`; returns `dest`.
    `long_answer_words` > 0 pads each answer to that many words (throughput runs)."""
    rng = random.Random(seed)
    records = []
    for i in range(n_image):
        colour, side = rng.choice(sorted(COLOURS)), rng.choice(["left", "right"])
        image = Image.new("RGB", size, (235, 235, 235))
        x0 = 4 if side == "left" else size[0] // 2 + 4
        ImageDraw.Draw(image).rectangle([x0, 16, x0 + size[0] // 2 - 12, size[1] - 16], fill=COLOURS[colour])
        rel = f"synthetic/images/{seed:04d}-{i:06d}.jpg"
        path = data_root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = BytesIO()
        image.save(buf, "JPEG", quality=90)
        write_bytes(path, buf.getvalue())
        answer = f"The square is {colour}."
        if long_answer_words:
            answer += " " + " ".join(rng.choice(["it", "is", "on", "the", side]) for _ in range(long_answer_words))
        records.append({"id": f"synthetic-{seed}-{i}", "image": rel, "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is the square?"},
            {"from": "gpt", "value": answer},
            {"from": "human", "value": "Is it on the left or the right?"},
            {"from": "gpt", "value": f"It is on the {side}."}]})
    for i in range(n_text):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        records.append({"id": f"synthetic-text-{seed}-{i}", "conversations": [
            {"from": "human", "value": f"What is {a} plus {b}?"},
            {"from": "gpt", "value": f"{a} plus {b} is {a + b}."}]})
    write_bytes(dest, orjson.dumps(records))
    return dest
