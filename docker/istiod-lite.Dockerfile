# istiod-lite: the control plane (xDS + CA on 15012, mTLS; debug HTTP 15014 on the container's
# loopback only — reach it with `docker run --network container:<this container> mesh/meshctl`).
# Needs no capabilities; runs as the unprivileged user mesh (1337). Its state dir (root CA,
# node bootstrap credentials) is a volume: node containers read their credential from it.
# Build with docker/build-images.sh (the base images come from docker/base/build-base.sh).

# Stage 1: the built workspace (dev dependencies included) → the app's runtime closure only.
FROM mesh/node-base:latest AS prune
COPY . /workspace
RUN ["node", "/workspace/docker/prune.mjs", "/workspace", "apps/istiod-lite", "/out"]
# The state dir, owned by mesh so a fresh volume mounted there is writable (no shell here: node).
RUN ["node", "-e", "require('fs').mkdirSync('/state/var/lib/istiod', { recursive: true })"]

FROM mesh/node-base:latest
COPY --from=prune /out /app
COPY --from=prune --chown=1337:1337 /state/var/lib/istiod /var/lib/istiod
USER 1337:1337
EXPOSE 15012
ENTRYPOINT ["node", "/app/dist/main.js"]
CMD ["--config-dir", "/etc/mesh/config", "--state-dir", "/var/lib/istiod"]
