"""Plain data passed between the stages."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels of the image the depth map belongs to."""

    fx: float
    fy: float
    cx: float
    cy: float

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class Region:
    """One object in the image: its class, its display name in the text, a box (x0, y0, x1, y1) in pixels."""

    category: str
    box: tuple[float, float, float, float]
    name: str = ""
    key: int = -1  # index in the source's own object list (scene object label, annotation row)


@dataclass
class Perception:
    """Everything the CPU stages need for one image: metric z-depth (0 = unknown), intrinsics,
    and one boolean mask per region (same order as `regions`)."""

    depth: np.ndarray
    intrinsics: Intrinsics
    regions: list[Region]
    masks: np.ndarray  # (N, H, W) bool


def mask_bounds(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1), half-open, of a mask's pixels; None when it has none. Cheaper than np.nonzero
    over the whole image, and what lets later steps work on the crop."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
