"""Pictures and paths shared by the sample-mirror writers (image-folder sources and hub sources)."""
from __future__ import annotations

import io
import random
import urllib.parse
from importlib.resources import files
from pathlib import Path

from PIL import Image

from pipeline.fetch import mirror_url

PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "hubble_deep_field.jpg",
          "retina.jpg", "ihc.png", "motorcycle_left.png", "brick.png", "color.png", "grass.png")
GREY_PHOTOS = ("camera.png", "coins.png", "page.png")


def photo(name: str, size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A random crop of one of scikit-image's bundled photographs, resized to `size`."""
    with Image.open(files("skimage.data") / name) as src:
        im = src.convert("L" if name in GREY_PHOTOS else "RGB")
    w, h = im.size
    cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return im.crop((x, y, x + cw, y + ch)).resize(size, Image.Resampling.BICUBIC)


def encode(im: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **({"quality": 90} | kw if fmt == "JPEG" else kw))
    return buf.getvalue()


def mirror_file(root: Path, url: str) -> Path:
    """Where `url` lives inside a mirror folder (the `fetch.mirror_url` rule; the file URI unquoted, so a
    quoted revision such as refs%2Fconvert%2Fparquet names the folder the HTTP server resolves)."""
    return Path(urllib.parse.unquote(mirror_url(url, root).removeprefix("file://")))
