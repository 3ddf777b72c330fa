#!/bin/sh
# The project's commands, each self-sufficient on a fresh machine: the set-up first
# (scripts/setup: Node 24, pnpm, dependencies, the native addon, Debian packages as root —
# quiet and quick when all is there), then the command on the set-up's Node.
#   sh scripts/run.sh setup             the set-up alone (all of it: what `test` runs first)
#   sh scripts/run.sh dev [args…]       build, then `meshctl dev up [args…]` (the sample mesh; with
#                                       --kubernetes the set-up builds the Kubernetes programs too)
#   sh scripts/run.sh test [args…]      build, typecheck, circular-import check, `vitest run [args…]`
#   sh scripts/run.sh test:stress [args…]  build, then scripts/test-stress.mjs [args…] (e2e under CPU load)
#   sh scripts/run.sh bench [args…]     build, then scripts/bench.mjs [args…]
#   sh scripts/run.sh walkthrough       build, then scripts/walkthrough.mjs
# package.json's scripts call it (`npm test`, `npm run dev`, … or the same with pnpm). The
# command is exec'd, so Ctrl-C reaches it directly and its exit status is the script's: a clean
# stop of `dev` exits 0 under npm and pnpm alike.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command=${1:-}
[ $# -gt 0 ] && shift
case $command in
  dev | bench | walkthrough) profile=dev ;;
  setup | test | test:stress) profile=test ;;
  *) echo "usage: sh scripts/run.sh setup|dev|test|test:stress|bench|walkthrough [args…]" >&2; exit 2 ;;
esac
# `dev --kubernetes` runs etcd, kube-apiserver, kube-controller-manager and kubectl, which the
# test profile builds (from Kubernetes' Go modules; reused once built).
if [ "$command" = dev ]; then
  case " $* " in *" --kubernetes "*) profile=test ;; esac
fi

# What an outer `npm run` exported about itself (its Node, prefix, headers, node-gyp) must not
# steer pnpm or the build; settings such as the registry, proxy or caches stay.
for name in $(env | sed -n 's/^\(npm_[A-Za-z0-9_]*\)=.*/\1/p'); do
  case $name in
    npm_lifecycle_* | npm_package_* | npm_execpath | npm_node_execpath | npm_command | \
    npm_config_prefix | npm_config_global_prefix | npm_config_local_prefix | npm_config_globalconfig | \
    npm_config_node_gyp | npm_config_nodedir | npm_config_user_agent | npm_config_npm_version) unset "$name" ;;
  esac
done

# The set-up runs on the Node it chose last time (bin/node) if that still runs, else on the
# Node on PATH, which may be older than 24: scripts/setup is plain JavaScript for Node 16+.
setup_node=node
if [ -x bin/node ]; then
  setup_node=bin/node
elif ! command -v node >/dev/null 2>&1; then
  echo "setup: no node on PATH" >&2
  echo "  fix: install Node and npm (Debian: apt-get install nodejs npm); the set-up then installs Node 24 itself" >&2
  exit 1
fi
major=$("$setup_node" --version | sed 's/^v\([0-9]*\).*/\1/')
if [ "$major" -lt 16 ]; then
  echo "setup: Node $("$setup_node" --version) is too old to run the set-up" >&2
  echo "  fix: install Node 16 or later (Debian 12: apt-get install nodejs npm); the set-up then installs Node 24 itself" >&2
  exit 1
fi
"$setup_node" scripts/setup/main.mjs "$profile"

PATH="$root/bin:$root/node_modules/.bin:$PATH"
export PATH
case $command in
  setup) ;;
  dev) pnpm run build && exec node apps/istioctl-ts/dist/main.js dev up "$@" ;;
  test) pnpm run build && pnpm run typecheck && pnpm run check:cycles && exec vitest run "$@" ;;
  test:stress) pnpm run build && exec node scripts/test-stress.mjs "$@" ;;
  bench) pnpm run build && exec node --expose-gc scripts/bench.mjs "$@" ;;
  walkthrough) pnpm run build && exec node scripts/walkthrough.mjs "$@" ;;
esac
