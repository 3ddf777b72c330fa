#!/usr/bin/env bash
# Builds the two base images the service images start FROM, without any registry: a root
# filesystem assembled from this machine's own binaries and their shared libraries, imported
# with `docker import`.
#
#   mesh/node-base:<tag>  node (the set-up's Node 24, the checkout's bin/node) + its libraries,
#                         users root and mesh (1337), /tmp
#   mesh/net-base:<tag>   node-base + ip (iproute2), ipset, iptables-nft (+ xtables modules):
#                         what ztunnel's capture plan runs (@mesh/netfilter)
#
# <tag> is a hash of the files' names, sizes and mtimes and of this script, so a re-run with
# nothing changed reuses the images (the "cache between runs"); `latest` points at the newest.
# Usage: docker/base/build-base.sh            (prints the two image names)
set -euo pipefail
DOCKER=${DOCKER:-$(command -v /usr/bin/docker || command -v docker)}
MESH_UID=1337   # Istio's proxy uid

# The Node the project runs on: the one the set-up chose (scripts/setup, `npm run setup`).
NODE_LINK="$(cd "$(dirname "$0")/../.." && pwd)/bin/node"
if ! [ -x "$NODE_LINK" ] || ! "$NODE_LINK" -e 'process.exit(process.versions.node.split(".")[0] === "24" ? 0 : 1)'; then
  echo "build-base: $NODE_LINK is not Node 24: run \`npm run setup\` first (it installs Node 24 and links it there)" >&2
  exit 1
fi
NODE_BIN=$(readlink -f "$NODE_LINK")
NET_BINS=(/usr/bin/ip /usr/sbin/ipset /usr/sbin/xtables-nft-multi)
XTABLES_DIR=/usr/lib/x86_64-linux-gnu/xtables

libs_of() { ldd "$@" 2>/dev/null | awk '/=> \//{print $3} /^\s*\/lib/{print $1}' | sort -u; }

tag_of() {
  { cat "$0"; for f in "$@"; do stat -c '%n %s %Y' "$f"; done; } | sha256sum | cut -c1-12
}

# Writes a root filesystem with `files` (host paths, copied to their real path) to $1.
make_rootfs() {
  local root=$1; shift
  mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,tmp,run,var,home/mesh,proc,sys,dev}
  ln -s usr/bin "$root/bin"; ln -s usr/sbin "$root/sbin"; ln -s usr/lib "$root/lib"; ln -s usr/lib64 "$root/lib64"
  ln -s ../run "$root/var/run"
  chmod 1777 "$root/tmp"
  for f in "$@"; do
    local real; real=$(readlink -f "$f")
    mkdir -p "$root$(dirname "$real")"
    cp -L "$real" "$root$real"
    # Keep the name it was found under too (e.g. /lib64/ld-linux-x86-64.so.2, the ELF interpreter).
    if [ "$f" != "$real" ] && [ ! -e "$root$f" ]; then mkdir -p "$root$(dirname "$f")"; ln -s "$real" "$root$f"; fi
  done
  printf 'root:x:0:0:root:/root:/sbin/nologin\nmesh:x:%s:%s:mesh:/home/mesh:/sbin/nologin\n' $MESH_UID $MESH_UID > "$root/etc/passwd"
  printf 'root:x:0:\nmesh:x:%s:\n' $MESH_UID > "$root/etc/group"
  chown $MESH_UID:$MESH_UID "$root/home/mesh"
  printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
  [ -f /etc/protocols ] && cp /etc/protocols "$root/etc/protocols"
  return 0
}

import_rootfs() {
  local root=$1 image=$2
  tar -C "$root" --numeric-owner -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/sbin:/usr/bin' \
    --change 'ENV NODE_ENV=production' \
    --change 'WORKDIR /' - "$image" >/dev/null
}

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

node_files=("$NODE_BIN" $(libs_of "$NODE_BIN") /lib64/ld-linux-x86-64.so.2)
node_tag=$(tag_of "${node_files[@]}")
if ! "$DOCKER" image inspect "mesh/node-base:$node_tag" >/dev/null 2>&1; then
  make_rootfs "$work/node" "${node_files[@]}"
  [ -e "$work/node/usr/bin/node" ] || ln -s "$NODE_BIN" "$work/node/usr/bin/node"
  import_rootfs "$work/node" "mesh/node-base:$node_tag"
fi
"$DOCKER" tag "mesh/node-base:$node_tag" mesh/node-base:latest

net_files=("${node_files[@]}" "${NET_BINS[@]}" $(libs_of "${NET_BINS[@]}" "$XTABLES_DIR"/*.so) "$XTABLES_DIR"/*.so)
net_tag=$(tag_of "${net_files[@]}")
if ! "$DOCKER" image inspect "mesh/net-base:$net_tag" >/dev/null 2>&1; then
  make_rootfs "$work/net" "${net_files[@]}"
  [ -e "$work/net/usr/bin/node" ] || ln -s "$NODE_BIN" "$work/net/usr/bin/node"
  # The iptables names @mesh/netfilter runs, as Debian's alternatives would provide them.
  for name in iptables iptables-nft iptables-restore iptables-nft-restore iptables-save iptables-nft-save; do
    ln -s xtables-nft-multi "$work/net/usr/sbin/$name"
  done
  import_rootfs "$work/net" "mesh/net-base:$net_tag"
fi
"$DOCKER" tag "mesh/net-base:$net_tag" mesh/net-base:latest
echo "mesh/node-base:$node_tag mesh/net-base:$net_tag"
