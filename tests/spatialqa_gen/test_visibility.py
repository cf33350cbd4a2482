"""Visibility per object: which sides of its outline are hidden by something in front or cut by the
border, robust to depth noise and to masks off by two pixels; the floor hides nothing."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from spatialqa_gen.frame import estimate_frame
from spatialqa_gen.scene import camera, make_object, render
from spatialqa_gen.scene_gen import render_scene
from spatialqa_gen.truth import object_truths
from spatialqa_gen.visibility import SIDES, visibility


def seen(scene, name: str, depth: np.ndarray | None = None, masks: np.ndarray | None = None):
    depth = scene.depth if depth is None else depth
    masks = scene.masks() if masks is None else masks
    frame = estimate_frame(depth, scene.intrinsics, masks)
    i = [r.name for r in scene.regions].index(name)
    others = masks.sum(axis=0) > masks[i]
    return visibility(depth, masks[i], scene.intrinsics, frame, others=others)


def hidden_sides(v, limit: float = 0.1) -> set[str]:
    return {s for s, share in zip(SIDES, v.sides) if share > limit}


def test_occluder_in_front_left_hides_the_left_and_lower_sides() -> None:
    k, pose = camera(640, 560.0, 1.6, 20.0, 0.0, 480)
    scene = render("occ", [make_object("crate", "box", (0.8, 0.5, 0.7), 0.0, np.array([-0.6, 2.6, 0.0])),
                           make_object("cabinet", "box", (1.0, 0.5, 0.6), 0.0, np.array([0.0, 4.0, 0.0])),
                           make_object("stool", "box", (0.4, 0.4, 0.4), 0.0, np.array([1.6, 4.0, 0.0]))],
                   k, pose, 640, 480)
    assert hidden_sides(seen(scene, "cabinet")) == {"left", "bottom"}  # the crate covers its lower left
    assert hidden_sides(seen(scene, "crate")) == set() and hidden_sides(seen(scene, "stool")) == set()


def test_border_cut_is_truncation() -> None:
    k, pose = camera(640, 560.0, 1.6, 15.0, 0.0, 480)
    scene = render("cut", [make_object("crate", "box", (0.8, 0.5, 0.7), 0.0, np.array([2.0, 3.5, 0.0])),
                           make_object("stool", "box", (0.4, 0.4, 0.4), 0.0, np.array([0.0, 3.5, 0.0]))],
                   k, pose, 640, 480)
    v = seen(scene, "crate")
    assert hidden_sides(v) == {"right"} and v.truncated > 0 and v.occluded == 0


def test_floor_and_supports_hide_nothing_under_noise_and_mask_errors() -> None:
    """Whole objects stay whole with 1% depth noise and masks grown or shrunk by two pixels."""
    rng = np.random.default_rng(0)
    checked = 0
    for seed in range(1_000_004, 1_000_012):
        scene = render_scene(seed)
        truths = object_truths(scene)
        depth = (scene.depth * (1 + rng.normal(0, 0.01, scene.depth.shape))).astype(np.float32)
        masks = np.stack([ndimage.binary_dilation(m, iterations=2) if rng.random() < 0.5 else
                          ndimage.binary_erosion(m, iterations=2, border_value=1) for m in scene.masks()])
        for r in scene.regions:
            if truths[r.key].fully_visible:
                checked += 1
                assert max(seen(scene, r.name, depth, masks).sides) <= 0.1, (seed, r.name)
    assert checked >= 8


def test_axes_follow_the_image_direction_of_each_axis() -> None:
    """Looking down steeply, an object near the image's side has its vertical running sideways."""
    from spatialqa_gen.analysis import analyse
    from spatialqa_gen.types import Perception

    k, pose = camera(640, 500.0, 1.6, 55.0, 0.0, 480)
    scene = render("steep", [make_object("pole", "cylinder", (0.1, 0.1, 1.2), 0.0, np.array([-1.3, 1.6, 0.0])),
                             make_object("crate", "box", (0.5, 0.5, 0.5), 0.0, np.array([0.3, 1.7, 0.0]))],
                   k, pose, 640, 480)
    facts = analyse(Perception(scene.depth, scene.intrinsics, scene.regions, scene.masks()))
    pole = next(o for o in facts.objects if o.name == "pole")
    assert pole.visibility.truncated > 0
    assert pole.visibility.hidden("z") > 0.1  # its top leaves the picture: no height for it
