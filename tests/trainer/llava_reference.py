"""LLaVA-1.5's data path written out for the parity tests, independently of `trainer/`: read from
haotian-liu/LLaVA (llava/train/train.py, llava/mm_utils.py, llava/conversation.py,
llava/model/llava_arch.py) and transformers 4.31/4.37, re-implemented here.

- `SentencePieceLlama`: the slow `LlamaTokenizer` LLaVA loads (`use_fast=False`), i.e. SentencePiece
  itself on the LLaMA vocabulary, legacy or not; pad = unk (LLaVA sets it for vicuna_v1).
- `preprocess`: conv_vicuna_v1 + preprocess_multimodal + tokenizer_image_token + preprocess_v1
  (tokenizers >= 0.14), then the collator and prepare_inputs_labels_for_multimodal (padding dropped,
  the image expanded, cut at model_max_length).
- `llava_pixels`: expand2square with `int(c*255)` + CLIPImageProcessor.preprocess of transformers 4.31.
- `modality_length_grouped_indices`: LLaVATrainer's sampler, with one generator for its three draws."""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm
import torch
from gguf import GGUFReader
from PIL import Image
from sentencepiece import sentencepiece_model_pb2

IGNORE = -100
IMAGE_INDEX = -200  # LLaVA's IMAGE_TOKEN_INDEX: a placeholder id, replaced by the image features
VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the user's questions.")
MODEL_MAX_LENGTH = 2048
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@functools.lru_cache
def _gguf_vocabulary(gguf_path: Path) -> tuple[list[str], list[float], list[int]]:
    fields = GGUFReader(gguf_path).fields
    pieces = [bytes(fields["tokenizer.ggml.tokens"].parts[i]).decode() for i in fields["tokenizer.ggml.tokens"].data]
    scores = [float(fields["tokenizer.ggml.scores"].parts[i][0]) for i in fields["tokenizer.ggml.scores"].data]
    types = [int(fields["tokenizer.ggml.token_type"].parts[i][0]) for i in fields["tokenizer.ggml.token_type"].data]
    return pieces, scores, types


@functools.lru_cache
def _sentencepiece_model(gguf_path: Path, dummy_prefix: bool) -> spm.SentencePieceProcessor:
    """The LLaMA tokenizer.model rebuilt from the GGUF's pieces, scores and types (BPE, byte
    fallback, no normalisation, whitespace kept as it is: LLaMA's normalizer_spec)."""
    pieces, scores, types = _gguf_vocabulary(gguf_path)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.trainer_spec.model_type = sentencepiece_model_pb2.TrainerSpec.BPE
    proto.trainer_spec.vocab_size = len(pieces)
    proto.trainer_spec.byte_fallback = True
    proto.trainer_spec.unk_id, proto.trainer_spec.bos_id, proto.trainer_spec.eos_id = 0, 1, 2
    proto.trainer_spec.pad_id = -1
    proto.normalizer_spec.name = "identity"
    proto.normalizer_spec.add_dummy_prefix = dummy_prefix
    proto.normalizer_spec.remove_extra_whitespaces = False
    proto.normalizer_spec.escape_whitespaces = True
    for piece, score, kind in zip(pieces, scores, types):  # GGUF token types are SentencePiece's
        entry = proto.pieces.add()
        entry.piece, entry.score, entry.type = piece, score, kind
    return spm.SentencePieceProcessor(model_proto=proto.SerializeToString())


