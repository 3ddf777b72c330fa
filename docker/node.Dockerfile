# A node of the compose mesh: the ztunnel image plus what a node runs besides ztunnel — the
# pods' network namespaces (created at start by node-entrypoint.mjs), the sample workload in
# each, and the waypoint for waypoint pods. Same capabilities as ztunnel (NET_ADMIN, SYS_ADMIN).
FROM mesh/node-base:latest AS prune
COPY . /workspace
RUN ["node", "/workspace/docker/prune.mjs", "/workspace", "apps/sample-workload", "/out"]

FROM mesh/ztunnel:latest
COPY --from=prune /out /sample-workload
COPY --from=mesh/waypoint:latest /app /waypoint
COPY docker/node-entrypoint.mjs /node-entrypoint.mjs
ENTRYPOINT ["node", "/node-entrypoint.mjs"]
