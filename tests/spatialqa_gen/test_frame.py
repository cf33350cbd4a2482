"""The canonical frame on rendered scenes: every sign as the viewer sees it, under pitch and roll."""
from __future__ import annotations

import numpy as np
import pytest

from spatialqa_gen.analysis import analyse
from spatialqa_gen.frame import FrameConfig, estimate_frame
from spatialqa_gen.scene import camera, make_object, render, render_scene
from spatialqa_gen.types import Perception


def designed_scene(pitch: float = 22.0, roll: float = 6.0, floor: bool = True, wall: float | None = 11.0):
    k, pose = camera(640, 560.0, 1.6, pitch, roll, 480)
    objects = [
        make_object("red crate", "box", (0.6, 0.6, 0.5), 0.3, np.array([-1.1, 3.6, 0.0])),
        make_object("blue barrel", "cylinder", (0.5, 0.5, 0.9), 0.0, np.array([1.0, 3.6, 0.0])),
        make_object("green cabinet", "box", (0.7, 0.5, 0.8), 0.0, np.array([0.0, 6.5, 0.0])),
        make_object("white cube", "box", (0.3, 0.3, 0.3), 0.0, np.array([-1.1, 3.6, 0.5])),  # on the crate
    ]
    return render("designed", objects, k, pose, 640, 480, wall, floor=floor, min_visible=0.5)


def facts_by_name(scene, config: FrameConfig = FrameConfig()):
    from spatialqa_gen.analysis import AnalysisConfig
    p = Perception(scene.depth, scene.intrinsics, scene.regions, scene.masks())
    result = analyse(p, AnalysisConfig(frame=config))
    return result, {o.name: o for o in result.objects}


def true_up_in_camera(scene) -> np.ndarray:
    return scene.camera_to_world[:3, :3].T @ np.array([0.0, 0.0, 1.0])


@pytest.mark.parametrize("pitch,roll", [(5.0, 0.0), (22.0, 6.0), (30.0, -10.0), (15.0, 10.0)])
def test_each_sign_as_the_viewer_sees_it(pitch: float, roll: float) -> None:
    scene = designed_scene(pitch, roll)
    assert {r.name for r in scene.regions} == {"red crate", "blue barrel", "green cabinet", "white cube"}
    result, o = facts_by_name(scene)
    assert result.frame.source == "ransac"
    assert o["red crate"].center[0] < o["blue barrel"].center[0]          # left is smaller x
    assert o["green cabinet"].center[1] > o["red crate"].center[1] + 2.0  # behind is larger y
    assert o["white cube"].center[2] > o["red crate"].center[2] + 0.3     # above is larger z
    # and the values themselves, against the true boxes (world frame = canonical frame)
    truth = {obj.name: (obj.box_min + obj.box_max) / 2 for obj in scene.objects}
    for name, fact in o.items():
        assert np.abs(fact.center[[0, 2]] - truth[name][[0, 2]]).max() < 0.06, name


def test_frame_is_right_handed_with_up_normal_to_the_ground() -> None:
    scene = designed_scene(25.0, -7.0)
    result, _ = facts_by_name(scene)
    r = result.frame.rotation
    assert np.allclose(r @ r.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(r) == pytest.approx(1.0)
    assert np.degrees(np.arccos(np.clip(r[2] @ true_up_in_camera(scene), -1, 1))) < 0.5
    assert result.frame.camera_height == pytest.approx(1.6, abs=0.02)
    assert r[0] @ np.array([1.0, 0.0, 0.0]) > 0.9  # "right" is the image's right


def test_walls_are_not_taken_for_the_ground() -> None:
    for seed in range(8):
        scene = render_scene(seed)
        frame = estimate_frame(scene.depth, scene.intrinsics, scene.masks())
        assert frame.source == "ransac", seed
        angle = np.degrees(np.arccos(np.clip(frame.rotation[2] @ true_up_in_camera(scene), -1, 1)))
        assert angle < 1.0, (seed, angle)


def test_gravity_fallback_without_a_visible_ground() -> None:
    scene = designed_scene(pitch=12.0, roll=0.0, floor=False, wall=None)
    result, o = facts_by_name(scene, FrameConfig(fallback_pitch_deg=12.0))
    assert result.frame.source == "gravity" and result.frame.camera_height is None
    assert np.degrees(np.arccos(np.clip(result.frame.rotation[2] @ true_up_in_camera(scene), -1, 1))) < 1e-6
    assert o["red crate"].center[0] < o["blue barrel"].center[0]
    assert o["white cube"].center[2] > o["red crate"].center[2]
