#!/usr/bin/env python3
"""Fetch the LLaMA/Vicuna-v1.5 SentencePiece vocabulary (32,000 tokens) as a GGUF file, offline-usable.

No hub can be reached, but PyPI can: llama-cpp-python's source distribution vendors llama.cpp's
tokenizer test vocabularies. This downloads that sdist with pip, extracts the one member and checks
it (GGUF magic + pinned SHA-256). Idempotent: a verified file already in place is left alone.

    python scripts/fetch_llama_vocab.py [DEST_FOLDER]     # default: <repo>/.venv/vocab
Load it with `AutoTokenizer.from_pretrained(DEST_FOLDER, gguf_file="ggml-vocab-llama-spm.gguf")`."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# Checked to contain the file (and this exact content): llama-cpp-python 0.3.36.
PACKAGE_VERSION = "0.3.36"
FILE_NAME = "ggml-vocab-llama-spm.gguf"
MEMBER = f"llama_cpp_python-{PACKAGE_VERSION}/vendor/llama.cpp/models/{FILE_NAME}"
SHA256 = "16c3724582d59aa8bf84711894e833f916ee46a31d80e21312759c48bf8d0e69"
GGUF_MAGIC = b"GGUF"
DEFAULT_DEST = Path(__file__).resolve().parent.parent / ".venv" / "vocab"


def problem(path: Path) -> str | None:
    """Why `path` is not the expected vocabulary file, or None when it is."""
    data = path.read_bytes()
    if data[:4] != GGUF_MAGIC:
        return f"{path}: not a GGUF file (magic {data[:4]!r})"
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        return f"{path}: SHA-256 {digest}, expected {SHA256}"
    return None


def fetch(dest_dir: Path) -> Path:
    target = dest_dir / FILE_NAME
    if target.is_file() and problem(target) is None:
        print(f"{target}: present, verified")
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llama-vocab-") as tmp:
        # --no-binary: the wheels do not carry the vendored models, only the sdist does.
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        f"llama-cpp-python=={PACKAGE_VERSION}", "-d", tmp], check=True)
        sdist = Path(tmp) / f"llama_cpp_python-{PACKAGE_VERSION}.tar.gz"
        with tarfile.open(sdist, "r:gz") as tar:
            source = tar.extractfile(MEMBER)
            if source is None:
                raise SystemExit(f"{sdist}: {MEMBER} is not a regular file")
            data = source.read()
        # Temp name beside the target, then rename: an interrupted fetch leaves no half file.
        fd, part = tempfile.mkstemp(prefix=f".{FILE_NAME}.", dir=dest_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(part, 0o644)  # mkstemp creates 0600; the vocabulary is not a secret
            why = problem(Path(part))
            if why is not None:
                raise SystemExit(why)
            os.replace(part, target)
        finally:
            Path(part).unlink(missing_ok=True)
    print(f"{target}: fetched from llama-cpp-python {PACKAGE_VERSION} ({len(data)} bytes)")
    return target


if __name__ == "__main__":
    fetch(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DEST)
