/** What `meshctl x explain` takes and gives, in both dialects. */
import type { NamedDump } from '../config-dump/workloads.js';

export interface ExplainInput {
  /** Every ztunnel's config dump the walk may need (the source's and the destination's). */
  proxies: readonly NamedDump[];
  /** Source pod: `name.namespace` or its IP. */
  from: string;
  /** Destination `host:port`: a Service (`reviews`, `reviews.default`, FQDN), a pod `name.namespace`, or an IP. */
  to: string;
  /** Follow this endpoint (IP or IP:port) instead of the first healthy one. */
  endpoint?: string | undefined;
}

export interface ExplainStep {
  /** The proxy whose config this step reads. */
  proxy: string;
  /** One line: what happens. */
  title: string;
  /** Supporting facts, one per line. */
  details: string[];
}

export type ExplainOutcome = 'allowed' | 'denied' | 'unknown' | 'passthrough' | 'blackhole' | 'no-endpoint' | 'incomplete';

export interface Explanation {
  source: { label: string; ip: string; proxy: string; identity: string | undefined };
  destination: { label: string; ip: string; port: number };
  steps: ExplainStep[];
  outcome: ExplainOutcome;
  /** The policy that decided an allowed/denied outcome, when one did. */
  policy: string | undefined;
  summary: string;
}

/** A Service's VIP as the source's ztunnel knows it; `needs` says what the lookup asks of it, for the error. */
export interface VipLookup {
  vip(fqdn: string, port: number): string | undefined;
  needs(port: number): string;
}
