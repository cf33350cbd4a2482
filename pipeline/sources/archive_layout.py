"""Which members of an image archive (zip or tar) are the source's images, with guards that fail
loudly instead of ingesting nothing.

An archive's images sit under known inner folders (`train2017/`, `train_images/`, ...). Some copies of
an archive wrap them in one more folder (TextVQA's `train_val_images/train_images/`, community OCR-VQA
zips' `ocr_vqa/images/`): such known alternative prefixes are stripped. Two guards run over the whole
listing before any shard writes anything:
- an archive with image members of which none sits under the expected folders is refused (a wrong
  layout would otherwise ignore every member and compare 0 with 0);
- the number of images found is compared with what the upstream publishes, within a stated
  tolerance, where the count is enforced (the real upstream, or a mirror that states its count)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..readers import archive_members, safe_member
from .base import SourceError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"})


class LayoutError(SourceError):
    """The archive's layout is not the one the source expects; nothing was written."""


@dataclass(frozen=True)
class ArchiveLayout:
    folders: tuple[str, ...]     # inner folders holding the images, e.g. ("train_images/",)
    strip: tuple[str, ...] = ()  # known alternative leading folders, removed first

    def place(self, name: str) -> str | None:
        """The member's name under one of `folders` (alternative prefix stripped), or None."""
        for prefix in self.strip:
            if name.startswith(prefix):
                name = name[len(prefix):]
                break
        return name if name.startswith(self.folders) else None


@dataclass
class Member:
    archive: str       # archive file name (the reader key's first part)
    name: str          # member name inside the archive
    placed: str | None  # name under the image folders; None for an unsafe name


@dataclass
class Selection:
    members: list[Member] = field(default_factory=list)   # image-folder members and unsafe names
    outside: int = 0                                       # other members, ignored
    stripped: int = 0                                      # members whose alternative prefix was removed

    @property
    def images(self) -> int:
        return sum(m.placed is not None for m in self.members)


def _is_image(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def select_members(source: str, archives: dict[str, Path], layout: ArchiveLayout) -> Selection:
    """Every archive's members under the layout; raise LayoutError when an archive holds images but
    none where the source expects them."""
    selection = Selection()
    for archive, path in archives.items():
        found, elsewhere = 0, Counter()
        for name in archive_members(path):
            if not safe_member(name):
                selection.members.append(Member(archive, name, None))
                continue
            placed = layout.place(name)
            if placed is None:
                selection.outside += 1
                if _is_image(name):
                    elsewhere[name.split("/", 1)[0] + "/" if "/" in name else "(top level)"] += 1
                continue
            found += 1
            selection.stripped += placed != name
            selection.members.append(Member(archive, name, placed))
        if not found and elsewhere:
            seen = ", ".join(f"{p} ({n:,})" for p, n in elsewhere.most_common(5))
            expected = ", ".join(layout.folders + tuple(s + f for s in layout.strip for f in layout.folders))
            raise LayoutError(f"{source}: {archive} has {sum(elsewhere.values()):,} image members but none under "
                              f"{expected}; found them under {seen}. Nothing was written: fix the archive's "
                              "layout or declare the prefix as a known alternative.")
    return selection


def check_count(source: str, found: int, upstream: int | None, tolerance: float, enforced: bool) -> dict[str, Any]:
    """Compare the images found with the upstream's published count; raise LayoutError when enforced
    and outside the tolerance. Returns the numbers for the report either way."""
    report = {"archive_images": found, "upstream_images": upstream, "count_tolerance": tolerance,
              "count_enforced": enforced and upstream is not None}
    if report["count_enforced"] and abs(found - upstream) > tolerance * upstream:
        raise LayoutError(f"{source}: the archives hold {found:,} images, the upstream publishes {upstream:,} "
                          f"(tolerance {tolerance:.1%}); nothing was written. A truncated download or a "
                          "different release of the archive?")
    return report
