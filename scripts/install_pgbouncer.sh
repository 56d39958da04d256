#!/usr/bin/env bash
# Debian's pgbouncer for the pooler benchmark (`make bench-pooler`); nothing happens when it is there.
# Non-interactive, so CI (.ci/run) can run it. Only the binary is used: the Debian service is not started.
set -euo pipefail
if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null
/usr/sbin/pgbouncer --version | head -n 1
