/**
 * Every connection ztunnel carries, from accept to close: the source of `/tunnels` (and its
 * live stream), the access log (one JSON line per connection with ztunnel's field names) and the
 * Istio TCP metrics. Proxy code opens a record when a connection is established, feeds it bytes,
 * and finishes it once; refused connections are recorded with `refuse()`.
 *
 * Byte directions: `bytesSent` = source → destination (request), `bytesRecv` = destination →
 * source (response), whichever ztunnel reports. The relay counts them into the connection's
 * `bytes` (source = the relay's `a` side) and the tracker reads them when it is asked (`list()`,
 * the close): nothing is called per chunk.
 */
import { EventEmitter } from 'node:events';
import type { RelayCounters } from '@mesh/hbone-core';
import type { ProxyLogger as Logger } from '@mesh/log';
import { seriesKey, type TcpLabels, type TcpMetrics } from '../metrics/metrics.js';

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
  /** Where the relay counts the bytes (`bytesAToB`: source → destination); read on `list()` and at the close. */
  readonly bytes: RelayCounters;
  /** Closes it from our side (policy change, shutdown); the relay then finishes it. */
  abort(reason: string, policy?: string): void;
  finish(outcome?: { error?: string | undefined; responseFlag?: string | undefined }): void;
}

let nextId = 1;

/** The record with the bytes counted so far. */
function snapshot(c: TrackedConnection): ConnectionRecord {
  return { ...c.record, bytesSent: c.bytes.bytesAToB, bytesRecv: c.bytes.bytesBToA };
}

/** One live connection: fields, not closures, so a connection costs one object here. */
class Tracked implements TrackedConnection {
  readonly record: ConnectionRecord;
  readonly bytes: RelayCounters;
  abortReason: { reason: string; policy?: string | undefined } | undefined;
  finished = false;
  readonly #tracker: ConnectionTracker;
  readonly #abort: (reason: string) => void;

  constructor(tracker: ConnectionTracker, record: ConnectionRecord, abort: (reason: string) => void, bytes: RelayCounters) {
    this.#tracker = tracker;
    this.record = record;
    this.#abort = abort;
    this.bytes = bytes;
  }

  abort(reason: string, policy?: string): void {
    if (this.finished) return;
    this.abortReason = { reason, policy };
    this.#abort(reason);
  }

  finish(outcome: { error?: string | undefined; responseFlag?: string | undefined } = {}): void {
    if (this.finished) return;
    this.finished = true;
    this.record.bytesSent = this.bytes.bytesAToB;
    this.record.bytesRecv = this.bytes.bytesBToA;
    this.#tracker.closed(this, outcome);
  }
}

export class ConnectionTracker extends EventEmitter {
  readonly #live = new Map<number, Tracked>();
  readonly #logger: Logger;
  readonly #metrics: TcpMetrics;

  constructor(logger: Logger, metrics: TcpMetrics) {
    super();
    this.#logger = logger;
    this.#metrics = metrics;
  }

  /** `bytes`: the counters the relay counts into, when the relay was given them before this open. */
  open(init: ConnectionInit, abort: (reason: string) => void, bytes: RelayCounters = { bytesAToB: 0, bytesBToA: 0 }): TrackedConnection {
    const record: ConnectionRecord = { ...init, id: nextId++, startedAt: Date.now(), bytesSent: 0, bytesRecv: 0 };
    this.#metrics.add('istio_tcp_connections_opened_total', this.#labels(record, '-'));
    const tracked = new Tracked(this, record, abort, bytes);
    this.#live.set(record.id, tracked);
    // A copy only for a listener (the admin's live view): most of the time there is none.
    if (this.listenerCount('open') > 0) this.emit('open', { ...record });
    return tracked;
  }

  /** Called once by a connection's `finish()`: metrics, the access log line, the live view. */
  closed(tracked: Tracked, outcome: { error?: string | undefined; responseFlag?: string | undefined }): void {
    const record = tracked.record;
    this.#live.delete(record.id);
    const error = tracked.abortReason?.reason ?? outcome.error;
    const policy = tracked.abortReason?.policy ?? record.policy;
    const flags = outcome.responseFlag ?? (error ? 'UF' : '-');
    const closedLabels = this.#labels(record, tracked.abortReason ? 'UAEX' : flags);
    const key = seriesKey(closedLabels);
    this.#metrics.add('istio_tcp_connections_closed_total', closedLabels, 1, key);
    this.#metrics.add('istio_tcp_received_bytes_total', closedLabels, record.bytesSent, key);
    this.#metrics.add('istio_tcp_sent_bytes_total', closedLabels, record.bytesRecv, key);
    this.#access(record, { error, policy, durationMs: Date.now() - record.startedAt });
    if (this.listenerCount('close') > 0) this.emit('close', { ...record, ...(error ? { error } : {}) });
  }

  /** Records a connection that was refused before any byte moved (policy, no upstream, bad request). */
  refuse(init: ConnectionInit, error: string, responseFlag: string): void {
    const record: ConnectionRecord = { ...init, id: nextId++, startedAt: Date.now(), bytesSent: 0, bytesRecv: 0 };
    const labels = this.#labels(record, responseFlag);
    const key = seriesKey(labels);
    this.#metrics.add('istio_tcp_connections_opened_total', labels, 1, key);
    this.#metrics.add('istio_tcp_connections_closed_total', labels, 1, key);
    this.#access(record, { error, policy: init.policy, durationMs: 0 });
  }

  list(): ConnectionRecord[] {
    return [...this.#live.values()].map(snapshot);
  }

  live(): TrackedConnection[] {
    return [...this.#live.values()];
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
    // Set one by one rather than spread from conditional objects: this runs per connection.
    const fields: Record<string, unknown> = { 'src.addr': record.src.addr };
    if (record.src.identity) fields['src.identity'] = record.src.identity;
    if (record.src.workload) fields['src.workload'] = record.src.workload;
    fields['dst.addr'] = record.dst.addr;
    if (record.dst.hboneAddr) fields['dst.hbone_addr'] = record.dst.hboneAddr;
    if (record.dst.service) fields['dst.service'] = record.dst.service;
    if (record.dst.identity) fields['dst.identity'] = record.dst.identity;
    if (record.dst.workload) fields['dst.workload'] = record.dst.workload;
    fields['direction'] = record.direction;
    fields['protocol'] = record.protocol === 'hbone' ? 'HBONE' : 'TCP';
    if (record.chain) fields['chain'] = record.chain;
    fields['bytes_sent'] = record.bytesSent;
    fields['bytes_recv'] = record.bytesRecv;
    fields['duration'] = `${extra.durationMs}ms`;
    if (extra.policy) fields['policy'] = extra.policy;
    if (record.rbac) Object.assign(fields, record.rbac);
    if (extra.error) fields['error'] = extra.error;
    this.#logger.log('access', extra.error ? 'warn' : 'info', extra.error ? 'connection failed' : 'connection complete', fields);
  }
}
