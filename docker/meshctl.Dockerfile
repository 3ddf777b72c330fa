# meshctl: the CLI (proxy-config, ztunnel-config, tunnels, x explain). Needs no capabilities;
# runs as mesh (1337). istiod-lite's debug API and the proxies' admin APIs listen on their
# containers' loopback, so run it in that container's network namespace, as istioctl uses a
# port-forward: docker run --network container:mesh-istiod mesh/meshctl … (docker/README.md).
# (`meshctl dev` orchestrates processes on a host and is not for this image.)
FROM mesh/node-base:latest AS prune
COPY . /workspace
RUN ["node", "/workspace/docker/prune.mjs", "/workspace", "apps/istioctl-ts", "/out"]

FROM mesh/node-base:latest
COPY --from=prune /out /app
USER 1337:1337
ENV TERM=dumb
ENTRYPOINT ["node", "/app/dist/main.js"]