class SentencePieceLlama:
    """transformers' slow LlamaTokenizer: text split at the special tokens; with `legacy` every piece
    is encoded with SentencePiece's dummy prefix, without it only the first (text after a special
    token is not a new word), and "▁" in the text is read as a space."""

    SPECIAL = {"<unk>": 0, "<s>": 1, "</s>": 2}

    def __init__(self, gguf_path: Path, legacy: bool) -> None:
        self.legacy = legacy
        self.with_prefix = _sentencepiece_model(gguf_path, dummy_prefix=True)
        self.without_prefix = _sentencepiece_model(gguf_path, dummy_prefix=False)
        self.unk_token_id = self.pad_token_id = 0
        self.bos_token_id, self.eos_token_id = 1, 2

    def encode(self, text: str, truncate: bool = False) -> list[int]:
        if not self.legacy:
            text = text.replace("▁", " ")
        ids = [self.bos_token_id]
        for k, piece in enumerate(re.split("(<unk>|<s>|</s>)", text)):
            if piece in self.SPECIAL:
                ids.append(self.SPECIAL[piece])
            elif piece:
                model = self.with_prefix if self.legacy or k == 0 else self.without_prefix
                ids.extend(model.encode(piece))
        return ids[:MODEL_MAX_LENGTH] if truncate else ids


def vicuna_v1_prompt(conversations: list[dict[str, str]], has_image: bool) -> str:
    """preprocess_multimodal (image records only) then Conversation.get_prompt() for SeparatorStyle.TWO."""
    text = VICUNA_SYSTEM + " "
    for k, turn in enumerate(conversations):
        value = turn["value"]
        if has_image and "<image>" in value:
            value = ("<image>\n" + value.replace("<image>", "").strip()).strip()
        role = "USER" if turn["from"] == "human" else "ASSISTANT"
        text += f"{role}: {value}" + (" " if k % 2 == 0 else "</s>")
    return text


def tokenizer_image_token(prompt: str, tok: SentencePieceLlama) -> list[int]:
    pieces = [tok.encode(chunk) for chunk in prompt.split("<image>")]
    keep_bos = bool(pieces[0]) and pieces[0][0] == tok.bos_token_id
    out = [tok.bos_token_id] if keep_bos else []
    for n, piece in enumerate(pieces):
        if n > 0:
            out.append(IMAGE_INDEX)
        out += piece[1:] if keep_bos else piece
    return out


def preprocess(conversations: list[dict[str, str]], tok: SentencePieceLlama, has_image: bool,
               num_image_tokens: int) -> tuple[list[int], list[int]]:
    """What LLaVA's model trains on for one record: (ids, labels) after image expansion; -200 stands
    at each image position. All labels IGNORE where LLaVA reports a tokenization mismatch."""
    prompt = vicuna_v1_prompt(conversations, has_image)
    length = (lambda s: len(tokenizer_image_token(s, tok))) if has_image else (lambda s: len(tok.encode(s)))
    ids = torch.tensor(tokenizer_image_token(prompt, tok) if has_image else tok.encode(prompt, truncate=True))
    target = ids.clone()
    total_len = int(target.ne(tok.pad_token_id).sum())
    cur_len = 1
    target[:cur_len] = IGNORE
    for i, rou in enumerate(prompt.split("</s>")):
        if rou == "":
            break
        parts = rou.split(" ASSISTANT: ")
        if len(parts) != 2:
            break
        round_len = length(rou)
        instruction_len = length(parts[0] + " ASSISTANT: ") - 2
        if i != 0 and not tok.legacy:
            round_len, instruction_len = round_len - 1, instruction_len - 1
        target[cur_len:cur_len + instruction_len] = IGNORE
        cur_len += round_len
    target[cur_len:] = IGNORE
    if cur_len < MODEL_MAX_LENGTH and cur_len != total_len:
        target[:] = IGNORE
    # DataCollatorForSupervisedDataset: cut at model_max_length; attention where id != pad (= unk).
    ids, target = ids[:MODEL_MAX_LENGTH], target[:MODEL_MAX_LENGTH]
    keep = ids.ne(tok.pad_token_id)
    out_ids: list[int] = []
    out_labels: list[int] = []
    for token, label in zip(ids[keep].tolist(), target[keep].tolist()):
        n = num_image_tokens if token == IMAGE_INDEX else 1
        out_ids += [token] * n
        out_labels += [label if n == 1 else IGNORE] * n
    return out_ids[:MODEL_MAX_LENGTH], out_labels[:MODEL_MAX_LENGTH]


