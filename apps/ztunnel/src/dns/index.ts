export { DnsServer, DNS_PROXY_PORT, type DnsAccessEntry, type DnsServerOptions } from './server.js';
export { DnsForwarder, parseResolvConf, parseUpstream, upstreamsFrom, DEFAULT_RESOLV_CONF, type Upstream } from './forwarder.js';
export { DnsMetrics } from './metrics.js';
export { planDnsQuestion, DEFAULT_CLUSTER_DOMAIN, DNS_TTL_SECONDS, type DnsTable, type DnsClient, type DnsPlan } from './plan.js';
export { dnsTableOf, dnsClientOf } from './table.js';
