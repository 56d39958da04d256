#!/usr/bin/env bash
# The Japanese font the invoice PDFs embed (Debian's fonts-ipaexfont-gothic: IPAex Gothic; no PyPI package ships a
# Japanese Noto font), and poppler-utils (pdftoppm), with which the tests render a PDF page to an image. Nothing
# happens when both are there. Non-interactive, so CI (.ci/run) and `make test`/`make build` can run it.
set -euo pipefail
if dpkg -s fonts-ipaexfont-gothic >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1; then
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends fonts-ipaexfont-gothic poppler-utils >/dev/null
