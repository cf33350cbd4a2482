"""The perception stage: per image, metric depth, intrinsics and one mask per region.

Two implementations behind one protocol: `ExactPerception` reads a scene pool's rendered truth (no
model), `ModelPerception` runs segment-anything (box prompts) and a depth model. `PerceptionSpec`
names which, with every model choice; `build_perception` decides device and dtype and loads the
weights (torch and the model code are imported only then)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PIL import Image

    from spatialqa_gen.generate import SceneTask
    from spatialqa_gen.models import DepthEstimator, SamMasker
    from spatialqa_gen.types import Perception

DEPTH_MODELS = ("depth_pro", "depth_anything")


class PerceptionStage(Protocol):
    def perceive(self, tasks: list["SceneTask"], images: list["Image.Image"]) -> list["Perception"]: ...


class ExactPerception:
    """Scene-pool images: the renderer's exact depth, intrinsics and instance masks."""

    def perceive(self, tasks: list["SceneTask"], images: list["Image.Image"]) -> list["Perception"]:
        out = []
        for task in tasks:
            if task.scene is None:
                raise ValueError(f"{task.image_id} is not a scene-pool image: exact inputs need one")
            out.append(task.scene.perception(task.regions))
        return out


class ModelPerception:
    """Real images: depth + focal from a depth model (batched), masks from SAM prompted with the boxes."""

    def __init__(self, masker: "SamMasker", depth: "DepthEstimator") -> None:
        self.masker, self.depth = masker, depth

    def perceive(self, tasks: list["SceneTask"], images: list["Image.Image"]) -> list["Perception"]:
        import numpy as np

        from spatialqa_gen.types import Perception

        depths = self.depth.estimate(images)
        out = []
        for task, image, (depth, k) in zip(tasks, images, depths):
            masks = self.masker.masks(np.asarray(image), [r.box for r in task.regions])
            out.append(Perception(depth, k, task.regions, masks))
        return out


@dataclass(frozen=True)
class PerceptionSpec:
    """Which perception stage to run. `exact` is the scene pool's truth; otherwise SAM + a depth model."""

    exact: bool = field(default=False, metadata={"help": "the scene pool's rendered truth instead of models"})
    sam_checkpoint: str = field(default="", metadata={"help": "segment-anything weights, e.g. sam_vit_h_4b8939.pth"})
    sam_model_type: str = "vit_h"
    depth_model: str = field(default="depth_pro", metadata={"help": " | ".join(DEPTH_MODELS)})
    depth_model_id: str = "apple/DepthPro-hf"
    depth_revision: str = field(default="", metadata={"help": "hub revision of the depth model (a commit pins it)"})
    fov_deg: float = field(default=60.0, metadata={"help": "depth_anything without an EXIF focal length"})
    device: str = field(default="auto", metadata={"help": "auto: cuda when available"})
    dtype: str = field(default="bfloat16", metadata={"help": "autocast dtype on GPU (float32 on CPU)"})
    batch_size: int = field(default=8, metadata={"help": "images per depth-model batch (SAM: all boxes of an image)"})

    def identity(self) -> dict[str, object]:
        """What changes the outputs (the batch size does not)."""
        return {k: v for k, v in asdict(self).items() if k != "batch_size"}

    def check(self) -> None:
        """Fail before any work when the spec cannot be built."""
        if self.exact:
            return
        if not self.sam_checkpoint:
            raise ValueError("model perception needs `sam_checkpoint` (or a scene pool for exact inputs)")
        if self.depth_model not in DEPTH_MODELS:
            raise ValueError(f"unknown depth_model {self.depth_model!r} ({' | '.join(DEPTH_MODELS)})")


def build_perception(spec: PerceptionSpec) -> PerceptionStage:
    """Load the stage the spec names (model weights are loaded here, not before)."""
    spec.check()
    if spec.exact:
        return ExactPerception()
    import torch

    from spatialqa_gen.models import DepthAnythingEstimator, DepthProEstimator, SamMasker, parse_dtype

    device = ("cuda" if torch.cuda.is_available() else "cpu") if spec.device == "auto" else spec.device
    dtype = parse_dtype(spec.dtype) if device.startswith("cuda") else None
    masker = SamMasker.from_checkpoint(spec.sam_checkpoint, spec.sam_model_type, device, dtype)
    revision = spec.depth_revision or None
    if spec.depth_model == "depth_pro":
        depth = DepthProEstimator.from_pretrained(spec.depth_model_id, revision, device, dtype, spec.batch_size)
    else:
        depth = DepthAnythingEstimator.from_pretrained(spec.depth_model_id, revision, spec.fov_deg, device, dtype,
                                                       spec.batch_size)
    return ModelPerception(masker, depth)
