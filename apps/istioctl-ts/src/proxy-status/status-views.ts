/**
 * `meshctl proxy-status` views, pure over istiod-lite's syncz rows (api/proxies.ts):
 *
 *   all proxies  NAME  CLUSTER  ISTIOD  VERSION  SUBSCRIBED TYPES      (istioctl's columns; `3 (CDS,LDS,EDS)`)
 *   one proxy    per subscribed type: TYPE  STATUS  SENT  ACKED  RESOURCES, then each type's
 *                last NACK, rejected resources and generation error in full
 */
import type { ProxyEntry, TypeSync } from '../api/proxies.js';
import { renderTable, WIDE_COLUMN_GAP } from '../render/table.js';

/** The order istioctl lists Envoy's types in; others (WDS, WADS, SDS, …) follow by name. */
const TYPE_ORDER = ['CDS', 'LDS', 'EDS', 'RDS'];

function typeRank(type: string): number {
  const i = TYPE_ORDER.indexOf(type);
  return i === -1 ? TYPE_ORDER.length : i;
}

export function orderedTypes(types: readonly TypeSync[]): TypeSync[] {
  return [...types].sort((a, b) => typeRank(a.type) - typeRank(b.type) || a.type.localeCompare(b.type));
}

/** `3 (CDS,LDS,EDS)`, or `0` when it subscribed to nothing yet. */
export function subscribedTypes(types: readonly TypeSync[]): string {
  return types.length === 0 ? '0' : `${types.length} (${orderedTypes(types).map((t) => t.type).join(',')})`;
}

export interface ProxyStatusRow {
  name: string;
  cluster: string;
  istiod: string;
  version: string;
  subscribedTypes: string;
}

export function proxyStatusRows(proxies: readonly ProxyEntry[]): ProxyStatusRow[] {
  return proxies.map((p) => ({
    name: p.name,
    cluster: p.cluster ?? '-',
    istiod: p.istiod ?? '-',
    version: p.version ?? '-',
    subscribedTypes: subscribedTypes(p.types),
  }));
}

export function proxyStatusTable(proxies: readonly ProxyEntry[]): string {
  return renderTable(
    ['NAME', 'CLUSTER', 'ISTIOD', 'VERSION', 'SUBSCRIBED TYPES'],
    proxyStatusRows(proxies).map((r) => [r.name, r.cluster, r.istiod, r.version, r.subscribedTypes]),
    { gap: WIDE_COLUMN_GAP },
  );
}

/** Does `query` name this proxy: its meshctl name, its xDS id, or istioctl's `<pod>.<namespace>`. */
export function proxyMatches(proxy: ProxyEntry, query: string): boolean {
  const [, , pod, domain] = proxy.id.split('~');
  const namespace = domain?.split('.')[0];
  return query === proxy.name || query === proxy.id || (pod !== undefined && namespace !== undefined && query === `${pod}.${namespace}`);
}

/** One proxy's sync state per type, and what went wrong in full (a NACK's reason can be long). */
export function proxyDetail(proxy: ProxyEntry): string {
  const types = orderedTypes(proxy.types);
  const transport = [proxy.protocol === 'sotw' ? 'state-of-the-world ADS' : proxy.protocol === 'delta' ? 'delta ADS' : undefined, proxy.connectedAt ? `connected ${proxy.connectedAt}` : undefined]
    .filter(Boolean)
    .join(', ');
  const header = [
    `NAME: ${proxy.name}`,
    `  xDS node: ${proxy.id}`,
    `  node: ${proxy.nodeName || '-'}, cluster: ${proxy.cluster ?? '-'}, istiod: ${proxy.istiod ?? '-'}, version: ${proxy.version ?? '-'}`,
    ...(transport ? [`  ${transport}`] : []),
  ].join('\n');
  if (types.length === 0) return `${header}\n\nno subscribed types yet (it has not asked istiod-lite for any configuration)\n`;
  const table = renderTable(
    ['TYPE', 'STATUS', 'SENT VERSION', 'ACKED VERSION', 'RESOURCES', 'LAST NACK'],
    types.map((t) => [t.type, t.status, t.sentVersion ?? '-', t.ackedVersion ?? '-', t.resources === undefined ? '-' : String(t.resources), t.lastNack ? `version ${t.lastNack.version ?? '?'}${t.lastNack.at ? ` at ${t.lastNack.at}` : ''}` : '-']),
  );
  const problems = types.flatMap((t) => [
    ...(t.lastNack ? [`${t.type} last NACK (version ${t.lastNack.version ?? '?'}): ${t.lastNack.message || '(no reason given)'}`] : []),
    ...(t.rejected && t.rejected.count > 0
      ? [`${t.type} rejected ${t.rejected.count} resource${t.rejected.count === 1 ? '' : 's'} (the proxy runs an older version of each, or none): ${t.rejected.names.join(', ')}${t.rejected.names.length < t.rejected.count ? ', …' : ''}`]
      : []),
    ...(t.generationError ? [`${t.type} could not be generated${t.generationError.at ? ` (${t.generationError.at})` : ''}, the proxy keeps its previous config: ${t.generationError.message}`] : []),
  ]);
  return `${header}\n\n${table}${problems.length > 0 ? `\n${problems.join('\n')}\n` : ''}`;
}
