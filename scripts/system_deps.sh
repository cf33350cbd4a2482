#!/usr/bin/env bash
# System packages the project needs: libusb-1.0-0 (open3d at import time), libgomp1 (open3d/torch on slim
# images), and Debian's chromium for the browser test of the Dagster UI (driven through Playwright's Python
# package with executable_path=/usr/bin/chromium: `playwright install` downloads are not used), and
# Debian's PostgreSQL server, which tests/cluster starts on loopback itself (sample/services.py; the
# package's own cluster is not used). Installs only what is missing; needs root (as on CI and dev machines).
set -euo pipefail
missing=()
for pkg in libusb-1.0-0 libgomp1 chromium postgresql; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
