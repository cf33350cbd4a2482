"""The image contract: every image in the data root is a decodable RGB or L JPEG named `.jpg`.

`normalize` decides, per upstream image, between a byte-for-byte copy (a clean RGB/L JPEG: no
generation loss, and cheap), one high-quality re-encode (anything else that decodes), or quarantine
(empty, truncated, not an image, too large), and returns the manifest row for it."""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageFile, UnidentifiedImageError

from .atomic import write_bytes
from .readers import MAX_IMAGE_BYTES
from .records import Rejection

JPEG_QUALITY = 95
# Beyond this many pixels an image is refused before decoding (decompression-bomb guard). The largest
# real images in our sources (VG, GQA) are around 2 megapixels.
MAX_PIXELS = 64_000_000
# Below this side length an "image" is a placeholder (dead image hosts answer 200 with a 1x1 GIF).
MIN_SIDE = 8
EXIF_ORIENTATION = 0x0112
COPYABLE_MODES = ("RGB", "L")

ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.MAX_IMAGE_PIXELS = None  # we apply MAX_PIXELS ourselves, as a counted rejection


@dataclass(frozen=True)
class ManifestRow:
    path: str | None
    source: str
    original: str
    original_format: str | None
    width: int | None
    height: int | None
    bytes: int | None
    sha256: str | None
    action: str
    reason: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def row_image(images: object, column: str) -> bytes | Rejection:
    """The one image of a hub row's image column: `datasets` stores a list of {bytes, path} structs (or
    one struct, for an `Image` column rather than a list of them); plain binaries are read the same way.
    Anything else is the record's rejection."""
    if isinstance(images, dict):
        images = [images]
    if not images:
        return Rejection("no_image", f"{column} is null or empty")
    if not isinstance(images, list):
        return Rejection("bad_image_field", f"{column} is {type(images).__name__}, not a list of images")
    if len(images) > 1:
        return Rejection("several_images", f"{len(images)} images; a record holds one")
    data = images[0].get("bytes") if isinstance(images[0], dict) else images[0]
    if data is not None and not isinstance(data, bytes):
        return Rejection("bad_image_field", f"{column}[0] is {type(data).__name__}, not bytes")
    return data or b""


class Rejected(Exception):
    def __init__(self, reason: str, fmt: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.fmt = reason, fmt


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Parse the header only; refuse what is not an image or is too large to decode safely."""
    if not data:
        raise Rejected("empty")
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise Rejected("not_an_image") from None
    except Exception as err:  # header parsers raise many types on garbage
        raise Rejected(f"corrupt: {type(err).__name__}") from None
    if im.width * im.height > max_pixels:
        raise Rejected(f"too_large: {im.width}x{im.height}", im.format)
    if min(im.size) < MIN_SIDE:
        raise Rejected(f"too_small: {im.width}x{im.height}", im.format)
    return im


def _load(im: Image.Image) -> None:
    """Decode every byte of pixel data; truncation and corruption become rejections."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im.load()
    except OSError as err:
        reason = "truncated" if "truncated" in str(err) or "broken data stream" in str(err) else "corrupt"
        raise Rejected(f"{reason}: {err}", im.format) from None
    except Exception as err:
        raise Rejected(f"corrupt: {type(err).__name__}: {err}", im.format) from None


def _why_reencode(im: Image.Image) -> str | None:
    if im.format != "JPEG":
        return f"format {im.format}"
    if im.mode not in COPYABLE_MODES:
        return f"mode {im.mode}"
    if im.getexif().get(EXIF_ORIENTATION, 1) != 1:
        return "exif orientation"
    return None


def _to_rgb(im: Image.Image) -> Image.Image:
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)  # animated GIF/PNG: the first frame
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        im = im.point(lambda v: v / 256).convert("L")  # 16-bit grey -> 8-bit, keeping contrast
    elif im.mode == "F":
        im = im.convert("L")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))  # transparent areas read as white paper
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if im.mode in COPYABLE_MODES:
        return im
    return im.convert("RGB")  # CMYK, YCbCr, LAB, ...


def encode_jpeg(im: Image.Image) -> bytes:
    """The one re-encode. EXIF is dropped on purpose: stored pixels keep their orientation (COCO boxes
    and the 665K's region coordinates refer to stored pixels, and LLaVA's loader ignores EXIF)."""
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def normalize(data: bytes, data_root: Path, rel_path: str, source: str, original: str,
              tmp_dir: Path | None = None, max_pixels: int = MAX_PIXELS,
              max_bytes: int = MAX_IMAGE_BYTES) -> ManifestRow:
    """Write `data` as `data_root/rel_path` (forced to `.jpg`) under the image contract."""
    rel = str(Path(rel_path).with_suffix(".jpg"))
    fmt = None
    try:
        if len(data) > max_bytes:
            raise Rejected(f"too_large: {len(data):,} bytes (cap {max_bytes:,})")
        im = _open(data, max_pixels)
        fmt, (width, height) = im.format, im.size
        why = _why_reencode(im)
        if why is None:
            # A clean JPEG is copied; decoding it at 1/8 scale (DCT scaling) still reads every
            # entropy-coded byte, so truncation is caught at a fraction of a full decode's cost.
            im.draft(im.mode, (max(1, width // 8), max(1, height // 8)))
            _load(im)
            out, action = data, "copied"
        else:
            _load(im)
            out, action = encode_jpeg(_to_rgb(im)), "reencoded"
    except Rejected as rej:
        return ManifestRow(None, source, original, rej.fmt or fmt, None, None, None, None, "quarantined", rej.reason)
    except Exception as err:  # a frame or mode Pillow cannot convert
        return ManifestRow(None, source, original, fmt, None, None, None, None, "quarantined",
                           f"corrupt: {type(err).__name__}: {err}")
    write_bytes(data_root / rel, out, tmp_dir)
    return ManifestRow(rel, source, original, fmt, width, height, len(out),
                       hashlib.sha256(out).hexdigest(), action, why)
