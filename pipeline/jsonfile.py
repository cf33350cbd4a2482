"""Reading an upstream JSON list of records so that one bad record is one rejection.

orjson parses the file whole (the fast path). When it refuses the text because of invalid UTF-8 or a
lone surrogate escape somewhere in it, the file is decoded with `surrogateescape` and parsed by the
standard library instead, and every record holding such text is replaced by a `Rejection("bad_text")`
naming it: the other records go on. A file that is not JSON at all fails, naming the byte offset."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from .readers import UnreadableFile
from .records import Rejection


def load_records(path: Path) -> Any:
    """The parsed document; in a list, records with unencodable text are `Rejection`s."""
    data = path.read_bytes()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    text = data.decode("utf-8", "surrogateescape")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as err:
        offset = len(text[:err.pos].encode("utf-8", "surrogateescape"))
        raise UnreadableFile(f"{path}: not valid JSON at byte {offset}: {err.msg}") from None
    if not isinstance(parsed, list):
        return parsed
    return [_checked(index, record) for index, record in enumerate(parsed)]


def _checked(index: int, record: Any) -> Any:
    try:
        orjson.dumps(record)  # refuses exactly the strings pyarrow cannot store either
    except orjson.JSONEncodeError as err:
        return Rejection("bad_text", f"record {index}: invalid UTF-8 or a lone surrogate ({err})")
    return record
