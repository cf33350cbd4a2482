"""Names objects so the text never points at two things.

A class seen once is named by its class. A class seen exactly twice is named "the <class> on the
left/right" when the two boxes do not overlap horizontally (told apart at a glance); otherwise, and
for three or more, the class is skipped."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from spatialqa_gen.types import Region


def name_regions(regions: list[Region]) -> list[Region]:
    """The regions that can be named unambiguously, with `name` set, in input order."""
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(regions):
        by_class[r.category.strip().lower()].append(i)
    names: dict[int, str] = {}
    for cls, idx in by_class.items():
        if len(idx) == 1:
            names[idx[0]] = cls
        elif len(idx) == 2:
            left, right = sorted(idx, key=lambda i: regions[i].box[0])
            if regions[left].box[2] <= regions[right].box[0]:
                names[left], names[right] = f"{cls} on the left", f"{cls} on the right"
    return [replace(regions[i], name=names[i]) for i in sorted(names)]
