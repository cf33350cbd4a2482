"""Contact sheets of what a step wrote: thumbnails, quarantined placeholders, boxes."""
import io
from pathlib import Path

import pytest
from PIL import Image

from pipeline import atomic, tables
from pipeline.preview import Tile, contact_sheet, manifest_tiles, record_tiles


def _jpeg(path: Path, colour: tuple[int, int, int], size=(320, 240)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, "JPEG")


def test_contact_sheet_draws_tiles_boxes_and_placeholders(tmp_path: Path) -> None:
    _jpeg(tmp_path / "a.jpg", (0, 0, 0))
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    tiles = [Tile(tmp_path / "a.jpg", "a black picture", (("cup", (10, 10, 200, 200)),)),
             Tile(None, "quarantined (truncated): x.png"), Tile(tmp_path / "bad.jpg", "broken")]
    data = contact_sheet(tiles, columns=2, size=100)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG" and im.width == 2 * 100 + 3 * 4
        first = im.crop((4, 4, 104, 79)).convert("RGB")
        # the box's red outline is on the black thumbnail
        assert any(r > 150 and g < 90 for r, g, b in first.get_flattened_data())
    with pytest.raises(ValueError):
        contact_sheet([])


def test_tiles_from_a_manifest_and_a_conversation_table(tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    rows = []
    for i in range(5):
        _jpeg(data_root / f"src/{i}.jpg", (i * 40, 0, 0))
        rows.append({"path": f"src/{i}.jpg", "source": "src", "original": f"{i}.png", "action": "copied"})
    rows.append({"path": None, "source": "src", "original": "up/broken.jpg", "action": "quarantined",
                 "reason": "truncated: image file is truncated"})
    manifest = tmp_path / "m.parquet"
    atomic.write_table(manifest, tables.to_table(rows, tables.MANIFEST))
    tiles = manifest_tiles([manifest], data_root, limit=4, quarantined=1)
    assert [t.image is None for t in tiles] == [False, False, False, True]
    assert tiles[-1].caption == "quarantined (truncated): broken.jpg"

    records = [{"id": "r1", "image": None, "conversations": [{"from": "human", "value": "text only"}],
                "source": "s", "source_id": "1"},
               {"id": "r2", "image": "src/1.jpg", "source": "s", "source_id": "2",
                "conversations": [{"from": "human", "value": "<image>\nWhat colour?"}]}]
    table = tmp_path / "c.parquet"
    atomic.write_table(table, tables.to_table(records, tables.CONVERSATIONS))
    [tile] = record_tiles(table, data_root)
    assert tile.image == data_root / "src/1.jpg" and tile.caption == "What colour?"
