"""The image contract, one case per kind of upstream image."""
import hashlib
import io

import pytest
from PIL import Image

from pipeline.images import MAX_PIXELS, normalize


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _photo(mode: str = "RGB", size: tuple[int, int] = (320, 240)) -> Image.Image:
    grad = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (grad, grad.rotate(90).resize(size), grad.transpose(Image.Transpose.FLIP_LEFT_RIGHT))).convert(mode)


def _run(tmp_path, data: bytes, name: str = "src/x.jpg"):
    return normalize(data, tmp_path, name, "test", name)


def _written(tmp_path, row) -> Image.Image:
    im = Image.open(tmp_path / row.path)
    im.load()
    return im


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_clean_jpeg_is_copied_byte_for_byte(tmp_path, mode):
    data = _encode(_photo(mode), "JPEG", quality=90)
    row = _run(tmp_path, data)
    assert row.action == "copied" and row.reason is None
    assert (tmp_path / row.path).read_bytes() == data
    assert row.sha256 == hashlib.sha256(data).hexdigest() and row.bytes == len(data)
    assert (row.width, row.height) == (320, 240)


@pytest.mark.parametrize("fmt,mode,reason", [
    ("PNG", "RGB", "format PNG"),
    ("GIF", "P", "format GIF"),
    ("JPEG", "CMYK", "mode CMYK"),
    ("PNG", "RGBA", "format PNG"),
    ("PNG", "P", "format PNG"),
    ("PNG", "I;16", "format PNG"),
])
def test_other_images_are_reencoded_once_to_rgb_jpeg(tmp_path, fmt, mode, reason):
    src = _photo("RGB").convert(mode) if mode != "I;16" else _photo("L").convert("I;16")
    row = _run(tmp_path, _encode(src, fmt), "src/y.png")
    assert row.action == "reencoded" and row.reason == reason
    assert row.path == "src/y.jpg"
    out = _written(tmp_path, row)
    assert out.format == "JPEG" and out.mode in ("RGB", "L") and out.size == (320, 240)


def test_cmyk_colours_survive(tmp_path):
    red = Image.new("RGB", (64, 64), (220, 20, 20))
    row = _run(tmp_path, _encode(red.convert("CMYK"), "JPEG", quality=95))
    r, g, b = _written(tmp_path, row).getpixel((32, 32))
    assert r > 180 and g < 60 and b < 60


def test_transparent_pixels_become_white(tmp_path):
    im = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    row = _run(tmp_path, _encode(im, "PNG"))
    assert min(_written(tmp_path, row).getpixel((5, 5))) > 245


def test_exif_rotated_jpeg_is_reencoded_keeping_stored_pixels(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    row = _run(tmp_path, _encode(_photo(), "JPEG", exif=exif.tobytes()))
    assert row.action == "reencoded" and row.reason == "exif orientation"
    out = _written(tmp_path, row)
    assert out.size == (320, 240)  # not rotated: annotations refer to stored pixels
    assert out.getexif().get(0x0112, 1) == 1


@pytest.mark.parametrize("data,reason", [
    (b"", "empty"),
    (b"<html>404</html>", "not_an_image"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 10, "not_an_image"),
])
def test_undecodable_bytes_are_quarantined(tmp_path, data, reason):
    row = _run(tmp_path, data)
    assert row.action == "quarantined" and row.reason.split(":")[0] == reason and row.path is None
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image_is_quarantined(tmp_path, fmt):
    data = _encode(_photo(size=(640, 480)), fmt)
    row = _run(tmp_path, data[: len(data) // 2])
    assert row.action == "quarantined" and row.reason.startswith(("truncated", "corrupt"))
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_decompression_bomb_is_rejected_before_decoding(tmp_path):
    side = int(MAX_PIXELS ** 0.5) + 100
    bomb = _encode(Image.new("1", (side, side)), "PNG")  # a few KB on disk, ~65 MP once decoded
    assert len(bomb) < 100_000
    row = _run(tmp_path, bomb)
    assert row.action == "quarantined" and row.reason.startswith("too_large")


def test_placeholder_pixel_is_quarantined(tmp_path):
    row = _run(tmp_path, _encode(Image.new("P", (1, 1)), "GIF"))
    assert row.action == "quarantined" and row.reason.startswith("too_small")
