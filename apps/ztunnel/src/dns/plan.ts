/**
 * Pure DNS planning: a question from a pod → the answer ztunnel gives from the mesh config, or
 * "forward it to the node's resolver". The socket code (server.ts) calls it.
 *
 * Follows Istio ztunnel's DNS proxy (src/dns/server.rs, on by default since Istio 1.25):
 *
 * - Only A and AAAA questions of class IN are answered here; any other type is forwarded.
 * - The requested name is tried as written and as the Kubernetes FQDNs it can stand for, from
 *   the client's namespace: `<svc>` → `<svc>.<client ns>.svc.<domain>`, `<svc>.<ns>` →
 *   `<svc>.<ns>.svc.<domain>`, `<svc>.<ns>.svc` → `<svc>.<ns>.svc.<domain>`.
 * - A name the client's resolver already expanded with a search domain (`<ns>.svc.<domain>`,
 *   `svc.<domain>`, `<domain>`: the Kubernetes search path of a pod in `<ns>`) is also tried with
 *   that suffix stripped; when only the stripped form matches (`reviews.default.default.svc…`,
 *   the search expansion of `reviews.default`), the answer is a CNAME from the requested name to
 *   the stripped one plus the addresses under the stripped name, as Istio's ztunnel answers.
 * - A Service found answers NOERROR, authoritative, TTL 30 s, with its VIPs of the asked family;
 *   none of that family (AAAA for an IPv4 Service) is an empty NOERROR, never NXDOMAIN: the name
 *   exists.
 * - Anything else is forwarded upstream and the upstream's answer (NXDOMAIN included) relayed.
 *
 * Headless Services and pod hostnames (`<pod>.<subdomain>.<ns>.svc…`) are not modelled by this
 * mesh (every Service has a VIP), so those forms are forwarded.
 */
import { RecordType, isAddressOfType, labelsOf, type DnsAnswerRecord, type DnsQuestion, CLASS_IN } from './wire.js';

/** Istio ztunnel's answer TTL for names it serves itself. */
export const DNS_TTL_SECONDS = 30;
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

/** What the mesh config tells the DNS proxy: Service hostnames (FQDN, lower case) → VIPs. */
export interface DnsTable {
  readonly clusterDomain: string;
  readonly services: ReadonlyMap<string, readonly string[]>;
}

/** The pod that asked, when its address is one of this node's workloads. */
export interface DnsClient {
  readonly namespace: string;
  readonly workload?: string;
}

export type DnsPlan =
  | {
      readonly kind: 'answer';
      /** The Service hostname that matched. */
      readonly service: string;
      readonly records: readonly DnsAnswerRecord[];
      /** The access log's `result` as Istio's ztunnel writes it. */
      readonly result: 'success' | 'no records';
    }
  | { readonly kind: 'forward'; readonly reason: 'record type' | 'not a mesh name' };

interface Alias {
  readonly labels: readonly string[];
  /** Set when the alias came from stripping a search domain: the name the CNAME points to. */
  readonly stripped?: readonly string[];
}

const hasSuffix = (labels: readonly string[], suffix: readonly string[]) =>
  labels.length > suffix.length && suffix.every((l, i) => labels[labels.length - suffix.length + i] === l);

/** The Kubernetes search path of a pod in `namespace` (what kubelet writes into its resolv.conf). */
export function searchDomains(clusterDomain: string, namespace: string | undefined): string[][] {
  const domain = labelsOf(clusterDomain);
  return [...(namespace ? [[namespace, 'svc', ...domain]] : []), ['svc', ...domain], domain];
}

/** The Kubernetes Service FQDNs a name can stand for, from a client in `namespace`. */
export function kubeFqdns(labels: readonly string[], clusterDomain: string, namespace: string | undefined): string[][] {
  const domain = labelsOf(clusterDomain);
  switch (labels.length) {
    case 1:
      return namespace ? [[...labels, namespace, 'svc', ...domain]] : [];
    case 2:
      return [[...labels, 'svc', ...domain]];
    case 3:
      return labels[2] === 'svc' ? [[...labels, ...domain]] : [];
    default:
      return [];
  }
}

/** Every name to look up for a question, most specific first, without repeats. */
export function aliasesOf(labels: readonly string[], clusterDomain: string, namespace: string | undefined): Alias[] {
  const out: Alias[] = [];
  const seen = new Set<string>();
  const add = (alias: Alias) => {
    const key = alias.labels.join('.');
    if (!seen.has(key)) {
      seen.add(key);
      out.push(alias);
    }
  };
  add({ labels });
  for (const fqdn of kubeFqdns(labels, clusterDomain, namespace)) add({ labels: fqdn });
  for (const domain of searchDomains(clusterDomain, namespace)) {
    if (!hasSuffix(labels, domain)) continue;
    const stripped = labels.slice(0, labels.length - domain.length);
    add({ labels: stripped, stripped });
    for (const fqdn of kubeFqdns(stripped, clusterDomain, namespace)) add({ labels: fqdn, stripped });
  }
  return out;
}

export function planDnsQuestion(table: DnsTable, question: DnsQuestion, client: DnsClient | undefined): DnsPlan {
  if (question.class !== CLASS_IN || (question.type !== RecordType.A && question.type !== RecordType.AAAA)) return { kind: 'forward', reason: 'record type' };
  const requested = question.labels.map((l) => l.toLowerCase());
  for (const alias of aliasesOf(requested, table.clusterDomain, client?.namespace)) {
    const host = alias.labels.join('.');
    const vips = table.services.get(host);
    if (!vips || vips.length === 0) continue;
    const records: DnsAnswerRecord[] = [];
    // The owner name is the requested name as written (case preserved, RFC 4343 §4.1).
    let owner: readonly string[] = question.labels;
    if (alias.stripped) {
      const target = question.labels.slice(0, alias.stripped.length);
      records.push({ labels: question.labels, type: RecordType.CNAME, ttl: DNS_TTL_SECONDS, data: target.join('.') });
      owner = target;
    }
    const addresses = vips.filter((ip) => isAddressOfType(ip, question.type));
    for (const ip of addresses) records.push({ labels: owner, type: question.type as typeof RecordType.A, ttl: DNS_TTL_SECONDS, data: ip });
    return { kind: 'answer', service: host, records: addresses.length > 0 ? records : [], result: addresses.length > 0 ? 'success' : 'no records' };
  }
  return { kind: 'forward', reason: 'not a mesh name' };
}
