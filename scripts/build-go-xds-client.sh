#!/usr/bin/env bash
# Builds scripts/go-xds-client (an ADS client on Envoy's own Go protos, go-control-plane) into
# ~/.cache/ambient-mesh-ts/go-xds-client/go-xds-client, outside the tracked tree. Needs Go and
# the Go module proxy. istiod-lite's test/go-xds-client.test.ts uses it, and says it is skipped
# (with this command) when the binary is not there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${GO_XDS_CLIENT_DIR:-$HOME/.cache/ambient-mesh-ts/go-xds-client}"
mkdir -p "$out/src"
cp "$here/go-xds-client/main.go" "$out/src/main.go"
cd "$out/src"
if [ ! -f go.mod ]; then
  go mod init ambient-mesh-ts/go-xds-client >/dev/null 2>&1
fi
go get github.com/envoyproxy/go-control-plane/envoy@latest google.golang.org/grpc@latest google.golang.org/genproto/googleapis/rpc@latest >/dev/null
go mod tidy >/dev/null
go build -o "$out/go-xds-client" .
echo "built $out/go-xds-client"
