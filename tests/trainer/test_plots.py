"""The loss-curve picture: a real PNG of the requested size, refused for an empty curve."""
import io

import pytest
from PIL import Image

from trainer.plots import loss_curve_png, write_loss_curve


def test_loss_curve_png(tmp_path):
    data = loss_curve_png([(1, 5.9), (2, 5.8), (3, 5.6), (4, 5.7)], width=400, height=200)
    with Image.open(io.BytesIO(data)) as im:
        assert (im.format, im.size) == ("PNG", (400, 200))
        # the curve's blue is drawn somewhere inside the plot area
        assert any(px == (31, 119, 180) for px in im.convert("RGB").get_flattened_data())
    assert loss_curve_png([(7, 1.0)])  # one point, flat range: still drawable
    with pytest.raises(ValueError):
        loss_curve_png([])
    dest = write_loss_curve([(1, 2.0), (2, 1.0)], tmp_path / "out" / "loss_curve.png")
    assert dest.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = dest.stat().st_mtime_ns
    write_loss_curve([(1, 2.0), (2, 1.0)], dest)
    assert dest.stat().st_mtime_ns == written  # the same curve again: nothing rewritten
