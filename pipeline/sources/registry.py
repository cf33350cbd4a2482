"""Every upstream source this project ingests, with its real location and shape (see DESIGN.md)."""
from __future__ import annotations

from .coco_annotations import ARCHIVE as COCO_ANNOTATIONS
from .ocr_vqa import OcrVqaSource
from .remote import RemoteFile
from .zip_images import ZipImageSource

COCO = ZipImageSource(
    "coco", (RemoteFile("http://images.cocodataset.org/zips/train2017.zip", size=19_336_861_798),),
    folders=("train2017/",), shards=16, expected_images=118_287, extras=(COCO_ANNOTATIONS,))
GQA = ZipImageSource(
    "gqa", (RemoteFile("https://downloads.cs.stanford.edu/nlp/data/gqa/images.zip"),),
    folders=("images/",), shards=16, expected_images=148_854)
TEXTVQA = ZipImageSource(
    "textvqa", (RemoteFile("https://dl.fbaipublicfiles.com/textvqa/images/train_val_images.zip",
                           size=7_072_297_970),),
    folders=("train_images/",), shards=4, expected_images=25_119)
VG = ZipImageSource(
    "vg", (RemoteFile("https://cs.stanford.edu/people/rak248/VG_100K_2/images.zip"),
           RemoteFile("https://cs.stanford.edu/people/rak248/VG_100K_2/images2.zip")),
    folders=("VG_100K/", "VG_100K_2/"), shards=8, expected_images=108_077)
OCR_VQA = OcrVqaSource()

IMAGE_SOURCES: dict[str, ZipImageSource | OcrVqaSource] = {
    s.name: s for s in (COCO, GQA, OCR_VQA, TEXTVQA, VG)}
