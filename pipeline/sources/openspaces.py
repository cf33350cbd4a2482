"""`remyxai/OpenSpaces`: synthetic spatial VQA (VQASynth) over images from the cauldron's localized
narratives. One row = `images` (list of {bytes, path}) + `messages` (chat format: {role, content:
[{index, text, type}]}, where a `type: image` part marks where the image goes). Train and test are
both ingested and kept apart."""
from __future__ import annotations

from typing import Any

from ..records import Rejection, image_first
from .hub_source import HubDataset

ROLES = {"user": "human", "assistant": "gpt"}


def openspaces_turns(row: dict[str, Any]) -> list[dict[str, str]] | Rejection:
    """Chat messages -> LLaVA turns; the one image placeholder must sit in the first user message."""
    messages = row.get("messages")
    if not messages:
        return Rejection("no_messages", "messages is null or empty")
    turns: list[dict[str, str]] = []
    placeholders: list[int] = []
    for i, message in enumerate(messages):
        role = (message or {}).get("role")
        if role not in ROLES:
            return Rejection("bad_turn", f"message {i} has role {role!r}")
        parts = message.get("content") or []
        placeholders += [i for p in parts if p and p.get("type") == "image"]
        text = "\n".join(p["text"].strip() for p in parts if p and p.get("type") == "text" and p.get("text"))
        turns.append({"from": ROLES[role], "value": text})
    if len(placeholders) > 1:
        return Rejection("several_images", f"{len(placeholders)} image placeholders")
    if placeholders and placeholders[0] != 0:
        return Rejection("image_token", f"image placeholder in message {placeholders[0]}, not the first")
    return image_first(turns)


# Commit 7a7ce80 (a README edit after 3e4c476, the upload that split off `test`): train 9,255 / test 1,029.
OPENSPACES = HubDataset(
    "openspaces", "remyxai/OpenSpaces", "7a7ce80a1c5eb0aaad44228a603874ade27f18b6",
    {"train": "data/train-*", "test": "data/test-*"}, "messages", openspaces_turns,
    {"train": 9_255, "test": 1_029})
