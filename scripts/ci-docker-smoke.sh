#!/usr/bin/env bash
# CI: the container images and the compose two-node mesh, end to end (root, Debian).
#   1. Debian's docker.io + docker-compose (installed if missing); dockerd started if not running,
#      with --iptables=false: the compose network needs no NAT, and dockerd then leaves the host's
#      iptables alone (it would otherwise set the FORWARD policy to DROP); --bridge=none: no docker0. The FORWARD policy is
#      also recorded and restored on exit, whatever happens.
#   2. base images from the host's binaries (cached by content), one image per service.
#   3. docker/compose.yaml up: istiod-lite, node-a and node-b (ztunnel + pods in namespaces).
#   4. checks through the mesh: same-node and cross-node requests from the sleep pod, L7 routing
#      through the waypoint, the access log saying HBONE, meshctl in its own container.
#   5. compose down -v; dockerd stopped again if this script started it.
# Run it after `npm test` (it needs the set-up's Node 24, bin/node, and the built apps).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "ci-docker-smoke: needs root (dockerd, NET_ADMIN containers)" >&2; exit 1; }
export DOCKER=${DOCKER:-/usr/bin/docker}
COMPOSE=(docker-compose -p mesh -f docker/compose.yaml)
started_dockerd=""
forward_policy=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3; exit}')

cleanup() {
  local status=$?
  if [ $status -ne 0 ]; then
    echo "ci-docker-smoke: FAILED; container logs:" >&2
    for c in mesh-istiod mesh-node-a mesh-node-b; do echo "--- $c" >&2; "$DOCKER" logs --tail 40 "$c" >&2 2>&1 || true; done
  fi
  "${COMPOSE[@]}" down -v --timeout 5 >/dev/null 2>&1 || true
  if [ -n "$started_dockerd" ]; then kill "$started_dockerd" 2>/dev/null || true; wait "$started_dockerd" 2>/dev/null || true; fi
  if [ -n "$forward_policy" ]; then iptables -P FORWARD "$forward_policy" 2>/dev/null || true; fi
  exit $status
}
trap cleanup EXIT

if ! [ -x "$DOCKER" ] || ! command -v docker-compose >/dev/null || ! command -v dockerd >/dev/null; then
  echo "ci-docker-smoke: installing docker.io docker-compose"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io docker-compose >/dev/null
fi
if ! "$DOCKER" info >/dev/null 2>&1; then
  # --bridge=none: no default docker0 left on the host (compose makes its own network).
  dockerd --iptables=false --ip6tables=false --bridge=none >/tmp/ci-dockerd.log 2>&1 &
  started_dockerd=$!
  for _ in $(seq 100); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.2; done
  "$DOCKER" info >/dev/null || { cat /tmp/ci-dockerd.log >&2; exit 1; }
fi

t0=$SECONDS
bash docker/build-images.sh
"${COMPOSE[@]}" down -v --timeout 5 >/dev/null 2>&1 || true
"${COMPOSE[@]}" up -d
t1=$SECONDS

# GET from a pod's network namespace inside a node container (fetch resolves Service names
# through the pod's /etc/netns hosts file); prints the body.
pod_get() {
  local node=$1 pod=$2 url=$3
  "$DOCKER" exec "mesh-$node" ip netns exec "p-default-$pod" node -e \
    "fetch(process.argv[1], {signal: AbortSignal.timeout(5000)}).then(async r => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1) }, e => { console.error(String(e.cause ?? e)); process.exit(1) })" "$url"
}
ready() {
  "$DOCKER" exec "mesh-$1" node -e "fetch('http://$2:15021/healthz/ready').then(r => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"
}
for _ in $(seq 150); do ready node-a 10.77.0.11 && ready node-b 10.77.0.12 && break; sleep 0.2; done
ready node-a 10.77.0.11 && ready node-b 10.77.0.12
echo "ci-docker-smoke: both ztunnels ready $((SECONDS - t1)) s after compose up (images built in $((t1 - t0)) s)"

