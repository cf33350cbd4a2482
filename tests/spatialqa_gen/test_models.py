"""The model stages on tiny randomly initialised models built from configs (no downloads): the real
segment-anything and transformers code paths, end to end through a shard."""
from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from pipeline.layout import Layout
from spatialqa_gen.check import check_shard
from spatialqa_gen.generate import GenerateConfig, part_paths, plan, run_shard, scene_pool_tasks, shard_step
from spatialqa_gen.perception import ModelPerception, PerceptionSpec
from spatialqa_gen.scene_pool import scene_pool_index
from spatialqa_gen.models import DepthAnythingEstimator, DepthProEstimator, SamMasker, focal_from_exif
from spatialqa_gen.scene_pool import write_scene_pool


def tiny_sam() -> torch.nn.Module:
    """SAM from segment_anything's own building blocks, with a 2-block ViT on 64 px inputs."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(0)
    dim, size, patch = 32, 64, 16
    return Sam(
        image_encoder=ImageEncoderViT(img_size=size, patch_size=patch, embed_dim=dim, depth=2, num_heads=2,
                                      mlp_ratio=2.0, out_chans=dim, qkv_bias=True,
                                      norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True,
                                      window_size=2, global_attn_indexes=(1,)),
        prompt_encoder=PromptEncoder(embed_dim=dim, image_embedding_size=(size // patch, size // patch),
                                     input_image_size=(size, size), mask_in_chans=4),
        mask_decoder=MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(
            depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2), transformer_dim=dim, iou_head_depth=1,
            iou_head_hidden_dim=16),
    )


def tiny_depth_pro() -> DepthProEstimator:
    from transformers import DepthProConfig, DepthProForDepthEstimation, DepthProImageProcessor

    torch.manual_seed(0)
    vit = dict(model_type="dinov2", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
               intermediate_size=64, patch_size=8)
    config = DepthProConfig(patch_size=32, fusion_hidden_size=16, intermediate_hook_ids=[1, 0],
                            intermediate_feature_dims=[16, 16], scaled_images_ratios=[0.5, 1],
                            scaled_images_overlap_ratios=[0.0, 0.25], scaled_images_feature_dims=[32, 16],
                            use_fov_model=True, num_fov_head_layers=1, image_model_config=dict(vit),
                            patch_model_config=dict(vit), fov_model_config=dict(vit))
    return DepthProEstimator(DepthProForDepthEstimation(config), DepthProImageProcessor(size={"height": 64, "width": 64}),
                             batch_size=2)


def tiny_depth_anything(fov: float = 60.0) -> DepthAnythingEstimator:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    torch.manual_seed(0)
    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            patch_size=8, image_size=32, out_features=["stage1", "stage2"], reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, fusion_hidden_size=16, neck_hidden_sizes=[16, 32],
                                 reassemble_factors=[2, 1], head_hidden_size=8, patch_size=8, reassemble_hidden_size=32,
                                 depth_estimation_type="metric", max_depth=20)
    processor = DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=True, ensure_multiple_of=8)
    return DepthAnythingEstimator(DepthAnythingForDepthEstimation(config), processor, fov_deg=fov)


def test_sam_masks_one_per_box_batched() -> None:
    masker = SamMasker(tiny_sam())
    rgb = (np.random.default_rng(0).random((48, 80, 3)) * 255).astype(np.uint8)
    masks = masker.masks(rgb, [(2, 3, 30, 40), (40, 5, 78, 47), (10, 10, 20, 20)])
    assert masks.shape == (3, 48, 80) and masks.dtype == bool
    assert masker.masks(rgb, []).shape == (0, 48, 80)


def test_depth_pro_gives_metric_depth_and_focal_at_image_size(tmp_path: Path) -> None:
    est = tiny_depth_pro()
    images = [Image.new("RGB", (80, 60), (i * 40, 90, 120)) for i in range(3)]
    out = est.estimate(images)
    assert len(out) == 3
    for depth, k in out:
        assert depth.shape == (60, 80) and np.isfinite(depth).all() and (depth > 0).all()
        assert np.isfinite(k.fx) and (k.cx, k.cy) == (40.0, 30.0)  # random FOV head: any sign
    # the configured-checkpoint path: save and load through from_pretrained, offline
    est.model.save_pretrained(tmp_path / "dp")
    est.processor.save_pretrained(tmp_path / "dp")
    loaded = DepthProEstimator.from_pretrained(str(tmp_path / "dp"))
    assert np.allclose(loaded.estimate(images[:1])[0][0], out[0][0], rtol=1e-4)


def test_depth_anything_focal_from_fov_or_exif(tmp_path: Path) -> None:
    est = tiny_depth_anything(fov=90.0)
    image = Image.new("RGB", (64, 48), (10, 200, 30))
    depth, k = est.estimate([image])[0]
    assert depth.shape == (48, 64) and k.fx == pytest.approx(32.0)  # 0.5 * 64 / tan(45 deg)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 72  # FocalLengthIn35mmFilm: 72 mm = 2 x the 36 mm frame width
    image.save(tmp_path / "e.jpg", exif=exif)
    with Image.open(tmp_path / "e.jpg") as im:
        assert focal_from_exif(im) == pytest.approx(128.0)
        assert est.estimate([im])[0][1].fx == pytest.approx(128.0)
    est.model.save_pretrained(tmp_path / "da")
    est.processor.save_pretrained(tmp_path / "da")
    assert DepthAnythingEstimator.from_pretrained(str(tmp_path / "da")).estimate([image])[0][0].shape == (48, 64)


@pytest.mark.parametrize("depth", [tiny_depth_pro, tiny_depth_anything])
def test_shard_end_to_end_with_tiny_models(tmp_path: Path, depth) -> None:
    write_scene_pool(tmp_path / "pool", 4, seed=40)
    config = GenerateConfig(target_pairs=16, pairs_per_image=4, num_shards=1, batch_size=2)
    # as real images: the scene's exact depth and masks are dropped, the models provide them
    tasks = [replace(t, scene=None) for t in plan(scene_pool_tasks(tmp_path / "pool"), config)["000"]]
    layout = Layout.at(tmp_path / "data", tmp_path / "tables", tmp_path / "cache")
    step = shard_step(layout, "000", tasks, config, PerceptionSpec(sam_checkpoint="tiny"),
                      [scene_pool_index(tmp_path / "pool")])
    report = run_shard(tasks, lambda: ModelPerception(SamMasker(tiny_sam()), depth()), layout, step, config)
    # random weights give arbitrary masks and depth: every image is either a valid record or a counted rejection
    assert len(tasks) >= 3 and report.records + sum(report.rejections.values()) == len(tasks)
    # random depth shows no floor a camera could stand over: no label is written from such a frame
    assert report.rejections["untrusted_frame"] > 0
    conv, facts = part_paths(layout, "000")
    assert pq.read_metadata(conv).num_rows == report.records
    assert check_shard(conv, facts, layout.data_root).ok


def test_owlv2_detector_regions_from_a_tiny_model(tmp_path: Path) -> None:
    import json
    import string

    from transformers import CLIPTokenizer, Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    from spatialqa_gen.models import OwlDetector

    # a character-level CLIP BPE vocabulary (OWL treats a query whose first id is 0 as padding)
    tokens = ["!", "<|startoftext|>", "<|endoftext|>", *string.ascii_lowercase,
              *(c + "</w>" for c in string.ascii_lowercase)]
    (tmp_path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    torch.manual_seed(0)
    config = Owlv2Config(
        text_config=dict(vocab_size=len(tokens), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=16, bos_token_id=1, eos_token_id=2,
                         pad_token_id=2),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=64, patch_size=16), projection_dim=32)
    processor = Owlv2Processor(image_processor=Owlv2ImageProcessor(size={"height": 64, "width": 64}),
                               tokenizer=tokenizer)
    detector = OwlDetector(Owlv2ForObjectDetection(config), processor, ["chair", "table"], threshold=0.0, min_side=0.0)
    image = Image.new("RGB", (80, 60), (120, 40, 30))
    regions = detector.regions(image)
    assert len(regions) == 16  # threshold 0: one box per 16 px patch of the 64 px input
    for r in regions:
        assert r.category in ("chair", "table")
        x0, y0, x1, y1 = r.box
        assert 0 <= x0 <= x1 <= 80 and 0 <= y0 <= y1 <= 60
