#!/usr/bin/env bash
# Debian's chromium for the browser tests (`make test-browser`), with a font for the pages it renders; nothing
# happens when both are there. Non-interactive, so CI (.ci/run) can run it. Playwright's own browser download is
# not used: the tests point Playwright at this chromium.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && dpkg -s fonts-dejavu-core >/dev/null 2>&1; then
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
chromium --version
