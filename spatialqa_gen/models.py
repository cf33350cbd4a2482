"""The GPU stages: box-prompted masks (segment-anything), metric depth + focal length (transformers),
and an open-vocabulary detector for images without annotations. Model ids, revisions and checkpoint
paths are configuration; every class also takes an already built model, which is how the tests run
the same code on tiny randomly initialised models."""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Iterator, Protocol

import numpy as np
import torch
from PIL import Image

from spatialqa_gen.types import Intrinsics, Region


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    # bf16 through autocast, not by casting weights: SAM's preprocessing and the processors feed fp32
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def parse_dtype(name: str) -> torch.dtype | None:
    return {"": None, "float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[name]


class SamMasker:
    """segment-anything's SamPredictor: one image embedding, then every box prompt in one batch."""

    def __init__(self, sam: torch.nn.Module, device: str = "cpu", dtype: torch.dtype | None = None) -> None:
        from segment_anything import SamPredictor

        self.device = torch.device(device)
        self.dtype = dtype
        self.predictor = SamPredictor(sam.to(self.device).eval())

    @classmethod
    def from_checkpoint(cls, checkpoint: str, model_type: str = "vit_h", device: str = "cpu",
                        dtype: torch.dtype | None = None) -> "SamMasker":
        from segment_anything import sam_model_registry

        sam = sam_model_registry[model_type](checkpoint=None)
        # map_location: the official checkpoints may hold CUDA tensors; build_sam's own load has none
        sam.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
        return cls(sam, device, dtype)

    @torch.inference_mode()
    def masks(self, rgb: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> np.ndarray:
        """(N, H, W) bool, one mask per xyxy box, in box order."""
        h, w = rgb.shape[:2]
        if not boxes:
            return np.zeros((0, h, w), bool)
        with _autocast(self.device, self.dtype):
            self.predictor.set_image(rgb, image_format="RGB")
            prompt = torch.as_tensor(np.asarray(boxes, np.float64), device=self.device)
            prompt = self.predictor.transform.apply_boxes_torch(prompt, (h, w))
            masks, _, _ = self.predictor.predict_torch(None, None, boxes=prompt, multimask_output=False)
        self.predictor.reset_image()
        return masks[:, 0].cpu().numpy().astype(bool)


class DepthEstimator(Protocol):
    def estimate(self, images: list[Image.Image]) -> list[tuple[np.ndarray, Intrinsics]]:
        """Metric z-depth (H, W) in metres and pinhole intrinsics, per image, at the image's size."""


def _batched(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class _TransformersDepth:
    """The shared batched inference of transformers depth models; subclasses say where f comes from."""

    model: torch.nn.Module
    processor: Any
    device: torch.device
    dtype: torch.dtype | None
    batch_size: int

    def _focal(self, image: Image.Image, result: dict) -> float:
        raise NotImplementedError

    def _check(self, outputs) -> None:
        """Validate/convert model outputs before post-processing (default: nothing to do)."""

    @torch.inference_mode()
    def estimate(self, images: list[Image.Image]) -> list[tuple[np.ndarray, Intrinsics]]:
        out = []
        for batch in _batched(images, self.batch_size):
            inputs = self.processor(images=batch, return_tensors="pt").to(self.device)
            with _autocast(self.device, self.dtype):
                outputs = self.model(**inputs)
            outputs.predicted_depth = outputs.predicted_depth.float()
            self._check(outputs)
            sizes = [(im.height, im.width) for im in batch]
            for im, res in zip(batch, self.processor.post_process_depth_estimation(outputs, target_sizes=sizes)):
                f = self._focal(im, res)
                out.append((res["predicted_depth"].cpu().numpy().astype(np.float32),
                            Intrinsics(f, f, im.width / 2, im.height / 2)))
        return out


class DepthProEstimator(_TransformersDepth):
    """Apple Depth Pro: metric depth and the field of view (hence the focal length) from one image."""

    def __init__(self, model: torch.nn.Module, processor, device: str = "cpu", dtype: torch.dtype | None = None,
                 batch_size: int = 4) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.processor, self.dtype, self.batch_size = processor, dtype, batch_size

    @classmethod
    def from_pretrained(cls, model_id: str = "apple/DepthPro-hf", revision: str | None = None, device: str = "cpu",
                        dtype: torch.dtype | None = None, batch_size: int = 4) -> "DepthProEstimator":
        from transformers import DepthProForDepthEstimation, DepthProImageProcessor

        processor = DepthProImageProcessor.from_pretrained(model_id, revision=revision)
        model = DepthProForDepthEstimation.from_pretrained(model_id, revision=revision, use_fov_model=True)
        return cls(model, processor, device, dtype, batch_size)

    def _focal(self, image: Image.Image, result: dict) -> float:
        return float(result["focal_length"])

    def _check(self, outputs) -> None:
        if outputs.field_of_view is None:
            raise ValueError("Depth Pro was loaded without its FOV head (use_fov_model=True): no focal length")
        outputs.field_of_view = outputs.field_of_view.float()


def focal_from_exif(image: Image.Image) -> float | None:
    """Focal length in pixels from EXIF FocalLengthIn35mmFilm (36 mm across the long side), if present."""
    exif = image.getexif().get_ifd(0x8769)  # Exif sub-IFD
    f35 = exif.get(0xA405)
    return float(f35) / 36.0 * max(image.size) if f35 else None


class DepthAnythingEstimator(_TransformersDepth):
    """Depth Anything V2 metric: depth in metres; the focal length comes from EXIF or a configured
    horizontal field of view (the model does not estimate it)."""

    def __init__(self, model: torch.nn.Module, processor, fov_deg: float = 60.0, device: str = "cpu",
                 dtype: torch.dtype | None = None, batch_size: int = 4) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.processor, self.fov_deg, self.dtype, self.batch_size = processor, fov_deg, dtype, batch_size

    @classmethod
    def from_pretrained(cls, model_id: str = "depth-anything/Depth-Anything-V2-Metric-Indoor-Large-hf",
                        revision: str | None = None, fov_deg: float = 60.0, device: str = "cpu",
                        dtype: torch.dtype | None = None, batch_size: int = 4) -> "DepthAnythingEstimator":
        from transformers import AutoImageProcessor, DepthAnythingForDepthEstimation

        processor = AutoImageProcessor.from_pretrained(model_id, revision=revision)
        model = DepthAnythingForDepthEstimation.from_pretrained(model_id, revision=revision)
        if model.config.depth_estimation_type != "metric":
            raise ValueError(f"{model_id} predicts relative depth; a metric checkpoint is needed")
        return cls(model, processor, fov_deg, device, dtype, batch_size)

    def _focal(self, image: Image.Image, result: dict) -> float:
        return focal_from_exif(image) or 0.5 * image.width / math.tan(math.radians(self.fov_deg) / 2)


@dataclass
class OwlDetector:
    """OWLv2 open-vocabulary detection for images without annotations: boxes for the given class names."""

    model: torch.nn.Module
    processor: object
    labels: list[str]
    threshold: float = 0.3
    device: str = "cpu"
    min_side: float = 2.0  # pixels

    @classmethod
    def from_pretrained(cls, labels: list[str], model_id: str = "google/owlv2-base-patch16-ensemble",
                        revision: str | None = None, threshold: float = 0.3, device: str = "cpu") -> "OwlDetector":
        from transformers import Owlv2ForObjectDetection, Owlv2Processor

        processor = Owlv2Processor.from_pretrained(model_id, revision=revision)
        model = Owlv2ForObjectDetection.from_pretrained(model_id, revision=revision).to(device).eval()
        return cls(model, processor, labels, threshold, device)

    @torch.inference_mode()
    def regions(self, image: Image.Image) -> list[Region]:
        inputs = self.processor(text=[self.labels], images=image, return_tensors="pt").to(self.device)
        outputs = self.model(**inputs)
        # OWLv2 pads to a square: boxes come back in the padded square's coordinates
        side = max(image.size)
        res = self.processor.post_process_grounded_object_detection(
            outputs, threshold=self.threshold, target_sizes=[(side, side)], text_labels=[self.labels])[0]
        out = []
        for i, (box, label) in enumerate(zip(res["boxes"].tolist(), res["text_labels"])):
            x0, y0, x1, y1 = max(0.0, box[0]), max(0.0, box[1]), min(float(image.width), box[2]), \
                min(float(image.height), box[3])
            if x1 - x0 >= self.min_side and y1 - y0 >= self.min_side:  # degenerate or outside the picture
                out.append(Region(label, (x0, y0, x1, y1), key=i))
        return out
