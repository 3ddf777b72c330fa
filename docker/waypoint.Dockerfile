# waypoint: the L7 proxy (HBONE in on 15008, metrics 15020, readiness 15021; admin 15000 on the
# pod's loopback only). Needs no
# capabilities (15008 is not a privileged port); runs as mesh (1337).
FROM mesh/node-base:latest AS prune
COPY . /workspace
RUN ["node", "/workspace/docker/prune.mjs", "/workspace", "apps/waypoint", "/out"]

FROM mesh/node-base:latest
COPY --from=prune /out /app
USER 1337:1337
EXPOSE 15008 15020 15021
ENTRYPOINT ["node", "/app/dist/main.js"]
