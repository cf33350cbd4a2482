"""The `tiny` preset: a randomly initialised Llava and a tokenizer built here from a fixed corpus.

Same architecture classes as LLaVA-1.5-7B (Llama text model, CLIP vision tower, 2-layer GELU
projector), scaled down so the embedded sample trains in seconds on CPU with nothing downloaded."""
from __future__ import annotations

import string

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import CLIPImageProcessorPil, CLIPVisionConfig, LlamaConfig, PreTrainedTokenizerFast

from trainer.conversation import ROLES, SYSTEM

# Enough text to learn merges for the prompt scaffolding and common English; every printable ASCII
# character is in the alphabet, so any ASCII text tokenizes (other characters map to <unk>).
_CORPUS = [SYSTEM, *(f"{role}: " for role in ROLES.values()),
           "What is in the image? Describe the scene in detail. How far is the red cube from the "
           "blue sphere? It is about 1.5 meters away. Is the chair to the left of the table? Yes, "
           "the chair is on the left side. Which object is taller? The lamp is taller than the cup.",
           "Answer the question using a single word or phrase. The man is riding a bicycle on the "
           "street next to a bus. There are two dogs playing in the grass near a tree."]
IMAGE_SIZE = 56
PATCH_SIZE = 14


def tiny_tokenizer(vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """A Llama-shaped BPE tokenizer (<unk>=0, <s>=1, </s>=2, SentencePiece-style '▁' spaces, BOS added)."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([])
    # "always": text after a special token starts a word, as with a legacy LLaMA tokenizer. LLaVA's
    # round arithmetic then adds up; its non-legacy correction (one token) is LLaMA-specific.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=list(string.printable), show_progress=False)
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", model_max_length=2048, padding_side="right")


def tiny_image_processor() -> CLIPImageProcessorPil:
    return CLIPImageProcessorPil(size={"shortest_edge": IMAGE_SIZE},
                              crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})


def tiny_vision_config() -> CLIPVisionConfig:
    return CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=2, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE,
                            projection_dim=32)


def tiny_text_config(vocab_size: int) -> LlamaConfig:
    return LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                       max_position_embeddings=2048, bos_token_id=1, eos_token_id=2)
