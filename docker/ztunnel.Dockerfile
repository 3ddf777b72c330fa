# ztunnel: the per-node L4 proxy. Runs as root in the node's network namespace, with
#   CAP_NET_ADMIN  iptables/ipset/ip rule capture plan (@mesh/netfilter), IP_TRANSPARENT and
#                  SO_MARK sockets (TPROXY listeners 15001/15006/15008)
#   CAP_SYS_ADMIN  `ip netns exec` into the node namespace it captures in (and, in the compose
#                  node image, creating the pods' network namespaces)
# Explicit mode (SOCKS5 on 15080) needs neither and may run as 1337.
FROM mesh/node-base:latest AS prune
COPY . /workspace
RUN ["node", "/workspace/docker/prune.mjs", "/workspace", "apps/ztunnel", "/out"]

FROM mesh/net-base:latest
COPY --from=prune /out /app
# Admin (15000) listens on the node's loopback only: not exposed.
EXPOSE 15001 15006 15008 15020 15021 15080
ENTRYPOINT ["node", "/app/dist/main.js"]
