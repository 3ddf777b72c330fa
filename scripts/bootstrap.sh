#!/usr/bin/env bash
# Installs everything this project needs on a fresh Debian machine with Node 20:
# the Debian packages the mesh drives (iptables, ipset, iproute2), the pinned pnpm,
# and the workspace's dependencies (including the native socket-option addon).
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.8
DEBIAN_PACKAGES=(iptables ipset iproute2 procps curl python3 make g++)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing Debian packages ${missing[*]} (run as root to install them; tests that need them are skipped)" >&2
  fi
fi

if ! command -v pnpm >/dev/null || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  echo "bootstrap: installing pnpm $PNPM_VERSION"
  npm install -g --silent "pnpm@$PNPM_VERSION"
fi

# Native addons build against the headers of the Node that runs them (Debian's nodejs ships
# them in /usr/include/node); pnpm ignores .npmrc's nodedir, so say it here.
if [ -d /usr/include/node ]; then export npm_config_nodedir=/usr; fi
export TURBO_TELEMETRY_DISABLED=1
pnpm install --frozen-lockfile