def llava_pixels(image: Image.Image, size: int = 336) -> np.ndarray:
    """LazySupervisedDataset with image_aspect_ratio 'pad': expand2square, then CLIPImageProcessor of
    transformers 4.31 (PIL bicubic to `size` on the short side, centre crop, x 1/255 in float64 cast to
    float32, (x - mean) / std in float32), channels first."""
    image = image.convert("RGB")
    w, h = image.size
    if w != h:
        canvas = Image.new(image.mode, (max(w, h), max(w, h)), tuple(int(x * 255) for x in CLIP_MEAN))
        canvas.paste(image, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
        image = canvas
    w, h = image.size
    short, long = min(w, h), max(w, h)
    new_short, new_long = size, int(size * long / short)
    resized = image.resize((new_short, new_long) if w <= h else (new_long, new_short), resample=Image.BICUBIC)
    arr = np.array(resized)
    top, left = (arr.shape[0] - size) // 2, (arr.shape[1] - size) // 2
    arr = arr[top:top + size, left:left + size]
    arr = (arr * (1 / 255)).astype(np.float32)
    arr = (arr - np.array(CLIP_MEAN, dtype=np.float32)) / np.array(CLIP_STD, dtype=np.float32)
    return arr.transpose(2, 0, 1)


@functools.lru_cache
def _bpe_model(gguf_path: Path) -> dict[str, Any]:
    from transformers import AutoTokenizer

    return json.loads(AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
                      .backend_tokenizer.to_str())["model"]


def _even_chunks(indices: list[int], lengths: list[int], n: int) -> list[list[int]]:
    if len(indices) % n != 0:
        return [indices[i::n] for i in range(n)]
    size = len(indices) // n
    chunks: list[list[int]] = [[] for _ in range(n)]
    sums: list[float] = [0.0] * n
    for index in indices:
        target = min(range(n), key=lambda c: (sums[c], c))
        chunks[target].append(index)
        sums[target] += lengths[index]
        if len(chunks[target]) == size:
            sums[target] = float("inf")
    return chunks


def _length_grouped(lengths: list[int], batch_size: int, world_size: int, generator: torch.Generator) -> list[int]:
    perm = torch.randperm(len(lengths), generator=generator)
    size = world_size * batch_size
    result: list[int] = []
    for megabatch in (perm[i:i + size].tolist() for i in range(0, len(lengths), size)):
        megabatch.sort(key=lambda i: lengths[i], reverse=True)
        for chunk in _even_chunks(megabatch, lengths, world_size):
            result += chunk
    return result


def modality_length_grouped_indices(lengths: list[int], batch_size: int, world_size: int,
                                    generator: torch.Generator) -> list[int]:
    if min(lengths) > 0 or max(lengths) < 0:
        return _length_grouped(lengths, batch_size, world_size, generator)
    mm = [(i, n) for i, n in enumerate(lengths) if n > 0]
    lang = [(i, -n) for i, n in enumerate(lengths) if n < 0]
    size = world_size * batch_size
    split = []
    for pairs in (mm, lang):
        order = _length_grouped([n for _, n in pairs], batch_size, world_size, generator)
        shuffled = [pairs[i][0] for i in order]
        split.append([shuffled[i:i + size] for i in range(0, len(shuffled), size)])
    rest = split[0][:-1] + split[1][:-1]
    rest = [rest[i] for i in torch.randperm(len(rest), generator=generator)]
    return [i for megabatch in rest + [sorted(split[0][-1] + split[1][-1])] for i in megabatch]


def transformers5_llama(gguf_path: Path, legacy: bool) -> Any:
    """The real vocabulary as transformers 5 loads a Vicuna/llava-hf tokenizer (LlamaTokenizer on the
    tokenizers backend, `legacy` as in its tokenizer_config)."""
    from transformers import LlamaTokenizer

    spec = _bpe_model(gguf_path)
    return LlamaTokenizer(vocab=spec["vocab"], merges=[tuple(m) for m in spec["merges"]], legacy=legacy,
                          add_bos_token=True, add_eos_token=False, model_max_length=MODEL_MAX_LENGTH)
