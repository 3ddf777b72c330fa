/**
 * Incremental ADS (`DeltaAggregatedResources`): a response carries only the resources that
 * changed (each with its version) and the names removed.
 *
 * Invariants (Envoy's protocol, as Istio serves it):
 * - The first request of a type subscribes: an empty `resource_names_subscribe` (legacy) or `*`
 *   is a wildcard, names subscribe to those; later requests add (`resource_names_subscribe`) and
 *   drop (`resource_names_unsubscribe`) names, `*` included. An unsubscribed resource is simply
 *   no longer sent (the client forgets it itself).
 * - `initial_resource_versions` on the first request is what the client already has: a resource
 *   at that version is not sent again; one that no longer exists is reported removed.
 * - The first request of a type always gets an answer, even an empty one (so the client knows
 *   it is in sync); later pushes send only a difference, and nothing when there is none.
 * - A name subscribed explicitly that does not exist is reported in `removed_resources`.
 * - An answer with `error_detail` is a NACK of that response: logged, recorded (`lastNack`); the
 *   resources it names (all of the response's, when it names none) are remembered as rejected at
 *   that version and not re-sent until they change; the client keeps their last good versions
 *   and applies the rest.
 * - Large pushes are split into responses of at most `MAX_DELTA_RESPONSE_BYTES` of resources
 *   (one resource larger than that goes alone), each with its own nonce.
 */
import { WILDCARD_RESOURCE_NAME, shortTypeName } from '@mesh/xds';
import type { DeltaDiscoveryRequest, DeltaResource } from '@mesh/xds';
import type { ProtocolContext } from './protocol-context.js';
import { changedSince } from './resource-cache.js';
import { isSubscribed } from './subscription.js';
import type { Connection, DeltaStream, Subscription } from './subscription.js';

export const MAX_DELTA_RESPONSE_BYTES = 4 * 1024 * 1024;

export function onDeltaRequest(ctx: ProtocolContext, connection: Connection, request: DeltaDiscoveryRequest): void {
  const proxy = connection.proxy;
  if (!proxy) return;
  const typeUrl = request.type_url;
  let subscription = connection.subscriptions.get(typeUrl);
  let changed = false;
  if (!subscription) {
    subscription = ctx.subscribe(connection, typeUrl);
    if (!subscription) return;
    subscription.wildcard = request.resource_names_subscribe.length === 0;
    for (const [name, version] of Object.entries(request.initial_resource_versions)) subscription.known.set(name, version);
    changed = true;
  }
  for (const name of request.resource_names_subscribe) {
    if (name === WILDCARD_RESOURCE_NAME) subscription.wildcard = true;
    else {
      subscription.names.add(name);
      subscription.newlySubscribed.add(name);
    }
    changed = true;
  }
  for (const name of request.resource_names_unsubscribe) {
    if (name === WILDCARD_RESOURCE_NAME) subscription.wildcard = false;
    else subscription.names.delete(name);
    changed = true;
  }
  if (request.resource_names_unsubscribe.length > 0) forgetUnsubscribed(subscription);
  if (request.response_nonce) onAnswer(ctx, connection, subscription, request);
  if (changed) {
    subscription.seq = undefined; // compare everything once: new names may be old resources
    ctx.schedule(connection, subscription);
  }
}

/** Sends what the proxy does not have yet and the names it has that are gone. */
export function pushDelta(ctx: ProtocolContext, connection: Connection, subscription: Subscription): void {
  const state = subscription.scope.types.get(subscription.typeUrl);
  if (!connection.proxy || !state) return;
  const candidates =
    (subscription.seq === undefined ? undefined : changedSince(state, subscription.seq)) ??
    new Set([...state.versions.keys(), ...subscription.known.keys(), ...subscription.newlySubscribed]);
  const send: string[] = [];
  const removed: string[] = [];
  for (const name of candidates) {
    if (!isSubscribed(subscription, name)) continue;
    const version = state.versions.get(name);
    if (version === undefined) {
      if (subscription.known.delete(name) || subscription.newlySubscribed.has(name)) removed.push(name);
      subscription.rejected.delete(name);
    } else if (subscription.known.get(name) !== version) send.push(name);
  }
  subscription.newlySubscribed.clear();
  subscription.seq = state.seq;
  const first = subscription.force;
  subscription.force = false;
  if (send.length === 0 && removed.length === 0 && !first) return;
  const bytes = send.length > 0 ? ctx.cache.bytesFor(subscription.scope, subscription.typeUrl, send) : new Map();
  const stream = connection.stream as DeltaStream;
  let batch: DeltaResource[] = [];
  let batchBytes = 0;
  let removals = removed;
  const flush = () => {
    const nonce = ctx.nextNonce();
    stream.write({ system_version_info: state.version, type_url: subscription.typeUrl, resources: batch, removed_resources: removals, nonce });
    subscription.inFlight.set(nonce, { version: state.version, names: [...batch.map((r) => r.name), ...removals] });
    subscription.sentVersion = state.version;
    subscription.sentNonce = nonce;
    subscription.sentAt = new Date().toISOString();
    batch = [];
    batchBytes = 0;
    removals = [];
  };
  for (const name of send) {
    const any = bytes.get(name);
    const version = state.versions.get(name) as string;
    if (!any) {
      ctx.logger.error('xDS resource has no bytes to send; skipped', { proxy: connection.proxy.id, type: shortTypeName(subscription.typeUrl), name });
      continue;
    }
    if (batch.length > 0 && batchBytes + any.value.byteLength > MAX_DELTA_RESPONSE_BYTES) flush();
    batch.push({ name, version, resource: any });
    batchBytes += any.value.byteLength;
    subscription.known.set(name, version);
  }
  if (batch.length > 0 || removals.length > 0 || subscription.sentNonce === undefined) flush();
}

function onAnswer(ctx: ProtocolContext, connection: Connection, subscription: Subscription, request: DeltaDiscoveryRequest): void {
  const answered = subscription.inFlight.get(request.response_nonce);
  if (!answered) return; // not a response of this stream (or answered already)
  subscription.inFlight.delete(request.response_nonce);
  const now = new Date().toISOString();
  if (!request.error_detail) {
    subscription.ackedVersion = answered.version;
    subscription.ackedNonce = request.response_nonce;
    subscription.ackedAt = now;
    for (const name of answered.names) subscription.rejected.delete(name);
    return;
  }
  const message = request.error_detail.message;
  subscription.lastNack = { version: answered.version, nonce: request.response_nonce, message, at: now };
  // Istio's ztunnel lists each rejected resource as "<name>: <reason>"; a NACK naming none rejects the whole response.
  const named = answered.names.filter((name) => message.includes(`${name}: `));
  for (const name of named.length > 0 ? named : answered.names) {
    const version = subscription.known.get(name);
    if (version !== undefined) subscription.rejected.set(name, version);
  }
  ctx.logger.warn('proxy rejected config (NACK)', {
    proxy: connection.proxy?.id,
    node: connection.proxy?.nodeName,
    type: shortTypeName(subscription.typeUrl),
    rejectedVersion: answered.version,
    rejected: named.length > 0 ? named : answered.names.slice(0, 20),
    error_detail: request.error_detail,
  });
}

function forgetUnsubscribed(subscription: Subscription): void {
  for (const name of [...subscription.known.keys()]) {
    if (!isSubscribed(subscription, name)) {
      subscription.known.delete(name);
      subscription.rejected.delete(name);
    }
  }
}
