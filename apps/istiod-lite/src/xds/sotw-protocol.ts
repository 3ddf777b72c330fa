/**
 * State-of-the-world ADS (`StreamAggregatedResources`): every response carries a type's complete
 * set for the proxy, under one version.
 *
 * Invariants (Envoy's protocol):
 * - The first request of a type (empty `response_nonce`) subscribes: empty `resource_names`, or
 *   `*`, is a wildcard (everything of the type for this proxy); names subscribe to those only
 *   (Envoy's EDS and RDS), and a later request's names replace them. The proxy reports in
 *   `version_info` what it runs, and always gets the current state.
 * - A request whose `response_nonce` is not the last one sent for its type is stale and ignored.
 * - `error_detail` marks a NACK: logged with its detail, recorded (`lastNack`), the ACKed version
 *   stays, and the rejected version is remembered per proxy id (across reconnects) and never
 *   re-sent; a different version is sent normally. A proxy that reports running nothing (a
 *   restarted process) gets the current state once even if it rejected it before.
 * - A type is pushed only when its version differs from what the stream was last sent.
 */
import { WILDCARD_RESOURCE_NAME, shortTypeName } from '@mesh/xds';
import type { DiscoveryRequest } from '@mesh/xds';
import type { ProtocolContext } from './protocol-context.js';
import { isSubscribed } from './subscription.js';
import type { Connection, SotwStream, Subscription } from './subscription.js';

export function onSotwRequest(ctx: ProtocolContext, connection: Connection, request: DiscoveryRequest): void {
  const proxy = connection.proxy;
  if (!proxy) return;
  const typeUrl = request.type_url;
  const subscription = connection.subscriptions.get(typeUrl) ?? ctx.subscribe(connection, typeUrl);
  if (!subscription) return;
  const names = request.resource_names.filter((name) => name !== WILDCARD_RESOURCE_NAME);
  const asksWildcard = request.resource_names.length === 0 || request.resource_names.includes(WILDCARD_RESOURCE_NAME);
  if (request.response_nonce === '') {
    subscription.wildcard = asksWildcard;
    replaceNames(subscription, names);
    if (request.version_info) subscription.ackedVersion = request.version_info;
    subscription.force = true;
    ctx.schedule(connection, subscription);
    return;
  }
  if (request.response_nonce !== subscription.sentNonce) return; // answers a response we superseded
  const now = new Date().toISOString();
  if (request.error_detail) {
    subscription.lastNack = { version: subscription.sentVersion ?? '', nonce: request.response_nonce, message: request.error_detail.message, at: now };
    ctx.rememberRejected(proxy.id, typeUrl, subscription.sentVersion ?? '');
    ctx.logger.warn('proxy rejected config (NACK)', {
      proxy: proxy.id,
      node: proxy.nodeName,
      type: shortTypeName(typeUrl),
      rejectedVersion: subscription.sentVersion,
      runningVersion: request.version_info,
      error_detail: request.error_detail,
    });
  } else {
    subscription.ackedVersion = request.version_info;
    subscription.ackedNonce = request.response_nonce;
    subscription.ackedAt = now;
    if (ctx.rejectedVersion(proxy.id, typeUrl) !== request.version_info) ctx.rememberRejected(proxy.id, typeUrl, undefined);
  }
  // A wildcard subscription stays one (Envoy's LDS/CDS send empty names); named ones follow the request.
  const wildcard = subscription.wildcard || request.resource_names.includes(WILDCARD_RESOURCE_NAME);
  if (wildcard !== subscription.wildcard || (!wildcard && !sameNames(subscription.names, names))) {
    subscription.wildcard = wildcard;
    replaceNames(subscription, names);
    subscription.force = true;
    ctx.schedule(connection, subscription);
  }
}

/** Sends the type's current state if the stream does not have it (or must get it again). */
export function pushSotw(ctx: ProtocolContext, connection: Connection, subscription: Subscription): void {
  const proxy = connection.proxy;
  const state = subscription.scope.types.get(subscription.typeUrl);
  if (!proxy || !state) return;
  const initial = subscription.force;
  subscription.force = false;
  if (!initial && state.version === subscription.sentVersion) return;
  const proxyRunsNothing = initial && !subscription.ackedVersion;
  if (ctx.rejectedVersion(proxy.id, subscription.typeUrl) === state.version && !proxyRunsNothing) {
    ctx.logger.info('not re-sending a version the proxy rejected', { proxy: proxy.id, type: shortTypeName(subscription.typeUrl), version: state.version });
    return;
  }
  const names = [...state.versions.keys()].filter((name) => isSubscribed(subscription, name));
  const bytes = ctx.cache.bytesFor(subscription.scope, subscription.typeUrl, names);
  const nonce = ctx.nextNonce();
  subscription.sentVersion = state.version;
  subscription.sentNonce = nonce;
  subscription.sentAt = new Date().toISOString();
  subscription.sentCount = bytes.size;
  (connection.stream as SotwStream).write({ version_info: state.version, resources: [...bytes.values()], type_url: subscription.typeUrl, nonce });
}

function replaceNames(subscription: Subscription, names: readonly string[]): void {
  subscription.names.clear();
  for (const name of names) subscription.names.add(name);
}

function sameNames(current: ReadonlySet<string>, names: readonly string[]): boolean {
  return current.size === new Set(names).size && names.every((name) => current.has(name));
}
