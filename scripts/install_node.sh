#!/usr/bin/env bash
# Node.js and npm for the npm packages of the tests and the local stack (`make test-prisma`: the Prisma CLI and
# Prisma Client; `make test-browser` and `make auth-emulator`: the Firebase CLI): nothing happens when a Node.js of
# the version the package.json given asks for ("engines": {"node": ">=X.Y"}; 18.18 without one) and npm are there.
# Non-interactive, so CI (.ci/run) can run it. Debian's own packages: no download from outside the package
# registries.
#   scripts/install_node.sh [path/to/package.json]
set -euo pipefail
minimum=18.18
if [ -n "${1:-}" ]; then
  minimum=$(sed -n 's/.*"node": *">= *\([0-9][0-9.]*\)".*/\1/p' "$1" | head -n 1)
  minimum=${minimum:-18.18}
fi
node_is_recent() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
    && node -e 'const want = process.argv[1].split(".").map(Number), have = process.versions.node.split(".").map(Number);
                process.exit(have[0] > want[0] || (have[0] === want[0] && have[1] >= (want[1] || 0)) ? 0 : 1)' "$minimum"
}
if node_is_recent; then
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
node_is_recent || { echo "Node.js $(node --version) is older than ${1:-Prisma} needs ($minimum)" >&2; exit 1; }
