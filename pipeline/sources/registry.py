"""Every upstream source this project ingests, in one registry (see docs/sources.md and
docs/adding_a_source.md). The Dagster assets, the CLI's source list, the recipe check and the overlap
report are all derived from `SOURCES`; adding a source is one entry here plus its sample data."""
from __future__ import annotations

from typing import Mapping

from evaluation.sources import BENCHMARK_SOURCES

from .base import Source
from .cauldron import cauldron_config
from .coco_annotations import ARCHIVE as COCO_ANNOTATIONS
from .llava_665k import Llava665kSource
from .ocr_vqa import OcrVqaSource
from .openspaces import OPENSPACES
from .reference_850k import Reference850kSource
from .spatialqa_hub import SpatialQaHubSource
from .remote import RemoteFile
from .zip_images import ZipImageSource

COCO = ZipImageSource(
    "coco", (RemoteFile("http://images.cocodataset.org/zips/train2017.zip", size=19_336_861_798),),
    folders=("train2017/",), shards=16, upstream_images=118_287, extras=(COCO_ANNOTATIONS,))
GQA = ZipImageSource(
    "gqa", (RemoteFile("https://downloads.cs.stanford.edu/nlp/data/gqa/images.zip"),),
    folders=("images/",), shards=16, upstream_images=148_854)
TEXTVQA = ZipImageSource(
    "textvqa", (RemoteFile("https://dl.fbaipublicfiles.com/textvqa/images/train_val_images.zip",
                           size=7_072_297_970),),
    folders=("train_images/",), strip_prefixes=("train_val_images/",), shards=4, upstream_images=25_119)
VG = ZipImageSource(
    "vg", (RemoteFile("https://cs.stanford.edu/people/rak248/VG_100K_2/images.zip"),
           RemoteFile("https://cs.stanford.edu/people/rak248/VG_100K_2/images2.zip")),
    folders=("VG_100K/", "VG_100K_2/"), shards=8, upstream_images=108_249)  # 64,346 + 43,903
OCR_VQA = OcrVqaSource()
IMAGE_SOURCES = (COCO, GQA, OCR_VQA, TEXTVQA, VG)

# the_cauldron configs (upstream row counts; one row per image, its QA pairs in `texts`). VQAv2 and
# TextCaps carry COCO and TextVQA pictures, so their records may repeat the 665K's.
VISUALMRC = cauldron_config("visualmrc", 3_027)
TEXTCAPS = cauldron_config("textcaps", 21_953, overlaps="llava_665k")
CLEVR = cauldron_config("clevr", 70_000)
VQAV2 = cauldron_config("vqav2", 82_772, overlaps="llava_665k")

LLAVA_665K = Llava665kSource(IMAGE_SOURCES)

# Spatial-LLaVA's own published artifacts: its 14K SpatialQA with images (kept apart from the
# generator's `spatialqa/images/`), and its final mixture's annotation, reconciled against everything
# the sources above write.
SPATIALQA_HUB = SpatialQaHubSource()
_WITH_IMAGES = (*IMAGE_SOURCES, VQAV2, TEXTCAPS, VISUALMRC, CLEVR, OPENSPACES, SPATIALQA_HUB)
REFERENCE_850K = Reference850kSource(needs=tuple(s.name for s in _WITH_IMAGES))

SOURCES: dict[str, Source] = {s.name: s for s in (
    *IMAGE_SOURCES, LLAVA_665K, VQAV2, TEXTCAPS, VISUALMRC, CLEVR, OPENSPACES, SPATIALQA_HUB, REFERENCE_850K,
    *BENCHMARK_SOURCES)}  # benchmarks write eval tables, no conversation tables: never in a mixture

# Conversation tables produced outside the source registry (by the spatial QA generator), so that a
# recipe naming them is recognised.
GENERATED_TABLES: dict[str, Mapping[str, str]] = {"spatialqa": {"train": "conversations.parquet"}}


def component_tables() -> dict[str, set[str]]:
    """Every conversation table a recipe may name: source -> its table files."""
    known = {name: set(s.tables.values()) for name, s in SOURCES.items() if s.tables}
    return known | {name: set(t.values()) for name, t in GENERATED_TABLES.items()}


def overlap_sources(reference: str) -> tuple[str, ...]:
    """The sources whose records may repeat `reference`'s (what the overlap report measures)."""
    return tuple(name for name, s in SOURCES.items() if s.overlaps == reference)
