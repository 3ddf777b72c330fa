/**
 * Every connection ztunnel carries, from accept to close: the source of `/tunnels` (and its
 * live stream), the access log (one JSON line per connection with ztunnel's field names) and the
 * Istio TCP metrics. Proxy code opens a record when a connection is established, feeds it bytes,
 * and finishes it once; refused connections are recorded with `refuse()`.
 *
 * Byte directions: `bytesSent` = source → destination (request), `bytesRecv` = destination →
 * source (response), whichever ztunnel reports.
 */
import { EventEmitter } from 'node:events';
import type { ProxyLogger as Logger } from '@mesh/log';
import type { TcpLabels, TcpMetrics } from '../metrics/metrics.js';

export type Direction = 'outbound' | 'inbound';

export interface ConnectionInit {
  readonly direction: Direction;
  /** hbone: carried in (or out of) an HBONE tunnel; passthrough/plaintext: plain TCP. */
  readonly protocol: 'hbone' | 'tcp';
  readonly src: { readonly addr: string; readonly identity?: string | undefined; readonly workload?: string | undefined };
  readonly dst: {
    readonly addr: string;
    readonly hboneAddr?: string | undefined;
    readonly service?: string | undefined;
    readonly identity?: string | undefined;
    readonly workload?: string | undefined;
  };
  readonly chain?: string | undefined;
  readonly policy?: string | undefined;
  /** Envoy's RBAC dynamic metadata for the access log (dry-run results: `istio_dry_run_deny_shadow_engine_result`, ...). */
  readonly rbac?: Readonly<Record<string, string | boolean>> | undefined;
  /** For inbound connections: what authorization decided on, so a policy change can re-check it. */
  readonly authz?: { readonly target: string; readonly peerIdentity: string | undefined; readonly sourceIp: string; readonly plaintext: boolean } | undefined;
}

export interface ConnectionRecord extends ConnectionInit {
  readonly id: number;
  readonly startedAt: number;
  bytesSent: number;
  bytesRecv: number;
}

export interface TrackedConnection {
  readonly record: ConnectionRecord;
  onBytes(direction: 'sent' | 'recv', bytes: number): void;
  /** Closes it from our side (policy change, shutdown); the relay then finishes it. */
  abort(reason: string, policy?: string): void;
  finish(outcome?: { error?: string | undefined; responseFlag?: string | undefined }): void;
}

let nextId = 1;

export class ConnectionTracker extends EventEmitter {
  readonly #live = new Map<number, { tracked: TrackedConnection; abortReason?: { reason: string; policy?: string | undefined } }>();
  readonly #logger: Logger;
  readonly #metrics: TcpMetrics;

  constructor(logger: Logger, metrics: TcpMetrics) {
    super();
    this.#logger = logger;
    this.#metrics = metrics;
  }

  open(init: ConnectionInit, abort: (reason: string) => void): TrackedConnection {
    const record: ConnectionRecord = { ...init, id: nextId++, startedAt: Date.now(), bytesSent: 0, bytesRecv: 0 };
    const labels = this.#labels(record, '-');
    this.#metrics.add('istio_tcp_connections_opened_total', labels);
    let finished = false;
    const entry: { tracked: TrackedConnection; abortReason?: { reason: string; policy?: string | undefined } } = {
      tracked: {
        record,
        onBytes: (direction, bytes) => {
          if (direction === 'sent') record.bytesSent += bytes;
          else record.bytesRecv += bytes;
        },
        abort: (reason, policy) => {
          if (finished) return;
          entry.abortReason = { reason, policy };
          abort(reason);
        },
        finish: (outcome = {}) => {
          if (finished) return;
          finished = true;
          this.#live.delete(record.id);
          const error = entry.abortReason?.reason ?? outcome.error;
          const policy = entry.abortReason?.policy ?? record.policy;
          const flags = outcome.responseFlag ?? (error ? 'UF' : '-');
          const closedLabels = this.#labels(record, entry.abortReason ? 'UAEX' : flags);
          this.#metrics.add('istio_tcp_connections_closed_total', closedLabels);
          this.#metrics.add('istio_tcp_received_bytes_total', closedLabels, record.bytesSent);
          this.#metrics.add('istio_tcp_sent_bytes_total', closedLabels, record.bytesRecv);
          this.#access(record, { error, policy, durationMs: Date.now() - record.startedAt });
          this.emit('close', { ...record, ...(error ? { error } : {}) });
        },
      },
    };
    this.#live.set(record.id, entry);
    this.emit('open', { ...record });
    return entry.tracked;
  }

  /** Records a connection that was refused before any byte moved (policy, no upstream, bad request). */
  refuse(init: ConnectionInit, error: string, responseFlag: string): void {
    const record: ConnectionRecord = { ...init, id: nextId++, startedAt: Date.now(), bytesSent: 0, bytesRecv: 0 };
    const labels = this.#labels(record, responseFlag);
    this.#metrics.add('istio_tcp_connections_opened_total', labels);
    this.#metrics.add('istio_tcp_connections_closed_total', labels);
    this.#access(record, { error, policy: init.policy, durationMs: 0 });
  }

  list(): ConnectionRecord[] {
    return [...this.#live.values()].map((e) => ({ ...e.tracked.record }));
  }

  live(): TrackedConnection[] {
    return [...this.#live.values()].map((e) => e.tracked);
  }

  #labels(record: ConnectionRecord, responseFlags: string): TcpLabels {
    return {
      reporter: record.direction === 'outbound' ? 'source' : 'destination',
      source_workload: record.src.workload ?? 'unknown',
      source_principal: record.src.identity ?? 'unknown',
      destination_workload: record.dst.workload ?? 'unknown',
      destination_principal: record.dst.identity ?? 'unknown',
      destination_service: record.dst.service ?? 'unknown',
      connection_security_policy: record.protocol === 'hbone' ? 'mutual_tls' : 'none',
      response_flags: responseFlags,
    };
  }

  #access(record: ConnectionRecord, extra: { error?: string | undefined; policy?: string | undefined; durationMs: number }): void {
    const fields: Record<string, unknown> = {
      'src.addr': record.src.addr,
      ...(record.src.identity ? { 'src.identity': record.src.identity } : {}),
      ...(record.src.workload ? { 'src.workload': record.src.workload } : {}),
      'dst.addr': record.dst.addr,
      ...(record.dst.hboneAddr ? { 'dst.hbone_addr': record.dst.hboneAddr } : {}),
      ...(record.dst.service ? { 'dst.service': record.dst.service } : {}),
      ...(record.dst.identity ? { 'dst.identity': record.dst.identity } : {}),
      ...(record.dst.workload ? { 'dst.workload': record.dst.workload } : {}),
      direction: record.direction,
      protocol: record.protocol === 'hbone' ? 'HBONE' : 'TCP',
      ...(record.chain ? { chain: record.chain } : {}),
      bytes_sent: record.bytesSent,
      bytes_recv: record.bytesRecv,
      duration: `${extra.durationMs}ms`,
      ...(extra.policy ? { policy: extra.policy } : {}),
      ...record.rbac,
      ...(extra.error ? { error: extra.error } : {}),
    };
    this.#logger.log('access', extra.error ? 'warn' : 'info', extra.error ? 'connection failed' : 'connection complete', fields);
  }
}
