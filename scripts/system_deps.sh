#!/usr/bin/env bash
# System packages the Python dependencies need at import time (open3d: libusb-1.0-0; libgomp1 for
# open3d/torch on slim images). Installs only what is missing; needs root (as on CI and dev machines).
set -euo pipefail
missing=()
for pkg in libusb-1.0-0 libgomp1; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
