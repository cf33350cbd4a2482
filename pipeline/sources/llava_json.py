"""LLaVA-format annotation records (a JSON list of {id, image?, conversations}) -> conversation rows,
the way LLaVA loads them: its repairs first (`pipeline.llava_rules`), then the record contract, then
its label masking, then the image. Shared by every source whose upstream is such a file (the 665K,
the published Spatial-LLaVA 850K, SpatialQA's JSON), so all of them repair, count and reject alike.

Each row keeps the upstream `id` (made unique with `#n` where the file repeats one) and its position
in the file as `source_id` (`<index>:<id>`). Every record left out is a rejection row whose reason
names the rule that fired."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..llava_rules import REPAIRS, apply_repairs
from ..progress import Log, Progress, default_log
from ..records import LLAVA_MASKING, Rejection, check_record, llava_masking_reason

# upstream image path -> our path under the data root (verified to exist), or why it has none
ImageResolver = Callable[[str], "str | Rejection"]


@dataclass
class Converted:
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    repairs: Counter = field(default_factory=lambda: Counter({r: 0 for r in REPAIRS}))
    by_image_folder: Counter = field(default_factory=Counter)   # rows per top folder of their image
    renamed_duplicate_ids: int = 0

    def reject(self, source: str, source_id: str, reason: str, detail: str = "") -> None:
        self.rejected.append({"source": source, "source_id": source_id, "reason": reason, "detail": detail})

    @property
    def rejections(self) -> Counter:
        return Counter(r["reason"] for r in self.rejected)

    def details(self) -> dict[str, Any]:
        """The numbers a source's report carries: each repair, text-only rows, renamed ids, folders."""
        return {**dict(self.repairs), "text_only": self.by_image_folder["text-only"],
                "renamed_duplicate_ids": self.renamed_duplicate_ids, "by_image_folder": dict(self.by_image_folder)}


def load_records(path: Path) -> list[Any]:
    import orjson

    records = orjson.loads(path.read_bytes())
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of LLaVA records, got {type(records).__name__}")
    return records


def convert_records(records: list[Any], source: str, resolve: ImageResolver, log: Log = default_log) -> Converted:
    """Every record through LLaVA's rules, the contract and `resolve`; rows for the survivors."""
    out = Converted()
    seen: Counter = Counter()
    progress = Progress(f"{source} records", len(records), "records", log)
    for index, rec in enumerate(records):
        progress.advance(1)
        if not isinstance(rec, dict):
            out.reject(source, str(index), "not_a_record", type(rec).__name__)
            continue
        upstream_id = str(rec.get("id", index))
        source_id = f"{index}:{upstream_id}"
        image = rec.get("image")
        if image is not None and not isinstance(image, str):
            out.reject(source, source_id, "bad_image_field", repr(image)[:200])
            continue
        turns, fired = apply_repairs(bool(image), rec.get("conversations"))
        out.repairs.update(fired)  # counted for every record a repair changed, kept or not
        rejection = check_record(image or None, turns)
        if rejection is None and (masked := llava_masking_reason(turns)):
            rejection = Rejection(LLAVA_MASKING, masked)
        if rejection is None and image:
            resolved = resolve(image)
            rejection, image = (resolved, image) if isinstance(resolved, Rejection) else (None, resolved)
        if rejection is not None:
            out.reject(source, source_id, rejection.reason, rejection.detail)
            continue
        seen[upstream_id] += 1
        rid = upstream_id if seen[upstream_id] == 1 else f"{upstream_id}#{seen[upstream_id]}"
        out.renamed_duplicate_ids += rid != upstream_id
        out.by_image_folder[image.split("/", 1)[0] if image else "text-only"] += 1
        out.rows.append({"id": rid, "image": image or None, "source": source, "source_id": source_id,
                         "conversations": turns})
    progress.close()
    return out
