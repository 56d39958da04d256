#!/usr/bin/env bash
# Node.js and npm for the Prisma tests (`make test-prisma`: the Prisma CLI and Prisma Client from npm); nothing
# happens when a Node.js that Prisma 6 runs on (18.18 or later) and npm are there. Non-interactive, so CI
# (.ci/run) can run it. Debian's own packages: no download from outside the package registries.
set -euo pipefail
node_is_recent() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
    && node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 18) ? 0 : 1)'
}
if node_is_recent; then
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
node_is_recent || { echo "Node.js $(node --version) is older than Prisma 6 needs (18.18)" >&2; exit 1; }