expect() {
  local what=$1 text=$2 pattern=$3
  if grep -qE -- "$pattern" <<<"$text"; then echo "ci-docker-smoke: ok   $what"; else echo "ci-docker-smoke: FAIL $what: no /$pattern/ in:" >&2; echo "$text" >&2; exit 1; fi
}
body=$(pod_get node-a sleep http://ratings:9080/)
expect "sleep (node-a) → ratings VIP (node-b), source kept" "$body" '^ratings-v1\.default on node-b answered GET /'
expect "ratings sees the sleep pod as source" "$body" 'connection: 10\.77\.1\.10:[0-9]+ -> 10\.77\.2\.13:9080'
body=$(pod_get node-a sleep http://productpage:9080/)
expect "sleep → productpage VIP (same node)" "$body" '^productpage-v1\.default on node-a answered GET /'
seen=""
for _ in 1 2 3 4 5 6; do seen+=$(pod_get node-b details-v1 http://reviews:9080/ | head -1)$'\n'; done
expect "details → reviews: endpoints on both nodes" "$seen" 'reviews-v1\.default on node-a'
expect "details → reviews: endpoints on both nodes" "$seen" 'reviews-v[23]\.default on node-b'
for _ in $(seq 100); do ready node-b 10.77.2.30 && break; sleep 0.2; done
body=$("$DOCKER" exec mesh-node-a ip netns exec p-default-sleep node -e \
  "fetch('http://echo.echo/', {headers: {'x-version': 'v2'}, signal: AbortSignal.timeout(5000)}).then(r => r.text()).then(t => process.stdout.write(t), e => { console.error(String(e.cause ?? e)); process.exit(1) })")
expect "L7 through the waypoint: x-version: v2 → echo-v2 (HTTPRoute)" "$body" '^echo-v2\.echo on node-b answered GET /'
logs=$("$DOCKER" logs mesh-node-a 2>&1)
expect "node-a access log: outbound over HBONE to ratings" "$logs" '"direction":"outbound","protocol":"HBONE","chain":"spiffe://cluster.local/ns/default/sa/sleep_to_http_ratings'
# The control surfaces listen on their containers' loopback: meshctl runs in that container's
# network namespace (docker's port-forward), never on the underlay the pods can reach.
out=$("$DOCKER" run --rm --network container:mesh-istiod mesh/meshctl proxy-config listeners ztunnel-node-a 2>&1 || true)
expect "meshctl (istiod's namespace) proxy-config listeners ztunnel-node-a" "$out" '10\.77\.1\.10 → 10\.77\.100\.13 → 9080 +Cluster: spiffe://cluster.local/ns/default/sa/sleep_to_http_ratings'
out=$("$DOCKER" run --rm --network container:mesh-istiod mesh/meshctl x explain --from sleep.default --to ratings:9080 2>&1 || true)
expect "meshctl (istiod's namespace) x explain sleep → ratings" "$out" '^Result: allowed'
# --admin is the tunnels command's own flag: after the command name (before it, meshctl refuses it).
out=$("$DOCKER" run --rm --network container:mesh-node-a mesh/meshctl tunnels --admin 127.0.0.1:15000 ztunnel-node-a --once 2>&1 || true)
expect "meshctl (node-a's namespace) tunnels ztunnel-node-a" "$out" '10\.77\.2\.13:15008'
# …and from a pod, none of them answers (the ztunnel's capture takes the connection and resets it).
for target in 10.77.0.11:15000/config_dump 10.77.0.12:15000/logging 10.77.0.2:15014/debug/syncz 10.77.0.2:15010/ 10.77.2.30:15000/config_dump; do
  if out=$(pod_get node-a sleep "http://$target" 2>&1); then echo "ci-docker-smoke: FAIL the sleep pod reached http://$target:" >&2; echo "$out" >&2; exit 1; fi
  echo "ci-docker-smoke: ok   sleep pod cannot reach http://$target ($out)"
done
for image in istiod-lite waypoint meshctl; do
  user=$("$DOCKER" image inspect -f '{{.Config.User}}' "mesh/$image:latest")
  expect "mesh/$image runs as non-root" "$user" '^1337'
done
echo "ci-docker-smoke: passed in $((SECONDS - t0)) s"
