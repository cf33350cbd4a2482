"""The canonical frame on rendered scenes: every sign as the viewer sees it, under pitch (up to 60°) and
roll, the floor found among walls and under a table, and no frame at all where the floor cannot be
verified."""
from __future__ import annotations

import numpy as np
import pytest

from spatialqa_gen.analysis import AnalysisConfig, all_turns, analyse
from spatialqa_gen.frame import FrameConfig, camera_pose_deg, estimate_frame
from spatialqa_gen.scene import Room, camera, make_object, render
from spatialqa_gen.scene_gen import render_scene
from spatialqa_gen.types import Perception


def designed_scene(pitch: float = 22.0, roll: float = 6.0, room: Room = Room(11.0)):
    k, pose = camera(640, 560.0, 1.6, pitch, roll, 480)
    objects = [
        make_object("red crate", "box", (0.6, 0.6, 0.5), 0.3, np.array([-1.1, 3.6, 0.0])),
        make_object("blue barrel", "cylinder", (0.5, 0.5, 0.9), 0.0, np.array([1.0, 3.6, 0.0])),
        make_object("green cabinet", "box", (0.7, 0.5, 0.8), 0.0, np.array([0.0, 6.5, 0.0])),
        make_object("white cube", "box", (0.3, 0.3, 0.3), 0.0, np.array([-1.1, 3.6, 0.5])),  # on the crate
    ]
    return render("designed", objects, k, pose, 640, 480, room)


def facts_by_name(scene, config: FrameConfig = FrameConfig()):
    p = Perception(scene.depth, scene.intrinsics, scene.regions, scene.masks())
    result = analyse(p, AnalysisConfig(frame=config))
    return result, {o.name: o for o in result.objects}


def true_up_in_camera(scene) -> np.ndarray:
    return scene.camera_to_world[:3, :3].T @ np.array([0.0, 0.0, 1.0])


def up_error_deg(frame, scene) -> float:
    return float(np.degrees(np.arccos(np.clip(frame.rotation[2] @ true_up_in_camera(scene), -1, 1))))


@pytest.mark.parametrize("pitch,roll", [(5.0, 0.0), (22.0, 6.0), (30.0, -10.0), (15.0, 15.0)])
def test_each_sign_as_the_viewer_sees_it(pitch: float, roll: float) -> None:
    scene = designed_scene(pitch, roll)
    assert {r.name for r in scene.regions} == {"red crate", "blue barrel", "green cabinet", "white cube"}
    result, o = facts_by_name(scene)
    assert result.frame.trusted
    assert o["red crate"].center[0] < o["blue barrel"].center[0]          # left is smaller x
    assert o["green cabinet"].center[1] > o["red crate"].center[1] + 2.0  # behind is larger y
    assert o["white cube"].center[2] > o["red crate"].center[2] + 0.3     # above is larger z
    # and the values themselves, against the true boxes (world frame = canonical frame)
    truth = {obj.name: (obj.box_min + obj.box_max) / 2 for obj in scene.objects}
    for name, fact in o.items():
        assert np.abs(fact.center[[0, 2]] - truth[name][[0, 2]]).max() < 0.06, name


@pytest.mark.parametrize("pitch", [45.0, 52.0, 60.0])
def test_floor_found_at_steep_pitch(pitch: float) -> None:
    """Past 45° the old frame gave up and assumed a level camera (heights off by 26-53%)."""
    k, pose = camera(640, 500.0, 1.6, pitch, 8.0, 480)
    objects = [make_object("red crate", "box", (0.5, 0.5, 0.6), 0.3, np.array([-0.4, 1.6, 0.0])),
               make_object("blue barrel", "cylinder", (0.4, 0.4, 0.8), 0.0, np.array([0.4, 1.7, 0.0]))]
    scene = render("steep", objects, k, pose, 640, 480)
    frame = estimate_frame(scene.depth, scene.intrinsics, scene.masks())
    assert frame.trusted and up_error_deg(frame, scene) < 1.0
    assert frame.camera_height == pytest.approx(1.6, abs=0.03)
    assert camera_pose_deg(frame.rotation[2])[0] == pytest.approx(pitch, abs=1.0)


def test_frame_is_right_handed_with_up_normal_to_the_ground() -> None:
    scene = designed_scene(25.0, -7.0)
    result, _ = facts_by_name(scene)
    r = result.frame.rotation
    assert np.allclose(r @ r.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(r) == pytest.approx(1.0)
    assert up_error_deg(result.frame, scene) < 0.5
    assert result.frame.camera_height == pytest.approx(1.6, abs=0.02)
    assert r[0] @ np.array([1.0, 0.0, 0.0]) > 0.9  # "right" is the image's right


def test_walls_at_an_angle_are_not_taken_for_the_ground() -> None:
    trusted = 0
    for seed in range(8):
        scene = render_scene(seed)
        frame = estimate_frame(scene.depth, scene.intrinsics, scene.masks())
        if frame.trusted:
            trusted += 1
            assert up_error_deg(frame, scene) < 1.5, seed
    assert trusted >= 6


def test_a_table_top_is_not_the_floor() -> None:
    """The largest horizontal plane is a big table; the floor shows around it and under it."""
    k, pose = camera(640, 520.0, 1.7, 35.0, 0.0, 480)
    table = make_object("table", "box", (2.4, 1.6, 0.75), 0.0, np.array([0.0, 2.6, 0.0]))
    scene = render("table", [table], k, pose, 640, 480, Room(6.0))
    no_masks = np.zeros((0, *scene.depth.shape), bool)  # the table is not boxed: background, like the floor
    frame = estimate_frame(scene.depth, scene.intrinsics, no_masks)
    assert frame.trusted and frame.camera_height == pytest.approx(1.7, abs=0.03)


def test_no_floor_no_labels() -> None:
    """Without a visible floor the frame is untrusted: the image is skipped, nothing is written."""
    scene = designed_scene(pitch=12.0, roll=0.0, room=Room(11.0, floor=False))
    result, _ = facts_by_name(scene)
    assert not result.frame.trusted and result.skip_reason == "untrusted_frame"
    assert result.objects == [] and all_turns(result, np.random.default_rng(0)) == []
