#!/usr/bin/env bash
# Build .venv-lmms: lmms-eval in its own environment on top of the project's .venv.
#
# lmms-eval 0.7.3 cannot share .venv: it pins wandb 0.25.0 (protobuf < 7) while Dagster's
# grpcio-health-checking needs protobuf >= 7.35; its llava_hf model imports decord (undeclared) and
# filelock._api (gone in filelock 4). The new environment sees every package of .venv through a .pth
# file and installs only what lmms-eval needs on top, so torch, transformers and the project are the
# same objects in both. .venv itself is not modified.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
base="${1:-$root/.venv}"
target="$root/.venv-lmms"
"$base/bin/python" -m venv "$target"
site="$("$base/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
own="$("$target/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$site" > "$own/spatialmix_base.pth"
"$target/bin/pip" install --quiet "lmms-eval==0.7.3" "decord==0.6.0" "filelock<4"
"$target/bin/python" -c 'from lmms_eval.models import get_model; print("lmms-eval ready:", get_model("llava_hf", True))'
