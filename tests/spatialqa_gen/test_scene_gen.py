"""The photo-like scene generator: deterministic by seed, and covering what photographs have."""
from __future__ import annotations

import numpy as np

from spatialqa_gen.scene_gen import render_scene, scene_with_truth


def test_same_seed_same_scene() -> None:
    a, b, c = render_scene(7), render_scene(7), render_scene(8)
    assert np.array_equal(a.depth, b.depth) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.depth, c.depth)


def test_scenes_cover_hidden_cut_thin_raised_steep_and_floorless() -> None:
    seen = set()
    for seed in range(30):
        scene, truths = scene_with_truth(seed)
        r = scene.camera_to_world[:3, :3]
        pitch = np.degrees(np.arcsin(-r[2, 2]))
        roll = np.degrees(np.arctan2(r[2, 0], -r[2, 1]))
        seen |= {"steep"} if pitch >= 45 else set()
        seen |= {"rolled"} if abs(roll) >= 10 else set()
        seen |= {"little floor"} if scene.floor_fraction < 0.1 else set()
        for region in scene.regions:
            t = truths[region.key]
            assert (scene.labels == region.key).sum() >= 200
            size = t.box_max - t.box_min
            seen |= {"hidden"} if t.visible_fraction < 0.5 else set()
            seen |= {"cut"} if t.truncated else set()
            seen |= {"whole"} if t.fully_visible else set()
            seen |= {"thin"} if min(size[:2]) <= 0.15 else set()
            seen |= {"raised"} if t.box_min[2] > 0.3 else set()
    assert seen == {"steep", "rolled", "little floor", "hidden", "cut", "whole", "thin", "raised"}, seen


def test_truth_of_a_whole_object() -> None:
    scene, truths = scene_with_truth(5)
    whole = [truths[r.key] for r in scene.regions if truths[r.key].fully_visible]
    assert whole
    for t in whole:
        assert t.visible_fraction > 0.98
        assert np.all(t.surface.min(axis=0) >= t.box_min - 1e-3) and np.all(t.surface.max(axis=0) <= t.box_max + 1e-3)
