#!/usr/bin/env bash
# Installs everything clinbench needs on a fresh Debian 12 machine, then builds llama.cpp into
# its cache (scripts/llama_cpp.sh). Safe to run again: each step is skipped when already done.
#
#   scripts/setup.sh [--cuda]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

APT_PACKAGES=(
  build-essential cmake ninja-build ccache git ca-certificates curl openssl
  pkg-config libfmt-dev nlohmann-json3-dev libcli11-dev libsqlite3-dev sqlite3
  libtomlplusplus-dev libzip-dev libssl-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  chromium python3 python3-yaml python3-pandas clang-format clang-tidy-16
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js with npm (npm fetches llama.cpp's source): a machine may already have a Node.js that
# bundles npm (NodeSource), which conflicts with Debian's separate npm package.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
fi

# The dashboard's charting library (embedded into the binary at build time) and the browser
# test's driver, at the versions web/package-lock.json pins; again only when the lock changed.
web="$here/../web"
lock_sum=$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$web/node_modules/.clinbench-lock-sha256" 2>/dev/null)" != "$lock_sum" ]; then
  echo "[setup] npm ci in web/" >&2
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$lock_sum" > "$web/node_modules/.clinbench-lock-sha256"
fi

"$here/llama_cpp.sh" "$@" >/dev/null
echo "[setup] ok" >&2
